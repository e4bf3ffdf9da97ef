//! One blkif queue: a ring, its shadows, and the OS requests it carries.
//!
//! The ring owner calls [`BlkQueue::service`] whenever the queue's event fires or the upper layer
//! has submitted something; it never waits and never locks. OS requests arrive through an MPSC
//! queue (any CPU may submit), are split into ring requests no larger than the connection allows
//! (contiguous small ones of the same operation are merged into one), and complete through an SPSC
//! queue once every piece is answered.
//!
//! Across a disconnect ([`BlkQueue::disconnect`], for suspend/resume or a backend restart) the
//! pieces in flight go back to the front of the work queue in issue order, and the next
//! connection issues them again, re-split to its own limits; the OS sees neither an error nor a
//! lost or repeated write (each piece is written again whole, with the same data, only if its
//! response never arrived).

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::mem::size_of;

use xenpv_abi::blkif::{
    BlkifRequest, BlkifRequestDiscard, BlkifRequestIndirect, BlkifRequestSegment, BlkifResponse,
    BLKIF_DISCARD_SECURE, BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_OP_DISCARD,
    BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_INDIRECT, BLKIF_OP_READ, BLKIF_OP_WRITE,
    BLKIF_OP_WRITE_BARRIER, BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_OKAY, BLKIF_SECTOR_SIZE,
    BLKIF_SEGS_PER_INDIRECT_FRAME,
};
use xenpv_abi::{DomId, EvtchnPort, GrantRef, PAGE_SIZE};
use zerocopy::{FromZeros, IntoBytes};

use super::grants::{PageSource, Quarantine, Short};
use super::params::{indirect_pages, segments_per_request, Disk, Features, QueueConfig};
use super::request::{BlockOp, BlockRequest, Completion, IoError};
use super::shadow::{Pieces, ResponseError, Shadows, Work};
use crate::platform::{Access, GrantedRegion, Platform, PlatformError};
use crate::queue::{mpsc, spsc, CapacityError};
use crate::ring::{FrontRing, RingError, SharedRing};

/// Largest ring the frontend builds: 16 pages (Linux's XENBUS_MAX_RING_GRANT_ORDER).
pub const MAX_RING_ORDER: u32 = 4;

/// The backend broke the protocol; the queue stops using the ring until it is disconnected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// A bad `rsp_prod`.
    Ring(RingError),
    /// A response that belongs to no request in flight.
    Response(ResponseError),
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Ring(e) => write!(f, "ring: {e}"),
            QueueError::Response(e) => write!(f, "response: {e}"),
        }
    }
}

/// Why a queue could not be set up or connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupError {
    /// The home refused memory, grants or a port.
    Platform(PlatformError),
    /// Ring order above [`MAX_RING_ORDER`].
    RingOrder(u32),
    /// Bad queue capacity in the configuration.
    Capacity(CapacityError),
    /// The persistent pool cannot hold even one direct request.
    PoolTooSmall(usize),
    /// `connect` on a connected queue.
    AlreadyConnected,
    /// `start` on a queue without a ring.
    NotConnected,
    /// `start` on a queue already started.
    AlreadyStarted,
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Platform(e) => write!(f, "platform: {e}"),
            SetupError::RingOrder(o) => write!(f, "ring order {o} above {MAX_RING_ORDER}"),
            SetupError::Capacity(e) => write!(f, "{e}"),
            SetupError::PoolTooSmall(p) => write!(f, "a pool of {p} pages is too small"),
            SetupError::AlreadyConnected => f.write_str("the queue is already connected"),
            SetupError::NotConnected => f.write_str("the queue has no ring to start"),
            SetupError::AlreadyStarted => f.write_str("the queue is already started"),
        }
    }
}

impl From<PlatformError> for SetupError {
    fn from(e: PlatformError) -> Self {
        SetupError::Platform(e)
    }
}

/// What the control plane publishes for one queue (`ring-ref`/`ring-refN`, `event-channel`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingInfo {
    pub grefs: Vec<GrantRef>,
    pub port: EvtchnPort,
    pub order: u32,
}

/// Counters of one queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// OS requests completed.
    pub completed: u64,
    /// Ring requests pushed (replays included).
    pub ring_requests: u64,
    /// Of those, indirect ones.
    pub indirect_requests: u64,
    /// Ring requests pushed again on a new connection.
    pub replayed: u64,
    /// OS requests that rode in another's ring request (contiguous, same operation).
    pub merged: u64,
}

/// The upper layer's end of a queue.
pub struct QueueHandle<B> {
    submit: mpsc::Producer<BlockRequest<B>>,
    completions: spsc::Consumer<Completion<B>>,
}

impl<B> QueueHandle<B> {
    /// Hands a request to the queue; it is taken by the next [`BlkQueue::service`]. A full queue
    /// gives it back.
    pub fn submit(&self, req: BlockRequest<B>) -> Result<(), BlockRequest<B>> {
        self.submit.try_push(req)
    }

    /// Another submitting handle, for another CPU.
    pub fn submitter(&self) -> mpsc::Producer<BlockRequest<B>> {
        self.submit.clone()
    }

    /// The next finished request, if any.
    pub fn completion(&mut self) -> Option<Completion<B>> {
        self.completions.pop()
    }
}

struct Parent<B> {
    req: Option<BlockRequest<B>>,
    /// Work items of this request not yet (fully) issued.
    queued: u32,
    /// Ring requests of it in flight.
    in_flight: u32,
    result: Result<(), IoError>,
    /// A cache flush must follow once the data is written (FUA without barriers).
    flush_after: bool,
}

/// The live connection to a backend.
struct Conn {
    ring: FrontRing<BlkifRequest, BlkifResponse, SharedRing>,
    ring_region: GrantedRegion,
    port: EvtchnPort,
    pages: PageSource,
    features: Features,
    /// Data segments per ring request.
    segments: u32,
    /// [`BlkQueue::start`] chose the features and page source: requests may be issued.
    started: bool,
}

/// Everything that outlives a connection.
struct Requests<B> {
    parents: Vec<Parent<B>>,
    free_parents: Vec<u32>,
    work: VecDeque<Work>,
    shadows: Shadows,
    completions: spsc::Producer<Completion<B>>,
    stats: QueueStats,
}

/// One queue of a block frontend.
pub struct BlkQueue<P, B> {
    platform: Arc<P>,
    disk: Arc<Disk>,
    handle: u16,
    config: QueueConfig,
    submissions: mpsc::Consumer<BlockRequest<B>>,
    reqs: Requests<B>,
    conn: Option<Conn>,
    quarantine: Quarantine,
    broken: Option<QueueError>,
    scratch: Vec<u32>,
}

impl<P: Platform, B: AsRef<[u8]> + AsMut<[u8]>> BlkQueue<P, B> {
    /// A disconnected queue for the disk with virtual-device `handle`, and the upper layer's handle.
    pub fn new(
        platform: Arc<P>,
        disk: Arc<Disk>,
        handle: u16,
        config: QueueConfig,
    ) -> Result<(Self, QueueHandle<B>), SetupError> {
        let (submit, submissions) =
            mpsc::channel(config.max_requests).map_err(SetupError::Capacity)?;
        let (completions, completions_rx) =
            spsc::channel(config.max_requests).map_err(SetupError::Capacity)?;
        let parents = (0..config.max_requests)
            .map(|_| Parent {
                req: None,
                queued: 0,
                in_flight: 0,
                result: Ok(()),
                flush_after: false,
            })
            .collect();
        let queue = Self {
            platform,
            disk,
            handle,
            config,
            submissions,
            reqs: Requests {
                parents,
                free_parents: (0..config.max_requests as u32).rev().collect(),
                work: VecDeque::with_capacity(config.max_requests),
                shadows: Shadows::default(),
                completions,
                stats: QueueStats::default(),
            },
            conn: None,
            quarantine: Quarantine::default(),
            broken: None,
            scratch: Vec::new(),
        };
        Ok((
            queue,
            QueueHandle {
                submit,
                completions: completions_rx,
            },
        ))
    }

    /// Builds a ring of `2^ring_order` pages, its event channel and (with persistent grants) the
    /// page pool, for `backend` with the negotiated `features`: [`connect_ring`](Self::connect_ring)
    /// and [`start`](Self::start) at once, for a caller that knows the features at setup.
    pub fn connect(
        &mut self,
        backend: DomId,
        ring_order: u32,
        features: Features,
    ) -> Result<RingInfo, SetupError> {
        let info = self.connect_ring(backend, ring_order)?;
        if let Err(e) = self.start(features) {
            self.disconnect();
            return Err(e);
        }
        Ok(info)
    }

    /// Builds a ring of `2^ring_order` pages and its event channel for `backend`. Nothing is issued
    /// until [`start`](Self::start): as with Linux blkfront, whether data pages are persistent is
    /// only known once the backend is connected (blkback publishes `feature-persistent` then).
    pub fn connect_ring(
        &mut self,
        backend: DomId,
        ring_order: u32,
    ) -> Result<RingInfo, SetupError> {
        if self.conn.is_some() {
            return Err(SetupError::AlreadyConnected);
        }
        if ring_order > MAX_RING_ORDER {
            return Err(SetupError::RingOrder(ring_order));
        }
        let platform = &*self.platform;
        let ring_region = platform.grant_region(backend, 1 << ring_order, Access::ReadWrite)?;
        let port = match platform.alloc_unbound(backend) {
            Ok(p) => p,
            Err(e) => {
                self.quarantine.end(platform, ring_region);
                return Err(e.into());
            }
        };
        let shared = SharedRing::new::<BlkifRequest, BlkifResponse>(ring_region.mem().clone())
            .expect("a page holds a blkif ring");
        let ring = FrontRing::init(shared);
        let info = RingInfo {
            grefs: ring_region.grefs().to_vec(),
            port,
            order: ring_order,
        };
        self.conn = Some(Conn {
            ring,
            ring_region,
            port,
            pages: PageSource::per_request(backend),
            features: Features::default(),
            segments: 0,
            started: false,
        });
        self.broken = None;
        Ok(info)
    }

    /// Starts I/O on the ring [`connect_ring`](Self::connect_ring) built, with the `features` both
    /// sides agreed on: grants the persistent pool if they include persistent grants, and issues
    /// the requests left from an earlier connection on the next [`service`](Self::service).
    pub fn start(&mut self, features: Features) -> Result<(), SetupError> {
        let Some(conn) = &mut self.conn else {
            return Err(SetupError::NotConnected);
        };
        if conn.started {
            return Err(SetupError::AlreadyStarted);
        }
        let platform = &*self.platform;
        let backend = conn.pages.backend();
        let mut segments = segments_per_request(&features, &self.config);
        if features.persistent {
            let pool = self.config.pool_pages;
            if pool < BLKIF_MAX_SEGMENTS_PER_REQUEST {
                return Err(SetupError::PoolTooSmall(pool));
            }
            // A request must fit in the pool with its indirect pages.
            while segments as usize + indirect_pages(segments) as usize > pool {
                segments -= 1;
            }
            conn.pages = PageSource::persistent(platform, backend, pool)?;
        }
        let slots = conn.ring.size() as usize;
        let per_request = segments as usize + indirect_pages(segments) as usize;
        self.reqs.shadows.resize(
            slots,
            if conn.pages.is_persistent() {
                per_request
            } else {
                0
            },
        );
        self.reqs.work.reserve(self.config.max_requests + slots);
        self.scratch.reserve(slots);
        conn.features = features;
        conn.segments = segments;
        conn.started = true;
        Ok(())
    }

    /// Leaves the backend: the ring requests in flight go back to the front of the work queue (in
    /// issue order) for the next connection, and the ring, the pool and the event channel are
    /// given up. Grants the backend still maps are quarantined, never reused.
    pub fn disconnect(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let platform = &*self.platform;
        let reqs = &mut self.reqs;
        reqs.shadows.in_flight_by_age(&mut self.scratch);
        for &index in self.scratch.iter().rev() {
            let shadow = reqs.shadows.slot_mut(index);
            let pieces = shadow.pieces.clone();
            conn.pages
                .give_back(platform, &mut self.quarantine, &mut shadow.pages);
            reqs.shadows.finish(index);
            for &work in pieces.iter().rev() {
                let parent = &mut reqs.parents[work.parent() as usize];
                parent.in_flight -= 1;
                parent.queued += 1;
                reqs.work.push_front(work);
            }
            reqs.stats.replayed += 1;
        }
        platform.close(conn.port);
        drop(conn.ring);
        self.quarantine.end(platform, conn.ring_region);
        conn.pages.end(platform, &mut self.quarantine);
        self.broken = None;
    }

    /// Completes every unfinished request with `error` (the device is gone for good), including
    /// submissions not taken yet, as far as the completion queue has room: returns how many
    /// submissions are still waiting (call again after collecting completions).
    pub fn fail_all(&mut self, error: IoError) -> usize {
        self.disconnect();
        loop {
            self.accept_submissions();
            let reqs = &mut self.reqs;
            reqs.work.clear();
            let mut failed = 0;
            for index in 0..reqs.parents.len() as u32 {
                let p = &mut reqs.parents[index as usize];
                if p.req.is_some() {
                    p.queued = 0;
                    p.flush_after = false;
                    p.result = Err(error);
                    reqs.complete(index);
                    failed += 1;
                }
            }
            if failed == 0 {
                return self.submissions.len();
            }
        }
    }

    /// Processes responses, takes new submissions and issues what fits on the ring. Returns the
    /// backend's protocol error, if it made one; the queue then does nothing more until it is
    /// disconnected (and possibly connected again).
    pub fn service(&mut self) -> Result<(), QueueError> {
        if let Some(e) = self.broken {
            return Err(e);
        }
        let platform = self.platform.clone();
        let platform = &*platform;
        self.quarantine.retry(platform);
        if let Some(conn) = &self.conn {
            platform.unmask(conn.port);
        }
        loop {
            if let Err(e) = self.process_responses() {
                self.broken = Some(e);
                return Err(e);
            }
            self.accept_submissions();
            let Some(conn) = &mut self.conn else {
                return Ok(());
            };
            if self.reqs.issue(platform, conn, self.handle) {
                platform.notify(conn.port);
            }
            match conn.ring.final_check_for_responses() {
                Ok(true) => continue,
                Ok(false) => return Ok(()),
                Err(e) => {
                    let e = QueueError::Ring(e);
                    self.broken = Some(e);
                    return Err(e);
                }
            }
        }
    }

    fn process_responses(&mut self) -> Result<(), QueueError> {
        let Some(conn) = &mut self.conn else {
            return Ok(());
        };
        let platform = &*self.platform;
        let Conn {
            ring,
            pages,
            features,
            ..
        } = conn;
        let responses = ring.poll_responses().map_err(QueueError::Ring)?;
        for rsp in responses {
            let reqs = &mut self.reqs;
            let index = reqs
                .shadows
                .lookup(rsp.id, rsp.operation)
                .map_err(QueueError::Response)?;
            let shadow = reqs.shadows.slot_mut(index);
            let pieces = shadow.pieces.clone();
            let result = match rsp.status {
                BLKIF_RSP_OKAY => Ok(()),
                BLKIF_RSP_EOPNOTSUPP => {
                    // As Linux: the backend withdrew the feature; later requests avoid it.
                    match shadow.op {
                        BLKIF_OP_WRITE_BARRIER => features.barrier = false,
                        BLKIF_OP_FLUSH_DISKCACHE => features.flush = false,
                        BLKIF_OP_DISCARD => features.discard = None,
                        _ => {}
                    }
                    Err(IoError::NotSupported)
                }
                // BLKIF_RSP_ERROR, and any status blkif does not define.
                _ => Err(IoError::Io),
            };
            if result.is_ok() && shadow.op == BLKIF_OP_READ {
                // Each piece starts on a fresh page, in order.
                let mut page = 0;
                for work in &pieces {
                    let Work::Data {
                        parent, off, end, ..
                    } = *work
                    else {
                        continue;
                    };
                    let request = reqs.parents[parent as usize].req.as_mut();
                    let buf = request.expect("in-flight parent").buf.as_mut();
                    for chunk in buf[off as usize..end as usize].chunks_mut(PAGE_SIZE) {
                        let (_, mem, at) = pages.page(&shadow.pages, page);
                        mem.read_bytes(at, chunk);
                        page += 1;
                    }
                }
            }
            pages.give_back(platform, &mut self.quarantine, &mut shadow.pages);
            reqs.shadows.finish(index);
            for work in &pieces {
                let parent = &mut reqs.parents[work.parent() as usize];
                parent.in_flight -= 1;
                if parent.result.is_ok() {
                    parent.result = result;
                }
                reqs.maybe_complete(work.parent());
            }
        }
        Ok(())
    }

    /// Takes submissions while a completion slot is sure to be free for each.
    fn accept_submissions(&mut self) {
        let reqs = &mut self.reqs;
        loop {
            let active = reqs.parents.len() - reqs.free_parents.len();
            if reqs.free_parents.is_empty() || active >= reqs.completions.free_slots() {
                return;
            }
            let Some(req) = self.submissions.pop() else {
                return;
            };
            let index = reqs.free_parents.pop().expect("checked above");
            let check = validate(&self.disk, &req);
            let parent = &mut reqs.parents[index as usize];
            let work = match req.op {
                BlockOp::Read | BlockOp::Write | BlockOp::WriteFua => Work::Data {
                    parent: index,
                    op: match req.op {
                        BlockOp::Read => BLKIF_OP_READ,
                        BlockOp::Write => BLKIF_OP_WRITE,
                        _ => BLKIF_OP_WRITE_BARRIER,
                    },
                    off: 0,
                    end: req.buf.as_ref().len() as u64,
                },
                BlockOp::Flush => Work::Flush {
                    parent: index,
                    op: BLKIF_OP_FLUSH_DISKCACHE,
                },
                BlockOp::Discard { sectors, secure } => Work::Discard {
                    parent: index,
                    sector: req.sector,
                    sectors,
                    secure,
                },
            };
            parent.req = Some(req);
            parent.result = check;
            parent.flush_after = false;
            if check.is_ok() && !matches!(work, Work::Discard { sectors: 0, .. }) {
                parent.queued = 1;
                reqs.work.push_back(work);
            }
            reqs.maybe_complete(index);
        }
    }

    /// The disk this queue serves.
    pub fn disk(&self) -> &Arc<Disk> {
        &self.disk
    }

    /// The backend described the disk (on connect): later requests are checked against it.
    pub fn set_disk(&mut self, disk: Arc<Disk>) {
        self.disk = disk;
    }

    /// The connection's features (`None` while disconnected or not started). They can lose members when the
    /// backend answers EOPNOTSUPP.
    pub fn features(&self) -> Option<Features> {
        self.conn.as_ref().filter(|c| c.started).map(|c| c.features)
    }

    /// Data segments per ring request on this connection.
    pub fn segments_per_request(&self) -> Option<u32> {
        self.conn.as_ref().filter(|c| c.started).map(|c| c.segments)
    }

    /// The connection's event channel.
    pub fn port(&self) -> Option<EvtchnPort> {
        self.conn.as_ref().map(|c| c.port)
    }

    /// OS requests held (in flight, waiting, or finished but not collected).
    pub fn active(&self) -> usize {
        self.reqs.parents.len() - self.reqs.free_parents.len()
    }

    /// Ring requests in flight.
    pub fn in_flight(&self) -> usize {
        self.reqs.shadows.in_flight()
    }

    /// Regions whose grants the backend still holds after we ended them.
    pub fn quarantined(&self) -> usize {
        self.quarantine.len()
    }

    /// The protocol error that stopped the queue, if any.
    pub fn broken(&self) -> Option<QueueError> {
        self.broken
    }

    pub fn stats(&self) -> QueueStats {
        self.reqs.stats
    }
}

/// The checks that need no backend: alignment, range, read-only.
fn validate<B: AsRef<[u8]>>(disk: &Disk, req: &BlockRequest<B>) -> Result<(), IoError> {
    let sector_bytes = u64::from(disk.sector_size);
    let per_block = sector_bytes / BLKIF_SECTOR_SIZE as u64;
    let aligned = |sector: u64, bytes: u64| {
        sector.is_multiple_of(per_block) && bytes.is_multiple_of(sector_bytes)
    };
    let in_range = |sector: u64, sectors: u64| {
        sector
            .checked_add(sectors)
            .is_some_and(|end| end <= disk.sectors())
    };
    let len = req.buf.as_ref().len() as u64;
    match req.op {
        BlockOp::Read | BlockOp::Write | BlockOp::WriteFua => {
            if len == 0 || !aligned(req.sector, len) {
                return Err(IoError::Misaligned);
            }
            if req.op != BlockOp::Read && disk.read_only {
                return Err(IoError::ReadOnly);
            }
            if !in_range(req.sector, len / BLKIF_SECTOR_SIZE as u64) {
                return Err(IoError::OutOfRange);
            }
        }
        BlockOp::Flush => {}
        BlockOp::Discard { sectors, .. } => {
            if disk.read_only {
                return Err(IoError::ReadOnly);
            }
            let bytes = sectors.checked_mul(BLKIF_SECTOR_SIZE as u64);
            if !bytes.is_some_and(|b| aligned(req.sector, b)) {
                return Err(IoError::Misaligned);
            }
            if !in_range(req.sector, sectors) {
                return Err(IoError::OutOfRange);
            }
        }
    }
    Ok(())
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Requests<B> {
    /// Completes the parent once nothing of it is queued or in flight.
    fn maybe_complete(&mut self, index: u32) {
        let p = &mut self.parents[index as usize];
        if p.queued != 0 || p.in_flight != 0 {
            return;
        }
        if p.flush_after && p.result.is_ok() {
            p.flush_after = false;
            p.queued = 1;
            self.work.push_back(Work::Flush {
                parent: index,
                op: BLKIF_OP_FLUSH_DISKCACHE,
            });
            return;
        }
        self.complete(index);
    }

    fn complete(&mut self, index: u32) {
        let p = &mut self.parents[index as usize];
        let req = p.req.take().expect("completing an active parent");
        let done = Completion {
            tag: req.tag,
            buf: req.buf,
            result: p.result,
        };
        // Submissions are accepted only while a completion slot is free for each active parent.
        if self.completions.push(done).is_err() {
            unreachable!("completion queue sized for every active request");
        }
        self.stats.completed += 1;
        self.free_parents.push(index);
    }

    /// Ends the head work item without issuing it (nothing to send, or it cannot be sent).
    fn skip_head(&mut self, result: Result<(), IoError>) {
        let work = self.work.pop_front().expect("a head item");
        let p = &mut self.parents[work.parent() as usize];
        p.queued -= 1;
        if p.result.is_ok() {
            p.result = result;
        }
        self.maybe_complete(work.parent());
    }

    /// Pushes ring requests while the ring, the shadows and the pages allow; returns whether the
    /// backend must be notified.
    fn issue<P: Platform>(&mut self, platform: &P, conn: &mut Conn, handle: u16) -> bool {
        if !conn.started {
            return false;
        }
        while !self.work.is_empty() && conn.ring.free_requests() > 0 {
            let Some(index) = self.shadows.peek_free() else {
                break;
            };
            match self.issue_head(platform, conn, handle, index) {
                Head::Issued(req) => {
                    conn.ring.push(&req).expect("a free slot was checked");
                    self.stats.ring_requests += 1;
                }
                Head::Skipped => {}
                Head::Stop => break,
            }
        }
        conn.ring.publish()
    }

    /// Starts shadow `index` carrying `pieces`; each piece's request has one more in flight.
    fn launch(&mut self, index: u32, pieces: Pieces, op: u8, segments: u32) -> u64 {
        for work in &pieces {
            self.parents[work.parent() as usize].in_flight += 1;
        }
        self.shadows.start(index, pieces, op, segments)
    }

    /// The disk sector at byte `off` of a request.
    fn sector_of(&self, parent: u32, off: u64) -> u64 {
        let req = self.parents[parent as usize].req.as_ref();
        req.expect("queued parent").sector + off / BLKIF_SECTOR_SIZE as u64
    }

    /// Turns the head work item into a ring request (or ends it when there is nothing to send).
    fn issue_head<P: Platform>(
        &mut self,
        platform: &P,
        conn: &mut Conn,
        handle: u16,
        index: u32,
    ) -> Head {
        let work = *self.work.front().expect("a head item");
        let features = conn.features;
        let mut req = BlkifRequest::new_zeroed();
        match work {
            Work::Flush { parent, .. } => {
                // Whatever was asked, use what this backend offers now.
                let op = if features.flush {
                    BLKIF_OP_FLUSH_DISKCACHE
                } else if features.barrier {
                    BLKIF_OP_WRITE_BARRIER
                } else {
                    // No volatile cache is exposed: completed writes are already durable.
                    self.skip_head(Ok(()));
                    return Head::Skipped;
                };
                self.work.pop_front();
                self.parents[parent as usize].queued -= 1;
                req.operation = op;
                req.handle = handle;
                req.id = self.launch(index, one(Work::Flush { parent, op }), op, 0);
            }
            Work::Discard {
                parent,
                sector,
                sectors,
                secure,
            } => {
                if !features.discard.is_some_and(|d| !secure || d.secure) {
                    self.skip_head(Err(IoError::NotSupported));
                    return Head::Skipped;
                }
                self.work.pop_front();
                self.parents[parent as usize].queued -= 1;
                let mut d = BlkifRequestDiscard::new_zeroed();
                d.operation = BLKIF_OP_DISCARD;
                d.flag = if secure { BLKIF_DISCARD_SECURE } else { 0 };
                d.handle = handle;
                d.id = self.launch(index, one(work), BLKIF_OP_DISCARD, 0);
                d.sector_number = sector;
                d.nr_sectors = sectors;
                req.as_mut_bytes()[..size_of::<BlkifRequestDiscard>()]
                    .copy_from_slice(d.as_bytes());
            }
            Work::Data {
                parent,
                op,
                off,
                end,
            } => return self.issue_data(platform, conn, handle, index, parent, op, off, end),
        }
        Head::Issued(req)
    }

    /// A read or write: the head item (or as much of it as one request carries), merged with
    /// whole contiguous items of the same operation behind it while they fit.
    #[allow(clippy::too_many_arguments)]
    fn issue_data<P: Platform>(
        &mut self,
        platform: &P,
        conn: &mut Conn,
        handle: u16,
        index: u32,
        parent: u32,
        op: u8,
        off: u64,
        end: u64,
    ) -> Head {
        let features = conn.features;
        let op = match op {
            BLKIF_OP_WRITE_BARRIER if !features.barrier => {
                // FUA without barriers: plain writes, then a flush if there is a cache.
                self.parents[parent as usize].flush_after = features.flush;
                BLKIF_OP_WRITE
            }
            op => op,
        };
        // Barriers cannot be indirect (blkback accepts only reads and writes there).
        let max_segments = if op == BLKIF_OP_WRITE_BARRIER {
            BLKIF_MAX_SEGMENTS_PER_REQUEST as u32
        } else {
            conn.segments
        };
        let len = (end - off).min(u64::from(max_segments) * PAGE_SIZE as u64);
        let mut segments = pages_for(len);
        let mut pieces = one(Work::Data {
            parent,
            op,
            off,
            end: off + len,
        });
        if off + len == end && (op == BLKIF_OP_READ || op == BLKIF_OP_WRITE) {
            let mut next = self.sector_of(parent, end);
            for item in self.work.iter().skip(1) {
                let &Work::Data {
                    parent: p2,
                    op: o2,
                    off: f2,
                    end: e2,
                } = item
                else {
                    break;
                };
                let more = pages_for(e2 - f2);
                if pieces.is_full()
                    || o2 != op
                    || self.sector_of(p2, f2) != next
                    || segments + more > max_segments
                {
                    break;
                }
                pieces.push(*item);
                segments += more;
                next = self.sector_of(p2, e2);
            }
        }
        let indirect = indirect_pages(segments);
        let slot = &mut self.shadows.slot_mut(index).pages;
        let writable = op == BLKIF_OP_READ;
        match conn
            .pages
            .take(platform, slot, (segments + indirect) as usize, writable)
        {
            Ok(()) => {}
            Err(Short::Wait) => return Head::Stop,
            // Grants come back with the responses; try again then.
            Err(Short::Platform(_)) if self.shadows.in_flight() > 0 => return Head::Stop,
            Err(Short::Platform(_)) => {
                self.skip_head(Err(IoError::NoResources));
                return Head::Skipped;
            }
        }
        // The items are taken off the queue: the first maybe only in part, the merged ones whole.
        for (n, piece) in pieces.iter().enumerate() {
            if n == 0 && off + len < end {
                if let Some(Work::Data { off: head, .. }) = self.work.front_mut() {
                    *head = off + len;
                }
                continue;
            }
            self.work.pop_front();
            self.parents[piece.parent() as usize].queued -= 1;
        }
        let id = self.launch(index, pieces.clone(), op, segments);
        let shadow = self.shadows.slot(index);
        let mut segs = [BlkifRequestSegment::new_zeroed(); BLKIF_MAX_SEGMENTS_PER_REQUEST];
        let mut page = 0;
        for piece in &pieces {
            let Work::Data {
                parent, off, end, ..
            } = *piece
            else {
                unreachable!("only data pieces are merged");
            };
            let request = self.parents[parent as usize].req.as_ref();
            let data = &request.expect("queued parent").buf.as_ref()[off as usize..end as usize];
            for chunk in data.chunks(PAGE_SIZE) {
                let (gref, mem, at) = conn.pages.page(&shadow.pages, page);
                if op != BLKIF_OP_READ {
                    mem.write_bytes(at, chunk);
                }
                let seg = BlkifRequestSegment {
                    gref,
                    first_sect: 0,
                    last_sect: (chunk.len() / BLKIF_SECTOR_SIZE - 1) as u8,
                    pad: 0,
                };
                if indirect == 0 {
                    segs[page] = seg;
                } else {
                    let frame = segments as usize + page / BLKIF_SEGS_PER_INDIRECT_FRAME;
                    let (_, imem, iat) = conn.pages.page(&shadow.pages, frame);
                    let at =
                        page % BLKIF_SEGS_PER_INDIRECT_FRAME * size_of::<BlkifRequestSegment>();
                    imem.write(iat + at, &seg);
                }
                page += 1;
            }
        }
        let sector = self.sector_of(parent, off);
        let mut req = BlkifRequest::new_zeroed();
        if indirect == 0 {
            req.operation = op;
            req.nr_segments = segments as u8;
            req.handle = handle;
            req.id = id;
            req.sector_number = sector;
            req.seg = segs;
        } else {
            let mut ind = BlkifRequestIndirect::new_zeroed();
            ind.operation = BLKIF_OP_INDIRECT;
            ind.indirect_op = op;
            ind.nr_segments = segments as u16;
            ind.id = id;
            ind.sector_number = sector;
            ind.handle = handle;
            for (j, gref) in ind.indirect_grefs[..indirect as usize]
                .iter_mut()
                .enumerate()
            {
                *gref = conn.pages.page(&shadow.pages, segments as usize + j).0;
            }
            req.as_mut_bytes()[..size_of::<BlkifRequestIndirect>()].copy_from_slice(ind.as_bytes());
            self.stats.indirect_requests += 1;
        }
        if pieces.len() > 1 {
            self.stats.merged += pieces.len() as u64 - 1;
        }
        Head::Issued(req)
    }
}

/// What became of the head work item.
enum Head {
    /// This ring request carries it.
    Issued(BlkifRequest),
    /// It ended without a ring request.
    Skipped,
    /// It must wait (for pages or grants to come back).
    Stop,
}

/// Pieces holding just `work`.
fn one(work: Work) -> Pieces {
    let mut p = Pieces::new();
    p.push(work);
    p
}

/// Pages (segments) for `bytes` of data.
fn pages_for(bytes: u64) -> u32 {
    bytes.div_ceil(PAGE_SIZE as u64) as u32
}
