//! The crash-dump and hibernation path: one blkif ring, polled, granting only through the grant
//! references drivers/xen keeps aside for it, and no allocation once connected.
//!
//! When storport loads XENVBD in dump mode the machine is stopping: no interrupts, no DPCs, no
//! pool, and the normal instance's state (XENBUS, its grant table free list) must not be touched.
//! So the dump instance
//! - grants a fixed set of pages once, at init, each through its own reference of the reserved
//!   range ([`ReservedGrants`]: drivers/xen's `GrantTable::grant_crash_dump` over refs 8–31);
//!   the ring and the blkif core's persistent pool are carved out of those pages, so no request
//!   ever makes a grant (the core's pool mode — whatever the backend says about
//!   `feature-persistent`: a backend without it maps and unmaps the same grants each time);
//! - uses no indirect descriptors (their pages would come from the same small set);
//! - completes each SRB by polling the ring ([`DumpPath::run`]), with a budget of polls after
//!   which the request fails as NOT READY rather than hang the dump.

use alloc::sync::Arc;
use core::fmt;
use core::ops::Range;
use core::sync::atomic::{AtomicU32, Ordering};

use xenpv_abi::{DomId, EvtchnPort, GrantRef, PAGE_SIZE};
use xenpv_datapath::blkif::{
    BlkQueue, Disk as BlkDisk, Features, IoError, QueueConfig, RingInfo, SetupError,
};
use xenpv_datapath::platform::{
    Access, EventChannels, GrantedRegion, Grants, PlatformError, StillInUse,
};
use xenpv_datapath::scsi;
use xenpv_datapath::shmem::SharedMem;

use crate::miniport::{scsi_disk, Finished, Miniport, Prepared, Submitted, Window};
use crate::srb::{Outcome, SrbInfo};
use xenpv_ddk::storport::srb::SRB_STATUS_BUSY;

/// Grants a frame through one given reference of the range kept for the dump path.
pub trait ReservedGrants: Send + Sync {
    /// The references set aside.
    fn reserved(&self) -> Range<GrantRef>;
    /// Lets `domid` access `frame` through reference `r` (one of [`Self::reserved`]).
    fn grant_at(
        &self,
        r: GrantRef,
        domid: DomId,
        frame: u64,
        readonly: bool,
    ) -> Result<(), PlatformError>;
}

/// drivers/xen's grant table: its crash-dump range is exactly what the dump path may use.
impl ReservedGrants for xenpv_xen::gnttab::GrantTable<'_> {
    fn reserved(&self) -> Range<GrantRef> {
        self.crash_dump_refs()
    }

    fn grant_at(
        &self,
        r: GrantRef,
        domid: DomId,
        frame: u64,
        readonly: bool,
    ) -> Result<(), PlatformError> {
        self.grant_crash_dump(r, domid, frame, readonly)
            .map_err(|_| PlatformError::Invalid)
    }
}

/// Why the dump path could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpError {
    /// More pages than reserved references (or than the 32 one bitmap tracks).
    TooManyPages { pages: usize, refs: usize },
    /// The memory does not match the frames given.
    MemorySize { bytes: usize, pages: usize },
    /// Ring, pool and one request need more pages than were given.
    TooFewPages(usize),
    /// The reserved grant could not be written.
    Grant(PlatformError),
    /// The blkif queue could not be set up.
    Setup(SetupError),
    /// The disk description cannot be presented as SCSI.
    Disk(scsi::DiskError),
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpError::TooManyPages { pages, refs } => {
                write!(f, "{pages} pages but {refs} reserved grant references")
            }
            DumpError::MemorySize { bytes, pages } => {
                write!(f, "{bytes} bytes of memory for {pages} pages")
            }
            DumpError::TooFewPages(p) => write!(f, "{p} pages cannot hold a ring and a request"),
            DumpError::Grant(e) => write!(f, "reserved grant: {e}"),
            DumpError::Setup(e) => write!(f, "queue: {e}"),
            DumpError::Disk(e) => write!(f, "disk: {e}"),
        }
    }
}

/// Most pages one dump platform holds (the width of its page bitmap).
pub const MAX_DUMP_PAGES: usize = 32;

/// The blkif core's platform in dump mode: every page granted at init through the reserved
/// references, regions handed out from them, event channels from the home.
pub struct DumpPlatform<G, E> {
    grants: G,
    events: E,
    backend: DomId,
    mem: SharedMem,
    refs: Range<GrantRef>,
    /// Bit i: page i belongs to a region handed out.
    used: AtomicU32,
}

impl<G: ReservedGrants, E: EventChannels> DumpPlatform<G, E> {
    /// Grants the pages of `mem` (page i is frame `frames[i]`) to `backend`, page i through
    /// reserved reference `reserved().start + i`.
    pub fn new(
        grants: G,
        events: E,
        backend: DomId,
        mem: SharedMem,
        frames: &[u64],
    ) -> Result<Self, DumpError> {
        let range = grants.reserved();
        let available = (range.end.saturating_sub(range.start) as usize).min(MAX_DUMP_PAGES);
        if frames.len() > available {
            return Err(DumpError::TooManyPages {
                pages: frames.len(),
                refs: available,
            });
        }
        if mem.len() != frames.len() * PAGE_SIZE {
            return Err(DumpError::MemorySize {
                bytes: mem.len(),
                pages: frames.len(),
            });
        }
        for (i, &frame) in frames.iter().enumerate() {
            grants
                .grant_at(range.start + i as GrantRef, backend, frame, false)
                .map_err(DumpError::Grant)?;
        }
        Ok(Self {
            grants,
            events,
            backend,
            mem,
            refs: range.start..range.start + frames.len() as GrantRef,
            used: AtomicU32::new(0),
        })
    }

    /// The references the pages are granted through.
    pub fn refs(&self) -> Range<GrantRef> {
        self.refs.clone()
    }

    pub fn pages(&self) -> usize {
        (self.refs.end - self.refs.start) as usize
    }

    pub fn grants(&self) -> &G {
        &self.grants
    }

    fn mask(first: usize, pages: usize) -> u32 {
        (((1u64 << pages) - 1) << first) as u32
    }
}

impl<G: ReservedGrants, E: EventChannels> Grants for DumpPlatform<G, E> {
    /// A run of the pre-granted pages (read-write whatever `access` asks: the pages are the
    /// dump path's alone). Never a new grant.
    fn grant_region(
        &self,
        domid: DomId,
        pages: usize,
        access: Access,
    ) -> Result<GrantedRegion, PlatformError> {
        if domid != self.backend {
            return Err(PlatformError::Invalid);
        }
        let total = self.pages();
        if pages == 0 || pages > total {
            return Err(PlatformError::NoGrantRefs);
        }
        let mut used = self.used.load(Ordering::Acquire);
        loop {
            let first = (0..=total - pages).find(|&f| used & Self::mask(f, pages) == 0);
            let Some(first) = first else {
                return Err(PlatformError::NoGrantRefs);
            };
            let new = used | Self::mask(first, pages);
            match self
                .used
                .compare_exchange(used, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    let start = self.refs.start + first as GrantRef;
                    let grefs = (start..start + pages as GrantRef).collect();
                    let mem = self.mem.sub(first * PAGE_SIZE, pages * PAGE_SIZE);
                    return Ok(GrantedRegion::new(mem, grefs, domid, access, first as u64));
                }
                Err(now) => used = now,
            }
        }
    }

    /// The pages go back to the set; their grants stay (the range is the dump path's own).
    fn end_region(&self, region: GrantedRegion) -> Result<(), StillInUse> {
        let mask = Self::mask(region.handle() as usize, region.pages());
        self.used.fetch_and(!mask, Ordering::AcqRel);
        Ok(())
    }
}

impl<G: ReservedGrants, E: EventChannels> EventChannels for DumpPlatform<G, E> {
    fn alloc_unbound(&self, remote: DomId) -> Result<EvtchnPort, PlatformError> {
        self.events.alloc_unbound(remote)
    }

    fn notify(&self, port: EvtchnPort) {
        self.events.notify(port)
    }

    /// Nothing waits for events in dump mode.
    fn unmask(&self, _port: EvtchnPort) {}

    fn close(&self, port: EvtchnPort) {
        self.events.close(port)
    }
}

/// The dump instance's disk: one queue on a one-page ring, and the miniport over it.
pub struct DumpPath<G, E, B> {
    queue: BlkQueue<DumpPlatform<G, E>, Window<B>>,
    miniport: Miniport<B>,
}

/// SRBs the dump path holds at once: crashdmp issues one request at a time.
const DUMP_REQUESTS: usize = 2;

impl<G, E, B> DumpPath<G, E, B>
where
    G: ReservedGrants,
    E: EventChannels,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    /// Builds the queue on `platform` for the disk `disk` (vbd `vdev`, as the backend
    /// described it) and connects its ring. `backend_features` are what the backend offers
    /// (flush, barrier, discard); persistent grants (the pool) are always used and indirect
    /// descriptors never. Returns the ring to publish (`ring-ref`, `event-channel`).
    pub fn connect(
        platform: Arc<DumpPlatform<G, E>>,
        disk: Arc<BlkDisk>,
        vdev: u16,
        backend_features: Features,
    ) -> Result<(Self, RingInfo), DumpError> {
        let pages = platform.pages();
        // One page of ring, the rest pool; a direct request needs 11 pool pages.
        let pool = pages.saturating_sub(1);
        if pool < xenpv_abi::blkif::BLKIF_MAX_SEGMENTS_PER_REQUEST {
            return Err(DumpError::TooFewPages(pages));
        }
        let config = QueueConfig {
            max_requests: DUMP_REQUESTS,
            max_indirect_segments: 0,
            pool_pages: pool,
        };
        let features = Features {
            persistent: true,
            max_indirect_segments: 0,
            ..backend_features
        };
        let backend = platform.backend;
        let (mut queue, handle) =
            BlkQueue::new(platform, disk.clone(), vdev, config).map_err(DumpError::Setup)?;
        let ring = queue
            .connect(backend, 0, features)
            .map_err(DumpError::Setup)?;
        let scsi_disk = scsi_disk(disk, &features, &config, vdev).map_err(DumpError::Disk)?;
        let miniport = Miniport::new(Arc::new(scsi_disk), alloc::vec![handle], DUMP_REQUESTS);
        Ok((Self { queue, miniport }, ring))
    }

    pub fn miniport(&self) -> &Miniport<B> {
        &self.miniport
    }

    /// Carries out one SRB to the end: answers it at once or submits it, then polls the ring —
    /// calling `between` after each poll that did not finish it (the home stalls there; a test
    /// runs the backend) — at most `polls` times. A request still unanswered then, or one on a
    /// ring the backend broke, fails as NOT READY (each SRB still completes exactly once).
    pub fn run(
        &mut self,
        handle: u64,
        info: &SrbInfo,
        buf: Option<B>,
        polls: u32,
        mut between: impl FnMut(),
    ) -> Finished<B> {
        let (cmd, buf) = match self.miniport.prepare(info, buf) {
            Prepared::Done(outcome, buf) => {
                return Finished {
                    handle,
                    outcome,
                    buf,
                }
            }
            Prepared::Block(cmd, buf) => (cmd, buf),
        };
        match self.miniport.submit(handle, 0, cmd, buf) {
            Submitted::Busy(f) => return f,
            Submitted::Queued { .. } => {}
        }
        for _ in 0..polls {
            let broken = self.queue.service().is_err();
            if broken {
                break;
            }
            if let Some(f) = self.take() {
                return f;
            }
            between();
        }
        // Give up on the backend: the core completes what it holds with an error.
        self.queue.fail_all(IoError::Disconnected);
        self.take().unwrap_or(Finished {
            handle,
            outcome: Outcome::port(SRB_STATUS_BUSY),
            buf: None,
        })
    }

    fn take(&mut self) -> Option<Finished<B>> {
        let mut done = None;
        self.miniport.collect(0, |f| done = Some(f));
        done
    }

    /// Pages of the pool and ring, for callers that check the budget.
    pub fn in_flight(&self) -> usize {
        self.queue.in_flight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::AtomicU16;
    use std::sync::Mutex;
    use std::vec::Vec;
    use xenpv_datapath::shmem::SharedPages;
    use xenpv_xen::gnttab::{Entry, GrantTable, ENTRIES_PER_FRAME};

    /// Event channels that hand out ports and remember notifications.
    #[derive(Default)]
    struct Ports(Mutex<Vec<EvtchnPort>>);

    impl EventChannels for Ports {
        fn alloc_unbound(&self, _remote: DomId) -> Result<EvtchnPort, PlatformError> {
            Ok(7)
        }
        fn notify(&self, port: EvtchnPort) {
            self.0.lock().unwrap().push(port);
        }
        fn unmask(&self, _port: EvtchnPort) {}
        fn close(&self, _port: EvtchnPort) {}
    }

    fn table_parts() -> (Vec<Entry>, Vec<AtomicU32>) {
        let entries = (0..ENTRIES_PER_FRAME)
            .map(|_| Entry {
                flags: AtomicU16::new(0),
                domid: AtomicU16::new(0),
                frame: AtomicU32::new(0),
            })
            .collect();
        let links = (0..ENTRIES_PER_FRAME).map(|_| AtomicU32::new(0)).collect();
        (entries, links)
    }

    #[test]
    fn drivers_xens_crash_dump_range_is_granted_and_nothing_else() {
        let (entries, links) = table_parts();
        let table = GrantTable::new(&entries, &links, 1, 24).unwrap();
        assert_eq!(table.crash_dump_refs(), 8..32);
        let pages = SharedPages::new(24).unwrap();
        let frames: Vec<u64> = (0x1000..0x1000 + 24).collect();
        let p = DumpPlatform::new(table, Ports::default(), 3, pages.mem(), &frames).unwrap();
        assert_eq!(p.refs(), 8..32);
        for (i, e) in entries.iter().enumerate() {
            let granted = e.flags.load(Ordering::Relaxed) != 0;
            assert_eq!(granted, (8..32).contains(&i), "entry {i}");
            if granted {
                assert_eq!(e.domid.load(Ordering::Relaxed), 3);
                assert_eq!(e.frame.load(Ordering::Relaxed), 0x1000 + i as u32 - 8);
            }
        }
        // Regions come from the granted pages, as contiguous runs, and go back.
        let ring = p.grant_region(3, 1, Access::ReadWrite).unwrap();
        let pool = p.grant_region(3, 23, Access::ReadWrite).unwrap();
        assert_eq!(ring.grefs(), [8]);
        assert_eq!(pool.grefs(), (9..32).collect::<Vec<_>>());
        assert_eq!(
            p.grant_region(3, 1, Access::ReadOnly).unwrap_err(),
            PlatformError::NoGrantRefs
        );
        assert_eq!(
            p.grant_region(4, 1, Access::ReadOnly).unwrap_err(),
            PlatformError::Invalid
        );
        p.end_region(ring).unwrap();
        assert_eq!(p.grant_region(3, 1, Access::ReadOnly).unwrap().grefs(), [8]);
        drop(pool);
    }

    #[test]
    fn more_pages_than_reserved_refs_or_mismatched_memory_are_refused() {
        let (entries, links) = table_parts();
        let table = GrantTable::new(&entries, &links, 1, 4).unwrap();
        let pages = SharedPages::new(5).unwrap();
        let frames: Vec<u64> = (0..5).collect();
        assert_eq!(
            DumpPlatform::new(table, Ports::default(), 0, pages.mem(), &frames).err(),
            Some(DumpError::TooManyPages { pages: 5, refs: 4 })
        );
        let table = GrantTable::new(&entries, &links, 1, 24).unwrap();
        assert_eq!(
            DumpPlatform::new(table, Ports::default(), 0, pages.mem(), &frames[..4]).err(),
            Some(DumpError::MemorySize {
                bytes: 5 * PAGE_SIZE,
                pages: 4
            })
        );
    }
}
