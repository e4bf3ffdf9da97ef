//! A child's suspend request: the children's round, the store connection reset after a resume
//! (watches registered again, transactions lost), and nothing reset after a cancel.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crate::common::*;
use xenpv_busif::*;
use xenpv_control::xs::client::{Store, Transport};
use xenpv_control::xs::wire::{Request, Response};
use xenpv_control::xs::XsError;
use xenpv_datapath::platform::EventChannels;
use xenpv_sim::domain::DOM0;
use xenpv_sim::xenstored::StoreOps;

const WATCHED: &str = "/local/domain/1/watched";

fn set_outcome(f: &Fixture, outcome: Result<SuspendOutcome, BusError>) {
    *f.provider.host().1.outcome.lock().unwrap() = outcome;
}

/// A raw session's answer to one request in transaction `tx`.
fn in_tx(t: &mut BusTransport<TestWaker>, req: Request, id: u32, tx: u32) -> Response {
    t.send(&req.to_message(id, tx).unwrap()).unwrap();
    Response::decode(&t.recv().unwrap()).unwrap()
}

#[test]
fn a_resume_reregisters_the_sessions_watches_and_loses_their_transactions() {
    let f = Fixture::new();
    let bus = f.child();
    let _poller = Poller::start(&f.provider);
    let mut xs = store(&bus);
    xs.watch(WATCHED, "tok").unwrap();
    assert_eq!(xs.wait_event_for("tok").unwrap().path, WATCHED);
    let phases = Arc::new(Mutex::new(Vec::new()));
    let p = phases.clone();
    let _reg = bus
        .on_suspend(move |phase| p.lock().unwrap().push(phase))
        .unwrap();
    let mut t = BusTransport::open(bus.clone(), Arc::new(TestWaker::default())).unwrap();
    let Response::TransactionStart(tx) = in_tx(&mut t, Request::TransactionStart, 1, 0) else {
        panic!("no transaction");
    };

    assert_eq!(bus.request_suspend(), Ok(SuspendOutcome::Resumed));
    assert_eq!(f.provider.host().1.count.load(Ordering::Acquire), 1);
    assert_eq!(
        *phases.lock().unwrap(),
        [SUSPEND_PHASE_SUSPEND, SUSPEND_PHASE_RESUME]
    );
    // The reset connection registered the watch again and xenstored fired it, so a child
    // re-reads what it watches (a front its backend's state) ...
    assert_eq!(xs.wait_event_for("tok").unwrap().path, WATCHED);
    // ... and it keeps firing for changes.
    f.sim
        .xenstored
        .connect(DOM0)
        .write(WATCHED, "after")
        .unwrap();
    assert_eq!(xs.wait_event_for("tok").unwrap().path, WATCHED);
    // The transaction died with the old connection: EAGAIN (run it again), up to its end.
    let write = Request::Write {
        path: WATCHED.into(),
        value: b"lost".to_vec(),
    };
    assert_eq!(
        in_tx(&mut t, write.clone(), 2, tx),
        Response::Error(XsError::EAGAIN)
    );
    assert_eq!(
        in_tx(&mut t, Request::TransactionEnd { commit: true }, 3, tx),
        Response::Error(XsError::EAGAIN)
    );
    assert_eq!(
        in_tx(&mut t, write, 4, tx),
        Response::Error(XsError::ENOENT)
    );
    assert_eq!(xs.read(WATCHED).unwrap(), b"after");
}

#[test]
fn a_cancelled_suspend_resets_nothing_and_a_failed_one_still_resumes_the_children() {
    let f = Fixture::new();
    let bus = f.child();
    let _poller = Poller::start(&f.provider);
    let mut xs = store(&bus);
    xs.watch(WATCHED, "tok").unwrap();
    assert_eq!(xs.wait_event_for("tok").unwrap().path, WATCHED);
    let phases = Arc::new(Mutex::new(Vec::new()));
    let p = phases.clone();
    let _reg = bus
        .on_suspend(move |phase| p.lock().unwrap().push(phase))
        .unwrap();
    let mut t = BusTransport::open(bus.clone(), Arc::new(TestWaker::default())).unwrap();
    let Response::TransactionStart(tx) = in_tx(&mut t, Request::TransactionStart, 1, 0) else {
        panic!("no transaction");
    };

    set_outcome(&f, Ok(SuspendOutcome::Cancelled));
    assert_eq!(bus.request_suspend(), Ok(SuspendOutcome::Cancelled));
    // No reconnection: the watch is not fired again (a round trip files anything that came) ...
    xs.read("/local/domain/1").unwrap();
    assert!(xs.try_event().is_none());
    // ... and the transaction is still open and commits.
    let write = Request::Write {
        path: WATCHED.into(),
        value: b"kept".to_vec(),
    };
    assert!(matches!(in_tx(&mut t, write, 2, tx), Response::Ok(_)));
    assert!(matches!(
        in_tx(&mut t, Request::TransactionEnd { commit: true }, 3, tx),
        Response::Ok(_)
    ));
    assert_eq!(xs.read(WATCHED).unwrap(), b"kept");

    // Xen refusing the suspend: the error reaches the child, and the children that quiesced
    // were told to check what they have (a restore may have failed half-way).
    set_outcome(&f, Err(BusError::Os(-22)));
    assert_eq!(bus.request_suspend(), Err(BusError::Os(-22)));
    assert_eq!(
        *phases.lock().unwrap(),
        [
            SUSPEND_PHASE_SUSPEND,
            SUSPEND_PHASE_CANCELLED,
            SUSPEND_PHASE_SUSPEND,
            SUSPEND_PHASE_RESUME
        ]
    );
    assert_eq!(f.provider.host().1.count.load(Ordering::Acquire), 2);
}

/// After a resume the children still hold their old port numbers and close them as they
/// reconnect, in any order: a number given out before the resume must not go to another child
/// meanwhile, or that close would take the other child's new port.
#[test]
fn a_port_number_from_before_a_resume_goes_to_no_one_until_its_owner_closed_it() {
    let f = Fixture::new();
    let a = f.child();
    let b = f.child();
    let old = a.alloc_unbound(DOM0).unwrap();
    // The new host knows no port of the old domain.
    f.guest.platform().close(old);
    assert_eq!(a.request_suspend(), Ok(SuspendOutcome::Resumed));

    // Child b reconnects first and takes ports all round the port space: never a's old number.
    let host = f.guest.platform().host().clone();
    let mut taken = Vec::new();
    while let Ok(p) = b.alloc_unbound(DOM0) {
        taken.push(p);
    }
    assert!(taken.len() > 8, "b got ports");
    assert!(!taken.contains(&old));
    // a leaves its old port: none of b's ports is touched (all still bound).
    a.close(old).unwrap();
    for &p in &taken {
        assert!(host.evtchn.send(GUEST, p).is_ok(), "port {p} still bound");
    }
    // The number is free again, for whoever comes next.
    assert_eq!(a.alloc_unbound(DOM0).unwrap(), old);
    for &p in &taken[1..] {
        b.close(p).unwrap();
    }
    let fresh = taken[0];

    // A cancelled suspend loses nothing: the ports stay live and closing one closes it.
    set_outcome(&f, Ok(SuspendOutcome::Cancelled));
    assert_eq!(a.request_suspend(), Ok(SuspendOutcome::Cancelled));
    b.close(fresh).unwrap();
    assert!(host.evtchn.send(GUEST, fresh).is_err(), "really closed");
}
