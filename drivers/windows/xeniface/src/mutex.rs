//! A mutex for PASSIVE_LEVEL code that may block while holding it (a xenstore request waits for
//! its reply): a synchronization event, signalled while free. The kernel's own mutexes would do
//! the same with more imports; this needs only KeInitializeEvent / KeWaitForSingleObject /
//! KeSetEvent and the critical region around the holder.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::ptr::null;

use xenpv_ddk::kernel::{KeInitializeEvent, KeSetEvent, KeWaitForSingleObject};
use xenpv_ddk::sync::{KEvent, EXECUTIVE, KERNEL_MODE, SYNCHRONIZATION_EVENT};
use xenpv_ddk::userio::imports::{KeEnterCriticalRegion, KeLeaveCriticalRegion};

pub struct PassiveMutex<T> {
    event: UnsafeCell<KEvent>,
    value: UnsafeCell<T>,
}

// SAFETY: the event admits one holder at a time; T moves between threads with the guard.
unsafe impl<T: Send> Sync for PassiveMutex<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for PassiveMutex<T> {}

impl<T> PassiveMutex<T> {
    /// Not usable until [`PassiveMutex::init`] at its final address.
    pub fn new(value: T) -> Self {
        PassiveMutex {
            // SAFETY: zero bytes until KeInitializeEvent fills the header in `init`.
            event: UnsafeCell::new(unsafe { core::mem::zeroed() }),
            value: UnsafeCell::new(value),
        }
    }

    /// Initialises the event in place (the kernel links to its address: it must not move).
    pub fn init(&self) {
        // SAFETY: the event is ours, not yet in use, and stays at this address.
        unsafe { KeInitializeEvent(self.event.get(), SYNCHRONIZATION_EVENT, 1) };
    }

    /// Waits for the mutex (PASSIVE_LEVEL). The holder runs in a critical region, as under the
    /// kernel's own mutexes: a process cannot suspend its thread while it holds the device.
    pub fn lock(&self) -> Guard<'_, T> {
        // SAFETY: an initialised event at a stable address; the region ends in the guard's drop.
        unsafe {
            KeEnterCriticalRegion();
            KeWaitForSingleObject(self.event.get().cast(), EXECUTIVE, KERNEL_MODE, 0, null())
        };
        Guard { mutex: self }
    }
}

pub struct Guard<'m, T> {
    mutex: &'m PassiveMutex<T>,
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard is the one holder.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: releasing the event this guard waited for, then the region `lock` entered.
        unsafe {
            KeSetEvent(self.mutex.event.get(), 0, 0);
            KeLeaveCriticalRegion();
        }
    }
}
