//! One CPU alone: what the suspend needs (xenpv_xenbus_core::suspend). Between
//! SCHEDOP_shutdown(suspend) and the restore, nothing may touch shared_info, the grant table or an
//! event channel, so every processor is taken into an IPI (IPI_LEVEL, interrupts off) with
//! KeIpiGenericCall; the first one in waits until every active processor is in, runs the work,
//! and the others spin until it is done — the HIGH_LEVEL rendezvous of Xen's Windows XENBUS.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use xenpv_ddk::bus::{KeIpiGenericCall, KeQueryActiveProcessorCountEx, ALL_PROCESSOR_GROUPS};

struct Rendezvous<'f> {
    work: *mut (dyn FnMut() + 'f),
    /// Processors the broadcast reaches, and how many are in so far.
    processors: u32,
    arrived: AtomicU32,
    /// Taken by the processor that runs the work.
    claimed: AtomicBool,
    done: AtomicBool,
}

/// Runs `work` once, on one processor, with every other processor parked with interrupts off.
/// PASSIVE_LEVEL; `work` must not block or take a lock another processor could hold.
pub fn alone(work: &mut dyn FnMut()) {
    let r = Rendezvous {
        work: work as *mut dyn FnMut(),
        // SAFETY: no preconditions.
        processors: unsafe { KeQueryActiveProcessorCountEx(ALL_PROCESSOR_GROUPS) },
        arrived: AtomicU32::new(0),
        claimed: AtomicBool::new(false),
        done: AtomicBool::new(false),
    };
    // SAFETY: `r` outlives the call, which returns only once every processor left the worker.
    unsafe { KeIpiGenericCall(worker, &r as *const Rendezvous as usize) };
}

unsafe extern "system" fn worker(context: usize) -> usize {
    // SAFETY: `alone`'s rendezvous, alive for the whole broadcast.
    let r = unsafe { &*(context as *const Rendezvous) };
    r.arrived.fetch_add(1, Ordering::AcqRel);
    if r.claimed.swap(true, Ordering::AcqRel) {
        while !r.done.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
    } else {
        // No processor may still be running ordinary code (touching shared_info or an event
        // channel) when the domain suspends.
        while r.arrived.load(Ordering::Acquire) < r.processors {
            core::hint::spin_loop();
        }
        // SAFETY: only the processor that claimed the rendezvous calls the work, once; the
        // caller's `&mut` is not used while the broadcast runs.
        unsafe { (*r.work)() };
        r.done.store(true, Ordering::Release);
    }
    0
}
