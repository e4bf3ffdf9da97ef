//! Sessions against the sim: xenstore through a guest's own store ring to the sim xenstored,
//! event channels and grants in the sim host's tables.

use super::*;
use crate::error::OpError;
use alloc::format;
use core::sync::atomic::Ordering;
use xenpv_control::xs::client::Store;
use xenpv_control::xs::XsError;
use xenpv_ddk::status::*;
use xenpv_sim::domain::DOM0;
use xenpv_sim::xenstored::StoreOps;

use crate::sim_home::{setup, Event, Setup, SimHome, DOMID};

type S = Session<Event, &'static str>;

fn run<C: StoreConn>(
    s: &mut S,
    r: Request<'_>,
    xs: &mut C,
    home: &mut SimHome,
) -> Result<Answer, OpError> {
    s.execute(r, xs, home)
}

#[test]
fn store_requests_reach_xenstored_and_errors_keep_their_meaning() {
    let Setup {
        sim,
        guest,
        mut home,
    } = setup();
    let mut xs = guest.store().unwrap();
    let mut s = S::new(1);
    let w = Request::StoreWrite {
        tx: 0,
        path: "data/a",
        value: b"1\0two",
    };
    assert_eq!(run(&mut s, w, &mut xs, &mut home), Ok(Answer::Empty));
    run(
        &mut s,
        Request::StoreWrite {
            tx: 0,
            path: "data/b",
            value: b"",
        },
        &mut xs,
        &mut home,
    )
    .unwrap();
    assert_eq!(
        sim.xenstored
            .connect(DOM0)
            .read("/local/domain/7/data/a")
            .unwrap(),
        b"1\0two"
    );
    assert_eq!(
        run(
            &mut s,
            Request::StoreRead {
                tx: 0,
                path: "data/a"
            },
            &mut xs,
            &mut home
        ),
        Ok(Answer::Bytes(b"1\0two".to_vec()))
    );
    let Ok(Answer::Names(mut names)) = run(
        &mut s,
        Request::StoreDirectory {
            tx: 0,
            path: "data",
        },
        &mut xs,
        &mut home,
    ) else {
        panic!("directory");
    };
    names.sort();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(
        run(
            &mut s,
            Request::StoreRemove {
                tx: 0,
                path: "data/a"
            },
            &mut xs,
            &mut home
        ),
        Ok(Answer::Empty)
    );
    let gone = run(
        &mut s,
        Request::StoreRead {
            tx: 0,
            path: "data/a",
        },
        &mut xs,
        &mut home,
    )
    .unwrap_err();
    assert_eq!(gone, OpError::Store(StoreError::Xs(XsError::ENOENT)));
    assert_eq!(gone.status(), STATUS_OBJECT_NAME_NOT_FOUND);
    let denied = run(
        &mut s,
        Request::StoreRead {
            tx: 0,
            path: "/local/domain/0/name",
        },
        &mut xs,
        &mut home,
    )
    .unwrap_err();
    assert!(!nt_success(denied.status()), "{denied:?}");
}

#[test]
fn transactions_belong_to_their_handle_and_conflicts_say_retry() {
    let Setup {
        sim,
        guest,
        mut home,
    } = setup();
    let mut xs = guest.store().unwrap();
    let mut a = S::new(1);
    let mut b = S::new(2);
    let Answer::U32(tx) = run(&mut a, Request::TransactionStart, &mut xs, &mut home).unwrap()
    else {
        panic!("tx");
    };
    // Another handle cannot use it, end it, or guess one.
    let write = Request::StoreWrite {
        tx,
        path: "data/x",
        value: b"b",
    };
    assert_eq!(
        run(&mut b, write, &mut xs, &mut home),
        Err(OpError::NoSuchTransaction(tx))
    );
    assert_eq!(
        run(
            &mut b,
            Request::TransactionEnd { tx, commit: true },
            &mut xs,
            &mut home
        ),
        Err(OpError::NoSuchTransaction(tx))
    );
    // A write inside the transaction, then a conflicting write outside it: the commit fails
    // with EAGAIN, which user space sees as STATUS_RETRY.
    run(
        &mut a,
        Request::StoreRead { tx, path: "data" },
        &mut xs,
        &mut home,
    )
    .unwrap_err();
    run(
        &mut a,
        Request::StoreWrite {
            tx,
            path: "data/x",
            value: b"a",
        },
        &mut xs,
        &mut home,
    )
    .unwrap();
    sim.xenstored
        .connect(DOM0)
        .write("/local/domain/7/data/y", "dom0")
        .unwrap();
    let e = run(
        &mut a,
        Request::TransactionEnd { tx, commit: true },
        &mut xs,
        &mut home,
    )
    .unwrap_err();
    assert_eq!(e.status(), STATUS_RETRY, "{e:?}");
    // Ended either way: the id is no longer the handle's.
    assert_eq!(
        run(
            &mut a,
            Request::TransactionEnd { tx, commit: false },
            &mut xs,
            &mut home
        ),
        Err(OpError::NoSuchTransaction(tx))
    );
    assert_eq!(
        run(
            &mut a,
            Request::TransactionEnd {
                tx: 0,
                commit: true
            },
            &mut xs,
            &mut home
        ),
        Err(OpError::NoSuchTransaction(0))
    );
}

#[test]
fn closing_a_handle_aborts_its_transactions_and_removes_its_watches() {
    let Setup {
        sim,
        guest,
        mut home,
    } = setup();
    let mut xs = guest.store().unwrap();
    let mut s = S::new(3);
    let Answer::U32(tx) = run(&mut s, Request::TransactionStart, &mut xs, &mut home).unwrap()
    else {
        panic!("tx");
    };
    run(
        &mut s,
        Request::StoreWrite {
            tx,
            path: "data/uncommitted",
            value: b"1",
        },
        &mut xs,
        &mut home,
    )
    .unwrap();
    let Answer::U32(watch) = run(
        &mut s,
        Request::WatchAdd {
            event: Some(1),
            path: "data",
        },
        &mut xs,
        &mut home,
    )
    .unwrap() else {
        panic!("watch");
    };
    assert_eq!(home.referenced, 1);
    let closed = s.close(&mut xs, &mut home);
    assert!(closed.released.is_empty() && closed.stuck.is_empty());
    assert_eq!(home.referenced, 0, "the event was dereferenced");
    assert_eq!(
        xs.try_read("data/uncommitted").unwrap(),
        None,
        "the transaction was aborted"
    );
    // The watch is gone from xenstored: a change fires nothing for its token any more.
    sim.xenstored
        .connect(DOM0)
        .write("/local/domain/7/data/z", "1")
        .unwrap();
    xs.write("data/sync", b"").unwrap();
    while let Some(e) = xs.try_event() {
        assert_ne!(e.token, token(3, watch), "{e:?}");
    }
}

#[test]
fn a_watch_sets_its_event_or_queues_for_a_waiting_request() {
    let Setup {
        sim,
        guest,
        mut home,
    } = setup();
    let mut xs = guest.store().unwrap();
    let mut s = S::new(9);
    let Answer::U32(signalled) = run(
        &mut s,
        Request::WatchAdd {
            event: Some(2),
            path: "data/s",
        },
        &mut xs,
        &mut home,
    )
    .unwrap() else {
        panic!()
    };
    let Answer::U32(queued) = run(
        &mut s,
        Request::WatchAdd {
            event: None,
            path: "data/q",
        },
        &mut xs,
        &mut home,
    )
    .unwrap() else {
        panic!()
    };
    assert_ne!(signalled, queued);
    let drain = |s: &mut S, xs: &mut _, home: &mut SimHome| {
        let xs: &mut xenpv_control::xs::client::Client<_> = xs;
        let mut outcomes = Vec::new();
        xs.write("data/sync", b"").unwrap();
        while let Some(e) = xs.try_event() {
            outcomes.push(s.on_watch_event(&e.token, &e.path, home));
        }
        outcomes
    };
    // xenstored fires each new watch once: the queued one answers a wait, then nothing is left.
    drain(&mut s, &mut xs, &mut home);
    let Ok(Answer::WatchFired { watch, .. }) = run(&mut s, Request::WatchWait, &mut xs, &mut home)
    else {
        panic!("the first firing of the queued watch");
    };
    assert_eq!(watch, queued);
    assert_eq!(
        run(&mut s, Request::WatchWait, &mut xs, &mut home),
        Ok(Answer::Wait)
    );
    let before = home.events[&2].load(Ordering::SeqCst);
    let dom0 = sim.xenstored.connect(DOM0);
    dom0.write("/local/domain/7/data/s", "x").unwrap();
    dom0.write("/local/domain/7/data/q/deep", "y").unwrap();
    let outcomes = drain(&mut s, &mut xs, &mut home);
    assert!(
        outcomes.contains(&Fired::Signalled) && outcomes.contains(&Fired::Queued),
        "{outcomes:?}"
    );
    assert!(home.events[&2].load(Ordering::SeqCst) > before);
    let mut paths = Vec::new();
    while let Ok(Answer::WatchFired { watch, path }) =
        run(&mut s, Request::WatchWait, &mut xs, &mut home)
    {
        assert_eq!(watch, queued);
        paths.push(path);
    }
    // Reported as the watch was registered: relative to the guest's home.
    assert_eq!(paths, ["data/q/deep"]);
    // Removed: further changes are not ours.
    run(
        &mut s,
        Request::WatchRemove { watch: queued },
        &mut xs,
        &mut home,
    )
    .unwrap();
    dom0.write("/local/domain/7/data/q/deep", "z").unwrap();
    assert!(!drain(&mut s, &mut xs, &mut home).contains(&Fired::Queued));
    assert_eq!(
        run(
            &mut s,
            Request::WatchRemove { watch: queued },
            &mut xs,
            &mut home
        ),
        Err(OpError::NoSuchWatch(queued))
    );
    // A handle that is not an event is refused before anything is registered.
    assert_eq!(
        run(
            &mut s,
            Request::WatchAdd {
                event: Some(99),
                path: "data"
            },
            &mut xs,
            &mut home
        ),
        Err(OpError::BadHandle)
    );
}

#[test]
fn tokens_are_parsed_strictly() {
    assert_eq!(parse_token(&token(4, 17)), Some((4, 17)));
    // The agent shares the driver's store connection: its token is never a session's.
    assert_eq!(parse_token(crate::agent::AGENT_TOKEN), None);
    for bad in [
        "xeniface/4",
        "xeniface/4/",
        "xeniface/04/1",
        "xeniface/-1/2",
        "other/1/2",
        "xeniface/1/2/3",
        "xeniface/99999999999/1",
    ] {
        assert_eq!(parse_token(bad), None, "{bad}");
    }
    let mut s = S::new(4);
    let mut home = setup().home;
    assert_eq!(
        s.on_watch_event("xeniface/5/1", "p", &mut home),
        Fired::NotOurs
    );
    assert_eq!(s.on_watch_event("garbage", "p", &mut home), Fired::NotOurs);
}

#[test]
fn event_channels_are_bound_to_events_and_closed_with_the_handle() {
    let Setup {
        sim,
        guest,
        mut home,
    } = setup();
    let mut xs = guest.store().unwrap();
    let mut s = S::new(1);
    let Answer::U32(port) = run(
        &mut s,
        Request::EvtchnAllocUnbound {
            remote_domain: DOM0,
            event: 3,
        },
        &mut xs,
        &mut home,
    )
    .unwrap() else {
        panic!()
    };
    let dom0_port = sim.host.evtchn.bind_interdomain(DOM0, DOMID, port).unwrap();
    let received = sim.host.evtchn.signal(DOM0, dom0_port).unwrap();
    run(&mut s, Request::EvtchnNotify { port }, &mut xs, &mut home).unwrap();
    assert!(received.take(), "dom0 saw the notify");
    assert_eq!(
        run(
            &mut s,
            Request::EvtchnNotify { port: port + 1 },
            &mut xs,
            &mut home
        ),
        Err(OpError::NoSuchPort(port + 1))
    );
    let unknown = run(
        &mut s,
        Request::EvtchnAllocUnbound {
            remote_domain: DOM0,
            event: 42,
        },
        &mut xs,
        &mut home,
    );
    assert_eq!(unknown, Err(OpError::BadHandle));
    assert_eq!(home.referenced, 1);
    s.close(&mut xs, &mut home);
    assert_eq!(home.referenced, 0);
    assert!(
        sim.host.evtchn.send(DOMID, port).is_err(),
        "the port was closed"
    );
    drop(guest);
}

#[test]
fn grants_end_only_when_the_remote_domain_lets_go() {
    let Setup {
        sim,
        guest,
        mut home,
    } = setup();
    let mut xs = guest.store().unwrap();
    let (_mem, gfns) = sim.host.frames.alloc(DOMID, 2).unwrap();
    let mut s = S::new(1);
    s.grant(&mut home, 5, DOM0, false, &gfns, "lease-5")
        .ok()
        .unwrap();
    assert_eq!(s.grant_with_lease(&"lease-5"), Some(5));
    assert_eq!(s.grant_with_lease(&"other"), None);
    let Answer::Refs(refs) = run(&mut s, Request::GrantRefs { id: 5 }, &mut xs, &mut home).unwrap()
    else {
        panic!()
    };
    assert_eq!(refs.len(), 2);
    let Err(dup) = s.grant(&mut home, 5, DOM0, false, &gfns, "dup") else {
        panic!()
    };
    assert_eq!(
        (dup.error, dup.lease),
        (OpError::GrantIdInUse(5), Some("dup"))
    );
    // dom0 maps the second page: revoking fails and keeps it; the first is ended already.
    let mapping = sim.host.map(DOM0, DOMID, refs[1], true).unwrap();
    assert_eq!(s.revoke(&mut home, 5), Err(OpError::GrantInUse));
    let Answer::Refs(left) = run(&mut s, Request::GrantRefs { id: 5 }, &mut xs, &mut home).unwrap()
    else {
        panic!()
    };
    assert_eq!(left, [refs[1]]);
    // Closing the handle now leaves the grant stuck, pages and all.
    let closed = s.close(&mut xs, &mut home);
    assert!(closed.released.is_empty());
    let [stuck] = <[Grant<&str>; 1]>::try_from(closed.stuck).ok().unwrap();
    let stuck = stuck.end(&mut home).err().unwrap();
    drop(mapping);
    assert_eq!(stuck.end(&mut home).ok(), Some("lease-5"));
    assert_eq!(sim.host.grant_table(DOMID).active(), 0);
}

#[test]
fn a_grant_that_runs_out_of_references_ends_what_it_granted() {
    let Setup {
        sim,
        guest: _guest,
        mut home,
    } = setup();
    // 16 entries, 8 reserved: 9 pages cannot all be granted.
    let (_mem, gfns) = sim.host.frames.alloc(DOMID, 9).unwrap();
    let mut s = S::new(1);
    let Err(failed) = s.grant(&mut home, 1, DOM0, true, &gfns, "lease") else {
        panic!()
    };
    assert_eq!(
        (failed.error, failed.lease),
        (OpError::Platform(PlatformError::NoGrantRefs), Some("lease"))
    );
    assert_eq!(sim.host.grant_table(DOMID).active(), 0);
    assert_eq!(s.revoke(&mut home, 1), Err(OpError::NoSuchGrant(1)));
}

#[test]
fn a_listing_longer_than_one_message_arrives_whole_in_or_out_of_a_transaction() {
    let Setup {
        sim,
        guest,
        mut home,
    } = setup();
    let mut xs = guest.store().unwrap();
    let dom0 = sim.xenstored.connect(DOM0);
    // 80 names of 60 bytes: over 4800 bytes, more than one xenstore message holds.
    let names: Vec<String> = (0..80).map(|i| format!("{i:060}")).collect();
    for name in &names {
        dom0.write(&format!("/local/domain/7/big/{name}"), "")
            .unwrap();
    }
    let mut s = S::new(1);
    let Answer::U32(tx) = run(&mut s, Request::TransactionStart, &mut xs, &mut home).unwrap()
    else {
        panic!("tx")
    };
    for tx in [0, tx] {
        let Ok(Answer::Names(mut got)) = run(
            &mut s,
            Request::StoreDirectory { tx, path: "big" },
            &mut xs,
            &mut home,
        ) else {
            panic!("directory in tx {tx}")
        };
        got.sort();
        assert_eq!(got, names, "tx {tx}");
    }
}

/// One step of a handle's life, for the property below.
#[derive(Clone, Debug)]
enum Step {
    Start,
    WriteInTx(usize),
    End(usize, bool),
    Watch(bool),
    Unwatch(usize),
    Port,
    Grant(usize),
    Revoke(usize),
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        Just(Step::Start),
        (0..4usize).prop_map(Step::WriteInTx),
        (0..4usize, any::<bool>()).prop_map(|(i, c)| Step::End(i, c)),
        any::<bool>().prop_map(Step::Watch),
        (0..4usize).prop_map(Step::Unwatch),
        Just(Step::Port),
        (1..3usize).prop_map(Step::Grant),
        (0..4usize).prop_map(Step::Revoke),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Whatever a handle did, closing it leaves nothing behind: no event referenced, no port
    /// open, no grant active, no transaction's write visible, no watch firing.
    #[test]
    fn closing_a_handle_releases_whatever_it_did(steps in proptest::collection::vec(step(), 0..24)) {
        let Setup { sim, guest, mut home } = setup();
        let mut xs = guest.store().unwrap();
        let mut s = S::new(11);
        let (mut txs, mut watches, mut ports, mut grants) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut committed = false;
        let mut next_grant = 0u32;
        for step in steps {
            match step {
                Step::Start => {
                    if let Ok(Answer::U32(tx)) = run(&mut s, Request::TransactionStart, &mut xs, &mut home) {
                        txs.push(tx);
                    }
                }
                Step::WriteInTx(i) => if let Some(&tx) = txs.get(i) {
                    let w = Request::StoreWrite { tx, path: "data/tx", value: b"uncommitted" };
                    let _ = run(&mut s, w, &mut xs, &mut home);
                }
                Step::End(i, commit) => if i < txs.len() {
                    let tx = txs.remove(i);
                    // A commit may conflict (EAGAIN); the transaction is over either way.
                    let r = run(&mut s, Request::TransactionEnd { tx, commit }, &mut xs, &mut home);
                    committed |= commit && r.is_ok();
                }
                Step::Watch(with_event) => {
                    let event = with_event.then_some(1);
                    if let Ok(Answer::U32(w)) = run(&mut s, Request::WatchAdd { event, path: "data" }, &mut xs, &mut home) {
                        watches.push(w);
                    }
                }
                Step::Unwatch(i) => if i < watches.len() {
                    let watch = watches.remove(i);
                    run(&mut s, Request::WatchRemove { watch }, &mut xs, &mut home).unwrap();
                }
                Step::Port => {
                    let r = Request::EvtchnAllocUnbound { remote_domain: DOM0, event: 2 };
                    if let Ok(Answer::U32(p)) = run(&mut s, r, &mut xs, &mut home) {
                        ports.push(p);
                    }
                }
                Step::Grant(pages) => {
                    let (_mem, gfns) = home.host.frames.alloc(DOMID, pages).unwrap();
                    next_grant += 1;
                    if s.grant(&mut home, next_grant, DOM0, false, &gfns, "lease").is_ok() {
                        grants.push(next_grant);
                    }
                }
                Step::Revoke(i) => if i < grants.len() {
                    let id = grants.remove(i);
                    proptest::prop_assert_eq!(s.revoke(&mut home, id), Ok("lease"));
                }
            }
        }
        let closed = s.close(&mut xs, &mut home);
        proptest::prop_assert_eq!(closed.released.len(), grants.len());
        proptest::prop_assert!(closed.stuck.is_empty());
        proptest::prop_assert_eq!(home.referenced, 0);
        proptest::prop_assert_eq!(sim.host.grant_table(DOMID).active(), 0);
        for port in ports {
            proptest::prop_assert!(sim.host.evtchn.send(DOMID, port).is_err(), "port {} open", port);
        }
        if !committed {
            proptest::prop_assert_eq!(xs.try_read("data/tx").unwrap(), None);
        }
        sim.xenstored.connect(DOM0).write("/local/domain/7/data/after", "1").unwrap();
        xs.write("data/sync", b"").unwrap();
        while let Some(e) = xs.try_event() {
            proptest::prop_assert!(parse_token(&e.token).is_none(), "{:?} fired after close", e);
        }
    }
}
