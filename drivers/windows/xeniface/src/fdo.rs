//! The function device object on XENBUS's `XENPV\IFACE` PDO: its extension and AddDevice.

use core::mem::size_of;
use core::ptr::null_mut;
use core::sync::atomic::AtomicPtr;

use xenpv_ddk::kernel::{
    IoAttachDeviceToDeviceStack, IoCreateDevice, IoDeleteDevice, IoDetachDevice,
};
use xenpv_ddk::object::{
    DeviceObject, DriverObject, DO_DEVICE_INITIALIZING, DO_POWER_PAGABLE, FILE_DEVICE_SECURE_OPEN,
    FILE_DEVICE_UNKNOWN,
};
use xenpv_ddk::status::{nt_success, NtStatus, STATUS_NO_SUCH_DEVICE, STATUS_SUCCESS};
use xenpv_ddk::string::UnicodeString;
use xenpv_ddk::sync::IoRemoveLock;
use xenpv_ddk::userio::imports::IoRegisterDeviceInterface;
use xenpv_wdm::pnp::PnpDevice;
use xenpv_winiface::ioctl::INTERFACE_GUID;

use crate::service::Service;

/// The FDO's extension, in the non-paged memory IoCreateDevice allocates (zeroed, 16-aligned),
/// valid until IoDeleteDevice.
pub struct Fdo {
    pub lower: *mut DeviceObject,
    pub remove_lock: IoRemoveLock,
    /// Touched only by the PnP dispatch routine (one request at a time per device).
    pub pnp: PnpDevice,
    /// The device interface's symbolic link (IoRegisterDeviceInterface), enabled while started.
    pub interface: UnicodeString,
    /// The running service: set by the first start, read by every other request, freed by the
    /// remove (after the remove lock has drained every request).
    pub service: AtomicPtr<Service>,
}

const _: () = assert!(core::mem::align_of::<Fdo>() <= 16);

/// The extension of one of this driver's devices, as a raw pointer (dispatch routines run
/// concurrently, so none holds a `&mut Fdo`).
///
/// # Safety
/// `device` is one of this driver's FDOs, not yet deleted.
pub unsafe fn extension(device: *mut DeviceObject) -> *mut Fdo {
    // SAFETY: the caller's promise; add_device initialised the extension.
    unsafe { (*device).device_extension.cast::<Fdo>() }
}

/// `DRIVER_ADD_DEVICE`: the FDO on XENBUS's PDO, and its device interface (disabled until start).
pub unsafe extern "system" fn add_device(
    driver: *mut DriverObject,
    pdo: *mut DeviceObject,
) -> NtStatus {
    let mut device: *mut DeviceObject = null_mut();
    // SAFETY: arguments as IoCreateDevice documents them: unnamed (user space finds the device
    // through its interface), secure open.
    let status = unsafe {
        IoCreateDevice(
            driver,
            size_of::<Fdo>() as u32,
            null_mut(),
            FILE_DEVICE_UNKNOWN,
            FILE_DEVICE_SECURE_OPEN,
            0,
            &mut device,
        )
    };
    if !nt_success(status) {
        return status;
    }
    // SAFETY: `device` was just created; `pdo` is the PnP manager's.
    let lower = unsafe { IoAttachDeviceToDeviceStack(device, pdo) };
    if lower.is_null() {
        // SAFETY: nothing else refers to the device yet.
        unsafe { IoDeleteDevice(device) };
        return STATUS_NO_SUCH_DEVICE;
    }
    // SAFETY: the extension is ours, large and aligned enough; nothing reads it before
    // DO_DEVICE_INITIALIZING is cleared.
    unsafe {
        let extension = (*device).device_extension.cast::<Fdo>();
        extension.write(Fdo {
            lower,
            remove_lock: core::mem::zeroed(),
            pnp: PnpDevice::new(),
            interface: UnicodeString {
                length: 0,
                maximum_length: 0,
                buffer: null_mut(),
            },
            service: AtomicPtr::new(null_mut()),
        });
        IoRemoveLock::initialize(&mut (*extension).remove_lock);
        let status = IoRegisterDeviceInterface(
            pdo,
            &INTERFACE_GUID,
            null_mut(),
            &mut (*extension).interface,
        );
        if !nt_success(status) {
            IoDetachDevice(lower);
            IoDeleteDevice(device);
            return status;
        }
        (*device).flags |= (*lower).flags & DO_POWER_PAGABLE;
        (*device).flags &= !DO_DEVICE_INITIALIZING;
    }
    STATUS_SUCCESS
}
