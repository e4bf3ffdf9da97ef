//! The dispatch routines: PnP through xenpv-wdm's state machine, power and everything else
//! passed down, each request under the remove lock.

use core::ffi::c_void;
use core::ptr::{addr_of_mut, null};

use xenpv_ddk::irp::{
    copy_current_stack_location_to_next, current_stack_location, set_completion_routine,
    skip_current_stack_location, Irp, IO_NO_INCREMENT,
};
use xenpv_ddk::kernel::{
    IoDeleteDevice, IoDetachDevice, IofCallDriver, IofCompleteRequest, KeInitializeEvent,
    KeSetEvent, KeWaitForSingleObject, PoCallDriver, PoStartNextPowerIrp,
};
use xenpv_ddk::object::DeviceObject;
use xenpv_ddk::status::{
    nt_success, NtStatus, STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING, STATUS_SUCCESS,
};
use xenpv_ddk::sync::{IoRemoveLock, KEvent, EXECUTIVE, KERNEL_MODE, NOTIFICATION_EVENT};
use xenpv_wdm::pnp::{Action, AfterLower, PnpRequest};

use crate::fdo::extension;
use crate::hardware::PlatformResources;

/// Completes `irp` here with `status`.
///
/// # Safety
/// `irp` is owned by this driver and not yet completed.
unsafe fn complete(irp: *mut Irp, status: NtStatus) -> NtStatus {
    // SAFETY: the caller's promise.
    unsafe {
        (*irp).io_status.status = status;
        (*irp).io_status.information = 0;
        IofCompleteRequest(irp, IO_NO_INCREMENT);
    }
    status
}

/// `DRIVER_DISPATCH` for every major function without its own routine: down the stack unchanged.
pub unsafe extern "system" fn pass_through(device: *mut DeviceObject, irp: *mut Irp) -> NtStatus {
    // SAFETY: the I/O manager calls us with one of our FDOs and an IRP we now own.
    unsafe {
        let fdo = extension(device);
        let lock = addr_of_mut!((*fdo).remove_lock);
        let tag = irp.cast::<c_void>();
        let status = IoRemoveLock::acquire(lock, tag);
        if !nt_success(status) {
            return complete(irp, status);
        }
        skip_current_stack_location(irp);
        let status = IofCallDriver((*fdo).lower, irp);
        IoRemoveLock::release(lock, tag);
        status
    }
}

/// `DRIVER_DISPATCH` for IRP_MJ_POWER: this driver has no power policy of its own yet.
pub unsafe extern "system" fn power(device: *mut DeviceObject, irp: *mut Irp) -> NtStatus {
    // SAFETY: as for pass_through. PoStartNextPowerIrp is required before Windows Vista and
    // harmless after.
    unsafe {
        let fdo = extension(device);
        let lock = addr_of_mut!((*fdo).remove_lock);
        let tag = irp.cast::<c_void>();
        PoStartNextPowerIrp(irp);
        let status = IoRemoveLock::acquire(lock, tag);
        if !nt_success(status) {
            return complete(irp, status);
        }
        skip_current_stack_location(irp);
        let status = PoCallDriver((*fdo).lower, irp);
        IoRemoveLock::release(lock, tag);
        status
    }
}

/// `DRIVER_DISPATCH` for IRP_MJ_PNP: xenpv-wdm decides, this routine carries it out.
pub unsafe extern "system" fn pnp(device: *mut DeviceObject, irp: *mut Irp) -> NtStatus {
    // SAFETY: as for pass_through; PnP IRPs for one device arrive one at a time at PASSIVE_LEVEL,
    // so this routine is the only user of the extension's `pnp` and `hardware`.
    unsafe {
        let fdo = extension(device);
        let lock = addr_of_mut!((*fdo).remove_lock);
        let lower = (*fdo).lower;
        let pnp = &mut *addr_of_mut!((*fdo).pnp);
        let hardware = &mut *addr_of_mut!((*fdo).hardware);
        let tag = irp.cast::<c_void>();
        let status = IoRemoveLock::acquire(lock, tag);
        if !nt_success(status) {
            return complete(irp, status);
        }
        let location = current_stack_location(irp);
        let request = PnpRequest::from_minor((*location).minor_function);
        match pnp.dispatch(request) {
            Action::PassDown {
                status,
                stop_hardware,
            } => {
                if stop_hardware {
                    hardware.stop();
                }
                if let Some(status) = status {
                    (*irp).io_status.status = status;
                }
                skip_current_stack_location(irp);
                let status = IofCallDriver(lower, irp);
                IoRemoveLock::release(lock, tag);
                status
            }
            Action::ForwardAndWait => {
                let below = forward_and_wait(lower, irp);
                let status = match pnp.completed_below(request, below) {
                    AfterLower::StartHardware => {
                        let (raw, translated) = (*location).start_device_resources();
                        let started = PlatformResources::decode(raw, translated)
                            .and_then(|resources| hardware.start(&resources));
                        pnp.hardware_started(started)
                    }
                    AfterLower::Complete(status) => status,
                };
                complete(irp, status);
                IoRemoveLock::release(lock, tag);
                status
            }
            Action::Complete(status) => {
                complete(irp, status);
                IoRemoveLock::release(lock, tag);
                status
            }
            Action::Remove { stop_hardware } => {
                if stop_hardware {
                    hardware.stop();
                }
                // Waits for every other request holding the lock; later ones fail to acquire it.
                IoRemoveLock::release_and_wait(lock, tag);
                (*irp).io_status.status = STATUS_SUCCESS;
                skip_current_stack_location(irp);
                let status = IofCallDriver(lower, irp);
                IoDetachDevice(lower);
                // The extension is freed with the device: nothing touches it after this.
                IoDeleteDevice(device);
                status
            }
        }
    }
}

/// Sends `irp` to `lower` and waits until the drivers below have completed it; returns their
/// status. The IRP comes back to this driver (the completion routine stops its completion).
///
/// # Safety
/// `irp` is owned by this driver, has a stack location below ours, and we are at PASSIVE_LEVEL.
unsafe fn forward_and_wait(lower: *mut DeviceObject, irp: *mut Irp) -> NtStatus {
    // SAFETY: the event lives on this stack until the wait below has returned, which is after
    // the completion routine (its only other user) has signalled it.
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
