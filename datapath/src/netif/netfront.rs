//! A netfront device: its queues, its optional control ring, its transmit steering, and the
//! regions a departed backend still held.

use alloc::vec::Vec;
use xenpv_abi::{DomId, EvtchnPort, GrantRef};

use super::ctrl::{CtrlOp, CtrlRefused, CtrlRing, CtrlStatus};
use super::packet::{TxDone, TxPacket};
use super::queue::{NetQueue, QueueSetup};
use super::rx::RxAccept;
use super::toeplitz::Steering;
use super::tx::TxCaps;
use super::NetifError;
use crate::platform::{Access, EventChannels, GrantedRegion, Platform, StillInUse};

/// How to build a netfront, from the negotiated features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetfrontConfig {
    /// The backend's domain.
    pub backend: DomId,
    /// Number of queues (at least 1, at most the backend's `multi-queue-max-queues`).
    pub queues: u16,
    /// Split event channels.
    pub split_event_channels: bool,
    /// What the backend accepts on transmit.
    pub tx: TxCaps,
    /// Which receive extras we ask for.
    pub rx: RxAccept,
    /// Set up a control ring (the backend has `feature-ctrl-ring`).
    pub ctrl_ring: bool,
}

/// The control ring with its port and granted memory.
pub struct CtrlChannel {
    ring: CtrlRing,
    port: EvtchnPort,
    ring_region: GrantedRegion,
    buf_region: GrantedRegion,
}

impl CtrlChannel {
    fn new(plat: &impl Platform, backend: DomId) -> Result<Self, NetifError> {
        let ring_region = plat.grant_region(backend, 1, Access::ReadWrite)?;
        let buf_region = match plat.grant_region(backend, 2, Access::ReadOnly) {
            Ok(r) => r,
            Err(e) => {
                let _ = plat.end_region(ring_region);
                return Err(e.into());
            }
        };
        let port = match plat.alloc_unbound(backend) {
            Ok(p) => p,
            Err(e) => {
                let _ = plat.end_region(ring_region);
                let _ = plat.end_region(buf_region);
                return Err(e.into());
            }
        };
        let grefs = [buf_region.grefs()[0], buf_region.grefs()[1]];
        let ring = CtrlRing::new(ring_region.mem().clone(), buf_region.mem().clone(), grefs)?;
        Ok(Self {
            ring,
            port,
            ring_region,
            buf_region,
        })
    }

    /// `ctrl-ring-ref`.
    pub fn ring_ref(&self) -> GrantRef {
        self.ring_region.grefs()[0]
    }

    /// `event-channel-ctrl`.
    pub fn port(&self) -> EvtchnPort {
        self.port
    }

    /// Sends one request and kicks the backend if it asked.
    pub fn send(&mut self, ev: &impl EventChannels, op: CtrlOp<'_>) -> Result<(), CtrlRefused> {
        if self.ring.send(op)? {
            ev.notify(self.port);
        }
        Ok(())
    }

    /// The answer to the request in flight, if it arrived.
    pub fn poll(&mut self) -> Result<Option<Result<u32, CtrlStatus>>, NetifError> {
        self.ring.poll()
    }
}

/// Regions a backend still held when they were to be freed: they stay granted and unused until
/// the backend lets go (XSA-396: a page reused while the backend can reach it leaks or corrupts).
#[derive(Debug, Default)]
pub struct Quarantine(Vec<GrantedRegion>);

impl Quarantine {
    /// Regions still held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn add(&mut self, held: Vec<StillInUse>) {
        self.0.extend(held.into_iter().map(|StillInUse(r)| r));
    }

    /// Tries to end the grants again; returns how many regions are still held.
    pub fn retry(&mut self, plat: &impl Platform) -> usize {
        let held = core::mem::take(&mut self.0);
        for region in held {
            if let Err(StillInUse(r)) = plat.end_region(region) {
                self.0.push(r);
            }
        }
        self.0.len()
    }
}

/// A netfront: the data plane of one vif.
pub struct Netfront<P> {
    queues: Vec<NetQueue<P>>,
    ctrl: Option<CtrlChannel>,
    steering: Option<Steering>,
    rx_accept: RxAccept,
}

impl<P: TxPacket> Netfront<P> {
    /// Sets up `config.queues` queues (and the ctrl ring if asked); on failure nothing stays granted
    /// except regions a backend already holds, which go to `quarantine`.
    pub fn new(
        plat: &impl Platform,
        config: NetfrontConfig,
        quarantine: &mut Quarantine,
    ) -> Result<Self, NetifError> {
        let setup = QueueSetup {
            backend: config.backend,
            split_event_channels: config.split_event_channels,
            tx: config.tx,
            rx: config.rx,
        };
        let mut front = Self {
            queues: Vec::with_capacity(usize::from(config.queues.max(1))),
            ctrl: None,
            steering: None,
            rx_accept: config.rx,
        };
        let built = (0..config.queues.max(1))
            .try_for_each(|i| {
                front.queues.push(NetQueue::new(plat, i, setup)?);
                Ok(())
            })
            .and_then(|()| {
                if config.ctrl_ring {
                    front.ctrl = Some(CtrlChannel::new(plat, config.backend)?);
                }
                Ok(())
            });
        match built {
            Ok(()) => Ok(front),
            Err(e) => {
                front.teardown(plat, &mut |_| {}, quarantine);
                Err(e)
            }
        }
    }

    /// The queues.
    pub fn queues(&self) -> &[NetQueue<P>] {
        &self.queues
    }

    /// The queues, for their owners.
    pub fn queues_mut(&mut self) -> &mut [NetQueue<P>] {
        &mut self.queues
    }

    /// The control ring, if set up.
    pub fn ctrl_mut(&mut self) -> Option<&mut CtrlChannel> {
        self.ctrl.as_mut()
    }

    /// Makes every queue's receive buffers visible (after the backend connected).
    pub fn start(&mut self, ev: &impl EventChannels) {
        for q in &mut self.queues {
            q.start(ev);
        }
    }

    /// Uses `steering` to pick transmit queues; once the backend has accepted the same
    /// configuration on the ctrl ring, received packets carry hash extras, which the queues accept.
    pub fn set_steering(&mut self, steering: Option<Steering>) {
        self.rx_accept.hash = steering.is_some();
        self.steering = steering;
        self.apply_accept();
    }

    fn apply_accept(&mut self) {
        for q in &mut self.queues {
            q.set_rx_accept(self.rx_accept);
        }
    }

    /// The steering in use.
    pub fn steering(&self) -> Option<&Steering> {
        self.steering.as_ref()
    }

    /// The transmit queue for `frame`: the Toeplitz hash through the mapping table, as the backend
    /// steers receive traffic; queue 0 without steering.
    pub fn select_queue(&self, frame: &[u8]) -> usize {
        let q = self.steering.as_ref().map_or(0, |s| s.select(frame).0);
        q.min(self.queues.len() - 1)
    }

    /// Link state for every queue.
    pub fn set_link(&mut self, up: bool) {
        for q in &mut self.queues {
            q.set_link(up);
        }
    }

    /// Disconnects every queue (in-flight packets complete with
    /// [`Disconnected`](super::TxStatus::Disconnected)) and puts regions the backend still holds into
    /// `quarantine`.
    pub fn teardown(
        self,
        plat: &impl Platform,
        done: &mut impl FnMut(TxDone<P>),
        quarantine: &mut Quarantine,
    ) {
        for q in self.queues {
            quarantine.add(q.teardown(plat, done));
        }
        if let Some(c) = self.ctrl {
            plat.close(c.port);
            for region in [c.ring_region, c.buf_region] {
                if let Err(held) = plat.end_region(region) {
                    quarantine.add(Vec::from([held]));
                }
            }
        }
    }
}
