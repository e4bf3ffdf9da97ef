//! Driver and device objects (wdm.h `DRIVER_OBJECT`, `DRIVER_EXTENSION`, `DEVICE_OBJECT`).
//!
//! The kernel allocates all three; drivers only read and write the fields below through pointers.
//! Sizes and offsets: wdm.h of the Windows 10 SDK 10.0.19041 for x64, the same declarations as in
//! mingw-w64 `ddk/wdm.h`; measured again by `tests/conformance.rs`.

use core::ffi::c_void;
use core::mem::{offset_of, size_of};

use crate::irp::{Irp, IRP_MJ_MAXIMUM_FUNCTION};
use crate::status::NtStatus;
use crate::string::UnicodeString;

/// `DRIVER_DISPATCH`: handles one IRP major function.
pub type DriverDispatch = unsafe extern "system" fn(*mut DeviceObject, *mut Irp) -> NtStatus;
/// `DRIVER_ADD_DEVICE`: creates the driver's device for a new physical device object.
pub type DriverAddDevice =
    unsafe extern "system" fn(*mut DriverObject, *mut DeviceObject) -> NtStatus;
/// `DRIVER_UNLOAD`.
pub type DriverUnload = unsafe extern "system" fn(*mut DriverObject);

/// `DRIVER_OBJECT`.
#[repr(C)]
pub struct DriverObject {
    pub type_: i16,
    pub size: i16,
    pub device_object: *mut DeviceObject,
    pub flags: u32,
    pub driver_start: *mut c_void,
    pub driver_size: u32,
    pub driver_section: *mut c_void,
    pub driver_extension: *mut DriverExtension,
    pub driver_name: UnicodeString,
    pub hardware_database: *mut UnicodeString,
    pub fast_io_dispatch: *mut c_void,
    pub driver_init: *mut c_void,
    pub driver_start_io: *mut c_void,
    pub driver_unload: Option<DriverUnload>,
    pub major_function: [Option<DriverDispatch>; IRP_MJ_MAXIMUM_FUNCTION as usize + 1],
}

const _: () = assert!(size_of::<DriverObject>() == 0x150);
const _: () = assert!(offset_of!(DriverObject, driver_extension) == 0x30);
const _: () = assert!(offset_of!(DriverObject, driver_name) == 0x38);
const _: () = assert!(offset_of!(DriverObject, driver_unload) == 0x68);
const _: () = assert!(offset_of!(DriverObject, major_function) == 0x70);

/// `DRIVER_EXTENSION`: where a PnP driver registers its AddDevice routine.
#[repr(C)]
pub struct DriverExtension {
    pub driver_object: *mut DriverObject,
    pub add_device: Option<DriverAddDevice>,
    pub count: u32,
    pub service_key_name: UnicodeString,
}

const _: () = assert!(size_of::<DriverExtension>() == 0x28);
const _: () = assert!(offset_of!(DriverExtension, add_device) == 0x8);
const _: () = assert!(offset_of!(DriverExtension, service_key_name) == 0x18);

/// `DEVICE_OBJECT`: the fields up to `StackSize` are spelled out, the rest is opaque. wdm.h
/// declares it `DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT)`, 16 on x64, which rounds its 0x148
/// bytes of fields up to 0x150.
#[repr(C, align(16))]
pub struct DeviceObject {
    pub type_: i16,
    pub size: u16,
    pub reference_count: i32,
    pub driver_object: *mut DriverObject,
    pub next_device: *mut DeviceObject,
    pub attached_device: *mut DeviceObject,
    pub current_irp: *mut Irp,
    pub timer: *mut c_void,
    pub flags: u32,
    pub characteristics: u32,
    pub vpb: *mut c_void,
    pub device_extension: *mut c_void,
    pub device_type: u32,
    pub stack_size: i8,
    _rest: [u8; 0x150 - 0x4d],
}

const _: () = assert!(size_of::<DeviceObject>() == 0x150);
const _: () = assert!(offset_of!(DeviceObject, driver_object) == 0x8);
const _: () = assert!(offset_of!(DeviceObject, flags) == 0x30);
const _: () = assert!(offset_of!(DeviceObject, device_extension) == 0x40);
const _: () = assert!(offset_of!(DeviceObject, device_type) == 0x48);
const _: () = assert!(offset_of!(DeviceObject, stack_size) == 0x4c);

// DEVICE_OBJECT.Flags (wdm.h).
/// The device is still being set up; AddDevice clears it when done.
pub const DO_DEVICE_INITIALIZING: u32 = 0x0000_0080;
/// Power IRPs may be sent at PASSIVE_LEVEL (a function driver copies it from the device below).
pub const DO_POWER_PAGABLE: u32 = 0x0000_2000;

// DEVICE_OBJECT.DeviceType and Characteristics (wdm.h, devioctl.h).
pub const FILE_DEVICE_BUS_EXTENDER: u32 = 0x0000_002a;
pub const FILE_DEVICE_UNKNOWN: u32 = 0x0000_0022;
pub const FILE_DEVICE_SECURE_OPEN: u32 = 0x0000_0100;
