//! The 2-level event channel ABI, guest side: one pending bit and one mask bit per port in
//! shared_info (64 words of 64 bits), and per vCPU a selector word saying which pending words to
//! look at plus an "upcall pending" flag. Xen sets pending, then the selector bit, then the flag, and
//! raises the upcall; the guest walks them down in the opposite order.
//!
//! Masking is the guest's own business (Xen reads the mask bits): a port that becomes pending while
//! masked stays pending, and unmasking it must re-raise the event, or it would be lost.

use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use xenpv_abi::event_channel::EVTCHN_2L_NR_CHANNELS;
use xenpv_abi::EvtchnPort;

const WORDS: usize = 64;

/// The event bitmaps of shared_info.
pub struct Bitmaps<'a> {
    pub pending: &'a [AtomicU64; WORDS],
    pub mask: &'a [AtomicU64; WORDS],
}

/// The event fields of one vCPU's vcpu_info.
pub struct VcpuEvents<'a> {
    pub upcall_pending: &'a AtomicU8,
    pub upcall_mask: &'a AtomicU8,
    pub pending_sel: &'a AtomicU64,
}

/// A port number beyond the 2-level ABI's 4096.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadPort(pub EvtchnPort);

fn split(port: EvtchnPort) -> Result<(usize, u64), BadPort> {
    if port >= EVTCHN_2L_NR_CHANNELS {
        return Err(BadPort(port));
    }
    Ok(((port / 64) as usize, 1u64 << (port % 64)))
}

/// The 2-level ABI over one shared_info and the vcpu_info of the vCPU that handles events.
pub struct TwoLevel<'a> {
    bits: Bitmaps<'a>,
    vcpu: VcpuEvents<'a>,
}

impl<'a> TwoLevel<'a> {
    pub fn new(bits: Bitmaps<'a>, vcpu: VcpuEvents<'a>) -> Self {
        Self { bits, vcpu }
    }

    /// Stops `port` from raising upcalls; events still become pending.
    pub fn mask(&self, port: EvtchnPort) -> Result<(), BadPort> {
        let (w, b) = split(port)?;
        self.bits.mask[w].fetch_or(b, Ordering::SeqCst);
        Ok(())
    }

    /// Lets `port` raise upcalls again. If it became pending while masked, the event is re-raised on
    /// this vCPU (selector bit and upcall flag, as Xen would have set them); returns whether an upcall
    /// is now due, which the caller must then run (events are not lost, only deferred to it).
    pub fn unmask(&self, port: EvtchnPort) -> Result<bool, BadPort> {
        let (w, b) = split(port)?;
        // SeqCst: the mask is clear before we look at pending, so an event Xen sets after our look
        // finds the port unmasked and raises the upcall itself.
        self.bits.mask[w].fetch_and(!b, Ordering::SeqCst);
        if self.bits.pending[w].load(Ordering::SeqCst) & b == 0 {
            return Ok(false);
        }
        self.vcpu.pending_sel.fetch_or(1 << w, Ordering::SeqCst);
        self.vcpu.upcall_pending.store(1, Ordering::SeqCst);
        Ok(self.vcpu.upcall_mask.load(Ordering::SeqCst) == 0)
    }

    pub fn is_pending(&self, port: EvtchnPort) -> Result<bool, BadPort> {
        let (w, b) = split(port)?;
        Ok(self.bits.pending[w].load(Ordering::SeqCst) & b != 0)
    }

    /// The upcall: calls `handle` once for each pending, unmasked port (clearing its pending bit
    /// first, so an event arriving during the handler is seen again) until nothing is left. Masked
    /// pending ports stay pending for [`Self::unmask`]. Returns how many events were handled.
    pub fn dispatch(&self, mut handle: impl FnMut(EvtchnPort)) -> usize {
        let mut handled = 0;
        loop {
            // Clear the flag before reading the selector: an event Xen posts after this sets both
            // again and is found by the next round.
            self.vcpu.upcall_pending.store(0, Ordering::SeqCst);
            let mut sel = self.vcpu.pending_sel.swap(0, Ordering::SeqCst);
            if sel == 0 {
                return handled;
            }
            while sel != 0 {
                let w = sel.trailing_zeros() as usize;
                sel &= sel - 1;
                let mut ready = self.bits.pending[w].load(Ordering::SeqCst)
                    & !self.bits.mask[w].load(Ordering::SeqCst);
                while ready != 0 {
                    let b = ready.trailing_zeros();
                    ready &= ready - 1;
                    self.bits.pending[w].fetch_and(!(1 << b), Ordering::SeqCst);
                    handle(w as u32 * 64 + b);
                    handled += 1;
                }
            }
        }
    }
}

/// Routes ports to handlers: a fixed table, so binding takes no allocation (one slot per port the
/// home uses; ports beyond the table are refused).
pub struct Routes<H, const N: usize> {
    slots: [Option<H>; N],
}

impl<H, const N: usize> Default for Routes<H, N> {
    fn default() -> Self {
        Self {
            slots: core::array::from_fn(|_| None),
        }
    }
}

impl<H, const N: usize> Routes<H, N> {
    /// Routes `port` to `handler`, replacing any earlier one.
    pub fn bind(&mut self, port: EvtchnPort, handler: H) -> Result<(), BadPort> {
        let slot = self.slots.get_mut(port as usize).ok_or(BadPort(port))?;
        *slot = Some(handler);
        Ok(())
    }

    pub fn unbind(&mut self, port: EvtchnPort) -> Option<H> {
        self.slots.get_mut(port as usize).and_then(Option::take)
    }

    /// The handler of `port`; events on ports with none are dropped by the caller.
    pub fn get(&self, port: EvtchnPort) -> Option<&H> {
        self.slots.get(port as usize).and_then(Option::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// Plain memory in the place of shared_info and vcpu_info, and Xen's side of posting an event.
    struct Shared {
        pending: [AtomicU64; WORDS],
        mask: [AtomicU64; WORDS],
        upcall_pending: AtomicU8,
        upcall_mask: AtomicU8,
        sel: AtomicU64,
    }

    impl Shared {
        fn new() -> Self {
            Self {
                pending: core::array::from_fn(|_| AtomicU64::new(0)),
                mask: core::array::from_fn(|_| AtomicU64::new(0)),
                upcall_pending: AtomicU8::new(0),
                upcall_mask: AtomicU8::new(0),
                sel: AtomicU64::new(0),
            }
        }

        fn evtchn(&self) -> TwoLevel<'_> {
            TwoLevel::new(
                Bitmaps {
                    pending: &self.pending,
                    mask: &self.mask,
                },
                VcpuEvents {
                    upcall_pending: &self.upcall_pending,
                    upcall_mask: &self.upcall_mask,
                    pending_sel: &self.sel,
                },
            )
        }

        /// What Xen does (evtchn_2l_set_pending): pending; if unmasked, selector and upcall flag.
        fn post(&self, port: u32) {
            let (w, b) = (port as usize / 64, 1u64 << (port % 64));
            let was = self.pending[w].fetch_or(b, Ordering::SeqCst) & b != 0;
            if was || self.mask[w].load(Ordering::SeqCst) & b != 0 {
                return;
            }
            self.sel.fetch_or(1 << w, Ordering::SeqCst);
            self.upcall_pending.store(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn dispatch_delivers_each_pending_port_once_in_order() {
        let s = Shared::new();
        for p in [4095, 3, 64, 65, 1] {
            s.post(p);
        }
        let e = s.evtchn();
        let mut got = Vec::new();
        assert_eq!(e.dispatch(|p| got.push(p)), 5);
        assert_eq!(got, [1, 3, 64, 65, 4095]);
        assert_eq!(s.upcall_pending.load(Ordering::SeqCst), 0);
        assert_eq!(e.dispatch(|p| got.push(p)), 0);
        assert!(!e.is_pending(3).unwrap());
    }

    #[test]
    fn an_event_posted_by_a_handler_is_delivered_in_the_same_upcall() {
        let s = Shared::new();
        s.post(10);
        let e = s.evtchn();
        let mut got = Vec::new();
        e.dispatch(|p| {
            got.push(p);
            if got.len() == 1 {
                // The backend answers at once, on the same port and another one.
                s.post(10);
                s.post(200);
            }
        });
        assert_eq!(got, [10, 10, 200]);
    }

    #[test]
    fn a_masked_port_stays_pending_and_unmask_re_raises_it() {
        let s = Shared::new();
        let e = s.evtchn();
        e.mask(7).unwrap();
        s.post(7);
        s.post(8);
        let mut got = Vec::new();
        e.dispatch(|p| got.push(p));
        assert_eq!(got, [8]);
        assert!(e.is_pending(7).unwrap());
        assert_eq!(e.unmask(7), Ok(true));
        assert_eq!(s.upcall_pending.load(Ordering::SeqCst), 1);
        e.dispatch(|p| got.push(p));
        assert_eq!(got, [8, 7]);
        // Unmasking a port with nothing pending raises nothing.
        assert_eq!(e.unmask(9), Ok(false));
        assert_eq!(s.upcall_pending.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn unmask_with_upcalls_masked_defers_to_the_next_upcall() {
        let s = Shared::new();
        let e = s.evtchn();
        e.mask(100).unwrap();
        s.post(100);
        s.upcall_mask.store(1, Ordering::SeqCst);
        assert_eq!(e.unmask(100), Ok(false));
        // Still raised: the vCPU takes it once it unmasks upcalls.
        assert_eq!(s.upcall_pending.load(Ordering::SeqCst), 1);
        let mut got = Vec::new();
        e.dispatch(|p| got.push(p));
        assert_eq!(got, [100]);
    }

    #[test]
    fn ports_beyond_the_2_level_abi_are_refused() {
        let s = Shared::new();
        let e = s.evtchn();
        assert_eq!(e.mask(4096), Err(BadPort(4096)));
        assert_eq!(e.unmask(5000), Err(BadPort(5000)));
        assert_eq!(e.is_pending(u32::MAX), Err(BadPort(u32::MAX)));
    }

    #[test]
    fn routes_bind_replace_and_unbind() {
        let mut r: Routes<&str, 8> = Routes::default();
        r.bind(3, "store").unwrap();
        assert_eq!(r.get(3), Some(&"store"));
        r.bind(3, "console").unwrap();
        assert_eq!(r.get(3), Some(&"console"));
        assert_eq!(r.bind(8, "x"), Err(BadPort(8)));
        assert_eq!(r.unbind(3), Some("console"));
        assert_eq!(r.get(3), None);
        assert_eq!(r.unbind(100), None);
    }
}
