//! XENIFACE: user space's window on Xen, as a child of XENBUS (hardware ID `XENPV\IFACE`; see
//! xeniface.inf).
//!
//! A device interface (`xenpv_winiface::ioctl::INTERFACE_GUID`) that administrators' processes
//! open; its IOCTLs read, write, list and remove xenstore nodes, watch them, run transactions,
//! bind and signal event channels and grant the caller's pages to other domains. Every handle's
//! transactions, watches, ports and grants are released when it is closed. Beside that, the guest
//! agent: it advertises control/feature-*, acknowledges control/shutdown requests and hands them
//! to user mode (which shuts Windows down: ExitWindowsEx, not this driver), and sets the clock
//! from Xen's after a resume.
//!
//! What decides anything is in xenpv-winiface (protocol, sessions, agent), tested on the host;
//! this crate is the kernel's part: IRPs, the cancel-safe queue, user event objects, MDLs,
//! XENBUS's interface (xenpv-busif).

#![no_std]

extern crate alloc;

mod dispatch;
mod fdo;
mod home;
mod mutex;
mod pending;
mod service;

use xenpv_ddk::debug::DPFLTR_INFO_LEVEL;
use xenpv_ddk::irp::{
    IRP_MJ_CLEANUP, IRP_MJ_CLOSE, IRP_MJ_CREATE, IRP_MJ_DEVICE_CONTROL, IRP_MJ_PNP, IRP_MJ_POWER,
};
use xenpv_ddk::object::DriverObject;
use xenpv_ddk::status::{NtStatus, STATUS_SUCCESS};
use xenpv_ddk::string::UnicodeString;

/// The image's entry point (`/ENTRY:DriverEntry`).
///
/// # Safety
/// Called by the I/O manager with its driver object.
#[no_mangle]
pub unsafe extern "system" fn DriverEntry(
    driver: *mut DriverObject,
    _registry_path: *mut UnicodeString,
) -> NtStatus {
    // SAFETY: the I/O manager hands us a valid driver object with its extension.
    let driver = unsafe { &mut *driver };
    for slot in driver.major_function.iter_mut() {
        *slot = Some(dispatch::pass_through);
    }
    driver.major_function[IRP_MJ_CREATE as usize] = Some(dispatch::create);
    driver.major_function[IRP_MJ_CLEANUP as usize] = Some(dispatch::cleanup);
    driver.major_function[IRP_MJ_CLOSE as usize] = Some(dispatch::close);
    driver.major_function[IRP_MJ_DEVICE_CONTROL as usize] = Some(dispatch::device_control);
    driver.major_function[IRP_MJ_PNP as usize] = Some(dispatch::pnp);
    driver.major_function[IRP_MJ_POWER as usize] = Some(dispatch::power);
    driver.driver_unload = Some(driver_unload);
    // SAFETY: as above.
    unsafe { (*driver.driver_extension).add_device = Some(fdo::add_device) };
    xenpv_ddk::debug::print(DPFLTR_INFO_LEVEL, format_args!("xeniface: loaded"));
    STATUS_SUCCESS
}

/// Every device was deleted by its remove request before the kernel unloads the driver.
unsafe extern "system" fn driver_unload(_driver: *mut DriverObject) {
    xenpv_ddk::debug::print(DPFLTR_INFO_LEVEL, format_args!("xeniface: unloaded"));
}
