//! Bounded multi-producer single-consumer queue, for completions and control commands flowing back
//! to one owner.
//!
//! A bounded array queue with a sequence number per slot (D. Vyukov's design). Producers claim a
//! position by advancing `tail` with a compare-and-swap, fill the slot, then mark it full by storing
//! `pos + 1` in its sequence; the consumer takes position `head` once its sequence says full, and
//! frees the slot for the next lap by storing `head + capacity`. The sequence numbers, not the
//! positions, carry the hand-over of each value, so producers never read the consumer's position.
//!
//! Order: values from one producer are taken in the order it pushed them. A producer that has
//! claimed a slot but not yet filled it holds back the values claimed after it (the consumer sees
//! an empty queue until it finishes); nobody spins meanwhile.

use alloc::boxed::Box;
use core::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use super::{check_capacity, CapacityError};
use crate::sync::{Arc, AtomicUsize, Ordering, UnsafeCell};

struct Slot<T> {
    /// `pos` when free for the producer of position `pos`, `pos + 1` when it holds that value.
    seq: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

struct Shared<T> {
    /// Next position a producer claims.
    tail: CachePadded<AtomicUsize>,
    /// The consumer's position, stored when it is dropped so the queue knows what is left in it.
    head: AtomicUsize,
    slots: Box<[Slot<T>]>,
}

// SAFETY: values of `T` move from producers' threads to the consumer's, hence `T: Send`. A slot's
// value is written only by the one producer whose compare-and-swap claimed its position and read
// only by the consumer after an Acquire load of the sequence the producer stored with Release; the
// producer of the next lap writes only after an Acquire load of the sequence the consumer stored
// with Release after reading.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as for `Send` above.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    fn slot(&self, pos: usize) -> &Slot<T> {
        &self.slots[pos & (self.slots.len() - 1)]
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // Every handle is gone. A position is claimed and filled within one `try_push` call, so
        // every position in `head..tail` holds a value.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        for offset in 0..tail.wrapping_sub(head) {
            // SAFETY: see above; nothing else can reach the slots any more.
            self.slot(head.wrapping_add(offset))
                .value
                .with_mut(|value| unsafe { (*value).assume_init_drop() });
        }
    }
}

/// Creates a queue holding up to `capacity` values (a power of two, at least 2: with one slot the
/// sequence numbers "full for this lap" and "free for the next lap" would be the same).
pub fn channel<T>(capacity: usize) -> Result<(Producer<T>, Consumer<T>), CapacityError> {
    let capacity = check_capacity(capacity, 2)?;
    let shared = Arc::new(Shared {
        tail: CachePadded::new(AtomicUsize::new(0)),
        head: AtomicUsize::new(0),
        slots: (0..capacity)
            .map(|pos| Slot {
                seq: AtomicUsize::new(pos),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect(),
    });
    Ok((
        Producer {
            shared: shared.clone(),
        },
        Consumer { shared, head: 0 },
    ))
}

/// A sending handle. Clone it to give each producer (CPU, DPC, control thread) its own.
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Producer<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Producer<T> {
    pub fn capacity(&self) -> usize {
        self.shared.slots.len()
    }

    /// Queues `value`, or hands it back if the queue is full. Never waits: a lost race for a slot
    /// just moves on to the next position.
    pub fn try_push(&self, value: T) -> Result<(), T> {
        let shared = &*self.shared;
        let mut pos = shared.tail.load(Ordering::Relaxed);
        loop {
            let slot = shared.slot(pos);
            // Acquire pairs with the consumer's Release store that freed this slot: its read of the
            // previous lap's value happens before our write.
            let seq = slot.seq.load(Ordering::Acquire);
            // Signed distance between the slot's lap and ours; the positions are free-running.
            let lag = seq.wrapping_sub(pos) as isize;
            if lag < 0 {
                // The slot still holds (or is giving up) the value from one lap ago.
                return Err(value);
            }
            if lag > 0 {
                // Another producer claimed and filled `pos` since we read `tail`; our Acquire load
                // of its sequence guarantees this load sees its claim, so we make progress.
                pos = shared.tail.load(Ordering::Relaxed);
                continue;
            }
            // Relaxed is enough: the CAS only decides who owns `pos`; the data hand-over is
            // ordered by the slot's sequence number.
            match shared.tail.compare_exchange_weak(
                pos,
                pos.wrapping_add(1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    // SAFETY: the CAS made us the only producer of `pos`, and `seq == pos` says the
                    // consumer is done with the slot's previous value.
                    slot.value.with_mut(|cell| unsafe { (*cell).write(value) });
                    // Release pairs with the consumer's Acquire load: our write happens before its
                    // read.
                    slot.seq.store(pos.wrapping_add(1), Ordering::Release);
                    return Ok(());
                }
                Err(current) => pos = current,
            }
        }
    }
}

/// The receiving handle. `Send` (when `T: Send`), not `Clone`.
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
    /// Next position to take; only the shared copy for `Drop` is ever stored.
    head: usize,
}

impl<T> Consumer<T> {
    pub fn capacity(&self) -> usize {
        self.shared.slots.len()
    }

    /// Positions claimed by producers and not yet taken (including ones still being filled).
    pub fn len(&self) -> usize {
        self.shared
            .tail
            .load(Ordering::Acquire)
            .wrapping_sub(self.head)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the oldest value, if it is ready.
    pub fn pop(&mut self) -> Option<T> {
        let capacity = self.capacity();
        let slot = self.shared.slot(self.head);
        // Acquire pairs with the producer's Release store of the sequence: its write of the value
        // happens before our read.
        if slot.seq.load(Ordering::Acquire) != self.head.wrapping_add(1) {
            return None;
        }
        // SAFETY: the sequence says the value for `head` is in the slot, and only we read it.
        let value = slot
            .value
            .with_mut(|cell| unsafe { (*cell).assume_init_read() });
        // Release pairs with the next lap's producer's Acquire load: our read happens before its
        // write.
        slot.seq
            .store(self.head.wrapping_add(capacity), Ordering::Release);
        self.head = self.head.wrapping_add(1);
        Some(value)
    }

    /// Takes up to `max` ready values, oldest first.
    pub fn drain(&mut self, max: usize) -> Drain<'_, T> {
        Drain {
            consumer: self,
            remaining: max,
        }
    }

    /// Moves up to `max` ready values into `out` (a `Vec`, an `ArrayVec` with room for `max`, …);
    /// returns how many were moved.
    pub fn pop_into<E: Extend<T>>(&mut self, out: &mut E, max: usize) -> usize {
        let start = self.head;
        out.extend(self.drain(max));
        self.head.wrapping_sub(start)
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        // Producers still holding the queue may add values; whoever drops last drops what is left
        // from here on. The Arc's release/acquire on its count orders this store before that drop.
        self.shared.head.store(self.head, Ordering::Relaxed);
    }
}

/// Values taken by [`Consumer::drain`]; each is taken when the iterator yields it.
pub struct Drain<'a, T> {
    consumer: &'a mut Consumer<T>,
    remaining: usize,
}

impl<T> Iterator for Drain<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.remaining == 0 {
            return None;
        }
        let value = self.consumer.pop()?;
        self.remaining -= 1;
        Some(value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::test_support::{proptest_config, DropCounter, OPS_PER_CASE, STRESS_ITEMS};
    use alloc::collections::VecDeque;
    use alloc::vec::Vec;
    use proptest::prelude::*;
    use std::thread;

    /// Producers are cloned and sent to other threads; the one consumer can move too.
    #[test]
    fn handles_are_send() {
        fn assert_send<T: Send>(_: &T) {}
        let (tx, rx) = channel::<alloc::boxed::Box<u8>>(2).unwrap();
        assert_send(&tx.clone());
        assert_send(&rx);
    }

    #[test]
    fn rejects_capacities_below_two_or_not_powers_of_two() {
        for bad in [0, 1, 3, 12] {
            assert_eq!(
                channel::<u8>(bad).err(),
                Some(CapacityError {
                    requested: bad,
                    min: 2
                })
            );
        }
    }

    #[test]
    fn full_queue_hands_the_value_back_until_the_consumer_frees_a_slot() {
        let (tx, mut rx) = channel(2).unwrap();
        let tx2 = tx.clone();
        assert_eq!(tx.try_push(1), Ok(()));
        assert_eq!(tx2.try_push(2), Ok(()));
        assert_eq!(tx.try_push(3), Err(3));
        assert_eq!(rx.len(), 2);
        assert_eq!(rx.pop(), Some(1));
        assert_eq!(tx2.try_push(3), Ok(()));
        assert_eq!(tx.try_push(4), Err(4));
        let mut out = Vec::new();
        assert_eq!(rx.pop_into(&mut out, 8), 2);
        assert_eq!(out, [2, 3]);
        assert!(rx.is_empty());
        assert_eq!(rx.pop(), None);
    }

    #[test]
    fn wraps_around_many_laps() {
        let (tx, mut rx) = channel(4).unwrap();
        for lap in 0..10 {
            for i in 0..3 {
                assert_eq!(tx.try_push(lap * 3 + i), Ok(()));
            }
            assert_eq!(rx.drain(2).collect::<Vec<_>>(), [lap * 3, lap * 3 + 1]);
            assert_eq!(rx.pop(), Some(lap * 3 + 2));
            assert_eq!(rx.pop(), None);
        }
    }

    #[test]
    fn dropping_the_queue_drops_queued_values_once() {
        let counter = DropCounter::default();
        let (tx, mut rx) = channel(4).unwrap();
        for _ in 0..3 {
            assert!(tx.try_push(counter.token()).is_ok());
        }
        drop(rx.pop());
        drop(rx);
        // The consumer is gone but a producer still holds the queue and can add one more.
        assert_eq!(counter.dropped(), 1);
        assert!(tx.try_push(counter.token()).is_ok());
        drop(tx);
        assert_eq!(counter.dropped(), 4);
    }

    #[test]
    fn producers_race_without_loss_duplication_or_reordering() {
        let producers: u64 = if cfg!(miri) { 2 } else { 4 };
        let per_producer = STRESS_ITEMS / producers;
        let (tx, mut rx) = channel(8).unwrap();
        let handles: Vec<_> = (0..producers)
            .map(|id| {
                let tx = tx.clone();
                thread::spawn(move || {
                    let backoff = crossbeam_utils::Backoff::new();
                    for n in 0..per_producer {
                        let mut value = (id, n);
                        while let Err(back) = tx.try_push(value) {
                            value = back;
                            backoff.snooze();
                        }
                        backoff.reset();
                    }
                })
            })
            .collect();
        drop(tx);
        let mut next = alloc::vec![0u64; producers as usize];
        let mut received = 0;
        let mut batch = Vec::new();
        let backoff = crossbeam_utils::Backoff::new();
        while received < per_producer * producers {
            batch.clear();
            if rx.pop_into(&mut batch, 5) == 0 {
                backoff.snooze();
                continue;
            }
            backoff.reset();
            for (id, n) in batch.drain(..) {
                assert_eq!(n, next[id as usize], "producer {id} out of order");
                next[id as usize] += 1;
                received += 1;
            }
        }
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(rx.pop(), None);
        assert!(next.iter().all(|&n| n == per_producer));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push { producer: u8 },
        Pop,
        PopBatch(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..3).prop_map(|producer| Op::Push { producer }),
            Just(Op::Pop),
            (0u8..6).prop_map(Op::PopBatch),
        ]
    }

    proptest! {
        #![proptest_config(proptest_config())]

        /// Interleaved pushes from several handles and single or batched pops behave like a
        /// bounded VecDeque.
        #[test]
        fn behaves_like_a_bounded_vecdeque(
            capacity_log2 in 1u32..4,
            ops in proptest::collection::vec(op(), 1..OPS_PER_CASE),
        ) {
            let capacity = 1usize << capacity_log2;
            let (tx, mut rx) = channel(capacity).unwrap();
            let producers = [tx.clone(), tx.clone(), tx];
            let mut model = VecDeque::new();
            let mut next = 0u32;
            for op in ops {
                match op {
                    Op::Push { producer } => {
                        let value = (producer, next);
                        next += 1;
                        let fits = model.len() < capacity;
                        let result = producers[usize::from(producer)].try_push(value);
                        prop_assert_eq!(result, if fits { Ok(()) } else { Err(value) });
                        if fits {
                            model.push_back(value);
                        }
                    }
                    Op::Pop => prop_assert_eq!(rx.pop(), model.pop_front()),
                    Op::PopBatch(n) => {
                        let mut out = Vec::new();
                        let taken = rx.pop_into(&mut out, usize::from(n));
                        let expected: Vec<_> =
                            model.drain(..usize::from(n).min(model.len())).collect();
                        prop_assert_eq!(taken, expected.len());
                        prop_assert_eq!(out, expected);
                    }
                }
                prop_assert_eq!(rx.len(), model.len());
            }
        }
    }
}
