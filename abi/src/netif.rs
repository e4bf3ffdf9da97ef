//! Network frontend/backend protocol of io/netif.h: tx/rx/ctrl ring entries, extra-info slots, flags.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::GrantRef;

/// Minimum number of slots a backend must accept for one packet (C `XEN_NETIF_NR_SLOTS_MIN`).
pub const XEN_NETIF_NR_SLOTS_MIN: u32 = 18;
/// Largest packet a single tx request chain may describe (C `XEN_NETIF_MAX_TX_SIZE`).
pub const XEN_NETIF_MAX_TX_SIZE: u32 = 0xFFFF;

// Hash types for the control ring (bit numbers and masks).
/// Bit number of [`XEN_NETIF_CTRL_HASH_TYPE_IPV4`] (C `_XEN_NETIF_CTRL_HASH_TYPE_IPV4`).
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV4_BIT: u32 = 0;
/// Hash over IPv4 source and destination addresses.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV4: u32 = 1 << XEN_NETIF_CTRL_HASH_TYPE_IPV4_BIT;
/// Bit number of [`XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP`].
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT: u32 = 1;
/// Hash over IPv4 addresses and TCP ports.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP: u32 = 1 << XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT;
/// Bit number of [`XEN_NETIF_CTRL_HASH_TYPE_IPV6`].
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV6_BIT: u32 = 2;
/// Hash over IPv6 source and destination addresses.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV6: u32 = 1 << XEN_NETIF_CTRL_HASH_TYPE_IPV6_BIT;
/// Bit number of [`XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP`].
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP_BIT: u32 = 3;
/// Hash over IPv6 addresses and TCP ports.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP: u32 = 1 << XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP_BIT;

/// No hashing.
pub const XEN_NETIF_CTRL_HASH_ALGORITHM_NONE: u32 = 0;
/// Toeplitz hashing (the RSS algorithm).
pub const XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ: u32 = 1;

/// Control ring request (C `struct xen_netif_ctrl_request`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct NetifCtrlRequest {
    /// Echoed in the response.
    pub id: u16,
    /// One of `XEN_NETIF_CTRL_TYPE_*` (C `type`).
    pub kind: u16,
    /// Operation-specific arguments.
    pub data: [u32; 3],
}

pub const XEN_NETIF_CTRL_TYPE_INVALID: u16 = 0;
pub const XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS: u16 = 1;
pub const XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS: u16 = 2;
pub const XEN_NETIF_CTRL_TYPE_SET_HASH_KEY: u16 = 3;
pub const XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE: u16 = 4;
pub const XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE: u16 = 5;
pub const XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING: u16 = 6;
pub const XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM: u16 = 7;
pub const XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE: u16 = 8;
pub const XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING: u16 = 9;
pub const XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING: u16 = 10;

/// Control ring response (C `struct xen_netif_ctrl_response`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct NetifCtrlResponse {
    /// The request's id.
    pub id: u16,
    /// The request's type (C `type`).
    pub kind: u16,
    /// One of `XEN_NETIF_CTRL_STATUS_*`.
    pub status: u32,
    /// Operation-specific result.
    pub data: u32,
}

pub const XEN_NETIF_CTRL_STATUS_SUCCESS: u32 = 0;
pub const XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED: u32 = 1;
pub const XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER: u32 = 2;
pub const XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW: u32 = 3;

/// One entry of a grant-mapping table passed with `XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING`
/// (C `struct xen_netif_gref`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct NetifGref {
    /// The grant (C `ref`).
    pub gref: GrantRef,
    /// `XEN_NETIF_CTRLF_GREF_*`.
    pub flags: u16,
    /// Per-entry result written by the backend.
    pub status: u16,
}

/// Bit number of [`XEN_NETIF_CTRLF_GREF_READONLY`] (C `_XEN_NETIF_CTRLF_GREF_readonly`).
pub const XEN_NETIF_CTRLF_GREF_READONLY_BIT: u16 = 0;
/// The gref is granted read-only (C `XEN_NETIF_CTRLF_GREF_readonly`).
pub const XEN_NETIF_CTRLF_GREF_READONLY: u16 = 1 << XEN_NETIF_CTRLF_GREF_READONLY_BIT;

// Transmit request flags.
/// Bit number of [`NETTXF_CSUM_BLANK`] (C `_NETTXF_csum_blank`).
pub const NETTXF_CSUM_BLANK_BIT: u16 = 0;
/// The protocol checksum is blank and must be filled in (C `NETTXF_csum_blank`).
pub const NETTXF_CSUM_BLANK: u16 = 1 << NETTXF_CSUM_BLANK_BIT;
/// Bit number of [`NETTXF_DATA_VALIDATED`] (C `_NETTXF_data_validated`).
pub const NETTXF_DATA_VALIDATED_BIT: u16 = 1;
/// The packet's checksum has been validated (C `NETTXF_data_validated`).
pub const NETTXF_DATA_VALIDATED: u16 = 1 << NETTXF_DATA_VALIDATED_BIT;
/// Bit number of [`NETTXF_MORE_DATA`] (C `_NETTXF_more_data`).
pub const NETTXF_MORE_DATA_BIT: u16 = 2;
/// The packet continues in the next request (C `NETTXF_more_data`).
pub const NETTXF_MORE_DATA: u16 = 1 << NETTXF_MORE_DATA_BIT;
/// Bit number of [`NETTXF_EXTRA_INFO`] (C `_NETTXF_extra_info`).
pub const NETTXF_EXTRA_INFO_BIT: u16 = 3;
/// Extra-info slots follow this request (C `NETTXF_extra_info`).
pub const NETTXF_EXTRA_INFO: u16 = 1 << NETTXF_EXTRA_INFO_BIT;

/// Transmit request (C `struct netif_tx_request`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct NetifTxRequest {
    /// Grant of the page holding the data.
    pub gref: GrantRef,
    /// Offset of the data within that page.
    pub offset: u16,
    /// `NETTXF_*`.
    pub flags: u16,
    /// Echoed in the response.
    pub id: u16,
    /// Bytes in this slot; in the first slot of a packet, the whole packet's length.
    pub size: u16,
}

pub const XEN_NETIF_EXTRA_TYPE_NONE: u8 = 0;
pub const XEN_NETIF_EXTRA_TYPE_GSO: u8 = 1;
pub const XEN_NETIF_EXTRA_TYPE_MCAST_ADD: u8 = 2;
pub const XEN_NETIF_EXTRA_TYPE_MCAST_DEL: u8 = 3;
pub const XEN_NETIF_EXTRA_TYPE_HASH: u8 = 4;
pub const XEN_NETIF_EXTRA_TYPE_MAX: u8 = 5;

/// Bit number of [`XEN_NETIF_EXTRA_FLAG_MORE`].
pub const XEN_NETIF_EXTRA_FLAG_MORE_BIT: u8 = 0;
/// Another extra-info slot follows this one.
pub const XEN_NETIF_EXTRA_FLAG_MORE: u8 = 1 << XEN_NETIF_EXTRA_FLAG_MORE_BIT;

pub const XEN_NETIF_GSO_TYPE_NONE: u8 = 0;
pub const XEN_NETIF_GSO_TYPE_TCPV4: u8 = 1;
pub const XEN_NETIF_GSO_TYPE_TCPV6: u8 = 2;

/// An extra-info slot (C `struct netif_extra_info`); `payload` is the C union `u`, to be read as
/// [`NetifExtraGso`], [`NetifExtraMcast`] or [`NetifExtraHash`] according to `kind`.
///
/// Aligned to 2 like the C struct, whose union has a `uint16_t pad[3]` member.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(2))]
pub struct NetifExtraInfo {
    /// `XEN_NETIF_EXTRA_TYPE_*` (C `type`).
    pub kind: u8,
    /// `XEN_NETIF_EXTRA_FLAG_*`.
    pub flags: u8,
    /// C `u`.
    pub payload: [u8; 6],
}

/// GSO member of the extra-info union (C `netif_extra_info.u.gso`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct NetifExtraGso {
    /// Maximum payload size of each segment (the MSS).
    pub size: u16,
    /// `XEN_NETIF_GSO_TYPE_*` (C `type`).
    pub gso_type: u8,
    /// Must be zero.
    pub pad: u8,
    /// GSO feature flags (none defined).
    pub features: u16,
}

/// Multicast member of the extra-info union (C `netif_extra_info.u.mcast`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct NetifExtraMcast {
    /// The Ethernet multicast address.
    pub addr: [u8; 6],
}

/// Hash member of the extra-info union (C `netif_extra_info.u.hash`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct NetifExtraHash {
    /// `_XEN_NETIF_CTRL_HASH_TYPE_*` bit number of the hash type (C `type`).
    pub hash_type: u8,
    /// `XEN_NETIF_CTRL_HASH_ALGORITHM_*`.
    pub algorithm: u8,
    /// The hash value, little-endian.
    pub value: [u8; 4],
}

/// Transmit response (C `struct netif_tx_response`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct NetifTxResponse {
    /// The request's id.
    pub id: u16,
    /// `NETIF_RSP_*`.
    pub status: i16,
}

/// Receive request: a buffer offered to the backend (C `struct netif_rx_request`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct NetifRxRequest {
    /// Echoed in the response.
    pub id: u16,
    /// Explicit C padding.
    pub pad: u16,
    /// Grant of the (writable) buffer page.
    pub gref: GrantRef,
}

// Receive response flags.
/// Bit number of [`NETRXF_DATA_VALIDATED`] (C `_NETRXF_data_validated`).
pub const NETRXF_DATA_VALIDATED_BIT: u16 = 0;
/// The packet's checksum has been validated (C `NETRXF_data_validated`).
pub const NETRXF_DATA_VALIDATED: u16 = 1 << NETRXF_DATA_VALIDATED_BIT;
/// Bit number of [`NETRXF_CSUM_BLANK`] (C `_NETRXF_csum_blank`).
pub const NETRXF_CSUM_BLANK_BIT: u16 = 1;
/// The protocol checksum is blank (C `NETRXF_csum_blank`).
pub const NETRXF_CSUM_BLANK: u16 = 1 << NETRXF_CSUM_BLANK_BIT;
/// Bit number of [`NETRXF_MORE_DATA`] (C `_NETRXF_more_data`).
pub const NETRXF_MORE_DATA_BIT: u16 = 2;
/// The packet continues in the next response (C `NETRXF_more_data`).
pub const NETRXF_MORE_DATA: u16 = 1 << NETRXF_MORE_DATA_BIT;
/// Bit number of [`NETRXF_EXTRA_INFO`] (C `_NETRXF_extra_info`).
pub const NETRXF_EXTRA_INFO_BIT: u16 = 3;
/// Extra-info slots follow this response (C `NETRXF_extra_info`).
pub const NETRXF_EXTRA_INFO: u16 = 1 << NETRXF_EXTRA_INFO_BIT;
/// Bit number of [`NETRXF_GSO_PREFIX`] (C `_NETRXF_gso_prefix`).
pub const NETRXF_GSO_PREFIX_BIT: u16 = 4;
/// Deprecated GSO prefix slot (C `NETRXF_gso_prefix`).
pub const NETRXF_GSO_PREFIX: u16 = 1 << NETRXF_GSO_PREFIX_BIT;

/// Receive response (C `struct netif_rx_response`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct NetifRxResponse {
    /// The request's id.
    pub id: u16,
    /// Offset of the data in the buffer page.
    pub offset: u16,
    /// `NETRXF_*`.
    pub flags: u16,
    /// Bytes received if non-negative, else a `NETIF_RSP_*` error.
    pub status: i16,
}

pub const NETIF_RSP_DROPPED: i16 = -2;
pub const NETIF_RSP_ERROR: i16 = -1;
pub const NETIF_RSP_OKAY: i16 = 0;
/// No response: used for auxiliary requests such as extra-info slots.
pub const NETIF_RSP_NULL: i16 = 1;
