//! Device enumeration end to end: a guest's enumerator, over its own store ring, sees the devices
//! the toolstack creates and destroys in the sim xenstored, and nothing of another guest's.

use std::collections::BTreeSet;

use xenpv_control::xenbus::{DeviceChange, DeviceEnumerator};
use xenpv_sim::domain::{Sim, DOM0};
use xenpv_sim::host::HostConfig;
use xenpv_sim::toolstack::{create_device, destroy_device, DeviceSpec};

fn spec(class: &str, id: u32, frontend: u16) -> DeviceSpec<'_> {
    DeviceSpec {
        class,
        id,
        frontend,
        backend: DOM0,
        frontend_keys: &[],
        backend_keys: &[],
    }
}

fn added(class: &str, id: &str) -> DeviceChange {
    DeviceChange::Added {
        class: class.into(),
        id: id.into(),
    }
}

fn removed(class: &str, id: &str) -> DeviceChange {
    DeviceChange::Removed {
        class: class.into(),
        id: id.into(),
    }
}

#[test]
fn hot_plug_and_unplug_reach_the_guest_through_watches() {
    let sim = Sim::new(HostConfig {
        frames: 64,
        grant_entries: 64,
        ports: 16,
    });
    let guest = sim.create_guest(3).unwrap();
    let other = sim.create_guest(4).unwrap();
    let dom0 = sim.xenstored.connect(DOM0);
    let vif0 = create_device(&dom0, &spec("vif", 0, 3)).unwrap();

    let mut xs = guest.store().unwrap();
    let (mut enumerator, initial) = DeviceEnumerator::start(&mut xs, "device").unwrap();
    assert_eq!(
        initial,
        [added("vif", "0")],
        "devices present at start are reported"
    );

    // Hot-plug a disk to this guest and a NIC to another: only the disk is ours.
    create_device(&dom0, &spec("vif", 0, 4)).unwrap();
    let vbd = create_device(&dom0, &spec("vbd", 51712, 3)).unwrap();
    destroy_device(&dom0, &vif0).unwrap();

    // Watch events may coalesce or repeat; what counts is the sum of the changes reported.
    let mut seen = BTreeSet::new();
    let want: BTreeSet<_> = [added("vbd", "51712"), removed("vif", "0")].into();
    while seen != want {
        let event = xs.wait_event_for(enumerator.token()).unwrap();
        for change in enumerator.on_watch(&mut xs, &event).unwrap() {
            assert!(
                want.contains(&change),
                "unexpected change {change:?} (from {event:?})"
            );
            seen.insert(change);
        }
    }
    let now: Vec<_> = enumerator
        .devices()
        .map(|(c, i)| format!("{c}/{i}"))
        .collect();
    assert_eq!(now, ["vbd/51712"]);

    destroy_device(&dom0, &vbd).unwrap();
    let mut gone = Vec::new();
    while gone.is_empty() {
        let event = xs.wait_event_for(enumerator.token()).unwrap();
        gone = enumerator.on_watch(&mut xs, &event).unwrap();
    }
    assert_eq!(gone, [removed("vbd", "51712")]);
    assert_eq!(enumerator.devices().count(), 0);
    enumerator.stop(&mut xs).unwrap();
    drop(other);
}
