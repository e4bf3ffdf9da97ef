//! The whole vbd through xenstore: the guest's frontend driver over its store ring, blkback in
//! dom0 following it; negotiation, online resize, backend restart and suspend/resume with requests
//! in flight, checked by the verify workload.

use std::sync::{Arc, Mutex};

use xenpv_control::vbd::FrontWishes;
use xenpv_datapath::blkif::{IoError, QueueConfig, QueueHandle};
use xenpv_sim::blkback::verify::Verifier;
use xenpv_sim::blkback::xs_disk::XsDisk;
use xenpv_sim::blkback::{BackendConfig, MemDisk, SharedStorage};
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
