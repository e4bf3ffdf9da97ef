//! The storport.sys exports a miniport calls, linked with `raw-dylib` like the kernel's (see
//! [`crate::kernel`]), and the storport.h inline helpers built on `StorPortNotification`. Every
//! name imported here is listed in drivers/windows/imports.txt.

use core::ffi::c_void;
use core::ptr::null_mut;

use super::config::{HwInitializationData, PortConfigurationInformation};
use super::sgl::{StorDpc, StorScatterGatherList};
use crate::object::DeviceObject;

/// `HW_DPC_ROUTINE`.
pub type HwDpcRoutine = unsafe extern "system" fn(
    dpc: *mut StorDpc,
    hw_device_extension: *mut c_void,
    system_argument1: *mut c_void,
    system_argument2: *mut c_void,
);

// SCSI_NOTIFICATION_TYPE (storport.h) values used here.
pub const REQUEST_COMPLETE: u32 = 0;
pub const NEXT_REQUEST: u32 = 1;
pub const RESET_DETECTED: u32 = 3;
pub const BUS_CHANGE_DETECTED: u32 = 7;
pub const ENABLE_PASSIVE_INITIALIZATION: u32 = 0x1000;
pub const INITIALIZE_DPC: u32 = 0x1001;
pub const ISSUE_DPC: u32 = 0x1002;

#[link(name = "storport.sys", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    /// Registers the miniport; `argument1`/`argument2` are DriverEntry's driver object and
    /// registry path. Returns an NTSTATUS as a ULONG.
    pub fn StorPortInitialize(
        argument1: *mut c_void,
        argument2: *mut c_void,
        hw_initialization_data: *mut HwInitializationData,
        hw_context: *mut c_void,
    ) -> u32;
    /// `StorPortNotification(type, HwDeviceExtension, ...)`: the variadic arguments depend on
    /// the type (see the helpers below).
    pub fn StorPortNotification(notification_type: u32, hw_device_extension: *mut c_void, ...);
    pub fn StorPortGetScatterGatherList(
        hw_device_extension: *mut c_void,
        srb: *mut c_void,
    ) -> *mut StorScatterGatherList;
    /// Returns the `STOR_PHYSICAL_ADDRESS` (a LARGE_INTEGER, in RAX on x64) of `virtual_address`
    /// and in `length` how many bytes from there are physically contiguous.
    pub fn StorPortGetPhysicalAddress(
        hw_device_extension: *mut c_void,
        srb: *mut c_void,
        virtual_address: *mut c_void,
        length: *mut u32,
    ) -> i64;
    /// Memory for the adapter's shared structures, allocated by storport during HwFindAdapter
    /// (the only allocation a dump-mode miniport may make).
    /// `StorPortExtendedFunction(code, HwDeviceExtension, ...)`: the variadic arguments depend
    /// on the `STORPORT_FUNCTION_CODE` (see [`get_device_objects`]); returns a `STOR_STATUS`.
    pub fn StorPortExtendedFunction(
        function_code: u32,
        hw_device_extension: *mut c_void,
        ...
    ) -> u32;
    /// Busy-waits `delay` microseconds; what a dump-mode miniport polls with (no timers, no
    /// interrupts then).
    pub fn StorPortStallExecution(delay: u32);
    pub fn StorPortGetUncachedExtension(
        hw_device_extension: *mut c_void,
        config_info: *mut PortConfigurationInformation,
        number_of_bytes: u32,
    ) -> *mut c_void;
}

/// `STORPORT_FUNCTION_CODE::ExtFunctionGetDeviceObjects`.
pub const EXT_FUNCTION_GET_DEVICE_OBJECTS: u32 = 8;
/// `STOR_STATUS_SUCCESS`.
pub const STOR_STATUS_SUCCESS: u32 = 0;

/// The device objects of the adapter (`StorPortGetDeviceObjects`, an inline of storport.h):
/// storport's FDO, the PDO it was started on, and the device just below the FDO.
///
/// # Safety
/// `hw_device_extension` is the extension storport passed to a miniport callback.
pub unsafe fn get_device_objects(
    hw_device_extension: *mut c_void,
) -> Option<(*mut DeviceObject, *mut DeviceObject, *mut DeviceObject)> {
    let mut fdo: *mut DeviceObject = null_mut();
    let mut pdo: *mut DeviceObject = null_mut();
    let mut lower: *mut DeviceObject = null_mut();
    // SAFETY: the caller's promise; the three pointers receive the device objects.
    let status = unsafe {
        StorPortExtendedFunction(
            EXT_FUNCTION_GET_DEVICE_OBJECTS,
            hw_device_extension,
            &mut fdo as *mut *mut DeviceObject,
            &mut pdo as *mut *mut DeviceObject,
            &mut lower as *mut *mut DeviceObject,
        )
    };
    (status == STOR_STATUS_SUCCESS && !lower.is_null()).then_some((fdo, pdo, lower))
}

/// `StorPortNotification(RequestComplete, ...)`: the SRB is finished; storport owns it again.
///
/// # Safety
/// `srb` is an SRB this miniport received and has not completed yet.
pub unsafe fn request_complete(hw_device_extension: *mut c_void, srb: *mut c_void) {
    // SAFETY: the caller's promise; RequestComplete takes exactly the SRB.
    unsafe { StorPortNotification(REQUEST_COMPLETE, hw_device_extension, srb) }
}

/// `HW_PASSIVE_INITIALIZE_ROUTINE`.
pub type HwPassiveInitializeRoutine =
    unsafe extern "system" fn(hw_device_extension: *mut c_void) -> u8;

/// `StorPortEnablePassiveInitialization` (an inline of storport.h): `routine` runs at
/// PASSIVE_LEVEL after HwInitialize returns. Only from HwInitialize; false if not available
/// (dump mode).
///
/// # Safety
/// `hw_device_extension` is the extension storport passed to HwInitialize.
pub unsafe fn enable_passive_initialization(
    hw_device_extension: *mut c_void,
    routine: HwPassiveInitializeRoutine,
) -> bool {
    let mut enabled: i32 = 0;
    // SAFETY: the caller's promise; the result is written through the last pointer.
    unsafe {
        StorPortNotification(
            ENABLE_PASSIVE_INITIALIZATION,
            hw_device_extension,
            routine,
            &mut enabled as *mut i32,
        )
    };
    enabled != 0
}

/// `StorPortInitializeDpc` (an inline of storport.h).
///
/// # Safety
/// `dpc` lives in the device extension for as long as it may be issued.
pub unsafe fn initialize_dpc(
    hw_device_extension: *mut c_void,
    dpc: *mut StorDpc,
    routine: HwDpcRoutine,
) {
    // SAFETY: the caller's promise; InitializeDpc takes the DPC and its routine.
    unsafe { StorPortNotification(INITIALIZE_DPC, hw_device_extension, dpc, routine) }
}

/// `StorPortIssueDpc` (an inline of storport.h): queues the DPC; false if it was already queued.
///
/// # Safety
/// `dpc` was initialised by [`initialize_dpc`].
pub unsafe fn issue_dpc(
    hw_device_extension: *mut c_void,
    dpc: *mut StorDpc,
    argument1: *mut c_void,
    argument2: *mut c_void,
) -> bool {
    let mut queued: i32 = 0;
    // SAFETY: the caller's promise; IssueDpc writes its result through the last pointer.
    unsafe {
        StorPortNotification(
            ISSUE_DPC,
            hw_device_extension,
            dpc,
            argument1,
            argument2,
            &mut queued as *mut i32,
        )
    };
    queued != 0
}
