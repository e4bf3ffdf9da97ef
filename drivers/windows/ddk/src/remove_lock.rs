//! `IO_REMOVE_LOCK` operations: the kernel's count of requests in flight that lets a driver wait
//! for all of them before it deletes its device. The wdm.h macros `IoInitializeRemoveLock`,
//! `IoAcquireRemoveLock`, … expand to these `…Ex` exports with the lock's size.

use core::ffi::c_void;
use core::mem::size_of;

use crate::kernel::{
    IoAcquireRemoveLockEx, IoInitializeRemoveLockEx, IoReleaseRemoveLockAndWaitEx,
    IoReleaseRemoveLockEx,
};
use crate::pool::POOL_TAG;
use crate::status::NtStatus;
use crate::sync::IoRemoveLock;

const SIZE: u32 = size_of::<IoRemoveLock>() as u32;

impl IoRemoveLock {
    /// `IoInitializeRemoveLock`; the tag and limits matter only to checked builds.
    ///
    /// # Safety
    /// `lock` points to writable memory that stays valid (non-paged) while the lock is used.
    pub unsafe fn initialize(lock: *mut IoRemoveLock) {
        // SAFETY: the caller's promise.
        unsafe { IoInitializeRemoveLockEx(lock, POOL_TAG, 0, 0, SIZE) };
    }

    /// `IoAcquireRemoveLock` with `tag` (by convention the IRP); fails with
    /// `STATUS_DELETE_PENDING` once the remove has begun.
    ///
    /// # Safety
    /// `lock` was initialised and is still valid.
    pub unsafe fn acquire(lock: *mut IoRemoveLock, tag: *mut c_void) -> NtStatus {
        // SAFETY: the caller's promise; the file name is NUL-terminated and static.
        unsafe { IoAcquireRemoveLockEx(lock, tag, c"xenpv".as_ptr().cast(), 0, SIZE) }
    }

    /// `IoReleaseRemoveLock`.
    ///
    /// # Safety
    /// A successful `acquire` with the same `tag` precedes it.
    pub unsafe fn release(lock: *mut IoRemoveLock, tag: *mut c_void) {
        // SAFETY: the caller's promise.
        unsafe { IoReleaseRemoveLockEx(lock, tag, SIZE) };
    }

    /// `IoReleaseRemoveLockAndWait`: releases the caller's own acquisition and waits until every
    /// other one is released; later acquisitions fail.
    ///
    /// # Safety
    /// As for `release`; called once, while handling IRP_MN_REMOVE_DEVICE at PASSIVE_LEVEL.
    pub unsafe fn release_and_wait(lock: *mut IoRemoveLock, tag: *mut c_void) {
        // SAFETY: the caller's promise.
        unsafe { IoReleaseRemoveLockAndWaitEx(lock, tag, SIZE) };
    }
}
