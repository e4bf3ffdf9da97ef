//! Cancel-safe IRP queues (`IO_CSQ`, wdm.h): the kernel's `IoCsq*` routines own the cancel
//! logic; the driver supplies the storage and its lock through the callbacks below.

use core::ffi::c_void;
use core::mem::{offset_of, size_of};

use crate::irp::Irp;
use crate::status::NtStatus;
use crate::sync::KIrql;

/// `IO_CSQ_INSERT_IRP_EX`: stores the IRP, or refuses it with an error status (then the IRP is
/// not queued and the caller completes it).
pub type CsqInsertIrpEx = unsafe extern "system" fn(*mut IoCsq, *mut Irp, *mut c_void) -> NtStatus;
/// `IO_CSQ_REMOVE_IRP`.
pub type CsqRemoveIrp = unsafe extern "system" fn(*mut IoCsq, *mut Irp);
/// `IO_CSQ_PEEK_NEXT_IRP`: the next IRP after `irp` (or the first if null) matching the context.
pub type CsqPeekNextIrp = unsafe extern "system" fn(*mut IoCsq, *mut Irp, *mut c_void) -> *mut Irp;
/// `IO_CSQ_ACQUIRE_LOCK`.
pub type CsqAcquireLock = unsafe extern "system" fn(*mut IoCsq, *mut KIrql);
/// `IO_CSQ_RELEASE_LOCK`.
pub type CsqReleaseLock = unsafe extern "system" fn(*mut IoCsq, KIrql);
/// `IO_CSQ_COMPLETE_CANCELED_IRP`.
pub type CsqCompleteCanceledIrp = unsafe extern "system" fn(*mut IoCsq, *mut Irp);

/// `IO_CSQ`: initialised by `IoCsqInitializeEx`, opaque to the driver after that.
#[repr(C)]
pub struct IoCsq {
    pub type_: u32,
    pub csq_insert_irp: *mut c_void,
    pub csq_remove_irp: Option<CsqRemoveIrp>,
    pub csq_peek_next_irp: Option<CsqPeekNextIrp>,
    pub csq_acquire_lock: Option<CsqAcquireLock>,
    pub csq_release_lock: Option<CsqReleaseLock>,
    pub csq_complete_canceled_irp: Option<CsqCompleteCanceledIrp>,
    pub reserve_pointer: *mut c_void,
}

const _: () = assert!(size_of::<IoCsq>() == 0x40);
const _: () = assert!(offset_of!(IoCsq, csq_insert_irp) == 0x8);
const _: () = assert!(offset_of!(IoCsq, csq_complete_canceled_irp) == 0x30);

/// `IO_CSQ_IRP_CONTEXT`: lets `IoCsqRemoveIrp` find one particular IRP again.
#[repr(C)]
pub struct IoCsqIrpContext {
    pub type_: u32,
    pub irp: *mut Irp,
    pub csq: *mut IoCsq,
}

const _: () = assert!(size_of::<IoCsqIrpContext>() == 0x18);
