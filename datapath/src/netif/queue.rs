//! One netif queue: its tx and rx rings, their buffer pools, its event channel(s) and statistics.
//!
//! A queue has one owner (a CPU's DPC, a thread) that calls every method; nothing here locks. The
//! upper layer can either call [`NetQueue::send`] / [`NetQueue::poll`] directly or connect the
//! queue to the spine's SPSC queues with [`NetQueue::pump`].

use alloc::vec;
use alloc::vec::Vec;
use xenpv_abi::{DomId, EvtchnPort, GrantRef};

use super::packet::{RxMeta, TxDone, TxPacket, TxStatus};
use super::rx::{RxAccept, RxDrop, RxPacket, RxRing, MAX_RX_BYTES};
use super::tx::{TxCaps, TxRefused, TxRing};
use super::NetifError;
use crate::platform::{Access, EventChannels, GrantedRegion, Platform, StillInUse};
use crate::queue::spsc;

/// How a queue is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueSetup {
    /// The backend's domain.
    pub backend: DomId,
    /// One event channel for tx and one for rx (`feature-split-event-channels`), or one for both.
    pub split_event_channels: bool,
    /// What the backend accepts on transmit.
    pub tx: TxCaps,
    /// Which receive extras we asked for.
    pub rx: RxAccept,
}

/// The event channel(s) of a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventPorts {
    /// `event-channel`: one port for both directions.
    Shared(EvtchnPort),
    /// `event-channel-tx` and `event-channel-rx`.
    Split {
        /// Transmit completions.
        tx: EvtchnPort,
        /// Received packets.
        rx: EvtchnPort,
    },
}

impl EventPorts {
    fn tx(self) -> EvtchnPort {
        match self {
            EventPorts::Shared(p) | EventPorts::Split { tx: p, .. } => p,
        }
    }

    fn rx(self) -> EvtchnPort {
        match self {
            EventPorts::Shared(p) | EventPorts::Split { rx: p, .. } => p,
        }
    }
}

/// What the frontend writes to xenstore for a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueKeys {
    /// `tx-ring-ref`.
    pub tx_ring_ref: GrantRef,
    /// `rx-ring-ref`.
    pub rx_ring_ref: GrantRef,
    /// `event-channel` or `event-channel-tx` / `-rx`.
    pub ports: EventPorts,
}

/// Counters of one queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Packets the backend took.
    pub tx_packets: u64,
    /// Their bytes.
    pub tx_bytes: u64,
    /// Of those, segmentation requests.
    pub tx_gso: u64,
    /// Packets that completed with an error, a drop or a disconnect.
    pub tx_errors: u64,
    /// Packets handed back unsent (busy ring, unsupported offload, link down).
    pub tx_refused: u64,
    /// Event channel kicks sent for tx.
    pub tx_notifies: u64,
    /// Packets delivered to the upper layer.
    pub rx_packets: u64,
    /// Their bytes.
    pub rx_bytes: u64,
    /// Of those, large receives (GSO metadata).
    pub rx_gso: u64,
    /// Of those, with an RSS hash.
    pub rx_hashed: u64,
    /// Received packets dropped as malformed.
    pub rx_dropped: u64,
    /// Why the last one was dropped.
    pub last_rx_drop: Option<RxDrop>,
    /// Event channel kicks sent for rx refills.
    pub rx_notifies: u64,
}

/// The granted memory of a queue, kept so that teardown can end the grants.
struct Regions {
    tx_ring: GrantedRegion,
    rx_ring: GrantedRegion,
    tx_pool: GrantedRegion,
    rx_pool: GrantedRegion,
}

/// One transmit/receive queue of a netfront.
pub struct NetQueue<P> {
    index: u16,
    tx: TxRing<P>,
    rx: RxRing,
    ports: EventPorts,
    regions: Regions,
    stats: QueueStats,
    link_up: bool,
    /// A packet taken from the input queue that the ring had no room for yet.
    held: Option<P>,
    broken: Option<NetifError>,
    /// Where [`poll`](NetQueue::poll) copies each received packet for an upper layer that wants
    /// bytes rather than a view; allocated at setup.
    rx_buf: Vec<u8>,
}

/// Frees what setup got so far when a later step fails.
fn end_all(plat: &impl Platform, regions: Vec<GrantedRegion>) -> Vec<StillInUse> {
    regions
        .into_iter()
        .filter_map(|r| plat.end_region(r).err())
        .collect()
}

impl<P: TxPacket> NetQueue<P> {
    /// Grants the rings and pools of queue `index` to the backend and allocates its port(s).
    /// Nothing is shared with the backend until the keys are written.
    pub fn new(plat: &impl Platform, index: u16, setup: QueueSetup) -> Result<Self, NetifError> {
        let be = setup.backend;
        let mut got = Vec::with_capacity(4);
        let mut take = |pages, access| -> Result<(), NetifError> {
            got.push(plat.grant_region(be, pages, access)?);
            Ok(())
        };
        let granted = take(1, Access::ReadWrite)
            .and_then(|_| take(1, Access::ReadWrite))
            // Pools have one page per slot; the slot count is that of a one-page ring.
            .and_then(|_| take(super::tx::pool_pages(), Access::ReadOnly))
            .and_then(|_| take(super::rx::pool_pages(), Access::ReadWrite));
        if let Err(e) = granted {
            end_all(plat, got);
            return Err(e);
        }
        let ports = match alloc_ports(plat, be, setup.split_event_channels) {
            Ok(p) => p,
            Err(e) => {
                end_all(plat, got);
                return Err(e);
            }
        };
        let mut it = got.into_iter();
        let mut next = || it.next().expect("four regions");
        let regions = Regions {
            tx_ring: next(),
            rx_ring: next(),
            tx_pool: next(),
            rx_pool: next(),
        };
        let mut tx = TxRing::new(
            regions.tx_ring.mem().clone(),
            regions.tx_pool.mem().clone(),
            regions.tx_pool.grefs().to_vec(),
            setup.tx,
        )?;
        // Granting the caller's frames is an optimisation for large fragments: a home that cannot
        // (or has no references to spare) leaves every packet on the copying path.
        if let Ok(Some(frames)) = plat.frame_grants(be, tx.size() as usize) {
            // A reserve shorter than asked for is not used; dropping it gives its references back.
            let _ = tx.lend_frames(frames);
        }
        let rx = RxRing::new(
            regions.rx_ring.mem().clone(),
            regions.rx_pool.mem().clone(),
            regions.rx_pool.grefs().to_vec(),
            setup.rx,
        )?;
        Ok(Self {
            index,
            tx,
            rx,
            ports,
            regions,
            stats: QueueStats::default(),
            link_up: true,
            held: None,
            broken: None,
            rx_buf: vec![0; MAX_RX_BYTES],
        })
    }

    /// The queue's number.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// What to write to xenstore for this queue.
    pub fn keys(&self) -> QueueKeys {
        QueueKeys {
            tx_ring_ref: self.regions.tx_ring.grefs()[0],
            rx_ring_ref: self.regions.rx_ring.grefs()[0],
            ports: self.ports,
        }
    }

    /// Counters.
    pub fn stats(&self) -> &QueueStats {
        &self.stats
    }

    /// The protocol error that stopped this queue, if any.
    pub fn broken(&self) -> Option<NetifError> {
        self.broken
    }

    /// Link (carrier) state from the backend's `carrier` key; while down, packets are refused.
    pub fn set_link(&mut self, up: bool) {
        self.link_up = up;
    }

    /// Which receive extras are acceptable (hashing enabled or not).
    pub fn set_rx_accept(&mut self, accept: RxAccept) {
        self.rx.set_accept(accept);
    }

    /// Whether the link is up.
    pub fn link_up(&self) -> bool {
        self.link_up
    }

    /// Packets waiting for completion.
    pub fn pending_packets(&self) -> usize {
        self.tx.pending_packets() + usize::from(self.held.is_some())
    }

    /// Makes the receive buffers visible to the backend (after connecting).
    pub fn start(&mut self, ev: &impl EventChannels) {
        self.flush_rx(ev);
    }

    /// Queues `packet` for transmission; call [`flush`](Self::flush) to hand the batch over.
    pub fn send(&mut self, packet: P) -> Result<(), (P, TxRefused)> {
        let refused = if self.broken.is_some() {
            Some(TxRefused::Broken)
        } else if !self.link_up {
            Some(TxRefused::LinkDown)
        } else {
            None
        };
        if let Some(why) = refused {
            self.stats.tx_refused += 1;
            return Err((packet, why));
        }
        let gso = packet.offload().gso.is_some();
        match self.tx.submit(packet) {
            Ok(bytes) => {
                self.stats.tx_bytes += bytes as u64;
                self.stats.tx_gso += u64::from(gso);
                Ok(())
            }
            Err(e) => {
                self.stats.tx_refused += 1;
                Err(e)
            }
        }
    }

    /// Adds or removes a multicast address in the backend's filter; the answer comes back as a
    /// [`TxDone::Multicast`].
    pub fn multicast(&mut self, addr: [u8; 6], add: bool) -> Result<(), TxRefused> {
        self.tx.multicast(addr, add)
    }

    /// Hands queued requests to the backend, notifying it if it asked.
    pub fn flush(&mut self, ev: &impl EventChannels) {
        if self.tx.flush() {
            ev.notify(self.ports.tx());
            self.stats.tx_notifies += 1;
        }
    }

    fn flush_rx(&mut self, ev: &impl EventChannels) {
        if self.rx.flush() {
            ev.notify(self.ports.rx());
            self.stats.rx_notifies += 1;
        }
    }

    /// Processes what the backend did: transmit completions through `done`, received packets
    /// copied out once and handed to `deliver`, receive refills. A protocol error stops the queue
    /// (see [`broken`](Self::broken)); tear it down and reconnect.
    pub fn poll(
        &mut self,
        ev: &impl EventChannels,
        done: &mut impl FnMut(TxDone<P>),
        deliver: &mut impl FnMut(&RxMeta, &[u8]),
    ) -> Result<(), NetifError> {
        let mut buf = core::mem::take(&mut self.rx_buf);
        let result = self.poll_packets(ev, done, &mut |meta, packet| {
            let len = packet.copy_to(&mut buf);
            deliver(meta, &buf[..len])
        });
        self.rx_buf = buf;
        result
    }

    /// As [`poll`](Self::poll), but each received packet is lent to `deliver` as a view of the
    /// pages it arrived in, without a copy; its pages go back to the backend after the call.
    pub fn poll_packets(
        &mut self,
        ev: &impl EventChannels,
        done: &mut impl FnMut(TxDone<P>),
        deliver: &mut impl FnMut(&RxMeta, &RxPacket<'_>),
    ) -> Result<(), NetifError> {
        if let Some(e) = self.broken {
            return Err(e);
        }
        let stats = &mut self.stats;
        let mut count = |d: TxDone<P>| {
            if let TxDone::Packet { status, .. } = &d {
                if *status == TxStatus::Ok {
                    stats.tx_packets += 1;
                } else {
                    stats.tx_errors += 1;
                }
            }
            done(d)
        };
        let result = self.tx.poll(&mut count).and_then(|_| {
            let stats = &mut self.stats;
            let rx = self.rx.poll(&mut |meta: &RxMeta, packet: &RxPacket<'_>| {
                stats.rx_gso += u64::from(meta.gso.is_some());
                stats.rx_hashed += u64::from(meta.hash.is_some());
                deliver(meta, packet)
            })?;
            stats.rx_packets += rx.packets as u64;
            stats.rx_bytes += rx.bytes as u64;
            stats.rx_dropped += rx.dropped as u64;
            if rx.last_drop.is_some() {
                stats.last_rx_drop = rx.last_drop;
            }
            Ok(())
        });
        match result {
            Ok(()) => {
                self.flush_rx(ev);
                Ok(())
            }
            Err(e) => {
                self.broken = Some(e);
                Err(e)
            }
        }
    }

    /// Connects the queue to the spine: takes packets from `input`, sends them, and pushes every
    /// completion to `completions`. A packet is taken only while `completions` has room for every
    /// packet in flight plus it, so a completion never has to wait.
    pub fn pump(
        &mut self,
        ev: &impl EventChannels,
        input: &mut spsc::Consumer<P>,
        completions: &mut spsc::Producer<TxDone<P>>,
        deliver: &mut impl FnMut(&RxMeta, &[u8]),
    ) -> Result<(), NetifError> {
        fn push<P>(completions: &mut spsc::Producer<TxDone<P>>, d: TxDone<P>) {
            if completions.push(d).is_err() {
                unreachable!("room for every pending completion is reserved before sending");
            }
        }
        self.poll(ev, &mut |d| push(completions, d), deliver)?;
        let mut sent = false;
        while completions.free_slots() > self.pending_packets() {
            let Some(packet) = self.held.take().or_else(|| input.pop()) else {
                break;
            };
            match self.send(packet) {
                Ok(()) => sent = true,
                Err((packet, TxRefused::Busy)) => {
                    self.held = Some(packet);
                    break;
                }
                Err((packet, _)) => push(
                    completions,
                    TxDone::Packet {
                        packet,
                        status: TxStatus::Error,
                    },
                ),
            }
        }
        if sent {
            self.flush(ev);
        }
        Ok(())
    }

    /// Disconnects: completes every packet still in flight (and one held back) with
    /// [`TxStatus::Disconnected`], closes the event channel(s) and ends the grants. Regions the
    /// backend still has mapped come back as [`StillInUse`]: they must be kept, never reused,
    /// and ended again later.
    pub fn teardown(
        mut self,
        plat: &impl Platform,
        done: &mut impl FnMut(TxDone<P>),
    ) -> Vec<StillInUse> {
        self.tx.abort(done);
        if let Some(packet) = self.held.take() {
            done(TxDone::Packet {
                packet,
                status: TxStatus::Disconnected,
            });
        }
        match self.ports {
            EventPorts::Shared(p) => plat.close(p),
            EventPorts::Split { tx, rx } => {
                plat.close(tx);
                plat.close(rx);
            }
        }
        let Self { regions, .. } = self;
        end_all(
            plat,
            Vec::from([
                regions.tx_ring,
                regions.rx_ring,
                regions.tx_pool,
                regions.rx_pool,
            ]),
        )
    }
}

fn alloc_ports(
    plat: &impl Platform,
    backend: DomId,
    split: bool,
) -> Result<EventPorts, NetifError> {
    let tx = plat.alloc_unbound(backend)?;
    if !split {
        return Ok(EventPorts::Shared(tx));
    }
    match plat.alloc_unbound(backend) {
        Ok(rx) => Ok(EventPorts::Split { tx, rx }),
        Err(e) => {
            plat.close(tx);
            Err(e.into())
        }
    }
}
