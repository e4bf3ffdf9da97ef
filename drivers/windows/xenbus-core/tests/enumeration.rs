//! XENBUS's enumeration as the driver runs it, over a real bus interface: its own store session
//! (through the provider, over the sim's xenstored), the control plane's DeviceEnumerator on
//! `device/`, and the children it reports as the toolstack adds and removes devices.

use std::sync::Arc;

use xenpv_busif::sim::{Poller, SimBus, SimWaker, GUEST};
use xenpv_busif::{open_store, BusStore};
use xenpv_control::xenbus::enumerate::DeviceEnumerator;
use xenpv_sim::domain::DOM0;
use xenpv_sim::xenstored::StoreOps;
use xenpv_xenbus_core::children::{Child, ChildKind, Children, DEVICE_ROOT};

/// Applies watch events until `want` holds.
fn until(
    store: &mut BusStore<SimWaker>,
    enumerator: &mut DeviceEnumerator,
    children: &mut Children,
    want: impl Fn(&Children) -> bool,
) {
    for _ in 0..100 {
        let event = store.wait_event_for(enumerator.token()).unwrap();
        let changes = enumerator.on_watch(store, &event).unwrap();
        children.apply(&changes);
        if want(children) {
            return;
        }
    }
    panic!("the listing never got there");
}

#[test]
fn children_follow_the_store_listing_through_the_watch() {
    let bus = SimBus::new();
    let dom0 = bus.sim.xenstored.connect(DOM0);
    let home = format!("/local/domain/{GUEST}");
    // Present before XENBUS starts: a disk, and a class without a XENBUS child driver.
    dom0.write(&format!("{home}/device/vbd/768/state"), "1")
        .unwrap();
    dom0.write(&format!("{home}/device/console/0/state"), "1")
        .unwrap();

    let _poller = Poller::start(&bus.provider);
    let child = bus.child();
    let mut store = open_store(&child, Arc::new(SimWaker::default())).unwrap();
    let (mut enumerator, first) = DeviceEnumerator::start(&mut store, DEVICE_ROOT).unwrap();
    let mut children = Children::new();
    let (changed, skipped) = children.apply(&first);
    assert!(changed);
    assert_eq!(skipped.len(), 1, "the console is not a child: {skipped:?}");
    let vbd = Child {
        kind: ChildKind::Vbd,
        id: 768,
    };
    let vif = Child {
        kind: ChildKind::Vif,
        id: 0,
    };
    assert_eq!(
        children.present().copied().collect::<Vec<_>>(),
        [vbd, Child::IFACE]
    );

    // Hot-plug a NIC, then unplug the disk: each arrives through the watch.
    dom0.write(&format!("{home}/device/vif/0/state"), "1")
        .unwrap();
    until(&mut store, &mut enumerator, &mut children, |c| {
        c.contains(&vif)
    });
    assert!(children.contains(&vbd));
    dom0.rm(&format!("{home}/device/vbd/768")).unwrap();
    until(&mut store, &mut enumerator, &mut children, |c| {
        !c.contains(&vbd)
    });
    assert_eq!(
        children.present().copied().collect::<Vec<_>>(),
        [vif, Child::IFACE]
    );
}
