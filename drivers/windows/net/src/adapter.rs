//! The miniport's state over a vif frontend: what XENNET's NDIS handlers call.
//!
//! An [`Adapter`] owns the store session (a `Client` over any transport), the vif's xenbus
//! driver with its netfront, the receive buffers and the OID state. The home calls it from its
//! handlers and its event DPC:
//! - MiniportSendNetBufferLists → [`Adapter::send`]; completions accumulate and the home hands
//!   [`Adapter::take_completed`] to NdisMSendNetBufferListsComplete.
//! - event DPC → [`Adapter::poll`]; [`Adapter::take_received`] to
//!   NdisMIndicateReceiveNetBufferLists; MiniportReturnNetBufferLists → [`Adapter::return_nbls`].
//! - store events → [`Adapter::pump_store`]; [`Adapter::link_change`] to an
//!   NDIS_STATUS_LINK_STATE indication.
//! - MiniportOidRequest → [`Adapter::oid_query`] / [`Adapter::oid_set`].
//! - MiniportPause / Restart → [`Adapter::pause`] / [`Adapter::restart`].
//!
//! Frames go out in the order NDIS gave them: a NET_BUFFER that does not fit its queue's ring
//! waits in a backlog (allocated at initialisation) until completions make room. After the
//! backend comes back (a resume, a migration, a backend restart) the adapter announces its
//! addresses: a gratuitous ARP per IPv4 address the stack registered and an unsolicited NA for the
//! MAC's IPv6 link-local address.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::ToString;
use alloc::sync::Arc;

use xenpv_abi::EvtchnPort;
use xenpv_control::vif::{VifDeviceError, VifFrontend, VifWishes};
use xenpv_control::xenbus::{DriverError, FrontendDriver};
use xenpv_control::xs::client::{Client, Store, Transport, WatchEvent};
use xenpv_datapath::netif::toeplitz::Steering;
use xenpv_datapath::netif::EventPorts;
use xenpv_datapath::netif::{RxMeta, TxDone, TxOffload, TxPacket, TxRefused};
use xenpv_datapath::platform::Platform;
use xenpv_ddk::ndis::miniport::NdisOffload;
use xenpv_ddk::ndis::nbl::{NetBufferList, NET_BUFFER_LIST_CANCEL_ID};
use xenpv_ddk::ndis::{
    NdisStatus, NDIS_STATUS_MEDIA_DISCONNECTED, NDIS_STATUS_PAUSED, NDIS_STATUS_RESOURCES,
    NDIS_STATUS_SEND_ABORTED, NDIS_STATUS_SUCCESS,
};

use crate::announce::{self, Frame};
use crate::chain::{self, NblChain};
use crate::oid::{
    self, Counters, NicInfo, OffloadCaps, OffloadConfig, OidAction, OidResult, OidState,
};
use crate::recv::{RxPool, RxReporting};
use crate::rss::RssConfig;
use crate::segment::segment;
use crate::send::{completion_status, Completion, NbPacket};

/// NET_BUFFERs that can wait for ring space.
pub const BACKLOG: usize = 1024;
/// The watch token of the backend's `carrier` key (the xenbus driver watches `state` only).
const CARRIER_TOKEN: &str = "xennet-carrier";

/// What travels through the netif queues: a NET_BUFFER of the stack, or an announcement.
#[derive(Debug)]
pub enum TxItem {
    Nb(NbPacket),
    Announce(Frame),
}

impl TxPacket for TxItem {
    fn offload(&self) -> TxOffload {
        match self {
            TxItem::Nb(p) => p.offload(),
            TxItem::Announce(_) => TxOffload::default(),
        }
    }

    fn fragments(&self) -> impl Iterator<Item = &[u8]> {
        let (nb, frame) = match self {
            TxItem::Nb(p) => (Some(p.fragments()), None),
            TxItem::Announce(f) => (None, Some(f.as_slice())),
        };
        nb.into_iter().flatten().chain(frame)
    }
}

/// Why the adapter could not start or went wrong.
#[derive(Debug)]
pub enum AdapterError {
    /// The vif's xenbus driver failed (store, device setup, backend paths).
    Driver(DriverError<VifDeviceError>),
    /// The store failed outside the driver.
    Store(xenpv_control::xs::client::Error),
    /// `<frontend>/mac` is missing or not six hex bytes separated by colons.
    Mac,
}

/// Parses a MAC address as the toolstack writes it (`00:16:3e:12:34:56`).
pub fn parse_mac(s: &[u8]) -> Option<[u8; 6]> {
    let s = core::str::from_utf8(s).ok()?.trim();
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// The vif number in a device's instance id (what XENBUS gives `XENPV\VIF` children): 1 to 5
/// decimal UTF-16 digits.
pub fn vif_number(id: &[u16]) -> Option<u32> {
    if id.is_empty() || id.len() > 5 {
        return None;
    }
    id.iter().try_fold(0u32, |n, &c| {
        let d = char::from_u32(u32::from(c))?.to_digit(10)?;
        Some(n * 10 + d)
    })
}

/// The IPv6 link-local address of `mac` (modified EUI-64, RFC 4291 appendix A).
pub fn link_local(mac: [u8; 6]) -> [u8; 16] {
    [
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        mac[0] ^ 2,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ]
}

/// Scratch space for one coalesced receive, and as much again for the segment being built.
const SCRATCH: usize = 65536 + 256;

/// Where received frames go: a receive list if the filter takes them, else counted.
struct RxSink<'a> {
    rx: &'a mut RxPool,
    received: &'a mut NblChain,
    filter: &'a crate::filter::Filter,
    mac: [u8; 6],
    filtered: &'a mut u64,
    reporting: RxReporting,
}

impl RxSink<'_> {
    fn deliver(&mut self, meta: &RxMeta, len: usize, copy: impl FnOnce(&mut [u8]) -> usize) {
        let mut accepted = false;
        let (filter, mac) = (self.filter, self.mac);
        let nbl = self.rx.fill(
            meta,
            len,
            |dst| {
                let n = copy(dst);
                let dest: [u8; 6] = dst
                    .get(..6)
                    .and_then(|d| d.try_into().ok())
                    .unwrap_or([0; 6]);
                accepted = filter.accepts(&mac, &dest);
                n
            },
            self.reporting,
        );
        if let Some(nbl) = nbl {
            if accepted {
                // SAFETY: the pool's list, ours until indicated.
                unsafe { self.received.push(nbl) };
            } else {
                *self.filtered += 1;
                // SAFETY: it came from `fill` just now.
                unsafe { self.rx.give_back(nbl) };
            }
        }
    }
}

/// The RSS configuration being written to the ctrl ring, one request at a time.
#[derive(Debug, Default)]
struct CtrlJob {
    config: Option<RssConfig>,
    /// Index of the next request; the job is done past the last.
    step: usize,
    waiting: bool,
    active: bool,
}

type Vif<Pl> = VifFrontend<TxItem, Pl>;

/// The miniport adapter.
pub struct Adapter<Pl: Platform, T: Transport> {
    platform: Arc<Pl>,
    client: Client<T>,
    driver: FrontendDriver<Vif<Pl>>,
    mac: [u8; 6],
    mtu: u32,
    link_speed_bps: u64,
    oids: OidState,
    running: bool,
    backlog: VecDeque<TxItem>,
    rx: RxPool,
    completed: NblChain,
    received: NblChain,
    ctrl: CtrlJob,
    offload_changed: bool,
    link_reported: Option<bool>,
    connected: bool,
    ever_connected: bool,
    announcements: u64,
    tx_discards: u64,
    tx_errors: u64,
    rx_filtered: u64,
    /// Coalesced receives that could not be split (RSC off).
    rx_unsplit: u64,
    scratch: alloc::vec::Vec<u8>,
}

impl<Pl: Platform, T: Transport> Adapter<Pl, T> {
    /// Attaches to the vif at `frontend` (e.g. `device/vif/0`) through `client` and reads its
    /// MAC; `rx` are the receive buffers. Nothing is connected until [`connect`](Self::connect).
    pub fn new(
        platform: Arc<Pl>,
        mut client: Client<T>,
        frontend: &str,
        wishes: VifWishes,
        rx: RxPool,
        mtu: u32,
    ) -> Result<Self, AdapterError> {
        let raw = client
            .try_read(&format!("{frontend}/mac"))
            .map_err(AdapterError::Store)?;
        let mac = raw
            .as_deref()
            .and_then(parse_mac)
            .ok_or(AdapterError::Mac)?;
        let vif = VifFrontend::new(platform.clone(), wishes);
        let driver =
            FrontendDriver::attach(&mut client, frontend, vif).map_err(AdapterError::Driver)?;
        Ok(Self {
            platform,
            client,
            driver,
            mac,
            mtu,
            link_speed_bps: 10_000_000_000,
            oids: OidState::default(),
            running: false,
            backlog: VecDeque::with_capacity(BACKLOG),
            rx,
            completed: NblChain::default(),
            received: NblChain::default(),
            ctrl: CtrlJob::default(),
            offload_changed: false,
            link_reported: None,
            connected: false,
            ever_connected: false,
            announcements: 0,
            tx_discards: 0,
            tx_errors: 0,
            rx_filtered: 0,
            rx_unsplit: 0,
            scratch: alloc::vec![0; 2 * SCRATCH],
        })
    }

    /// The permanent (and current) MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Starts connecting to the backend, and follows its `carrier` key (link up or down).
    pub fn connect(&mut self) -> Result<(), AdapterError> {
        self.driver
            .connect(&mut self.client)
            .map_err(AdapterError::Driver)?;
        let carrier = format!("{}/carrier", self.driver.paths().backend);
        self.client
            .watch(&carrier, CARRIER_TOKEN)
            .map_err(AdapterError::Store)?;
        self.after_store();
        Ok(())
    }

    /// Whether the backend is connected and the link up.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Processes what the store delivered (watch events drive the xenbus state machine).
    pub fn pump_store(&mut self) -> Result<(), AdapterError> {
        self.client.process_pending().map_err(AdapterError::Store)?;
        while let Some(ev) = self.client.try_event() {
            self.on_watch(&ev)?;
        }
        self.after_store();
        Ok(())
    }

    /// Looks at the backend's state again, as if its watch had fired (a home's timer, or a
    /// test that drives the store by hand).
    pub fn recheck(&mut self) -> Result<(), AdapterError> {
        let ev = WatchEvent {
            path: format!("{}/state", self.driver.paths().backend),
            token: self.driver.token().to_string(),
        };
        self.on_watch(&ev)?;
        self.after_store();
        Ok(())
    }

    fn on_watch(&mut self, ev: &WatchEvent) -> Result<(), AdapterError> {
        if ev.token == CARRIER_TOKEN {
            let paths = self.driver.paths().clone();
            return match self
                .driver
                .device_mut()
                .update_link(&mut self.client, &paths)
            {
                // A malformed carrier key leaves the link as it was.
                Ok(_) | Err(VifDeviceError::Feature(_)) => Ok(()),
                Err(VifDeviceError::Store(e)) => Err(AdapterError::Store(e)),
                Err(_) => Ok(()),
            };
        }
        match self.driver.on_watch(&mut self.client, ev) {
            // A device error has already taken the machine towards Closed; it reconnects
            // when the backend offers again.
            Ok(()) | Err(DriverError::Device(_)) => Ok(()),
            Err(e) => Err(AdapterError::Driver(e)),
        }
    }

    fn after_store(&mut self) {
        for done in self.driver.device_mut().take_aborted() {
            self.finish(done);
        }
        let machine_up = self.driver.machine().is_connected();
        let link_up = self
            .driver
            .device_mut()
            .netfront()
            .and_then(|f| f.queues().first().map(|q| q.link_up()))
            .unwrap_or(false);
        let up = machine_up && link_up;
        if up && !self.connected {
            if let Some(n) = self.driver.device().negotiated() {
                let caps = OffloadCaps {
                    lso_v4: n.config.tx.gso_tcpv4,
                    lso_v6: n.config.tx.gso_tcpv6,
                    rsc: n.frontend.gso_tcpv4,
                };
                if caps != self.oids.caps {
                    self.oids.caps = caps;
                    let all = OffloadConfig::all(caps);
                    if !self.ever_connected {
                        self.oids.offload = all;
                    }
                    // Anything the stack turned on that this backend cannot do goes off.
                    let o = &mut self.oids.offload;
                    o.lso_v4 &= all.lso_v4;
                    o.lso_v6 &= all.lso_v6;
                    o.rsc_v4 &= all.rsc_v4;
                    o.rsc_v6 &= all.rsc_v6;
                    self.offload_changed = self.ever_connected;
                }
            }
            if self.oids.rss.is_some() {
                self.start_ctrl(self.oids.rss.clone());
            }
            if self.ever_connected {
                self.queue_announcements();
            }
            self.ever_connected = true;
        }
        self.connected = up;
    }

    /// The link state to indicate, when it differs from the last one indicated.
    pub fn link_change(&mut self) -> Option<bool> {
        if self.link_reported == Some(self.connected) {
            return None;
        }
        self.link_reported = Some(self.connected);
        Some(self.connected)
    }

    /// The offloads the backend makes possible (for the adapter's offload attributes).
    pub fn offload_caps(&self) -> OffloadCaps {
        self.oids.caps
    }

    /// The offload configuration to indicate (NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG) after an
    /// OID or a new backend changed it.
    pub fn take_offload_change(&mut self) -> Option<NdisOffload> {
        core::mem::take(&mut self.offload_changed).then(|| self.oids.offload.ndis_offload())
    }

    fn queue_announcements(&mut self) {
        let mut frames: alloc::vec::Vec<Frame> = self
            .oids
            .ipv4
            .iter()
            .map(|ip| announce::gratuitous_arp(self.mac, *ip))
            .collect();
        frames.push(announce::unsolicited_na(self.mac, link_local(self.mac)));
        for f in frames {
            if self.backlog.len() < BACKLOG {
                self.backlog.push_back(TxItem::Announce(f));
                self.announcements += 1;
            }
        }
    }

    /// Announcements queued so far.
    pub fn announcements(&self) -> u64 {
        self.announcements
    }

    /// MiniportRestart: sends and receives flow.
    pub fn restart(&mut self) {
        self.running = true;
    }

    /// MiniportPause: refuses new sends, completes the backlog with NDIS_STATUS_PAUSED; returns
    /// whether the adapter is already quiet (nothing in flight, every receive returned). If
    /// not, the home completes the pause once [`is_quiet`](Self::is_quiet) says so.
    pub fn pause(&mut self) -> bool {
        self.running = false;
        while let Some(item) = self.backlog.pop_front() {
            self.fail(item, NDIS_STATUS_PAUSED);
        }
        self.is_quiet()
    }

    /// Nothing in flight and every receive list back.
    pub fn is_quiet(&mut self) -> bool {
        let in_flight = self
            .driver
            .device_mut()
            .netfront()
            .map_or(0, |f| f.queues().iter().map(|q| q.pending_packets()).sum());
        in_flight == 0 && self.backlog.is_empty() && self.rx.outstanding() == 0
    }

    /// MiniportSendNetBufferLists.
    ///
    /// # Safety
    /// `nbls` is a chain NDIS handed to the miniport; the lists stay the adapter's until they
    /// come back through [`take_completed`](Self::take_completed).
    pub unsafe fn send(&mut self, nbls: *mut NetBufferList) {
        // SAFETY: per the contract.
        for nbl in unsafe { chain::iter(nbls) } {
            let refuse = if !self.running {
                Some(NDIS_STATUS_PAUSED)
            } else if !self.connected {
                Some(NDIS_STATUS_MEDIA_DISCONNECTED)
            } else {
                None
            };
            if let Some(status) = refuse {
                // SAFETY: the list is ours until completed.
                unsafe {
                    (*nbl).status = status;
                    self.completed.push(nbl);
                }
                self.tx_discards += 1;
                continue;
            }
            // SAFETY: as above.
            if unsafe { Completion::begin(nbl) } == 0 {
                // SAFETY: as above.
                unsafe { self.completed.push(nbl) };
                continue;
            }
            // SAFETY: as above; each NET_BUFFER of the list.
            let mut nb = unsafe { (*nbl).first_net_buffer };
            while !nb.is_null() {
                // SAFETY: the list's NET_BUFFERs are valid while the list is ours.
                let next = unsafe { (*nb).next };
                // SAFETY: as above.
                match unsafe { NbPacket::new(nbl, nb) } {
                    Ok(p) if self.backlog.len() < BACKLOG => self.backlog.push_back(TxItem::Nb(p)),
                    Ok(p) => self.fail(TxItem::Nb(p), NDIS_STATUS_RESOURCES),
                    Err(e) => {
                        self.tx_errors += 1;
                        // SAFETY: the list was begun above.
                        if unsafe { Completion::one_done(nbl, e.status(), 0) } {
                            // SAFETY: it is complete and ours.
                            unsafe { self.completed.push(nbl) };
                        }
                    }
                }
                nb = next;
            }
        }
        self.drain();
    }

    /// Completes an item that was never sent.
    fn fail(&mut self, item: TxItem, status: NdisStatus) {
        if let TxItem::Nb(p) = item {
            self.tx_discards += 1;
            // SAFETY: the packet's list is ours and was begun by `send`.
            if unsafe { Completion::one_done(p.nbl(), status, 0) } {
                // SAFETY: complete and ours.
                unsafe { self.completed.push(p.nbl()) };
            }
        }
    }

    fn finish(&mut self, done: TxDone<TxItem>) {
        if let TxDone::Packet {
            packet: TxItem::Nb(p),
            status,
        } = done
        {
            let status = completion_status(status);
            let payload = if status == NDIS_STATUS_SUCCESS {
                p.tcp_payload()
            } else {
                0
            };
            // SAFETY: the packet's list is ours and was begun by `send`.
            if unsafe { Completion::one_done(p.nbl(), status, payload) } {
                // SAFETY: complete and ours.
                unsafe { self.completed.push(p.nbl()) };
            }
        }
    }

    /// Moves backlog items to their queues until a ring is full, then kicks the backend. Without
    /// a connected backend and link nothing waits: the items complete as disconnected (NDIS
    /// expects sends to finish, and frames held across an outage would arrive stale).
    fn drain(&mut self) {
        let platform = self.platform.clone();
        let front = match self.driver.device_mut().netfront() {
            Some(front) if self.connected => front,
            _ => {
                while let Some(item) = self.backlog.pop_front() {
                    self.fail(item, NDIS_STATUS_MEDIA_DISCONNECTED);
                }
                return;
            }
        };
        let mut failed = alloc::vec::Vec::new();
        while let Some(item) = self.backlog.pop_front() {
            let queue = match &item {
                TxItem::Nb(p) => p.fragments().next().map_or(0, |h| front.select_queue(h)),
                TxItem::Announce(_) => 0,
            };
            match front.queues_mut()[queue].send(item) {
                Ok(()) => {}
                Err((item, TxRefused::Busy)) => {
                    self.backlog.push_front(item);
                    break;
                }
                Err((item, TxRefused::LinkDown | TxRefused::Broken)) => {
                    failed.push((item, NDIS_STATUS_MEDIA_DISCONNECTED))
                }
                Err((item, _)) => failed.push((item, xenpv_ddk::ndis::NDIS_STATUS_FAILURE)),
            }
        }
        for q in front.queues_mut() {
            q.flush(&*platform);
        }
        for (item, status) in failed {
            self.fail(item, status);
        }
    }

    /// The event DPC's work: completions, receives, ctrl ring answers, then the backlog.
    pub fn poll(&mut self) {
        let platform = self.platform.clone();
        let reporting = RxReporting {
            checksum: self.oids.offload.rx_csum_v4 || self.oids.offload.rx_csum_v6,
            rsc: self.oids.offload.rsc_v4 || self.oids.offload.rsc_v6,
            hash: self.oids.rss.is_some(),
        };
        let running = self.running;
        let mut done = alloc::vec::Vec::new();
        if let Some(front) = self.driver.device_mut().netfront() {
            let mut sink = RxSink {
                rx: &mut self.rx,
                received: &mut self.received,
                filter: &self.oids.filter,
                mac: self.mac,
                filtered: &mut self.rx_filtered,
                reporting,
            };
            let (whole, segment_space) = self.scratch.split_at_mut(SCRATCH);
            let unsplit = &mut self.rx_unsplit;
            for q in front.queues_mut() {
                // A broken queue stays broken until the device reconnects; the store path
                // tears it down.
                let _ = q.poll_packets(&*platform, &mut |d| done.push(d), &mut |meta, packet| {
                    if !running {
                        *sink.filtered += 1;
                        return;
                    }
                    match meta.gso {
                        // RSC off: split a coalesced receive into segments.
                        Some(gso) if !reporting.rsc => {
                            let n = packet.copy_to(whole);
                            let one = RxMeta { gso: None, ..*meta };
                            let r = segment(&whole[..n], gso.mss, segment_space, |seg| {
                                sink.deliver(&one, seg.len(), |dst| {
                                    dst.copy_from_slice(seg);
                                    seg.len()
                                })
                            });
                            if r.is_err() {
                                *unsplit += 1;
                            }
                        }
                        _ => sink.deliver(meta, packet.len(), |dst| packet.copy_to(dst)),
                    }
                });
            }
        }
        for d in done {
            self.finish(d);
        }
        self.step_ctrl();
        self.drain();
    }

    /// Send completions gathered so far: the chain's head and length, for
    /// NdisMSendNetBufferListsComplete.
    pub fn take_completed(&mut self) -> (*mut NetBufferList, u32) {
        self.completed.take()
    }

    /// Received lists gathered so far, for NdisMIndicateReceiveNetBufferLists.
    pub fn take_received(&mut self) -> (*mut NetBufferList, u32) {
        self.received.take()
    }

    /// MiniportReturnNetBufferLists.
    ///
    /// # Safety
    /// `nbls` is a chain of lists this adapter indicated and NDIS now returns.
    pub unsafe fn return_nbls(&mut self, nbls: *mut NetBufferList) {
        // SAFETY: per the contract.
        for nbl in unsafe { chain::iter(nbls) } {
            // SAFETY: every returned list is one of the pool's.
            unsafe { self.rx.give_back(nbl) };
        }
    }

    fn counters(&mut self) -> Counters {
        let mut c = Counters {
            tx_discards: self.tx_discards,
            tx_errors: self.tx_errors,
            rx_discards: self.rx.no_buffer + self.rx.too_long,
            rx_errors: self.rx_unsplit,
            ..Counters::default()
        };
        if let Some(front) = self.driver.device_mut().netfront() {
            for q in front.queues() {
                let s = q.stats();
                c.tx_packets += s.tx_packets;
                c.tx_bytes += s.tx_bytes;
                c.tx_errors += s.tx_errors;
                c.rx_packets += s.rx_packets;
                c.rx_bytes += s.rx_bytes;
                c.rx_errors += s.rx_dropped;
            }
        }
        c
    }

    fn nic(&mut self) -> NicInfo {
        let queues = self
            .driver
            .device_mut()
            .netfront()
            .map_or(1, |f| f.queues().len() as u32);
        NicInfo {
            mac: self.mac,
            permanent_mac: self.mac,
            mtu: self.mtu,
            link_speed_bps: self.link_speed_bps,
            connected: self.connected,
            queues,
        }
    }

    /// A query OID.
    pub fn oid_query(&mut self, oid: u32, buf: &mut [u8]) -> OidResult {
        let (nic, counters) = (self.nic(), self.counters());
        let mut ctx = oid::Ctx {
            state: &mut self.oids,
            nic: &nic,
            counters: &counters,
            action: None,
        };
        oid::query(&mut ctx, oid, buf)
    }

    /// A set OID; what it changes is applied (multicast filter, RSS, offloads).
    pub fn oid_set(&mut self, oid: u32, data: &[u8]) -> OidResult {
        let (nic, counters) = (self.nic(), self.counters());
        let mut ctx = oid::Ctx {
            state: &mut self.oids,
            nic: &nic,
            counters: &counters,
            action: None,
        };
        let r = oid::set(&mut ctx, oid, data);
        match ctx.action {
            Some(OidAction::Multicast(changes)) => {
                let platform = self.platform.clone();
                let multicast = self
                    .driver
                    .device()
                    .negotiated()
                    .is_some_and(|n| n.frontend.multicast_control);
                if let (true, Some(front)) = (multicast, self.driver.device_mut().netfront()) {
                    let q = &mut front.queues_mut()[0];
                    for c in changes {
                        // A full ring loses the filter change; the software filter still holds.
                        let _ = q.multicast(c.addr, c.add);
                    }
                    q.flush(&*platform);
                }
            }
            Some(OidAction::Rss(config)) => self.start_ctrl(config),
            Some(OidAction::OffloadChanged) => self.offload_changed = true,
            None => {}
        }
        r
    }

    fn start_ctrl(&mut self, config: Option<RssConfig>) {
        self.ctrl = CtrlJob {
            config,
            step: 0,
            waiting: false,
            active: true,
        };
        self.step_ctrl();
    }

    /// Moves the RSS job along: one ctrl request at a time; when all are answered the
    /// netfront steers transmits the same way and accepts hash extras.
    fn step_ctrl(&mut self) {
        if !self.ctrl.active {
            return;
        }
        let platform = self.platform.clone();
        let Some(front) = self.driver.device_mut().netfront() else {
            return;
        };
        let queues = front.queues().len() as u32;
        let Some(ctrl) = front.ctrl_mut() else {
            // No ctrl ring: RSS stays a software setting (hashes are not reported).
            self.ctrl.active = false;
            return;
        };
        loop {
            let ops_len = self.ctrl.config.as_ref().map_or(1, |c| c.ctrl_ops().len());
            if self.ctrl.waiting {
                match ctrl.poll() {
                    Ok(Some(Ok(_))) => {
                        self.ctrl.waiting = false;
                        self.ctrl.step += 1;
                    }
                    Ok(None) => return,
                    // Refused or broken: RSS is off on this backend.
                    Ok(Some(Err(_))) | Err(_) => {
                        self.ctrl.active = false;
                        front.set_steering(None);
                        return;
                    }
                }
            }
            if self.ctrl.step >= ops_len {
                self.ctrl.active = false;
                let steering = self
                    .ctrl
                    .config
                    .as_ref()
                    .and_then(|c| Steering::new(&c.key, c.xen_flags(), &c.table, queues).ok());
                front.set_steering(steering);
                return;
            }
            let sent = match &self.ctrl.config {
                Some(c) => ctrl.send(&*platform, c.ctrl_ops()[self.ctrl.step]),
                None => ctrl.send(
                    &*platform,
                    xenpv_datapath::netif::ctrl::CtrlOp::SetHashFlags(0),
                ),
            };
            if sent.is_err() {
                return;
            }
            self.ctrl.waiting = true;
        }
    }

    /// The event channels the home must deliver to [`poll`](Self::poll) (every queue's, and
    /// the ctrl ring's); they change when the device reconnects.
    pub fn event_ports(&mut self) -> alloc::vec::Vec<EvtchnPort> {
        let mut ports = alloc::vec::Vec::new();
        if let Some(front) = self.driver.device_mut().netfront() {
            for q in front.queues() {
                match q.keys().ports {
                    EventPorts::Shared(p) => ports.push(p),
                    EventPorts::Split { tx, rx } => ports.extend([tx, rx]),
                }
            }
            if let Some(c) = front.ctrl_mut() {
                ports.push(c.port());
            }
        }
        ports
    }

    /// MiniportCancelSend: NET_BUFFERs still in the backlog whose list carries `id`
    /// (NetBufferListCancelId) complete with NDIS_STATUS_SEND_ABORTED; those already on a ring
    /// finish normally.
    pub fn cancel_send(&mut self, id: usize) {
        let (cancelled, kept): (alloc::vec::Vec<TxItem>, alloc::vec::Vec<TxItem>) =
            self.backlog.drain(..).partition(|item| match item {
                // SAFETY: the lists of backlog items are ours until completed.
                TxItem::Nb(p) => unsafe {
                    (*p.nbl()).net_buffer_list_info[NET_BUFFER_LIST_CANCEL_ID] == id
                },
                TxItem::Announce(_) => false,
            });
        self.backlog.extend(kept);
        for item in cancelled {
            self.fail(item, NDIS_STATUS_SEND_ABORTED);
        }
    }

    /// Whether the RSS configuration is still being written.
    pub fn rss_pending(&self) -> bool {
        self.ctrl.active
    }

    /// The store session (for the home's waits and for tests).
    pub fn client(&mut self) -> &mut Client<T> {
        &mut self.client
    }

    /// Frames received but not delivered: filtered out, or arriving while paused.
    pub fn rx_filtered(&self) -> u64 {
        self.rx_filtered
    }

    /// MiniportHalt: closes the device (the backend sees Closing, then Closed), completes what
    /// is still queued, and gives back the receive pool for the home to free.
    pub fn halt(mut self) -> Result<RxPool, AdapterError> {
        self.running = false;
        while let Some(item) = self.backlog.pop_front() {
            self.fail(item, NDIS_STATUS_PAUSED);
        }
        self.driver
            .close(&mut self.client)
            .map_err(AdapterError::Driver)?;
        for done in self.driver.device_mut().take_aborted() {
            self.finish(done);
        }
        Ok(self.rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_strictly() {
        assert_eq!(
            parse_mac(b"00:16:3e:12:ab:CD"),
            Some([0x00, 0x16, 0x3e, 0x12, 0xab, 0xcd])
        );
        assert_eq!(parse_mac(b"00:16:3e:12:ab"), None);
        assert_eq!(parse_mac(b"00:16:3e:12:ab:cd:ef"), None);
        assert_eq!(parse_mac(b"0:16:3e:12:ab:cd"), None);
        assert_eq!(parse_mac(b"00:16:3e:12:ab:zz"), None);
        assert_eq!(parse_mac(&[0xff, 0xfe]), None);
    }

    #[test]
    fn vif_numbers_are_short_decimal_ids() {
        let utf16 = |s: &str| s.encode_utf16().collect::<std::vec::Vec<u16>>();
        assert_eq!(vif_number(&utf16("0")), Some(0));
        assert_eq!(vif_number(&utf16("12345")), Some(12345));
        assert_eq!(vif_number(&utf16("123456")), None);
        assert_eq!(vif_number(&utf16("")), None);
        assert_eq!(vif_number(&utf16("1a")), None);
    }

    #[test]
    fn link_local_flips_the_universal_bit() {
        let ll = link_local([0x00, 0x16, 0x3e, 0x12, 0x34, 0x56]);
        assert_eq!(
            ll,
            [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x16, 0x3e, 0xff, 0xfe, 0x12, 0x34, 0x56]
        );
    }
}
