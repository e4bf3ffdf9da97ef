//! Passing IRPs down a device stack and completing them: the few steps every WDM function driver
//! repeats (wdm.h's IoSkipCurrentIrpStackLocation + IoCallDriver, the forward-and-wait of a PnP
//! request, IoCompleteRequest with a status).

use core::ffi::c_void;
use core::ptr::null;

use crate::irp::{
    copy_current_stack_location_to_next, set_completion_routine, skip_current_stack_location, Irp,
    IO_NO_INCREMENT,
};
use crate::kernel::{
    IofCallDriver, IofCompleteRequest, KeInitializeEvent, KeSetEvent, KeWaitForSingleObject,
};
use crate::object::DeviceObject;
use crate::status::{NtStatus, STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING};
use crate::sync::{KEvent, EXECUTIVE, KERNEL_MODE, NOTIFICATION_EVENT};

/// Completes `irp` with `status` and `information` (bytes for the caller); returns `status`.
///
/// # Safety
/// `irp` is owned by the caller's driver and not yet completed.
pub unsafe fn complete(irp: *mut Irp, status: NtStatus, information: usize) -> NtStatus {
    // SAFETY: the caller's promise.
    unsafe {
        (*irp).io_status.status = status;
        (*irp).io_status.information = information;
        IofCompleteRequest(irp, IO_NO_INCREMENT);
    }
    status
}

/// Hands `irp` to `lower` unchanged (the lower driver sees this driver's stack location).
///
/// # Safety
/// `irp` is owned by the caller, which gives it up; `lower` is the next device of the stack.
pub unsafe fn pass_down(lower: *mut DeviceObject, irp: *mut Irp) -> NtStatus {
    // SAFETY: the caller's promise.
    unsafe {
        skip_current_stack_location(irp);
        IofCallDriver(lower, irp)
    }
}

/// Sends `irp` to `lower` and waits until the drivers below have completed it; returns their
/// status. The IRP comes back to the caller (the completion routine stops its completion).
///
/// # Safety
/// `irp` is owned by the caller, has a stack location below the current one, and the caller runs
/// at PASSIVE_LEVEL.
pub unsafe fn forward_and_wait(lower: *mut DeviceObject, irp: *mut Irp) -> NtStatus {
    // SAFETY: the event lives on this stack until the wait below has returned, which is after the
    // completion routine (its only other user) has signalled it.
    unsafe {
        let mut event: KEvent = core::mem::zeroed();
        KeInitializeEvent(&mut event, NOTIFICATION_EVENT, 0);
        copy_current_stack_location_to_next(irp);
        set_completion_routine(irp, signal_event, (&mut event as *mut KEvent).cast());
        let mut status = IofCallDriver(lower, irp);
        if status == STATUS_PENDING {
            KeWaitForSingleObject(
                (&mut event as *mut KEvent).cast(),
                EXECUTIVE,
                KERNEL_MODE,
                0,
                null(),
            );
            status = (*irp).io_status.status;
        }
        status
    }
}

/// `IO_COMPLETION_ROUTINE` of [`forward_and_wait`]: wakes the waiter and keeps the IRP.
unsafe extern "system" fn signal_event(
    _device: *mut DeviceObject,
    _irp: *mut Irp,
    context: *mut c_void,
) -> NtStatus {
    // SAFETY: `context` is the waiting thread's event, alive until the wait returns.
    unsafe { KeSetEvent(context.cast(), 0, 0) };
    STATUS_MORE_PROCESSING_REQUIRED
}
