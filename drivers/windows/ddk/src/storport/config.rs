//! `HW_INITIALIZATION_DATA` and `PORT_CONFIGURATION_INFORMATION` (storport.h), the miniport
//! callbacks they carry, and the values of their fields.

use core::ffi::c_void;
use core::mem::{offset_of, size_of};

/// `HW_INITIALIZE`: the adapter is about to receive requests (DIRQL, or in dump mode whatever
/// the crash dump stack runs at).
pub type HwInitialize = unsafe extern "system" fn(device_extension: *mut c_void) -> u8;
/// `HW_BUILDIO`: prepares a request without the StartIo lock (DISPATCH_LEVEL); FALSE means it
/// was completed here.
pub type HwBuildIo =
    unsafe extern "system" fn(device_extension: *mut c_void, srb: *mut c_void) -> u8;
/// `HW_STARTIO`: starts a request.
pub type HwStartIo =
    unsafe extern "system" fn(device_extension: *mut c_void, srb: *mut c_void) -> u8;
/// `HW_INTERRUPT`.
pub type HwInterrupt = unsafe extern "system" fn(device_extension: *mut c_void) -> u8;
/// `HW_FIND_ADAPTER`: returns an `SP_RETURN_*` value.
pub type HwFindAdapter = unsafe extern "system" fn(
    device_extension: *mut c_void,
    hw_context: *mut c_void,
    bus_information: *mut c_void,
    argument_string: *mut u8,
    config_info: *mut PortConfigurationInformation,
    again: *mut u8,
) -> u32;
/// `HW_RESET_BUS`.
pub type HwResetBus = unsafe extern "system" fn(device_extension: *mut c_void, path_id: u32) -> u8;
/// `HW_ADAPTER_CONTROL`: returns a `SCSI_ADAPTER_CONTROL_STATUS`.
pub type HwAdapterControl = unsafe extern "system" fn(
    device_extension: *mut c_void,
    control_type: u32,
    parameters: *mut c_void,
) -> u32;
/// `HW_FREE_ADAPTER_RESOURCES`.
pub type HwFreeAdapterResources = unsafe extern "system" fn(device_extension: *mut c_void);
/// `HW_PROCESS_SERVICE_REQUEST`: an IOCTL_MINIPORT_PROCESS_SERVICE_IRP for the adapter.
pub type HwProcessServiceRequest =
    unsafe extern "system" fn(device_extension: *mut c_void, irp: *mut c_void);
/// `HW_COMPLETE_SERVICE_IRP`: complete every service request still held (adapter removal).
pub type HwCompleteServiceIrp = unsafe extern "system" fn(device_extension: *mut c_void);

/// `HW_INITIALIZATION_DATA` as of Windows 8 (its size is its version: storport uses the fields a
/// size covers).
#[repr(C)]
pub struct HwInitializationData {
    pub hw_initialization_data_size: u32,
    /// `INTERFACE_TYPE`.
    pub adapter_interface_type: u32,
    pub hw_initialize: Option<HwInitialize>,
    pub hw_start_io: Option<HwStartIo>,
    pub hw_interrupt: Option<HwInterrupt>,
    pub hw_find_adapter: Option<HwFindAdapter>,
    pub hw_reset_bus: Option<HwResetBus>,
    pub hw_dma_started: *mut c_void,
    pub hw_adapter_state: *mut c_void,
    pub device_extension_size: u32,
    pub specific_lu_extension_size: u32,
    pub srb_extension_size: u32,
    pub number_of_access_ranges: u32,
    pub reserved: *mut c_void,
    /// `STOR_MAP_*`.
    pub map_buffers: u8,
    pub need_physical_addresses: u8,
    pub tagged_queuing: u8,
    pub auto_request_sense: u8,
    pub multiple_request_per_lu: u8,
    pub receive_event: u8,
    pub vendor_id_length: u16,
    pub vendor_id: *mut c_void,
    pub port_version_flags: u16,
    pub device_id_length: u16,
    pub device_id: *mut c_void,
    pub hw_adapter_control: Option<HwAdapterControl>,
    pub hw_build_io: Option<HwBuildIo>,
    pub hw_free_adapter_resources: Option<HwFreeAdapterResources>,
    pub hw_process_service_request: Option<HwProcessServiceRequest>,
    pub hw_complete_service_irp: Option<HwCompleteServiceIrp>,
    pub hw_initialize_tracing: *mut c_void,
    pub hw_cleanup_tracing: *mut c_void,
    pub hw_tracing_enabled: *mut c_void,
    /// `STOR_FEATURE_*`.
    pub feature_support: u32,
    /// `SRB_TYPE_FLAG_*`.
    pub srb_type_flags: u32,
    /// `STORAGE_ADDRESS_TYPE_*` as bits.
    pub address_type_flags: u32,
    pub reserved1: u32,
    pub hw_unit_control: *mut c_void,
}

const _: () = assert!(size_of::<HwInitializationData>() == 0xd0);
const _: () = assert!(offset_of!(HwInitializationData, hw_initialize) == 0x08);
const _: () = assert!(offset_of!(HwInitializationData, hw_find_adapter) == 0x20);
const _: () = assert!(offset_of!(HwInitializationData, device_extension_size) == 0x40);
const _: () = assert!(offset_of!(HwInitializationData, srb_extension_size) == 0x48);
const _: () = assert!(offset_of!(HwInitializationData, map_buffers) == 0x58);
const _: () = assert!(offset_of!(HwInitializationData, multiple_request_per_lu) == 0x5c);
const _: () = assert!(offset_of!(HwInitializationData, hw_adapter_control) == 0x78);
const _: () = assert!(offset_of!(HwInitializationData, hw_build_io) == 0x80);
const _: () = assert!(offset_of!(HwInitializationData, hw_process_service_request) == 0x90);
const _: () = assert!(offset_of!(HwInitializationData, feature_support) == 0xb8);
const _: () = assert!(offset_of!(HwInitializationData, srb_type_flags) == 0xbc);
const _: () = assert!(offset_of!(HwInitializationData, address_type_flags) == 0xc0);
const _: () = assert!(offset_of!(HwInitializationData, hw_unit_control) == 0xc8);

impl HwInitializationData {
    /// All fields zero (no callbacks) except the size, as `RtlZeroMemory` then setting the size
    /// does in C.
    pub fn new() -> Self {
        // SAFETY: every field is an integer, a raw pointer or an Option of a function pointer,
        // for all of which all-zero bytes are a valid value (0, null, None).
        let mut data: Self = unsafe { core::mem::zeroed() };
        data.hw_initialization_data_size = size_of::<Self>() as u32;
        data
    }
}

impl Default for HwInitializationData {
    fn default() -> Self {
        Self::new()
    }
}

/// `ACCESS_RANGE`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct AccessRange {
    pub range_start: i64,
    pub range_length: u32,
    pub range_in_memory: u8,
}

const _: () = assert!(size_of::<AccessRange>() == 0x10);

/// `MEMORY_REGION`: memory storport hands a dump-mode miniport.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MemoryRegion {
    pub virtual_base: *mut u8,
    pub physical_base: i64,
    pub length: u32,
}

const _: () = assert!(size_of::<MemoryRegion>() == 0x18);

/// `PORT_CONFIGURATION_INFORMATION` as of Windows 8.
#[repr(C)]
pub struct PortConfigurationInformation {
    pub length: u32,
    pub system_io_bus_number: u32,
    pub adapter_interface_type: u32,
    pub bus_interrupt_level: u32,
    pub bus_interrupt_vector: u32,
    pub interrupt_mode: u32,
    pub maximum_transfer_length: u32,
    pub number_of_physical_breaks: u32,
    pub dma_channel: u32,
    pub dma_port: u32,
    pub dma_width: u32,
    pub dma_speed: u32,
    pub alignment_mask: u32,
    pub number_of_access_ranges: u32,
    pub access_ranges: *mut AccessRange,
    /// `MiniportDumpData`: in dump mode, what the normal-mode miniport left for its dump
    /// instance through SRB_FUNCTION_DUMP_POINTERS (null otherwise).
    pub miniport_dump_data: *mut c_void,
    pub number_of_buses: u8,
    pub initiator_bus_id: [u8; 8],
    pub scatter_gather: u8,
    pub master: u8,
    pub caches_data: u8,
    pub adapter_scans_down: u8,
    pub atdisk_primary_claimed: u8,
    pub atdisk_secondary_claimed: u8,
    pub dma32_bit_addresses: u8,
    pub demand_mode: u8,
    pub map_buffers: u8,
    pub need_physical_addresses: u8,
    pub tagged_queuing: u8,
    pub auto_request_sense: u8,
    pub multiple_request_per_lu: u8,
    pub receive_event: u8,
    pub real_mode_initialized: u8,
    pub buffer_access_scsi_port_controlled: u8,
    pub maximum_number_of_targets: u8,
    /// `SRB_TYPE_*`: which request block format storport will send.
    pub srb_type: u8,
    pub address_type: u8,
    pub slot_number: u32,
    pub bus_interrupt_level2: u32,
    pub bus_interrupt_vector2: u32,
    pub interrupt_mode2: u32,
    pub dma_channel2: u32,
    pub dma_port2: u32,
    pub dma_width2: u32,
    pub dma_speed2: u32,
    pub device_extension_size: u32,
    pub specific_lu_extension_size: u32,
    pub srb_extension_size: u32,
    pub dma64_bit_addresses: u8,
    pub reset_target_supported: u8,
    pub maximum_number_of_logical_units: u8,
    pub wmi_data_provider: u8,
    /// `STOR_SYNCHRONIZATION_MODEL`.
    pub synchronization_model: u32,
    pub hw_ms_interrupt_routine: *mut c_void,
    pub interrupt_synchronization_mode: u32,
    pub dump_region: MemoryRegion,
    pub requested_dump_buffer_size: u32,
    pub virtual_device: u8,
    /// `DUMP_MODE_*`, 0 in normal operation.
    pub dump_mode: u8,
    pub extended_flags1: u32,
    pub max_number_of_io: u32,
    pub max_ios_per_lun: u32,
    pub initial_lun_queue_depth: u32,
    pub bus_reset_hold_time: u32,
    pub feature_support: u32,
}

const _: () = assert!(size_of::<PortConfigurationInformation>() == 0xe0);
const _: () = assert!(offset_of!(PortConfigurationInformation, maximum_transfer_length) == 0x18);
const _: () = assert!(offset_of!(PortConfigurationInformation, number_of_physical_breaks) == 0x1c);
const _: () = assert!(offset_of!(PortConfigurationInformation, alignment_mask) == 0x30);
const _: () = assert!(offset_of!(PortConfigurationInformation, miniport_dump_data) == 0x40);
const _: () = assert!(offset_of!(PortConfigurationInformation, number_of_buses) == 0x48);
const _: () = assert!(offset_of!(PortConfigurationInformation, scatter_gather) == 0x51);
const _: () = assert!(offset_of!(PortConfigurationInformation, map_buffers) == 0x59);
const _: () = assert!(offset_of!(PortConfigurationInformation, maximum_number_of_targets) == 0x61);
const _: () = assert!(offset_of!(PortConfigurationInformation, srb_type) == 0x62);
const _: () = assert!(offset_of!(PortConfigurationInformation, slot_number) == 0x64);
const _: () = assert!(offset_of!(PortConfigurationInformation, device_extension_size) == 0x84);
const _: () = assert!(offset_of!(PortConfigurationInformation, dma64_bit_addresses) == 0x90);
const _: () = assert!(
    offset_of!(
        PortConfigurationInformation,
        maximum_number_of_logical_units
    ) == 0x92
);
const _: () = assert!(offset_of!(PortConfigurationInformation, wmi_data_provider) == 0x93);
const _: () = assert!(offset_of!(PortConfigurationInformation, synchronization_model) == 0x94);
const _: () = assert!(offset_of!(PortConfigurationInformation, hw_ms_interrupt_routine) == 0x98);
const _: () = assert!(offset_of!(PortConfigurationInformation, dump_region) == 0xa8);
const _: () = assert!(offset_of!(PortConfigurationInformation, requested_dump_buffer_size) == 0xc0);
const _: () = assert!(offset_of!(PortConfigurationInformation, virtual_device) == 0xc4);
const _: () = assert!(offset_of!(PortConfigurationInformation, dump_mode) == 0xc5);
const _: () = assert!(offset_of!(PortConfigurationInformation, max_number_of_io) == 0xcc);
const _: () = assert!(offset_of!(PortConfigurationInformation, feature_support) == 0xdc);

/// `SCSI_SUPPORTED_CONTROL_TYPE_LIST`: `max_control_type` entries of `BOOLEAN` follow it.
#[repr(C)]
pub struct ScsiSupportedControlTypeList {
    pub max_control_type: u32,
    pub supported_type_list: [u8; 0],
}

const _: () = assert!(offset_of!(ScsiSupportedControlTypeList, supported_type_list) == 4);

// INTERFACE_TYPE (wdm.h).
pub const INTERNAL: u32 = 0;
pub const PCI_BUS: u32 = 5;

// HwFindAdapter results (srb.h).
pub const SP_RETURN_NOT_FOUND: u32 = 0;
pub const SP_RETURN_FOUND: u32 = 1;
pub const SP_RETURN_ERROR: u32 = 2;
pub const SP_RETURN_BAD_CONFIG: u32 = 3;

/// `SP_UNINITIALIZED_VALUE`.
pub const SP_UNINITIALIZED_VALUE: u32 = !0;

// MapBuffers (storport.h).
pub const STOR_MAP_NO_BUFFERS: u8 = 0;
pub const STOR_MAP_ALL_BUFFERS: u8 = 1;
pub const STOR_MAP_NON_READ_WRITE_BUFFERS: u8 = 2;
/// Windows 8+: data buffers of reads and writes get a system address too.
pub const STOR_MAP_ALL_BUFFERS_INCLUDING_READ_WRITE: u8 = 3;

// FeatureSupport (storport.h).
pub const STOR_FEATURE_VIRTUAL_MINIPORT: u32 = 0x1;
pub const STOR_FEATURE_FULL_PNP_DEVICE_CAPABILITIES: u32 = 0x4;
pub const STOR_FEATURE_DUMP_POINTERS: u32 = 0x8;

// SrbTypeFlags (storport.h) and PORT_CONFIGURATION_INFORMATION.SrbType (srb.h).
pub const SRB_TYPE_FLAG_SCSI_REQUEST_BLOCK: u32 = 0x1;
pub const SRB_TYPE_FLAG_STORAGE_REQUEST_BLOCK: u32 = 0x2;
pub const SRB_TYPE_SCSI_REQUEST_BLOCK: u8 = 0;
pub const SRB_TYPE_STORAGE_REQUEST_BLOCK: u8 = 1;

/// `STORAGE_ADDRESS_TYPE_BTL8` (srb.h): bus, target, LUN of one byte each.
pub const STORAGE_ADDRESS_TYPE_BTL8: u16 = 0;

// STOR_SYNCHRONIZATION_MODEL.
pub const STOR_SYNCHRONIZE_HALF_DUPLEX: u32 = 0;
pub const STOR_SYNCHRONIZE_FULL_DUPLEX: u32 = 1;

// PORT_CONFIGURATION_INFORMATION.DumpMode (storport.h).
pub const DUMP_MODE_CRASH: u8 = 0x01;
pub const DUMP_MODE_HIBER: u8 = 0x02;
pub const DUMP_MODE_MARK_MEMORY: u8 = 0x03;
pub const DUMP_MODE_RESUME: u8 = 0x04;

// SCSI_ADAPTER_CONTROL_TYPE (srb.h); the later members are not used.
pub const SCSI_QUERY_SUPPORTED_CONTROL_TYPES: u32 = 0;
pub const SCSI_STOP_ADAPTER: u32 = 1;
pub const SCSI_RESTART_ADAPTER: u32 = 2;
pub const SCSI_SET_BOOT_CONFIG: u32 = 3;
pub const SCSI_SET_RUNNING_CONFIG: u32 = 4;

// SCSI_ADAPTER_CONTROL_STATUS.
pub const SCSI_ADAPTER_CONTROL_SUCCESS: u32 = 0;
pub const SCSI_ADAPTER_CONTROL_UNSUCCESSFUL: u32 = 1;
