//! A netback that behaves like Linux xen-netback: it reads the frontend's keys, maps the rings,
//! binds the event channels, validates every transmit request as netback does (a malformed
//! request is fatal and disables the vif), copies short packets out of the frontend and maps the
//! pages of larger ones until their receiver has grant-copied them straight into its posted
//! buffers (answering the transmit requests only then), segments and checksums in software for
//! a receiver without those offloads, serves the control ring (Toeplitz hashing), multicast
//! extras and dynamic multicast control, and delivers what the frontend sends to a pluggable
//! [`Sink`].
//!
//! The sim drives it by polling ([`Vif::poll`]): tests and benches interleave frontend and backend
//! work deterministically on one thread.

mod ctrl;
mod frame;
mod offload;
pub mod pair;
mod port;
mod rx;
mod tx;
pub mod xenstore;

use std::fmt;
use std::sync::Arc;

use xenpv_abi::netif::{
    NetifCtrlRequest, NetifCtrlResponse, NetifRxRequest, NetifRxResponse, NetifTxRequest,
    NetifTxResponse,
};
use xenpv_abi::{DomId, EvtchnPort};
use xenpv_control::vif::{BackendFeatures, FrontendVif};
use xenpv_datapath::netif::EventPorts;
use xenpv_datapath::ring::{BackRing, RingError, SharedRing};

use crate::host::{EvtchnError, GrantError, Host, Mapping};

pub use frame::{TxFrame, HEAD_LEN};
pub use port::{Sink, TxMeta, VifPort};
pub use tx::TxFault;

/// Why a vif stopped (Linux: "fatal error; disabling device") or could not connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetbackError {
    /// A ring page could not be mapped.
    Map(GrantError),
    /// An event channel could not be bound.
    Bind(EvtchnError),
    /// The frontend broke the ring protocol.
    Ring(RingError),
    /// A malformed transmit request.
    Tx(TxFault),
    /// The frontend asked for more queues than offered.
    Queues,
}

impl fmt::Display for NetbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Counters of a vif (from the frontend's point of view: tx is what it sent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VifStats {
    /// Packets taken from the frontend and delivered to the sink.
    pub tx_packets: u64,
    /// Their bytes.
    pub tx_bytes: u64,
    /// Packets answered with an error or dropped (not fatal).
    pub tx_errors: u64,
    /// Packets copied to the frontend.
    pub rx_packets: u64,
    /// Their bytes.
    pub rx_bytes: u64,
    /// Packets that could not be delivered to the frontend.
    pub rx_dropped: u64,
    /// Multicast filter changes.
    pub mcast_ops: u64,
    /// Control requests answered.
    pub ctrl_ops: u64,
}

pub(crate) type TxBack = BackRing<NetifTxRequest, NetifTxResponse, SharedRing>;
pub(crate) type RxBack = BackRing<NetifRxRequest, NetifRxResponse, SharedRing>;
pub(crate) type CtrlBack = BackRing<NetifCtrlRequest, NetifCtrlResponse, SharedRing>;

/// Where to reach the frontend: its domain and the host.
pub(crate) struct Peer {
    pub host: Arc<Host>,
    pub dom: DomId,
    pub front: DomId,
}

impl Peer {
    fn map_page(
        &self,
        gref: u32,
    ) -> Result<(Mapping, xenpv_datapath::shmem::SharedMem), NetbackError> {
        let map = self
            .host
            .map(self.dom, self.front, gref, true)
            .map_err(NetbackError::Map)?;
        let mem = map.mem().clone();
        Ok((map, mem))
    }

    fn bind(&self, port: EvtchnPort) -> Result<EvtchnPort, NetbackError> {
        self.host
            .evtchn
            .bind_interdomain(self.dom, self.front, port)
            .map_err(NetbackError::Bind)
    }

    pub fn notify(&self, port: EvtchnPort) {
        // The frontend may have closed its end; sending then is a no-op, as in Xen.
        let _ = self.host.evtchn.send(self.dom, port);
    }

    fn unbind(&self, port: EvtchnPort) {
        let _ = self.host.evtchn.close(self.dom, port);
    }
}

struct BackQueue {
    tx: tx::TxQueue,
    rx: rx::RxQueue,
    ports: Vec<EvtchnPort>,
    /// Dropped last: the rings live in these pages.
    _maps: [Mapping; 2],
}

/// One connected vif in the backend domain.
pub struct Vif {
    peer: Peer,
    queues: Vec<BackQueue>,
    ctrl: Option<ctrl::Ctrl>,
    port: Arc<VifPort>,
    sink: Arc<dyn Sink>,
    stats: VifStats,
    fatal: Option<NetbackError>,
}

/// What one [`Vif::poll`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Transmit packets (or multicast requests) answered.
    pub tx: usize,
    /// Packets copied to the frontend.
    pub rx: usize,
}

impl Vif {
    /// Connects to a frontend that wrote `front` (what netback reads from its directory), given
    /// what this backend advertised. Packets go to the vif's own port (loopback) until
    /// [`set_sink`](Self::set_sink) plugs in another.
    pub fn connect(
        host: &Arc<Host>,
        dom: DomId,
        front_dom: DomId,
        features: &BackendFeatures,
        front: &FrontendVif,
    ) -> Result<Self, NetbackError> {
        if front.queues.is_empty() || front.queues.len() > features.max_queues as usize {
            return Err(NetbackError::Queues);
        }
        let peer = Peer {
            host: host.clone(),
            dom,
            front: front_dom,
        };
        let rx_caps = rx::RxCaps::from_frontend(front);
        let mut queues = Vec::with_capacity(front.queues.len());
        for (index, keys) in front.queues.iter().enumerate() {
            let (tx_map, tx_mem) = peer.map_page(keys.tx_ring_ref)?;
            let (rx_map, rx_mem) = peer.map_page(keys.rx_ring_ref)?;
            let tx_ring = SharedRing::new::<NetifTxRequest, NetifTxResponse>(tx_mem)
                .expect("a page holds a tx ring");
            let rx_ring = SharedRing::new::<NetifRxRequest, NetifRxResponse>(rx_mem)
                .expect("a page holds an rx ring");
            let ports = match keys.ports {
                EventPorts::Shared(p) => vec![peer.bind(p)?],
                EventPorts::Split { tx, rx } => vec![peer.bind(tx)?, peer.bind(rx)?],
            };
            let (tx_port, rx_port) = (ports[0], *ports.last().expect("one or two ports"));
            queues.push(BackQueue {
                tx: tx::TxQueue::new(TxBack::attach(tx_ring), tx_port, index, &peer),
                rx: rx::RxQueue::new(RxBack::attach(rx_ring), rx_port, index, rx_caps),
                ports,
                _maps: [tx_map, rx_map],
            });
        }
        let ctrl = match front.ctrl {
            Some((gref, port)) => Some(ctrl::Ctrl::connect(&peer, gref, port, queues.len())?),
            None => None,
        };
        let port = Arc::new(VifPort::new(queues.len(), front.multicast_control));
        Ok(Self {
            peer,
            queues,
            ctrl,
            sink: port.clone(),
            port,
            stats: VifStats::default(),
            fatal: None,
        })
    }

    /// This vif's receive side, to plug in as another vif's sink.
    pub fn port(&self) -> Arc<VifPort> {
        self.port.clone()
    }

    /// Whether multicast is filtered by the frontend's list (`request-multicast-control`, which
    /// may change while connected when the backend offers dynamic control).
    pub fn set_multicast_control(&mut self, on: bool) {
        self.port.set_filter_multicast(on);
    }

    /// Where packets from the frontend go.
    pub fn set_sink(&mut self, sink: Arc<dyn Sink>) {
        self.sink = sink;
    }

    /// The backend's ends of every event channel (queues, then ctrl): what a backend thread
    /// waits on.
    pub fn ports(&self) -> Vec<EvtchnPort> {
        let queues = self.queues.iter().flat_map(|q| q.ports.iter().copied());
        queues.chain(self.ctrl.as_ref().map(|c| c.port())).collect()
    }

    /// Counters.
    pub fn stats(&self) -> VifStats {
        self.stats
    }

    /// Why the vif was disabled, if it was.
    pub fn fatal(&self) -> Option<&NetbackError> {
        self.fatal.as_ref()
    }

    /// Does whatever work is pending: control requests, transmit requests, then receive copies.
    /// A malformed request disables the vif for good (as netback does) and is returned.
    pub fn poll(&mut self) -> Result<Work, NetbackError> {
        if let Some(e) = &self.fatal {
            return Err(e.clone());
        }
        let result = self.work();
        if let Err(e) = &result {
            self.fatal = Some(e.clone());
        }
        result
    }

    fn work(&mut self) -> Result<Work, NetbackError> {
        let mut work = Work::default();
        if let Some(c) = &mut self.ctrl {
            c.poll(&self.peer, &self.port, &mut self.stats)?;
        }
        for q in &mut self.queues {
            work.tx +=
                q.tx.poll(&self.peer, &*self.sink, &self.port, &mut self.stats)?;
        }
        for q in &mut self.queues {
            work.rx += q.rx.poll(&self.peer, &self.port, &mut self.stats)?;
        }
        // Frames the receive copies just finished with (a loopback's own) free their requests.
        for q in &mut self.queues {
            work.tx += q.tx.complete(&self.peer);
        }
        Ok(work)
    }

    /// Disconnects: unbinds the event channels and unmaps the rings (netback's Closing → Closed).
    pub fn disconnect(self) {
        for q in &self.queues {
            for &p in &q.ports {
                self.peer.unbind(p);
            }
        }
        if let Some(c) = &self.ctrl {
            self.peer.unbind(c.port());
        }
    }
}
