//! XENBUS: the WDM function driver of the Xen platform PCI device (vendor 5853, devices 0001,
//! 0002 and C000; see xenbus.inf).
//!
//! DriverEntry registers the dispatch routines, AddDevice creates the function device object on
//! top of the PCI bus driver's PDO, PnP requests follow xenpv-wdm's state machine with the
//! kernel's remove lock guarding every request, power requests pass through. Start brings Xen up
//! ([`hardware`]: hypercalls, shared_info and grant frames in the BAR, the event upcall on the
//! device's interrupt ([`events`]), the store ring, emulated-device unplug) and builds the bus
//! interface (`xenpv_busif`) that the children get. As a bus driver it enumerates `device/vif`,
//! `device/vbd` and one XENIFACE device as children ([`children`]) and answers their PDOs' PnP
//! requests ([`pdo`]).

#![no_std]

extern crate alloc;

mod children;
mod dispatch;
mod dump;
mod events;
mod fdo;
mod hardware;
mod kobj;
mod park;
mod pdo;
mod registry;
mod xen;

use xenpv_ddk::debug::DPFLTR_INFO_LEVEL;
use xenpv_ddk::irp::{IRP_MJ_PNP, IRP_MJ_POWER};
use xenpv_ddk::object::DriverObject;
use xenpv_ddk::status::{NtStatus, STATUS_SUCCESS};
use xenpv_ddk::string::UnicodeString;

/// The image's entry point (`/ENTRY:DriverEntry`), called once when the driver is loaded.
///
/// # Safety
/// Called by the I/O manager with its driver object.
#[no_mangle]
pub unsafe extern "system" fn DriverEntry(
    driver: *mut DriverObject,
    registry_path: *mut UnicodeString,
) -> NtStatus {
    // SAFETY: the I/O manager's registry path, valid during DriverEntry; we are at PASSIVE_LEVEL.
    unsafe { registry::read(registry_path) };
    // SAFETY: the I/O manager hands us a valid driver object with its extension.
    let driver = unsafe { &mut *driver };
    for slot in driver.major_function.iter_mut() {
        *slot = Some(dispatch::pass_through);
    }
    driver.major_function[IRP_MJ_PNP as usize] = Some(dispatch::pnp);
    driver.major_function[IRP_MJ_POWER as usize] = Some(dispatch::power);
    driver.driver_unload = Some(driver_unload);
    // SAFETY: as above.
    unsafe { (*driver.driver_extension).add_device = Some(fdo::add_device) };
    xenpv_ddk::debug::print(DPFLTR_INFO_LEVEL, format_args!("xenbus: loaded"));
    STATUS_SUCCESS
}

/// Every device was deleted by its remove request before the kernel unloads the driver, so
/// there is nothing left to free.
unsafe extern "system" fn driver_unload(_driver: *mut DriverObject) {
    xenpv_ddk::debug::print(DPFLTR_INFO_LEVEL, format_args!("xenbus: unloaded"));
}
