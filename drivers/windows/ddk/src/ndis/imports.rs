//! The ndis.sys functions XENNET imports, linked with `raw-dylib` (no import library). Prototypes
//! from ndis.h (Windows 10 SDK 10.0.19041, x64: every function uses the Microsoft x64 calling
//! convention). Every name here is also listed in drivers/windows/imports.txt.

use core::ffi::c_void;

use super::miniport::{
    AdapterRegistrationAttributes, MiniportDriverCharacteristics, NdisStatusIndication,
    NetBufferListPoolParameters,
};
use super::nbl::{Mdl, NetBufferList};
use super::oid::NdisOidRequest;
use super::{NdisHandle, NdisStatus};
use crate::object::{DeviceObject, DriverObject};
use crate::string::UnicodeString;

#[link(name = "ndis.sys", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    pub fn NdisMRegisterMiniportDriver(
        driver: *mut DriverObject,
        registry_path: *mut UnicodeString,
        driver_context: NdisHandle,
        characteristics: *mut MiniportDriverCharacteristics,
        driver_handle: *mut NdisHandle,
    ) -> NdisStatus;
    pub fn NdisMDeregisterMiniportDriver(driver_handle: NdisHandle);
    /// Takes any of the `NDIS_MINIPORT_ADAPTER_*_ATTRIBUTES` blocks (a union in ndis.h); the
    /// header's type says which.
    pub fn NdisMSetMiniportAttributes(
        adapter_handle: NdisHandle,
        attributes: *mut AdapterRegistrationAttributes,
    ) -> NdisStatus;
    pub fn NdisMGetDeviceProperty(
        adapter_handle: NdisHandle,
        physical_device_object: *mut *mut DeviceObject,
        functional_device_object: *mut *mut DeviceObject,
        next_device_object: *mut *mut DeviceObject,
        allocated_resources: *mut *mut c_void,
        allocated_resources_translated: *mut *mut c_void,
    );
    pub fn NdisMSendNetBufferListsComplete(
        adapter_handle: NdisHandle,
        nbls: *mut NetBufferList,
        send_complete_flags: u32,
    );
    pub fn NdisMIndicateReceiveNetBufferLists(
        adapter_handle: NdisHandle,
        nbls: *mut NetBufferList,
        port_number: u32,
        number_of_nbls: u32,
        receive_flags: u32,
    );
    pub fn NdisMIndicateStatusEx(adapter_handle: NdisHandle, indication: *mut NdisStatusIndication);
    pub fn NdisMOidRequestComplete(
        adapter_handle: NdisHandle,
        request: *mut NdisOidRequest,
        status: NdisStatus,
    );
    pub fn NdisAllocateNetBufferListPool(
        ndis_handle: NdisHandle,
        parameters: *mut NetBufferListPoolParameters,
    ) -> NdisHandle;
    pub fn NdisFreeNetBufferListPool(pool: NdisHandle);
    pub fn NdisAllocateNetBufferAndNetBufferList(
        pool: NdisHandle,
        context_size: u16,
        context_back_fill: u16,
        mdl_chain: *mut Mdl,
        data_offset: u32,
        data_length: usize,
    ) -> *mut NetBufferList;
    pub fn NdisFreeNetBufferList(nbl: *mut NetBufferList);
    pub fn NdisAllocateMdl(
        ndis_handle: NdisHandle,
        virtual_address: *mut c_void,
        length: u32,
    ) -> *mut Mdl;
    pub fn NdisFreeMdl(mdl: *mut Mdl);
    pub fn NdisMPauseComplete(adapter_handle: NdisHandle);
    pub fn NdisAllocateIoWorkItem(ndis_object_handle: NdisHandle) -> NdisHandle;
    pub fn NdisQueueIoWorkItem(
        work_item: NdisHandle,
        routine: NdisIoWorkItemRoutine,
        context: *mut c_void,
    );
    pub fn NdisFreeIoWorkItem(work_item: NdisHandle);
}

/// `NDIS_IO_WORKITEM_ROUTINE`: runs at PASSIVE_LEVEL.
pub type NdisIoWorkItemRoutine =
    unsafe extern "system" fn(context: *mut c_void, work_item: NdisHandle);

/// `MM_PAGE_PRIORITY::NormalPagePriority`.
pub const NORMAL_PAGE_PRIORITY: u32 = 16;
/// `MdlMappingNoExecute`, or-ed into the priority (Windows 8 and later).
pub const MDL_MAPPING_NO_EXECUTE: u32 = 0x4000_0000;

// What `NdisQueryMdl` / `MmGetSystemAddressForMdlSafe` expand to (wdm.h inlines over this
// ntoskrnl export): mapping an MDL's pages into system space.
#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    pub fn MmMapLockedPagesSpecifyCache(
        mdl: *mut Mdl,
        access_mode: i8,
        cache_type: u32,
        requested_address: *mut c_void,
        bug_check_on_failure: u32,
        priority: u32,
    ) -> *mut c_void;
}
