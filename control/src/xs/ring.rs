//! The xenstore ring page (`struct xenstore_domain_interface`, docs/misc/xenstore-ring.txt): two
//! 1024-byte byte rings (requests to xenstored, responses and watch events from it) with
//! free-running u32 producer / consumer indices, masked by `XENSTORE_RING_SIZE - 1`.
//!
//! Both ends are here: [`RingLink::guest`] (writes requests, reads responses) and
//! [`RingLink::server`] (reads requests, writes responses; the sim xenstored). Each end keeps its
//! own indices privately and only publishes them to the page, so a peer scribbling on our index
//! cannot steer us; the peer's index is loaded once per operation and validated
//! (`prod - cons <= XENSTORE_RING_SIZE`, as Linux's `check_indexes` and xenstored do). A bad index
//! is a [`RingError::BadIndex`], after which the link stays failed: the connection is dropped.
//!
//! Signalling is not done here: every operation reports whether it moved bytes, and the caller
//! kicks the event channel when it did (xenstore-ring.txt: "Whenever the ring structure is updated
//! the event channel must be signalled").

use super::wire::{DecodeError, Decoder, Message};
use alloc::collections::VecDeque;
use core::mem::{offset_of, size_of};
use xenpv_abi::xs_wire::{
    XenstoreDomainInterface as Page, XENSTORE_CONNECTED, XENSTORE_ERROR_NONE, XENSTORE_ERROR_PROTO,
    XENSTORE_ERROR_RINGIDX, XENSTORE_RECONNECT, XENSTORE_RING_SIZE, XENSTORE_SERVER_FEATURE_ERROR,
    XENSTORE_SERVER_FEATURE_RECONNECTION,
};
use xenpv_datapath::shmem::SharedMem;

const RING_SIZE: u32 = XENSTORE_RING_SIZE as u32;

/// Why a ring link failed. Every variant is fatal for the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The memory handed in is smaller than `struct xenstore_domain_interface`.
    PageTooSmall(usize),
    /// The peer published an index that puts more than `XENSTORE_RING_SIZE` bytes between producer
    /// and consumer.
    BadIndex { prod: u32, cons: u32 },
    /// The byte stream cannot be framed (a header announced an oversized payload).
    Framing(DecodeError),
    /// The server reported a fatal connection error in the page's `error` field (a
    /// `XENSTORE_ERROR_*` value).
    ServerError(u32),
    /// A reconnect was asked for but the server does not advertise
    /// `XENSTORE_SERVER_FEATURE_RECONNECTION`.
    ReconnectUnsupported,
}

/// One direction of the page: where its bytes and its two indices live.
#[derive(Clone, Copy, Debug)]
struct Lane {
    data: usize,
    cons: usize,
    prod: usize,
}

const REQ: Lane = Lane {
    data: offset_of!(Page, req),
    cons: offset_of!(Page, req_cons),
    prod: offset_of!(Page, req_prod),
};
const RSP: Lane = Lane {
    data: offset_of!(Page, rsp),
    cons: offset_of!(Page, rsp_cons),
    prod: offset_of!(Page, rsp_prod),
};

/// Validated distance `prod - cons`, in bytes queued.
fn queued(prod: u32, cons: u32) -> Result<u32, RingError> {
    let n = prod.wrapping_sub(cons);
    if n > RING_SIZE {
        return Err(RingError::BadIndex { prod, cons });
    }
    Ok(n)
}

/// The producing end of a lane; `prod` is ours.
#[derive(Debug)]
struct Producer {
    lane: Lane,
    prod: u32,
}

impl Producer {
    /// Copies as much of `src` as fits; returns the number of bytes written.
    fn write(&mut self, mem: &SharedMem, src: &[u8]) -> Result<usize, RingError> {
        // Acquire: the consumer's reads of the bytes it released happen before we overwrite them.
        let cons = mem.load_u32_acquire(self.lane.cons);
        let space = RING_SIZE - queued(self.prod, cons)?;
        let n = (space as usize).min(src.len());
        for_each_byte(self.prod, n, |ring_off, i| {
            mem.write_bytes(self.lane.data + ring_off, &src[i..=i])
        });
        // n <= RING_SIZE, so it fits a u32.
        self.prod = self.prod.wrapping_add(n as u32);
        // Release: the bytes are visible before the index that publishes them.
        mem.store_u32_release(self.lane.prod, self.prod);
        Ok(n)
    }
}

/// The consuming end of a lane; `cons` is ours.
#[derive(Debug)]
struct Consumer {
    lane: Lane,
    cons: u32,
}

impl Consumer {
    /// Copies out as many queued bytes as fit in `dst`, once; returns the number read.
    fn read(&mut self, mem: &SharedMem, dst: &mut [u8]) -> Result<usize, RingError> {
        // Acquire: the producer's byte writes are visible once we see its index.
        let prod = mem.load_u32_acquire(self.lane.prod);
        let avail = queued(prod, self.cons)?;
        let n = (avail as usize).min(dst.len());
        for_each_byte(self.cons, n, |ring_off, i| {
            mem.read_bytes(self.lane.data + ring_off, &mut dst[i..=i])
        });
        // n <= RING_SIZE, so it fits a u32.
        self.cons = self.cons.wrapping_add(n as u32);
        // Release: we are done reading those bytes before the producer may reuse them.
        mem.store_u32_release(self.lane.cons, self.cons);
        Ok(n)
    }
}

/// Calls `f(ring_offset, i)` for the `n` bytes from free-running index `idx` on.
///
/// One byte at a time on purpose: the two ends copy different spans (one side's chunk boundary is
/// mid-chunk for the other), and `SharedMem` copies aligned spans in 32-bit words, so span copies
/// would touch the same bytes with atomics of different sizes. Byte accesses keep every access to
/// the lanes the same size (Miri's weak-memory model cannot even represent the mix); xenstore
/// traffic is a few hundred bytes per request, so the cost does not matter.
fn for_each_byte(idx: u32, n: usize, mut f: impl FnMut(usize, usize)) {
    for i in 0..n {
        // i < n <= RING_SIZE, so it fits a u32.
        f((idx.wrapping_add(i as u32) & (RING_SIZE - 1)) as usize, i);
    }
}

/// The guest end of a xenstore ring as bytes only: no framing, no queue, no allocation. For a
/// caller that may not allocate (a crash-dump path taking the ring over from a stopped client,
/// on the indices the page holds); it frames messages itself.
#[derive(Debug)]
pub struct RawGuestRing {
    mem: SharedMem,
    tx: Producer,
    rx: Consumer,
}

impl RawGuestRing {
    /// Attaches to the ring page `mem`, continuing from the indices it holds.
    pub fn new(mem: SharedMem) -> Result<Self, RingError> {
        if mem.len() < size_of::<Page>() {
            return Err(RingError::PageTooSmall(mem.len()));
        }
        let tx = Producer {
            lane: REQ,
            prod: mem.load_u32_acquire(REQ.prod),
        };
        let rx = Consumer {
            lane: RSP,
            cons: mem.load_u32_acquire(RSP.cons),
        };
        Ok(RawGuestRing { mem, tx, rx })
    }

    /// Writes as much of `src` as fits into the request lane; returns how much.
    pub fn write(&mut self, src: &[u8]) -> Result<usize, RingError> {
        self.tx.write(&self.mem, src)
    }

    /// Reads up to `dst.len()` bytes of the response lane; returns how many.
    pub fn read(&mut self, dst: &mut [u8]) -> Result<usize, RingError> {
        self.rx.read(&self.mem, dst)
    }
}

/// What a [`RingLink::poll`] moved; if anything, the caller signals the peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes written into the outgoing lane.
    pub sent: usize,
    /// Bytes taken out of the incoming lane.
    pub received: usize,
}

impl Progress {
    /// Whether the peer must be notified.
    pub fn moved(&self) -> bool {
        self.sent > 0 || self.received > 0
    }
}

/// Which end of the page a link is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Guest,
    Server,
}

/// One end of a xenstore ring page with message framing: outgoing messages are queued and written
/// as the peer makes room (a message may be four times the ring), incoming bytes are reassembled
/// into messages.
#[derive(Debug)]
pub struct RingLink {
    mem: SharedMem,
    side: Side,
    tx: Producer,
    rx: Consumer,
    decoder: Decoder,
    outgoing: VecDeque<u8>,
    inbox: VecDeque<Message>,
    failed: Option<RingError>,
}

impl RingLink {
    /// The guest end: produces requests, consumes responses.
    pub fn guest(mem: SharedMem) -> Result<RingLink, RingError> {
        RingLink::new(mem, Side::Guest)
    }

    /// The server end: consumes requests, produces responses.
    pub fn server(mem: SharedMem) -> Result<RingLink, RingError> {
        RingLink::new(mem, Side::Server)
    }

    fn new(mem: SharedMem, side: Side) -> Result<RingLink, RingError> {
        if mem.len() < size_of::<Page>() {
            return Err(RingError::PageTooSmall(mem.len()));
        }
        let (tx_lane, rx_lane) = match side {
            Side::Guest => (REQ, RSP),
            Side::Server => (RSP, REQ),
        };
        // Indices need not start at zero (xenstore-ring.txt): continue from what the page holds.
        let tx = Producer {
            lane: tx_lane,
            prod: mem.load_u32_acquire(tx_lane.prod),
        };
        let rx = Consumer {
            lane: rx_lane,
            cons: mem.load_u32_acquire(rx_lane.cons),
        };
        Ok(RingLink {
            mem,
            side,
            tx,
            rx,
            decoder: Decoder::new(),
            outgoing: VecDeque::new(),
            inbox: VecDeque::new(),
            failed: None,
        })
    }

    pub fn side(&self) -> Side {
        self.side
    }

    /// Queues a message for sending; [`RingLink::poll`] writes it.
    pub fn enqueue(&mut self, msg: &Message) {
        self.outgoing.extend(msg.header.to_bytes());
        self.outgoing.extend(&msg.payload);
    }

    /// Bytes queued but not yet in the ring.
    pub fn pending_out(&self) -> usize {
        self.outgoing.len()
    }

    /// Moves bytes both ways: writes queued output while there is room, reads what the peer
    /// produced and frames it into messages (fetch them with [`RingLink::next_message`]).
    pub fn poll(&mut self) -> Result<Progress, RingError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let r = self.poll_inner();
        if let Err(e) = r {
            self.failed = Some(e);
        }
        r
    }

    fn poll_inner(&mut self) -> Result<Progress, RingError> {
        if self.side == Side::Guest {
            self.check_server_error()?;
        }
        let mut progress = Progress::default();
        while !self.outgoing.is_empty() {
            let (a, _) = self.outgoing.as_slices();
            let n = self.tx.write(&self.mem, a)?;
            if n == 0 {
                break;
            }
            self.outgoing.drain(..n);
            progress.sent += n;
        }
        let mut buf = [0u8; XENSTORE_RING_SIZE];
        loop {
            let n = self.rx.read(&self.mem, &mut buf)?;
            if n == 0 {
                break;
            }
            progress.received += n;
            let mut input = &buf[..n];
            while let Some(msg) = self.decoder.feed(&mut input).map_err(RingError::Framing)? {
                self.inbox.push_back(msg);
            }
        }
        Ok(progress)
    }

    /// The next complete incoming message, if any.
    pub fn next_message(&mut self) -> Option<Message> {
        self.inbox.pop_front()
    }

    /// The error the link failed with, if it did.
    pub fn failure(&self) -> Option<RingError> {
        self.failed
    }

    /// Guest side: the server has flagged the connection dead (only meaningful when it advertises
    /// `XENSTORE_SERVER_FEATURE_ERROR`).
    fn check_server_error(&self) -> Result<(), RingError> {
        let features = self.mem.load_u32_acquire(offset_of!(Page, server_features));
        if features & XENSTORE_SERVER_FEATURE_ERROR != 0 {
            let error = self.mem.load_u32_acquire(offset_of!(Page, error));
            if error != 0 {
                return Err(RingError::ServerError(error));
            }
        }
        Ok(())
    }

    /// Server side: advertises `XENSTORE_SERVER_FEATURE_*` bits (never cleared, per xenstore-ring.txt).
    pub fn advertise_features(&self, bits: u32) {
        let off = offset_of!(Page, server_features);
        let old = self.mem.load_u32_acquire(off);
        self.mem.store_u32_release(off, old | bits);
    }

    /// The `XENSTORE_SERVER_FEATURE_*` bits the server advertises.
    pub fn server_features(&self) -> u32 {
        self.mem.load_u32_acquire(offset_of!(Page, server_features))
    }

    /// Guest side: asks the server to reset the connection (xenstore-ring.txt, "The ring reconnection
    /// feature"); signal the peer afterwards, then call [`RingLink::reconnect_complete`] on each
    /// kick. Until then the page must not be used.
    pub fn begin_reconnect(&mut self) -> Result<(), RingError> {
        if self.server_features() & XENSTORE_SERVER_FEATURE_RECONNECTION == 0 {
            return Err(RingError::ReconnectUnsupported);
        }
        self.mem
            .store_u32_release(offset_of!(Page, connection), XENSTORE_RECONNECT);
        Ok(())
    }

    /// Guest side: whether the server has finished the reset. If so, the link starts afresh from
    /// the indices the server left (partial messages, queued output and a past failure are dropped:
    /// the connection restarts on a message boundary).
    pub fn reconnect_complete(&mut self) -> bool {
        if self.mem.load_u32_acquire(offset_of!(Page, connection)) != XENSTORE_CONNECTED {
            return false;
        }
        self.restart();
        true
    }

    /// Server side: whether the guest asks for a reset.
    pub fn reconnect_requested(&self) -> bool {
        self.mem.load_u32_acquire(offset_of!(Page, connection)) == XENSTORE_RECONNECT
    }

    /// Server side: performs the reset the guest asked for: empties both lanes, clears the error,
    /// drops partial messages, then reports the connection back up. Signal the guest afterwards;
    /// the owner also drops the connection's watches and transactions.
    pub fn complete_reconnect(&mut self) {
        for off in [REQ.cons, REQ.prod, RSP.cons, RSP.prod] {
            self.mem.store_u32_release(off, 0);
        }
        self.mem
            .store_u32_release(offset_of!(Page, error), XENSTORE_ERROR_NONE);
        self.restart();
        // Last: everything above is visible before the guest sees the connection back.
        self.mem
            .store_u32_release(offset_of!(Page, connection), XENSTORE_CONNECTED);
    }

    /// Forgets all in-progress traffic and continues from the page's current indices.
    fn restart(&mut self) {
        self.tx.prod = self.mem.load_u32_acquire(self.tx.lane.prod);
        self.rx.cons = self.mem.load_u32_acquire(self.rx.lane.cons);
        self.decoder = Decoder::new();
        self.outgoing.clear();
        self.inbox.clear();
        self.failed = None;
    }

    /// Server side: records why the connection is being dropped in the page's `error` field, as
    /// xenstored does before ignoring a misbehaving guest.
    pub fn report_error(&self, e: RingError) {
        let code = match e {
            RingError::Framing(_) => XENSTORE_ERROR_PROTO,
            RingError::BadIndex { .. }
            | RingError::PageTooSmall(_)
            | RingError::ServerError(_)
            | RingError::ReconnectUnsupported => XENSTORE_ERROR_RINGIDX,
        };
        self.mem.store_u32_release(offset_of!(Page, error), code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xs::wire::{MsgType, PAYLOAD_MAX};
    use alloc::vec;
    use alloc::vec::Vec;
    use xenpv_datapath::shmem::SharedPages;

    fn page() -> (SharedPages, SharedMem) {
        let p = SharedPages::new(1).unwrap();
        let m = p.mem();
        (p, m)
    }

    fn msg(t: MsgType, req_id: u32, payload: &[u8]) -> Message {
        Message::new(t, req_id, 0, payload.to_vec()).unwrap()
    }

    /// Runs both ends until neither moves a byte, collecting what each received.
    fn pump(a: &mut RingLink, b: &mut RingLink) -> (Vec<Message>, Vec<Message>) {
        let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
        loop {
            let pa = a.poll().unwrap();
            let pb = b.poll().unwrap();
            got_a.extend(core::iter::from_fn(|| a.next_message()));
            got_b.extend(core::iter::from_fn(|| b.next_message()));
            if !pa.moved() && !pb.moved() {
                return (got_a, got_b);
            }
        }
    }

    #[test]
    fn requests_and_responses_cross_the_page() {
        let (_p, mem) = page();
        let mut guest = RingLink::guest(mem.clone()).unwrap();
        let mut server = RingLink::server(mem).unwrap();
        let req = msg(MsgType::Read, 1, b"/a\0");
        guest.enqueue(&req);
        let (g, s) = pump(&mut guest, &mut server);
        assert!(g.is_empty());
        assert_eq!(s, vec![req]);
        let rsp = msg(MsgType::Read, 1, b"value");
        server.enqueue(&rsp);
        let (g, s) = pump(&mut guest, &mut server);
        assert_eq!(g, vec![rsp]);
        assert!(s.is_empty());
    }

    #[test]
    fn messages_larger_than_the_ring_flow_as_the_peer_consumes() {
        let (_p, mem) = page();
        let mut guest = RingLink::guest(mem.clone()).unwrap();
        let mut server = RingLink::server(mem).unwrap();
        let big = msg(MsgType::Write, 7, &vec![b'x'; PAYLOAD_MAX]);
        guest.enqueue(&big);
        guest.enqueue(&msg(MsgType::Read, 8, b"/b\0"));
        // Alone, the guest can only fill the ring.
        assert_eq!(guest.poll().unwrap().sent, XENSTORE_RING_SIZE);
        assert_eq!(guest.poll().unwrap().sent, 0);
        assert!(guest.pending_out() > 0);
        let (_, s) = pump(&mut guest, &mut server);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0], big);
        assert_eq!(s[1].header.req_id, 8);
        assert_eq!(guest.pending_out(), 0);
    }

    #[test]
    fn indices_wrap_around_u32() {
        let (_p, mem) = page();
        // Start both lanes just below the u32 wrap point (indices need not start at zero).
        let start = u32::MAX - 100;
        for off in [REQ.prod, REQ.cons, RSP.prod, RSP.cons] {
            mem.store_u32_release(off, start);
        }
        let mut guest = RingLink::guest(mem.clone()).unwrap();
        let mut server = RingLink::server(mem.clone()).unwrap();
        let m = msg(MsgType::Write, 1, &[b'q'; 300]);
        guest.enqueue(&m);
        let (_, s) = pump(&mut guest, &mut server);
        assert_eq!(s, vec![m]);
        assert_eq!(mem.load_u32_acquire(REQ.prod), start.wrapping_add(316));
        assert_eq!(mem.load_u32_acquire(REQ.cons), start.wrapping_add(316));
    }

    #[test]
    fn out_of_range_peer_index_fails_the_link_for_good() {
        let (_p, mem) = page();
        let mut guest = RingLink::guest(mem.clone()).unwrap();
        // The server claims 1025 response bytes are queued.
        mem.store_u32_release(RSP.prod, RING_SIZE + 1);
        assert_eq!(
            guest.poll(),
            Err(RingError::BadIndex {
                prod: RING_SIZE + 1,
                cons: 0
            })
        );
        // Even after the index is repaired the link stays down: the stream may be out of sync.
        mem.store_u32_release(RSP.prod, 0);
        assert_eq!(
            guest.poll(),
            Err(RingError::BadIndex {
                prod: RING_SIZE + 1,
                cons: 0
            })
        );
        assert!(guest.failure().is_some());
    }

    #[test]
    fn consumer_index_behind_by_more_than_the_ring_is_rejected() {
        let (_p, mem) = page();
        let mut server = RingLink::server(mem.clone()).unwrap();
        // The guest moves the response consumer index backwards: "used" space would exceed the ring.
        mem.store_u32_release(RSP.cons, 0u32.wrapping_sub(2000));
        server.enqueue(&msg(MsgType::Read, 1, b"x"));
        assert!(matches!(server.poll(), Err(RingError::BadIndex { .. })));
        server.report_error(server.failure().unwrap());
        assert_eq!(
            mem.load_u32_acquire(offset_of!(Page, error)),
            XENSTORE_ERROR_RINGIDX
        );
    }

    #[test]
    fn oversized_payload_on_the_ring_is_a_framing_error() {
        let (_p, mem) = page();
        let mut guest = RingLink::guest(mem.clone()).unwrap();
        let mut server = RingLink::server(mem.clone()).unwrap();
        let mut bad = msg(MsgType::Write, 1, b"").header;
        bad.len = PAYLOAD_MAX as u32 + 1;
        guest.outgoing.extend(bad.to_bytes());
        guest.poll().unwrap();
        let e = server.poll().unwrap_err();
        assert_eq!(
            e,
            RingError::Framing(DecodeError::PayloadTooLong(PAYLOAD_MAX as u32 + 1))
        );
        server.report_error(e);
        server.advertise_features(XENSTORE_SERVER_FEATURE_ERROR);
        assert_eq!(
            guest.poll(),
            Err(RingError::ServerError(XENSTORE_ERROR_PROTO))
        );
    }

    #[test]
    fn error_field_is_ignored_without_the_feature_bit() {
        let (_p, mem) = page();
        let mut guest = RingLink::guest(mem.clone()).unwrap();
        mem.store_u32_release(offset_of!(Page, error), 2);
        assert_eq!(guest.poll(), Ok(Progress::default()));
    }

    #[test]
    fn reconnect_resets_both_ends_on_a_message_boundary() {
        let (_p, mem) = page();
        let mut guest = RingLink::guest(mem.clone()).unwrap();
        let mut server = RingLink::server(mem.clone()).unwrap();
        assert_eq!(
            guest.begin_reconnect(),
            Err(RingError::ReconnectUnsupported)
        );
        server.advertise_features(XENSTORE_SERVER_FEATURE_RECONNECTION);

        // Half a message in each direction, and a guest that has broken the response lane.
        let half = msg(MsgType::Write, 1, &[b'x'; 100]).to_bytes();
        guest.outgoing.extend(&half[..50]);
        guest.poll().unwrap();
        server.poll().unwrap();
        mem.store_u32_release(RSP.prod, 5000);
        assert!(guest.poll().is_err());

        assert!(!server.reconnect_requested());
        guest.begin_reconnect().unwrap();
        assert!(
            !guest.reconnect_complete(),
            "the server has not answered yet"
        );
        assert!(server.reconnect_requested());
        server.complete_reconnect();
        assert!(!server.reconnect_requested());
        assert!(guest.reconnect_complete());
        assert_eq!(guest.failure(), None);

        let m = msg(MsgType::Read, 2, b"/a\0");
        guest.enqueue(&m);
        let (_, s) = pump(&mut guest, &mut server);
        assert_eq!(s, vec![m], "the half message before the reset is gone");
        let r = msg(MsgType::Read, 2, b"v");
        server.enqueue(&r);
        assert_eq!(pump(&mut guest, &mut server).0, vec![r]);
    }

    /// Both ends on their own threads, as with a real peer: the server echoes every request back
    /// (sizes chosen to wrap the lanes at odd offsets). Run under Miri this checks the index and
    /// byte ordering for data races.
    #[test]
    fn concurrent_ends_exchange_messages() {
        let (_p, mem) = page();
        let count: u32 = if cfg!(miri) { 6 } else { 200 };
        let mut server = RingLink::server(mem.clone()).unwrap();
        let echo = std::thread::spawn(move || {
            let mut served = 0;
            while served < count {
                server.poll().unwrap();
                while let Some(m) = server.next_message() {
                    server.enqueue(&m);
                    served += 1;
                }
                std::thread::yield_now();
            }
            while server.pending_out() > 0 {
                server.poll().unwrap();
                std::thread::yield_now();
            }
        });
        let mut guest = RingLink::guest(mem).unwrap();
        let sent: Vec<Message> = (0..count)
            .map(|i| msg(MsgType::Write, i, &vec![i as u8; (i as usize * 397) % 1500]))
            .collect();
        for m in &sent {
            guest.enqueue(m);
        }
        let mut got = Vec::new();
        while got.len() < sent.len() {
            guest.poll().unwrap();
            got.extend(core::iter::from_fn(|| guest.next_message()));
            std::thread::yield_now();
        }
        echo.join().unwrap();
        assert_eq!(got, sent);
    }

    #[test]
    fn too_small_memory_is_refused() {
        let (_p, mem) = page();
        let small = mem.sub(0, 100);
        assert_eq!(
            RingLink::guest(small).unwrap_err(),
            RingError::PageTooSmall(100)
        );
    }
}
