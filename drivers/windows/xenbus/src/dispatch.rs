//! The dispatch routines: PnP through xenpv-wdm's state machine, power and everything else
//! passed down, each request under the remove lock.

use core::ffi::c_void;
use core::ptr::addr_of_mut;

use xenpv_ddk::irp::{current_stack_location, skip_current_stack_location, Irp};
use xenpv_ddk::kernel::{IoDeleteDevice, IoDetachDevice, PoCallDriver, PoStartNextPowerIrp};
use xenpv_ddk::object::DeviceObject;
use xenpv_ddk::status::{nt_success, NtStatus, STATUS_SUCCESS};
use xenpv_ddk::sync::IoRemoveLock;
use xenpv_ddk::userio::forward::{complete, forward_and_wait, pass_down};
use xenpv_wdm::pnp::{Action, AfterLower, PnpRequest};

use xenpv_ddk::bus::BUS_RELATIONS;
use xenpv_ddk::irp::{IRP_MN_QUERY_DEVICE_RELATIONS, IRP_MN_QUERY_STOP_DEVICE};
use xenpv_ddk::status::STATUS_UNSUCCESSFUL;

use crate::children::Enumeration;
use crate::fdo::{extension, kind, Fdo, KIND_PDO};
use crate::hardware::PlatformResources;
use crate::pdo;

/// `DRIVER_DISPATCH` for every major function without its own routine: down the stack unchanged.
pub unsafe extern "system" fn pass_through(device: *mut DeviceObject, irp: *mut Irp) -> NtStatus {
    // SAFETY: the I/O manager calls us with one of our device objects and an IRP we now own.
    unsafe {
        if kind(device) == KIND_PDO {
            return pdo::other(irp);
        }
        let fdo = extension(device);
        let lock = addr_of_mut!((*fdo).remove_lock);
        let tag = irp.cast::<c_void>();
        let status = IoRemoveLock::acquire(lock, tag);
        if !nt_success(status) {
            return complete(irp, status, 0);
        }
        let status = pass_down((*fdo).lower, irp);
        IoRemoveLock::release(lock, tag);
        status
    }
}

/// `DRIVER_DISPATCH` for IRP_MJ_POWER: this driver has no power policy of its own yet.
pub unsafe extern "system" fn power(device: *mut DeviceObject, irp: *mut Irp) -> NtStatus {
    // SAFETY: as for pass_through. PoStartNextPowerIrp is required before Windows Vista and
    // harmless after.
    unsafe {
        if kind(device) == KIND_PDO {
            return pdo::power(irp);
        }
        let fdo = extension(device);
        let lock = addr_of_mut!((*fdo).remove_lock);
        let tag = irp.cast::<c_void>();
        PoStartNextPowerIrp(irp);
        let status = IoRemoveLock::acquire(lock, tag);
        if !nt_success(status) {
            return complete(irp, status, 0);
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
    // so this routine is the only user of the extension's `pnp`, `hardware` and `enumeration`.
    unsafe {
        if kind(device) == KIND_PDO {
            return pdo::pnp(device, irp);
        }
        let fdo = extension(device);
        let lock = addr_of_mut!((*fdo).remove_lock);
        let lower = (*fdo).lower;
        let pnp = &mut *addr_of_mut!((*fdo).pnp);
        let tag = irp.cast::<c_void>();
        let status = IoRemoveLock::acquire(lock, tag);
        if !nt_success(status) {
            return complete(irp, status, 0);
        }
        let location = current_stack_location(irp);
        if (*location).minor_function == IRP_MN_QUERY_DEVICE_RELATIONS
            && (*location).relation_type() == BUS_RELATIONS
            && (*irp).io_status.information == 0
        {
            // Our children; the request then goes down like any other.
            if let Some(rel) = (*fdo).devices.with(|d| d.relations(device)) {
                (*irp).io_status.status = STATUS_SUCCESS;
                (*irp).io_status.information = rel as usize;
            }
        }
        // A stop (resource rebalance) leaves the children running, and they cannot run without
        // the bus: refuse it while a child holds the interface (our own enumeration holds one).
        let own = usize::from((*fdo).enumeration.is_some());
        if (*location).minor_function == IRP_MN_QUERY_STOP_DEVICE
            && (*fdo).hardware.references() > own
        {
            complete(irp, STATUS_UNSUCCESSFUL, 0);
            IoRemoveLock::release(lock, tag);
            return STATUS_UNSUCCESSFUL;
        }
        let request = PnpRequest::from_minor((*location).minor_function);
        match pnp.dispatch(request) {
            Action::PassDown {
                status,
                stop_hardware,
            } => {
                if stop_hardware {
                    stop(fdo);
                }
                if let Some(status) = status {
                    (*irp).io_status.status = status;
                }
                let status = pass_down(lower, irp);
                IoRemoveLock::release(lock, tag);
                status
            }
            Action::ForwardAndWait => {
                let below = forward_and_wait(lower, irp);
                let status = match pnp.completed_below(request, below) {
                    AfterLower::StartHardware => {
                        let (raw, translated) = (*location).start_device_resources();
                        let started =
                            PlatformResources::decode(raw, translated).and_then(|resources| {
                                (*fdo).hardware.start(device, (*fdo).pci_pdo, &resources)
                            });
                        if started.is_ok() {
                            start_enumeration(fdo, device);
                        }
                        pnp.hardware_started(started)
                    }
                    AfterLower::Complete(status) => status,
                };
                complete(irp, status, 0);
                IoRemoveLock::release(lock, tag);
                status
            }
            Action::Complete(status) => {
                complete(irp, status, 0);
                IoRemoveLock::release(lock, tag);
                status
            }
            Action::Remove { stop_hardware } => {
                if stop_hardware {
                    stop(fdo);
                }
                // Waits for every other request holding the lock; later ones fail to acquire it.
                IoRemoveLock::release_and_wait(lock, tag);
                (*irp).io_status.status = STATUS_SUCCESS;
                let status = pass_down(lower, irp);
                IoDetachDevice(lower);
                // Children still reported go with their bus.
                let pdos = (*fdo).devices.with(|d| core::mem::take(&mut d.pdos));
                for (_, child) in pdos {
                    IoDeleteDevice(child);
                }
                // The extension is freed with the device: drop what it owns first; nothing
                // touches it after this.
                core::ptr::drop_in_place(fdo);
                IoDeleteDevice(device);
                status
            }
        }
    }
}

/// Starts enumerating the children once Xen is up (without it the bus still offers XENIFACE).
///
/// # Safety
/// `fdo` is `device`'s extension; called from the PnP dispatch routine.
unsafe fn start_enumeration(fdo: *mut Fdo, device: *mut DeviceObject) {
    // SAFETY: the caller's promise; the provider and the devices outlive the enumeration, which
    // `stop` drops before the hardware.
    unsafe {
        if let Some(p) = (*fdo).hardware.provider() {
            (*fdo).enumeration = Enumeration::start(
                p,
                device,
                (*fdo).pci_pdo,
                core::ptr::addr_of!((*fdo).devices),
            );
        }
    }
}

/// Stops enumerating, then tears Xen down.
///
/// # Safety
/// As for [`start_enumeration`].
unsafe fn stop(fdo: *mut Fdo) {
    // SAFETY: the caller's promise.
    unsafe {
        drop((*fdo).enumeration.take());
        (*fdo).hardware.stop();
    }
}
