//! Interrupt connection (`IoConnectInterruptEx` / `IoDisconnectInterruptEx`, wdm.h): the
//! parameter blocks and the service routine type. XENBUS connects the Xen platform device's line
//! interrupt (the event channel upcall) with the line-based version.
//!
//! Sizes and offsets: wdm.h of the Windows 10 SDK 10.0.19041 for x64 (mingw-w64 `ddk/wdm.h`
//! agrees); measured again by `tests/conformance.rs`.

use core::ffi::c_void;
use core::mem::{offset_of, size_of};

use crate::object::DeviceObject;
use crate::sync::{KIrql, KSpinLock};

/// An opaque `KINTERRUPT`, only ever handled by pointer.
#[repr(C)]
pub struct KInterrupt {
    _opaque: [u8; 0],
}

/// `KSERVICE_ROUTINE`: returns TRUE (1) when the interrupt was this device's.
pub type KServiceRoutine = unsafe extern "system" fn(*mut KInterrupt, *mut c_void) -> u8;

/// `IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IoConnectInterruptLineBasedParameters {
    pub physical_device_object: *mut DeviceObject,
    /// Receives the interrupt object, needed to disconnect.
    pub interrupt_object: *mut *mut KInterrupt,
    pub service_routine: Option<KServiceRoutine>,
    pub service_context: *mut c_void,
    /// Optional; null lets the kernel use the interrupt object's own lock.
    pub spin_lock: *mut KSpinLock,
    /// Optional (0: the interrupt's own IRQL).
    pub synchronize_irql: KIrql,
    /// Ignored on x64 (the kernel always saves floating-point state there).
    pub floating_save: u8,
}

const _: () = assert!(size_of::<IoConnectInterruptLineBasedParameters>() == 0x30);
const _: () = assert!(offset_of!(IoConnectInterruptLineBasedParameters, synchronize_irql) == 0x28);
const _: () = assert!(offset_of!(IoConnectInterruptLineBasedParameters, floating_save) == 0x29);

/// `IO_CONNECT_INTERRUPT_PARAMETERS`: a version and a union whose largest member (the fully
/// specified parameters, 0x48 bytes) sets its size; only the line-based member is spelled out.
#[repr(C)]
pub struct IoConnectInterruptParameters {
    /// In: the `CONNECT_*` version asked for; out, on STATUS_INVALID_PARAMETER_1, the highest the
    /// kernel supports.
    pub version: u32,
    pub line_based: IoConnectInterruptLineBasedParameters,
    _rest_of_union: [u8; 0x48 - 0x30],
}

const _: () = assert!(size_of::<IoConnectInterruptParameters>() == 0x50);
const _: () = assert!(offset_of!(IoConnectInterruptParameters, line_based) == 0x8);

impl IoConnectInterruptParameters {
    /// Line-based parameters (`CONNECT_LINE_BASED`) for `pdo`'s interrupt.
    pub fn line_based(
        pdo: *mut DeviceObject,
        interrupt_object: *mut *mut KInterrupt,
        service_routine: KServiceRoutine,
        service_context: *mut c_void,
    ) -> Self {
        IoConnectInterruptParameters {
            version: CONNECT_LINE_BASED,
            line_based: IoConnectInterruptLineBasedParameters {
                physical_device_object: pdo,
                interrupt_object,
                service_routine: Some(service_routine),
                service_context,
                spin_lock: core::ptr::null_mut(),
                synchronize_irql: 0,
                floating_save: 0,
            },
            _rest_of_union: [0; 0x48 - 0x30],
        }
    }
}

/// `IO_DISCONNECT_INTERRUPT_PARAMETERS`: the version used to connect and what connecting returned
/// (for line-based: the interrupt object).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IoDisconnectInterruptParameters {
    pub version: u32,
    pub connection_context: *mut c_void,
}

const _: () = assert!(size_of::<IoDisconnectInterruptParameters>() == 0x10);
const _: () = assert!(offset_of!(IoDisconnectInterruptParameters, connection_context) == 0x8);

// IO_CONNECT_INTERRUPT_PARAMETERS.Version (wdm.h).
pub const CONNECT_FULLY_SPECIFIED: u32 = 0x1;
pub const CONNECT_LINE_BASED: u32 = 0x2;
pub const CONNECT_MESSAGE_BASED: u32 = 0x3;
