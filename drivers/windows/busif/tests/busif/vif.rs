//! The control plane's vif machine and the netif core, unchanged, on a child: store through a bus
//! session, grants and event channels through BusPlatform, against the sim's netback.

use std::sync::Arc;
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
