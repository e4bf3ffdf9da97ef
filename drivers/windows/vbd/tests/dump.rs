//! The crash-dump path over the sim's blkback: every grant the guest makes is one of the
//! reserved references (8–31), made at init; writes complete by polling the ring (nothing waits
//! for an event); and the request path allocates nothing (a counting allocator watches it).

mod harness;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use harness::*;
use xenpv_abi::{DomId, GrantRef};
use xenpv_control::vbd::FrontendVbd;
use xenpv_datapath::blkif::Features;
use xenpv_datapath::platform::PlatformError;
use xenpv_datapath::scsi::Sense;
use xenpv_ddk::storport::srb::*;
use xenpv_sim::blkback::{BackendConfig, BlkBack, SharedStorage};
use xenpv_sim::guest::SimPlatform;
use xenpv_sim::host::{GrantTable, Host, HostConfig};
use xenpv_winvbd::dump::{DumpPath, DumpPlatform, ReservedGrants};
use xenpv_winvbd::srb::{Outcome, SrbInfo};

/// Counts this thread's allocations while `COUNTING` is set.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the bookkeeping touches only const-initialised
// thread locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` counting its allocations on this thread (except inside `uncounted`).
fn count(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get)
}

fn uncounted<R>(f: impl FnOnce() -> R) -> R {
    let was = COUNTING.with(|c| c.replace(false));
    let r = f();
    COUNTING.with(|c| c.set(was));
    r
}

/// The sim's grant table standing in for drivers/xen's: references 8–31 are the reserved range.
/// The sim hands references out lowest first, so on a fresh guest `grant` returns exactly the
/// reference asked for; anything else is refused (the test then fails at init).
struct SimReserved {
    table: Arc<GrantTable>,
    granted: Mutex<Vec<GrantRef>>,
}

impl ReservedGrants for SimReserved {
    fn reserved(&self) -> Range<GrantRef> {
        8..32
    }

    fn grant_at(
        &self,
        r: GrantRef,
        domid: DomId,
        frame: u64,
        readonly: bool,
    ) -> Result<(), PlatformError> {
        let got = self
            .table
            .grant(domid, frame, readonly)
            .map_err(|_| PlatformError::NoGrantRefs)?;
        self.granted.lock().unwrap().push(got);
        if got == r {
            Ok(())
        } else {
            Err(PlatformError::Invalid)
        }
    }
}

type Path = DumpPath<SimReserved, SimPlatform, Vec<u8>>;

struct World {
    path: Path,
    backend: BlkBack,
    table: Arc<GrantTable>,
    storage: Arc<Mutex<Recording>>,
}

fn world(config: BackendConfig) -> World {
    let host = Host::new(HostConfig::default());
    let guest = config.front_dom;
    let table = host.grant_table(guest);
    let (mem, frames) = host.frames.alloc(guest, 24).unwrap();
    let reserved = SimReserved {
        table: table.clone(),
        granted: Mutex::new(Vec::new()),
    };
    let events = SimPlatform::new(host.clone(), guest);
    let platform =
        Arc::new(DumpPlatform::new(reserved, events, config.backend_dom, mem, &frames).unwrap());
    assert_eq!(
        *platform.grants().granted.lock().unwrap(),
        (8..32).collect::<Vec<_>>()
    );
    let blk = Arc::new(config.disk_props(SECTORS).disk().unwrap());
    let offer = config.offer();
    let features = Features {
        flush: offer.flush,
        barrier: offer.barrier,
        discard: offer.discard,
        ..Features::default()
    };
    let (path, ring) = DumpPath::connect(platform, blk, 51712, features).unwrap();
    assert_eq!(ring.order, 0, "a single one-page ring");
    assert!((8..32).contains(&ring.grefs[0]));
    let storage = Arc::new(Mutex::new(Recording::new(SECTORS)));
    let shared: SharedStorage = storage.clone();
    let front = FrontendVbd {
        ring_order: 0,
        queues: vec![(ring.grefs, ring.port)],
        persistent: true,
    };
    let backend = BlkBack::connect(&host, &config, shared, &front).unwrap();
    World {
        path,
        backend,
        table,
        storage,
    }
}

impl World {
    /// One SRB through the dump path, the backend running between polls.
    fn run(&mut self, image: &[u8], buf: Option<Vec<u8>>) -> (Outcome, Option<Vec<u8>>) {
        let info = SrbInfo::parse(image).unwrap();
        let backend = &mut self.backend;
        let f = self.path.run(7, &info, buf, 1000, || {
            uncounted(|| backend.service().unwrap());
        });
        assert_eq!(f.handle, 7);
        (f.outcome, f.buf)
    }
}

#[test]
fn dump_writes_complete_by_polling_through_reserved_grants_without_allocating() {
    // The counter sees an allocation when there is one.
    assert_eq!(count(|| drop(std::hint::black_box(vec![0u8; 1]))), 1);
    let mut w = world(BackendConfig::default());
    let active = w.table.active();
    assert_eq!(active, 24, "only the reserved references are granted");
    // A hibernation-file-sized stream of writes, each 8 blocks, then read back.
    let mut written = Vec::new();
    for i in 0..16u32 {
        let lba = i * 24;
        let data = pattern(u64::from(lba), 8, 9);
        let image = srb(&write10(lba, 8, false), SRB_FLAGS_DATA_OUT, 4096);
        // The buffer is built outside the count: it is the OS's, not ours.
        let buf = Some(data.clone());
        let mut outcome = None;
        let n = count(|| outcome = Some(w.run(&image, buf)));
        let (outcome, _) = outcome.unwrap();
        assert_eq!(outcome, Outcome::good(4096), "write {i}");
        assert_eq!(n, 0, "write {i} allocated");
        written.push((lba, data));
    }
    // Forced unit access and SYNCHRONIZE CACHE, as crashdmp ends a dump.
    let image = srb(&write10(1000, 1, true), SRB_FLAGS_DATA_OUT, 512);
    let buf = Some(vec![5; 512]);
    let n = count(|| assert_eq!(w.run(&image, buf).0, Outcome::good(512)));
    assert_eq!(n, 0);
    let image = srb(&[0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0, 0);
    let n = count(|| assert_eq!(w.run(&image, None).0, Outcome::good(0)));
    assert_eq!(n, 0);
    assert_eq!(w.table.active(), active, "no grant was made after init");
    for (lba, data) in written {
        let image = srb(&read10(lba, 8), SRB_FLAGS_DATA_IN, 4096);
        let (outcome, buf) = w.run(&image, Some(vec![0; 4096]));
        assert_eq!(outcome, Outcome::good(4096));
        assert_eq!(buf.unwrap(), data);
    }
    let ops = w.storage.lock().unwrap().ops.clone();
    assert!(ops.contains(&Op::Flush));
    assert_eq!(w.path.miniport().stale(), 0);
}

#[test]
fn dump_transfers_larger_than_a_request_are_refused_not_split_beyond_the_pool() {
    let mut w = world(BackendConfig::default());
    // 11 direct segments of 4 KiB: 88 blocks is the most one request may carry.
    let image = srb(&write10(0, 89, false), SRB_FLAGS_DATA_OUT, 89 * 512);
    let (outcome, _) = w.run(&image, Some(vec![0; 89 * 512]));
    assert_eq!(outcome.sense.unwrap().asc, 0x24, "INVALID FIELD IN CDB");
    let image = srb(&write10(0, 88, false), SRB_FLAGS_DATA_OUT, 88 * 512);
    assert_eq!(
        w.run(&image, Some(vec![1; 88 * 512])).0,
        Outcome::good(88 * 512)
    );
}

#[test]
fn a_backend_that_never_answers_fails_the_request_once_as_not_ready() {
    let mut w = world(BackendConfig::default());
    let info = SrbInfo::parse(&srb(&write10(0, 1, false), SRB_FLAGS_DATA_OUT, 512)).unwrap();
    let mut polls = 0;
    let f = w.path.run(9, &info, Some(vec![0; 512]), 50, || polls += 1);
    assert_eq!(polls, 50);
    assert_eq!(f.handle, 9);
    assert_eq!(f.outcome, Outcome::check(Sense::not_ready()));
    assert_eq!(w.path.miniport().outstanding(), 0, "completed exactly once");
}
