//! The PnP requests XENNET sends to the device below its miniport (XENBUS's PDO for the vif):
//! IRP_MN_QUERY_INTERFACE for the bus interface and IRP_MN_QUERY_ID for the instance id (the vif
//! number). Both at PASSIVE_LEVEL, synchronously, from MiniportInitializeEx.

use alloc::sync::Arc;
use core::ffi::c_void;
use core::ptr::null_mut;

use xenpv_busif::{
    Bus, BusError, BusInterface, XENBUS_INTERFACE_GUID, XENBUS_INTERFACE_SIZE,
    XENBUS_INTERFACE_VERSION,
};
use xenpv_ddk::irp::{next_stack_location, IoStatusBlock, IRP_MJ_PNP, IRP_MN_QUERY_INTERFACE};
use xenpv_ddk::kernel::{
    ExFreePoolWithTag, IofCallDriver, KeInitializeEvent, KeWaitForSingleObject,
};
use xenpv_ddk::object::DeviceObject;
use xenpv_ddk::status::{nt_success, NtStatus, STATUS_NOT_SUPPORTED, STATUS_PENDING};
use xenpv_ddk::sync::{KEvent, EXECUTIVE, KERNEL_MODE, NOTIFICATION_EVENT};
use xenpv_ddk::userio::imports::IoBuildSynchronousFsdRequest;
use xenpv_winnet::adapter::vif_number;

/// `IRP_MN_QUERY_ID` and `BUS_QUERY_ID_TYPE::BusQueryInstanceID` (wdm.h). Not yet in xenpv-ddk
/// at HEAD when this was written (a ddk `bus` module with them is in progress elsewhere).
const IRP_MN_QUERY_ID: u8 = 0x13;
const BUS_QUERY_INSTANCE_ID: u32 = 3;

/// Why the bus could not be reached.
pub enum BusQueryError {
    /// The request failed below (no XENBUS, or another version of its interface).
    Status(NtStatus),
    /// The table came back but does not validate.
    Interface(BusError),
    /// The instance id is not a vif number.
    InstanceId,
}

impl core::fmt::Display for BusQueryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BusQueryError::Status(s) => write!(f, "request failed below: {s:#x}"),
            BusQueryError::Interface(e) => write!(f, "interface table refused: {e:?}"),
            BusQueryError::InstanceId => f.write_str("instance id is not a vif number"),
        }
    }
}

/// Sends a PnP request with `minor` and `parameters` to `device` and waits for it; returns its
/// status and `IoStatus.Information`.
///
/// # Safety
/// PASSIVE_LEVEL; `device` is a referenced device object of the stack below the caller.
unsafe fn send_pnp(
    device: *mut DeviceObject,
    minor: u8,
    parameters: [usize; 4],
) -> (NtStatus, usize) {
    // SAFETY: the event and status block live on this stack until the wait returns, after the
    // I/O manager has completed (signalled and freed) the IRP.
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
        // PnP requests start as "not supported", so a stack that ignores one says so.
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
    let parameters = [
        &XENBUS_INTERFACE_GUID as *const _ as usize,
        usize::from(XENBUS_INTERFACE_SIZE) | (usize::from(XENBUS_INTERFACE_VERSION) << 16),
        &mut table as *mut BusInterface as usize,
        0,
    ];
    // SAFETY: the caller's promise; `table` outlives the synchronous request.
    let (status, _) = unsafe { send_pnp(device, IRP_MN_QUERY_INTERFACE, parameters) };
    if !nt_success(status) {
        return Err(BusQueryError::Status(status));
    }
    // SAFETY: the request succeeded: XENBUS filled in the table and took a reference for us.
    let bus = unsafe { Bus::from_interface(table) }.map_err(BusQueryError::Interface)?;
    Ok(Arc::new(bus))
}

/// Asks `device` for its instance id, the vif number (decimal, at most 5 digits).
///
/// # Safety
/// As [`send_pnp`].
pub unsafe fn query_vif_number(device: *mut DeviceObject) -> Result<u32, BusQueryError> {
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
    // SAFETY: a successful QUERY_ID returns a NUL-terminated UTF-16 string in pool that the
    // caller frees; at most 8 characters are looked at, up to the NUL.
    let number = unsafe {
        let len = (0..8).find(|&i| *id.add(i) == 0).unwrap_or(8);
        let digits = core::slice::from_raw_parts(id, len);
        let number = vif_number(digits);
        ExFreePoolWithTag(id.cast::<c_void>(), 0);
        number
    };
    number.ok_or(BusQueryError::InstanceId)
}
