use super::*;
use crate::shmem::SharedPages;
use alloc::vec::Vec;
use proptest::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use zerocopy::KnownLayout;

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
struct Req {
    id: u32,
    payload: [u32; 3],
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
struct Rsp {
    id: u32,
    status: u32,
}

fn req(id: u32) -> Req {
    Req {
        id,
        payload: [id ^ 0x5a5a_5a5a, !id, id.rotate_left(7)],
    }
}

fn rsp(id: u32) -> Rsp {
    Rsp { id, status: !id }
}

type Front = FrontRing<Req, Rsp, SharedRing>;
type Back = BackRing<Req, Rsp, SharedRing>;

/// A ring of `slots` 16-byte slots (header + slots, so `__RING_SIZE` gives exactly `slots`).
fn ring_memory(slots: usize) -> SharedRing {
    let pages = SharedPages::new(1).unwrap();
    let mem = pages.mem().sub(0, 64 + 16 * slots);
    SharedRing::new::<Req, Rsp>(mem).unwrap()
}

fn pair_at(slots: usize, start: u32) -> (Front, Back) {
    let mem = ring_memory(slots);
    let front = Front::init_at(mem.clone(), start);
    (front, Back::attach_at(mem, start))
}

fn pair(slots: usize) -> (Front, Back) {
    pair_at(slots, 0)
}

#[test]
fn shared_ring_size_follows_ring_h() {
    // One page of 16-byte slots: (4096 - 64) / 16 = 252, rounded down to 128.
    let pages = SharedPages::new(1).unwrap();
    assert_eq!(
        SharedRing::new::<Req, Rsp>(pages.mem()).unwrap().slots(),
        128
    );
    // Two pages: (8192 - 64) / 16 = 508 -> 256. The slot size is the larger of the two types.
    let pages = SharedPages::new(2).unwrap();
    assert_eq!(
        SharedRing::new::<Rsp, Req>(pages.mem()).unwrap().slots(),
        256
    );
    // 64 + 16 * 3 bytes: 3 slots fit, rounded down to 2.
    assert_eq!(ring_memory(3).slots(), 2);
    let tiny = pages.mem().sub(0, 64 + 15);
    assert_eq!(
        SharedRing::new::<Req, Rsp>(tiny).unwrap_err(),
        RingTooSmall {
            bytes: 79,
            entry_size: 16
        }
    );
}

/// The ring's indices are accessed without per-access checks, so a ring over memory whose
/// indices could not be 4-byte atomics is refused up front.
#[test]
#[should_panic(expected = "not 4-byte aligned")]
fn shared_ring_over_misaligned_memory_is_refused() {
    let pages = SharedPages::new(1).unwrap();
    let _ = SharedRing::new::<Req, Rsp>(pages.mem().sub(2, 1024));
}

#[test]
fn init_writes_the_shared_ring_init_header() {
    let pages = SharedPages::new(1).unwrap();
    let mem = pages.mem();
    mem.write_bytes(0, &[0xff; 64]);
    let front = Front::init(SharedRing::new::<Req, Rsp>(mem.clone()).unwrap());
    let header: xenpv_abi::ring::SringHeader = mem.read(0);
    assert_eq!(
        (
            header.req_prod,
            header.req_event,
            header.rsp_prod,
            header.rsp_event
        ),
        (0, 1, 0, 1)
    );
    assert_eq!(header.pad, [0; 48]);
    assert_eq!(
        (front.size(), front.free_requests(), front.outstanding()),
        (128, 128, 0)
    );
}

#[test]
fn push_fills_the_ring_then_reports_full() {
    let (mut front, _back) = pair(4);
    for i in 0..4 {
        assert_eq!(front.free_requests(), 4 - i);
        front.push(&req(i)).unwrap();
    }
    assert_eq!(front.push(&req(4)), Err(RingFull));
    assert_eq!((front.outstanding(), front.req_prod_pvt()), (4, 4));
}

#[test]
fn push_many_stops_at_a_full_ring_without_taking_more() {
    let (mut front, mut back) = pair(4);
    front.push(&req(0)).unwrap();
    let mut source = (1..10).map(req);
    assert_eq!(front.push_many(&mut source), 3);
    assert_eq!(
        source.next(),
        Some(req(4)),
        "items beyond the free slots stay in the source"
    );
    assert_eq!(front.push_many(core::iter::once(req(9))), 0);
    front.publish();
    assert_eq!(
        back.poll_requests().unwrap().collect::<Vec<_>>(),
        [req(0), req(1), req(2), req(3)]
    );
    // The back can answer only what it consumed.
    let mut answers = (0..10).map(rsp);
    assert_eq!(back.push_many(&mut answers), 4);
    assert_eq!(answers.next(), Some(rsp(4)));
    back.publish();
    assert_eq!(
        front.poll_responses().unwrap().collect::<Vec<_>>(),
        [rsp(0), rsp(1), rsp(2), rsp(3)]
    );
}

#[test]
fn answer_requests_consumes_and_answers_in_order() {
    let (mut front, mut back) = pair(4);
    for i in 0..3 {
        front.push(&req(i)).unwrap();
    }
    front.publish();
    // One request answered the slow way first, so responses trail requests by one slot.
    assert_eq!(back.poll_requests().unwrap().next(), Some(req(0)));
    back.push(&rsp(0)).unwrap();
    let mut seen = Vec::new();
    let answered = back
        .answer_requests(8, |r| {
            seen.push(r.id);
            rsp(r.id)
        })
        .unwrap();
    assert_eq!((answered, seen), (2, std::vec![1, 2]));
    assert_eq!(
        (back.req_cons(), back.rsp_prod_pvt(), back.unanswered()),
        (3, 3, 0)
    );
    back.publish();
    assert_eq!(
        front.poll_responses().unwrap().collect::<Vec<_>>(),
        [rsp(0), rsp(1), rsp(2)]
    );
    // `max` bounds the batch, and a hostile req_prod is an error, not a panic.
    for i in 3..6 {
        front.push(&req(i)).unwrap();
    }
    front.publish();
    assert_eq!(back.answer_requests(2, |r| rsp(r.id)).unwrap(), 2);
    back.mem().store_index(Index::ReqProd, 100);
    assert!(matches!(
        back.answer_requests(8, |r| rsp(r.id)),
        Err(RingError::PeerIndex { value: 100, .. })
    ));
}

#[test]
fn pushed_requests_are_invisible_until_published() {
    let (mut front, mut back) = pair(4);
    front.push(&req(1)).unwrap();
    assert_eq!(front.mem().load_index(Index::ReqProd), 0);
    assert_eq!(back.poll_requests().unwrap().count(), 0);
    assert!(
        front.publish(),
        "back's initial req_event = 1 asks for the first request"
    );
    assert_eq!(front.mem().load_index(Index::ReqProd), 1);
    assert_eq!(back.poll_requests().unwrap().collect::<Vec<_>>(), [req(1)]);
}

#[test]
fn back_cannot_answer_more_than_it_consumed() {
    let (mut front, mut back) = pair(4);
    assert_eq!(back.push(&rsp(0)), Err(RingFull));
    front.push(&req(0)).unwrap();
    front.publish();
    assert_eq!(back.poll_requests().unwrap().count(), 1);
    assert_eq!(back.unanswered(), 1);
    back.push(&rsp(0)).unwrap();
    assert_eq!(back.push(&rsp(1)), Err(RingFull));
}

/// Many laps around a small ring starting just below u32::MAX: indices wrap, slots are reused,
/// nothing is lost or duplicated.
#[test]
fn wraps_around_u32_max() {
    for start in [u32::MAX - 2, u32::MAX, 0x7fff_fffe] {
        let (mut front, mut back) = pair_at(4, start);
        let mut next_id = 0;
        let mut answered = 0;
        for round in 0..7u32 {
            let k = round % 4 + 1;
            for _ in 0..k {
                front.push(&req(next_id)).unwrap();
                next_id += 1;
            }
            front.publish();
            let got: Vec<Req> = back.poll_requests().unwrap().collect();
            assert_eq!(got.len() as u32, k);
            for r in &got {
                back.push(&rsp(r.id)).unwrap();
            }
            back.publish();
            for r in front.poll_responses().unwrap() {
                assert_eq!(r, rsp(answered));
                answered += 1;
            }
        }
        assert_eq!(answered, next_id);
        assert_eq!(front.rsp_cons(), start.wrapping_add(next_id));
        assert_eq!(back.req_cons(), start.wrapping_add(next_id));
        assert_eq!(back.rsp_prod_pvt(), start.wrapping_add(next_id));
        assert_eq!(front.free_requests(), 4);
    }
}

/// ring.h notifies iff the consumer's event index lies in the batch just published, i.e. in
/// `old + 1 ..= new` counted modulo 2^32. Checked for every event position around a batch,
/// including batches that straddle the wrap.
#[test]
fn notification_matches_the_event_index_position() {
    for start in [0u32, u32::MAX - 1] {
        for batch in 1..=3u32 {
            for delta in -3i64..=6 {
                let (mut front, _back) = pair_at(4, start);
                let event = start.wrapping_add(delta as i32 as u32);
                front.mem().store_index(Index::ReqEvent, event);
                for i in 0..batch {
                    front.push(&req(i)).unwrap();
                }
                let expected = (1..=batch as i64).contains(&delta);
                assert_eq!(
                    front.publish(),
                    expected,
                    "start {start} batch {batch} event at +{delta}"
                );
                // Publishing nothing new never notifies.
                assert!(!front.publish());
            }
        }
    }
}

#[test]
fn response_notification_follows_rsp_event() {
    let (mut front, mut back) = pair(4);
    for i in 0..3 {
        front.push(&req(i)).unwrap();
    }
    front.publish();
    assert_eq!(back.poll_requests().unwrap().count(), 3);
    // rsp_event is 1 after init: the first response is notified, later ones are not until the
    // front re-arms with its final check.
    back.push(&rsp(0)).unwrap();
    assert!(back.publish());
    back.push(&rsp(1)).unwrap();
    assert!(!back.publish());
    assert_eq!(front.poll_responses().unwrap().count(), 2);
    assert!(!front.final_check_for_responses().unwrap());
    assert_eq!(front.mem().load_index(Index::RspEvent), 3);
    back.push(&rsp(2)).unwrap();
    assert!(back.publish());
    assert!(front.final_check_for_responses().unwrap());
}

#[test]
fn final_check_rearms_only_when_idle() {
    let (mut front, mut back) = pair(4);
    // Idle: re-arm req_event at req_cons + 1 and report no work.
    back.mem().store_index(Index::ReqEvent, 77);
    assert!(!back.final_check_for_requests().unwrap());
    assert_eq!(back.mem().load_index(Index::ReqEvent), 1);
    // Work pending: report it without touching req_event.
    front.push(&req(0)).unwrap();
    front.publish();
    back.mem().store_index(Index::ReqEvent, 77);
    assert!(back.final_check_for_requests().unwrap());
    assert_eq!(back.mem().load_index(Index::ReqEvent), 77);
}

#[test]
fn dropped_batch_leaves_the_rest_for_later() {
    let (mut front, mut back) = pair(4);
    for i in 0..3 {
        front.push(&req(i)).unwrap();
    }
    front.publish();
    {
        let mut batch = back.poll_requests().unwrap();
        assert_eq!(batch.len(), 3);
        assert_eq!(batch.next(), Some(req(0)));
    }
    assert_eq!(back.req_cons(), 1);
    assert_eq!(
        back.poll_requests().unwrap().collect::<Vec<_>>(),
        [req(1), req(2)]
    );
}

#[test]
fn hostile_backend_responses_to_unpublished_requests() {
    let (mut front, _back) = pair(4);
    front.push(&req(0)).unwrap();
    front.publish();
    front.push(&req(1)).unwrap(); // pushed, not published: the backend cannot have seen it
    front.mem().store_index(Index::RspProd, 2);
    let err = front.poll_responses().unwrap_err();
    assert_eq!(
        err,
        RingError::PeerIndex {
            index: Index::RspProd,
            value: 2,
            min: 0,
            max: 1
        }
    );
    assert_eq!(front.final_check_for_responses().unwrap_err(), err);
    // Nothing was consumed; a sane index afterwards works.
    front.mem().store_index(Index::RspProd, 1);
    assert_eq!(front.poll_responses().unwrap().count(), 1);
}

#[test]
fn hostile_backend_moves_rsp_prod_backwards() {
    let (mut front, mut back) = pair(4);
    for i in 0..3 {
        front.push(&req(i)).unwrap();
    }
    front.publish();
    assert_eq!(back.poll_requests().unwrap().count(), 3);
    for i in 0..3 {
        back.push(&rsp(i)).unwrap();
    }
    back.publish();
    assert_eq!(front.poll_responses().unwrap().next(), Some(rsp(0)));
    // Front has seen rsp_prod = 3 and consumed one; the backend now claims 2.
    front.mem().store_index(Index::RspProd, 2);
    assert_eq!(
        front.poll_responses().unwrap_err(),
        RingError::PeerIndex {
            index: Index::RspProd,
            value: 2,
            min: 3,
            max: 3
        }
    );
    // Far behind (wrapping): also rejected, never a huge batch.
    front.mem().store_index(Index::RspProd, u32::MAX);
    assert!(front.poll_responses().is_err());
}

#[test]
fn hostile_frontend_overflows_the_ring() {
    let (_front, mut back) = pair(4);
    back.mem().store_index(Index::ReqProd, 5);
    assert_eq!(
        back.poll_requests().unwrap_err(),
        RingError::PeerIndex {
            index: Index::ReqProd,
            value: 5,
            min: 0,
            max: 4
        }
    );
    // 3 consumed, 1 answered and published: the front can have reused one slot, so req_prod may
    // reach 1 + 4 = 5 but not 6 (RING_REQUEST_PROD_OVERFLOW / RING_REQUEST_CONS_OVERFLOW).
    back.mem().store_index(Index::ReqProd, 3);
    assert_eq!(back.poll_requests().unwrap().count(), 3);
    back.push(&rsp(0)).unwrap();
    back.publish();
    back.mem().store_index(Index::ReqProd, 6);
    assert_eq!(
        back.final_check_for_requests().unwrap_err(),
        RingError::PeerIndex {
            index: Index::ReqProd,
            value: 6,
            min: 3,
            max: 5
        }
    );
    back.mem().store_index(Index::ReqProd, 2);
    assert!(matches!(
        back.poll_requests(),
        Err(RingError::PeerIndex { value: 2, .. })
    ));
    back.mem().store_index(Index::ReqProd, 5);
    assert_eq!(back.poll_requests().unwrap().count(), 2);
}

/// io/ring.h transcribed literally onto plain integers: the oracle for notify and final-check
/// decisions (it re-reads the shared fields every time, as the macros do).
#[derive(Debug, Default)]
struct RingH {
    size: u32,
    req_prod: u32,
    req_event: u32,
    rsp_prod: u32,
    rsp_event: u32,
    req_prod_pvt: u32,
    rsp_cons: u32,
    rsp_prod_pvt: u32,
    req_cons: u32,
}

impl RingH {
    fn new(size: u32) -> Self {
        Self {
            size,
            req_event: 1,
            rsp_event: 1,
            ..Self::default()
        }
    }
    fn push_requests_and_check_notify(&mut self) -> bool {
        let (old, new) = (self.req_prod, self.req_prod_pvt);
        self.req_prod = new;
        new.wrapping_sub(self.req_event) < new.wrapping_sub(old)
    }
    fn push_responses_and_check_notify(&mut self) -> bool {
        let (old, new) = (self.rsp_prod, self.rsp_prod_pvt);
        self.rsp_prod = new;
        new.wrapping_sub(self.rsp_event) < new.wrapping_sub(old)
    }
    fn unconsumed_responses(&self) -> u32 {
        self.rsp_prod.wrapping_sub(self.rsp_cons)
    }
    fn unconsumed_requests(&self) -> u32 {
        let req = self.req_prod.wrapping_sub(self.req_cons);
        let rsp = self.size - self.req_cons.wrapping_sub(self.rsp_prod_pvt);
        req.min(rsp)
    }
    fn final_check_for_responses(&mut self) -> bool {
        if self.unconsumed_responses() != 0 {
            return true;
        }
        self.rsp_event = self.rsp_cons.wrapping_add(1);
        self.unconsumed_responses() != 0
    }
    fn final_check_for_requests(&mut self) -> bool {
        if self.unconsumed_requests() != 0 {
            return true;
        }
        self.req_event = self.req_cons.wrapping_add(1);
        self.unconsumed_requests() != 0
    }
}

#[derive(Debug, Clone)]
enum Op {
    FrontPush(u32),
    FrontPublish,
    FrontPoll(u32),
    FrontFinalCheck,
    BackPoll(u32),
    BackPush(u32),
    BackPublish,
    BackFinalCheck,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1..6u32).prop_map(Op::FrontPush),
        Just(Op::FrontPublish),
        (1..6u32).prop_map(Op::FrontPoll),
        Just(Op::FrontFinalCheck),
        (1..6u32).prop_map(Op::BackPoll),
        (1..6u32).prop_map(Op::BackPush),
        Just(Op::BackPublish),
        Just(Op::BackFinalCheck),
    ]
}

/// Drives a FrontRing and a BackRing on the same memory through `ops`, next to the ring.h oracle.
/// A side that found nothing in its final check sleeps (stops polling) until the other side's
/// publish says to notify it.
fn run_interleaving(slots: usize, start: u32, ops: &[Op]) -> Result<(), TestCaseError> {
    let (mut front, mut back) = pair_at(slots, start);
    let mut oracle = RingH::new(slots as u32);
    // The oracle counts from 0; our ring from `start`.
    let at = |i: u32| start.wrapping_add(i);
    let (mut sent, mut received, mut answered, mut completed) = (0u32, 0u32, 0u32, 0u32);
    let (mut front_asleep, mut back_asleep) = (false, false);
    for op in ops {
        match *op {
            Op::FrontPush(k) => {
                for _ in 0..k {
                    if front.push(&req(sent)).is_err() {
                        prop_assert_eq!(
                            oracle.req_prod_pvt.wrapping_sub(oracle.rsp_cons),
                            oracle.size
                        );
                        break;
                    }
                    sent += 1;
                    oracle.req_prod_pvt += 1;
                }
            }
            Op::FrontPublish => {
                let notify = front.publish();
                prop_assert_eq!(notify, oracle.push_requests_and_check_notify());
                back_asleep &= !notify;
            }
            Op::FrontPoll(k) if !front_asleep => {
                for r in front.poll_responses().unwrap().take(k as usize) {
                    prop_assert_eq!(r, rsp(completed));
                    completed += 1;
                    oracle.rsp_cons += 1;
                }
            }
            Op::FrontFinalCheck => {
                let work = front.final_check_for_responses().unwrap();
                prop_assert_eq!(work, oracle.final_check_for_responses());
                front_asleep = !work;
            }
            Op::BackPoll(k) if !back_asleep => {
                for r in back.poll_requests().unwrap().take(k as usize) {
                    prop_assert_eq!(r, req(received));
                    received += 1;
                    oracle.req_cons += 1;
                }
            }
            Op::BackPush(k) => {
                for _ in 0..k.min(received - answered) {
                    back.push(&rsp(answered)).unwrap();
                    answered += 1;
                    oracle.rsp_prod_pvt += 1;
                }
            }
            Op::BackPublish => {
                let notify = back.publish();
                prop_assert_eq!(notify, oracle.push_responses_and_check_notify());
                front_asleep &= !notify;
            }
            Op::BackFinalCheck => {
                let work = back.final_check_for_requests().unwrap();
                prop_assert_eq!(work, oracle.final_check_for_requests());
                back_asleep = !work;
            }
            Op::FrontPoll(_) | Op::BackPoll(_) => {} // asleep: waits for a notification
        }
        // No lost wake-up: a sleeping side has nothing published for it.
        if back_asleep {
            prop_assert_eq!(
                oracle.req_prod,
                oracle.req_cons,
                "back asleep with requests pending"
            );
        }
        if front_asleep {
            prop_assert_eq!(
                oracle.rsp_prod,
                oracle.rsp_cons,
                "front asleep with responses pending"
            );
        }
        prop_assert_eq!(front.req_prod_pvt(), at(sent));
        prop_assert_eq!(back.req_cons(), at(received));
        prop_assert_eq!(back.rsp_prod_pvt(), at(answered));
        prop_assert_eq!(front.rsp_cons(), at(completed));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 512 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_interleavings_match_ring_h(
        slots in prop_oneof![Just(1usize), Just(2), Just(4), Just(8)],
        start in prop_oneof![Just(0u32), Just(u32::MAX - 5), any::<u32>()],
        ops in proptest::collection::vec(op(), 1..if cfg!(miri) { 20 } else { 200 }),
    ) {
        run_interleaving(slots, start, &ops)?;
    }
}

/// A front and a back on two threads, each sleeping (spinning on an event flag, like an event
/// channel) only after its final check found nothing; every request is answered exactly once and
/// in order.
#[test]
fn two_threads_stream_requests_and_responses() {
    const N: u32 = if cfg!(miri) { 40 } else { 100_000 };
    let (mut front, mut back) = pair(4);
    let req_evtchn = AtomicBool::new(false);
    let rsp_evtchn = AtomicBool::new(false);
    let wait = |evtchn: &AtomicBool| {
        while !evtchn.swap(false, Ordering::Acquire) {
            std::thread::yield_now();
        }
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut answered = 0;
            while answered < N {
                let batch: Vec<Req> = back.poll_requests().unwrap().collect();
                for r in &batch {
                    assert_eq!(*r, req(answered));
                    back.push(&rsp(r.id)).unwrap();
                    answered += 1;
                }
                if back.publish() {
                    rsp_evtchn.store(true, Ordering::Release);
                }
                if batch.is_empty() && !back.final_check_for_requests().unwrap() {
                    wait(&req_evtchn);
                }
            }
        });
        let (mut sent, mut completed) = (0, 0);
        while completed < N {
            while sent < N && front.push(&req(sent)).is_ok() {
                sent += 1;
            }
            if front.publish() {
                req_evtchn.store(true, Ordering::Release);
            }
            let mut got = 0;
            for r in front.poll_responses().unwrap() {
                assert_eq!(r, rsp(completed));
                completed += 1;
                got += 1;
            }
            if got == 0 && completed < N && !front.final_check_for_responses().unwrap() {
                wait(&rsp_evtchn);
            }
        }
    });
}
