//! A netfront in a guest domain connected to a sim netback in dom0, with the keys passed the way
//! the frontend writes them and netback reads them (through [`FrontendVif`]). Tests, benches and
//! the demo use it; the xenstore-driven connection goes through the same keys.

use std::sync::Arc;

use xenpv_abi::DomId;
use xenpv_control::vif::{BackendFeatures, FrontendVif};
use xenpv_datapath::netif::{
    Netfront, NetfrontConfig, NetifError, Quarantine, RxAccept, RxMeta, RxPacket, TxDone, TxPacket,
    TxRefused, TxStatus,
};

use super::{NetbackError, Vif};
use crate::guest::SimPlatform;
use crate::host::Host;

/// What the frontend asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrontRequest {
    /// Queues wanted (capped at the backend's maximum).
    pub queues: u16,
    /// Use split event channels if the backend offers them.
    pub split_event_channels: bool,
    /// Accept large receives.
    pub gso_rx: bool,
    /// Accept received packets whose checksum is left blank (otherwise the frontend writes
    /// `feature-no-csum-offload` and no `feature-ipv6-csum-offload`).
    pub csum_rx: bool,
    /// Set up the ctrl ring if the backend offers it.
    pub ctrl_ring: bool,
    /// Ask the backend to filter multicast.
    pub multicast_control: bool,
}

impl Default for FrontRequest {
    fn default() -> Self {
        Self {
            queues: 1,
            split_event_channels: true,
            gso_rx: true,
            csum_rx: true,
            ctrl_ring: true,
            multicast_control: false,
        }
    }
}

/// The features a Linux netback advertises (with `max_queues` queues).
pub fn linux_netback(max_queues: u32) -> BackendFeatures {
    BackendFeatures {
        max_queues,
        split_event_channels: true,
        rx_copy: true,
        sg: true,
        gso_tcpv4: true,
        gso_tcpv6: true,
        ipv6_csum_offload: true,
        ctrl_ring: true,
        multicast_control: true,
        dynamic_multicast_control: true,
    }
}

/// Why a pair could not connect.
#[derive(Debug)]
pub enum PairError {
    /// The frontend could not set up.
    Front(NetifError),
    /// The backend refused the frontend's keys.
    Back(NetbackError),
}

/// A connected frontend and backend.
pub struct NetPair<P> {
    /// The guest's platform.
    pub guest: SimPlatform,
    /// The frontend.
    pub front: Netfront<P>,
    /// The backend.
    pub back: Vif,
    /// What the frontend wrote.
    pub keys: FrontendVif,
    /// Regions a backend still held when a frontend let go of them.
    pub quarantine: Quarantine,
    /// Per queue, a packet [`step`](Self::step) took that the ring had no room for yet.
    held: Vec<Option<P>>,
}

/// The frontend's keys for `front`, given what it asked for.
pub fn frontend_keys<P: TxPacket>(front: &mut Netfront<P>, req: &FrontRequest) -> FrontendVif {
    FrontendVif {
        queues: front.queues().iter().map(|q| q.keys()).collect(),
        sg: true,
        gso_tcpv4: req.gso_rx,
        gso_tcpv6: req.gso_rx,
        no_csum_offload: !req.csum_rx,
        ipv6_csum_offload: req.csum_rx,
        multicast_control: req.multicast_control,
        ctrl: front.ctrl_mut().map(|c| (c.ring_ref(), c.port())),
    }
}

impl<P: TxPacket> NetPair<P> {
    /// Sets up a netfront in `front_dom` against `features` and connects a netback in dom0 to it.
    pub fn connect(
        host: &Arc<Host>,
        front_dom: DomId,
        features: &BackendFeatures,
        req: FrontRequest,
    ) -> Result<Self, PairError> {
        let guest = SimPlatform::new(host.clone(), front_dom);
        let mut quarantine = Quarantine::default();
        let config = NetfrontConfig {
            backend: 0,
            queues: req.queues.clamp(1, features.max_queues.max(1) as u16),
            split_event_channels: req.split_event_channels && features.split_event_channels,
            tx: features.tx_caps(),
            rx: RxAccept {
                gso: req.gso_rx,
                hash: false,
            },
            ctrl_ring: req.ctrl_ring && features.ctrl_ring,
        };
        let mut front = Netfront::new(&guest, config, &mut quarantine).map_err(PairError::Front)?;
        let keys = frontend_keys(&mut front, &req);
        let back = match Vif::connect(host, 0, front_dom, features, &keys) {
            Ok(b) => b,
            Err(e) => {
                front.teardown(&guest, &mut |_| {}, &mut quarantine);
                return Err(PairError::Back(e));
            }
        };
        front.start(&guest);
        let held = front.queues().iter().map(|_| None).collect();
        Ok(Self {
            guest,
            front,
            back,
            keys,
            quarantine,
            held,
        })
    }

    /// One round of a polled driver over this pair (see [`step`]).
    pub fn step(
        &mut self,
        next: &mut impl FnMut(usize) -> Option<P>,
        done: &mut impl FnMut(TxDone<P>),
        deliver: &mut impl FnMut(usize, &RxMeta, &RxPacket<'_>),
    ) -> Result<u64, PairError> {
        let back = &mut self.back;
        step(
            &mut self.front,
            &self.guest,
            &mut self.held,
            &mut || back.poll().map(|_| ()),
            next,
            done,
            deliver,
        )
    }

    /// Disconnects both ends: the backend first (as when it closes), then the frontend, whose
    /// in-flight packets complete through `done`. Returns the quarantine.
    pub fn disconnect(self, done: &mut impl FnMut(TxDone<P>)) -> (SimPlatform, Quarantine) {
        let Self {
            guest,
            front,
            back,
            mut quarantine,
            held,
            ..
        } = self;
        back.disconnect();
        for packet in held.into_iter().flatten() {
            done(TxDone::Packet {
                packet,
                status: TxStatus::Disconnected,
            });
        }
        front.teardown(&guest, done, &mut quarantine);
        (guest, quarantine)
    }
}

/// One round of a polled driver on one CPU: every queue sends what `next` hands it until its
/// ring is full (a packet that does not fit waits in `held`), the backend works, then every queue
/// takes its completions (`done`) and received packets (`deliver`, with the queue index, lent as
/// views of the pages they arrived in).
/// Returns the packets sent.
pub fn step<P: TxPacket>(
    front: &mut Netfront<P>,
    guest: &SimPlatform,
    held: &mut [Option<P>],
    backend: &mut impl FnMut() -> Result<(), NetbackError>,
    next: &mut impl FnMut(usize) -> Option<P>,
    done: &mut impl FnMut(TxDone<P>),
    deliver: &mut impl FnMut(usize, &RxMeta, &RxPacket<'_>),
) -> Result<u64, PairError> {
    let mut sent = 0;
    for (i, q) in front.queues_mut().iter_mut().enumerate() {
        while let Some(p) = held[i].take().or_else(|| next(i)) {
            match q.send(p) {
                Ok(()) => sent += 1,
                Err((p, TxRefused::Busy)) => {
                    held[i] = Some(p);
                    break;
                }
                Err((p, _)) => done(TxDone::Packet {
                    packet: p,
                    status: TxStatus::Error,
                }),
            }
        }
        q.flush(guest);
    }
    backend().map_err(PairError::Back)?;
    for (i, q) in front.queues_mut().iter_mut().enumerate() {
        q.poll_packets(guest, done, &mut |m, p| deliver(i, m, p))
            .map_err(PairError::Front)?;
    }
    Ok(sent)
}
