//! The whole vbd through xenstore: the guest's frontend driver over its store ring, blkback in
//! dom0 following it; negotiation, online resize, backend restart and suspend/resume with requests
//! in flight, checked by the verify workload.

use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::{Duration, Instant};

use xenpv_abi::xenbus::XenbusState;
use xenpv_control::vbd::{FrontWishes, VbdFrontend};
use xenpv_control::xenbus::driver::FrontendDriver;
use xenpv_control::xs::client::{Client, RingTransport};
use xenpv_datapath::blkif::{IoError, QueueConfig, QueueHandle};
use xenpv_sim::blkback::verify::Verifier;
use xenpv_sim::blkback::xenstore::VbdBackend;
use xenpv_sim::blkback::xs_disk::{VbdDriver, XsDisk};
use xenpv_sim::blkback::{BackendConfig, MemDisk, SharedStorage};
use xenpv_sim::domain::{GuestSignal, Sim};
use xenpv_sim::guest::SimPlatform;
use xenpv_sim::host::HostConfig;
use xenpv_sim::xenstored::StoreOps;

const DEVID: u32 = 51712; // xvda
const SECTORS: u64 = 8192;

struct World {
    d: XsDisk,
    disk: Arc<Mutex<MemDisk>>,
}

impl World {
    fn until(&mut self, what: &'static str, mut done: impl FnMut(&mut XsDisk) -> bool) {
        self.d.until(what, &mut done).unwrap();
    }

    fn front_key(&self, key: &str) -> Option<String> {
        self.d
            .sim
            .xenstored
            .connect(0)
            .read_string(&format!("{}/{key}", self.d.backend.frontend))
            .ok()
    }
}

fn world(config: BackendConfig, wishes: FrontWishes) -> World {
    let disk = Arc::new(Mutex::new(MemDisk::new(SECTORS)));
    let storage: SharedStorage = disk.clone();
    let d = XsDisk::new(config, storage, wishes, QueueConfig::default(), DEVID).unwrap();
    World { d, disk }
}

fn wishes() -> FrontWishes {
    FrontWishes {
        persistent: true,
        indirect: true,
        ring_order: 1,
        queues: 2,
    }
}

/// Submits `reqs` writes of the verifier on `h`, returning their tags.
/// Submits `n` writes of 16 blocks with gaps between them (so that none is merged with another).
fn submit_writes(v: &mut Verifier, h: &QueueHandle<Vec<u8>>, first: u64, n: u64) {
    for i in 0..n {
        h.submit(v.write(first + i, (first + i) * 20, 16, Vec::new()))
            .unwrap();
    }
}

fn collect(w: &mut World, h: &mut QueueHandle<Vec<u8>>, n: usize) {
    let mut got = 0;
    w.until("completions", |_| {
        while let Some(c) = h.completion() {
            assert_eq!(c.result, Ok(()), "tag {}", c.tag);
            got += 1;
        }
        got == n
    });
}

/// Reads the whole disk back and checks it.
fn verify_all(w: &mut World, h: &mut QueueHandle<Vec<u8>>, v: &Verifier) {
    for b in (0..v.blocks()).step_by(32) {
        h.submit(v.read(b, b, 32, Vec::new())).unwrap();
        let mut done = None;
        w.until("a read", |_| {
            done = h.completion();
            done.is_some()
        });
        let c = done.unwrap();
        c.result.unwrap();
        v.check(b * v.block_sectors(), &c.buf).unwrap();
    }
}

#[test]
fn negotiation_is_written_as_blkif_specifies() {
    let config = BackendConfig {
        max_queues: 2,
        max_ring_page_order: 1,
        ..BackendConfig::default()
    };
    let w = world(config, wishes());
    assert_eq!(w.front_key("multi-queue-num-queues").as_deref(), Some("2"));
    assert_eq!(w.front_key("ring-page-order").as_deref(), Some("1"));
    assert!(w.front_key("queue-1/ring-ref1").is_some());
    assert!(w.front_key("queue-0/event-channel").is_some());
    assert_eq!(w.front_key("ring-ref"), None);
    assert_eq!(w.front_key("protocol").as_deref(), Some("x86_64-abi"));
    assert_eq!(w.front_key("feature-persistent").as_deref(), Some("1"));
    let n = w.d.driver.device().negotiated().unwrap();
    assert_eq!((n.queues, n.ring_order), (2, 1));
    assert!(n.features.persistent);
    assert_eq!(n.features.max_indirect_segments, 256);
    let disk = w.d.driver.device().disk().unwrap();
    assert_eq!(
        (disk.sectors(), disk.sector_size, disk.physical_sector_size),
        (SECTORS, 512, 4096)
    );
}

#[test]
fn online_resize_reaches_the_frontend_through_the_sectors_watch() {
    let mut w = world(BackendConfig::default(), wishes());
    let mut h = w.d.driver.device_mut().take_handles().remove(0);
    let mut v = Verifier::new(SECTORS * 2, 8192, 5);
    h.submit(v.write(0, SECTORS / 16, 1, Vec::new())).unwrap();
    let mut result = None;
    w.until("the refused write", |_| {
        result = h.completion().map(|c| c.result);
        result.is_some()
    });
    assert_eq!(result, Some(Err(IoError::OutOfRange)));
    w.disk.lock().unwrap().resize(SECTORS * 2);
    w.d.backend.publish_size().unwrap();
    w.until("the new size", |d| {
        d.driver.device().disk().unwrap().sectors() == SECTORS * 2
    });
    h.submit(v.write(1, SECTORS / 16, 1, Vec::new())).unwrap();
    collect(&mut w, &mut h, 1);
}

#[test]
fn a_backend_restart_with_requests_in_flight_loses_nothing() {
    let mut w = world(BackendConfig::default(), wishes());
    let mut handles = w.d.driver.device_mut().take_handles();
    let mut v = Verifier::new(SECTORS, 4096, 11);
    submit_writes(&mut v, &handles[0], 0, 24);
    submit_writes(&mut v, &handles[1], 24, 24);
    for q in w.d.driver.device_mut().queues_mut() {
        q.service().unwrap();
    }
    let in_flight: usize = w.d.driver.device().queues_len_in_flight();
    assert_eq!(in_flight, 48, "all issued, none answered");

    // The backend dies and comes back with smaller limits and no persistent grants.
    let restarted = BackendConfig {
        persistent: false,
        max_indirect_segments: 0,
        ..BackendConfig::default()
    };
    w.d.restart_backend(restarted).unwrap();
    assert!(
        !w.d.driver
            .device()
            .negotiated()
            .unwrap()
            .features
            .persistent
    );
    let (a, b) = handles.split_at_mut(1);
    collect(&mut w, &mut a[0], 24);
    collect(&mut w, &mut b[0], 24);
    let replayed: u64 =
        w.d.driver
            .device_mut()
            .queues_mut()
            .iter()
            .map(|q| q.stats().replayed)
            .sum();
    assert_eq!(replayed, 48);
    verify_all(&mut w, &mut handles[0], &v);
}

#[test]
fn suspend_and_resume_with_requests_in_flight_loses_nothing() {
    let mut w = world(BackendConfig::default(), wishes());
    let mut handles = w.d.driver.device_mut().take_handles();
    let mut v = Verifier::new(SECTORS, 4096, 12);
    submit_writes(&mut v, &handles[0], 0, 16);
    for q in w.d.driver.device_mut().queues_mut() {
        q.service().unwrap();
    }
    // Suspend and resume with the requests in flight.
    w.d.suspend_resume().unwrap();
    collect(&mut w, &mut handles[0], 16);
    verify_all(&mut w, &mut handles[0], &v);
    let disk = w.disk.lock().unwrap();
    assert!(disk.flushes() == 0, "no flush was asked for");
}

/// Writes and verifies `n` blocks through queue 0.
fn write_and_verify(w: &mut World, seed: u64, n: u64) {
    let mut h = w.d.driver.device_mut().take_handles().remove(0);
    let mut v = Verifier::new(SECTORS, 4096, seed);
    submit_writes(&mut v, &h, 0, n);
    collect(w, &mut h, n as usize);
    verify_all(w, &mut h, &v);
}

#[test]
fn persistent_grants_are_agreed_once_the_backend_has_connected() {
    // The sim blkback, as Linux's, writes feature-persistent only when it connects, after our
    // setup: deciding at setup would see no offer while we wrote feature-persistent=1, and the
    // backend would map our read-only write grants writable and fail every write.
    let mut w = world(BackendConfig::default(), wishes());
    assert_eq!(w.front_key("feature-persistent").as_deref(), Some("1"));
    assert!(
        w.d.driver
            .device()
            .negotiated()
            .unwrap()
            .features
            .persistent
    );
    write_and_verify(&mut w, 21, 24);
    let back = w.d.backend.back.as_ref().unwrap();
    assert!(
        back.persistent_grants() > 0,
        "the backend kept its mappings"
    );
}

#[test]
fn persistence_is_off_when_either_side_declines() {
    let declining = BackendConfig {
        persistent: false,
        ..BackendConfig::default()
    };
    let shy = FrontWishes {
        persistent: false,
        ..wishes()
    };
    for (config, wishes) in [(declining, wishes()), (BackendConfig::default(), shy)] {
        let mut w = world(config, wishes);
        assert!(
            !w.d.driver
                .device()
                .negotiated()
                .unwrap()
                .features
                .persistent
        );
        write_and_verify(&mut w, 22, 24);
        assert_eq!(w.d.backend.back.as_ref().unwrap().persistent_grants(), 0);
    }
}

#[test]
fn features_are_not_read_before_the_backend_connects() {
    // In InitWait the backend has published its transport limits only.
    let sim = Sim::new(HostConfig::default());
    let storage: SharedStorage = Arc::new(Mutex::new(MemDisk::new(SECTORS)));
    let backend = VbdBackend::create(
        &sim.xenstored,
        sim.host.clone(),
        BackendConfig::default(),
        storage,
        DEVID,
    )
    .unwrap();
    let dom0 = sim.xenstored.connect(0);
    let key = |k: &str| dom0.read_string(&format!("{}/{k}", backend.backend)).ok();
    assert_eq!(key("max-ring-page-order").as_deref(), Some("4"));
    assert_eq!(key("feature-persistent"), None);
    assert_eq!(key("feature-flush-cache"), None);
    assert_eq!(key("sectors"), None);
}

/// Steps the backend and the guest's store until `done`.
fn pump(
    backend: &mut VbdBackend,
    xs: &mut Client<RingTransport<GuestSignal>>,
    driver: &mut VbdDriver,
    done: impl Fn(&VbdDriver, XenbusState) -> bool,
) {
    let start = Instant::now();
    while !done(driver, backend.state()) {
        assert!(start.elapsed() < Duration::from_secs(20), "stuck");
        backend.poll().unwrap();
        xs.process_pending().unwrap();
        while let Some(ev) = xs.try_event() {
            driver.on_watch(xs, &ev).unwrap();
        }
        sleep(Duration::from_micros(200));
    }
}

#[test]
fn a_device_attached_again_on_the_same_store_connection_connects() {
    // The frontend's `sectors` watch must go with the device it belongs to: a second device for
    // the same vbd on the same store connection registers it again.
    let sim = Sim::new(HostConfig::default());
    let config = BackendConfig::default();
    let guest = sim.create_guest(config.front_dom).unwrap();
    let storage: SharedStorage = Arc::new(Mutex::new(MemDisk::new(SECTORS)));
    let mut backend =
        VbdBackend::create(&sim.xenstored, sim.host.clone(), config, storage, DEVID).unwrap();
    let mut xs = guest.store().unwrap();
    for _ in 0..2 {
        let device = VbdFrontend::<SimPlatform, Vec<u8>>::new(
            guest.platform().clone(),
            DEVID as u16,
            wishes(),
            QueueConfig::default(),
        );
        let mut driver =
            FrontendDriver::attach(&mut xs, &format!("device/vbd/{DEVID}"), device).unwrap();
        driver.connect(&mut xs).unwrap();
        pump(&mut backend, &mut xs, &mut driver, |d, back| {
            d.machine().is_connected() && back == XenbusState::Connected
        });
        assert!(driver.device().negotiated().is_some());
        driver.close(&mut xs).unwrap();
        pump(&mut backend, &mut xs, &mut driver, |d, back| {
            d.machine().state() == XenbusState::Closed && back == XenbusState::Closed
        });
        driver.detach(&mut xs).unwrap();
    }
}
