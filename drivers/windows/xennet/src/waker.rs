//! How the store session waits: an auto-reset KEVENT set by XENBUS when a message arrives, and
//! the hook that has the adapter's store work run at PASSIVE_LEVEL for watch events.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicPtr, Ordering};

use alloc::sync::Arc;
use xenpv_busif::StoreWaker;
use xenpv_ddk::kernel::{KeInitializeEvent, KeSetEvent, KeWaitForSingleObject};
use xenpv_ddk::sync::{KEvent, EXECUTIVE, KERNEL_MODE, SYNCHRONIZATION_EVENT};

use crate::nic::Nic;

/// Longest single wait: the store client waits again when nothing came, and the adapter's
/// connect loop counts these.
pub const WAIT_100NS: i64 = -1_000_000;

pub struct KernelWaker {
    event: UnsafeCell<KEvent>,
    /// The adapter to tell about store traffic, once it exists.
    nic: AtomicPtr<Nic>,
}

// SAFETY: a KEVENT is made for use from any thread; `nic` is atomic.
unsafe impl Send for KernelWaker {}
// SAFETY: as for Send.
unsafe impl Sync for KernelWaker {}

impl KernelWaker {
    pub fn new() -> Arc<Self> {
        let waker = Arc::new(KernelWaker {
            // SAFETY: zeroed, then initialised in place at its final address before any use.
            event: UnsafeCell::new(unsafe { core::mem::zeroed() }),
            nic: AtomicPtr::new(core::ptr::null_mut()),
        });
        // SAFETY: the event's memory is the Arc's and never moves.
        unsafe { KeInitializeEvent(waker.event.get(), SYNCHRONIZATION_EVENT, 0) };
        waker
    }

    /// From now on store traffic also schedules `nic`'s store work (null: no longer).
    pub fn attach(&self, nic: *mut Nic) {
        self.nic.store(nic, Ordering::Release);
    }

    /// Waits for a wake or 100 ms, whichever comes first (PASSIVE_LEVEL).
    pub fn wait_briefly(&self) {
        let timeout = WAIT_100NS;
        // SAFETY: an initialised event; callers are at PASSIVE_LEVEL.
        unsafe {
            KeWaitForSingleObject(self.event.get().cast(), EXECUTIVE, KERNEL_MODE, 0, &timeout)
        };
    }
}

impl StoreWaker for KernelWaker {
    fn wake(&self) {
        // SAFETY: an initialised event; KeSetEvent is callable up to DISPATCH_LEVEL.
        unsafe { KeSetEvent(self.event.get(), 0, 0) };
        let nic = self.nic.load(Ordering::Acquire);
        if !nic.is_null() {
            // SAFETY: the adapter detaches before it is freed.
            unsafe { (*nic).schedule_store_work() };
        }
    }

    fn wait(&self) {
        // A bounded wait: the client checks again after a spurious return.
        self.wait_briefly();
    }
}
