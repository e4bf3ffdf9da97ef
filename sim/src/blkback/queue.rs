//! One ring of the backend: takes requests, validates them as blkback does, does the I/O.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use xenpv_abi::blkif::{
    BlkifRequest, BlkifRequestDiscard, BlkifRequestIndirect, BlkifRequestSegment, BlkifResponse,
    BLKIF_DISCARD_SECURE, BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_OP_DISCARD,
    BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_INDIRECT, BLKIF_OP_READ, BLKIF_OP_WRITE,
    BLKIF_OP_WRITE_BARRIER, BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_ERROR, BLKIF_RSP_OKAY,
    BLKIF_SECTOR_SIZE, BLKIF_SEGS_PER_INDIRECT_FRAME,
};
use xenpv_abi::{EvtchnPort, GrantRef, PAGE_SIZE};
use xenpv_datapath::ring::{BackRing, RingError};
use xenpv_datapath::shmem::SharedMem;
use zerocopy::{FromBytes, FromZeros, IntoBytes};

use super::{BackendConfig, ConnectError, MappedRing, SharedStorage, Storage};
use crate::host::{Host, Mapping, Signal};

const SECTORS_PER_PAGE: u8 = (PAGE_SIZE / BLKIF_SECTOR_SIZE) as u8;

/// The frontend broke the ring protocol; blkback stops processing the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackError {
    Ring(RingError),
}

impl fmt::Display for BackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackError::Ring(e) => write!(f, "frontend ring: {e}"),
        }
    }
}

/// What one ring did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackStats {
    /// Requests answered.
    pub requests: u64,
    /// Answered BLKIF_RSP_ERROR.
    pub errors: u64,
    /// Answered BLKIF_RSP_EOPNOTSUPP.
    pub unsupported: u64,
    /// Indirect requests among them.
    pub indirect: u64,
    /// Page uses served by a persistent mapping already held.
    pub persistent_hits: u64,
    pub sectors_read: u64,
    pub sectors_written: u64,
    pub flushes: u64,
    pub discards: u64,
}

/// A page a request uses: a persistent mapping (by its reference) or one made for this request.
#[derive(Clone, Copy)]
enum Page {
    Persistent(GrantRef),
    Transient(usize),
}

/// The request was refused with this status.
type Status = i16;

/// Requests between two purges of unused persistent mappings: the sim's stand-in for blkback's
/// 100 ms LRU interval, counted in requests so that runs are reproducible.
pub const PURGE_INTERVAL: u64 = 100;

/// A persistent mapping and whether a request used it since the last purge.
struct Kept {
    map: Mapping,
    used: bool,
}

/// One ring of the backend.
pub struct BackQueue {
    host: Arc<Host>,
    config: Arc<BackendConfig>,
    storage: SharedStorage,
    ring: BackRing<BlkifRequest, BlkifResponse, MappedRing>,
    port: EvtchnPort,
    signal: Arc<Signal>,
    /// Persistent mappings by reference, when negotiated.
    persistent: Option<HashMap<GrantRef, Kept>>,
    /// A page could not be kept for lack of budget since the last purge.
    overflow: bool,
    /// Requests until the next purge.
    until_purge: u64,
    /// Mappings made for the request being served; dropped (unmapped) when it is answered.
    transient: Vec<Mapping>,
    batch: Vec<BlkifRequest>,
    segs: Vec<BlkifRequestSegment>,
    pages: Vec<Page>,
    data: Vec<u8>,
    stats: BackStats,
    broken: Option<BackError>,
}

impl BackQueue {
    pub(super) fn connect(
        host: &Arc<Host>,
        config: Arc<BackendConfig>,
        storage: SharedStorage,
        refs: &[GrantRef],
        front_port: EvtchnPort,
        persistent: bool,
    ) -> Result<Self, ConnectError> {
        let (be, fe) = (config.backend_dom, config.front_dom);
        let pages = refs
            .iter()
            .map(|&g| {
                host.map(be, fe, g, true)
                    .map_err(|e| ConnectError::Map(g, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ring = MappedRing::new::<BlkifRequest, BlkifResponse>(pages);
        let port = host
            .evtchn
            .bind_interdomain(be, fe, front_port)
            .map_err(|e| ConnectError::Evtchn(front_port, e))?;
        let signal = host.evtchn.signal(be, port).expect("just bound");
        let ring = BackRing::attach(ring);
        let max_segments =
            (config.max_indirect_segments as usize).max(BLKIF_MAX_SEGMENTS_PER_REQUEST);
        let slots = ring.size() as usize;
        Ok(Self {
            host: host.clone(),
            storage,
            ring,
            port,
            signal,
            persistent: persistent.then(|| HashMap::with_capacity(config.max_pgrants)),
            overflow: false,
            until_purge: PURGE_INTERVAL,
            transient: Vec::with_capacity(max_segments + 8),
            batch: Vec::with_capacity(slots),
            segs: Vec::with_capacity(max_segments),
            pages: Vec::with_capacity(max_segments),
            data: vec![0; max_segments * PAGE_SIZE],
            stats: BackStats::default(),
            broken: None,
            config,
        })
    }

    /// Answers every request on the ring, then re-arms the event and checks once more, as
    /// blkback's kthread does. Returns how many requests were answered.
    pub fn service(&mut self) -> Result<usize, BackError> {
        if let Some(e) = self.broken {
            return Err(e);
        }
        let _ = self.host.evtchn.unmask(self.config.backend_dom, self.port);
        let mut answered = 0;
        loop {
            let mut batch = std::mem::take(&mut self.batch);
            batch.clear();
            let polled = self.ring.poll_requests().map(|reqs| batch.extend(reqs));
            if let Err(e) = polled {
                self.batch = batch;
                return Err(self.halt(e));
            }
            for req in &batch {
                let rsp = self.handle(req);
                self.ring
                    .push(&rsp)
                    .expect("one response per consumed request");
                self.until_purge -= 1;
                if self.until_purge == 0 {
                    self.until_purge = PURGE_INTERVAL;
                    self.purge();
                }
            }
            answered += batch.len();
            self.batch = batch;
            if self.ring.publish() {
                let _ = self.host.evtchn.send(self.config.backend_dom, self.port);
            }
            match self.ring.final_check_for_requests() {
                Ok(true) => continue,
                Ok(false) => return Ok(answered),
                Err(e) => return Err(self.halt(e)),
            }
        }
    }

    /// blkback's `purge_persistent_gnt`: when pages had to be mapped per request for lack of
    /// budget, unmap up to 5% of the budget (at least one) among the mappings no request used
    /// since the last purge, so that the pages the frontend uses now can be kept instead.
    fn purge(&mut self) {
        let Some(held) = &mut self.persistent else {
            return;
        };
        if self.overflow {
            let mut clean = (self.config.max_pgrants * 5 / 100).max(1);
            held.retain(|_, kept| {
                let drop = !kept.used && clean > 0;
                clean -= usize::from(drop);
                !drop
            });
            self.overflow = false;
        }
        for kept in held.values_mut() {
            kept.used = false;
        }
    }

    fn halt(&mut self, e: RingError) -> BackError {
        let e = BackError::Ring(e);
        self.broken = Some(e);
        e
    }

    /// Waits up to `timeout` for the frontend's event.
    pub fn wait(&self, timeout: Duration) -> bool {
        self.signal.wait(timeout)
    }

    /// Persistent mappings held.
    pub fn persistent_grants(&self) -> usize {
        self.persistent.as_ref().map_or(0, HashMap::len)
    }

    pub fn stats(&self) -> BackStats {
        self.stats
    }

    fn handle(&mut self, req: &BlkifRequest) -> BlkifResponse {
        let (operation, status) = match req.operation {
            BLKIF_OP_READ | BLKIF_OP_WRITE | BLKIF_OP_WRITE_BARRIER | BLKIF_OP_FLUSH_DISKCACHE => {
                let n = req.nr_segments as usize;
                let status = if n > BLKIF_MAX_SEGMENTS_PER_REQUEST {
                    BLKIF_RSP_ERROR
                } else {
                    self.segs.clear();
                    self.segs.extend_from_slice(&req.seg[..n]);
                    self.rw(req.operation, req.sector_number)
                };
                (req.operation, status)
            }
            BLKIF_OP_INDIRECT if self.config.max_indirect_segments > 0 => {
                let (ind, _) = BlkifRequestIndirect::read_from_prefix(req.as_bytes())
                    .expect("an indirect request fits in a request slot");
                self.stats.indirect += 1;
                (ind.indirect_op, self.indirect(&ind))
            }
            BLKIF_OP_DISCARD => {
                let (d, _) = BlkifRequestDiscard::read_from_prefix(req.as_bytes())
                    .expect("a discard request fits in a request slot");
                (BLKIF_OP_DISCARD, self.discard(&d))
            }
            // BLKIF_OP_RESERVED_1, indirect when not offered, and anything unknown.
            op => (op, BLKIF_RSP_EOPNOTSUPP),
        };
        // Unmap what this request mapped, before the frontend can see the response.
        self.transient.clear();
        self.stats.requests += 1;
        match status {
            BLKIF_RSP_ERROR => self.stats.errors += 1,
            BLKIF_RSP_EOPNOTSUPP => self.stats.unsupported += 1,
            _ => {}
        }
        let mut rsp = BlkifResponse::new_zeroed();
        rsp.id = req.id;
        rsp.operation = operation;
        rsp.status = status;
        rsp
    }

    /// Reads the segment descriptors out of the indirect pages, once, then serves the request.
    fn indirect(&mut self, ind: &BlkifRequestIndirect) -> Status {
        let n = ind.nr_segments as usize;
        let op = ind.indirect_op;
        if (op != BLKIF_OP_READ && op != BLKIF_OP_WRITE)
            || n == 0
            || n > self.config.max_indirect_segments as usize
        {
            return BLKIF_RSP_ERROR;
        }
        let frames = n.div_ceil(BLKIF_SEGS_PER_INDIRECT_FRAME);
        self.segs.clear();
        for (f, &gref) in ind.indirect_grefs[..frames].iter().enumerate() {
            let Ok(page) = self.map(gref, false) else {
                return BLKIF_RSP_ERROR;
            };
            let in_page =
                (n - f * BLKIF_SEGS_PER_INDIRECT_FRAME).min(BLKIF_SEGS_PER_INDIRECT_FRAME);
            let mem = self.mem(page).clone();
            for i in 0..in_page {
                self.segs
                    .push(mem.read(i * std::mem::size_of::<BlkifRequestSegment>()));
            }
        }
        self.rw(op, ind.sector_number)
    }

    /// Read, write, barrier or flush over the segments in `self.segs`.
    fn rw(&mut self, op: u8, sector: u64) -> Status {
        let flush = op == BLKIF_OP_FLUSH_DISKCACHE || op == BLKIF_OP_WRITE_BARRIER;
        if self.segs.is_empty() && !flush {
            return BLKIF_RSP_ERROR;
        }
        if (op == BLKIF_OP_WRITE_BARRIER && !self.config.barrier)
            || (op == BLKIF_OP_FLUSH_DISKCACHE && !self.config.flush)
        {
            return BLKIF_RSP_EOPNOTSUPP;
        }
        // Flushes count as writes for a read-only disk, as in blkback's xen_vbd_translate.
        if op != BLKIF_OP_READ && self.config.read_only {
            return BLKIF_RSP_ERROR;
        }
        let align = u64::from(self.config.sector_size) / BLKIF_SECTOR_SIZE as u64 - 1;
        let mut nr_sects = 0u64;
        for s in &self.segs {
            if s.last_sect >= SECTORS_PER_PAGE || s.last_sect < s.first_sect {
                return BLKIF_RSP_ERROR;
            }
            let nsec = u64::from(s.last_sect - s.first_sect + 1);
            if (sector | nsec) & align != 0 {
                return BLKIF_RSP_ERROR;
            }
            nr_sects += nsec;
        }
        let size = self.storage.lock().unwrap().sectors();
        let in_range = sector.checked_add(nr_sects).is_some_and(|end| end <= size);
        if nr_sects > 0 && !in_range {
            return BLKIF_RSP_ERROR;
        }
        self.pages.clear();
        for i in 0..self.segs.len() {
            match self.map(self.segs[i].gref, op == BLKIF_OP_READ) {
                Ok(p) => self.pages.push(p),
                Err(()) => return BLKIF_RSP_ERROR,
            }
        }
        let bytes = nr_sects as usize * BLKIF_SECTOR_SIZE;
        let storage = self.storage.clone();
        let mut storage = storage.lock().unwrap();
        if self.io(&mut *storage, op, sector, bytes).is_ok() {
            BLKIF_RSP_OKAY
        } else {
            BLKIF_RSP_ERROR
        }
    }

    /// The I/O of a validated request whose pages are mapped.
    fn io(
        &mut self,
        storage: &mut dyn Storage,
        op: u8,
        sector: u64,
        bytes: usize,
    ) -> io::Result<()> {
        let Self {
            persistent,
            transient,
            segs,
            pages,
            data,
            stats,
            ..
        } = self;
        let nr_sects = (bytes / BLKIF_SECTOR_SIZE) as u64;
        if op == BLKIF_OP_WRITE_BARRIER {
            // Everything before the barrier is already done (one request at a time); make it durable.
            storage.flush()?;
        }
        if op == BLKIF_OP_READ {
            storage.read(sector, &mut data[..bytes])?;
            let mut at = 0;
            for (s, &p) in segs.iter().zip(pages.iter()) {
                let (off, len) = seg_bytes(s);
                page_mem(persistent, transient, p).write_bytes(off, &data[at..at + len]);
                at += len;
            }
            stats.sectors_read += nr_sects;
            return Ok(());
        }
        if bytes > 0 {
            let mut at = 0;
            for (s, &p) in segs.iter().zip(pages.iter()) {
                let (off, len) = seg_bytes(s);
                page_mem(persistent, transient, p).read_bytes(off, &mut data[at..at + len]);
                at += len;
            }
            storage.write(sector, &data[..bytes])?;
            stats.sectors_written += nr_sects;
        }
        if op == BLKIF_OP_FLUSH_DISKCACHE || op == BLKIF_OP_WRITE_BARRIER {
            storage.flush()?;
            stats.flushes += 1;
        }
        Ok(())
    }

    fn discard(&mut self, d: &BlkifRequestDiscard) -> Status {
        let Some(offer) = self.config.discard else {
            return BLKIF_RSP_EOPNOTSUPP;
        };
        if d.flag & BLKIF_DISCARD_SECURE != 0 && !offer.secure {
            return BLKIF_RSP_EOPNOTSUPP;
        }
        if self.config.read_only {
            return BLKIF_RSP_ERROR;
        }
        let mut storage = self.storage.lock().unwrap();
        let in_range = d
            .sector_number
            .checked_add(d.nr_sectors)
            .is_some_and(|end| end <= storage.sectors());
        if !in_range {
            return BLKIF_RSP_ERROR;
        }
        match storage.discard(d.sector_number, d.nr_sectors) {
            Ok(()) => {
                self.stats.discards += 1;
                BLKIF_RSP_OKAY
            }
            Err(_) => BLKIF_RSP_ERROR,
        }
    }

    /// Maps `gref` for this request: a persistent mapping when negotiated and within budget,
    /// else one for this request only, with the access the request needs.
    fn map(&mut self, gref: GrantRef, write: bool) -> Result<Page, ()> {
        let (be, fe) = (self.config.backend_dom, self.config.front_dom);
        if let Some(held) = &mut self.persistent {
            if let Some(kept) = held.get_mut(&gref) {
                kept.used = true;
                self.stats.persistent_hits += 1;
                return Ok(Page::Persistent(gref));
            }
            if held.len() < self.config.max_pgrants {
                // Persistent mappings are always writable: the page may serve a read later.
                let map = self.host.map(be, fe, gref, true).map_err(|_| ())?;
                held.insert(gref, Kept { map, used: true });
                return Ok(Page::Persistent(gref));
            }
            self.overflow = true;
        }
        let m = self.host.map(be, fe, gref, write).map_err(|_| ())?;
        self.transient.push(m);
        Ok(Page::Transient(self.transient.len() - 1))
    }

    fn mem(&self, page: Page) -> &SharedMem {
        page_mem(&self.persistent, &self.transient, page)
    }
}

fn page_mem<'a>(
    persistent: &'a Option<HashMap<GrantRef, Kept>>,
    transient: &'a [Mapping],
    page: Page,
) -> &'a SharedMem {
    match page {
        Page::Persistent(g) => persistent.as_ref().expect("persistent mode")[&g].map.mem(),
        Page::Transient(i) => transient[i].mem(),
    }
}

/// Byte offset and length of a validated segment in its page.
fn seg_bytes(s: &BlkifRequestSegment) -> (usize, usize) {
    let first = s.first_sect as usize * BLKIF_SECTOR_SIZE;
    let last = (s.last_sect as usize + 1) * BLKIF_SECTOR_SIZE;
    (first, last - first)
}

impl Drop for BackQueue {
    fn drop(&mut self) {
        // The mappings unmap as they drop; the frontend's end of the channel goes back to unbound.
        let _ = self.host.evtchn.close(self.config.backend_dom, self.port);
    }
}
