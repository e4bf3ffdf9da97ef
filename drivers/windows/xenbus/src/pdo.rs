//! The child devices' PDOs: XENBUS is their bus driver, so it completes their PnP and power
//! requests itself — IDs from `xenpv_xenbus_core::children`, the bus interface for
//! IRP_MN_QUERY_INTERFACE, deletion on REMOVE once the child is no longer reported.

use core::ffi::c_void;

use xenpv_busif::dump::{answer_dump_query_interface, DumpInterface};
use xenpv_busif::{answer_query_interface, BusInterface, Guid, QueryAnswer};
use xenpv_ddk::bus::*;
use xenpv_ddk::irp::*;
use xenpv_ddk::kernel::{ExAllocatePool2, IoDeleteDevice, PoStartNextPowerIrp};
use xenpv_ddk::object::DeviceObject;
use xenpv_ddk::pool::POOL_TAG;
use xenpv_ddk::status::*;
use xenpv_ddk::userio::forward::complete;
use xenpv_xenbus_core::children::Child;

use crate::fdo::{extension, KIND_PDO};

/// A PDO's extension.
#[repr(C)]
pub struct Pdo {
    /// [`KIND_PDO`]: tells the dispatch routines this is not the FDO.
    pub kind: u32,
    /// Whether the last BusRelations reported it.
    pub present: bool,
    pub child: Child,
    /// The bus's FDO.
    pub fdo: *mut DeviceObject,
}

impl Pdo {
    pub fn new(fdo: *mut DeviceObject, child: Child) -> Self {
        Pdo {
            kind: KIND_PDO,
            present: true,
            child,
            fdo,
        }
    }

    /// # Safety
    /// `device` is one of this driver's PDOs, not yet deleted.
    pub unsafe fn of(device: *mut DeviceObject) -> *mut Pdo {
        // SAFETY: the caller's promise.
        unsafe { (*device).device_extension.cast::<Pdo>() }
    }
}

/// A copy of `text` in paged pool, which the PnP manager frees; `None` if pool is short.
fn pool_copy(text: &[u16]) -> Option<usize> {
    let bytes = core::mem::size_of_val(text);
    // SAFETY: a plain allocation, freed by the PnP manager.
    let p = unsafe { ExAllocatePool2(POOL_FLAG_PAGED, bytes, POOL_TAG) }.cast::<u16>();
    if p.is_null() {
        return None;
    }
    // SAFETY: sized for `text` just above.
    unsafe { core::ptr::copy_nonoverlapping(text.as_ptr(), p, text.len()) };
    Some(p as usize)
}

fn text_status(text: Option<alloc::vec::Vec<u16>>) -> (NtStatus, usize) {
    match text.map(|t| pool_copy(&t)) {
        Some(Some(p)) => (STATUS_SUCCESS, p),
        Some(None) => (STATUS_INSUFFICIENT_RESOURCES, 0),
        None => (STATUS_NOT_SUPPORTED, 0),
    }
}

/// IRP_MJ_PNP on a PDO.
///
/// # Safety
/// `device` is one of our PDOs, `irp` a PnP request for it; PASSIVE_LEVEL.
pub unsafe fn pnp(device: *mut DeviceObject, irp: *mut Irp) -> NtStatus {
    // SAFETY: the caller's promise; PnP requests for one device arrive one at a time.
    unsafe {
        let pdo = &mut *Pdo::of(device);
        let location = &*current_stack_location(irp);
        let keep = (*irp).io_status.status;
        let keep_info = (*irp).io_status.information;
        match location.minor_function {
            IRP_MN_START_DEVICE
            | IRP_MN_QUERY_STOP_DEVICE
            | IRP_MN_CANCEL_STOP_DEVICE
            | IRP_MN_STOP_DEVICE
            | IRP_MN_QUERY_REMOVE_DEVICE
            | IRP_MN_CANCEL_REMOVE_DEVICE
            | IRP_MN_SURPRISE_REMOVAL => complete(irp, STATUS_SUCCESS, 0),
            IRP_MN_REMOVE_DEVICE => {
                if !pdo.present {
                    // Gone from the store and from BusRelations: the device object goes too.
                    let fdo = &*extension(pdo.fdo);
                    let child = pdo.child;
                    fdo.devices.with(|d| d.pdos.remove(&child));
                    complete(irp, STATUS_SUCCESS, 0);
                    IoDeleteDevice(device);
                    return STATUS_SUCCESS;
                }
                complete(irp, STATUS_SUCCESS, 0)
            }
            IRP_MN_QUERY_ID => {
                let child = pdo.child;
                let (status, info) = text_status(match location.id_type() {
                    BUS_QUERY_DEVICE_ID => Some(child.device_id()),
                    BUS_QUERY_HARDWARE_IDS => Some(child.hardware_ids()),
                    BUS_QUERY_COMPATIBLE_IDS => Some(child.compatible_ids()),
                    BUS_QUERY_INSTANCE_ID => Some(child.instance_id()),
                    _ => None,
                });
                if status == STATUS_NOT_SUPPORTED {
                    complete(irp, keep, keep_info)
                } else {
                    complete(irp, status, info)
                }
            }
            IRP_MN_QUERY_DEVICE_TEXT => {
                if location.device_text_type() == DEVICE_TEXT_DESCRIPTION {
                    let (status, info) = text_status(Some(pdo.child.description()));
                    complete(irp, status, info)
                } else {
                    complete(irp, keep, keep_info)
                }
            }
            IRP_MN_QUERY_CAPABILITIES => {
                let caps = location.capabilities();
                if !caps.is_null() {
                    // Instance IDs are unique on this bus only; children install silently and
                    // go away with their store entry.
                    (*caps).flags &= !CAP_UNIQUE_ID;
                    (*caps).flags |= CAP_SILENT_INSTALL | CAP_SURPRISE_REMOVAL_OK;
                    (*caps).address = pdo.child.id;
                    (*caps).ui_number = pdo.child.id;
                    // Powered while the system works, off in every sleep state (the children
                    // save and restore their connections around it); no wake.
                    for (s, d) in (*caps).device_state.iter_mut().enumerate().skip(1) {
                        *d = if s == POWER_SYSTEM_WORKING {
                            POWER_DEVICE_D0
                        } else {
                            POWER_DEVICE_D3
                        };
                    }
                }
                complete(irp, STATUS_SUCCESS, 0)
            }
            IRP_MN_QUERY_INTERFACE => {
                let (guid, size, version, dest) = location.query_interface();
                let fdo = &*extension(pdo.fdo);
                let hardware = &*core::ptr::addr_of!(fdo.hardware);
                let answer = match hardware.provider() {
                    Some(p) => answer_query_interface(
                        p,
                        guid as *const Guid,
                        size,
                        version,
                        dest as *mut BusInterface,
                    ),
                    // The bus is stopped: nothing to offer now.
                    None => QueryAnswer::NotOurs,
                };
                // Not the bus interface: perhaps the dump interface (XENVBD asks for it).
                let answer = match (answer, hardware.dump_provider()) {
                    (QueryAnswer::NotOurs, Some(d)) => answer_dump_query_interface(
                        d,
                        guid as *const Guid,
                        size,
                        version,
                        dest as *mut DumpInterface,
                    ),
                    (answer, _) => answer,
                };
                match answer {
                    QueryAnswer::Answered => complete(irp, STATUS_SUCCESS, 0),
                    QueryAnswer::Unsupported => complete(irp, STATUS_NOT_SUPPORTED, 0),
                    QueryAnswer::NotOurs => complete(irp, keep, keep_info),
                }
            }
            IRP_MN_QUERY_DEVICE_RELATIONS if location.relation_type() == TARGET_DEVICE_RELATION => {
                let rel = ExAllocatePool2(POOL_FLAG_PAGED, device_relations_size(1), POOL_TAG)
                    as *mut DeviceRelations;
                if rel.is_null() {
                    return complete(irp, STATUS_INSUFFICIENT_RESOURCES, 0);
                }
                ObfReferenceObject(device.cast::<c_void>());
                (*rel).count = 1;
                (*rel).objects[0] = device;
                complete(irp, STATUS_SUCCESS, rel as usize)
            }
            // Resources, bus information, PnP state, other relations: nothing to add.
            _ => complete(irp, keep, keep_info),
        }
    }
}

/// IRP_MJ_POWER on a PDO: the children have no hardware of their own to power.
///
/// # Safety
/// As for [`pnp`].
pub unsafe fn power(irp: *mut Irp) -> NtStatus {
    // SAFETY: the caller's promise.
    unsafe {
        PoStartNextPowerIrp(irp);
        let minor = (*current_stack_location(irp)).minor_function;
        let status = match minor {
            IRP_MN_SET_POWER | IRP_MN_QUERY_POWER => STATUS_SUCCESS,
            _ => (*irp).io_status.status,
        };
        complete(irp, status, (*irp).io_status.information)
    }
}

/// Any other request on a PDO: the child's function driver handles its own; nothing reaches the
/// bus driver that it could do.
///
/// # Safety
/// As for [`pnp`].
pub unsafe fn other(irp: *mut Irp) -> NtStatus {
    // SAFETY: the caller's promise.
    unsafe { complete(irp, STATUS_INVALID_DEVICE_REQUEST, 0) }
}
