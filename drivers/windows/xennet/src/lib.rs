//! XENNET: the NDIS 6.30 miniport of Xen PV network interfaces, for the `XENPV\VIF` devices
//! XENBUS enumerates (see xennet.inf).
//!
//! Everything that is not a kernel call is xenpv-winnet's [`Adapter`](xenpv_winnet::adapter::Adapter),
//! tested on the host over the sim; this crate registers the miniport, turns NDIS's handler calls
//! into adapter calls ([`nic`]), and finds XENBUS's interface below it ([`bus`]).

#![no_std]

extern crate alloc;

mod nic;
mod waker;

use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, Ordering};

use xenpv_ddk::debug::{DPFLTR_ERROR_LEVEL, DPFLTR_INFO_LEVEL};
use xenpv_ddk::ndis::imports::{NdisMDeregisterMiniportDriver, NdisMRegisterMiniportDriver};
use xenpv_ddk::ndis::miniport::{
    MiniportDriverCharacteristics, NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
    NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
};
use xenpv_ddk::ndis::nbl::NetBufferList;
use xenpv_ddk::ndis::oid::NdisOidRequest;
use xenpv_ddk::ndis::{
    NdisHandle, NdisStatus, ObjectHeader, NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
    NDIS_STATUS_FAILURE, NDIS_STATUS_SUCCESS,
};
use xenpv_ddk::object::DriverObject;
use xenpv_ddk::status::NtStatus;
use xenpv_ddk::string::UnicodeString;

use nic::Nic;

/// The handle NdisMRegisterMiniportDriver returned, for unload.
static DRIVER_HANDLE: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

/// The image's entry point: registers the miniport with NDIS 6.30.
///
/// # Safety
/// Called by the I/O manager with its driver object and registry path.
#[no_mangle]
pub unsafe extern "system" fn DriverEntry(
    driver: *mut DriverObject,
    registry_path: *mut UnicodeString,
) -> NtStatus {
    let mut chars = MiniportDriverCharacteristics {
        header: ObjectHeader::new(
            NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS,
            NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
            NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2,
        ),
        major_ndis_version: 6,
        minor_ndis_version: 30,
        major_driver_version: 0,
        minor_driver_version: 1,
        flags: 0,
        set_options_handler: core::ptr::null(),
        initialize_handler_ex: Some(initialize),
        halt_handler_ex: Some(halt),
        unload_handler: Some(unload),
        pause_handler: Some(pause),
        restart_handler: Some(restart),
        oid_request_handler: Some(oid_request),
        send_net_buffer_lists_handler: Some(send),
        return_net_buffer_lists_handler: Some(return_nbls),
        cancel_send_handler: Some(cancel_send),
        check_for_hang_handler_ex: core::ptr::null(),
        reset_handler_ex: core::ptr::null(),
        device_pnp_event_notify_handler: Some(device_pnp_event),
        shutdown_handler_ex: Some(shutdown),
        cancel_oid_request_handler: Some(cancel_oid_request),
        direct_oid_request_handler: core::ptr::null(),
        cancel_direct_oid_request_handler: core::ptr::null(),
    };
    let mut handle: NdisHandle = core::ptr::null_mut();
    // SAFETY: NDIS copies the characteristics; the out-pointer is ours.
    let status = unsafe {
        NdisMRegisterMiniportDriver(
            driver,
            registry_path,
            core::ptr::null_mut(),
            &mut chars,
            &mut handle,
        )
    };
    if status == NDIS_STATUS_SUCCESS {
        DRIVER_HANDLE.store(handle, Ordering::Release);
        xenpv_ddk::debug::print(DPFLTR_INFO_LEVEL, format_args!("xennet: loaded"));
    } else {
        xenpv_ddk::debug::print(
            DPFLTR_ERROR_LEVEL,
            format_args!("xennet: registration failed {status:#x}"),
        );
    }
    status
}

fn nic<'a>(context: NdisHandle) -> &'a Nic {
    // SAFETY: NDIS passes the context set in the registration attributes, valid until halt.
    unsafe { &*(context as *const Nic) }
}

unsafe extern "system" fn initialize(
    adapter_handle: NdisHandle,
    _driver_context: NdisHandle,
    _init_parameters: *mut c_void,
) -> NdisStatus {
    // SAFETY: NDIS calls this at PASSIVE_LEVEL for a new adapter.
    match unsafe { nic::initialize(adapter_handle) } {
        Ok(_) => NDIS_STATUS_SUCCESS,
        Err(e) => {
            xenpv_ddk::debug::print(
                DPFLTR_ERROR_LEVEL,
                format_args!("xennet: initialise failed: {e}"),
            );
            NDIS_STATUS_FAILURE
        }
    }
}

unsafe extern "system" fn halt(context: NdisHandle, _action: u32) {
    // SAFETY: the adapter's context; NDIS calls nothing on it afterwards.
    unsafe { nic::halt(context.cast()) };
}

unsafe extern "system" fn unload(_driver: *mut DriverObject) {
    let handle = DRIVER_HANDLE.swap(core::ptr::null_mut(), Ordering::AcqRel);
    if !handle.is_null() {
        // SAFETY: the handle registration returned; every adapter was halted before unload.
        unsafe { NdisMDeregisterMiniportDriver(handle) };
    }
}

unsafe extern "system" fn pause(context: NdisHandle, _parameters: *mut c_void) -> NdisStatus {
    nic(context).pause()
}

unsafe extern "system" fn restart(context: NdisHandle, _parameters: *mut c_void) -> NdisStatus {
    nic(context).restart()
}

unsafe extern "system" fn oid_request(
    context: NdisHandle,
    request: *mut NdisOidRequest,
) -> NdisStatus {
    // SAFETY: NDIS hands a valid request, ours until we return or complete it.
    nic(context).oid_request(unsafe { &mut *request })
}

unsafe extern "system" fn send(
    context: NdisHandle,
    nbls: *mut NetBufferList,
    _port: u32,
    _flags: u32,
) {
    nic(context).send(nbls);
}

unsafe extern "system" fn return_nbls(context: NdisHandle, nbls: *mut NetBufferList, _flags: u32) {
    nic(context).return_nbls(nbls);
}

unsafe extern "system" fn cancel_send(context: NdisHandle, id: *mut c_void) {
    nic(context).cancel_send(id);
}

/// Surprise removal needs nothing special: the halt that follows finds the backend gone and
/// completes everything with a disconnect.
unsafe extern "system" fn device_pnp_event(_context: NdisHandle, _event: *mut c_void) {}

/// Shutdown runs at any IRQL with the system going down: the backend sees the domain go, so
/// nothing is sent to the store (which could block).
unsafe extern "system" fn shutdown(_context: NdisHandle, _action: u32) {}

/// Every OID request is answered synchronously, so there is never one to cancel.
unsafe extern "system" fn cancel_oid_request(_context: NdisHandle, _request_id: *mut c_void) {}
