//! OID requests: `NDIS_OID_REQUEST`, the OID codes XENNET answers, and the OID payload structures
//! it reads or writes (offload parameters, RSS parameters and capabilities, statistics,
//! encapsulation).
//!
//! Sizes, offsets and values for x64: ntddndis.h and ndis.h of the Windows 10 SDK 10.0.19041;
//! everything but `NDIS_OID_REQUEST` and `NDIS_OFFLOAD_ENCAPSULATION` is measured by `tests/conformance.rs` against mingw-w64's
//! `ntddndis.h`.

use core::ffi::c_void;
use core::mem::{offset_of, size_of};

use super::{NdisHandle, ObjectHeader};

/// The `QUERY_INFORMATION` / `SET_INFORMATION` / `METHOD_INFORMATION` union of
/// `NDIS_OID_REQUEST`, as its query and set members lay it out.
#[repr(C)]
#[derive(Debug)]
pub struct OidRequestData {
    pub oid: u32,
    pub information_buffer: *mut c_void,
    pub information_buffer_length: u32,
    /// `BytesWritten` of a query, `BytesRead` of a set.
    pub bytes_written_or_read: u32,
    pub bytes_needed: u32,
    /// The rest of the METHOD member.
    _method_rest: [u32; 3],
}

/// `NDIS_OID_REQUEST` (NDIS 6.30 revision 1 layout).
#[repr(C)]
pub struct NdisOidRequest {
    pub header: ObjectHeader,
    pub request_type: u32,
    pub port_number: u32,
    pub timeout: u32,
    pub request_id: *mut c_void,
    pub request_handle: NdisHandle,
    pub data: OidRequestData,
    pub ndis_reserved: [u8; 16 * 8],
    pub miniport_reserved: [u8; 2 * 8],
    pub source_reserved: [u8; 2 * 8],
    pub supported_revision: u8,
    pub reserved1: u8,
    pub reserved2: u16,
}

const _: () = assert!(size_of::<OidRequestData>() == 0x28);
const _: () = assert!(offset_of!(OidRequestData, information_buffer) == 0x8);
const _: () = assert!(offset_of!(OidRequestData, information_buffer_length) == 0x10);
const _: () = assert!(offset_of!(OidRequestData, bytes_written_or_read) == 0x14);
const _: () = assert!(offset_of!(OidRequestData, bytes_needed) == 0x18);
const _: () = assert!(offset_of!(NdisOidRequest, request_type) == 0x4);
const _: () = assert!(offset_of!(NdisOidRequest, request_id) == 0x10);
const _: () = assert!(offset_of!(NdisOidRequest, data) == 0x20);
const _: () = assert!(offset_of!(NdisOidRequest, miniport_reserved) == 0xc8);
const _: () = assert!(offset_of!(NdisOidRequest, supported_revision) == 0xe8);
const _: () = assert!(size_of::<NdisOidRequest>() == 0xf0);

// NDIS_REQUEST_TYPE (ntddndis.h).
pub const NDIS_REQUEST_QUERY_INFORMATION: u32 = 0;
pub const NDIS_REQUEST_SET_INFORMATION: u32 = 1;
pub const NDIS_REQUEST_QUERY_STATISTICS: u32 = 2;
pub const NDIS_REQUEST_METHOD: u32 = 12;

// OIDs (ntddndis.h).
pub const OID_GEN_SUPPORTED_LIST: u32 = 0x0001_0101;
pub const OID_GEN_HARDWARE_STATUS: u32 = 0x0001_0102;
pub const OID_GEN_MEDIA_SUPPORTED: u32 = 0x0001_0103;
pub const OID_GEN_MEDIA_IN_USE: u32 = 0x0001_0104;
pub const OID_GEN_MAXIMUM_LOOKAHEAD: u32 = 0x0001_0105;
pub const OID_GEN_MAXIMUM_FRAME_SIZE: u32 = 0x0001_0106;
pub const OID_GEN_LINK_SPEED: u32 = 0x0001_0107;
pub const OID_GEN_TRANSMIT_BUFFER_SPACE: u32 = 0x0001_0108;
pub const OID_GEN_RECEIVE_BUFFER_SPACE: u32 = 0x0001_0109;
pub const OID_GEN_TRANSMIT_BLOCK_SIZE: u32 = 0x0001_010a;
pub const OID_GEN_RECEIVE_BLOCK_SIZE: u32 = 0x0001_010b;
pub const OID_GEN_VENDOR_ID: u32 = 0x0001_010c;
pub const OID_GEN_VENDOR_DESCRIPTION: u32 = 0x0001_010d;
pub const OID_GEN_CURRENT_PACKET_FILTER: u32 = 0x0001_010e;
pub const OID_GEN_CURRENT_LOOKAHEAD: u32 = 0x0001_010f;
pub const OID_GEN_DRIVER_VERSION: u32 = 0x0001_0110;
pub const OID_GEN_MAXIMUM_TOTAL_SIZE: u32 = 0x0001_0111;
pub const OID_GEN_MAC_OPTIONS: u32 = 0x0001_0113;
pub const OID_GEN_MEDIA_CONNECT_STATUS: u32 = 0x0001_0114;
pub const OID_GEN_MAXIMUM_SEND_PACKETS: u32 = 0x0001_0115;
pub const OID_GEN_VENDOR_DRIVER_VERSION: u32 = 0x0001_0116;
pub const OID_GEN_RECEIVE_SCALE_CAPABILITIES: u32 = 0x0001_0203;
pub const OID_GEN_RECEIVE_SCALE_PARAMETERS: u32 = 0x0001_0204;
pub const OID_GEN_XMIT_OK: u32 = 0x0002_0101;
pub const OID_GEN_RCV_OK: u32 = 0x0002_0102;
pub const OID_GEN_XMIT_ERROR: u32 = 0x0002_0103;
pub const OID_GEN_RCV_ERROR: u32 = 0x0002_0104;
pub const OID_GEN_RCV_NO_BUFFER: u32 = 0x0002_0105;
pub const OID_GEN_STATISTICS: u32 = 0x0002_0106;
pub const OID_802_3_PERMANENT_ADDRESS: u32 = 0x0101_0101;
pub const OID_802_3_CURRENT_ADDRESS: u32 = 0x0101_0102;
pub const OID_802_3_MULTICAST_LIST: u32 = 0x0101_0103;
pub const OID_802_3_MAXIMUM_LIST_SIZE: u32 = 0x0101_0104;
pub const OID_OFFLOAD_ENCAPSULATION: u32 = 0x0101_010a;
pub const OID_TCP_OFFLOAD_CURRENT_CONFIG: u32 = 0xfc01_020b;
pub const OID_TCP_OFFLOAD_PARAMETERS: u32 = 0xfc01_020c;
pub const OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES: u32 = 0xfc01_020d;

/// `OID_GEN_NETWORK_LAYER_ADDRESSES`: the stack's addresses on this interface (a set).
pub const OID_GEN_NETWORK_LAYER_ADDRESSES: u32 = 0x0001_0118;
/// `NDIS_PROTOCOL_ID_TCP_IP`: the `AddressType` of IPv4 entries.
pub const NDIS_PROTOCOL_ID_TCP_IP: u16 = 0x02;
/// `offsetof(NETWORK_ADDRESS_LIST, Address)`: LONG AddressCount, USHORT AddressType, then the
/// 2-byte aligned entries.
pub const NETWORK_ADDRESS_LIST_ADDRESS_OFFSET: usize = 6;
/// `offsetof(NETWORK_ADDRESS, Address)`: USHORT AddressLength, USHORT AddressType, the bytes.
pub const NETWORK_ADDRESS_ADDRESS_OFFSET: usize = 4;
/// `offsetof(NETWORK_ADDRESS_IP, in_addr)` and `sizeof(NETWORK_ADDRESS_IP)`.
pub const NETWORK_ADDRESS_IP_IN_ADDR_OFFSET: usize = 4;
pub const NETWORK_ADDRESS_LENGTH_IP: usize = 16;

// NDIS_PACKET_TYPE_* (ntddndis.h): the packet filter bits.
pub const NDIS_PACKET_TYPE_DIRECTED: u32 = 0x0000_0001;
pub const NDIS_PACKET_TYPE_MULTICAST: u32 = 0x0000_0002;
pub const NDIS_PACKET_TYPE_ALL_MULTICAST: u32 = 0x0000_0004;
pub const NDIS_PACKET_TYPE_BROADCAST: u32 = 0x0000_0008;
pub const NDIS_PACKET_TYPE_PROMISCUOUS: u32 = 0x0000_0020;

/// `NDIS_HARDWARE_STATUS::NdisHardwareStatusReady`.
pub const NDIS_HARDWARE_STATUS_READY: u32 = 0;

/// `NDIS_OFFLOAD_PARAMETERS`, revision 3 (NDIS 6.30).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NdisOffloadParameters {
    pub header: ObjectHeader,
    pub ipv4_checksum: u8,
    pub tcp_ipv4_checksum: u8,
    pub udp_ipv4_checksum: u8,
    pub tcp_ipv6_checksum: u8,
    pub udp_ipv6_checksum: u8,
    pub lso_v1: u8,
    pub ipsec_v1: u8,
    pub lso_v2_ipv4: u8,
    pub lso_v2_ipv6: u8,
    pub tcp_connection_ipv4: u8,
    pub tcp_connection_ipv6: u8,
    pub flags: u32,
    pub ipsec_v2: u8,
    pub ipsec_v2_ipv4: u8,
    pub rsc_ipv4: u8,
    pub rsc_ipv6: u8,
    pub encapsulated_packet_task_offload: u8,
    pub encapsulation_types: u8,
}

const _: () = assert!(offset_of!(NdisOffloadParameters, flags) == 0x10);
const _: () = assert!(offset_of!(NdisOffloadParameters, rsc_ipv4) == 0x16);
const _: () = assert!(size_of::<NdisOffloadParameters>() == 0x1c);
/// `NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_1` (through Flags): the oldest layout NDIS sends.
pub const NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_1: usize = 0x14;
/// `NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_2` (through IPsecV2IPv4).
pub const NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_2: usize = 0x16;

// NDIS_OFFLOAD_PARAMETERS values (ntddndis.h).
pub const NDIS_OFFLOAD_PARAMETERS_NO_CHANGE: u8 = 0;
pub const NDIS_OFFLOAD_PARAMETERS_TX_RX_DISABLED: u8 = 1;
pub const NDIS_OFFLOAD_PARAMETERS_TX_ENABLED_RX_DISABLED: u8 = 2;
pub const NDIS_OFFLOAD_PARAMETERS_RX_ENABLED_TX_DISABLED: u8 = 3;
pub const NDIS_OFFLOAD_PARAMETERS_TX_RX_ENABLED: u8 = 4;
pub const NDIS_OFFLOAD_PARAMETERS_LSOV2_DISABLED: u8 = 1;
pub const NDIS_OFFLOAD_PARAMETERS_LSOV2_ENABLED: u8 = 2;
pub const NDIS_OFFLOAD_PARAMETERS_RSC_DISABLED: u8 = 1;
pub const NDIS_OFFLOAD_PARAMETERS_RSC_ENABLED: u8 = 2;

/// `NDIS_OFFLOAD_ENCAPSULATION`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NdisOffloadEncapsulation {
    pub header: ObjectHeader,
    pub ipv4_enabled: u32,
    pub ipv4_encapsulation_type: u32,
    pub ipv4_header_size: u32,
    pub ipv6_enabled: u32,
    pub ipv6_encapsulation_type: u32,
    pub ipv6_header_size: u32,
}

const _: () = assert!(size_of::<NdisOffloadEncapsulation>() == 0x1c);
pub const NDIS_OFFLOAD_ENCAPSULATION_REVISION_1: u8 = 1;
pub const NDIS_OFFLOAD_SET_NO_CHANGE: u32 = 0;
pub const NDIS_OFFLOAD_SET_ON: u32 = 1;
pub const NDIS_OFFLOAD_SET_OFF: u32 = 2;

/// `NDIS_RECEIVE_SCALE_CAPABILITIES`, revision 2 (NDIS 6.30).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NdisReceiveScaleCapabilities {
    pub header: ObjectHeader,
    pub capabilities_flags: u32,
    pub number_of_interrupt_messages: u32,
    pub number_of_receive_queues: u32,
    pub number_of_indirection_table_entries: u16,
}

const _: () = assert!(size_of::<NdisReceiveScaleCapabilities>() == 0x14);
pub const NDIS_RECEIVE_SCALE_CAPABILITIES_REVISION_2: u8 = 2;
// NDIS_RSS_CAPS_* (ntddndis.h).
pub const NDIS_RSS_CAPS_CLASSIFICATION_AT_ISR: u32 = 0x0200_0000;
pub const NDIS_RSS_CAPS_CLASSIFICATION_AT_DPC: u32 = 0x0400_0000;
pub const NDIS_RSS_CAPS_HASH_TYPE_TCP_IPV4: u32 = 0x0000_0100;
pub const NDIS_RSS_CAPS_HASH_TYPE_TCP_IPV6: u32 = 0x0000_0200;

/// `NDIS_RECEIVE_SCALE_PARAMETERS`, revision 2 (NDIS 6.20 and later); the indirection table
/// (PROCESSOR_NUMBER entries) and the key follow at the offsets it gives.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NdisReceiveScaleParameters {
    pub header: ObjectHeader,
    pub flags: u16,
    pub base_cpu_number: u16,
    pub hash_information: u32,
    pub indirection_table_size: u16,
    pub indirection_table_offset: u32,
    pub hash_secret_key_size: u16,
    pub hash_secret_key_offset: u32,
    pub processor_masks_offset: u32,
    pub number_of_processor_masks: u32,
    pub processor_masks_entry_size: u32,
}

const _: () = assert!(size_of::<NdisReceiveScaleParameters>() == 0x28);
const _: () = assert!(offset_of!(NdisReceiveScaleParameters, indirection_table_offset) == 0x10);
const _: () = assert!(offset_of!(NdisReceiveScaleParameters, hash_secret_key_offset) == 0x18);
pub const NDIS_RECEIVE_SCALE_PARAMETERS_REVISION_1: u8 = 1;
pub const NDIS_RECEIVE_SCALE_PARAMETERS_REVISION_2: u8 = 2;
/// `NDIS_SIZEOF_RECEIVE_SCALE_PARAMETERS_REVISION_1` (through HashSecretKeyOffset).
pub const NDIS_SIZEOF_RECEIVE_SCALE_PARAMETERS_REVISION_1: usize = 0x1c;
// NDIS_RSS_PARAM_FLAG_* (ntddndis.h).
pub const NDIS_RSS_PARAM_FLAG_BASE_CPU_UNCHANGED: u16 = 0x0001;
pub const NDIS_RSS_PARAM_FLAG_HASH_INFO_UNCHANGED: u16 = 0x0002;
pub const NDIS_RSS_PARAM_FLAG_ITABLE_UNCHANGED: u16 = 0x0004;
pub const NDIS_RSS_PARAM_FLAG_HASH_KEY_UNCHANGED: u16 = 0x0008;
pub const NDIS_RSS_PARAM_FLAG_DISABLE_RSS: u16 = 0x0010;
/// `NDIS_RSS_INDIRECTION_TABLE_MAX_SIZE_REVISION_2`: 128 `PROCESSOR_NUMBER`s.
pub const NDIS_RSS_INDIRECTION_TABLE_MAX_SIZE_REVISION_2: usize = 128 * 4;
/// `NDIS_RSS_HASH_SECRET_KEY_MAX_SIZE_REVISION_2`.
pub const NDIS_RSS_HASH_SECRET_KEY_MAX_SIZE_REVISION_2: usize = 40;
/// `sizeof(PROCESSOR_NUMBER)`: USHORT Group, UCHAR Number, UCHAR Reserved.
pub const PROCESSOR_NUMBER_SIZE: usize = 4;

/// `NDIS_STATISTICS_INFO`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NdisStatisticsInfo {
    pub header: ObjectHeader,
    pub supported_statistics: u32,
    pub if_in_discards: u64,
    pub if_in_errors: u64,
    pub if_hc_in_octets: u64,
    pub if_hc_in_ucast_pkts: u64,
    pub if_hc_in_multicast_pkts: u64,
    pub if_hc_in_broadcast_pkts: u64,
    pub if_hc_out_octets: u64,
    pub if_hc_out_ucast_pkts: u64,
    pub if_hc_out_multicast_pkts: u64,
    pub if_hc_out_broadcast_pkts: u64,
    pub if_out_errors: u64,
    pub if_out_discards: u64,
    pub if_hc_in_ucast_octets: u64,
    pub if_hc_in_multicast_octets: u64,
    pub if_hc_in_broadcast_octets: u64,
    pub if_hc_out_ucast_octets: u64,
    pub if_hc_out_multicast_octets: u64,
    pub if_hc_out_broadcast_octets: u64,
}

const _: () = assert!(size_of::<NdisStatisticsInfo>() == 0x98);
const _: () = assert!(offset_of!(NdisStatisticsInfo, if_in_discards) == 0x8);
const _: () = assert!(offset_of!(NdisStatisticsInfo, if_hc_out_octets) == 0x38);
pub const NDIS_STATISTICS_INFO_REVISION_1: u8 = 1;
// NDIS_STATISTICS_FLAGS_VALID_* (ntddndis.h) that XENNET reports.
pub const NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_RCV: u32 = 0x0000_0001;
pub const NDIS_STATISTICS_FLAGS_VALID_BYTES_RCV: u32 = 0x0000_0008;
pub const NDIS_STATISTICS_FLAGS_VALID_RCV_DISCARDS: u32 = 0x0000_0010;
pub const NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_XMIT: u32 = 0x0000_0040;
pub const NDIS_STATISTICS_FLAGS_VALID_BYTES_XMIT: u32 = 0x0000_0200;
pub const NDIS_STATISTICS_FLAGS_VALID_XMIT_ERROR: u32 = 0x0000_0400;
pub const NDIS_STATISTICS_FLAGS_VALID_XMIT_DISCARDS: u32 = 0x0000_8000;
