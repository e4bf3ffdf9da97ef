//! Kernel synchronisation objects the drivers embed in their own memory: events, DPCs, spin locks
//! and remove locks. All are opaque: the kernel initialises and operates them.
//!
//! Sizes: wdm.h of the Windows 10 SDK 10.0.19041 for x64 (mingw-w64 `ddk/wdm.h` agrees); measured
//! again by `tests/conformance.rs`.

use core::mem::{align_of, size_of};

/// `KEVENT`: a `DISPATCHER_HEADER` and nothing else.
#[repr(C, align(8))]
pub struct KEvent {
    _header: [u64; 3],
}

const _: () = assert!(size_of::<KEvent>() == 0x18);

/// `KDPC`: a deferred procedure call object.
#[repr(C, align(8))]
pub struct KDpc {
    _opaque: [u64; 8],
}

const _: () = assert!(size_of::<KDpc>() == 0x40);

/// `KSPIN_LOCK`: a `ULONG_PTR`.
pub type KSpinLock = usize;
/// `KIRQL`.
pub type KIrql = u8;

/// `IO_REMOVE_LOCK` as a free (non-checked) build lays it out: `IO_REMOVE_LOCK_COMMON_BLOCK` only
/// (`Removed`, `Reserved[3]`, `IoCount`, `RemoveEvent`). Its size is passed to every
/// `Io*RemoveLockEx` call, which is how the kernel knows which layout it was given.
#[repr(C, align(8))]
pub struct IoRemoveLock {
    _common: [u64; 4],
}

const _: () = assert!(size_of::<IoRemoveLock>() == 0x20);
const _: () = assert!(align_of::<IoRemoveLock>() == 8);

/// `EVENT_TYPE`: a notification event stays signalled until reset.
pub const NOTIFICATION_EVENT: u32 = 0;
/// `EVENT_TYPE`: a synchronisation event releases one waiter and resets itself.
pub const SYNCHRONIZATION_EVENT: u32 = 1;
/// `KWAIT_REASON::Executive`.
pub const EXECUTIVE: u32 = 0;
/// `KPROCESSOR_MODE::KernelMode`.
pub const KERNEL_MODE: i8 = 0;
