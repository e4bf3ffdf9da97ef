//! Small owners of kernel objects: an event, a mutex made of a synchronisation event, and a work
//! item that is queued at most once at a time and can be drained before its context is freed.

use alloc::boxed::Box;
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr::null;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use xenpv_ddk::kernel::{KeInitializeEvent, KeSetEvent, KeWaitForSingleObject};
use xenpv_ddk::object::DeviceObject;
use xenpv_ddk::sync::{KEvent, EXECUTIVE, KERNEL_MODE, SYNCHRONIZATION_EVENT};
use xenpv_ddk::userio::imports::{
    IoAllocateWorkItem, IoFreeWorkItem, IoQueueWorkItem, KeDelayExecutionThread,
};
use xenpv_ddk::userio::DELAYED_WORK_QUEUE;

/// An auto-reset event in non-paged memory (the global allocator's pool).
pub struct Event {
    event: Box<UnsafeCell<KEvent>>,
}

// SAFETY: a KEVENT is used through the kernel's own synchronised calls only.
unsafe impl Send for Event {}
// SAFETY: as above.
unsafe impl Sync for Event {}

impl Event {
    /// A synchronisation event, signalled or not.
    pub fn new(signalled: bool) -> Self {
        // SAFETY: KEVENT is plain data until initialised, which happens right here, in place.
        let event = Box::new(UnsafeCell::new(unsafe { core::mem::zeroed::<KEvent>() }));
        // SAFETY: the event is ours and lives in non-paged memory.
        unsafe { KeInitializeEvent(event.get(), SYNCHRONIZATION_EVENT, u8::from(signalled)) };
        Event { event }
    }

    pub fn raw(&self) -> *mut KEvent {
        self.event.get()
    }

    /// Signals it (any IRQL up to DISPATCH_LEVEL).
    pub fn set(&self) {
        // SAFETY: an initialised event.
        unsafe { KeSetEvent(self.raw(), 0, 0) };
    }

    /// Waits until signalled and resets it (PASSIVE_LEVEL).
    pub fn wait(&self) {
        // SAFETY: an initialised event; no timeout.
        unsafe { KeWaitForSingleObject(self.raw().cast(), EXECUTIVE, KERNEL_MODE, 0, null()) };
    }
}

/// A mutex for PASSIVE_LEVEL code that may block while holding it (store requests).
pub struct Mutex<T> {
    event: Event,
    value: UnsafeCell<T>,
}

// SAFETY: the event admits one holder at a time.
unsafe impl<T: Send> Sync for Mutex<T> {}
// SAFETY: moving the mutex moves the value.
unsafe impl<T: Send> Send for Mutex<T> {}

impl<T> Mutex<T> {
    pub fn new(value: T) -> Self {
        Mutex {
            event: Event::new(true),
            value: UnsafeCell::new(value),
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.event.wait();
        // SAFETY: the event was signalled and reset by our wait: we are the only holder.
        let r = f(unsafe { &mut *self.value.get() });
        self.event.set();
        r
    }
}

/// A work item running `routine(context)` at PASSIVE_LEVEL, queued at most once at a time.
pub struct Work {
    item: *mut c_void,
    routine: unsafe fn(*const c_void),
    context: *const c_void,
    queued: AtomicBool,
    closed: AtomicBool,
    /// Runs queued or running, plus `queue` calls in progress.
    running: AtomicU32,
}

// SAFETY: the item is the kernel's; the flags are atomics; the context is the owner's promise.
unsafe impl Send for Work {}
// SAFETY: as above.
unsafe impl Sync for Work {}

impl Work {
    /// # Safety
    /// `routine(context)` may be called at PASSIVE_LEVEL until [`Work::drain`] returned and the
    /// work is dropped; `device` is a device object of this driver.
    pub unsafe fn new(
        device: *mut DeviceObject,
        routine: unsafe fn(*const c_void),
        context: *const c_void,
    ) -> Option<Box<Work>> {
        // SAFETY: the caller's device.
        let item = unsafe { IoAllocateWorkItem(device) };
        if item.is_null() {
            return None;
        }
        Some(Box::new(Work {
            item,
            routine,
            context,
            queued: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            running: AtomicU32::new(0),
        }))
    }

    /// Queues it unless it is queued already (any IRQL up to DISPATCH_LEVEL).
    pub fn queue(&self) {
        // Counted before looking at `closed`, so that `drain` either sees this call or it sees
        // `closed`.
        self.running.fetch_add(1, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) || self.queued.swap(true, Ordering::SeqCst) {
            self.running.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        // SAFETY: the item is ours; `trampoline` gets this Work, alive until drained.
        unsafe {
            IoQueueWorkItem(
                self.item,
                trampoline,
                DELAYED_WORK_QUEUE,
                self as *const Work as *mut c_void,
            )
        };
    }

    /// Stops queueing and waits until no run is queued or running (PASSIVE_LEVEL).
    pub fn drain(&self) {
        self.closed.store(true, Ordering::SeqCst);
        while self.running.load(Ordering::SeqCst) != 0 {
            let interval: i64 = -10_000; // 1 ms, relative
                                         // SAFETY: a plain delay at PASSIVE_LEVEL.
            unsafe { KeDelayExecutionThread(KERNEL_MODE, 0, &interval) };
        }
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        self.drain();
        // SAFETY: nothing is queued any more.
        unsafe { IoFreeWorkItem(self.item) };
    }
}

unsafe extern "system" fn trampoline(_device: *mut DeviceObject, context: *mut c_void) {
    // SAFETY: `queue` passed its live Work.
    let work = unsafe { &*(context as *const Work) };
    // Cleared first: a request arriving while the routine runs queues another run.
    work.queued.store(false, Ordering::SeqCst);
    if !work.closed.load(Ordering::SeqCst) {
        // SAFETY: the owner's promise at `new`.
        unsafe { (work.routine)(work.context) };
    }
    work.running.fetch_sub(1, Ordering::SeqCst);
}
