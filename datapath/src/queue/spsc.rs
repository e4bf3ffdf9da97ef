//! Bounded single-producer single-consumer queue.
//!
//! A ring of `capacity` slots and two free-running positions: `tail` (next slot the producer fills,
//! written only by the [`Producer`]) and `head` (next slot the consumer takes, written only by the
//! [`Consumer`]). `tail - head` is the number of queued values. Each side keeps its own position in a
//! plain field and a cached copy of the peer's, and goes to the peer's cache line only when the cached
//! copy says the queue looks full (producer) or empty (consumer). A batch is published with one
//! Release store of the position, as Xen's rings do with their producer index.
//!
//! Ownership is carried by the types: there is exactly one `Producer` and one `Consumer`, neither
//! is `Clone`, and every operation takes `&mut self`.

use alloc::boxed::Box;
use core::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use super::{check_capacity, CapacityError};
use crate::sync::{Arc, AtomicUsize, Ordering, UnsafeCell};

struct Shared<T> {
    /// Next position the consumer takes. Stored only by the consumer.
    head: CachePadded<AtomicUsize>,
    /// Next position the producer fills. Stored only by the producer.
    tail: CachePadded<AtomicUsize>,
    /// Slot `pos & (len - 1)` holds an initialised value exactly when `head <= pos < tail`.
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
}

// SAFETY: values of `T` are moved from the producer's thread to the consumer's, hence `T: Send`.
// Sharing `Shared` is sound because a slot is touched by one side at a time: the producer only writes
// slots outside `head..tail` and the consumer only reads slots inside it, and each side hands a slot
// over with a Release store of its position that the other side loads with Acquire.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as for `Send` above.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    fn slot(&self, pos: usize) -> &UnsafeCell<MaybeUninit<T>> {
        &self.slots[pos & self.mask()]
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // Both handles are gone (the Arc's count synchronised with their drops), so plain loads see
        // the final positions.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        for offset in 0..tail.wrapping_sub(head) {
            // SAFETY: positions in `head..tail` hold initialised values that nobody else can reach.
            self.slot(head.wrapping_add(offset))
                .with_mut(|slot| unsafe { (*slot).assume_init_drop() });
        }
    }
}

/// Creates a queue holding up to `capacity` values (a power of two, at least 1).
pub fn channel<T>(capacity: usize) -> Result<(Producer<T>, Consumer<T>), CapacityError> {
    let capacity = check_capacity(capacity, 1)?;
    let shared = Arc::new(Shared {
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
        slots: (0..capacity)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect(),
    });
    let producer = Producer {
        shared: shared.clone(),
        tail: 0,
        cached_head: 0,
    };
    let consumer = Consumer {
        shared,
        head: 0,
        cached_tail: 0,
    };
    Ok((producer, consumer))
}

/// The sending half. `Send` (when `T: Send`), not `Clone`.
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
    /// Our position; `shared.tail` lags it only inside a batch.
    tail: usize,
    /// The consumer's position when we last looked. It can only be behind the real one, so it can
    /// only make the queue look fuller than it is, never overwrite an unread value.
    cached_head: usize,
}

impl<T> Producer<T> {
    pub fn capacity(&self) -> usize {
        self.shared.slots.len()
    }

    /// Free slots right now (the consumer may free more at any moment).
    pub fn free_slots(&mut self) -> usize {
        self.refresh_head();
        self.cached_free()
    }

    /// Queues `value`, or hands it back if the queue is full.
    pub fn push(&mut self, value: T) -> Result<(), T> {
        if self.free_for(1) == 0 {
            return Err(value);
        }
        // SAFETY: `free_for` saw a free slot at `tail`.
        unsafe { self.write(value) };
        self.publish();
        Ok(())
    }

    /// Queues clones of as many leading values of `values` as fit; returns how many were queued.
    pub fn push_slice(&mut self, values: &[T]) -> usize
    where
        T: Clone,
    {
        self.push_iter(values.iter().cloned())
    }

    /// Queues values from `values` until it ends or the queue is full, and publishes them with one
    /// store; returns how many were queued. Values the queue had no room for are not taken from the
    /// iterator, so passing `&mut iter` keeps them for a later call.
    pub fn push_iter<I: IntoIterator<Item = T>>(&mut self, values: I) -> usize {
        let values = values.into_iter();
        // Look at the consumer's position only if the cached one may not leave room for everything.
        let wanted = values.size_hint().1.unwrap_or(usize::MAX);
        let free = self.free_for(wanted);
        let start = self.tail;
        for value in values.take(free) {
            // SAFETY: at most `free` values are written, each into a slot `free_for` saw free.
            unsafe { self.write(value) };
        }
        if self.tail != start {
            self.publish();
        }
        self.tail.wrapping_sub(start)
    }

    fn cached_free(&self) -> usize {
        self.capacity() - self.tail.wrapping_sub(self.cached_head)
    }

    fn refresh_head(&mut self) {
        // Acquire pairs with the consumer's Release store of `head`: its reads of the slots it gave
        // back happen before we overwrite them.
        self.cached_head = self.shared.head.load(Ordering::Acquire);
    }

    /// Free slots, reloading the consumer's position only when the cached one shows fewer than
    /// `wanted` (so the peer's cache line is touched once per lap, not once per value).
    fn free_for(&mut self, wanted: usize) -> usize {
        if self.cached_free() < wanted {
            self.refresh_head();
        }
        self.cached_free()
    }

    /// Fills the slot at our position and advances it (locally; see [`Self::publish`]).
    ///
    /// # Safety
    /// The slot at `self.tail` must be free (`cached_free() > 0`).
    unsafe fn write(&mut self, value: T) {
        // SAFETY: the caller guarantees the slot is outside `head..tail`, so the consumer does not
        // read it until we publish a `tail` past it.
        self.shared
            .slot(self.tail)
            .with_mut(|slot| unsafe { (*slot).write(value) });
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // Release pairs with the consumer's Acquire load of `tail`: the slot writes above happen
        // before it reads them.
        self.shared.tail.store(self.tail, Ordering::Release);
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        // A panicking iterator in `push_iter` can leave written values unpublished; publishing them
        // here means they are delivered or dropped with the queue instead of leaked.
        self.publish();
    }
}

/// The receiving half. `Send` (when `T: Send`), not `Clone`.
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
    /// Our position; `shared.head` lags it only inside a [`Drain`].
    head: usize,
    /// The producer's position when we last looked; it can only be behind the real one.
    cached_tail: usize,
}

impl<T> Consumer<T> {
    pub fn capacity(&self) -> usize {
        self.shared.slots.len()
    }

    /// Values queued right now (the producer may add more at any moment).
    pub fn len(&mut self) -> usize {
        self.refresh_tail();
        self.cached_len()
    }

    pub fn is_empty(&mut self) -> bool {
        self.len() == 0
    }

    /// Takes the oldest value, if any.
    pub fn pop(&mut self) -> Option<T> {
        self.drain(1).next()
    }

    /// Takes up to `max` values, oldest first. The consumer's position is published once, when the
    /// returned iterator is dropped; values it did not yield stay queued.
    pub fn drain(&mut self, max: usize) -> Drain<'_, T> {
        let remaining = self.available_for(max).min(max);
        Drain {
            start: self.head,
            consumer: self,
            remaining,
        }
    }

    /// Moves up to `max` values into `out` (a `Vec`, an `ArrayVec` with room for `max`, …) and
    /// publishes once; returns how many were moved.
    pub fn pop_into<E: Extend<T>>(&mut self, out: &mut E, max: usize) -> usize {
        let start = self.head;
        out.extend(self.drain(max));
        self.head.wrapping_sub(start)
    }

    fn cached_len(&self) -> usize {
        self.cached_tail.wrapping_sub(self.head)
    }

    fn refresh_tail(&mut self) {
        // Acquire pairs with the producer's Release store of `tail`: its slot writes happen before
        // our reads.
        self.cached_tail = self.shared.tail.load(Ordering::Acquire);
    }

    /// Queued values, reloading the producer's position only when the cached one shows fewer than
    /// `wanted`.
    fn available_for(&mut self, wanted: usize) -> usize {
        if self.cached_len() < wanted {
            self.refresh_tail();
        }
        self.cached_len()
    }
}

/// Values taken by [`Consumer::drain`]. Dropping it gives the yielded slots back to the producer.
pub struct Drain<'a, T> {
    consumer: &'a mut Consumer<T>,
    /// The consumer's position when the drain began; nothing to publish if it has not moved.
    start: usize,
    remaining: usize,
}

impl<T> Iterator for Drain<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let consumer = &mut *self.consumer;
        // SAFETY: `drain` counted this position inside `head..tail` (after an Acquire load of
        // `tail`), and advancing `head` right after reading means the value is moved out once.
        let value = consumer
            .shared
            .slot(consumer.head)
            .with_mut(|slot| unsafe { (*slot).assume_init_read() });
        consumer.head = consumer.head.wrapping_add(1);
        Some(value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<T> ExactSizeIterator for Drain<'_, T> {}

impl<T> Drop for Drain<'_, T> {
    fn drop(&mut self) {
        // Release pairs with the producer's Acquire load of `head`: our reads of the yielded slots
        // happen before it reuses them. Runs on unwind too, so a value is never read twice.
        if self.consumer.head != self.start {
            self.consumer
                .shared
                .head
                .store(self.consumer.head, Ordering::Release);
        }
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

    /// Each handle can move to its own thread (and only that: neither is `Clone`).
    #[test]
    fn handles_are_send() {
        fn assert_send<T: Send>(_: &T) {}
        let (tx, rx) = channel::<alloc::boxed::Box<u8>>(2).unwrap();
        assert_send(&tx);
        assert_send(&rx);
    }

    #[test]
    fn rejects_capacities_that_are_not_powers_of_two() {
        assert_eq!(
            channel::<u8>(3).err(),
            Some(CapacityError {
                requested: 3,
                min: 1
            })
        );
        assert!(channel::<u8>(0).is_err());
    }

    #[test]
    fn push_until_full_then_hands_the_value_back() {
        let (mut tx, mut rx) = channel(4).unwrap();
        for i in 0..4 {
            assert_eq!(tx.push(i), Ok(()));
        }
        assert_eq!(tx.push(99), Err(99));
        assert_eq!(tx.free_slots(), 0);
        assert_eq!(rx.len(), 4);
        assert_eq!(rx.pop(), Some(0));
        assert_eq!(tx.free_slots(), 1);
        assert_eq!(tx.push(4), Ok(()));
        let mut out = Vec::new();
        assert_eq!(rx.pop_into(&mut out, usize::MAX), 4);
        assert_eq!(out, [1, 2, 3, 4]);
        assert!(rx.is_empty());
        assert_eq!(rx.pop(), None);
    }

    #[test]
    fn capacity_one_alternates_full_and_empty() {
        let (mut tx, mut rx) = channel(1).unwrap();
        for i in 0..5 {
            assert_eq!(tx.push(i), Ok(()));
            assert_eq!(tx.push(i + 100), Err(i + 100));
            assert_eq!(rx.pop(), Some(i));
            assert_eq!(rx.pop(), None);
        }
    }

    #[test]
    fn push_slice_queues_only_what_fits() {
        let (mut tx, mut rx) = channel(8).unwrap();
        assert_eq!(tx.push_slice(&[1, 2, 3, 4, 5, 6]), 6);
        assert_eq!(tx.push_slice(&[7, 8, 9, 10]), 2);
        let mut out = Vec::new();
        rx.pop_into(&mut out, 3);
        assert_eq!(out, [1, 2, 3]);
        // Wraps around the end of the ring.
        assert_eq!(tx.push_slice(&[9, 10, 11, 12]), 3);
        out.clear();
        rx.pop_into(&mut out, usize::MAX);
        assert_eq!(out, [4, 5, 6, 7, 8, 9, 10, 11]);
    }

    #[test]
    fn push_iter_leaves_what_did_not_fit_in_the_iterator() {
        let (mut tx, mut rx) = channel(4).unwrap();
        // `filter` has no upper size hint, so the producer must look at the real free space.
        let mut values = (0..10).filter(|_| true);
        assert_eq!(tx.push_iter(&mut values), 4);
        assert_eq!(values.next(), Some(4));
        assert_eq!(rx.pop(), Some(0));
        assert_eq!(tx.push_iter(&mut values), 1);
        assert_eq!(values.next(), Some(6));
    }

    #[test]
    fn a_partly_consumed_drain_leaves_the_rest_queued() {
        let (mut tx, mut rx) = channel(8).unwrap();
        tx.push_slice(&[1, 2, 3, 4]);
        let mut drain = rx.drain(3);
        assert_eq!(drain.len(), 3);
        assert_eq!(drain.next(), Some(1));
        drop(drain);
        assert_eq!(rx.len(), 3);
        assert_eq!(tx.free_slots(), 5);
        assert_eq!(rx.pop(), Some(2));
    }

    #[test]
    fn dropping_the_queue_drops_queued_values_once() {
        let counter = DropCounter::default();
        let (mut tx, mut rx) = channel(4).unwrap();
        for _ in 0..4 {
            assert!(tx.push(counter.token()).is_ok());
        }
        drop(rx.pop());
        assert_eq!(counter.dropped(), 1);
        drop(tx);
        assert_eq!(counter.dropped(), 1);
        drop(rx);
        assert_eq!(counter.dropped(), 4);
    }

    #[test]
    fn a_panicking_iterator_leaves_the_queue_consistent() {
        let counter = DropCounter::default();
        let (mut tx, mut rx) = channel(8).unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            tx.push_iter((0..4).map(|i| {
                assert!(i < 2, "iterator fails at its third value");
                counter.token()
            }))
        }));
        assert!(result.is_err());
        // The two values written before the panic are delivered once, not lost or duplicated.
        assert!(tx.push(counter.token()).is_ok());
        assert_eq!(rx.drain(usize::MAX).count(), 3);
        assert_eq!(counter.dropped(), 3);
        assert!(rx.pop().is_none());
    }

    #[test]
    fn values_cross_threads_in_order_without_loss_or_duplication() {
        let (mut tx, mut rx) = channel(16).unwrap();
        let producer = thread::spawn(move || {
            let mut next = 0u64;
            let backoff = crossbeam_utils::Backoff::new();
            let mut single = false;
            while next < STRESS_ITEMS {
                // Alternate single pushes and batches so both paths race the consumer.
                single = !single;
                let pushed = if single {
                    tx.push(next).map_or(0, |()| 1)
                } else {
                    let end = (next + 5).min(STRESS_ITEMS);
                    tx.push_iter(next..end) as u64
                };
                next += pushed;
                if pushed == 0 {
                    backoff.snooze();
                } else {
                    backoff.reset();
                }
            }
        });
        let mut expected = 0u64;
        let mut batch = Vec::new();
        let backoff = crossbeam_utils::Backoff::new();
        while expected < STRESS_ITEMS {
            batch.clear();
            if rx.pop_into(&mut batch, 7) == 0 {
                backoff.snooze();
                continue;
            }
            backoff.reset();
            for value in batch.drain(..) {
                assert_eq!(value, expected);
                expected += 1;
            }
        }
        producer.join().unwrap();
        assert_eq!(rx.pop(), None);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push,
        PushBatch(u8),
        Pop,
        PopBatch(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Push),
            (0u8..6).prop_map(Op::PushBatch),
            Just(Op::Pop),
            (0u8..6).prop_map(Op::PopBatch),
        ]
    }

    proptest! {
        #![proptest_config(proptest_config())]

        /// Any sequence of single and batched operations behaves like a bounded VecDeque.
        #[test]
        fn behaves_like_a_bounded_vecdeque(
            capacity_log2 in 0u32..4,
            ops in proptest::collection::vec(op(), 1..OPS_PER_CASE),
        ) {
            let capacity = 1usize << capacity_log2;
            let (mut tx, mut rx) = channel(capacity).unwrap();
            let mut model = VecDeque::new();
            let mut next = 0u32;
            for op in ops {
                match op {
                    Op::Push => {
                        let fits = model.len() < capacity;
                        prop_assert_eq!(tx.push(next).is_ok(), fits);
                        if fits {
                            model.push_back(next);
                        }
                        next += 1;
                    }
                    Op::PushBatch(n) => {
                        let values: Vec<u32> = (next..next + u32::from(n)).collect();
                        let fits = values.len().min(capacity - model.len());
                        prop_assert_eq!(tx.push_slice(&values), fits);
                        model.extend(&values[..fits]);
                        next += u32::from(n);
                    }
                    Op::Pop => prop_assert_eq!(rx.pop(), model.pop_front()),
                    Op::PopBatch(n) => {
                        let mut out = Vec::new();
                        let taken = rx.pop_into(&mut out, usize::from(n));
                        let expected: Vec<u32> =
                            model.drain(..usize::from(n).min(model.len())).collect();
                        prop_assert_eq!(taken, expected.len());
                        prop_assert_eq!(out, expected);
                    }
                }
                prop_assert_eq!(rx.len(), model.len());
                prop_assert_eq!(tx.free_slots(), capacity - model.len());
            }
        }
    }
}
