//! Miniport registration and adapter attributes: `NDIS_MINIPORT_DRIVER_CHARACTERISTICS`, the
//! registration / general / offload attribute blocks of `NdisMSetMiniportAttributes`, the
//! offload capability structures (`NDIS_OFFLOAD` and its parts), `NDIS_LINK_STATE` and
//! `NDIS_STATUS_INDICATION`, and the handler types NDIS calls.
//!
//! Sizes and offsets for x64: ndis.h / ntddndis.h of the Windows 10 SDK 10.0.19041 (NDIS 6.30
//! revisions). `NDIS_OFFLOAD`, `NDIS_LINK_STATE` and their parts are measured by
//! `tests/conformance.rs` against mingw-w64 `ntddndis.h`.

use core::ffi::c_void;
use core::mem::{offset_of, size_of};

use super::nbl::NetBufferList;
use super::oid::{NdisOidRequest, NdisReceiveScaleCapabilities};
use super::{NdisHandle, NdisStatus, ObjectHeader};
use crate::object::DriverObject;

/// `MINIPORT_INITIALIZE`.
pub type MiniportInitialize = unsafe extern "system" fn(
    adapter_handle: NdisHandle,
    driver_context: NdisHandle,
    init_parameters: *mut c_void,
) -> NdisStatus;
/// `MINIPORT_HALT`.
pub type MiniportHalt = unsafe extern "system" fn(adapter_context: NdisHandle, action: u32);
/// `MINIPORT_UNLOAD`.
pub type MiniportUnload = unsafe extern "system" fn(driver: *mut DriverObject);
/// `MINIPORT_PAUSE` / `MINIPORT_RESTART` (their parameter blocks are not read).
pub type MiniportPauseRestart =
    unsafe extern "system" fn(adapter_context: NdisHandle, parameters: *mut c_void) -> NdisStatus;
/// `MINIPORT_OID_REQUEST`.
pub type MiniportOidRequest = unsafe extern "system" fn(
    adapter_context: NdisHandle,
    request: *mut NdisOidRequest,
) -> NdisStatus;
/// `MINIPORT_SEND_NET_BUFFER_LISTS`.
pub type MiniportSendNetBufferLists = unsafe extern "system" fn(
    adapter_context: NdisHandle,
    nbls: *mut NetBufferList,
    port: u32,
    send_flags: u32,
);
/// `MINIPORT_RETURN_NET_BUFFER_LISTS`.
pub type MiniportReturnNetBufferLists =
    unsafe extern "system" fn(adapter_context: NdisHandle, nbls: *mut NetBufferList, flags: u32);
/// `MINIPORT_CANCEL_SEND`.
pub type MiniportCancelSend =
    unsafe extern "system" fn(adapter_context: NdisHandle, id: *mut c_void);
/// `MINIPORT_DEVICE_PNP_EVENT_NOTIFY` (the event block is not read beyond its code).
pub type MiniportDevicePnpEventNotify =
    unsafe extern "system" fn(adapter_context: NdisHandle, event: *mut c_void);
/// `MINIPORT_SHUTDOWN`.
pub type MiniportShutdown = unsafe extern "system" fn(adapter_context: NdisHandle, action: u32);
/// `MINIPORT_CANCEL_OID_REQUEST`.
pub type MiniportCancelOidRequest =
    unsafe extern "system" fn(adapter_context: NdisHandle, request_id: *mut c_void);
/// `MINIPORT_CHECK_FOR_HANG` / `MINIPORT_RESET` are optional and left null.
pub type MiniportOptional = *const c_void;

/// `NDIS_MINIPORT_DRIVER_CHARACTERISTICS`, revision 2 (NDIS 6.1 and later).
#[repr(C)]
pub struct MiniportDriverCharacteristics {
    pub header: ObjectHeader,
    pub major_ndis_version: u8,
    pub minor_ndis_version: u8,
    pub major_driver_version: u8,
    pub minor_driver_version: u8,
    pub flags: u32,
    pub set_options_handler: MiniportOptional,
    pub initialize_handler_ex: Option<MiniportInitialize>,
    pub halt_handler_ex: Option<MiniportHalt>,
    pub unload_handler: Option<MiniportUnload>,
    pub pause_handler: Option<MiniportPauseRestart>,
    pub restart_handler: Option<MiniportPauseRestart>,
    pub oid_request_handler: Option<MiniportOidRequest>,
    pub send_net_buffer_lists_handler: Option<MiniportSendNetBufferLists>,
    pub return_net_buffer_lists_handler: Option<MiniportReturnNetBufferLists>,
    pub cancel_send_handler: Option<MiniportCancelSend>,
    pub check_for_hang_handler_ex: MiniportOptional,
    pub reset_handler_ex: MiniportOptional,
    pub device_pnp_event_notify_handler: Option<MiniportDevicePnpEventNotify>,
    pub shutdown_handler_ex: Option<MiniportShutdown>,
    pub cancel_oid_request_handler: Option<MiniportCancelOidRequest>,
    pub direct_oid_request_handler: MiniportOptional,
    pub cancel_direct_oid_request_handler: MiniportOptional,
}

/// `NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2`.
pub const NDIS_SIZEOF_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2: usize = 0x98;
pub const NDIS_MINIPORT_DRIVER_CHARACTERISTICS_REVISION_2: u8 = 2;
const _: () = assert!(size_of::<MiniportDriverCharacteristics>() == 0x98);
const _: () = assert!(offset_of!(MiniportDriverCharacteristics, flags) == 0x8);
const _: () = assert!(offset_of!(MiniportDriverCharacteristics, initialize_handler_ex) == 0x18);
const _: () = assert!(offset_of!(MiniportDriverCharacteristics, oid_request_handler) == 0x40);
const _: () =
    assert!(offset_of!(MiniportDriverCharacteristics, send_net_buffer_lists_handler) == 0x48);
const _: () = assert!(
    offset_of!(
        MiniportDriverCharacteristics,
        device_pnp_event_notify_handler
    ) == 0x70
);
const _: () =
    assert!(offset_of!(MiniportDriverCharacteristics, cancel_oid_request_handler) == 0x80);

/// `NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES`, revision 2 (NDIS 6.30).
#[repr(C)]
pub struct AdapterRegistrationAttributes {
    pub header: ObjectHeader,
    pub miniport_adapter_context: NdisHandle,
    pub attribute_flags: u32,
    pub check_for_hang_time_in_seconds: u32,
    pub interface_type: u32,
}

pub const NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2: u8 = 2;
/// `NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2` (through InterfaceType).
pub const NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2: usize = 0x1c;
const _: () = assert!(offset_of!(AdapterRegistrationAttributes, miniport_adapter_context) == 0x8);
const _: () = assert!(offset_of!(AdapterRegistrationAttributes, interface_type) == 0x18);

// NDIS_MINIPORT_ATTRIBUTES_* (ndis.h).
pub const NDIS_MINIPORT_ATTRIBUTES_HARDWARE_DEVICE: u32 = 0x0000_0001;
pub const NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK: u32 = 0x0000_0004;
pub const NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND: u32 = 0x0000_0020;
/// `NDIS_INTERFACE_TYPE::NdisInterfacePNPBus` (= `INTERFACE_TYPE::PNPBus`, 15).
pub const NDIS_INTERFACE_PNP_BUS: u32 = 15;

/// `NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES`, revision 2 (NDIS 6.20 and later).
#[repr(C)]
pub struct AdapterGeneralAttributes {
    pub header: ObjectHeader,
    pub flags: u32,
    pub media_type: u32,
    pub physical_medium_type: u32,
    pub mtu_size: u32,
    pub max_xmit_link_speed: u64,
    pub xmit_link_speed: u64,
    pub max_rcv_link_speed: u64,
    pub rcv_link_speed: u64,
    pub media_connect_state: u32,
    pub media_duplex_state: u32,
    pub lookahead_size: u32,
    pub power_management_capabilities: *mut c_void,
    pub mac_options: u32,
    pub supported_packet_filters: u32,
    pub max_multicast_list_size: u32,
    pub mac_address_length: u16,
    pub permanent_mac_address: [u8; 32],
    pub current_mac_address: [u8; 32],
    pub recv_scale_capabilities: *mut NdisReceiveScaleCapabilities,
    pub access_type: u32,
    pub direction_type: u32,
    pub connection_type: u32,
    pub if_type: u16,
    pub if_connector_present: u8,
    pub supported_statistics: u32,
    pub supported_pause_functions: u32,
    pub data_back_fill_size: u32,
    pub context_back_fill_size: u32,
    pub supported_oid_list: *const u32,
    pub supported_oid_list_length: u32,
    pub auto_negotiation_flags: u32,
    pub power_management_capabilities_ex: *mut c_void,
}

pub const NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2: u8 = 2;
const _: () = assert!(size_of::<AdapterGeneralAttributes>() == 0xe0);
const _: () = assert!(offset_of!(AdapterGeneralAttributes, mtu_size) == 0x10);
const _: () = assert!(offset_of!(AdapterGeneralAttributes, max_xmit_link_speed) == 0x18);
const _: () = assert!(offset_of!(AdapterGeneralAttributes, media_connect_state) == 0x38);
const _: () = assert!(offset_of!(AdapterGeneralAttributes, power_management_capabilities) == 0x48);
const _: () = assert!(offset_of!(AdapterGeneralAttributes, mac_address_length) == 0x5c);
const _: () = assert!(offset_of!(AdapterGeneralAttributes, permanent_mac_address) == 0x5e);
const _: () = assert!(offset_of!(AdapterGeneralAttributes, current_mac_address) == 0x7e);
const _: () = assert!(offset_of!(AdapterGeneralAttributes, recv_scale_capabilities) == 0xa0);
const _: () = assert!(offset_of!(AdapterGeneralAttributes, if_type) == 0xb4);
const _: () = assert!(offset_of!(AdapterGeneralAttributes, supported_statistics) == 0xb8);
const _: () = assert!(offset_of!(AdapterGeneralAttributes, supported_oid_list) == 0xc8);
const _: () = assert!(offset_of!(AdapterGeneralAttributes, auto_negotiation_flags) == 0xd4);

// Values of the general attributes (ntddndis.h, ifdef.h).
/// `NDIS_MEDIUM::NdisMedium802_3`.
pub const NDIS_MEDIUM_802_3: u32 = 0;
/// `NDIS_PHYSICAL_MEDIUM::NdisPhysicalMediumUnspecified`.
pub const NDIS_PHYSICAL_MEDIUM_UNSPECIFIED: u32 = 0;
/// `NDIS_MEDIA_CONNECT_STATE`.
pub const MEDIA_CONNECT_STATE_UNKNOWN: u32 = 0;
pub const MEDIA_CONNECT_STATE_CONNECTED: u32 = 1;
pub const MEDIA_CONNECT_STATE_DISCONNECTED: u32 = 2;
/// `NDIS_MEDIA_DUPLEX_STATE::MediaDuplexStateFull`.
pub const MEDIA_DUPLEX_STATE_FULL: u32 = 2;
/// `NET_IF_ACCESS_BROADCAST`, `NET_IF_DIRECTION_SENDRECEIVE`, `NET_IF_CONNECTION_DEDICATED`.
pub const NET_IF_ACCESS_BROADCAST: u32 = 2;
pub const NET_IF_DIRECTION_SENDRECEIVE: u32 = 0;
pub const NET_IF_CONNECTION_DEDICATED: u32 = 1;
/// `IF_TYPE_ETHERNET_CSMACD` (ipifcons.h).
pub const IF_TYPE_ETHERNET_CSMACD: u16 = 6;
/// `NDIS_PAUSE_FUNCTIONS::NdisPauseFunctionsUnsupported`.
pub const NDIS_PAUSE_FUNCTIONS_UNSUPPORTED: u32 = 0;
/// `NDIS_LINK_STATE_XMIT_LINK_SPEED_AUTO_NEGOTIATED | NDIS_LINK_STATE_RCV_LINK_SPEED_AUTO_NEGOTIATED`.
pub const NDIS_LINK_STATE_SPEEDS_AUTO_NEGOTIATED: u32 = 0x3;
// NDIS_MAC_OPTION_* (ntddndis.h).
pub const NDIS_MAC_OPTION_COPY_LOOKAHEAD_DATA: u32 = 0x0000_0001;
pub const NDIS_MAC_OPTION_TRANSFERS_NOT_PEND: u32 = 0x0000_0004;
pub const NDIS_MAC_OPTION_NO_LOOPBACK: u32 = 0x0000_0008;
pub const NDIS_MAC_OPTION_FULL_DUPLEX: u32 = 0x0000_0010;

/// `NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES`.
#[repr(C)]
pub struct AdapterOffloadAttributes {
    pub header: ObjectHeader,
    pub default_offload_configuration: *mut NdisOffload,
    pub hardware_offload_capabilities: *mut NdisOffload,
    pub default_tcp_connection_offload_configuration: *mut c_void,
    pub tcp_connection_offload_hardware_capabilities: *mut c_void,
}

pub const NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES_REVISION_1: u8 = 1;
const _: () = assert!(size_of::<AdapterOffloadAttributes>() == 0x28);
const _: () = assert!(offset_of!(AdapterOffloadAttributes, hardware_offload_capabilities) == 0x10);

/// One direction of `NDIS_TCP_IP_CHECKSUM_OFFLOAD`: the encapsulation and a `ULONG` of 2-bit
/// fields (IPv4: IpOptions, TcpOptions, TcpChecksum, UdpChecksum, IpChecksum; IPv6:
/// IpExtensionHeaders, TcpOptions, TcpChecksum, UdpChecksum).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChecksumDirection {
    pub encapsulation: u32,
    pub bits: u32,
}

impl ChecksumDirection {
    /// Options and extension headers supported, TCP and UDP checksums as given (no IP header
    /// checksum: a Xen backend never computes one).
    pub fn new(encapsulation: u32, tcp: bool, udp: bool) -> Self {
        let on = |b: bool, shift: u32| {
            if b {
                NDIS_OFFLOAD_SUPPORTED << shift
            } else {
                0
            }
        };
        ChecksumDirection {
            encapsulation,
            bits: on(true, 0) | on(true, 2) | on(tcp, 4) | on(udp, 6),
        }
    }
}

/// `NDIS_TCP_IP_CHECKSUM_OFFLOAD`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpIpChecksumOffload {
    pub ipv4_transmit: ChecksumDirection,
    pub ipv4_receive: ChecksumDirection,
    pub ipv6_transmit: ChecksumDirection,
    pub ipv6_receive: ChecksumDirection,
}

/// `NDIS_TCP_LARGE_SEND_OFFLOAD_V1` (left unsupported: zero).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LsoV1Offload {
    pub encapsulation: u32,
    pub max_offload_size: u32,
    pub min_segment_count: u32,
    pub options: u32,
}

/// `NDIS_IPSEC_OFFLOAD_V1` (unsupported: zero).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpsecV1Offload {
    pub words: [u32; 7],
}

/// `NDIS_TCP_LARGE_SEND_OFFLOAD_V2`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LsoV2Offload {
    pub ipv4_encapsulation: u32,
    pub ipv4_max_offload_size: u32,
    pub ipv4_min_segment_count: u32,
    pub ipv6_encapsulation: u32,
    pub ipv6_max_offload_size: u32,
    pub ipv6_min_segment_count: u32,
    /// `IpExtensionHeadersSupported:2`, `TcpOptionsSupported:2`.
    pub ipv6_bits: u32,
}

/// `NDIS_IPSEC_OFFLOAD_V2` (unsupported: zero).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpsecV2Offload {
    pub words: [u32; 8],
}

/// `NDIS_TCP_RECV_SEG_COALESCE_OFFLOAD`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RscOffload {
    pub ipv4_enabled: u8,
    pub ipv6_enabled: u8,
}

/// `NDIS_OFFLOAD`, revision 3 (NDIS 6.30).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NdisOffload {
    pub header: ObjectHeader,
    pub checksum: TcpIpChecksumOffload,
    pub lso_v1: LsoV1Offload,
    pub ipsec_v1: IpsecV1Offload,
    pub lso_v2: LsoV2Offload,
    pub flags: u32,
    pub ipsec_v2: IpsecV2Offload,
    pub rsc: RscOffload,
    /// `NDIS_ENCAPSULATED_PACKET_TASK_OFFLOAD` (unsupported: zero).
    pub encapsulated_packet_task_offload_gre: [u32; 2],
}

pub const NDIS_OFFLOAD_REVISION_3: u8 = 3;
pub const NDIS_SIZEOF_NDIS_OFFLOAD_REVISION_3: usize = size_of::<NdisOffload>();
const _: () = assert!(size_of::<NdisOffload>() == 0x9c);
const _: () = assert!(offset_of!(NdisOffload, checksum) == 0x4);
const _: () = assert!(offset_of!(NdisOffload, lso_v1) == 0x24);
const _: () = assert!(offset_of!(NdisOffload, ipsec_v1) == 0x34);
const _: () = assert!(offset_of!(NdisOffload, lso_v2) == 0x50);
const _: () = assert!(offset_of!(NdisOffload, flags) == 0x6c);
const _: () = assert!(offset_of!(NdisOffload, ipsec_v2) == 0x70);
const _: () = assert!(offset_of!(NdisOffload, rsc) == 0x90);
const _: () = assert!(offset_of!(NdisOffload, encapsulated_packet_task_offload_gre) == 0x94);

pub const NDIS_OFFLOAD_NOT_SUPPORTED: u32 = 0;
pub const NDIS_OFFLOAD_SUPPORTED: u32 = 1;
pub const NDIS_ENCAPSULATION_IEEE_802_3: u32 = 0x0000_0002;

/// `NDIS_LINK_STATE`: the payload of an `NDIS_STATUS_LINK_STATE` indication.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NdisLinkState {
    pub header: ObjectHeader,
    pub media_connect_state: u32,
    pub media_duplex_state: u32,
    pub xmit_link_speed: u64,
    pub rcv_link_speed: u64,
    pub pause_functions: u32,
    pub auto_negotiation_flags: u32,
}

pub const NDIS_LINK_STATE_REVISION_1: u8 = 1;
const _: () = assert!(size_of::<NdisLinkState>() == 0x28);
const _: () = assert!(offset_of!(NdisLinkState, xmit_link_speed) == 0x10);
const _: () = assert!(offset_of!(NdisLinkState, auto_negotiation_flags) == 0x24);

/// `NDIS_STATUS_INDICATION`.
#[repr(C)]
pub struct NdisStatusIndication {
    pub header: ObjectHeader,
    pub source_handle: NdisHandle,
    pub port_number: u32,
    pub status_code: NdisStatus,
    pub flags: u32,
    pub destination_handle: NdisHandle,
    pub request_id: *mut c_void,
    pub status_buffer: *mut c_void,
    pub status_buffer_size: u32,
    pub guid: [u8; 16],
    pub ndis_reserved: [*mut c_void; 4],
}

pub const NDIS_STATUS_INDICATION_REVISION_1: u8 = 1;
const _: () = assert!(size_of::<NdisStatusIndication>() == 0x70);
const _: () = assert!(offset_of!(NdisStatusIndication, status_code) == 0x14);
const _: () = assert!(offset_of!(NdisStatusIndication, status_buffer) == 0x30);
const _: () = assert!(offset_of!(NdisStatusIndication, status_buffer_size) == 0x38);
const _: () = assert!(offset_of!(NdisStatusIndication, guid) == 0x3c);

/// `NET_BUFFER_LIST_POOL_PARAMETERS`.
#[repr(C)]
pub struct NetBufferListPoolParameters {
    pub header: ObjectHeader,
    pub protocol_id: u8,
    pub f_allocate_net_buffer: u8,
    pub context_size: u16,
    pub pool_tag: u32,
    pub data_size: u32,
}

pub const NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1: u8 = 1;
/// `NDIS_PROTOCOL_ID_DEFAULT`.
pub const NDIS_PROTOCOL_ID_DEFAULT: u8 = 0;
const _: () = assert!(size_of::<NetBufferListPoolParameters>() == 0x10);

// Flags of the data path calls (ndis.h).
pub const NDIS_SEND_FLAGS_DISPATCH_LEVEL: u32 = 0x0000_0001;
pub const NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL: u32 = 0x0000_0001;
pub const NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL: u32 = 0x0000_0001;
pub const NDIS_RECEIVE_FLAGS_RESOURCES: u32 = 0x0000_0002;
pub const NDIS_RETURN_FLAGS_DISPATCH_LEVEL: u32 = 0x0000_0001;
/// `NDIS_DEFAULT_PORT_NUMBER`.
pub const NDIS_DEFAULT_PORT_NUMBER: u32 = 0;

/// `NDIS_DEVICE_PNP_EVENT::NdisDevicePnPEventSurpriseRemoved`.
pub const NDIS_DEVICE_PNP_EVENT_SURPRISE_REMOVED: u32 = 1;
/// `NDIS_HALT_ACTION::NdisHaltDeviceSurpriseRemoved`.
pub const NDIS_HALT_DEVICE_SURPRISE_REMOVED: u32 = 1;
