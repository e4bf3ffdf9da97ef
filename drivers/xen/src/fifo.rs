//! The FIFO event channel ABI, guest side: one 32-bit event word per port (pending, masked, linked,
//! busy, and the link to the next port of its queue) in pages the guest gives Xen
//! (EVTCHNOP_expand_array), and per vCPU a control block with a ready bit and a head per priority.
//! Xen appends raised events to the tail of their priority's queue; the guest consumes from the
//! head, highest priority (0) first.

use crate::sync::{AtomicU32, Ordering};

use xenpv_abi::event_channel::{
    EVTCHN_FIFO_LINKED, EVTCHN_FIFO_LINK_MASK, EVTCHN_FIFO_MASKED, EVTCHN_FIFO_MAX_QUEUES,
    EVTCHN_FIFO_PENDING,
};
use xenpv_abi::EvtchnPort;

const PENDING: u32 = 1 << EVTCHN_FIFO_PENDING;
const MASKED: u32 = 1 << EVTCHN_FIFO_MASKED;
const LINKED: u32 = 1 << EVTCHN_FIFO_LINKED;

/// A port with no event word (beyond the array expanded so far), or a queue link pointing there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadPort(pub EvtchnPort);

/// A vCPU's control block, laid out as `evtchn_fifo_control_block`.
#[repr(C)]
pub struct ControlBlock {
    pub ready: AtomicU32,
    pub rsvd: AtomicU32,
    pub head: [AtomicU32; EVTCHN_FIFO_MAX_QUEUES],
}

/// The FIFO ABI over the event words (all pages given to Xen, mapped contiguously) and one vCPU's
/// control block.
pub struct Fifo<'a> {
    words: &'a [AtomicU32],
    control: &'a ControlBlock,
    /// Where each queue continues: 0 means "read the head from the control block".
    heads: [u32; EVTCHN_FIFO_MAX_QUEUES],
}

impl<'a> Fifo<'a> {
    pub fn new(words: &'a [AtomicU32], control: &'a ControlBlock) -> Self {
        Self {
            words,
            control,
            heads: [0; EVTCHN_FIFO_MAX_QUEUES],
        }
    }

    fn word(&self, port: EvtchnPort) -> Result<&AtomicU32, BadPort> {
        self.words.get(port as usize).ok_or(BadPort(port))
    }

    pub fn mask(&self, port: EvtchnPort) -> Result<(), BadPort> {
        self.word(port)?.fetch_or(MASKED, Ordering::SeqCst);
        Ok(())
    }

    /// Clears the mask; returns true when the event is pending, so the caller must have Xen link it
    /// (EVTCHNOP_unmask) — only Xen may touch the queues' tails.
    pub fn unmask(&self, port: EvtchnPort) -> Result<bool, BadPort> {
        let old = self.word(port)?.fetch_and(!MASKED, Ordering::SeqCst);
        Ok(old & PENDING != 0)
    }

    pub fn is_pending(&self, port: EvtchnPort) -> Result<bool, BadPort> {
        Ok(self.word(port)?.load(Ordering::SeqCst) & PENDING != 0)
    }

    /// Takes the head of queue `q` off it: clears LINKED and the link in one atomic step (Xen may be
    /// setting the link at the same time, which makes our exchange fail and retry), and returns the
    /// port and the next head (0: the queue ended).
    fn unlink_head(&mut self, q: usize) -> Result<(EvtchnPort, u32), BadPort> {
        let mut head = self.heads[q];
        if head == 0 {
            head = self.control.head[q].load(Ordering::Acquire);
        }
        let word = self.word(head)?;
        let mut w = word.load(Ordering::SeqCst);
        loop {
            match word.compare_exchange(
                w,
                w & !(LINKED | EVTCHN_FIFO_LINK_MASK),
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return Ok((head, w & EVTCHN_FIFO_LINK_MASK)),
                Err(now) => w = now,
            }
        }
    }

    /// The upcall: consumes every queue, highest priority first, calling `handle` for each port that
    /// is pending and unmasked (clearing pending first). Returns the events handled, or the bad
    /// link that stopped it.
    pub fn dispatch(&mut self, mut handle: impl FnMut(EvtchnPort)) -> Result<usize, BadPort> {
        let mut handled = 0;
        let mut ready = self.control.ready.swap(0, Ordering::SeqCst);
        while ready != 0 {
            let q = ready.trailing_zeros() as usize;
            let (port, next) = self.unlink_head(q)?;
            // A port linked to itself would make this loop forever.
            if next == port {
                return Err(BadPort(next));
            }
            if next == 0 {
                ready &= !(1 << q);
            }
            self.heads[q] = next;
            let word = self.word(port)?;
            if word.load(Ordering::SeqCst) & (PENDING | MASKED) == PENDING {
                word.fetch_and(!PENDING, Ordering::SeqCst);
                handle(port);
                handled += 1;
            }
            ready |= self.control.ready.swap(0, Ordering::SeqCst);
        }
        Ok(handled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    struct Xen {
        words: Vec<AtomicU32>,
        control: ControlBlock,
        tails: [u32; EVTCHN_FIFO_MAX_QUEUES],
    }

    impl Xen {
        fn new(ports: usize) -> Self {
            Self {
                words: (0..ports).map(|_| AtomicU32::new(0)).collect(),
                control: ControlBlock {
                    ready: AtomicU32::new(0),
                    rsvd: AtomicU32::new(0),
                    head: core::array::from_fn(|_| AtomicU32::new(0)),
                },
                tails: [0; EVTCHN_FIFO_MAX_QUEUES],
            }
        }

        /// Xen's evtchn_fifo_set_pending: pending; unless masked or already linked, link at the
        /// tail of queue `q` (or become its head when the old tail was consumed) and mark q ready.
        fn raise(&mut self, port: u32, q: usize) {
            let w = &self.words[port as usize];
            let old = w.fetch_or(PENDING, Ordering::SeqCst);
            if old & (MASKED | LINKED) != 0 {
                return;
            }
            w.fetch_or(LINKED, Ordering::SeqCst);
            let tail = self.tails[q];
            let linked = tail != 0 && {
                let t = &self.words[tail as usize];
                let tw = t.load(Ordering::SeqCst);
                tw & LINKED != 0
                    && t.compare_exchange(tw, tw | port, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
            };
            if !linked {
                self.control.head[q].store(port, Ordering::SeqCst);
            }
            self.tails[q] = port;
            self.control.ready.fetch_or(1 << q, Ordering::SeqCst);
        }
    }

    #[test]
    fn queues_drain_in_priority_then_arrival_order() {
        let mut x = Xen::new(64);
        x.raise(5, 7);
        x.raise(9, 7);
        x.raise(3, 0);
        x.raise(40, 15);
        x.raise(2, 7);
        let mut got = Vec::new();
        let mut f = Fifo::new(&x.words, &x.control);
        assert_eq!(f.dispatch(|p| got.push(p)), Ok(5));
        assert_eq!(got, [3, 5, 9, 2, 40]);
        assert!(!f.is_pending(5).unwrap());
        assert_eq!(f.dispatch(|p| got.push(p)), Ok(0));
    }

    #[test]
    fn events_after_a_queue_ended_start_it_again() {
        let mut x = Xen::new(64);
        x.raise(5, 7);
        let mut got = Vec::new();
        {
            let mut f = Fifo::new(&x.words, &x.control);
            f.dispatch(|p| got.push(p)).unwrap();
        }
        // The old tail (5) is no longer linked, so Xen writes a new head.
        x.raise(6, 7);
        x.raise(5, 7);
        let mut f = Fifo::new(&x.words, &x.control);
        f.dispatch(|p| got.push(p)).unwrap();
        assert_eq!(got, [5, 6, 5]);
    }

    #[test]
    fn a_masked_port_stays_pending_and_unmask_asks_for_xen() {
        let mut x = Xen::new(64);
        {
            let f = Fifo::new(&x.words, &x.control);
            f.mask(8).unwrap();
        }
        x.raise(8, 7);
        x.raise(9, 7);
        let mut got = Vec::new();
        let mut f = Fifo::new(&x.words, &x.control);
        f.dispatch(|p| got.push(p)).unwrap();
        assert_eq!(got, [9]);
        assert!(f.is_pending(8).unwrap());
        assert_eq!(f.unmask(8), Ok(true));
        assert_eq!(f.unmask(9), Ok(false));
    }

    #[test]
    fn ports_and_links_beyond_the_array_are_errors() {
        let x = Xen::new(16);
        let mut f = Fifo::new(&x.words, &x.control);
        assert_eq!(f.mask(16), Err(BadPort(16)));
        assert_eq!(f.unmask(1000), Err(BadPort(1000)));
        // A head naming a port without an event word.
        x.control.head[3].store(99, Ordering::SeqCst);
        x.control.ready.store(1 << 3, Ordering::SeqCst);
        assert_eq!(f.dispatch(|_| {}), Err(BadPort(99)));
        // A port whose link names itself.
        let mut f = Fifo::new(&x.words, &x.control);
        x.words[4].store(PENDING | LINKED | 4, Ordering::SeqCst);
        x.control.head[3].store(4, Ordering::SeqCst);
        x.control.ready.store(1 << 3, Ordering::SeqCst);
        assert_eq!(f.dispatch(|_| {}), Err(BadPort(4)));
    }
}
