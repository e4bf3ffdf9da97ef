//! The function device object: its extension and AddDevice.

use core::mem::size_of;
use core::ptr::null_mut;

use xenpv_ddk::kernel::{IoAttachDeviceToDeviceStack, IoCreateDevice, IoDeleteDevice};
use xenpv_ddk::object::{
    DeviceObject, DriverObject, DO_DEVICE_INITIALIZING, DO_POWER_PAGABLE, FILE_DEVICE_BUS_EXTENDER,
    FILE_DEVICE_SECURE_OPEN,
};
use xenpv_ddk::status::{nt_success, NtStatus, STATUS_NO_SUCH_DEVICE, STATUS_SUCCESS};
use xenpv_ddk::sync::IoRemoveLock;
use xenpv_wdm::pnp::PnpDevice;

use crate::children::{ChildDevices, Enumeration};
use crate::hardware::Hardware;
use crate::kobj::Mutex;

/// The first field of both extensions says which one it is: the dispatch routines get requests
/// for the FDO and for the children's PDOs alike.
pub const KIND_FDO: u32 = u32::from_le_bytes(*b"xbFD");
pub const KIND_PDO: u32 = u32::from_le_bytes(*b"xbPD");

/// The FDO's device extension, in the non-paged memory IoCreateDevice allocates after the
/// DEVICE_OBJECT (16-aligned, zeroed) and valid until IoDeleteDevice.
#[repr(C)]
pub struct Fdo {
    /// [`KIND_FDO`].
    pub kind: u32,
    /// The device object below ours (the PCI bus driver's PDO, or a filter on it).
    pub lower: *mut DeviceObject,
    /// The PCI bus driver's PDO itself (for the interrupt and for invalidating BusRelations).
    pub pci_pdo: *mut DeviceObject,
    pub remove_lock: IoRemoveLock,
    pub pnp: PnpDevice,
    pub hardware: Hardware,
    /// The children and their PDOs (BusRelations, the rescan work item, PDO removal).
    pub devices: Mutex<ChildDevices>,
    /// The store enumeration while started.
    pub enumeration: Option<alloc::boxed::Box<Enumeration>>,
}

/// The kind of one of this driver's device objects.
///
/// # Safety
/// `device` is one of this driver's device objects, not yet deleted.
pub unsafe fn kind(device: *mut DeviceObject) -> u32 {
    // SAFETY: both extensions start with the kind.
    unsafe { *(*device).device_extension.cast::<u32>() }
}

const _: () = assert!(core::mem::align_of::<Fdo>() <= 16);

/// The extension of a device object this driver created, as a raw pointer: dispatch routines run
/// concurrently on one device, so none of them may hold a `&mut Fdo`. The remove lock is the
/// kernel's and is used through its address; `lower` is written once by AddDevice; `pnp` and
/// `hardware` are touched only by the PnP dispatch routine, which the PnP manager calls for one
/// request at a time per device.
///
/// # Safety
/// `device` is one of this driver's FDOs, not yet deleted.
pub unsafe fn extension(device: *mut DeviceObject) -> *mut Fdo {
    // SAFETY: the caller's promise; add_device initialised the extension.
    unsafe { (*device).device_extension.cast::<Fdo>() }
}

/// `DRIVER_ADD_DEVICE`: creates the FDO for the platform device's PDO and attaches it on top.
pub unsafe extern "system" fn add_device(
    driver: *mut DriverObject,
    pdo: *mut DeviceObject,
) -> NtStatus {
    let mut device: *mut DeviceObject = null_mut();
    // SAFETY: arguments as IoCreateDevice documents them; an unnamed, non-exclusive device.
    let status = unsafe {
        IoCreateDevice(
            driver,
            size_of::<Fdo>() as u32,
            null_mut(),
            FILE_DEVICE_BUS_EXTENDER,
            FILE_DEVICE_SECURE_OPEN,
            0,
            &mut device,
        )
    };
    if !nt_success(status) {
        return status;
    }
    // SAFETY: `device` was just created and `pdo` is the PnP manager's.
    let lower = unsafe { IoAttachDeviceToDeviceStack(device, pdo) };
    if lower.is_null() {
        // SAFETY: nothing else refers to the device yet.
        unsafe { IoDeleteDevice(device) };
        return STATUS_NO_SUCH_DEVICE;
    }
    // SAFETY: the extension is ours, large enough for an Fdo and suitably aligned; nothing reads
    // it before DO_DEVICE_INITIALIZING is cleared below.
    unsafe {
        let extension = (*device).device_extension.cast::<Fdo>();
        extension.write(Fdo {
            kind: KIND_FDO,
            lower,
            pci_pdo: pdo,
            // Zeroed until initialised just below, as IoCreateDevice left it.
            remove_lock: core::mem::zeroed(),
            pnp: PnpDevice::new(),
            hardware: Hardware::new(),
            devices: Mutex::new(ChildDevices::default()),
            enumeration: None,
        });
        IoRemoveLock::initialize(&mut (*extension).remove_lock);
        // Power IRPs reach us the way the device below can take them.
        (*device).flags |= (*lower).flags & DO_POWER_PAGABLE;
        (*device).flags &= !DO_DEVICE_INITIALIZING;
    }
    STATUS_SUCCESS
}
