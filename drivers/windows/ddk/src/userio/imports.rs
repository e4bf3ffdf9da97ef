//! The kernel functions of [`crate::userio`], linked like those of [`crate::kernel`] (each is also
//! listed in drivers/windows/imports.txt).

use core::ffi::c_void;

use crate::irp::{IoStatusBlock, Irp};
use crate::object::DeviceObject;
use crate::status::NtStatus;
use crate::string::UnicodeString;
use crate::sync::KEvent;
use crate::userio::csq::{
    CsqAcquireLock, CsqCompleteCanceledIrp, CsqInsertIrpEx, CsqPeekNextIrp, CsqReleaseLock,
    CsqRemoveIrp, IoCsq, IoCsqIrpContext,
};
use crate::userio::guid::Guid;

/// `IO_WORKITEM_ROUTINE`.
pub type IoWorkItemRoutine = unsafe extern "system" fn(*mut DeviceObject, *mut c_void);

#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    // Device interfaces.
    pub fn IoRegisterDeviceInterface(
        physical_device_object: *mut DeviceObject,
        interface_class_guid: *const Guid,
        reference_string: *mut UnicodeString,
        symbolic_link_name: *mut UnicodeString,
    ) -> NtStatus;
    pub fn IoSetDeviceInterfaceState(
        symbolic_link_name: *mut UnicodeString,
        enable: u8,
    ) -> NtStatus;
    pub fn RtlFreeUnicodeString(unicode_string: *mut UnicodeString);

    // PnP requests a driver sends itself (IRP_MN_QUERY_INTERFACE to its stack).
    pub fn IoBuildSynchronousFsdRequest(
        major_function: u32,
        device_object: *mut DeviceObject,
        buffer: *mut c_void,
        length: u32,
        starting_offset: *mut i64,
        event: *mut KEvent,
        io_status_block: *mut IoStatusBlock,
    ) -> *mut Irp;

    // Cancel-safe queues.
    pub fn IoCsqInitializeEx(
        csq: *mut IoCsq,
        insert_irp: CsqInsertIrpEx,
        remove_irp: CsqRemoveIrp,
        peek_next_irp: CsqPeekNextIrp,
        acquire_lock: CsqAcquireLock,
        release_lock: CsqReleaseLock,
        complete_canceled_irp: CsqCompleteCanceledIrp,
    ) -> NtStatus;
    pub fn IoCsqInsertIrpEx(
        csq: *mut IoCsq,
        irp: *mut Irp,
        context: *mut IoCsqIrpContext,
        insert_context: *mut c_void,
    ) -> NtStatus;
    pub fn IoCsqRemoveNextIrp(csq: *mut IoCsq, peek_context: *mut c_void) -> *mut Irp;

    // Work items.
    pub fn IoAllocateWorkItem(device_object: *mut DeviceObject) -> *mut c_void;
    pub fn IoQueueWorkItem(
        work_item: *mut c_void,
        routine: IoWorkItemRoutine,
        queue_type: u32,
        context: *mut c_void,
    );
    pub fn IoFreeWorkItem(work_item: *mut c_void);
    /// Disables normal kernel APCs (thread suspension among them) until the matching leave, so
    /// a thread holding a driver's lock cannot be suspended by its process.
    pub fn KeEnterCriticalRegion();
    pub fn KeLeaveCriticalRegion();
    pub fn KeDelayExecutionThread(wait_mode: i8, alertable: u8, interval: *const i64) -> NtStatus;

    // Objects behind user handles.
    pub fn ObReferenceObjectByHandle(
        handle: *mut c_void,
        desired_access: u32,
        object_type: *mut c_void,
        access_mode: i8,
        object: *mut *mut c_void,
        handle_information: *mut c_void,
    ) -> NtStatus;
    /// `ObDereferenceObject`.
    pub fn ObfDereferenceObject(object: *mut c_void) -> isize;

    // Time.
    /// The system time (100-ns intervals since 1601, UTC), precise (Windows 8 and later).
    pub fn KeQuerySystemTimePrecise(current_time: *mut i64);
    pub fn ZwSetSystemTime(new_time: *const i64, old_time: *mut i64) -> NtStatus;
}

#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "C" {
    /// `ExEventObjectType`: the kernel's `POBJECT_TYPE` variable of events, to refuse a user
    /// handle that is not an event. Rust reads an imported static through the import table
    /// (raw-dylib imports are dllimport), so its value is the object type itself: what C code
    /// writes as `*ExEventObjectType`, C declaring the import slot instead.
    pub static ExEventObjectType: *mut c_void;
}
