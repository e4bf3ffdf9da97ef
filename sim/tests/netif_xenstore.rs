//! The whole vif connection through xenstore: the toolstack creates the device, the sim netback
//! advertises its features, the frontend's XenbusState machine sets up the netfront and writes
//! its keys over the guest's store ring, traffic flows; then the backend closes under in-flight
//! packets and the frontend reconnects.

use std::time::Duration;

use xenpv_abi::xenbus::XenbusState;
use xenpv_control::vif::{VifDeviceError, VifFrontend, VifWishes};
use xenpv_control::xenbus::FrontendDriver;
use xenpv_control::xs::client::{Client, Store, Transport};
use xenpv_datapath::netif::{OwnedPacket, TxDone, TxOffload, TxStatus};
use xenpv_sim::domain::Sim;
use xenpv_sim::guest::SimPlatform;
use xenpv_sim::host::HostConfig;
use xenpv_sim::netback::pair::linux_netback;
use xenpv_sim::netback::xenstore::handshake;
use xenpv_sim::netback::xenstore::NetbackDevice;
use xenpv_sim::toolstack::{create_device, DeviceSpec};

type Pkt = OwnedPacket<Vec<u8>>;
type Driver = FrontendDriver<VifFrontend<Pkt, SimPlatform>>;

fn settle<T: Transport>(
    client: &mut Client<T>,
    drv: &mut Driver,
    back: &mut NetbackDevice,
    done: impl Fn(&Driver, &NetbackDevice) -> bool,
) {
    handshake(client, drv, back, Duration::from_secs(20), done).unwrap();
}

fn frame(tag: u32) -> Pkt {
    let mut f = vec![0x11; 200];
    f[..4].copy_from_slice(&tag.to_be_bytes());
    OwnedPacket {
        frame: f,
        offload: TxOffload::default(),
    }
}

#[test]
fn connect_exchange_lose_the_backend_and_reconnect() {
    let sim = Sim::new(HostConfig {
        frames: 1 << 14,
        grant_entries: 1 << 14,
        ports: 128,
    });
    let guest = sim.create_guest(1).unwrap();
    let dom0 = sim.xenstored.connect(0);
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
        NetbackDevice::attach(&sim.host, &sim.xenstored, &dev, 1, linux_netback(2)).unwrap();

    let mut client = guest.store().unwrap();
    // The guest's frontend platform is its own view of the host.
    let platform = std::sync::Arc::new(SimPlatform::new(sim.host.clone(), 1));
    let wishes = VifWishes {
        queues: 4,
        ..VifWishes::default()
    };
    let mut drv: Driver = FrontendDriver::attach(
        &mut client,
        &dev.frontend,
        VifFrontend::new(platform, wishes),
    )
    .unwrap();
    drv.connect(&mut client).unwrap();
    settle(&mut client, &mut drv, &mut back, |d, b| {
        d.machine().is_connected() && b.state() == XenbusState::Connected
    });

    let n = drv.device_mut().negotiated().unwrap().clone();
    assert_eq!(
        n.config.queues, 2,
        "capped at the backend's multi-queue-max-queues"
    );
    assert!(n.config.split_event_channels && n.config.ctrl_ring);
    assert!(n.config.tx.gso_tcpv4 && n.config.tx.sg);
    let written = client
        .read_string(&format!("{}/multi-queue-num-queues", dev.frontend))
        .unwrap();
    assert_eq!(written, "2");

    // Traffic over the connected vif.
    let mut received = Vec::new();
    let exchange = |drv: &mut Driver,
                    back: &mut NetbackDevice,
                    tags: std::ops::Range<u32>,
                    poll_back: bool,
                    received: &mut Vec<u32>| {
        let plat = drv.device().platform().clone();
        let front = drv.device_mut().netfront().unwrap();
        for t in tags {
            let q = &mut front.queues_mut()[t as usize % 2];
            q.send(frame(t)).map_err(|(_, w)| w).unwrap();
            q.flush(&*plat);
        }
        if poll_back {
            back.poll().unwrap();
            for q in front.queues_mut() {
                q.poll(
                    &*plat,
                    &mut |d| {
                        assert!(matches!(
                            d,
                            TxDone::Packet {
                                status: TxStatus::Ok,
                                ..
                            }
                        ))
                    },
                    &mut |_, b| received.push(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
                )
                .unwrap();
            }
        }
    };
    exchange(&mut drv, &mut back, 0..50, true, &mut received);
    received.sort_unstable();
    assert_eq!(received, (0..50).collect::<Vec<_>>());

    // Carrier: the backend's key drives the link state; while down, packets are refused.
    back.set_carrier(false).unwrap();
    let paths = drv.paths().clone();
    assert_eq!(drv.device_mut().update_link(&mut client, &paths), Ok(false));
    let q = &mut drv.device_mut().netfront().unwrap().queues_mut()[0];
    assert_eq!(
        q.send(frame(999)).map_err(|(_, w)| w),
        Err(xenpv_datapath::netif::TxRefused::LinkDown)
    );
    back.set_carrier(true).unwrap();
    assert_eq!(drv.device_mut().update_link(&mut client, &paths), Ok(true));

    // Packets in flight when the backend goes away.
    exchange(&mut drv, &mut back, 50..80, false, &mut received);
    back.close().unwrap();
    settle(&mut client, &mut drv, &mut back, |d, _| {
        d.machine().state() == XenbusState::Closed
    });
    let aborted = drv.device_mut().take_aborted();
    let mut tags: Vec<u32> = aborted
        .iter()
        .map(|d| match d {
            TxDone::Packet { packet, status } => {
                assert_eq!(*status, TxStatus::Disconnected);
                u32::from_be_bytes([
                    packet.frame[0],
                    packet.frame[1],
                    packet.frame[2],
                    packet.frame[3],
                ])
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    tags.sort_unstable();
    assert_eq!(
        tags,
        (50..80).collect::<Vec<_>>(),
        "each in-flight packet completed once"
    );
    assert!(drv.device_mut().netfront().is_none());

    // The backend comes back (InitWait) and the frontend reconnects by itself.
    settle(&mut client, &mut drv, &mut back, |d, b| {
        d.machine().is_connected() && b.state() == XenbusState::Connected
    });
    received.clear();
    exchange(&mut drv, &mut back, 100..120, true, &mut received);
    received.sort_unstable();
    assert_eq!(received, (100..120).collect::<Vec<_>>());
    assert!(drv.device_mut().take_aborted().is_empty());
}

/// Feeds the store's pending watch events to the vif's own watch handler until it reports a
/// carrier change.
fn carrier_event<T: Transport>(client: &mut Client<T>, drv: &mut Driver) -> bool {
    let paths = drv.paths().clone();
    for _ in 0..5000 {
        client.process_pending().unwrap();
        while let Some(ev) = client.try_event() {
            if let Some(up) = drv.device_mut().on_watch(client, &paths, &ev).unwrap() {
                return up;
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    panic!("no carrier event");
}

/// Once connected, the frontend watches the backend's `carrier` and its link follows without
/// being asked; and with `feature-dynamic-multicast-control` it turns multicast filtering on
/// while connected, which the backend picks up from `request-multicast-control`.
#[test]
fn carrier_is_watched_and_multicast_control_changes_while_connected() {
    let sim = Sim::new(HostConfig {
        frames: 1 << 14,
        grant_entries: 1 << 14,
        ports: 128,
    });
    let guest = sim.create_guest(1).unwrap();
    let dom0 = sim.xenstored.connect(0);
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
        NetbackDevice::attach(&sim.host, &sim.xenstored, &dev, 1, linux_netback(1)).unwrap();
    let mut client = guest.store().unwrap();
    let platform = std::sync::Arc::new(SimPlatform::new(sim.host.clone(), 1));
    let mut drv: Driver = FrontendDriver::attach(
        &mut client,
        &dev.frontend,
        VifFrontend::new(platform.clone(), VifWishes::default()),
    )
    .unwrap();
    let paths = drv.paths().clone();
    let mut idle: VifFrontend<Pkt, SimPlatform> =
        VifFrontend::new(platform.clone(), VifWishes::default());
    assert_eq!(
        idle.set_multicast_control(&mut client, &paths, true),
        Err(VifDeviceError::NotOffered(
            "feature-dynamic-multicast-control"
        )),
        "nothing negotiated yet"
    );
    drv.connect(&mut client).unwrap();
    settle(&mut client, &mut drv, &mut back, |d, b| {
        d.machine().is_connected() && b.state() == XenbusState::Connected
    });

    let link = |drv: &mut Driver| drv.device_mut().netfront().unwrap().queues()[0].link_up();
    back.set_carrier(false).unwrap();
    assert!(!carrier_event(&mut client, &mut drv));
    assert!(!link(&mut drv), "down as soon as the watch fired");
    back.set_carrier(true).unwrap();
    assert!(carrier_event(&mut client, &mut drv));
    assert!(link(&mut drv));

    let group = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x07];
    let send_group = |drv: &mut Driver, back: &mut NetbackDevice| -> usize {
        let mut f = vec![0x22; 120];
        f[..6].copy_from_slice(&group);
        let front = drv.device_mut().netfront().unwrap();
        let q = &mut front.queues_mut()[0];
        q.send(OwnedPacket {
            frame: f,
            offload: TxOffload::default(),
        })
        .map_err(|(_, w)| w)
        .unwrap();
        q.flush(&*platform);
        back.poll().unwrap();
        let mut got = 0;
        q.poll(&*platform, &mut |_| {}, &mut |_, _| got += 1)
            .unwrap();
        got
    };
    assert_eq!(send_group(&mut drv, &mut back), 1, "no filtering asked for");
    drv.device_mut()
        .set_multicast_control(&mut client, &paths, true)
        .unwrap();
    back.process().unwrap();
    assert_eq!(send_group(&mut drv, &mut back), 0, "filtered: not joined");
    assert_eq!(back.vif().unwrap().port().dropped(), 1);
    let front = drv.device_mut().netfront().unwrap();
    front.queues_mut()[0].multicast(group, true).unwrap();
    front.queues_mut()[0].flush(&*platform);
    back.poll().unwrap();
    assert_eq!(send_group(&mut drv, &mut back), 1, "joined");
    drv.device_mut()
        .set_multicast_control(&mut client, &paths, false)
        .unwrap();
    back.process().unwrap();
    assert!(
        !drv.device()
            .negotiated()
            .unwrap()
            .frontend
            .multicast_control
    );
    assert_eq!(send_group(&mut drv, &mut back), 1, "unfiltered again");
    drv.device_mut().netfront().unwrap().queues_mut()[0]
        .multicast(group, false)
        .unwrap();
}
