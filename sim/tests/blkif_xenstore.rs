//! The whole vbd through xenstore: the guest's frontend driver over its store ring, blkback in
//! dom0 following it; negotiation, online resize, backend restart and suspend/resume with requests
//! in flight, checked by the verify workload.

use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::{Duration, Instant};

use xenpv_abi::xenbus::XenbusState;
use xenpv_control::vbd::{FrontWishes, VbdFrontend};
use xenpv_control::xenbus::driver::{switch_state, FrontendDriver};
use xenpv_control::xs::client::{Client, RingTransport};
use xenpv_datapath::blkif::{IoError, QueueConfig, QueueHandle};
use xenpv_sim::blkback::verify::Verifier;
use xenpv_sim::blkback::xenstore::VbdBackend;
use xenpv_sim::blkback::{BackendConfig, MemDisk, SharedStorage};
use xenpv_sim::domain::{GuestSignal, Sim};
use xenpv_sim::guest::SimPlatform;
use xenpv_sim::host::HostConfig;
use xenpv_sim::xenstored::StoreOps;

const DEVID: u32 = 51712; // xvda
const SECTORS: u64 = 8192;

type Driver = FrontendDriver<VbdFrontend<SimPlatform, Vec<u8>>>;
type Xs = Client<RingTransport<GuestSignal>>;

struct World {
    sim: Sim,
    xs: Xs,
    driver: Driver,
    backend: VbdBackend,
    disk: Arc<Mutex<MemDisk>>,
}

impl World {
    /// One round of everyone doing what is pending.
    fn step(&mut self) {
        self.backend.poll().unwrap();
        self.xs.process_pending().unwrap();
        while let Some(ev) = self.xs.try_event() {
            self.driver.on_watch(&mut self.xs, &ev).unwrap();
            let paths = self.driver.paths().clone();
            self.driver
                .device_mut()
                .on_watch(&mut self.xs, &paths, &ev)
                .unwrap();
        }
        for q in self.driver.device_mut().queues_mut() {
            q.service().unwrap();
        }
        self.backend.service().unwrap();
        for q in self.driver.device_mut().queues_mut() {
            q.service().unwrap();
        }
    }

    /// Steps until `done` holds (xenstored answers on its own thread).
    fn until(&mut self, what: &str, mut done: impl FnMut(&mut World) -> bool) {
        let start = Instant::now();
        while !done(self) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what}: frontend {:?}, backend {:?}",
                self.driver.machine(),
                self.backend.state()
            );
            self.step();
            sleep(Duration::from_millis(1));
        }
    }

    fn connected(&mut self) -> bool {
        self.driver.machine().is_connected() && self.backend.state() == XenbusState::Connected
    }

    fn front_key(&self, key: &str) -> Option<String> {
        self.sim
            .xenstored
            .connect(0)
            .read_string(&format!("{}/{key}", self.backend.frontend))
            .ok()
    }
}

fn world(config: BackendConfig, wishes: FrontWishes) -> World {
    let sim = Sim::new(HostConfig::default());
    let guest = sim.create_guest(1).unwrap();
    let disk = Arc::new(Mutex::new(MemDisk::new(SECTORS)));
    let storage: SharedStorage = disk.clone();
    let backend =
        VbdBackend::create(&sim.xenstored, sim.host.clone(), config, storage, DEVID).unwrap();
    let mut xs = guest.store().unwrap();
    let device = VbdFrontend::new(
        guest.platform().clone(),
        DEVID as u16,
        wishes,
        QueueConfig::default(),
    );
    let mut driver =
        FrontendDriver::attach(&mut xs, &format!("device/vbd/{DEVID}"), device).unwrap();
    driver.connect(&mut xs).unwrap();
    // The guest lives as long as its store ring is served; keep it with the sim.
    std::mem::forget(guest);
    let mut w = World {
        sim,
        xs,
        driver,
        backend,
        disk,
    };
    w.until("the first connection", World::connected);
    w
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
fn submit_writes(v: &mut Verifier, h: &QueueHandle<Vec<u8>>, first: u64, n: u64) {
    for i in 0..n {
        h.submit(v.write(first + i, (first + i) * 16, 16, Vec::new()))
            .unwrap();
    }
}

fn collect(w: &mut World, h: &mut QueueHandle<Vec<u8>>, n: usize) {
    let mut got = 0;
    w.until("completions", |w| {
        w.step();
        while let Some(c) = h.completion() {
            assert_eq!(c.result, Ok(()), "tag {}", c.tag);
            got += 1;
        }
        got == n
    });
}

fn verify_all(w: &mut World, h: &mut QueueHandle<Vec<u8>>, v: &Verifier, blocks: u64) {
    for b in (0..blocks).step_by(8) {
        h.submit(v.read(b, b, 8, Vec::new())).unwrap();
        let mut done = None;
        w.until("a read", |w| {
            w.step();
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
    let n = w.driver.device().negotiated().unwrap();
    assert_eq!((n.queues, n.ring_order), (2, 1));
    assert!(n.features.persistent);
    assert_eq!(n.features.max_indirect_segments, 256);
    let disk = w.driver.device().disk().unwrap();
    assert_eq!(
        (disk.sectors(), disk.sector_size, disk.physical_sector_size),
        (SECTORS, 512, 4096)
    );
}

#[test]
fn online_resize_reaches_the_frontend_through_the_sectors_watch() {
    let mut w = world(BackendConfig::default(), wishes());
    let mut h = w.driver.device_mut().take_handles().remove(0);
    let mut v = Verifier::new(SECTORS * 2, 8192, 5);
    h.submit(v.write(0, SECTORS / 16, 1, Vec::new())).unwrap();
    let mut result = None;
    w.until("the refused write", |w| {
        w.step();
        result = h.completion().map(|c| c.result);
        result.is_some()
    });
    assert_eq!(result, Some(Err(IoError::OutOfRange)));
    w.disk.lock().unwrap().resize(SECTORS * 2);
    w.backend.publish_size().unwrap();
    w.until("the new size", |w| {
        w.driver.device().disk().unwrap().sectors() == SECTORS * 2
    });
    h.submit(v.write(1, SECTORS / 16, 1, Vec::new())).unwrap();
    collect(&mut w, &mut h, 1);
}

#[test]
fn a_backend_restart_with_requests_in_flight_loses_nothing() {
    let mut w = world(BackendConfig::default(), wishes());
    let mut handles = w.driver.device_mut().take_handles();
    let mut v = Verifier::new(SECTORS, 4096, 11);
    submit_writes(&mut v, &handles[0], 0, 24);
    submit_writes(&mut v, &handles[1], 24, 24);
    for q in w.driver.device_mut().queues_mut() {
        q.service().unwrap();
    }
    let in_flight: usize = w.driver.device().queues_len_in_flight();
    assert_eq!(in_flight, 48, "all issued, none answered");

    // The backend dies and comes back with smaller limits and no persistent grants.
    w.backend.stop().unwrap();
    w.until("the frontend to let go", |w| {
        !w.driver.machine().has_rings()
    });
    let restarted = BackendConfig {
        persistent: false,
        max_indirect_segments: 0,
        ..BackendConfig::default()
    };
    w.backend.restart(restarted).unwrap();
    w.until("the reconnection", World::connected);
    assert!(!w.driver.device().negotiated().unwrap().features.persistent);
    let (a, b) = handles.split_at_mut(1);
    collect(&mut w, &mut a[0], 24);
    collect(&mut w, &mut b[0], 24);
    let replayed: u64 = w
        .driver
        .device_mut()
        .queues_mut()
        .iter()
        .map(|q| q.stats().replayed)
        .sum();
    assert_eq!(replayed, 48);
    verify_all(&mut w, &mut handles[0], &v, 48 * 4);
}

#[test]
fn suspend_and_resume_with_requests_in_flight_loses_nothing() {
    let mut w = world(BackendConfig::default(), wishes());
    let mut handles = w.driver.device_mut().take_handles();
    let mut v = Verifier::new(SECTORS, 4096, 12);
    submit_writes(&mut v, &handles[0], 0, 16);
    for q in w.driver.device_mut().queues_mut() {
        q.service().unwrap();
    }
    // Suspend: the guest closes its device; the backend lets go; then it comes back.
    w.driver.close(&mut w.xs).unwrap();
    w.until("the device to close", |w| {
        w.driver.machine().state() == XenbusState::Closed
            && w.backend.state() == XenbusState::Closed
    });
    // Resume: as Linux's xenbus_dev_resume, the frontend announces itself as Initialising, which
    // is what blkback waits for after Closed.
    let frontend = w.driver.paths().frontend.clone();
    switch_state(&mut w.xs, &frontend, XenbusState::Initialising).unwrap();
    w.driver.connect(&mut w.xs).unwrap();
    w.until("the reconnection", World::connected);
    collect(&mut w, &mut handles[0], 16);
    verify_all(&mut w, &mut handles[0], &v, 16 * 4);
    let disk = w.disk.lock().unwrap();
    assert!(disk.flushes() == 0, "no flush was asked for");
}
