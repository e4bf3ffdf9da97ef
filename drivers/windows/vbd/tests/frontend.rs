//! The miniport over a vbd brought up through xenstore: the frontend driver's handshake with
//! the sim's blkback (through xenstored), SRBs written, the backend restarted with writes in
//! flight, the frontend recovering by itself, and everything read back — and a protocol error
//! that closes the device, after which it connects again.

mod harness;

use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::Duration;

use harness::*;
use xenpv_control::vbd::VbdFrontend;
use xenpv_control::xenbus::FrontendDriver;
use xenpv_control::xs::client::{Client, RingTransport};
use xenpv_datapath::blkif::QueueConfig;
use xenpv_ddk::storport::srb::*;
use xenpv_sim::blkback::xenstore::VbdBackend;
use xenpv_sim::blkback::{BackendConfig, SharedStorage};
use xenpv_sim::domain::{GuestSignal, Sim};
use xenpv_sim::guest::SimPlatform;
use xenpv_sim::host::HostConfig;
use xenpv_winvbd::frontend::{close, handshake, recover, VbdDriver};
use xenpv_winvbd::miniport::{
    max_transfer, scsi_disk, wishes, Finished, Miniport, Prepared, Submitted,
};
use xenpv_winvbd::srb::{Outcome, SrbInfo};

const DEVID: u16 = 51712;

struct World {
    xs: Client<RingTransport<GuestSignal>>,
    driver: VbdDriver<SimPlatform, Vec<u8>>,
    miniport: Miniport<Vec<u8>>,
    backend: VbdBackend,
    _guest: xenpv_sim::domain::Guest,
    _sim: Sim,
}

fn world(config: BackendConfig) -> World {
    let sim = Sim::new(HostConfig::default());
    let guest = sim.create_guest(config.front_dom).unwrap();
    let storage: SharedStorage = Arc::new(Mutex::new(Recording::new(SECTORS)));
    let mut backend = VbdBackend::create(
        &sim.xenstored,
        sim.host.clone(),
        config,
        storage,
        DEVID.into(),
    )
    .unwrap();
    let mut xs = guest.store().unwrap();
    let queue = QueueConfig::default();
    let device = VbdFrontend::new(guest.platform().clone(), DEVID, wishes(2), queue);
    let mut driver =
        FrontendDriver::attach(&mut xs, &format!("device/vbd/{DEVID}"), device).unwrap();
    handshake(&mut xs, &mut driver, 100_000, |_| {
        backend.poll().unwrap();
        sleep(Duration::from_micros(100));
    })
    .unwrap();
    let n = driver.device().negotiated().unwrap();
    assert!(n.features.persistent && n.queues == 2);
    assert_eq!(max_transfer(&n.features, &queue), 256 * 4096);
    let blk = driver.device().disk().unwrap().clone();
    let disk = scsi_disk(blk, &n.features, &queue, DEVID).unwrap();
    let handles = driver.device_mut().take_handles();
    let miniport = Miniport::new(Arc::new(disk), handles, 64);
    World {
        xs,
        driver,
        miniport,
        backend,
        _guest: guest,
        _sim: sim,
    }
}

impl World {
    fn submit(&mut self, handle: u64, cpu: u32, image: &[u8], buf: Option<Vec<u8>>) {
        let info = SrbInfo::parse(image).unwrap();
        let Prepared::Block(cmd, buf) = self.miniport.prepare(&info, buf) else {
            panic!("a block command")
        };
        assert!(matches!(
            self.miniport.submit(handle, cpu, cmd, buf),
            Submitted::Queued { .. }
        ));
    }

    /// One round of everyone: the store, the queues, the backend; finished SRBs collected.
    fn step(&mut self, out: &mut Vec<Finished<Vec<u8>>>) {
        self.backend.poll().unwrap();
        recover(&mut self.xs, &mut self.driver).unwrap();
        for q in self.driver.device_mut().queues_mut() {
            let _ = q.service();
        }
        self.backend.service().unwrap();
        for (i, q) in self.driver.device_mut().queues_mut().iter_mut().enumerate() {
            let _ = q.service();
            self.miniport.collect(i, |f| out.push(f));
        }
        sleep(Duration::from_micros(100));
    }

    fn until_finished(&mut self, n: usize) -> Vec<Finished<Vec<u8>>> {
        let mut out = Vec::new();
        for _ in 0..200_000 {
            if out.len() >= n {
                break;
            }
            self.step(&mut out);
        }
        assert_eq!(out.len(), n, "SRBs finished");
        out
    }
}

#[test]
fn a_backend_restart_with_writes_in_flight_is_recovered_and_nothing_is_lost() {
    let mut w = world(BackendConfig::default());
    let writes: Vec<(u32, Vec<u8>)> = (0..16u32)
        .map(|i| (i * 48, pattern(u64::from(i) * 48, 16, 7)))
        .collect();
    for (i, (lba, data)) in writes.iter().enumerate() {
        w.submit(
            i as u64,
            i as u32,
            &srb(&write10(*lba, 16, false), SRB_FLAGS_DATA_OUT, 8192),
            Some(data.clone()),
        );
    }
    for q in w.driver.device_mut().queues_mut() {
        q.service().unwrap();
    }
    assert!(w.driver.device().queues_len_in_flight() > 0);
    // The backend goes away and comes back; the frontend follows through xenstore.
    w.backend.stop().unwrap();
    let mut out = Vec::new();
    for _ in 0..100_000 {
        if !w.driver.machine().has_rings() {
            break;
        }
        w.step(&mut out);
    }
    w.backend
        .restart(BackendConfig {
            persistent: false,
            ..BackendConfig::default()
        })
        .unwrap();
    out.extend(w.until_finished(16 - out.len()));
    let mut handles: Vec<u64> = out.iter().map(|f| f.handle).collect();
    handles.sort();
    assert_eq!(
        handles,
        (0..16).collect::<Vec<_>>(),
        "each SRB exactly once"
    );
    assert!(out.iter().all(|f| f.outcome == Outcome::good(8192)));
    let replayed: u64 = w
        .driver
        .device_mut()
        .queues_mut()
        .iter()
        .map(|q| q.stats().replayed)
        .sum();
    assert!(
        replayed > 0,
        "writes in flight were replayed on the new backend"
    );
    assert!(!w.driver.device().negotiated().unwrap().features.persistent);
    for (i, (lba, data)) in writes.iter().enumerate() {
        w.submit(
            100 + i as u64,
            0,
            &srb(&read10(*lba, 16), SRB_FLAGS_DATA_IN, 8192),
            Some(vec![0; 8192]),
        );
        let f = w.until_finished(1).pop().unwrap();
        assert_eq!(f.outcome, Outcome::good(8192));
        assert_eq!(f.buf.unwrap(), *data, "write {i}");
    }
}

#[test]
fn a_closed_device_connects_again_and_serves_requests() {
    let mut w = world(BackendConfig::default());
    // What the Windows glue does after a queue's protocol error: close, then recover.
    close(&mut w.xs, &mut w.driver).unwrap();
    let mut out = Vec::new();
    for _ in 0..100_000 {
        w.step(&mut out);
        if w.driver.machine().is_connected()
            && w.backend.state() == xenpv_abi::xenbus::XenbusState::Connected
        {
            break;
        }
    }
    assert!(w.driver.machine().is_connected(), "reconnected");
    w.submit(
        1,
        0,
        &srb(&write10(8, 1, false), SRB_FLAGS_DATA_OUT, 512),
        Some(vec![3; 512]),
    );
    let f = w.until_finished(1).pop().unwrap();
    assert_eq!(f.outcome, Outcome::good(512));
}
