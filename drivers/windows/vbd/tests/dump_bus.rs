//! The dump instance end to end over XENBUS's dump interface on the sim: a vbd connected the
//! normal way (through the bus's store session, two queues, XENBUS's store work item running),
//! a dump path prepared beside it in normal mode, then the "crash": XENBUS's store work item
//! stops, and the dump instance — given only storport's `MiniportDumpData` pointer — takes the
//! vbd over through the polled store (close, publish its one ring, connect), allocating nothing
//! on its thread, and writes blocks by polling that the sim's blkback stores.

mod harness;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::Duration;

use harness::*;
use xenpv_abi::xenbus::XenbusState;
use xenpv_busif::dump::DumpBusError;
use xenpv_busif::dump::DumpProvider;
use xenpv_busif::sim::{store, Poller, SimBus, GUEST};
use xenpv_busif::sim_dump::{dump_child, SimDumpHome};
use xenpv_busif::BusError;
use xenpv_busif::BusPlatform;
use xenpv_control::vbd::VbdFrontend;
use xenpv_control::xenbus::FrontendDriver;
use xenpv_datapath::blkif::{Features, QueueConfig};
use xenpv_ddk::storport::srb::*;
use xenpv_sim::blkback::xenstore::VbdBackend;
use xenpv_sim::blkback::{BackendConfig, SharedStorage};
use xenpv_sim::xenstored::StoreOps;
use xenpv_winvbd::dump_bus::{prepare, release, start, Vbd};
use xenpv_winvbd::frontend::handshake;
use xenpv_winvbd::miniport::{wishes, Window};
use xenpv_winvbd::srb::{Outcome, SrbInfo};

const DEVID: u16 = 51712;

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

fn counted<R>(f: impl FnOnce() -> R) -> (R, u64) {
    ALLOCATIONS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (r, ALLOCATIONS.with(Cell::get))
}

fn uncounted<R>(f: impl FnOnce() -> R) -> R {
    let was = COUNTING.with(|c| c.replace(false));
    let r = f();
    COUNTING.with(|c| c.set(was));
    r
}

#[test]
fn the_dump_instance_takes_the_vbd_over_by_polling_and_its_writes_reach_blkback() {
    // The counter sees an allocation when there is one.
    assert_eq!(counted(|| drop(std::hint::black_box(vec![0u8; 1]))).1, 1);
    let bus = SimBus::new();
    // drivers/xen sets the crash-dump references aside at start of day, before any grant.
    let home = SimDumpHome::new(&bus, 24).unwrap();
    let grants = home.grant_table().clone();
    let dump_provider = Arc::new(DumpProvider::new(home));

    let config = BackendConfig {
        front_dom: GUEST,
        ..BackendConfig::default()
    };
    let storage = Arc::new(Mutex::new(Recording::new(SECTORS)));
    let shared: SharedStorage = storage.clone();
    let backend = Arc::new(Mutex::new(
        VbdBackend::create(
            &bus.sim.xenstored,
            bus.sim.host.clone(),
            config,
            shared,
            DEVID.into(),
        )
        .unwrap(),
    ));

    // Normal mode: XENVBD connects through the bus (two queues) ...
    let poller = Poller::start(&bus.provider);
    let child = bus.child();
    let mut xs = store(&child);
    let platform = Arc::new(BusPlatform::new(child.clone()));
    let device: VbdFrontend<_, Window<Vec<u8>>> =
        VbdFrontend::new(platform, DEVID, wishes(2), QueueConfig::default());
    let mut driver =
        FrontendDriver::attach(&mut xs, &format!("device/vbd/{DEVID}"), device).unwrap();
    handshake(&mut xs, &mut driver, 100_000, |_| {
        backend.lock().unwrap().poll().unwrap();
        sleep(Duration::from_micros(100));
    })
    .unwrap();
    let negotiated = driver.device().negotiated().unwrap();
    assert_eq!(negotiated.queues, 2);
    let disk = driver.device().disk().unwrap().clone();
    let paths = driver.paths().clone();

    // ... and prepares the dump path: 24 pages through the reserved references.
    let (mem, frames) = bus.sim.host.frames.alloc(GUEST, 24).unwrap();
    let before = grants.active();
    let block = prepare::<Vec<u8>>(
        Arc::new(dump_child(&dump_provider)),
        Vbd {
            backend_domain: paths.backend_domid,
            vdev: DEVID,
            frontend: &paths.frontend,
            backend: &paths.backend,
            disk,
            features: Features {
                flush: negotiated.features.flush,
                barrier: negotiated.features.barrier,
                discard: negotiated.features.discard,
                ..Features::default()
            },
        },
        mem,
        &frames,
    )
    .unwrap();
    assert_eq!(
        grants.active(),
        before,
        "only reserved entries were rewritten"
    );
    for r in 8..32 {
        assert!(!grants.in_use(r), "nothing maps the dump pages yet ({r})");
    }

    // The crash: XENBUS's store work item never runs again, nor does the normal instance.
    drop(poller);
    std::mem::forget(driver);
    std::mem::forget(xs);

    // Dump mode: storport hands the block to the dump instance's HwFindAdapter.
    let (taken, allocations) = counted(|| {
        // SAFETY: the block prepare() made, used by nobody else.
        unsafe {
            start::<Vec<u8>>(block, 10_000, || {
                uncounted(|| backend.lock().unwrap().poll().unwrap());
                sleep(Duration::from_micros(100));
            })
        }
    });
    let path = taken.unwrap();
    assert_eq!(allocations, 0, "the take-over allocated");
    assert_eq!(backend.lock().unwrap().state(), XenbusState::Connected);

    // crashdmp's writes, each completed by polling, the backend running between polls.
    let mut written = Vec::new();
    for i in 0..12u32 {
        let lba = 100 + i * 8;
        let data = pattern(u64::from(lba), 8, 3);
        let info = SrbInfo::parse(&srb(&write10(lba, 8, false), SRB_FLAGS_DATA_OUT, 4096)).unwrap();
        let buf = Some(data.clone());
        let (finished, allocations) = counted(|| {
            path.run(u64::from(i), &info, buf, 100_000, || {
                uncounted(|| backend.lock().unwrap().service().unwrap());
            })
        });
        assert_eq!(finished.outcome, Outcome::good(4096), "write {i}");
        assert_eq!(allocations, 0, "write {i} allocated");
        written.push((lba, data));
    }
    let flush = SrbInfo::parse(&srb(&[0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0, 0)).unwrap();
    let finished = path.run(99, &flush, None, 100_000, || {
        backend.lock().unwrap().service().unwrap();
    });
    assert_eq!(finished.outcome, Outcome::good(0));

    // What blkback stored is what was written.
    let stored = storage.lock().unwrap();
    for (lba, data) in &written {
        let at = *lba as usize * 512;
        assert_eq!(&stored.data[at..at + data.len()], &data[..], "lba {lba}");
    }
    assert!(stored.ops.contains(&Op::Flush));
    drop(stored);
    // The backend serves the dump ring alone: one ring, through reserved references only.
    let front = bus.sim.xenstored.connect(0);
    let dir = &paths.frontend;
    let abs = format!("/local/domain/{GUEST}/{dir}");
    let ring_ref: u32 = front
        .read_string(&format!("{abs}/ring-ref"))
        .unwrap()
        .parse()
        .unwrap();
    assert!((8..32).contains(&ring_ref));
    assert!(front
        .read(&format!("{abs}/multi-queue-num-queues"))
        .is_err());

    // A second dump (hibernating again after a resume) takes the vbd over again on the same
    // ring, which carries on from where the first left it.
    // SAFETY: the block prepare() made; the first path reference is not used again.
    let path = unsafe {
        start::<Vec<u8>>(block, 10_000, || {
            backend.lock().unwrap().poll().unwrap();
            sleep(Duration::from_micros(100));
        })
    }
    .unwrap();
    let data = pattern(7, 8, 5);
    let info = SrbInfo::parse(&srb(&write10(7, 8, false), SRB_FLAGS_DATA_OUT, 4096)).unwrap();
    let finished = path.run(100, &info, Some(data.clone()), 100_000, || {
        backend.lock().unwrap().service().unwrap();
    });
    assert_eq!(finished.outcome, Outcome::good(4096));
    assert_eq!(
        &storage.lock().unwrap().data[7 * 512..7 * 512 + 4096],
        &data[..]
    );

    // The normal instance going away cannot free pages the backend still maps ...
    // SAFETY: the block prepare() made; the path taken from it is not used again.
    let kept = unsafe { release::<Vec<u8>>(block) };
    assert_eq!(kept, Err(DumpBusError::Bus(BusError::StillInUse)));
    // ... and once it let go, every reserved reference is back to the guest alone.
    backend.lock().unwrap().stop().unwrap();
    // SAFETY: as above; the block was kept by the failed release.
    unsafe { release::<Vec<u8>>(block) }.unwrap();
    for r in 8..32 {
        assert!(!grants.in_use(r));
    }
    assert_eq!(grants.active(), before);
}

#[test]
fn a_failed_preparation_leaves_no_reserved_reference_granted() {
    let bus = SimBus::new();
    let home = SimDumpHome::new(&bus, 24).unwrap();
    let grants = home.grant_table().clone();
    let dump_provider = Arc::new(DumpProvider::new(home));
    let config = BackendConfig {
        front_dom: GUEST,
        ..BackendConfig::default()
    };
    let disk = Arc::new(config.disk_props(SECTORS).disk().unwrap());
    // Five pages are granted one by one, then cannot hold a ring and a request's pool.
    let (mem, frames) = bus.sim.host.frames.alloc(GUEST, 5).unwrap();
    let err = prepare::<Vec<u8>>(
        Arc::new(dump_child(&dump_provider)),
        Vbd {
            backend_domain: 0,
            vdev: DEVID,
            frontend: "device/vbd/51712",
            backend: "/local/domain/0/backend/vbd/1/51712",
            disk,
            features: Features::default(),
        },
        mem,
        &frames,
    )
    .err();
    assert!(
        matches!(
            err,
            Some(xenpv_winvbd::dump_bus::PrepareError::Path(
                xenpv_winvbd::dump::DumpError::TooFewPages(5)
            ))
        ),
        "{err:?}"
    );
    for r in 8..13 {
        assert_eq!(
            grants.pin(r, 0, false).err(),
            Some(xenpv_sim::host::GrantError::NotPermitted),
            "ref {r} still lets the backend in"
        );
    }
}
