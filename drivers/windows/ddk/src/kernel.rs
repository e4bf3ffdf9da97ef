//! The kernel functions the drivers import, linked with `raw-dylib` from the module that exports
//! each (no import library needed). Declarations follow the WDK prototypes (wdm.h, ntddk.h) for
//! x64, where every calling convention is the Microsoft x64 one (`extern "system"`).
//!
//! The functions wdm.h defines as inlines or macros over these (IoCallDriver, IoCompleteRequest,
//! the remove-lock macros) are here under their exported names; their inline helpers are in
//! [`crate::irp`]. Every name imported here must also be listed in drivers/windows/imports.txt,
//! which the image check enforces.

use core::ffi::c_void;

use crate::interrupt::{IoConnectInterruptParameters, IoDisconnectInterruptParameters};
use crate::irp::Irp;
use crate::object::{DeviceObject, DriverObject};
use crate::status::NtStatus;
use crate::string::UnicodeString;
use crate::sync::{IoRemoveLock, KDpc, KEvent, KIrql, KSpinLock};

/// `KDEFERRED_ROUTINE`.
pub type KDeferredRoutine =
    unsafe extern "system" fn(*mut KDpc, *mut c_void, *mut c_void, *mut c_void);

#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    // Devices and IRPs.
    pub fn IoCreateDevice(
        driver_object: *mut DriverObject,
        device_extension_size: u32,
        device_name: *mut UnicodeString,
        device_type: u32,
        device_characteristics: u32,
        exclusive: u8,
        device_object: *mut *mut DeviceObject,
    ) -> NtStatus;
    pub fn IoDeleteDevice(device_object: *mut DeviceObject);
    pub fn IoAttachDeviceToDeviceStack(
        source: *mut DeviceObject,
        target: *mut DeviceObject,
    ) -> *mut DeviceObject;
    pub fn IoDetachDevice(target: *mut DeviceObject);
    /// `IoCallDriver`.
    pub fn IofCallDriver(device_object: *mut DeviceObject, irp: *mut Irp) -> NtStatus;
    /// `IoCompleteRequest`.
    pub fn IofCompleteRequest(irp: *mut Irp, priority_boost: i8);
    pub fn PoStartNextPowerIrp(irp: *mut Irp);
    pub fn PoCallDriver(device_object: *mut DeviceObject, irp: *mut Irp) -> NtStatus;

    // Remove locks (the Io*RemoveLock macros of wdm.h expand to these with the lock's size).
    pub fn IoInitializeRemoveLockEx(
        lock: *mut IoRemoveLock,
        allocate_tag: u32,
        max_locked_minutes: u32,
        high_watermark: u32,
        remlock_size: u32,
    );
    pub fn IoAcquireRemoveLockEx(
        lock: *mut IoRemoveLock,
        tag: *mut c_void,
        file: *const u8,
        line: u32,
        remlock_size: u32,
    ) -> NtStatus;
    pub fn IoReleaseRemoveLockEx(lock: *mut IoRemoveLock, tag: *mut c_void, remlock_size: u32);
    pub fn IoReleaseRemoveLockAndWaitEx(
        lock: *mut IoRemoveLock,
        tag: *mut c_void,
        remlock_size: u32,
    );

    // Interrupts.
    pub fn IoConnectInterruptEx(parameters: *mut IoConnectInterruptParameters) -> NtStatus;
    pub fn IoDisconnectInterruptEx(parameters: *mut IoDisconnectInterruptParameters);

    // Events, DPCs and spin locks.
    pub fn KeInitializeEvent(event: *mut KEvent, event_type: u32, state: u8);
    pub fn KeSetEvent(event: *mut KEvent, increment: i32, wait: u8) -> i32;
    pub fn KeWaitForSingleObject(
        object: *mut c_void,
        wait_reason: u32,
        wait_mode: i8,
        alertable: u8,
        timeout: *const i64,
    ) -> NtStatus;
    pub fn KeInitializeDpc(dpc: *mut KDpc, routine: KDeferredRoutine, context: *mut c_void);
    pub fn KeInsertQueueDpc(dpc: *mut KDpc, argument1: *mut c_void, argument2: *mut c_void) -> u8;
    pub fn KeAcquireSpinLockRaiseToDpc(lock: *mut KSpinLock) -> KIrql;
    pub fn KeReleaseSpinLock(lock: *mut KSpinLock, new_irql: KIrql);
    /// The current processor's system-wide index; `number` (a `PROCESSOR_NUMBER`) may be null.
    pub fn KeGetCurrentProcessorNumberEx(number: *mut c_void) -> u32;

    // Memory.
    pub fn ExAllocatePool2(flags: u64, number_of_bytes: usize, tag: u32) -> *mut c_void;
    pub fn ExFreePoolWithTag(p: *mut c_void, tag: u32);
    /// Returns a `PHYSICAL_ADDRESS` (a `LARGE_INTEGER`, returned in RAX on x64).
    pub fn MmGetPhysicalAddress(base_address: *mut c_void) -> i64;
    pub fn MmAllocateContiguousMemorySpecifyCache(
        number_of_bytes: usize,
        lowest_acceptable_address: i64,
        highest_acceptable_address: i64,
        boundary_address_multiple: i64,
        cache_type: u32,
    ) -> *mut c_void;
    pub fn MmFreeContiguousMemory(base_address: *mut c_void);

    // The C memory routines. Rust code never calls these by name: the compiler emits calls to
    // them for copies, fills and comparisons, and the prebuilt core for x86_64-pc-windows-msvc
    // expects them from the C runtime, which a driver does not have. ntoskrnl.exe exports them
    // (the WDK links them from ntoskrnl.lib too); declaring them here puts them in the import
    // library raw-dylib generates.
    pub fn memcpy(dest: *mut c_void, src: *const c_void, count: usize) -> *mut c_void;
    pub fn memmove(dest: *mut c_void, src: *const c_void, count: usize) -> *mut c_void;
    pub fn memset(dest: *mut c_void, c: i32, count: usize) -> *mut c_void;
    pub fn memcmp(a: *const c_void, b: *const c_void, count: usize) -> i32;

    // Diagnostics.
    pub fn DbgPrintEx(component_id: u32, level: u32, format: *const u8, ...) -> NtStatus;
    pub fn KeBugCheckEx(
        bug_check_code: u32,
        parameter1: usize,
        parameter2: usize,
        parameter3: usize,
        parameter4: usize,
    ) -> !;
}

#[link(name = "hal.dll", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    /// Busy-waits at least `microseconds`, at any IRQL (the crash-dump path polls with it).
    pub fn KeStallExecutionProcessor(microseconds: u32);
}
