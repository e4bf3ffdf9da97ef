//! Per-port event callbacks, dispatched from the home's event DPC without a lock.
//!
//! The dispatch path runs at DISPATCH_LEVEL and may interrupt a thread that is changing the same
//! slot on the same CPU, so it must never wait. Each slot has one state word: [`ACTIVE`] (a callback
//! is set), [`WRITER`] (someone is changing the slot) and, below them, the number of dispatches in
//! progress. A dispatch counts itself in, calls the callback only if it saw `ACTIVE`, and counts
//! itself out. A change takes `WRITER`, clears `ACTIVE`, waits for the count to drain, rewrites the
//! callback and sets `ACTIVE` again: a dispatch that counted in after the clear does not read the
//! fields, and every dispatch that read them has finished before they change.

use alloc::vec::Vec;
use core::ffi::c_void;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use crate::abi::EventFn;
use crate::error::BusError;

const ACTIVE: u32 = 1 << 31;
const WRITER: u32 = 1 << 30;
const COUNT: u32 = WRITER - 1;

/// Pointers, not integers, so that the callback and its context keep their provenance.
struct Slot {
    state: AtomicU32,
    callback: AtomicPtr<()>,
    context: AtomicPtr<c_void>,
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            state: AtomicU32::new(0),
            callback: AtomicPtr::new(null_mut()),
            context: AtomicPtr::new(null_mut()),
        }
    }
}

pub(crate) struct EventCallbacks {
    slots: Vec<Slot>,
}

impl EventCallbacks {
    /// A table for ports `0..ports`.
    pub(crate) fn new(ports: u32) -> Self {
        EventCallbacks {
            slots: (0..ports).map(|_| Slot::default()).collect(),
        }
    }

    fn slot(&self, port: u32) -> Result<&Slot, BusError> {
        self.slots
            .get(port as usize)
            .ok_or(BusError::InvalidParameter)
    }

    /// Sets or clears the callback of `port`. Returns once no dispatch of the previous callback is
    /// running; so it must not be called from that callback for its own port.
    pub(crate) fn set(
        &self,
        port: u32,
        callback: Option<EventFn>,
        context: *mut c_void,
    ) -> Result<(), BusError> {
        let slot = self.slot(port)?;
        // Take the writer bit (another thread may be changing the slot too).
        loop {
            let s = slot.state.load(Ordering::Relaxed);
            if s & WRITER == 0
                && slot
                    .state
                    .compare_exchange_weak(s, s | WRITER, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                break;
            }
            core::hint::spin_loop();
        }
        slot.state.fetch_and(!ACTIVE, Ordering::AcqRel);
        while slot.state.load(Ordering::Acquire) & COUNT != 0 {
            core::hint::spin_loop();
        }
        let mut next = WRITER;
        if let Some(cb) = callback {
            slot.callback.store(cb as *mut (), Ordering::Relaxed);
            slot.context.store(context, Ordering::Relaxed);
            next |= ACTIVE;
        }
        // Publishes the fields with ACTIVE (Release) and drops the writer bit in one step.
        slot.state.fetch_xor(next, Ordering::Release);
        Ok(())
    }

    /// Calls the callback of `port`, if one is set; says whether it ran. Never waits.
    pub(crate) fn dispatch(&self, port: u32) -> bool {
        let Ok(slot) = self.slot(port) else {
            return false;
        };
        let seen = slot.state.fetch_add(1, Ordering::Acquire);
        let ran = seen & ACTIVE != 0;
        if ran {
            let cb = slot.callback.load(Ordering::Relaxed);
            let ctx = slot.context.load(Ordering::Relaxed);
            // SAFETY: ACTIVE is only set after `callback` was stored from a valid `EventFn`, and it
            // cannot change until this dispatch counts itself out.
            let cb: EventFn = unsafe { core::mem::transmute::<*mut (), EventFn>(cb) };
            // SAFETY: the registrant promised that `cb(ctx, port)` may be called until it clears it.
            unsafe { cb(ctx, port) };
        }
        slot.state.fetch_sub(1, Ordering::Release);
        ran
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::ptr::null_mut;
    use core::sync::atomic::AtomicU64;
    use std::sync::Arc;

    unsafe extern "C" fn count(ctx: *mut c_void, port: u32) {
        // SAFETY: the tests pass a live AtomicU64.
        let c = unsafe { &*(ctx as *const AtomicU64) };
        c.fetch_add(u64::from(port) + 1, Ordering::Relaxed);
    }

    #[test]
    fn a_set_callback_runs_and_a_cleared_one_does_not() {
        let t = EventCallbacks::new(8);
        let hits = AtomicU64::new(0);
        let ctx = &hits as *const AtomicU64 as *mut c_void;
        assert!(!t.dispatch(3));
        t.set(3, Some(count), ctx).unwrap();
        assert!(t.dispatch(3));
        assert!(!t.dispatch(4), "other ports have no callback");
        assert_eq!(hits.load(Ordering::Relaxed), 4);
        t.set(3, None, null_mut()).unwrap();
        assert!(!t.dispatch(3));
        assert_eq!(hits.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn ports_out_of_range_are_rejected_not_indexed() {
        let t = EventCallbacks::new(8);
        assert_eq!(
            t.set(8, Some(count), null_mut()),
            Err(BusError::InvalidParameter)
        );
        assert_eq!(
            t.set(u32::MAX, None, null_mut()),
            Err(BusError::InvalidParameter)
        );
        assert!(!t.dispatch(u32::MAX));
    }

    /// After `set(None)` returns, no dispatch uses the old callback any more: its context may be
    /// freed. A dispatch caught between seeing ACTIVE and calling would bump the count afterwards.
    #[test]
    fn clearing_waits_for_running_dispatches() {
        let t = Arc::new(EventCallbacks::new(2));
        let stop = Arc::new(core::sync::atomic::AtomicBool::new(false));
        let dispatcher = {
            let (t, stop) = (t.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    t.dispatch(1);
                }
            })
        };
        for _ in 0..500 {
            let hits = AtomicU64::new(0);
            let ctx = &hits as *const AtomicU64 as *mut c_void;
            t.set(1, Some(count), ctx).unwrap();
            // Clear only once the dispatcher is calling this callback, so that every round
            // races the clear against running dispatches (on a loaded host the dispatcher
            // thread may otherwise not run at all between set and clear).
            while hits.load(Ordering::Relaxed) == 0 {
                std::thread::yield_now();
            }
            t.set(1, None, null_mut()).unwrap();
            let after_clear = hits.load(Ordering::Relaxed);
            for _ in 0..50 {
                core::hint::spin_loop();
            }
            assert_eq!(hits.load(Ordering::Relaxed), after_clear);
        }
        stop.store(true, Ordering::Relaxed);
        dispatcher.join().unwrap();
    }
}
