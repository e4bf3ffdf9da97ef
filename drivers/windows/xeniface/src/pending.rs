//! Requests that wait: `StoreWatchWait` and `AgentWaitAction` until there is something to answer,
//! `GrantAccess` for as long as its pages are granted. They sit in a cancel-safe queue (the
//! kernel's IoCsq routines), so a caller can cancel them and closing a handle finds them.
//!
//! A cancelled grant cannot simply complete: its pages may still be mapped by the remote domain.
//! The queue hands such requests to the service (see [`Pending::take_cancelled_leases`]), which
//! ends the grants first.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr::{null_mut, NonNull};

use xenpv_ddk::irp::Irp;
use xenpv_ddk::kernel::{KeAcquireSpinLockRaiseToDpc, KeReleaseSpinLock};
use xenpv_ddk::status::{NtStatus, STATUS_CANCELLED, STATUS_SUCCESS};
use xenpv_ddk::sync::{KIrql, KSpinLock};
use xenpv_ddk::userio::csq::IoCsq;
use xenpv_ddk::userio::forward::complete;
use xenpv_ddk::userio::imports::{IoCsqInitializeEx, IoCsqInsertIrpEx, IoCsqRemoveNextIrp};

/// What a queued request waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    WatchWait,
    AgentWait,
    /// A `GrantAccess`: the lease on its pages.
    Lease,
}

#[derive(Clone, Copy)]
struct Entry {
    irp: *mut Irp,
    session: u32,
    kind: Kind,
}

/// Which queued requests a removal may take.
#[derive(Clone, Copy)]
pub struct Filter {
    pub session: Option<u32>,
    pub kind: Option<Kind>,
    /// One request in particular (null: any).
    pub irp: *mut Irp,
}

impl Filter {
    fn matches(&self, e: &Entry) -> bool {
        self.session.is_none_or(|s| s == e.session)
            && self.kind.is_none_or(|k| k == e.kind)
            && (self.irp.is_null() || self.irp == e.irp)
    }
}

struct Queues {
    queued: VecDeque<Entry>,
    /// Lease requests queued or being cancelled (to tell a cancelled lease from the others).
    leases: Vec<*mut Irp>,
    /// Leases cancelled and not yet collected by the service.
    cancelled: Vec<*mut Irp>,
}

/// The queue; `csq` must stay the first field (the callbacks find the queue from it).
#[repr(C)]
pub struct Pending {
    csq: IoCsq,
    lock: UnsafeCell<KSpinLock>,
    queues: UnsafeCell<Queues>,
    /// Called (at up to DISPATCH_LEVEL) when a lease was cancelled.
    on_lease_cancelled: unsafe fn(*const c_void),
    context: *const c_void,
}

// SAFETY: the queues are touched only under `lock` (the CSQ callbacks run with it held).
unsafe impl Send for Pending {}
// SAFETY: as above.
unsafe impl Sync for Pending {}

impl Pending {
    /// A queue that calls `on_lease_cancelled(context)` when a lease is cancelled. Not usable
    /// until [`Pending::init`] at its final address.
    pub fn new(on_lease_cancelled: unsafe fn(*const c_void), context: *const c_void) -> Self {
        Pending {
            // SAFETY: zero bytes until IoCsqInitializeEx fills it in `init`.
            csq: unsafe { core::mem::zeroed() },
            lock: UnsafeCell::new(0),
            queues: UnsafeCell::new(Queues {
                queued: VecDeque::new(),
                leases: Vec::new(),
                cancelled: Vec::new(),
            }),
            on_lease_cancelled,
            context,
        }
    }

    /// Registers the callbacks (the kernel keeps the queue's address: it must not move).
    pub fn init(&self) -> NtStatus {
        // SAFETY: `csq` is ours and stays at this address while the queue is used.
        unsafe {
            IoCsqInitializeEx(
                &self.csq as *const IoCsq as *mut IoCsq,
                insert,
                remove,
                peek_next,
                acquire,
                release,
                complete_canceled,
            )
        }
    }

    fn csq(&self) -> *mut IoCsq {
        &self.csq as *const IoCsq as *mut IoCsq
    }

    /// Queues `irp` (already marked pending). A request cancelled before it got here is handled
    /// as any cancelled one.
    ///
    /// # Safety
    /// `irp` is an IRP this driver owns and has marked pending.
    pub unsafe fn insert(&self, irp: *mut Irp, session: u32, kind: Kind) {
        let mut entry = Entry { irp, session, kind };
        // SAFETY: the queue is initialised; the entry outlives the call (our insert copies it).
        unsafe {
            IoCsqInsertIrpEx(
                self.csq(),
                irp,
                null_mut(),
                (&mut entry as *mut Entry).cast(),
            )
        };
    }

    /// Takes the oldest queued request matching `filter` out of the queue (it can no longer be
    /// cancelled); the caller completes it.
    pub fn take(&self, filter: Filter) -> Option<NonNull<Irp>> {
        let mut f = filter;
        // SAFETY: the queue is initialised; the filter outlives the call.
        let irp = unsafe { IoCsqRemoveNextIrp(self.csq(), (&mut f as *mut Filter).cast()) };
        let irp = NonNull::new(irp)?;
        // Taken out of the queue: no longer a lease the cancel path could see.
        self.with(|q| q.leases.retain(|&l| l != irp.as_ptr()));
        Some(irp)
    }

    /// Leases cancelled since the last call.
    pub fn take_cancelled_leases(&self) -> Vec<*mut Irp> {
        self.with(|q| core::mem::take(&mut q.cancelled))
    }

    fn with<R>(&self, f: impl FnOnce(&mut Queues) -> R) -> R {
        // SAFETY: the spin lock guards the queues; it is held only for this short call.
        unsafe {
            let irql = KeAcquireSpinLockRaiseToDpc(self.lock.get());
            let r = f(&mut *self.queues.get());
            KeReleaseSpinLock(self.lock.get(), irql);
            r
        }
    }
}

/// # Safety
/// `csq` is the first field of a live [`Pending`].
unsafe fn queue<'a>(csq: *mut IoCsq) -> &'a Pending {
    // SAFETY: the caller's promise (repr(C), csq first).
    unsafe { &*(csq as *const Pending) }
}

/// The queues, for a callback that runs with the lock held (the CSQ takes it around them).
///
/// # Safety
/// As for [`queue`], and the lock is held.
unsafe fn locked<'a>(csq: *mut IoCsq) -> &'a mut Queues {
    // SAFETY: the caller's promise.
    unsafe { &mut *queue(csq).queues.get() }
}

unsafe extern "system" fn insert(csq: *mut IoCsq, irp: *mut Irp, context: *mut c_void) -> NtStatus {
    // SAFETY: called by the CSQ with its lock held and our Entry as the insert context.
    unsafe {
        let entry = *(context as *const Entry);
        let q = locked(csq);
        q.queued.push_back(Entry { irp, ..entry });
        if entry.kind == Kind::Lease {
            q.leases.push(irp);
        }
    }
    STATUS_SUCCESS
}

unsafe extern "system" fn remove(csq: *mut IoCsq, irp: *mut Irp) {
    // SAFETY: lock held.
    let q = unsafe { locked(csq) };
    q.queued.retain(|e| e.irp != irp);
}

unsafe extern "system" fn peek_next(
    csq: *mut IoCsq,
    irp: *mut Irp,
    context: *mut c_void,
) -> *mut Irp {
    // SAFETY: lock held; the context is null (any) or our Filter.
    let (q, filter) = unsafe { (locked(csq), (context as *const Filter).as_ref()) };
    let start = if irp.is_null() {
        0
    } else {
        match q.queued.iter().position(|e| e.irp == irp) {
            Some(i) => i + 1,
            None => return null_mut(),
        }
    };
    q.queued
        .iter()
        .skip(start)
        .find(|e| filter.is_none_or(|f| f.matches(e)))
        .map_or(null_mut(), |e| e.irp)
}

unsafe extern "system" fn acquire(csq: *mut IoCsq, irql: *mut KIrql) {
    // SAFETY: the queue's own lock; the CSQ passes back the IRQL in `release`.
    unsafe { *irql = KeAcquireSpinLockRaiseToDpc(queue(csq).lock.get()) };
}

unsafe extern "system" fn release(csq: *mut IoCsq, irql: KIrql) {
    // SAFETY: releasing what `acquire` took.
    unsafe { KeReleaseSpinLock(queue(csq).lock.get(), irql) };
}

unsafe extern "system" fn complete_canceled(csq: *mut IoCsq, irp: *mut Irp) {
    // SAFETY: the CSQ has removed `irp` and hands it to us; the queue is live.
    unsafe {
        let pending = queue(csq);
        let lease = pending.with(|q| {
            let lease = q.leases.contains(&irp);
            if lease {
                q.leases.retain(|&l| l != irp);
                q.cancelled.push(irp);
            }
            lease
        });
        if lease {
            (pending.on_lease_cancelled)(pending.context);
        } else {
            complete(irp, STATUS_CANCELLED, 0);
        }
    }
}
