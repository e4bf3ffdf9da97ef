//! The control plane's vif machine and the netif core, unchanged, on a child: store through a bus
//! session, grants and event channels through BusPlatform, against the sim's netback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use xenpv_abi::xenbus::XenbusState;
use xenpv_busif::sim::{Poller, SimBus, SimWaker};
use xenpv_busif::{open_store, BusPlatform};
use xenpv_control::vif::{VifFrontend, VifWishes};
use xenpv_control::xenbus::FrontendDriver;
use xenpv_datapath::netif::{OwnedPacket, TxDone, TxOffload, TxStatus};
use xenpv_sim::netback::pair::{linux_netback, step};
use xenpv_sim::netback::xenstore::{handshake, NetbackDevice};
use xenpv_sim::toolstack::{create_device, DeviceSpec};
use xenpv_sim::xenstored::StoreOps;

type Pkt = OwnedPacket<Arc<[u8]>>;

#[test]
fn a_vif_connects_and_moves_packets_through_the_bus_interface() {
    let bus = SimBus::new();
    let _poller = Poller::start(&bus.provider);
    let dom0 = bus.sim.xenstored.connect(0);
    let spec = DeviceSpec {
        class: "vif",
        id: 0,
        frontend: 1,
        backend: 0,
        frontend_keys: &[("mac", "00:16:3e:00:00:01")],
        backend_keys: &[],
    };
    let dev = create_device(&dom0, &spec).unwrap();
    let mut back =
        NetbackDevice::attach(&bus.sim.host, &bus.sim.xenstored, &dev, 1, linux_netback(1))
            .unwrap();

    // What XENNET holds: the table from QUERY_INTERFACE, a store session, the platform.
    let child = bus.child();
    let mut store = open_store(&child, Arc::new(SimWaker::default())).unwrap();
    let platform = Arc::new(BusPlatform::new(child.clone()));
    let mut drv = FrontendDriver::attach(
        &mut store,
        &dev.frontend,
        VifFrontend::<Pkt, _>::new(platform.clone(), VifWishes::default()),
    )
    .unwrap();
    drv.connect(&mut store).unwrap();
    handshake(
        &mut store,
        &mut drv,
        &mut back,
        Duration::from_secs(30),
        |d, b| d.machine().is_connected() && b.state() == XenbusState::Connected,
    )
    .unwrap();

    // Frames out and back (the sim netback loops them), through rings granted via the bus.
    let frame: Arc<[u8]> = Arc::from(vec![0xa5u8; 1000].into_boxed_slice());
    let (mut to_send, mut ok, mut received) = (20u64, 0u64, 0u64);
    let mut held = vec![None];
    for _ in 0..10_000 {
        let front = drv.device_mut().netfront().unwrap();
        step(
            front,
            bus.guest.platform(),
            &mut held,
            &mut || back.poll().map(|_| ()),
            &mut |_| {
                (to_send > 0).then(|| {
                    to_send -= 1;
                    OwnedPacket {
                        frame: frame.clone(),
                        offload: TxOffload::default(),
                    }
                })
            },
            &mut |d| {
                if matches!(
                    d,
                    TxDone::Packet {
                        status: TxStatus::Ok,
                        ..
                    }
                ) {
                    ok += 1;
                }
            },
            &mut |_, _, data| {
                assert_eq!(data.len(), 1000);
                received += 1;
            },
        )
        .unwrap();
        if ok == 20 && received == 20 {
            break;
        }
    }
    assert_eq!((ok, received), (20, 20));
    // Grants the bus handed out are what the backend mapped: the guest's table has them.
    assert!(bus.guest.platform().host().grant_table(1).active() > 0);
}

/// A migration as the vif sees it through the bus: while the domain is suspended the old
/// backend goes, the toolstack writes the frontend's state anew (Initialising) and a fresh backend
/// waits (InitWait). The resumed bus starts from a clean xenstored connection (what the guest
/// heard meanwhile is dropped with it), so nothing tells the vif but its backend watch, which the
/// bus registers again and xenstored fires: that alone takes it through teardown to a new
/// connection with the new backend.
#[test]
fn a_vif_reconnects_to_the_new_hosts_backend_after_the_bus_resumed() {
    let bus = SimBus::new();
    let _poller = Poller::start(&bus.provider);
    let dom0 = bus.sim.xenstored.connect(0);
    let spec = DeviceSpec {
        class: "vif",
        id: 0,
        frontend: 1,
        backend: 0,
        frontend_keys: &[("mac", "00:16:3e:00:00:01")],
        backend_keys: &[],
    };
    let dev = create_device(&dom0, &spec).unwrap();
    let back = Arc::new(Mutex::new(Some(
        NetbackDevice::attach(&bus.sim.host, &bus.sim.xenstored, &dev, 1, linux_netback(1))
            .unwrap(),
    )));
    let child = bus.child();
    let mut store = open_store(&child, Arc::new(SimWaker::default())).unwrap();
    let platform = Arc::new(BusPlatform::new(child.clone()));
    let mut drv = FrontendDriver::attach(
        &mut store,
        &dev.frontend,
        VifFrontend::<Pkt, _>::new(platform.clone(), VifWishes::default()),
    )
    .unwrap();
    drv.connect(&mut store).unwrap();
    let connected = |d: &FrontendDriver<_>, b: &NetbackDevice| {
        d.machine().is_connected() && b.state() == XenbusState::Connected
    };
    let limit = Duration::from_secs(30);
    let mut b = back.lock().unwrap().take().unwrap();
    handshake(&mut store, &mut drv, &mut b, limit, connected).unwrap();
    *back.lock().unwrap() = Some(b);

    let (host, xenstored, d, slot) = (
        bus.sim.host.clone(),
        bus.sim.xenstored.clone(),
        dev.clone(),
        back.clone(),
    );
    *bus.provider.host().1.meanwhile.lock().unwrap() = Some(Box::new(move || {
        drop(slot.lock().unwrap().take());
        xenstored
            .connect(0)
            .write(&format!("{}/state", d.frontend), "1")
            .unwrap();
        *slot.lock().unwrap() =
            Some(NetbackDevice::attach(&host, &xenstored, &d, 1, linux_netback(1)).unwrap());
    }));
    assert_eq!(
        child.request_suspend(),
        Ok(xenpv_busif::SuspendOutcome::Resumed)
    );
    let mut b = back.lock().unwrap().take().unwrap();
    assert_eq!(b.state(), XenbusState::InitWait);
    // Only real watch events reach the driver here (the sim's `handshake` wakes it without one).
    let start = std::time::Instant::now();
    while !connected(&drv, &b) {
        assert!(
            start.elapsed() < limit,
            "no reconnection: front {:?}, back {:?}",
            drv.machine().state(),
            b.state()
        );
        b.process().unwrap();
        store.process_pending().unwrap();
        while let Some(ev) = store.try_event() {
            drv.on_watch(&mut store, &ev).unwrap();
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}
