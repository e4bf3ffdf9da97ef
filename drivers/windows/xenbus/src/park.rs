//! One CPU alone: what the suspend needs (xenpv_xenbus_core::suspend). Between
//! SCHEDOP_shutdown(suspend) and the restore, nothing may touch shared_info, the grant table or an
//! event channel, so every processor is taken into an IPI (IPI_LEVEL, interrupts off) with
//! KeIpiGenericCall; the first one in runs the work, the others spin until it is done — the
//! HIGH_LEVEL rendezvous of Xen's Windows XENBUS.

use core::sync::atomic::{AtomicBool, Ordering};

use xenpv_ddk::bus::KeIpiGenericCall;

struct Rendezvous<'f> {
    work: *mut (dyn FnMut() + 'f),
    /// Taken by the processor that runs the work.
    claimed: AtomicBool,
    done: AtomicBool,
}

/// Runs `work` once, on one processor, with every other processor parked with interrupts off.
/// PASSIVE_LEVEL; `work` must not block or take a lock another processor could hold.
pub fn alone(work: &mut dyn FnMut()) {
    let r = Rendezvous {
        work: work as *mut dyn FnMut(),
        claimed: AtomicBool::new(false),
        done: AtomicBool::new(false),
    };
    // SAFETY: `r` outlives the call, which returns only once every processor left the worker.
    unsafe { KeIpiGenericCall(worker, &r as *const Rendezvous as usize) };
}

unsafe extern "system" fn worker(context: usize) -> usize {
    // SAFETY: `alone`'s rendezvous, alive for the whole broadcast.
    let r = unsafe { &*(context as *const Rendezvous) };
    if r.claimed.swap(true, Ordering::AcqRel) {
        while !r.done.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
    } else {
        // SAFETY: only the processor that claimed the rendezvous calls the work, once; the
        // caller's `&mut` is not used while the broadcast runs.
        unsafe { (*r.work)() };
        r.done.store(true, Ordering::Release);
    }
    0
}
