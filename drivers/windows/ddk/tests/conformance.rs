//! Conformance of xenpv-ddk with the Windows kernel headers, measured rather than typed: every
//! size, offset and constant the crate pins is also written as a C expression, compiled against
//! mingw-w64's DDK headers (Debian mingw-w64-x86-64-dev, /usr/x86_64-w64-mingw32/include/ddk) by
//! x86_64-w64-mingw32-gcc for x64 Windows, and read back from the object file's data. Nothing is
//! run: the compiler's own constant folding is the measurement.

use std::mem::{offset_of, size_of};
use std::path::Path;
use std::process::Command;

use object::{Object, ObjectSection, ObjectSymbol};
use xenpv_ddk::bus::*;
use xenpv_ddk::debug::*;
use xenpv_ddk::interrupt::*;
use xenpv_ddk::irp::*;
use xenpv_ddk::memory::*;
use xenpv_ddk::ndis::miniport::*;
use xenpv_ddk::ndis::nbl::*;
use xenpv_ddk::ndis::oid::*;
use xenpv_ddk::ndis::*;
use xenpv_ddk::object::*;
use xenpv_ddk::registry::*;
use xenpv_ddk::resource::*;
use xenpv_ddk::status::*;
use xenpv_ddk::storport::config::*;
use xenpv_ddk::storport::sgl::*;
use xenpv_ddk::storport::srb::*;
use xenpv_ddk::string::{ListEntry, UnicodeString};
use xenpv_ddk::sync::*;
use xenpv_ddk::userio::csq::*;
use xenpv_ddk::userio::file::*;
use xenpv_ddk::userio::guid::Guid;
use xenpv_ddk::userio::mdl::*;
use xenpv_ddk::userio::{DELAYED_WORK_QUEUE, EVENT_MODIFY_STATE, USER_MODE};

const GCC: &str = "x86_64-w64-mingw32-gcc";
const DDK_INCLUDE: &str = "/usr/x86_64-w64-mingw32/include/ddk";

/// One probe: the Rust value and the C expression that must equal it.
struct Probe {
    name: &'static str,
    rust: u64,
    c: &'static str,
}

macro_rules! probes {
    ($( $name:literal: $rust:expr => $c:literal ),* $(,)?) => {
        vec![$( Probe { name: $name, rust: ($rust) as u64, c: $c } ),*]
    };
}

fn table() -> Vec<Probe> {
    probes![
        // ntdef.h
        "UNICODE_STRING size": size_of::<UnicodeString>() => "sizeof(UNICODE_STRING)",
        "UNICODE_STRING.Buffer": offset_of!(UnicodeString, buffer) => "offsetof(UNICODE_STRING, Buffer)",
        "LIST_ENTRY size": size_of::<ListEntry>() => "sizeof(LIST_ENTRY)",
        // DRIVER_OBJECT / DRIVER_EXTENSION
        "DRIVER_OBJECT size": size_of::<DriverObject>() => "sizeof(DRIVER_OBJECT)",
        "DRIVER_OBJECT.DriverExtension": offset_of!(DriverObject, driver_extension) => "offsetof(DRIVER_OBJECT, DriverExtension)",
        "DRIVER_OBJECT.DriverName": offset_of!(DriverObject, driver_name) => "offsetof(DRIVER_OBJECT, DriverName)",
        "DRIVER_OBJECT.DriverStartIo": offset_of!(DriverObject, driver_start_io) => "offsetof(DRIVER_OBJECT, DriverStartIo)",
        "DRIVER_OBJECT.DriverUnload": offset_of!(DriverObject, driver_unload) => "offsetof(DRIVER_OBJECT, DriverUnload)",
        "DRIVER_OBJECT.MajorFunction": offset_of!(DriverObject, major_function) => "offsetof(DRIVER_OBJECT, MajorFunction)",
        "DRIVER_EXTENSION size": size_of::<DriverExtension>() => "sizeof(DRIVER_EXTENSION)",
        "DRIVER_EXTENSION.AddDevice": offset_of!(DriverExtension, add_device) => "offsetof(DRIVER_EXTENSION, AddDevice)",
        "DRIVER_EXTENSION.ServiceKeyName": offset_of!(DriverExtension, service_key_name) => "offsetof(DRIVER_EXTENSION, ServiceKeyName)",
        // DEVICE_OBJECT. The WDK declares it DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT); mingw-w64
        // omits the alignment, so its sizeof is rounded up to 16 here as the WDK's compiler does.
        "DEVICE_OBJECT size": size_of::<DeviceObject>() => "((sizeof(DEVICE_OBJECT) + 15) & ~15ull)",
        "DEVICE_OBJECT.DriverObject": offset_of!(DeviceObject, driver_object) => "offsetof(DEVICE_OBJECT, DriverObject)",
        "DEVICE_OBJECT.AttachedDevice": offset_of!(DeviceObject, attached_device) => "offsetof(DEVICE_OBJECT, AttachedDevice)",
        "DEVICE_OBJECT.Flags": offset_of!(DeviceObject, flags) => "offsetof(DEVICE_OBJECT, Flags)",
        "DEVICE_OBJECT.Characteristics": offset_of!(DeviceObject, characteristics) => "offsetof(DEVICE_OBJECT, Characteristics)",
        "DEVICE_OBJECT.DeviceExtension": offset_of!(DeviceObject, device_extension) => "offsetof(DEVICE_OBJECT, DeviceExtension)",
        "DEVICE_OBJECT.DeviceType": offset_of!(DeviceObject, device_type) => "offsetof(DEVICE_OBJECT, DeviceType)",
        "DEVICE_OBJECT.StackSize": offset_of!(DeviceObject, stack_size) => "offsetof(DEVICE_OBJECT, StackSize)",
        "DO_DEVICE_INITIALIZING": DO_DEVICE_INITIALIZING => "DO_DEVICE_INITIALIZING",
        "DO_POWER_PAGABLE": DO_POWER_PAGABLE => "DO_POWER_PAGABLE",
        "FILE_DEVICE_BUS_EXTENDER": FILE_DEVICE_BUS_EXTENDER => "FILE_DEVICE_BUS_EXTENDER",
        "FILE_DEVICE_UNKNOWN": FILE_DEVICE_UNKNOWN => "FILE_DEVICE_UNKNOWN",
        "FILE_DEVICE_SECURE_OPEN": FILE_DEVICE_SECURE_OPEN => "FILE_DEVICE_SECURE_OPEN",
        // IRP
        "IO_STATUS_BLOCK size": size_of::<IoStatusBlock>() => "sizeof(IO_STATUS_BLOCK)",
        "IO_STATUS_BLOCK.Information": offset_of!(IoStatusBlock, information) => "offsetof(IO_STATUS_BLOCK, Information)",
        "IRP size": size_of::<Irp>() => "sizeof(IRP)",
        "IRP.MdlAddress": offset_of!(Irp, mdl_address) => "offsetof(IRP, MdlAddress)",
        "IRP.Flags": offset_of!(Irp, flags) => "offsetof(IRP, Flags)",
        "IRP.AssociatedIrp": offset_of!(Irp, associated_irp) => "offsetof(IRP, AssociatedIrp)",
        "IRP.IoStatus": offset_of!(Irp, io_status) => "offsetof(IRP, IoStatus)",
        "IRP.PendingReturned": offset_of!(Irp, pending_returned) => "offsetof(IRP, PendingReturned)",
        "IRP.StackCount": offset_of!(Irp, stack_count) => "offsetof(IRP, StackCount)",
        "IRP.CurrentLocation": offset_of!(Irp, current_location) => "offsetof(IRP, CurrentLocation)",
        "IRP.Cancel": offset_of!(Irp, cancel) => "offsetof(IRP, Cancel)",
        "IRP.Tail.Overlay.CurrentStackLocation": offset_of!(Irp, current_stack_location) => "offsetof(IRP, Tail.Overlay.CurrentStackLocation)",
        "IRP.Tail.Overlay.OriginalFileObject": offset_of!(Irp, original_file_object) => "offsetof(IRP, Tail.Overlay.OriginalFileObject)",
        // IO_STACK_LOCATION
        "IO_STACK_LOCATION size": size_of::<IoStackLocation>() => "sizeof(IO_STACK_LOCATION)",
        "IO_STACK_LOCATION.Control": offset_of!(IoStackLocation, control) => "offsetof(IO_STACK_LOCATION, Control)",
        "IO_STACK_LOCATION.Parameters": offset_of!(IoStackLocation, parameters) => "offsetof(IO_STACK_LOCATION, Parameters)",
        "IO_STACK_LOCATION.Parameters size": size_of::<[usize; 4]>() => "sizeof(((IO_STACK_LOCATION *)0)->Parameters)",
        "Parameters.StartDevice.AllocatedResources":
            offset_of!(IoStackLocation, parameters) + START_DEVICE_RESOURCES_INDEX * 8
            => "offsetof(IO_STACK_LOCATION, Parameters.StartDevice.AllocatedResources)",
        "Parameters.StartDevice.AllocatedResourcesTranslated":
            offset_of!(IoStackLocation, parameters) + START_DEVICE_RESOURCES_TRANSLATED_INDEX * 8
            => "offsetof(IO_STACK_LOCATION, Parameters.StartDevice.AllocatedResourcesTranslated)",
        "IO_STACK_LOCATION.DeviceObject": offset_of!(IoStackLocation, device_object) => "offsetof(IO_STACK_LOCATION, DeviceObject)",
        "IO_STACK_LOCATION.FileObject": offset_of!(IoStackLocation, file_object) => "offsetof(IO_STACK_LOCATION, FileObject)",
        "IO_STACK_LOCATION.CompletionRoutine": offset_of!(IoStackLocation, completion_routine) => "offsetof(IO_STACK_LOCATION, CompletionRoutine)",
        "IO_STACK_LOCATION.Context": offset_of!(IoStackLocation, context) => "offsetof(IO_STACK_LOCATION, Context)",
        "IRP_MJ_CREATE": IRP_MJ_CREATE => "IRP_MJ_CREATE",
        "IRP_MJ_CLOSE": IRP_MJ_CLOSE => "IRP_MJ_CLOSE",
        "IRP_MJ_DEVICE_CONTROL": IRP_MJ_DEVICE_CONTROL => "IRP_MJ_DEVICE_CONTROL",
        "IRP_MJ_INTERNAL_DEVICE_CONTROL": IRP_MJ_INTERNAL_DEVICE_CONTROL => "IRP_MJ_INTERNAL_DEVICE_CONTROL",
        "IRP_MJ_POWER": IRP_MJ_POWER => "IRP_MJ_POWER",
        "IRP_MJ_SYSTEM_CONTROL": IRP_MJ_SYSTEM_CONTROL => "IRP_MJ_SYSTEM_CONTROL",
        "IRP_MJ_PNP": IRP_MJ_PNP => "IRP_MJ_PNP",
        "IRP_MJ_MAXIMUM_FUNCTION": IRP_MJ_MAXIMUM_FUNCTION => "IRP_MJ_MAXIMUM_FUNCTION",
        "IRP_MN_START_DEVICE": IRP_MN_START_DEVICE => "IRP_MN_START_DEVICE",
        "IRP_MN_QUERY_REMOVE_DEVICE": IRP_MN_QUERY_REMOVE_DEVICE => "IRP_MN_QUERY_REMOVE_DEVICE",
        "IRP_MN_REMOVE_DEVICE": IRP_MN_REMOVE_DEVICE => "IRP_MN_REMOVE_DEVICE",
        "IRP_MN_CANCEL_REMOVE_DEVICE": IRP_MN_CANCEL_REMOVE_DEVICE => "IRP_MN_CANCEL_REMOVE_DEVICE",
        "IRP_MN_STOP_DEVICE": IRP_MN_STOP_DEVICE => "IRP_MN_STOP_DEVICE",
        "IRP_MN_QUERY_STOP_DEVICE": IRP_MN_QUERY_STOP_DEVICE => "IRP_MN_QUERY_STOP_DEVICE",
        "IRP_MN_CANCEL_STOP_DEVICE": IRP_MN_CANCEL_STOP_DEVICE => "IRP_MN_CANCEL_STOP_DEVICE",
        "IRP_MN_QUERY_DEVICE_RELATIONS": IRP_MN_QUERY_DEVICE_RELATIONS => "IRP_MN_QUERY_DEVICE_RELATIONS",
        "IRP_MN_QUERY_CAPABILITIES": IRP_MN_QUERY_CAPABILITIES => "IRP_MN_QUERY_CAPABILITIES",
        "IRP_MN_QUERY_PNP_DEVICE_STATE": IRP_MN_QUERY_PNP_DEVICE_STATE => "IRP_MN_QUERY_PNP_DEVICE_STATE",
        "IRP_MN_SURPRISE_REMOVAL": IRP_MN_SURPRISE_REMOVAL => "IRP_MN_SURPRISE_REMOVAL",
        "SL_PENDING_RETURNED": SL_PENDING_RETURNED => "SL_PENDING_RETURNED",
        "SL_INVOKE_ON_CANCEL": SL_INVOKE_ON_CANCEL => "SL_INVOKE_ON_CANCEL",
        "SL_INVOKE_ON_SUCCESS": SL_INVOKE_ON_SUCCESS => "SL_INVOKE_ON_SUCCESS",
        "SL_INVOKE_ON_ERROR": SL_INVOKE_ON_ERROR => "SL_INVOKE_ON_ERROR",
        "IO_NO_INCREMENT": IO_NO_INCREMENT => "IO_NO_INCREMENT",
        // Synchronisation objects
        "KEVENT size": size_of::<KEvent>() => "sizeof(KEVENT)",
        "KDPC size": size_of::<KDpc>() => "sizeof(KDPC)",
        "KSPIN_LOCK size": size_of::<KSpinLock>() => "sizeof(KSPIN_LOCK)",
        "KIRQL size": size_of::<KIrql>() => "sizeof(KIRQL)",
        "IO_REMOVE_LOCK size": size_of::<IoRemoveLock>() => "sizeof(IO_REMOVE_LOCK)",
        "NotificationEvent": NOTIFICATION_EVENT => "NotificationEvent",
        "SynchronizationEvent": SYNCHRONIZATION_EVENT => "SynchronizationEvent",
        "Executive": EXECUTIVE => "Executive",
        "KernelMode": KERNEL_MODE => "KernelMode",
        // Interrupts
        "IO_CONNECT_INTERRUPT_PARAMETERS size": size_of::<IoConnectInterruptParameters>() => "sizeof(IO_CONNECT_INTERRUPT_PARAMETERS)",
        "IO_CONNECT_INTERRUPT_PARAMETERS.LineBased": offset_of!(IoConnectInterruptParameters, line_based) => "offsetof(IO_CONNECT_INTERRUPT_PARAMETERS, LineBased)",
        "IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS size": size_of::<IoConnectInterruptLineBasedParameters>() => "sizeof(IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS)",
        "LineBased.InterruptObject": offset_of!(IoConnectInterruptLineBasedParameters, interrupt_object) => "offsetof(IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS, InterruptObject)",
        "LineBased.ServiceRoutine": offset_of!(IoConnectInterruptLineBasedParameters, service_routine) => "offsetof(IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS, ServiceRoutine)",
        "LineBased.ServiceContext": offset_of!(IoConnectInterruptLineBasedParameters, service_context) => "offsetof(IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS, ServiceContext)",
        "LineBased.SpinLock": offset_of!(IoConnectInterruptLineBasedParameters, spin_lock) => "offsetof(IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS, SpinLock)",
        "LineBased.SynchronizeIrql": offset_of!(IoConnectInterruptLineBasedParameters, synchronize_irql) => "offsetof(IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS, SynchronizeIrql)",
        "LineBased.FloatingSave": offset_of!(IoConnectInterruptLineBasedParameters, floating_save) => "offsetof(IO_CONNECT_INTERRUPT_LINE_BASED_PARAMETERS, FloatingSave)",
        "IO_DISCONNECT_INTERRUPT_PARAMETERS size": size_of::<IoDisconnectInterruptParameters>() => "sizeof(IO_DISCONNECT_INTERRUPT_PARAMETERS)",
        "IO_DISCONNECT_INTERRUPT_PARAMETERS.ConnectionContext": offset_of!(IoDisconnectInterruptParameters, connection_context) => "offsetof(IO_DISCONNECT_INTERRUPT_PARAMETERS, ConnectionContext)",
        "CONNECT_FULLY_SPECIFIED": CONNECT_FULLY_SPECIFIED => "CONNECT_FULLY_SPECIFIED",
        "CONNECT_LINE_BASED": CONNECT_LINE_BASED => "CONNECT_LINE_BASED",
        "CONNECT_MESSAGE_BASED": CONNECT_MESSAGE_BASED => "CONNECT_MESSAGE_BASED",
        // Resource lists (4-byte packed)
        "CM_RESOURCE_LIST.Count": RESOURCE_LIST_COUNT_OFFSET => "offsetof(CM_RESOURCE_LIST, Count)",
        "CM_RESOURCE_LIST.List": RESOURCE_LIST_FIRST_FULL_OFFSET => "offsetof(CM_RESOURCE_LIST, List)",
        "CM_FULL_RESOURCE_DESCRIPTOR.PartialResourceList": FULL_DESCRIPTOR_PARTIAL_LIST_OFFSET => "offsetof(CM_FULL_RESOURCE_DESCRIPTOR, PartialResourceList)",
        "CM_PARTIAL_RESOURCE_LIST.Count": PARTIAL_LIST_COUNT_OFFSET => "offsetof(CM_PARTIAL_RESOURCE_LIST, Count)",
        "CM_PARTIAL_RESOURCE_LIST.PartialDescriptors": PARTIAL_LIST_FIRST_DESCRIPTOR_OFFSET => "offsetof(CM_PARTIAL_RESOURCE_LIST, PartialDescriptors)",
        "CM_PARTIAL_RESOURCE_DESCRIPTOR size": PARTIAL_DESCRIPTOR_SIZE => "sizeof(CM_PARTIAL_RESOURCE_DESCRIPTOR)",
        "CM_PARTIAL_RESOURCE_DESCRIPTOR.Type": PARTIAL_DESCRIPTOR_TYPE_OFFSET => "offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, Type)",
        "CM_PARTIAL_RESOURCE_DESCRIPTOR.Flags": PARTIAL_DESCRIPTOR_FLAGS_OFFSET => "offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, Flags)",
        "u.Memory.Start": MEMORY_START_OFFSET => "offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Memory.Start)",
        "u.Memory.Length": MEMORY_LENGTH_OFFSET => "offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Memory.Length)",
        "u.Port.Start": MEMORY_START_OFFSET => "offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Port.Start)",
        "u.Port.Length": MEMORY_LENGTH_OFFSET => "offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Port.Length)",
        "u.Memory40.Length40": MEMORY_LENGTH_OFFSET => "offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Memory40.Length40)",
        "u.Memory64.Length64": MEMORY_LENGTH_OFFSET => "offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Memory64.Length64)",
        "u.Interrupt.Level": INTERRUPT_LEVEL_OFFSET => "offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Interrupt.Level)",
        "u.Interrupt.Vector": INTERRUPT_VECTOR_OFFSET => "offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Interrupt.Vector)",
        "u.Interrupt.Affinity": INTERRUPT_AFFINITY_OFFSET => "offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Interrupt.Affinity)",
        "CmResourceTypePort": CM_RESOURCE_TYPE_PORT => "CmResourceTypePort",
        "CmResourceTypeInterrupt": CM_RESOURCE_TYPE_INTERRUPT => "CmResourceTypeInterrupt",
        "CmResourceTypeMemory": CM_RESOURCE_TYPE_MEMORY => "CmResourceTypeMemory",
        "CmResourceTypeDeviceSpecific": CM_RESOURCE_TYPE_DEVICE_SPECIFIC => "CmResourceTypeDeviceSpecific",
        "CmResourceTypeMemoryLarge": CM_RESOURCE_TYPE_MEMORY_LARGE => "CmResourceTypeMemoryLarge",
        "CM_RESOURCE_INTERRUPT_LATCHED": CM_RESOURCE_INTERRUPT_LATCHED => "CM_RESOURCE_INTERRUPT_LATCHED",
        "CM_RESOURCE_INTERRUPT_MESSAGE": CM_RESOURCE_INTERRUPT_MESSAGE => "CM_RESOURCE_INTERRUPT_MESSAGE",
        "CM_RESOURCE_MEMORY_LARGE": CM_RESOURCE_MEMORY_LARGE => "CM_RESOURCE_MEMORY_LARGE",
        "CM_RESOURCE_MEMORY_LARGE_40": CM_RESOURCE_MEMORY_LARGE_40 => "CM_RESOURCE_MEMORY_LARGE_40",
        "CM_RESOURCE_MEMORY_LARGE_48": CM_RESOURCE_MEMORY_LARGE_48 => "CM_RESOURCE_MEMORY_LARGE_48",
        "CM_RESOURCE_MEMORY_LARGE_64": CM_RESOURCE_MEMORY_LARGE_64 => "CM_RESOURCE_MEMORY_LARGE_64",
        // Memory and debug output
        "MmNonCached": MM_NON_CACHED => "MmNonCached",
        "MmCached": MM_CACHED => "MmCached",
        "MmWriteCombined": MM_WRITE_COMBINED => "MmWriteCombined",
        "DPFLTR_IHVDRIVER_ID": DPFLTR_IHVDRIVER_ID => "DPFLTR_IHVDRIVER_ID",
        "DPFLTR_ERROR_LEVEL": DPFLTR_ERROR_LEVEL => "DPFLTR_ERROR_LEVEL",
        "DPFLTR_INFO_LEVEL": DPFLTR_INFO_LEVEL => "DPFLTR_INFO_LEVEL",
        // STORPORT (srb.h): mingw-w64 has the pre-Windows 8 prefix of the configuration
        // structures, so the fields up to there are measured; the tails are pinned in the crate.
        "SCSI_REQUEST_BLOCK size": size_of::<ScsiRequestBlock>() => "sizeof(SCSI_REQUEST_BLOCK)",
        "SCSI_REQUEST_BLOCK.CdbLength": offset_of!(ScsiRequestBlock, cdb_length) => "offsetof(SCSI_REQUEST_BLOCK, CdbLength)",
        "SCSI_REQUEST_BLOCK.SenseInfoBufferLength": offset_of!(ScsiRequestBlock, sense_info_buffer_length) => "offsetof(SCSI_REQUEST_BLOCK, SenseInfoBufferLength)",
        "SCSI_REQUEST_BLOCK.SrbFlags": offset_of!(ScsiRequestBlock, srb_flags) => "offsetof(SCSI_REQUEST_BLOCK, SrbFlags)",
        "SCSI_REQUEST_BLOCK.DataTransferLength": offset_of!(ScsiRequestBlock, data_transfer_length) => "offsetof(SCSI_REQUEST_BLOCK, DataTransferLength)",
        "SCSI_REQUEST_BLOCK.DataBuffer": offset_of!(ScsiRequestBlock, data_buffer) => "offsetof(SCSI_REQUEST_BLOCK, DataBuffer)",
        "SCSI_REQUEST_BLOCK.SenseInfoBuffer": offset_of!(ScsiRequestBlock, sense_info_buffer) => "offsetof(SCSI_REQUEST_BLOCK, SenseInfoBuffer)",
        "SCSI_REQUEST_BLOCK.SrbExtension": offset_of!(ScsiRequestBlock, srb_extension) => "offsetof(SCSI_REQUEST_BLOCK, SrbExtension)",
        "SCSI_REQUEST_BLOCK.Cdb": offset_of!(ScsiRequestBlock, cdb) => "offsetof(SCSI_REQUEST_BLOCK, Cdb)",
        "HW_INITIALIZATION_DATA.HwInitialize": offset_of!(HwInitializationData, hw_initialize) => "offsetof(HW_INITIALIZATION_DATA, HwInitialize)",
        "HW_INITIALIZATION_DATA.HwFindAdapter": offset_of!(HwInitializationData, hw_find_adapter) => "offsetof(HW_INITIALIZATION_DATA, HwFindAdapter)",
        "HW_INITIALIZATION_DATA.DeviceExtensionSize": offset_of!(HwInitializationData, device_extension_size) => "offsetof(HW_INITIALIZATION_DATA, DeviceExtensionSize)",
        "HW_INITIALIZATION_DATA.SrbExtensionSize": offset_of!(HwInitializationData, srb_extension_size) => "offsetof(HW_INITIALIZATION_DATA, SrbExtensionSize)",
        "HW_INITIALIZATION_DATA.MapBuffers": offset_of!(HwInitializationData, map_buffers) => "offsetof(HW_INITIALIZATION_DATA, MapBuffers)",
        "HW_INITIALIZATION_DATA.MultipleRequestPerLu": offset_of!(HwInitializationData, multiple_request_per_lu) => "offsetof(HW_INITIALIZATION_DATA, MultipleRequestPerLu)",
        "HW_INITIALIZATION_DATA.VendorId": offset_of!(HwInitializationData, vendor_id) => "offsetof(HW_INITIALIZATION_DATA, VendorId)",
        "HW_INITIALIZATION_DATA.DeviceId": offset_of!(HwInitializationData, device_id) => "offsetof(HW_INITIALIZATION_DATA, DeviceId)",
        "HW_INITIALIZATION_DATA.HwAdapterControl": offset_of!(HwInitializationData, hw_adapter_control) => "offsetof(HW_INITIALIZATION_DATA, HwAdapterControl)",
        "PORT_CONFIGURATION_INFORMATION.MaximumTransferLength": offset_of!(PortConfigurationInformation, maximum_transfer_length) => "offsetof(PORT_CONFIGURATION_INFORMATION, MaximumTransferLength)",
        "PORT_CONFIGURATION_INFORMATION.NumberOfPhysicalBreaks": offset_of!(PortConfigurationInformation, number_of_physical_breaks) => "offsetof(PORT_CONFIGURATION_INFORMATION, NumberOfPhysicalBreaks)",
        "PORT_CONFIGURATION_INFORMATION.AlignmentMask": offset_of!(PortConfigurationInformation, alignment_mask) => "offsetof(PORT_CONFIGURATION_INFORMATION, AlignmentMask)",
        "PORT_CONFIGURATION_INFORMATION.Reserved (MiniportDumpData)": offset_of!(PortConfigurationInformation, miniport_dump_data) => "offsetof(PORT_CONFIGURATION_INFORMATION, Reserved)",
        "PORT_CONFIGURATION_INFORMATION.ScatterGather": offset_of!(PortConfigurationInformation, scatter_gather) => "offsetof(PORT_CONFIGURATION_INFORMATION, ScatterGather)",
        "PORT_CONFIGURATION_INFORMATION.MapBuffers": offset_of!(PortConfigurationInformation, map_buffers) => "offsetof(PORT_CONFIGURATION_INFORMATION, MapBuffers)",
        "PORT_CONFIGURATION_INFORMATION.MaximumNumberOfTargets": offset_of!(PortConfigurationInformation, maximum_number_of_targets) => "offsetof(PORT_CONFIGURATION_INFORMATION, MaximumNumberOfTargets)",
        "PORT_CONFIGURATION_INFORMATION.ReservedUchars (SrbType)": offset_of!(PortConfigurationInformation, srb_type) => "offsetof(PORT_CONFIGURATION_INFORMATION, ReservedUchars)",
        "PORT_CONFIGURATION_INFORMATION.SlotNumber": offset_of!(PortConfigurationInformation, slot_number) => "offsetof(PORT_CONFIGURATION_INFORMATION, SlotNumber)",
        "PORT_CONFIGURATION_INFORMATION.DeviceExtensionSize": offset_of!(PortConfigurationInformation, device_extension_size) => "offsetof(PORT_CONFIGURATION_INFORMATION, DeviceExtensionSize)",
        "PORT_CONFIGURATION_INFORMATION.Dma64BitAddresses": offset_of!(PortConfigurationInformation, dma64_bit_addresses) => "offsetof(PORT_CONFIGURATION_INFORMATION, Dma64BitAddresses)",
        "PORT_CONFIGURATION_INFORMATION.MaximumNumberOfLogicalUnits": offset_of!(PortConfigurationInformation, maximum_number_of_logical_units) => "offsetof(PORT_CONFIGURATION_INFORMATION, MaximumNumberOfLogicalUnits)",
        "PORT_CONFIGURATION_INFORMATION.WmiDataProvider": offset_of!(PortConfigurationInformation, wmi_data_provider) => "offsetof(PORT_CONFIGURATION_INFORMATION, WmiDataProvider)",
        "ACCESS_RANGE size": size_of::<AccessRange>() => "sizeof(ACCESS_RANGE)",
        "STOR_SCATTER_GATHER_ELEMENT size (SCATTER_GATHER_ELEMENT)": size_of::<StorScatterGatherElement>() => "sizeof(SCATTER_GATHER_ELEMENT)",
        "STOR_SCATTER_GATHER_ELEMENT.Length": offset_of!(StorScatterGatherElement, length) => "offsetof(SCATTER_GATHER_ELEMENT, Length)",
        "STOR_SCATTER_GATHER_LIST.List (SCATTER_GATHER_LIST.Elements)": offset_of!(StorScatterGatherList, list) => "offsetof(SCATTER_GATHER_LIST, Elements)",
        "SCSI_SUPPORTED_CONTROL_TYPE_LIST.SupportedTypeList": offset_of!(ScsiSupportedControlTypeList, supported_type_list) => "offsetof(SCSI_SUPPORTED_CONTROL_TYPE_LIST, SupportedTypeList)",
        "ScsiQuerySupportedControlTypes": SCSI_QUERY_SUPPORTED_CONTROL_TYPES => "ScsiQuerySupportedControlTypes",
        "ScsiStopAdapter": SCSI_STOP_ADAPTER => "ScsiStopAdapter",
        "ScsiRestartAdapter": SCSI_RESTART_ADAPTER => "ScsiRestartAdapter",
        "ScsiSetBootConfig": SCSI_SET_BOOT_CONFIG => "ScsiSetBootConfig",
        "ScsiSetRunningConfig": SCSI_SET_RUNNING_CONFIG => "ScsiSetRunningConfig",
        "ScsiAdapterControlUnsuccessful": SCSI_ADAPTER_CONTROL_UNSUCCESSFUL => "ScsiAdapterControlUnsuccessful",
        "Internal": INTERNAL => "Internal",
        "PCIBus": PCI_BUS => "PCIBus",
        "SP_RETURN_NOT_FOUND": SP_RETURN_NOT_FOUND => "SP_RETURN_NOT_FOUND",
        "SP_RETURN_FOUND": SP_RETURN_FOUND => "SP_RETURN_FOUND",
        "SP_RETURN_ERROR": SP_RETURN_ERROR => "SP_RETURN_ERROR",
        "SP_RETURN_BAD_CONFIG": SP_RETURN_BAD_CONFIG => "SP_RETURN_BAD_CONFIG",
        "SP_UNINITIALIZED_VALUE": SP_UNINITIALIZED_VALUE => "SP_UNINITIALIZED_VALUE",
        "SRB_FUNCTION_EXECUTE_SCSI": SRB_FUNCTION_EXECUTE_SCSI => "SRB_FUNCTION_EXECUTE_SCSI",
        "SRB_FUNCTION_IO_CONTROL": SRB_FUNCTION_IO_CONTROL => "SRB_FUNCTION_IO_CONTROL",
        "SRB_FUNCTION_SHUTDOWN": SRB_FUNCTION_SHUTDOWN => "SRB_FUNCTION_SHUTDOWN",
        "SRB_FUNCTION_FLUSH": SRB_FUNCTION_FLUSH => "SRB_FUNCTION_FLUSH",
        "SRB_FUNCTION_ABORT_COMMAND": SRB_FUNCTION_ABORT_COMMAND => "SRB_FUNCTION_ABORT_COMMAND",
        "SRB_FUNCTION_RESET_BUS": SRB_FUNCTION_RESET_BUS => "SRB_FUNCTION_RESET_BUS",
        "SRB_FUNCTION_RESET_DEVICE": SRB_FUNCTION_RESET_DEVICE => "SRB_FUNCTION_RESET_DEVICE",
        "SRB_FUNCTION_RESET_LOGICAL_UNIT": SRB_FUNCTION_RESET_LOGICAL_UNIT => "SRB_FUNCTION_RESET_LOGICAL_UNIT",
        "SRB_FUNCTION_POWER": SRB_FUNCTION_POWER => "SRB_FUNCTION_POWER",
        "SRB_FUNCTION_PNP": SRB_FUNCTION_PNP => "SRB_FUNCTION_PNP",
        "SRB_FUNCTION_DUMP_POINTERS": SRB_FUNCTION_DUMP_POINTERS => "SRB_FUNCTION_DUMP_POINTERS",
        "SRB_STATUS_PENDING": SRB_STATUS_PENDING => "SRB_STATUS_PENDING",
        "SRB_STATUS_SUCCESS": SRB_STATUS_SUCCESS => "SRB_STATUS_SUCCESS",
        "SRB_STATUS_ABORTED": SRB_STATUS_ABORTED => "SRB_STATUS_ABORTED",
        "SRB_STATUS_ERROR": SRB_STATUS_ERROR => "SRB_STATUS_ERROR",
        "SRB_STATUS_BUSY": SRB_STATUS_BUSY => "SRB_STATUS_BUSY",
        "SRB_STATUS_INVALID_REQUEST": SRB_STATUS_INVALID_REQUEST => "SRB_STATUS_INVALID_REQUEST",
        "SRB_STATUS_NO_DEVICE": SRB_STATUS_NO_DEVICE => "SRB_STATUS_NO_DEVICE",
        "SRB_STATUS_DATA_OVERRUN": SRB_STATUS_DATA_OVERRUN => "SRB_STATUS_DATA_OVERRUN",
        "SRB_STATUS_INVALID_LUN": SRB_STATUS_INVALID_LUN => "SRB_STATUS_INVALID_LUN",
        "SRB_STATUS_INVALID_TARGET_ID": SRB_STATUS_INVALID_TARGET_ID => "SRB_STATUS_INVALID_TARGET_ID",
        "SRB_STATUS_BAD_FUNCTION": SRB_STATUS_BAD_FUNCTION => "SRB_STATUS_BAD_FUNCTION",
        "SRB_STATUS_AUTOSENSE_VALID": SRB_STATUS_AUTOSENSE_VALID => "SRB_STATUS_AUTOSENSE_VALID",
        "SRB_FLAGS_DISABLE_AUTOSENSE": SRB_FLAGS_DISABLE_AUTOSENSE => "SRB_FLAGS_DISABLE_AUTOSENSE",
        "SRB_FLAGS_DATA_IN": SRB_FLAGS_DATA_IN => "SRB_FLAGS_DATA_IN",
        "SRB_FLAGS_DATA_OUT": SRB_FLAGS_DATA_OUT => "SRB_FLAGS_DATA_OUT",
        // NDIS 6 (ntddndis.h, ifdef.h, ipifcons.h; wdm.h for the MDL). NET_BUFFER_LIST and the
        // miniport structures are not in mingw-w64 (its ndis.h is NDIS 5): pinned in the crate.
        "MDL size": size_of::<Mdl>() => "sizeof(MDL)",
        "MDL.MdlFlags": offset_of!(Mdl, mdl_flags) => "offsetof(MDL, MdlFlags)",
        "MDL.MappedSystemVa": offset_of!(Mdl, mapped_system_va) => "offsetof(MDL, MappedSystemVa)",
        "MDL.StartVa": offset_of!(Mdl, start_va) => "offsetof(MDL, StartVa)",
        "MDL.ByteCount": offset_of!(Mdl, byte_count) => "offsetof(MDL, ByteCount)",
        "MDL.ByteOffset": offset_of!(Mdl, byte_offset) => "offsetof(MDL, ByteOffset)",
        "MDL_MAPPED_TO_SYSTEM_VA": MDL_MAPPED_TO_SYSTEM_VA => "MDL_MAPPED_TO_SYSTEM_VA",
        "MDL_SOURCE_IS_NONPAGED_POOL": MDL_SOURCE_IS_NONPAGED_POOL => "MDL_SOURCE_IS_NONPAGED_POOL",
        "NDIS_OBJECT_HEADER size": size_of::<ObjectHeader>() => "sizeof(NDIS_OBJECT_HEADER)",
        "NDIS_OFFLOAD size": size_of::<NdisOffload>() => "sizeof(NDIS_OFFLOAD)",
        "NDIS_OFFLOAD.Checksum": offset_of!(NdisOffload, checksum) => "offsetof(NDIS_OFFLOAD, Checksum)",
        "NDIS_OFFLOAD.LsoV1": offset_of!(NdisOffload, lso_v1) => "offsetof(NDIS_OFFLOAD, LsoV1)",
        "NDIS_OFFLOAD.IPsecV1": offset_of!(NdisOffload, ipsec_v1) => "offsetof(NDIS_OFFLOAD, IPsecV1)",
        "NDIS_OFFLOAD.LsoV2": offset_of!(NdisOffload, lso_v2) => "offsetof(NDIS_OFFLOAD, LsoV2)",
        "NDIS_OFFLOAD.Flags": offset_of!(NdisOffload, flags) => "offsetof(NDIS_OFFLOAD, Flags)",
        "NDIS_OFFLOAD.IPsecV2": offset_of!(NdisOffload, ipsec_v2) => "offsetof(NDIS_OFFLOAD, IPsecV2)",
        "NDIS_OFFLOAD.Rsc": offset_of!(NdisOffload, rsc) => "offsetof(NDIS_OFFLOAD, Rsc)",
        "NDIS_OFFLOAD.EncapsulatedPacketTaskOffloadGre": offset_of!(NdisOffload, encapsulated_packet_task_offload_gre) => "offsetof(NDIS_OFFLOAD, EncapsulatedPacketTaskOffloadGre)",
        "Checksum.IPv4Receive": offset_of!(TcpIpChecksumOffload, ipv4_receive) => "offsetof(NDIS_TCP_IP_CHECKSUM_OFFLOAD, IPv4Receive)",
        "Checksum.IPv6Transmit": offset_of!(TcpIpChecksumOffload, ipv6_transmit) => "offsetof(NDIS_TCP_IP_CHECKSUM_OFFLOAD, IPv6Transmit)",
        "LsoV2.IPv6.MaxOffLoadSize": offset_of!(LsoV2Offload, ipv6_max_offload_size) => "offsetof(NDIS_TCP_LARGE_SEND_OFFLOAD_V2, IPv6.MaxOffLoadSize)",
        "NDIS_TCP_LARGE_SEND_OFFLOAD_V2 size": size_of::<LsoV2Offload>() => "sizeof(NDIS_TCP_LARGE_SEND_OFFLOAD_V2)",
        "NDIS_LINK_STATE size": size_of::<NdisLinkState>() => "sizeof(NDIS_LINK_STATE)",
        "NDIS_LINK_STATE.XmitLinkSpeed": offset_of!(NdisLinkState, xmit_link_speed) => "offsetof(NDIS_LINK_STATE, XmitLinkSpeed)",
        "NDIS_LINK_STATE.AutoNegotiationFlags": offset_of!(NdisLinkState, auto_negotiation_flags) => "offsetof(NDIS_LINK_STATE, AutoNegotiationFlags)",
        "NDIS_OFFLOAD_PARAMETERS size": size_of::<NdisOffloadParameters>() => "sizeof(NDIS_OFFLOAD_PARAMETERS)",
        "NDIS_OFFLOAD_PARAMETERS.Flags": offset_of!(NdisOffloadParameters, flags) => "offsetof(NDIS_OFFLOAD_PARAMETERS, Flags)",
        "NDIS_OFFLOAD_PARAMETERS.LsoV2IPv6": offset_of!(NdisOffloadParameters, lso_v2_ipv6) => "offsetof(NDIS_OFFLOAD_PARAMETERS, LsoV2IPv6)",
        "NDIS_OFFLOAD_PARAMETERS.RscIPv4": offset_of!(NdisOffloadParameters, rsc_ipv4) => "offsetof(NDIS_OFFLOAD_PARAMETERS, RscIPv4)",
        "NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_1": NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_1 => "NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_1",
        "NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_2": NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_2 => "NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_2",
        "NDIS_RECEIVE_SCALE_CAPABILITIES size": size_of::<NdisReceiveScaleCapabilities>() => "sizeof(NDIS_RECEIVE_SCALE_CAPABILITIES)",
        "NDIS_RECEIVE_SCALE_PARAMETERS size": size_of::<NdisReceiveScaleParameters>() => "sizeof(NDIS_RECEIVE_SCALE_PARAMETERS)",
        "NDIS_RECEIVE_SCALE_PARAMETERS.HashInformation": offset_of!(NdisReceiveScaleParameters, hash_information) => "offsetof(NDIS_RECEIVE_SCALE_PARAMETERS, HashInformation)",
        "NDIS_RECEIVE_SCALE_PARAMETERS.IndirectionTableSize": offset_of!(NdisReceiveScaleParameters, indirection_table_size) => "offsetof(NDIS_RECEIVE_SCALE_PARAMETERS, IndirectionTableSize)",
        "NDIS_RECEIVE_SCALE_PARAMETERS.IndirectionTableOffset": offset_of!(NdisReceiveScaleParameters, indirection_table_offset) => "offsetof(NDIS_RECEIVE_SCALE_PARAMETERS, IndirectionTableOffset)",
        "NDIS_RECEIVE_SCALE_PARAMETERS.HashSecretKeySize": offset_of!(NdisReceiveScaleParameters, hash_secret_key_size) => "offsetof(NDIS_RECEIVE_SCALE_PARAMETERS, HashSecretKeySize)",
        "NDIS_RECEIVE_SCALE_PARAMETERS.HashSecretKeyOffset": offset_of!(NdisReceiveScaleParameters, hash_secret_key_offset) => "offsetof(NDIS_RECEIVE_SCALE_PARAMETERS, HashSecretKeyOffset)",
        "NDIS_SIZEOF_RECEIVE_SCALE_PARAMETERS_REVISION_1": NDIS_SIZEOF_RECEIVE_SCALE_PARAMETERS_REVISION_1 => "NDIS_SIZEOF_RECEIVE_SCALE_PARAMETERS_REVISION_1",
        "NDIS_RSS_INDIRECTION_TABLE_MAX_SIZE_REVISION_2": NDIS_RSS_INDIRECTION_TABLE_MAX_SIZE_REVISION_2 => "NDIS_RSS_INDIRECTION_TABLE_MAX_SIZE_REVISION_2",
        "NDIS_RSS_HASH_SECRET_KEY_MAX_SIZE_REVISION_2": NDIS_RSS_HASH_SECRET_KEY_MAX_SIZE_REVISION_2 => "NDIS_RSS_HASH_SECRET_KEY_MAX_SIZE_REVISION_2",
        "PROCESSOR_NUMBER size": PROCESSOR_NUMBER_SIZE => "sizeof(PROCESSOR_NUMBER)",
        "NDIS_STATISTICS_INFO size": size_of::<NdisStatisticsInfo>() => "sizeof(NDIS_STATISTICS_INFO)",
        "NDIS_STATISTICS_INFO.ifHCOutOctets": offset_of!(NdisStatisticsInfo, if_hc_out_octets) => "offsetof(NDIS_STATISTICS_INFO, ifHCOutOctets)",
        "NDIS_STATISTICS_INFO.ifHCOutBroadcastOctets": offset_of!(NdisStatisticsInfo, if_hc_out_broadcast_octets) => "offsetof(NDIS_STATISTICS_INFO, ifHCOutBroadcastOctets)",
        "NDIS_OBJECT_TYPE_DEFAULT": NDIS_OBJECT_TYPE_DEFAULT => "NDIS_OBJECT_TYPE_DEFAULT",
        "NDIS_OBJECT_TYPE_RSS_CAPABILITIES": NDIS_OBJECT_TYPE_RSS_CAPABILITIES => "NDIS_OBJECT_TYPE_RSS_CAPABILITIES",
        "NDIS_OBJECT_TYPE_RSS_PARAMETERS": NDIS_OBJECT_TYPE_RSS_PARAMETERS => "NDIS_OBJECT_TYPE_RSS_PARAMETERS",
        "NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS": NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS => "NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS",
        "NDIS_OBJECT_TYPE_OID_REQUEST": NDIS_OBJECT_TYPE_OID_REQUEST => "NDIS_OBJECT_TYPE_OID_REQUEST",
        "NDIS_OBJECT_TYPE_STATUS_INDICATION": NDIS_OBJECT_TYPE_STATUS_INDICATION => "NDIS_OBJECT_TYPE_STATUS_INDICATION",
        "NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES": NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES => "NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES",
        "NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES": NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES => "NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES",
        "NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES": NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES => "NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES",
        "NDIS_OBJECT_TYPE_OFFLOAD": NDIS_OBJECT_TYPE_OFFLOAD => "NDIS_OBJECT_TYPE_OFFLOAD",
        "NDIS_OBJECT_TYPE_OFFLOAD_ENCAPSULATION": NDIS_OBJECT_TYPE_OFFLOAD_ENCAPSULATION => "NDIS_OBJECT_TYPE_OFFLOAD_ENCAPSULATION",
        "NDIS_OFFLOAD_REVISION_3": NDIS_OFFLOAD_REVISION_3 => "NDIS_OFFLOAD_REVISION_3",
        "NDIS_LINK_STATE_REVISION_1": NDIS_LINK_STATE_REVISION_1 => "NDIS_LINK_STATE_REVISION_1",
        "NDIS_RECEIVE_SCALE_CAPABILITIES_REVISION_2": NDIS_RECEIVE_SCALE_CAPABILITIES_REVISION_2 => "NDIS_RECEIVE_SCALE_CAPABILITIES_REVISION_2",
        "NDIS_RECEIVE_SCALE_PARAMETERS_REVISION_2": NDIS_RECEIVE_SCALE_PARAMETERS_REVISION_2 => "NDIS_RECEIVE_SCALE_PARAMETERS_REVISION_2",
        "NDIS_STATISTICS_INFO_REVISION_1": NDIS_STATISTICS_INFO_REVISION_1 => "NDIS_STATISTICS_INFO_REVISION_1",
        "NdisRequestQueryInformation": NDIS_REQUEST_QUERY_INFORMATION => "NdisRequestQueryInformation",
        "NdisRequestSetInformation": NDIS_REQUEST_SET_INFORMATION => "NdisRequestSetInformation",
        "NdisRequestQueryStatistics": NDIS_REQUEST_QUERY_STATISTICS => "NdisRequestQueryStatistics",
        "NdisRequestMethod": NDIS_REQUEST_METHOD => "NdisRequestMethod",
        "OID_GEN_SUPPORTED_LIST": OID_GEN_SUPPORTED_LIST => "OID_GEN_SUPPORTED_LIST",
        "OID_GEN_HARDWARE_STATUS": OID_GEN_HARDWARE_STATUS => "OID_GEN_HARDWARE_STATUS",
        "OID_GEN_MEDIA_SUPPORTED": OID_GEN_MEDIA_SUPPORTED => "OID_GEN_MEDIA_SUPPORTED",
        "OID_GEN_MEDIA_IN_USE": OID_GEN_MEDIA_IN_USE => "OID_GEN_MEDIA_IN_USE",
        "OID_GEN_MAXIMUM_LOOKAHEAD": OID_GEN_MAXIMUM_LOOKAHEAD => "OID_GEN_MAXIMUM_LOOKAHEAD",
        "OID_GEN_MAXIMUM_FRAME_SIZE": OID_GEN_MAXIMUM_FRAME_SIZE => "OID_GEN_MAXIMUM_FRAME_SIZE",
        "OID_GEN_LINK_SPEED": OID_GEN_LINK_SPEED => "OID_GEN_LINK_SPEED",
        "OID_GEN_TRANSMIT_BUFFER_SPACE": OID_GEN_TRANSMIT_BUFFER_SPACE => "OID_GEN_TRANSMIT_BUFFER_SPACE",
        "OID_GEN_RECEIVE_BUFFER_SPACE": OID_GEN_RECEIVE_BUFFER_SPACE => "OID_GEN_RECEIVE_BUFFER_SPACE",
        "OID_GEN_TRANSMIT_BLOCK_SIZE": OID_GEN_TRANSMIT_BLOCK_SIZE => "OID_GEN_TRANSMIT_BLOCK_SIZE",
        "OID_GEN_RECEIVE_BLOCK_SIZE": OID_GEN_RECEIVE_BLOCK_SIZE => "OID_GEN_RECEIVE_BLOCK_SIZE",
        "OID_GEN_VENDOR_ID": OID_GEN_VENDOR_ID => "OID_GEN_VENDOR_ID",
        "OID_GEN_VENDOR_DESCRIPTION": OID_GEN_VENDOR_DESCRIPTION => "OID_GEN_VENDOR_DESCRIPTION",
        "OID_GEN_CURRENT_PACKET_FILTER": OID_GEN_CURRENT_PACKET_FILTER => "OID_GEN_CURRENT_PACKET_FILTER",
        "OID_GEN_CURRENT_LOOKAHEAD": OID_GEN_CURRENT_LOOKAHEAD => "OID_GEN_CURRENT_LOOKAHEAD",
        "OID_GEN_DRIVER_VERSION": OID_GEN_DRIVER_VERSION => "OID_GEN_DRIVER_VERSION",
        "OID_GEN_MAXIMUM_TOTAL_SIZE": OID_GEN_MAXIMUM_TOTAL_SIZE => "OID_GEN_MAXIMUM_TOTAL_SIZE",
        "OID_GEN_MAC_OPTIONS": OID_GEN_MAC_OPTIONS => "OID_GEN_MAC_OPTIONS",
        "OID_GEN_MEDIA_CONNECT_STATUS": OID_GEN_MEDIA_CONNECT_STATUS => "OID_GEN_MEDIA_CONNECT_STATUS",
        "OID_GEN_MAXIMUM_SEND_PACKETS": OID_GEN_MAXIMUM_SEND_PACKETS => "OID_GEN_MAXIMUM_SEND_PACKETS",
        "OID_GEN_VENDOR_DRIVER_VERSION": OID_GEN_VENDOR_DRIVER_VERSION => "OID_GEN_VENDOR_DRIVER_VERSION",
        "OID_GEN_RECEIVE_SCALE_CAPABILITIES": OID_GEN_RECEIVE_SCALE_CAPABILITIES => "OID_GEN_RECEIVE_SCALE_CAPABILITIES",
        "OID_GEN_RECEIVE_SCALE_PARAMETERS": OID_GEN_RECEIVE_SCALE_PARAMETERS => "OID_GEN_RECEIVE_SCALE_PARAMETERS",
        "OID_GEN_XMIT_OK": OID_GEN_XMIT_OK => "OID_GEN_XMIT_OK",
        "OID_GEN_RCV_OK": OID_GEN_RCV_OK => "OID_GEN_RCV_OK",
        "OID_GEN_XMIT_ERROR": OID_GEN_XMIT_ERROR => "OID_GEN_XMIT_ERROR",
        "OID_GEN_RCV_ERROR": OID_GEN_RCV_ERROR => "OID_GEN_RCV_ERROR",
        "OID_GEN_RCV_NO_BUFFER": OID_GEN_RCV_NO_BUFFER => "OID_GEN_RCV_NO_BUFFER",
        "OID_GEN_STATISTICS": OID_GEN_STATISTICS => "OID_GEN_STATISTICS",
        "OID_802_3_PERMANENT_ADDRESS": OID_802_3_PERMANENT_ADDRESS => "OID_802_3_PERMANENT_ADDRESS",
        "OID_802_3_CURRENT_ADDRESS": OID_802_3_CURRENT_ADDRESS => "OID_802_3_CURRENT_ADDRESS",
        "OID_802_3_MULTICAST_LIST": OID_802_3_MULTICAST_LIST => "OID_802_3_MULTICAST_LIST",
        "OID_802_3_MAXIMUM_LIST_SIZE": OID_802_3_MAXIMUM_LIST_SIZE => "OID_802_3_MAXIMUM_LIST_SIZE",
        "OID_OFFLOAD_ENCAPSULATION": OID_OFFLOAD_ENCAPSULATION => "OID_OFFLOAD_ENCAPSULATION",
        "OID_TCP_OFFLOAD_CURRENT_CONFIG": OID_TCP_OFFLOAD_CURRENT_CONFIG => "OID_TCP_OFFLOAD_CURRENT_CONFIG",
        "OID_TCP_OFFLOAD_PARAMETERS": OID_TCP_OFFLOAD_PARAMETERS => "OID_TCP_OFFLOAD_PARAMETERS",
        "OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES": OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES => "OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES",
        "OID_GEN_NETWORK_LAYER_ADDRESSES": OID_GEN_NETWORK_LAYER_ADDRESSES => "OID_GEN_NETWORK_LAYER_ADDRESSES",
        "NDIS_PROTOCOL_ID_TCP_IP": NDIS_PROTOCOL_ID_TCP_IP => "NDIS_PROTOCOL_ID_TCP_IP",
        "NETWORK_ADDRESS_LIST.Address": NETWORK_ADDRESS_LIST_ADDRESS_OFFSET => "offsetof(NETWORK_ADDRESS_LIST, Address)",
        "NETWORK_ADDRESS.Address": NETWORK_ADDRESS_ADDRESS_OFFSET => "offsetof(NETWORK_ADDRESS, Address)",
        "NETWORK_ADDRESS_IP.in_addr": NETWORK_ADDRESS_IP_IN_ADDR_OFFSET => "offsetof(NETWORK_ADDRESS_IP, in_addr)",
        "NETWORK_ADDRESS_LENGTH_IP": NETWORK_ADDRESS_LENGTH_IP => "NETWORK_ADDRESS_LENGTH_IP",
        "NDIS_PACKET_TYPE_DIRECTED": NDIS_PACKET_TYPE_DIRECTED => "NDIS_PACKET_TYPE_DIRECTED",
        "NDIS_PACKET_TYPE_MULTICAST": NDIS_PACKET_TYPE_MULTICAST => "NDIS_PACKET_TYPE_MULTICAST",
        "NDIS_PACKET_TYPE_ALL_MULTICAST": NDIS_PACKET_TYPE_ALL_MULTICAST => "NDIS_PACKET_TYPE_ALL_MULTICAST",
        "NDIS_PACKET_TYPE_BROADCAST": NDIS_PACKET_TYPE_BROADCAST => "NDIS_PACKET_TYPE_BROADCAST",
        "NDIS_PACKET_TYPE_PROMISCUOUS": NDIS_PACKET_TYPE_PROMISCUOUS => "NDIS_PACKET_TYPE_PROMISCUOUS",
        "NdisHardwareStatusReady": NDIS_HARDWARE_STATUS_READY => "NdisHardwareStatusReady",
        "NDIS_OFFLOAD_PARAMETERS_NO_CHANGE": NDIS_OFFLOAD_PARAMETERS_NO_CHANGE => "NDIS_OFFLOAD_PARAMETERS_NO_CHANGE",
        "NDIS_OFFLOAD_PARAMETERS_TX_RX_DISABLED": NDIS_OFFLOAD_PARAMETERS_TX_RX_DISABLED => "NDIS_OFFLOAD_PARAMETERS_TX_RX_DISABLED",
        "NDIS_OFFLOAD_PARAMETERS_TX_ENABLED_RX_DISABLED": NDIS_OFFLOAD_PARAMETERS_TX_ENABLED_RX_DISABLED => "NDIS_OFFLOAD_PARAMETERS_TX_ENABLED_RX_DISABLED",
        "NDIS_OFFLOAD_PARAMETERS_RX_ENABLED_TX_DISABLED": NDIS_OFFLOAD_PARAMETERS_RX_ENABLED_TX_DISABLED => "NDIS_OFFLOAD_PARAMETERS_RX_ENABLED_TX_DISABLED",
        "NDIS_OFFLOAD_PARAMETERS_TX_RX_ENABLED": NDIS_OFFLOAD_PARAMETERS_TX_RX_ENABLED => "NDIS_OFFLOAD_PARAMETERS_TX_RX_ENABLED",
        "NDIS_OFFLOAD_PARAMETERS_LSOV2_DISABLED": NDIS_OFFLOAD_PARAMETERS_LSOV2_DISABLED => "NDIS_OFFLOAD_PARAMETERS_LSOV2_DISABLED",
        "NDIS_OFFLOAD_PARAMETERS_LSOV2_ENABLED": NDIS_OFFLOAD_PARAMETERS_LSOV2_ENABLED => "NDIS_OFFLOAD_PARAMETERS_LSOV2_ENABLED",
        "NDIS_OFFLOAD_PARAMETERS_RSC_DISABLED": NDIS_OFFLOAD_PARAMETERS_RSC_DISABLED => "NDIS_OFFLOAD_PARAMETERS_RSC_DISABLED",
        "NDIS_OFFLOAD_PARAMETERS_RSC_ENABLED": NDIS_OFFLOAD_PARAMETERS_RSC_ENABLED => "NDIS_OFFLOAD_PARAMETERS_RSC_ENABLED",
        "NDIS_OFFLOAD_NOT_SUPPORTED": NDIS_OFFLOAD_NOT_SUPPORTED => "NDIS_OFFLOAD_NOT_SUPPORTED",
        "NDIS_OFFLOAD_SUPPORTED": NDIS_OFFLOAD_SUPPORTED => "NDIS_OFFLOAD_SUPPORTED",
        "NDIS_OFFLOAD_SET_NO_CHANGE": NDIS_OFFLOAD_SET_NO_CHANGE => "NDIS_OFFLOAD_SET_NO_CHANGE",
        "NDIS_OFFLOAD_SET_ON": NDIS_OFFLOAD_SET_ON => "NDIS_OFFLOAD_SET_ON",
        "NDIS_OFFLOAD_SET_OFF": NDIS_OFFLOAD_SET_OFF => "NDIS_OFFLOAD_SET_OFF",
        "NDIS_ENCAPSULATION_IEEE_802_3": NDIS_ENCAPSULATION_IEEE_802_3 => "NDIS_ENCAPSULATION_IEEE_802_3",
        "NDIS_RSS_CAPS_CLASSIFICATION_AT_ISR": NDIS_RSS_CAPS_CLASSIFICATION_AT_ISR => "NDIS_RSS_CAPS_CLASSIFICATION_AT_ISR",
        "NDIS_RSS_CAPS_CLASSIFICATION_AT_DPC": NDIS_RSS_CAPS_CLASSIFICATION_AT_DPC => "NDIS_RSS_CAPS_CLASSIFICATION_AT_DPC",
        "NDIS_RSS_CAPS_HASH_TYPE_TCP_IPV4": NDIS_RSS_CAPS_HASH_TYPE_TCP_IPV4 => "NDIS_RSS_CAPS_HASH_TYPE_TCP_IPV4",
        "NDIS_RSS_CAPS_HASH_TYPE_TCP_IPV6": NDIS_RSS_CAPS_HASH_TYPE_TCP_IPV6 => "NDIS_RSS_CAPS_HASH_TYPE_TCP_IPV6",
        "NDIS_RSS_PARAM_FLAG_BASE_CPU_UNCHANGED": NDIS_RSS_PARAM_FLAG_BASE_CPU_UNCHANGED => "NDIS_RSS_PARAM_FLAG_BASE_CPU_UNCHANGED",
        "NDIS_RSS_PARAM_FLAG_HASH_INFO_UNCHANGED": NDIS_RSS_PARAM_FLAG_HASH_INFO_UNCHANGED => "NDIS_RSS_PARAM_FLAG_HASH_INFO_UNCHANGED",
        "NDIS_RSS_PARAM_FLAG_ITABLE_UNCHANGED": NDIS_RSS_PARAM_FLAG_ITABLE_UNCHANGED => "NDIS_RSS_PARAM_FLAG_ITABLE_UNCHANGED",
        "NDIS_RSS_PARAM_FLAG_HASH_KEY_UNCHANGED": NDIS_RSS_PARAM_FLAG_HASH_KEY_UNCHANGED => "NDIS_RSS_PARAM_FLAG_HASH_KEY_UNCHANGED",
        "NDIS_RSS_PARAM_FLAG_DISABLE_RSS": NDIS_RSS_PARAM_FLAG_DISABLE_RSS => "NDIS_RSS_PARAM_FLAG_DISABLE_RSS",
        "NDIS_HASH_FUNCTION_MASK": NDIS_HASH_FUNCTION_MASK => "NDIS_HASH_FUNCTION_MASK",
        "NDIS_HASH_TYPE_MASK": NDIS_HASH_TYPE_MASK => "NDIS_HASH_TYPE_MASK",
        "NDIS_HASH_IPV4": NDIS_HASH_IPV4 => "NDIS_HASH_IPV4",
        "NDIS_HASH_TCP_IPV4": NDIS_HASH_TCP_IPV4 => "NDIS_HASH_TCP_IPV4",
        "NDIS_HASH_IPV6": NDIS_HASH_IPV6 => "NDIS_HASH_IPV6",
        "NDIS_HASH_IPV6_EX": NDIS_HASH_IPV6_EX => "NDIS_HASH_IPV6_EX",
        "NDIS_HASH_TCP_IPV6": NDIS_HASH_TCP_IPV6 => "NDIS_HASH_TCP_IPV6",
        "NDIS_HASH_TCP_IPV6_EX": NDIS_HASH_TCP_IPV6_EX => "NDIS_HASH_TCP_IPV6_EX",
        "NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_RCV": NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_RCV => "NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_RCV",
        "NDIS_STATISTICS_FLAGS_VALID_BYTES_RCV": NDIS_STATISTICS_FLAGS_VALID_BYTES_RCV => "NDIS_STATISTICS_FLAGS_VALID_BYTES_RCV",
        "NDIS_STATISTICS_FLAGS_VALID_RCV_DISCARDS": NDIS_STATISTICS_FLAGS_VALID_RCV_DISCARDS => "NDIS_STATISTICS_FLAGS_VALID_RCV_DISCARDS",
        "NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_XMIT": NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_XMIT => "NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_XMIT",
        "NDIS_STATISTICS_FLAGS_VALID_BYTES_XMIT": NDIS_STATISTICS_FLAGS_VALID_BYTES_XMIT => "NDIS_STATISTICS_FLAGS_VALID_BYTES_XMIT",
        "NDIS_STATISTICS_FLAGS_VALID_XMIT_ERROR": NDIS_STATISTICS_FLAGS_VALID_XMIT_ERROR => "NDIS_STATISTICS_FLAGS_VALID_XMIT_ERROR",
        "NDIS_STATISTICS_FLAGS_VALID_XMIT_DISCARDS": NDIS_STATISTICS_FLAGS_VALID_XMIT_DISCARDS => "NDIS_STATISTICS_FLAGS_VALID_XMIT_DISCARDS",
        "NDIS_MAC_OPTION_COPY_LOOKAHEAD_DATA": NDIS_MAC_OPTION_COPY_LOOKAHEAD_DATA => "NDIS_MAC_OPTION_COPY_LOOKAHEAD_DATA",
        "NDIS_MAC_OPTION_TRANSFERS_NOT_PEND": NDIS_MAC_OPTION_TRANSFERS_NOT_PEND => "NDIS_MAC_OPTION_TRANSFERS_NOT_PEND",
        "NDIS_MAC_OPTION_NO_LOOPBACK": NDIS_MAC_OPTION_NO_LOOPBACK => "NDIS_MAC_OPTION_NO_LOOPBACK",
        "NDIS_MAC_OPTION_FULL_DUPLEX": NDIS_MAC_OPTION_FULL_DUPLEX => "NDIS_MAC_OPTION_FULL_DUPLEX",
        "NDIS_PROTOCOL_ID_DEFAULT": NDIS_PROTOCOL_ID_DEFAULT => "NDIS_PROTOCOL_ID_DEFAULT",
        "NdisMedium802_3": NDIS_MEDIUM_802_3 => "NdisMedium802_3",
        "NdisPhysicalMediumUnspecified": NDIS_PHYSICAL_MEDIUM_UNSPECIFIED => "NdisPhysicalMediumUnspecified",
        "MediaConnectStateConnected": MEDIA_CONNECT_STATE_CONNECTED => "MediaConnectStateConnected",
        "MediaConnectStateDisconnected": MEDIA_CONNECT_STATE_DISCONNECTED => "MediaConnectStateDisconnected",
        "MediaDuplexStateFull": MEDIA_DUPLEX_STATE_FULL => "MediaDuplexStateFull",
        "NET_IF_ACCESS_BROADCAST": NET_IF_ACCESS_BROADCAST => "NET_IF_ACCESS_BROADCAST",
        "NET_IF_DIRECTION_SENDRECEIVE": NET_IF_DIRECTION_SENDRECEIVE => "NET_IF_DIRECTION_SENDRECEIVE",
        "NET_IF_CONNECTION_DEDICATED": NET_IF_CONNECTION_DEDICATED => "NET_IF_CONNECTION_DEDICATED",
        "IF_TYPE_ETHERNET_CSMACD": IF_TYPE_ETHERNET_CSMACD => "IF_TYPE_ETHERNET_CSMACD",
        "NdisPauseFunctionsUnsupported": NDIS_PAUSE_FUNCTIONS_UNSUPPORTED => "NdisPauseFunctionsUnsupported",
        "NDIS_STATUS_PAUSED": NDIS_STATUS_PAUSED as u32 => "(ULONG)STATUS_NDIS_PAUSED",
        "NDIS_STATUS_MEDIA_DISCONNECTED": NDIS_STATUS_MEDIA_DISCONNECTED as u32 => "(ULONG)STATUS_NDIS_MEDIA_DISCONNECTED",
        "NDIS_STATUS_LOW_POWER_STATE": NDIS_STATUS_LOW_POWER_STATE as u32 => "(ULONG)STATUS_NDIS_LOW_POWER_STATE",
        "NDIS_STATUS_INDICATION_REQUIRED": NDIS_STATUS_INDICATION_REQUIRED as u32 => "(ULONG)STATUS_NDIS_INDICATION_REQUIRED",
        // userio: handles, device control, device interfaces, MDLs, cancel-safe queues.
        "IRP_MJ_CLEANUP": IRP_MJ_CLEANUP => "IRP_MJ_CLEANUP",
        "IRP_MN_QUERY_INTERFACE": IRP_MN_QUERY_INTERFACE => "IRP_MN_QUERY_INTERFACE",
        "FILE_OBJECT.DeviceObject": std::mem::offset_of!(FileObject, device_object) => "offsetof(FILE_OBJECT, DeviceObject)",
        "FILE_OBJECT.FsContext": std::mem::offset_of!(FileObject, fs_context) => "offsetof(FILE_OBJECT, FsContext)",
        "FILE_OBJECT.FsContext2": std::mem::offset_of!(FileObject, fs_context2) => "offsetof(FILE_OBJECT, FsContext2)",
        "Parameters.DeviceIoControl.OutputBufferLength": DEVICE_IO_CONTROL_OUTPUT_LENGTH => "offsetof(IO_STACK_LOCATION, Parameters.DeviceIoControl.OutputBufferLength) - offsetof(IO_STACK_LOCATION, Parameters)",
        "Parameters.DeviceIoControl.InputBufferLength": DEVICE_IO_CONTROL_INPUT_LENGTH => "offsetof(IO_STACK_LOCATION, Parameters.DeviceIoControl.InputBufferLength) - offsetof(IO_STACK_LOCATION, Parameters)",
        "Parameters.DeviceIoControl.IoControlCode": DEVICE_IO_CONTROL_CODE => "offsetof(IO_STACK_LOCATION, Parameters.DeviceIoControl.IoControlCode) - offsetof(IO_STACK_LOCATION, Parameters)",
        "Parameters.QueryInterface.InterfaceType": QUERY_INTERFACE_TYPE => "offsetof(IO_STACK_LOCATION, Parameters.QueryInterface.InterfaceType) - offsetof(IO_STACK_LOCATION, Parameters)",
        "Parameters.QueryInterface.Size": QUERY_INTERFACE_SIZE => "offsetof(IO_STACK_LOCATION, Parameters.QueryInterface.Size) - offsetof(IO_STACK_LOCATION, Parameters)",
        "Parameters.QueryInterface.Version": QUERY_INTERFACE_VERSION => "offsetof(IO_STACK_LOCATION, Parameters.QueryInterface.Version) - offsetof(IO_STACK_LOCATION, Parameters)",
        "Parameters.QueryInterface.Interface": QUERY_INTERFACE_INTERFACE => "offsetof(IO_STACK_LOCATION, Parameters.QueryInterface.Interface) - offsetof(IO_STACK_LOCATION, Parameters)",
        "Parameters.QueryInterface.InterfaceSpecificData": QUERY_INTERFACE_SPECIFIC_DATA => "offsetof(IO_STACK_LOCATION, Parameters.QueryInterface.InterfaceSpecificData) - offsetof(IO_STACK_LOCATION, Parameters)",
        "GUID size": size_of::<Guid>() => "sizeof(GUID)",
        "GUID.Data4": offset_of!(Guid, data4) => "offsetof(GUID, Data4)",
        "MDL.Size": offset_of!(Mdl, size) => "offsetof(MDL, Size)",
        "MDL.Process": offset_of!(Mdl, process) => "offsetof(MDL, Process)",
        "MDL_PAGES_LOCKED": MDL_PAGES_LOCKED => "MDL_PAGES_LOCKED",
        "IO_CSQ size": size_of::<IoCsq>() => "sizeof(IO_CSQ)",
        "IO_CSQ.CsqInsertIrp": offset_of!(IoCsq, csq_insert_irp) => "offsetof(IO_CSQ, CsqInsertIrp)",
        "IO_CSQ.CsqRemoveIrp": offset_of!(IoCsq, csq_remove_irp) => "offsetof(IO_CSQ, CsqRemoveIrp)",
        "IO_CSQ.CsqPeekNextIrp": offset_of!(IoCsq, csq_peek_next_irp) => "offsetof(IO_CSQ, CsqPeekNextIrp)",
        "IO_CSQ.CsqAcquireLock": offset_of!(IoCsq, csq_acquire_lock) => "offsetof(IO_CSQ, CsqAcquireLock)",
        "IO_CSQ.CsqReleaseLock": offset_of!(IoCsq, csq_release_lock) => "offsetof(IO_CSQ, CsqReleaseLock)",
        "IO_CSQ.CsqCompleteCanceledIrp": offset_of!(IoCsq, csq_complete_canceled_irp) => "offsetof(IO_CSQ, CsqCompleteCanceledIrp)",
        "IO_CSQ.ReservePointer": offset_of!(IoCsq, reserve_pointer) => "offsetof(IO_CSQ, ReservePointer)",
        "IO_CSQ_IRP_CONTEXT size": size_of::<IoCsqIrpContext>() => "sizeof(IO_CSQ_IRP_CONTEXT)",
        "IO_CSQ_IRP_CONTEXT.Irp": offset_of!(IoCsqIrpContext, irp) => "offsetof(IO_CSQ_IRP_CONTEXT, Irp)",
        "IO_CSQ_IRP_CONTEXT.Csq": offset_of!(IoCsqIrpContext, csq) => "offsetof(IO_CSQ_IRP_CONTEXT, Csq)",
        "EVENT_MODIFY_STATE": EVENT_MODIFY_STATE => "EVENT_MODIFY_STATE",
        "UserMode": USER_MODE => "UserMode",
        "DelayedWorkQueue": DELAYED_WORK_QUEUE => "DelayedWorkQueue",
        "ExceptionContinueSearch": xenpv_ddk::personality::EXCEPTION_CONTINUE_SEARCH => "ExceptionContinueSearch",
        // Bus drivers (xenpv_ddk::bus): PnP requests a PDO answers.
        "DEVICE_RELATIONS size": size_of::<DeviceRelations>() => "sizeof(DEVICE_RELATIONS)",
        "DEVICE_RELATIONS.Objects": offset_of!(DeviceRelations, objects) => "offsetof(DEVICE_RELATIONS, Objects)",
        "DEVICE_CAPABILITIES size": size_of::<DeviceCapabilities>() => "sizeof(DEVICE_CAPABILITIES)",
        "DEVICE_CAPABILITIES.Address": offset_of!(DeviceCapabilities, address) => "offsetof(DEVICE_CAPABILITIES, Address)",
        "DEVICE_CAPABILITIES.UINumber": offset_of!(DeviceCapabilities, ui_number) => "offsetof(DEVICE_CAPABILITIES, UINumber)",
        "DEVICE_CAPABILITIES.DeviceState": offset_of!(DeviceCapabilities, device_state) => "offsetof(DEVICE_CAPABILITIES, DeviceState)",
        "Parameters.QueryDeviceRelations.Type": offset_of!(IoStackLocation, parameters) => "offsetof(IO_STACK_LOCATION, Parameters.QueryDeviceRelations.Type)",
        "Parameters.QueryId.IdType": offset_of!(IoStackLocation, parameters) => "offsetof(IO_STACK_LOCATION, Parameters.QueryId.IdType)",
        "Parameters.QueryDeviceText.DeviceTextType": offset_of!(IoStackLocation, parameters) => "offsetof(IO_STACK_LOCATION, Parameters.QueryDeviceText.DeviceTextType)",
        "Parameters.DeviceCapabilities.Capabilities": offset_of!(IoStackLocation, parameters) => "offsetof(IO_STACK_LOCATION, Parameters.DeviceCapabilities.Capabilities)",
        "Parameters.QueryInterface.InterfaceType": offset_of!(IoStackLocation, parameters) => "offsetof(IO_STACK_LOCATION, Parameters.QueryInterface.InterfaceType)",
        "Parameters.QueryInterface.Size": offset_of!(IoStackLocation, parameters) + 8 => "offsetof(IO_STACK_LOCATION, Parameters.QueryInterface.Size)",
        "Parameters.QueryInterface.Version": offset_of!(IoStackLocation, parameters) + 10 => "offsetof(IO_STACK_LOCATION, Parameters.QueryInterface.Version)",
        "Parameters.QueryInterface.Interface": offset_of!(IoStackLocation, parameters) + 16 => "offsetof(IO_STACK_LOCATION, Parameters.QueryInterface.Interface)",
        "IRP_MN_QUERY_RESOURCES": IRP_MN_QUERY_RESOURCES => "IRP_MN_QUERY_RESOURCES",
        "IRP_MN_QUERY_RESOURCE_REQUIREMENTS": IRP_MN_QUERY_RESOURCE_REQUIREMENTS => "IRP_MN_QUERY_RESOURCE_REQUIREMENTS",
        "IRP_MN_QUERY_DEVICE_TEXT": IRP_MN_QUERY_DEVICE_TEXT => "IRP_MN_QUERY_DEVICE_TEXT",
        "IRP_MN_QUERY_ID": IRP_MN_QUERY_ID => "IRP_MN_QUERY_ID",
        "IRP_MN_QUERY_BUS_INFORMATION": IRP_MN_QUERY_BUS_INFORMATION => "IRP_MN_QUERY_BUS_INFORMATION",
        "IRP_MN_SET_POWER": IRP_MN_SET_POWER => "IRP_MN_SET_POWER",
        "IRP_MN_QUERY_POWER": IRP_MN_QUERY_POWER => "IRP_MN_QUERY_POWER",
        "BusRelations": BUS_RELATIONS => "BusRelations",
        "TargetDeviceRelation": TARGET_DEVICE_RELATION => "TargetDeviceRelation",
        "BusQueryDeviceID": BUS_QUERY_DEVICE_ID => "BusQueryDeviceID",
        "BusQueryHardwareIDs": BUS_QUERY_HARDWARE_IDS => "BusQueryHardwareIDs",
        "BusQueryCompatibleIDs": BUS_QUERY_COMPATIBLE_IDS => "BusQueryCompatibleIDs",
        "BusQueryInstanceID": BUS_QUERY_INSTANCE_ID => "BusQueryInstanceID",
        "DeviceTextDescription": DEVICE_TEXT_DESCRIPTION => "DeviceTextDescription",
        "FILE_AUTOGENERATED_DEVICE_NAME": FILE_AUTOGENERATED_DEVICE_NAME => "FILE_AUTOGENERATED_DEVICE_NAME",
        "PowerDeviceD0": POWER_DEVICE_D0 => "PowerDeviceD0",
        "PowerDeviceD3": POWER_DEVICE_D3 => "PowerDeviceD3",
        "PowerSystemWorking": POWER_SYSTEM_WORKING => "PowerSystemWorking",
        // XENBUS's suspend rendezvous counts the processors of every group.
        "ALL_PROCESSOR_GROUPS": xenpv_ddk::bus::ALL_PROCESSOR_GROUPS => "ALL_PROCESSOR_GROUPS",
        // Registry (xenpv_ddk::registry).
        "OBJECT_ATTRIBUTES size": size_of::<ObjectAttributes>() => "sizeof(OBJECT_ATTRIBUTES)",
        "OBJECT_ATTRIBUTES.ObjectName": offset_of!(ObjectAttributes, object_name) => "offsetof(OBJECT_ATTRIBUTES, ObjectName)",
        "OBJECT_ATTRIBUTES.Attributes": offset_of!(ObjectAttributes, attributes) => "offsetof(OBJECT_ATTRIBUTES, Attributes)",
        "OBJ_CASE_INSENSITIVE": OBJ_CASE_INSENSITIVE => "OBJ_CASE_INSENSITIVE",
        "OBJ_KERNEL_HANDLE": OBJ_KERNEL_HANDLE => "OBJ_KERNEL_HANDLE",
        "KEY_READ": KEY_READ => "KEY_READ",
        "KeyValuePartialInformation": KEY_VALUE_PARTIAL_INFORMATION => "KeyValuePartialInformation",
        "KEY_VALUE_PARTIAL_INFORMATION.Data": KEY_VALUE_PARTIAL_DATA_OFFSET => "offsetof(KEY_VALUE_PARTIAL_INFORMATION, Data)",
        "REG_DWORD": REG_DWORD => "REG_DWORD",
        // NTSTATUS values, compared as 32-bit patterns.
        "STATUS_SUCCESS": STATUS_SUCCESS as u32 => "(ULONG)STATUS_SUCCESS",
        "STATUS_PENDING": STATUS_PENDING as u32 => "(ULONG)STATUS_PENDING",
        "STATUS_UNSUCCESSFUL": STATUS_UNSUCCESSFUL as u32 => "(ULONG)STATUS_UNSUCCESSFUL",
        "STATUS_NO_SUCH_DEVICE": STATUS_NO_SUCH_DEVICE as u32 => "(ULONG)STATUS_NO_SUCH_DEVICE",
        "STATUS_MORE_PROCESSING_REQUIRED": STATUS_MORE_PROCESSING_REQUIRED as u32 => "(ULONG)STATUS_MORE_PROCESSING_REQUIRED",
        "STATUS_DELETE_PENDING": STATUS_DELETE_PENDING as u32 => "(ULONG)STATUS_DELETE_PENDING",
        "STATUS_INSUFFICIENT_RESOURCES": STATUS_INSUFFICIENT_RESOURCES as u32 => "(ULONG)STATUS_INSUFFICIENT_RESOURCES",
        "STATUS_DEVICE_NOT_READY": STATUS_DEVICE_NOT_READY as u32 => "(ULONG)STATUS_DEVICE_NOT_READY",
        "STATUS_NOT_SUPPORTED": STATUS_NOT_SUPPORTED as u32 => "(ULONG)STATUS_NOT_SUPPORTED",
        "STATUS_DEVICE_CONFIGURATION_ERROR": STATUS_DEVICE_CONFIGURATION_ERROR as u32 => "(ULONG)STATUS_DEVICE_CONFIGURATION_ERROR",
        "STATUS_BUFFER_OVERFLOW": STATUS_BUFFER_OVERFLOW as u32 => "(ULONG)STATUS_BUFFER_OVERFLOW",
        "STATUS_DEVICE_BUSY": STATUS_DEVICE_BUSY as u32 => "(ULONG)STATUS_DEVICE_BUSY",
        "STATUS_NOT_IMPLEMENTED": STATUS_NOT_IMPLEMENTED as u32 => "(ULONG)STATUS_NOT_IMPLEMENTED",
        "STATUS_INVALID_HANDLE": STATUS_INVALID_HANDLE as u32 => "(ULONG)STATUS_INVALID_HANDLE",
        "STATUS_INVALID_PARAMETER": STATUS_INVALID_PARAMETER as u32 => "(ULONG)STATUS_INVALID_PARAMETER",
        "STATUS_INVALID_DEVICE_REQUEST": STATUS_INVALID_DEVICE_REQUEST as u32 => "(ULONG)STATUS_INVALID_DEVICE_REQUEST",
        "STATUS_ACCESS_DENIED": STATUS_ACCESS_DENIED as u32 => "(ULONG)STATUS_ACCESS_DENIED",
        "STATUS_BUFFER_TOO_SMALL": STATUS_BUFFER_TOO_SMALL as u32 => "(ULONG)STATUS_BUFFER_TOO_SMALL",
        "STATUS_OBJECT_NAME_NOT_FOUND": STATUS_OBJECT_NAME_NOT_FOUND as u32 => "(ULONG)STATUS_OBJECT_NAME_NOT_FOUND",
        "STATUS_OBJECT_NAME_COLLISION": STATUS_OBJECT_NAME_COLLISION as u32 => "(ULONG)STATUS_OBJECT_NAME_COLLISION",
        "STATUS_QUOTA_EXCEEDED": STATUS_QUOTA_EXCEEDED as u32 => "(ULONG)STATUS_QUOTA_EXCEEDED",
        "STATUS_DIRECTORY_NOT_EMPTY": STATUS_DIRECTORY_NOT_EMPTY as u32 => "(ULONG)STATUS_DIRECTORY_NOT_EMPTY",
        "STATUS_CANCELLED": STATUS_CANCELLED as u32 => "(ULONG)STATUS_CANCELLED",
        "STATUS_IO_DEVICE_ERROR": STATUS_IO_DEVICE_ERROR as u32 => "(ULONG)STATUS_IO_DEVICE_ERROR",
        "STATUS_RETRY": STATUS_RETRY as u32 => "(ULONG)STATUS_RETRY",
        "STATUS_NOT_FOUND": STATUS_NOT_FOUND as u32 => "(ULONG)STATUS_NOT_FOUND",
    ]
}

/// The C source: one `const unsigned long long` per probe, named by its index. ntddndis.h is read
/// with NDIS 6.30 enabled; its NDIS 6.30 tail includes ws2ipdef.h, which does not compile beside
/// the kernel headers, so that header is skipped and the one type the tail needs from it
/// (SOCKADDR_INET, used only by NDK structures nothing here measures) is declared opaque.
fn c_source(table: &[Probe]) -> String {
    let mut source = String::from("#include <ntddk.h>\n#define NDIS_SUPPORT_NDIS6 1\n#define NDIS_SUPPORT_NDIS61 1\n#define NDIS_SUPPORT_NDIS620 1\n#define NDIS_SUPPORT_NDIS630 1\n#define _WS2IPDEF_\ntypedef struct { unsigned char opaque[28]; } SOCKADDR_INET;\n#include <ntddndis.h>\n#include <srb.h>\n#include <stddef.h>\n");
    for (index, probe) in table.iter().enumerate() {
        source += &format!(
            "const unsigned long long xenpv_probe_{index} = (unsigned long long)({});\n",
            probe.c
        );
    }
    source
}

/// Compiles `source` for x64 Windows and returns each `xenpv_probe_<index>` value.
fn measure(source: &str, dir: &Path) -> Result<Vec<(usize, u64)>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let c_file = dir.join("probe.c");
    let o_file = dir.join("probe.o");
    std::fs::write(&c_file, source).map_err(|e| format!("{}: {e}", c_file.display()))?;
    let output = Command::new(GCC)
        .args(["-c", "-O0", "-I", DDK_INCLUDE])
        .arg(&c_file)
        .arg("-o")
        .arg(&o_file)
        .output()
        .map_err(|e| {
            format!("cannot run {GCC} ({e}); install gcc-mingw-w64-x86-64 and mingw-w64-x86-64-dev")
        })?;
    if !output.status.success() {
        return Err(format!(
            "{GCC} failed on {}:\n{}",
            c_file.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let bytes = std::fs::read(&o_file).map_err(|e| format!("{}: {e}", o_file.display()))?;
    let file = object::File::parse(&*bytes).map_err(|e| format!("probe.o: {e}"))?;
    let mut values = Vec::new();
    for symbol in file.symbols() {
        let Some(index) = symbol
            .name()
            .ok()
            .and_then(|n| n.strip_prefix("xenpv_probe_"))
        else {
            continue;
        };
        let index: usize = index.parse().map_err(|e| format!("{index}: {e}"))?;
        let section = symbol
            .section_index()
            .and_then(|i| file.section_by_index(i).ok())
            .ok_or_else(|| format!("probe {index} has no section"))?;
        let data = section.data().map_err(|e| format!("{e}"))?;
        let start = (symbol.address() - section.address()) as usize;
        let value = data
            .get(start..start + 8)
            .ok_or_else(|| format!("probe {index} lies outside its section"))?;
        values.push((index, u64::from_le_bytes(value.try_into().unwrap())));
    }
    Ok(values)
}

#[test]
fn every_size_offset_and_constant_matches_the_kernel_headers() {
    let table = table();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ddk-conformance");
    let values = measure(&c_source(&table), &dir).unwrap_or_else(|e| panic!("{e}"));
    // Every probe must have been measured, or a silently empty object file would pass.
    assert_eq!(values.len(), table.len(), "probes measured");
    let problems: Vec<String> = values
        .iter()
        .filter(|(index, value)| table[*index].rust != *value)
        .map(|(index, value)| {
            let probe = &table[*index];
            format!(
                "{}: xenpv-ddk has {:#x}, the headers say {value:#x}",
                probe.name, probe.rust
            )
        })
        .collect();
    assert!(
        problems.is_empty(),
        "{} disagreement(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

#[test]
fn the_measurement_notices_a_wrong_value() {
    // Guard against a measurement that agrees with anything: a deliberately wrong expression must
    // come back different from the Rust value it is paired with.
    let table = probes!["IRP size off by 8": size_of::<Irp>() => "sizeof(IRP) + 8"];
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ddk-conformance-wrong");
    let values = measure(&c_source(&table), &dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(values, [(0, size_of::<Irp>() as u64 + 8)]);
}
