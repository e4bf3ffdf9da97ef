//! loom models of the per-CPU queues (datapath::queue). Built with `--cfg loom`, the queues use loom's
//! atomics, `Arc` and `UnsafeCell`, so loom explores every interleaving (up to the preemption bound)
//! and every outcome the C11 memory model allows for their orderings, and flags a slot read that is
//! not ordered after its write.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p xenpv-loom-tests --release --test queues`.
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use xenpv_datapath::queue::{mpsc, spsc};

/// Explores with at most `bound` preemptions per execution.
fn model(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(bound);
    builder.check(f);
}

// No thread spins: every retry loop is bounded (`ATTEMPTS`), whatever was not delivered while the
// threads ran is drained after they are joined, and the check is that the consumer received exactly
// the accepted values, in order. (Unbounded spin loops on both sides make loom's exploration blow
// up even with `yield_now`.)

/// Tries per value / per pop while the other side is running.
const ATTEMPTS: usize = 2;

/// Pushes `value`, retrying a bounded number of times while the queue is full; true if queued.
fn spsc_push<T>(tx: &mut spsc::Producer<T>, mut value: T) -> bool {
    for _ in 0..ATTEMPTS {
        match tx.push(value) {
            Ok(()) => return true,
            Err(back) => value = back,
        }
        thread::yield_now();
    }
    false
}

fn mpsc_push<T>(tx: &mpsc::Producer<T>, mut value: T) -> bool {
    for _ in 0..ATTEMPTS {
        match tx.try_push(value) {
            Ok(()) => return true,
            Err(back) => value = back,
        }
        thread::yield_now();
    }
    false
}

/// Four values through two slots: the producer meets the full queue, the consumer the empty one,
/// and in the executions where the consumer keeps up, both wrap around the ring.
#[test]
fn spsc_single_values_cross_full_and_empty_in_order() {
    model(3, || {
        let (mut tx, mut rx) = spsc::channel(2).unwrap();
        let producer = thread::spawn(move || {
            (0..4)
                .filter(|value| spsc_push(&mut tx, *value))
                .collect::<Vec<_>>()
        });
        let mut received = Vec::new();
        for _ in 0..4 {
            match rx.pop() {
                Some(value) => received.push(value),
                None => thread::yield_now(),
            }
        }
        let accepted = producer.join().unwrap();
        received.extend(rx.drain(usize::MAX));
        assert_eq!(received, accepted);
        // Two slots: the first two pushes cannot meet a full queue.
        assert!(accepted.starts_with(&[0, 1]));
    });
}

/// Batches: `push_slice` publishes several values with one store and `pop_into` gives several slots
/// back with one store; a batch is cut short by a full or an empty queue.
#[test]
fn spsc_batches_cross_in_order() {
    model(3, || {
        let (mut tx, mut rx) = spsc::channel(2).unwrap();
        let producer = thread::spawn(move || {
            let values = [0, 1, 2, 3, 4, 5];
            let mut sent = 0;
            for _ in 0..3 {
                sent += tx.push_slice(&values[sent..]);
            }
            sent
        });
        let mut received = Vec::new();
        for _ in 0..3 {
            rx.pop_into(&mut received, 2);
        }
        let sent = producer.join().unwrap();
        rx.pop_into(&mut received, usize::MAX);
        assert_eq!(received, (0..sent).collect::<Vec<_>>());
        assert!(sent >= 2);
    });
}

/// Counts drops, to show each value is dropped exactly once wherever the queue ends.
struct Token(Arc<AtomicUsize>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The handles are dropped on different threads with values still queued: whichever goes last
/// drops them, after (in loom's happens-before sense) the producer wrote them.
#[test]
fn spsc_drops_leftover_values_once_whoever_drops_last() {
    model(3, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut tx, mut rx) = spsc::channel(2).unwrap();
        let counter = drops.clone();
        let producer = thread::spawn(move || {
            assert!(tx.push(Token(counter.clone())).is_ok());
            assert!(tx.push(Token(counter.clone())).is_ok());
        });
        drop(rx.pop());
        drop(rx);
        producer.join().unwrap();
        assert_eq!(drops.load(Ordering::Relaxed), 2);
    });
}

/// The values each producer got accepted must arrive exactly once and in its order.
fn assert_per_producer_fifo(received: &[(usize, usize)], accepted: &[Vec<usize>]) {
    for (id, accepted) in accepted.iter().enumerate() {
        let got: Vec<usize> = received
            .iter()
            .filter(|(from, _)| *from == id)
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(&got, accepted, "producer {id}");
    }
    assert_eq!(
        received.len(),
        accepted.iter().map(Vec::len).sum::<usize>(),
        "a value from nowhere"
    );
}

/// Two producers, two values each, through two slots, racing for positions while the consumer
/// pops one at a time: across the full boundary and around the ring.
#[test]
fn mpsc_two_producers_keep_their_own_order() {
    model(3, || {
        let (tx, mut rx) = mpsc::channel(2).unwrap();
        let producers: Vec<_> = (0..2)
            .map(|id| {
                let tx = tx.clone();
                thread::spawn(move || {
                    (0..2)
                        .filter(|n| mpsc_push(&tx, (id, *n)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        drop(tx);
        let mut received = Vec::new();
        for _ in 0..2 {
            match rx.pop() {
                Some(value) => received.push(value),
                None => thread::yield_now(),
            }
        }
        let accepted: Vec<Vec<usize>> = producers.into_iter().map(|p| p.join().unwrap()).collect();
        received.extend(rx.drain(usize::MAX));
        assert_per_producer_fifo(&received, &accepted);
        assert!(received.len() >= 2, "two free slots, yet a push failed");
    });
}

/// Producers that do not retry, a consumer that takes batches: each `try_push` either queues its
/// value or hands it back, never both and never neither.
#[test]
fn mpsc_try_push_at_the_full_boundary_loses_nothing() {
    model(3, || {
        let (tx, mut rx) = mpsc::channel(2).unwrap();
        let producers: Vec<_> = (0..2)
            .map(|id| {
                let tx = tx.clone();
                thread::spawn(move || {
                    (0..2)
                        .filter(|n| tx.try_push((id, *n)).is_ok())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        drop(tx);
        let mut received = Vec::new();
        rx.pop_into(&mut received, 4);
        let accepted: Vec<Vec<usize>> = producers.into_iter().map(|p| p.join().unwrap()).collect();
        rx.pop_into(&mut received, 4);
        assert_per_producer_fifo(&received, &accepted);
        assert!(received.len() >= 2, "two free slots, yet a push failed");
    });
}

/// As for SPSC: values left in the MPSC queue are dropped once, by whichever handle goes last,
/// including one queued after the consumer is gone.
#[test]
fn mpsc_drops_leftover_values_once_whoever_drops_last() {
    model(3, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = mpsc::channel(2).unwrap();
        let counter = drops.clone();
        let producer = thread::spawn(move || {
            let accepted = (0..3)
                .filter(|_| tx.try_push(Token(counter.clone())).is_ok())
                .count();
            drop(tx);
            accepted
        });
        let popped = rx.pop().is_some();
        drop(rx);
        let accepted = producer.join().unwrap();
        // Two slots and at most one pop: two or three pushes got in.
        assert!(accepted >= 2 && (accepted == 2 || popped));
        // Refused tokens come back and are dropped at once; queued ones when the queue goes.
        assert_eq!(drops.load(Ordering::Relaxed), 3);
    });
}
