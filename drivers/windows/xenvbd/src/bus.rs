//! The two PnP requests XENVBD sends to the device below storport's FDO (XENBUS's PDO, or a
//! filter on it): IRP_MN_QUERY_INTERFACE for the bus interface and IRP_MN_QUERY_ID for the
//! instance id (the vbd number). Both at PASSIVE_LEVEL, synchronously.

use alloc::sync::Arc;
use core::ffi::c_void;
use core::fmt;
use core::ptr::null_mut;

use xenpv_busif::{
    Bus, BusError, BusInterface, XENBUS_INTERFACE_GUID, XENBUS_INTERFACE_SIZE,
    XENBUS_INTERFACE_VERSION,
};
use xenpv_ddk::bus::{BUS_QUERY_INSTANCE_ID, IRP_MN_QUERY_ID};
use xenpv_ddk::irp::{next_stack_location, IoStatusBlock, IRP_MJ_PNP, IRP_MN_QUERY_INTERFACE};
use xenpv_ddk::kernel::{
    ExFreePoolWithTag, IofCallDriver, KeInitializeEvent, KeWaitForSingleObject,
};
use xenpv_ddk::object::DeviceObject;
use xenpv_ddk::status::{nt_success, NtStatus, STATUS_NOT_SUPPORTED, STATUS_PENDING};
use xenpv_ddk::sync::{KEvent, EXECUTIVE, KERNEL_MODE, NOTIFICATION_EVENT};
use xenpv_ddk::userio::guid::Guid;
use xenpv_ddk::userio::imports::IoBuildSynchronousFsdRequest;
use xenpv_winvbd::adapter::vbd_number;

/// Why the bus could not be reached.
pub enum BusQueryError {
    /// The request failed below (no XENBUS, or another version of its interface).
    Status(NtStatus),
    /// The table came back but does not validate.
    Interface(BusError),
    /// The instance id is not a vbd number.
    InstanceId,
}

impl fmt::Display for BusQueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BusQueryError::Status(s) => write!(f, "request failed with {s:#x}"),
            BusQueryError::Interface(e) => write!(f, "bad interface table: {e:?}"),
            BusQueryError::InstanceId => f.write_str("the instance id is not a vbd number"),
        }
    }
}

/// Sends a PnP request with minor `minor` and parameters `parameters` to `device` and waits for
/// it; returns its final status and `IoStatus.Information`.
///
/// # Safety
/// PASSIVE_LEVEL; `device` is a device object of the stack below the caller, referenced.
unsafe fn send_pnp(
    device: *mut DeviceObject,
    minor: u8,
    parameters: [usize; 4],
) -> (NtStatus, usize) {
    // SAFETY: the event and status block live on this stack until the wait below returns, which
    // is after the I/O manager completed the IRP (it signals the event and frees the IRP).
    unsafe {
        let mut event: KEvent = core::mem::zeroed();
        KeInitializeEvent(&mut event, NOTIFICATION_EVENT, 0);
        let mut iosb: IoStatusBlock = core::mem::zeroed();
        let irp = IoBuildSynchronousFsdRequest(
            u32::from(IRP_MJ_PNP),
            device,
            null_mut(),
            0,
            null_mut(),
            &mut event,
            &mut iosb,
        );
        if irp.is_null() {
            return (STATUS_NOT_SUPPORTED, 0);
        }
        // PnP requests start as "not supported" so that a stack that ignores them says so.
        (*irp).io_status.status = STATUS_NOT_SUPPORTED;
        let location = next_stack_location(irp);
        (*location).minor_function = minor;
        (*location).parameters = parameters;
        let mut status = IofCallDriver(device, irp);
        if status == STATUS_PENDING {
            KeWaitForSingleObject(
                (&mut event as *mut KEvent).cast(),
                EXECUTIVE,
                KERNEL_MODE,
                0,
                core::ptr::null(),
            );
            status = iosb.status;
        }
        (status, iosb.information)
    }
}

/// Asks `device` for the XENBUS interface.
///
/// # Safety
/// As [`send_pnp`].
pub unsafe fn query_interface(device: *mut DeviceObject) -> Result<Arc<Bus>, BusQueryError> {
    let mut table = Bus::request();
    // Parameters.QueryInterface: InterfaceType, Size | Version << 16, Interface, specific data.
    let guid = &XENBUS_INTERFACE_GUID as *const _ as *const Guid;
    let parameters = [
        guid as usize,
        usize::from(XENBUS_INTERFACE_SIZE) | usize::from(XENBUS_INTERFACE_VERSION) << 16,
        &mut table as *mut BusInterface as usize,
        0,
    ];
    // SAFETY: the caller's promise; `table` outlives the synchronous request.
    let (status, _) = unsafe { send_pnp(device, IRP_MN_QUERY_INTERFACE, parameters) };
    if !nt_success(status) {
        return Err(BusQueryError::Status(status));
    }
    // SAFETY: the request succeeded, so XENBUS filled in the table and took a reference for us.
    let bus = unsafe { Bus::from_interface(table) }.map_err(BusQueryError::Interface)?;
    Ok(Arc::new(bus))
}

/// Asks `device` for its instance id and reads it as a vbd number.
///
/// # Safety
/// As [`send_pnp`].
pub unsafe fn query_vbd_number(device: *mut DeviceObject) -> Result<u16, BusQueryError> {
    // SAFETY: the caller's promise.
    let (status, information) = unsafe {
        send_pnp(
            device,
            IRP_MN_QUERY_ID,
            [BUS_QUERY_INSTANCE_ID as usize, 0, 0, 0],
        )
    };
    if !nt_success(status) || information == 0 {
        return Err(BusQueryError::Status(status));
    }
    let id = information as *mut u16;
    // SAFETY: a successful QUERY_ID returns a NUL-terminated UTF-16 string in pool the caller
    // frees; at most MAX_ID characters are looked at, up to the NUL.
    let number = unsafe {
        let len = (0..MAX_ID).find(|&i| *id.add(i) == 0).unwrap_or(MAX_ID);
        let number = vbd_number(core::slice::from_raw_parts(id, len));
        ExFreePoolWithTag(id.cast::<c_void>(), 0);
        number
    };
    number.ok_or(BusQueryError::InstanceId)
}

/// Characters of an instance id looked at: a vbd number has at most 5 digits, so one more is
/// already too long.
const MAX_ID: usize = 8;
