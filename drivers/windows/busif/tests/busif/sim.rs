//! A child over the provider over the sim: every service of the table end to end.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use xenpv_busif::*;
use xenpv_control::xs::client::{Error as ClientError, Store, Transport};
use xenpv_control::xs::wire::{MsgType, Request, Response};
use xenpv_control::xs::XsError;
use xenpv_datapath::platform::{Access, EventChannels, Grants};
use xenpv_sim::domain::DOM0;
use xenpv_sim::xenstored::StoreOps;

const HOME: &str = "/local/domain/1";

#[test]
fn store_round_trip() {
    let f = Fixture::new();
    let bus = f.child();
    let mut xs = store(&bus);
    xs.write(&format!("{HOME}/data/a"), b"one").unwrap();
    xs.write(&format!("{HOME}/data/b"), b"\xff\x00binary")
        .unwrap();
    assert_eq!(xs.read(&format!("{HOME}/data/a")).unwrap(), b"one");
    assert_eq!(
        xs.read(&format!("{HOME}/data/b")).unwrap(),
        b"\xff\x00binary"
    );
    let mut dir = xs.directory(&format!("{HOME}/data")).unwrap();
    dir.sort();
    assert_eq!(dir, ["a", "b"]);
    xs.rm(&format!("{HOME}/data/a")).unwrap();
    assert_eq!(xs.try_read(&format!("{HOME}/data/a")).unwrap(), None);
    // xenstored's errors reach the child typed.
    assert_eq!(
        xs.read(&format!("{HOME}/missing")),
        Err(ClientError::Xs(XsError::ENOENT))
    );
    // What the child wrote is what xenstored holds.
    let dom0 = f.sim.xenstored.connect(DOM0);
    assert_eq!(
        dom0.read(&format!("{HOME}/data/b")).unwrap(),
        b"\xff\x00binary"
    );
}

#[test]
fn a_watch_fires_with_the_childs_token_and_only_for_its_session() {
    let f = Fixture::new();
    let bus = f.child();
    let _poller = Poller::start(&f.provider);
    let mut a = store(&bus);
    let mut b = store(&bus);
    let path = format!("{HOME}/watched");
    a.watch(&path, "tok").unwrap();
    b.watch(&path, "tok").unwrap();
    // xenstored fires each new watch once; both children get theirs with their own token.
    assert_eq!(a.wait_event_for("tok").unwrap().path, path);
    assert_eq!(b.wait_event_for("tok").unwrap().path, path);

    b.unwatch(&path, "tok").unwrap();
    f.sim
        .xenstored
        .connect(DOM0)
        .write(&path, "changed")
        .unwrap();
    let ev = a.wait_event_for("tok").unwrap();
    assert_eq!(
        (ev.path.as_str(), ev.token.as_str()),
        (path.as_str(), "tok")
    );
    // b unwatched: nothing for it (a round trip files anything that had arrived).
    b.read(&path).unwrap();
    assert!(b.try_event().is_none());
}

#[test]
fn a_transaction_conflict_is_retried_and_transactions_belong_to_their_session() {
    let f = Fixture::new();
    let bus = f.child();
    let mut xs = store(&bus);
    let key = format!("{HOME}/counter");
    xs.write(&key, b"1").unwrap();
    let dom0 = f.sim.xenstored.connect(DOM0);
    let attempts = AtomicU32::new(0);
    xs.transaction(|tx| {
        let n: u32 = String::from_utf8(tx.read(&key)?).unwrap().parse().unwrap();
        if attempts.fetch_add(1, Ordering::Relaxed) == 0 {
            // Another writer between our read and our commit: xenstored answers EAGAIN.
            dom0.write(&key, "10").unwrap();
        }
        tx.write(&key, (n + 1).to_string().as_bytes())
    })
    .unwrap();
    assert_eq!(attempts.load(Ordering::Relaxed), 2);
    assert_eq!(xs.read(&key).unwrap(), b"11");

    // A session cannot use another session's transaction.
    let mut owner = BusTransport::open(bus.clone(), Arc::new(TestWaker::default())).unwrap();
    owner
        .send(&Request::TransactionStart.to_message(7, 0).unwrap())
        .unwrap();
    let Response::TransactionStart(tx) = Response::decode(&owner.recv().unwrap()).unwrap() else {
        panic!("no transaction id");
    };
    let mut other = BusTransport::open(bus.clone(), Arc::new(TestWaker::default())).unwrap();
    other
        .send(
            &Request::Write {
                path: key.clone(),
                value: b"x".to_vec(),
            }
            .to_message(8, tx)
            .unwrap(),
        )
        .unwrap();
    let reply = other.recv().unwrap();
    assert_eq!(reply.header.req_id, 8);
    assert_eq!(
        Response::decode(&reply).unwrap(),
        Response::Error(XsError::ENOENT)
    );
    // Closing the owner aborts its open transaction: a write in it never lands.
    owner
        .send(
            &Request::Write {
                path: key.clone(),
                value: b"lost".to_vec(),
            }
            .to_message(9, tx)
            .unwrap(),
        )
        .unwrap();
    assert_eq!(
        Response::decode(&owner.recv().unwrap()).unwrap(),
        Response::Ok(MsgType::Write)
    );
    drop(owner);
    assert_eq!(xs.read(&key).unwrap(), b"11");
}

#[test]
fn a_granted_region_and_frame_are_mapped_by_the_sim_backend() {
    let f = Fixture::new();
    let bus = f.child();
    let platform = BusPlatform::new(bus.clone());
    let host = f.guest.platform().host().clone();

    let region = platform.grant_region(DOM0, 2, Access::ReadWrite).unwrap();
    region.mem().write_bytes(4096 + 8, b"from the child");
    let map = host.map(DOM0, GUEST, region.grefs()[1], true).unwrap();
    let mut buf = [0u8; 14];
    map.mem().read_bytes(8, &mut buf);
    assert_eq!(&buf, b"from the child");
    map.mem().write_bytes(0, b"from dom0");
    let mut back = [0u8; 9];
    region.mem().read_bytes(4096, &mut back);
    assert_eq!(&back, b"from dom0");
    let region = platform
        .end_region(region)
        .expect_err("dom0 still maps page two")
        .0;
    drop(map);
    platform.end_region(region).unwrap();
    assert_eq!(host.grant_table(GUEST).active(), 0);

    // A frame the child owns, granted read-only.
    let (page, gfns) = host.frames.alloc(GUEST, 1).unwrap();
    page.write_bytes(0, b"mdl page");
    let gref = bus.grant_frame(DOM0, gfns[0], Access::ReadOnly).unwrap();
    assert!(host.map(DOM0, GUEST, gref, true).is_err(), "read-only");
    let map = host.map(DOM0, GUEST, gref, false).unwrap();
    let mut b = [0u8; 8];
    map.mem().read_bytes(0, &mut b);
    assert_eq!(&b, b"mdl page");
    assert_eq!(bus.end_frame(gref), Err(BusError::StillInUse));
    drop(map);
    bus.end_frame(gref).unwrap();
}

#[test]
fn an_event_reaches_the_childs_handler_through_the_dpc_path() {
    let f = Fixture::new();
    let bus = f.child();
    let platform = BusPlatform::new(bus.clone());
    let host = f.guest.platform().host().clone();
    let port = platform.alloc_unbound(DOM0).unwrap();
    let back = host.evtchn.bind_interdomain(DOM0, GUEST, port).unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let reg = bus
        .on_event(port, move |p| tx.lock().unwrap().send(p).unwrap())
        .unwrap();
    host.evtchn.send(DOM0, back).unwrap();
    // The home's DPC: the upcall says `port` is pending, the provider demultiplexes it.
    assert!(f.guest.platform().wait(port, Duration::from_secs(5)));
    assert!(f.provider.deliver_event(port));
    assert_eq!(rx.recv_timeout(Duration::from_secs(1)).unwrap(), port);
    // The child's notify reaches dom0.
    platform.notify(port);
    assert!(host.evtchn.signal(DOM0, back).unwrap().take());
    drop(reg);
    assert!(
        !f.provider.deliver_event(port),
        "cleared with the registration"
    );

    // Binding to a port dom0 offers.
    let offered = host.evtchn.alloc_unbound(DOM0, GUEST).unwrap();
    let local = bus.bind_interdomain(DOM0, offered).unwrap();
    bus.notify(local).unwrap();
    assert!(host.evtchn.signal(DOM0, offered).unwrap().take());
    bus.close(local).unwrap();
}

#[test]
fn clock_and_suspend_callbacks() {
    let f = Fixture::new();
    let bus = f.child();
    assert_eq!(bus.wall_clock().unwrap(), CLOCK);
    let phases = Arc::new(Mutex::new(Vec::new()));
    let p = phases.clone();
    let reg = bus
        .on_suspend(move |phase| p.lock().unwrap().push(phase))
        .unwrap();
    f.provider.suspend(SUSPEND_PHASE_SUSPEND);
    f.provider.suspend(SUSPEND_PHASE_RESUME);
    drop(reg);
    f.provider.suspend(SUSPEND_PHASE_SUSPEND);
    assert_eq!(
        *phases.lock().unwrap(),
        [SUSPEND_PHASE_SUSPEND, SUSPEND_PHASE_RESUME]
    );
}

#[test]
fn references_follow_the_children() {
    let f = Fixture::new();
    assert_eq!(f.provider.references(), 0);
    let a = f.child();
    let b = a.clone();
    let c = f.child();
    assert_eq!(f.provider.references(), 2);
    drop(a);
    assert_eq!(f.provider.references(), 2, "b still holds the first table");
    drop((b, c));
    assert_eq!(f.provider.references(), 0);
}

/// Children on several CPUs at once share XENBUS's one connection: each session sees exactly its
/// own replies, watch events and transactions.
#[test]
fn sessions_on_many_threads_keep_their_replies_events_and_transactions_apart() {
    let f = Fixture::new();
    let _poller = Poller::start(&f.provider);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let bus = f.child();
            std::thread::spawn(move || {
                let mut xs = store(&bus);
                let dir = format!("{HOME}/t{t}");
                xs.watch(&dir, "w").unwrap();
                assert_eq!(xs.wait_event_for("w").unwrap().path, dir);
                for i in 0..40u32 {
                    let key = format!("{dir}/k{i}");
                    xs.write(&key, format!("{t}:{i}").as_bytes()).unwrap();
                    assert_eq!(xs.read(&key).unwrap(), format!("{t}:{i}").as_bytes());
                    // Our own write fires our watch; another session's never does.
                    loop {
                        let ev = xs.wait_event_for("w").unwrap();
                        assert!(ev.path.starts_with(&dir), "{} is not {dir}", ev.path);
                        if ev.path == key {
                            break;
                        }
                    }
                }
                let sum = xs
                    .transaction(|tx| {
                        let mut sum = 0;
                        for k in tx.directory(&dir)? {
                            let v = String::from_utf8(tx.read(&format!("{dir}/{k}"))?).unwrap();
                            sum += v.split(':').nth(1).unwrap().parse::<u32>().unwrap();
                        }
                        tx.write(&format!("{dir}/sum"), sum.to_string().as_bytes())?;
                        Ok(sum)
                    })
                    .unwrap();
                assert_eq!(sum, (0..40).sum::<u32>());
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let dom0 = f.sim.xenstored.connect(DOM0);
    for t in 0..4 {
        assert_eq!(dom0.read(&format!("{HOME}/t{t}/sum")).unwrap(), b"780");
    }
}
