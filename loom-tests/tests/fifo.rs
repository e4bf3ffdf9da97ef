//! loom model of the FIFO event channel queue, guest side (xenpv_xen::fifo) against Xen's side.
//!
//! The guest takes the head of a queue off by clearing LINKED and the link in one compare-and-swap;
//! Xen appends to the tail with its own compare-and-swap that succeeds only while the tail is still
//! LINKED, and otherwise starts the queue again by writing the control block's head. Whatever the
//! interleaving, every raised event must be handled exactly once: by the upcall running meanwhile,
//! or by the next one, which Xen's ready bit asks for.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p xenpv-loom-tests --release --test fifo`.
#![cfg(loom)]

use loom::sync::atomic::{AtomicU32, Ordering};
use loom::sync::Arc;
use loom::thread;
use xenpv_abi::event_channel::{
    EVTCHN_FIFO_LINKED, EVTCHN_FIFO_LINK_MASK, EVTCHN_FIFO_MASKED, EVTCHN_FIFO_PENDING,
};
use xenpv_xen::fifo::{ControlBlock, Fifo};

const PENDING: u32 = 1 << EVTCHN_FIFO_PENDING;
const MASKED: u32 = 1 << EVTCHN_FIFO_MASKED;
const LINKED: u32 = 1 << EVTCHN_FIFO_LINKED;

fn model(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(bound);
    builder.check(f);
}

struct Shared {
    words: Vec<AtomicU32>,
    control: ControlBlock,
}

impl Shared {
    fn new(ports: usize) -> Arc<Self> {
        Arc::new(Self {
            words: (0..ports).map(|_| AtomicU32::new(0)).collect(),
            control: ControlBlock {
                ready: AtomicU32::new(0),
                rsvd: AtomicU32::new(0),
                head: core::array::from_fn(|_| AtomicU32::new(0)),
            },
        })
    }

    /// Xen's evtchn_fifo_set_pending for queue 0, whose tail Xen remembers in `tail`: pending;
    /// unless masked or already linked, LINKED, then link the old tail to it if the tail is still
    /// linked (compare-and-swap), else make it the head; then the queue's ready bit.
    fn raise(&self, tail: &mut u32, port: u32) {
        let w = &self.words[port as usize];
        if w.fetch_or(PENDING, Ordering::SeqCst) & PENDING != 0 {
            return;
        }
        if w.load(Ordering::SeqCst) & MASKED != 0 {
            return;
        }
        if w.fetch_or(LINKED, Ordering::SeqCst) & LINKED != 0 {
            return;
        }
        let mut linked = false;
        if *tail != 0 {
            let t = &self.words[*tail as usize];
            let mut tw = t.load(Ordering::SeqCst);
            // Xen's try_set_link: only while the tail is LINKED; retried if the word changed.
            while tw & LINKED != 0 {
                match t.compare_exchange(
                    tw,
                    (tw & !EVTCHN_FIFO_LINK_MASK) | port,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                ) {
                    Ok(_) => {
                        linked = true;
                        break;
                    }
                    Err(now) => tw = now,
                }
            }
        }
        if !linked {
            self.control.head[0].store(port, Ordering::SeqCst);
        }
        *tail = port;
        self.control.ready.fetch_or(1, Ordering::SeqCst);
    }
}

/// Port 1 is queued; Xen appends port 2 while the guest's upcall consumes the queue.
#[test]
fn an_event_appended_while_the_head_is_unlinked_is_handled_once() {
    model(3, || {
        let s = Shared::new(4);
        let mut tail = 0;
        s.raise(&mut tail, 1);
        let xen = {
            let s = s.clone();
            thread::spawn(move || s.raise(&mut tail, 2))
        };
        let mut got = Vec::new();
        let mut f = Fifo::new(&s.words, &s.control);
        f.dispatch(|p| got.push(p)).unwrap();
        xen.join().unwrap();
        // The upcall Xen asks for with the ready bit (or nothing left if the first one saw it).
        f.dispatch(|p| got.push(p)).unwrap();
        got.sort();
        assert_eq!(got, [1, 2]);
        for w in &s.words {
            assert_eq!(w.load(Ordering::SeqCst) & (PENDING | LINKED), 0);
        }
    });
}

/// Two appends race the consumer: the queue may end and start again between them.
#[test]
fn appends_across_a_queue_restart_keep_their_order() {
    model(2, || {
        let s = Shared::new(4);
        let mut tail = 0;
        s.raise(&mut tail, 1);
        let xen = {
            let s = s.clone();
            thread::spawn(move || {
                s.raise(&mut tail, 2);
                s.raise(&mut tail, 3);
            })
        };
        let mut got = Vec::new();
        let mut f = Fifo::new(&s.words, &s.control);
        f.dispatch(|p| got.push(p)).unwrap();
        xen.join().unwrap();
        f.dispatch(|p| got.push(p)).unwrap();
        assert_eq!(got, [1, 2, 3]);
    });
}
