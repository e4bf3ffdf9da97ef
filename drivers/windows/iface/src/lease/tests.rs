//! Lease bookkeeping against the sim's grant table: dom0 maps a granted page to keep a grant in
//! use; the queue is a list of pending requests.

use super::*;
use crate::session::Session;
use crate::sim_home::{setup, Event, Setup, SimHome, DOMID};
use alloc::vec;
use xenpv_sim::domain::DOM0;

/// The driver's queue: the leases still pending (neither taken nor cancelled).
struct Queue(Vec<u32>);

impl LeaseQueue<u32> for Queue {
    fn take(&mut self, lease: u32) -> bool {
        let before = self.0.len();
        self.0.retain(|l| *l != lease);
        self.0.len() != before
    }
}

impl Queue {
    /// The kernel cancels `lease`: it leaves the queue and is handed to the driver.
    fn cancel(&mut self, lease: u32) -> u32 {
        assert!(self.take(lease), "only a queued request can be cancelled");
        lease
    }
}

type S = Session<Event, u32>;

/// A session with grant `id` of two pages whose lease is request `lease`, queued.
fn granted(home: &mut SimHome, queue: &mut Queue, id: u32, lease: u32) -> (S, Vec<u32>) {
    let (_mem, gfns) = home.host.frames.alloc(DOMID, 2).unwrap();
    let mut s = S::new(1);
    s.grant(home, id, DOM0, false, &gfns, lease).ok().unwrap();
    queue.0.push(lease);
    let crate::session::Answer::Refs(refs) = s
        .execute(
            crate::request::Request::GrantRefs { id },
            &mut NoStore,
            home,
        )
        .unwrap()
    else {
        panic!("refs")
    };
    (s, refs)
}

/// Grant requests never reach the store.
struct NoStore;

impl crate::session::StoreConn for NoStore {
    fn request(
        &mut self,
        _: &xenpv_control::xs::wire::Request,
        _: u32,
    ) -> Result<xenpv_control::xs::wire::Response, xenpv_control::xs::client::Error> {
        unreachable!("no store request expected")
    }
    fn watch(&mut self, _: &str, _: &str) -> Result<(), xenpv_control::xs::client::Error> {
        unreachable!("no store request expected")
    }
    fn unwatch(&mut self, _: &str, _: &str) -> Result<(), xenpv_control::xs::client::Error> {
        unreachable!("no store request expected")
    }
}

#[test]
fn a_revoked_grant_completes_its_queued_request_once() {
    let mut home = setup().home;
    let mut queue = Queue(vec![]);
    let mut leases = Leases::default();
    let (mut s, _) = granted(&mut home, &mut queue, 5, 100);
    let lease = s.revoke(&mut home, 5).unwrap();
    assert_eq!(leases.ended(lease, &mut queue), Some(100));
    assert!(queue.0.is_empty());
    // Nothing can complete it a second time.
    assert_eq!(leases.ended(lease, &mut queue), None);
}

#[test]
fn a_cancelled_request_waits_for_its_grant_to_end() {
    let Setup {
        sim,
        guest: _g,
        mut home,
    } = setup();
    let mut queue = Queue(vec![]);
    let mut leases = Leases::default();
    let (mut s, refs) = granted(&mut home, &mut queue, 5, 100);
    let mapping = sim.host.map(DOM0, DOMID, refs[0], true).unwrap();
    let cancelled = queue.cancel(100);
    assert_eq!(
        leases.cancelled(cancelled, [&mut s], &mut home),
        None,
        "page still mapped"
    );
    // The user revokes later, once dom0 has let go: now it completes, once.
    drop(mapping);
    let lease = s.revoke(&mut home, 5).unwrap();
    assert_eq!(leases.ended(lease, &mut queue), Some(100));
    assert_eq!(leases.ended(lease, &mut queue), None);
    assert_eq!(sim.host.grant_table(DOMID).active(), 0);
}

#[test]
fn a_cancelled_request_whose_grant_can_end_completes_at_once() {
    let mut home = setup().home;
    let mut queue = Queue(vec![]);
    let mut leases = Leases::default();
    let (mut s, _) = granted(&mut home, &mut queue, 5, 100);
    let cancelled = queue.cancel(100);
    assert_eq!(leases.cancelled(cancelled, [&mut s], &mut home), Some(100));
    assert_eq!(
        s.revoke(&mut home, 5).err(),
        Some(crate::error::OpError::NoSuchGrant(5))
    );
}

#[test]
fn a_cancellation_racing_a_revoke_completes_the_request_once() {
    let mut home = setup().home;
    let mut queue = Queue(vec![]);
    let mut leases = Leases::default();
    let (mut s, _) = granted(&mut home, &mut queue, 5, 100);
    // The kernel cancels the request just before the revoke takes it out of the queue...
    let cancelled = queue.cancel(100);
    let lease = s.revoke(&mut home, 5).unwrap();
    assert_eq!(
        leases.ended(lease, &mut queue),
        None,
        "the cancellation has it"
    );
    // ...and the driver, handed the cancelled request, finds its grant gone: complete.
    assert_eq!(leases.cancelled(cancelled, [&mut s], &mut home), Some(100));
}

#[test]
fn grants_of_a_closed_handle_hold_their_requests_until_the_remote_lets_go() {
    let Setup {
        sim,
        guest: _g,
        mut home,
    } = setup();
    let mut queue = Queue(vec![]);
    let mut leases = Leases::default();
    let (s, refs) = granted(&mut home, &mut queue, 5, 100);
    let mapping = sim.host.map(DOM0, DOMID, refs[1], false).unwrap();
    let closed = s.close(&mut NoStore, &mut home);
    assert!(closed.released.is_empty());
    leases.keep(closed.stuck);
    assert_eq!(leases.stuck(), 1);
    assert!(leases.retry(&mut home, &mut queue).is_empty());
    // Cancelled meanwhile (the process exits): still held.
    let cancelled = queue.cancel(100);
    assert_eq!(
        leases.cancelled(cancelled, core::iter::empty::<&mut S>(), &mut home),
        None
    );
    drop(mapping);
    assert_eq!(leases.retry(&mut home, &mut queue), [100]);
    assert_eq!(leases.stuck(), 0);
    assert!(leases.retry(&mut home, &mut queue).is_empty());
    assert_eq!(sim.host.grant_table(DOMID).active(), 0);
}

#[test]
fn a_stuck_grant_still_queued_completes_from_the_queue() {
    let Setup {
        sim,
        guest: _g,
        mut home,
    } = setup();
    let mut queue = Queue(vec![]);
    let mut leases = Leases::default();
    let (s, refs) = granted(&mut home, &mut queue, 5, 100);
    let mapping = sim.host.map(DOM0, DOMID, refs[0], false).unwrap();
    leases.keep(s.close(&mut NoStore, &mut home).stuck);
    drop(mapping);
    assert_eq!(leases.retry(&mut home, &mut queue), [100]);
    assert!(queue.0.is_empty(), "taken out of the queue");
}
