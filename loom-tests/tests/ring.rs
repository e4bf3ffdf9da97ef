//! loom models of the shared ring protocol: a FrontRing and a BackRing on two threads, with
//! notification hold-off and final checks, over a ring small enough that indices wrap.
//!
//! Event channels are modelled as a flag under a mutex with a condition variable: `notify` sets
//! it, `wait` blocks until it is set. A side blocks only after its final check found no work, as a
//! real driver does, so a lost wake-up leaves a thread blocked forever and loom reports a
//! deadlock. Ring slots are loom cells, so reading a slot before the write that filled it was
//! published is reported too.
#![cfg(loom)]

use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;
use xenpv_datapath::ring::{BackRing, FrontRing};
use xenpv_loom_tests::ring_memory::LoomRing;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
struct Req {
    id: u32,
    check: u32,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
struct Rsp {
    id: u32,
}

fn req(id: u32) -> Req {
    Req { id, check: !id }
}

/// An event channel: a pending bit the other side sets and this side blocks on.
#[derive(Default)]
struct EventChannel {
    pending: Mutex<bool>,
    cv: Condvar,
}

impl EventChannel {
    fn notify(&self) {
        *self.pending.lock().unwrap() = true;
        self.cv.notify_one();
    }

    fn wait(&self) {
        let mut pending = self.pending.lock().unwrap();
        while !*pending {
            pending = self.cv.wait(pending).unwrap();
        }
        *pending = false;
    }
}

/// Runs `f` under loom with at least `preemptions` preemptions explored (LOOM_MAX_PREEMPTIONS
/// may raise it).
fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.unwrap_or(0).max(preemptions));
    builder.check(f);
}

/// The frontend streams `n` requests through a ring of `slots` slots, pushing as many as fit,
/// publishing, and notifying when `publish` says so; it sleeps on the response channel only when
/// its final check finds no responses. The backend answers each request, in the same way: after
/// taking the whole batch, or (`in_place`) with `answer_requests` as it consumes. Every request
/// must come back answered, in order, exactly once.
fn stream(slots: usize, n: u32, in_place: bool) {
    let mem = LoomRing::new(slots);
    let mut front = FrontRing::<Req, Rsp, _>::init(mem.clone());
    let mut back = BackRing::<Req, Rsp, _>::attach(mem);
    let to_back = Arc::new(EventChannel::default());
    let to_front = Arc::new(EventChannel::default());

    let backend = {
        let (to_back, to_front) = (to_back.clone(), to_front.clone());
        thread::spawn(move || {
            let mut answered = 0;
            while answered < n {
                let mut got = 0;
                if in_place {
                    got = back
                        .answer_requests(u32::MAX, |r| {
                            assert_eq!(r, req(answered));
                            answered += 1;
                            Rsp { id: r.id }
                        })
                        .unwrap();
                } else {
                    for r in back.poll_requests().unwrap() {
                        assert_eq!(r, req(answered));
                        got += 1;
                        answered += 1;
                    }
                    for _ in 0..got {
                        back.push(&Rsp {
                            id: back.rsp_prod_pvt(),
                        })
                        .unwrap();
                    }
                }
                if back.publish() {
                    to_front.notify();
                }
                if got == 0 && !back.final_check_for_requests().unwrap() {
                    to_back.wait();
                }
            }
        })
    };

    let (mut sent, mut completed) = (0, 0);
    while completed < n {
        while sent < n && front.push(&req(sent)).is_ok() {
            sent += 1;
        }
        if front.publish() {
            to_back.notify();
        }
        let mut got = 0;
        for r in front.poll_responses().unwrap() {
            assert_eq!(r, Rsp { id: completed });
            completed += 1;
            got += 1;
        }
        if got == 0 && !front.final_check_for_responses().unwrap() {
            to_front.wait();
        }
    }
    backend.join().unwrap();
}

/// Two slots, four requests: the third and fourth reuse slots 0 and 1, so the front must have
/// consumed the responses there before overwriting them.
#[test]
fn stream_wraps_a_two_slot_ring() {
    model(3, || stream(2, 4, false));
}

/// Four slots, five requests, so batches of several entries wrap around the ring.
#[test]
fn stream_wraps_a_four_slot_ring() {
    model(3, || stream(4, 5, false));
}

/// One slot: every request waits for the previous response, so both directions' notifications
/// are exercised on each round trip.
#[test]
fn stream_through_a_one_slot_ring() {
    model(3, || stream(1, 3, false));
}

/// As the two-slot model, with the backend answering in place while it consumes.
#[test]
fn stream_answering_in_place() {
    model(3, || stream(2, 4, true));
}
