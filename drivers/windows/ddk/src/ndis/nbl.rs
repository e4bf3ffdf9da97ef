//! `NET_BUFFER_LIST`, `NET_BUFFER` and `MDL`, and the per-packet information NDIS passes in a
//! NET_BUFFER_LIST's `NetBufferListInfo` slots (checksum, large send, RSC, hash).
//!
//! Sizes and offsets: nbl.h / ndis.h of the Windows 10 SDK 10.0.19041 for x64 (Microsoft Learn:
//! "NET_BUFFER_LIST structure", "NET_BUFFER structure"); MDL from wdm.h, measured by
//! `tests/conformance.rs` against mingw-w64 `ddk/wdm.h`. The per-packet information structures
//! are unions of bit fields over one pointer-sized value; they are represented here by that
//! value and accessors that name the documented bits.

use core::ffi::c_void;
use core::mem::{offset_of, size_of};

use super::{NdisHandle, NdisStatus};

/// `MDL`: describes the physical pages of a virtually contiguous buffer.
#[repr(C)]
#[derive(Debug)]
pub struct Mdl {
    pub next: *mut Mdl,
    pub size: i16,
    pub mdl_flags: i16,
    pub process: *mut c_void,
    /// The system address of the buffer's first page, valid when `mdl_flags` has
    /// [`MDL_MAPPED_TO_SYSTEM_VA`] or [`MDL_SOURCE_IS_NONPAGED_POOL`].
    pub mapped_system_va: *mut c_void,
    /// The page-aligned virtual address of the buffer's first page.
    pub start_va: *mut c_void,
    pub byte_count: u32,
    /// Offset of the buffer in its first page.
    pub byte_offset: u32,
}

const _: () = assert!(size_of::<Mdl>() == 0x30);
const _: () = assert!(offset_of!(Mdl, mdl_flags) == 0xa);
const _: () = assert!(offset_of!(Mdl, mapped_system_va) == 0x18);
const _: () = assert!(offset_of!(Mdl, start_va) == 0x20);
const _: () = assert!(offset_of!(Mdl, byte_count) == 0x28);
const _: () = assert!(offset_of!(Mdl, byte_offset) == 0x2c);

// MDL flags (wdm.h).
pub const MDL_MAPPED_TO_SYSTEM_VA: i16 = 0x0001;
pub const MDL_SOURCE_IS_NONPAGED_POOL: i16 = 0x0004;

/// `NET_BUFFER`: one frame, described by an MDL chain and the data's offset and length in it.
#[repr(C, align(16))]
#[derive(Debug)]
pub struct NetBuffer {
    pub next: *mut NetBuffer,
    pub current_mdl: *mut Mdl,
    pub current_mdl_offset: u32,
    _offset_pad: u32,
    /// `DataLength` (a `ULONG` sharing a `SIZE_T` slot): the frame's length.
    pub data_length: u32,
    _data_length_high: u32,
    pub mdl_chain: *mut Mdl,
    /// Offset of the frame from the start of `mdl_chain`'s data.
    pub data_offset: u32,
    _header_pad: u32,
    pub checksum_bias: u16,
    pub reserved: u16,
    pub ndis_pool_handle: NdisHandle,
    pub ndis_reserved: [*mut c_void; 2],
    pub protocol_reserved: [*mut c_void; 6],
    pub miniport_reserved: [*mut c_void; 4],
    pub data_physical_address: i64,
    pub shared_memory_info: *mut c_void,
}

const _: () = assert!(size_of::<NetBuffer>() == 0xb0);
const _: () = assert!(offset_of!(NetBuffer, current_mdl) == 0x8);
const _: () = assert!(offset_of!(NetBuffer, current_mdl_offset) == 0x10);
const _: () = assert!(offset_of!(NetBuffer, data_length) == 0x18);
const _: () = assert!(offset_of!(NetBuffer, mdl_chain) == 0x20);
const _: () = assert!(offset_of!(NetBuffer, data_offset) == 0x28);
const _: () = assert!(offset_of!(NetBuffer, checksum_bias) == 0x30);
const _: () = assert!(offset_of!(NetBuffer, ndis_pool_handle) == 0x38);
const _: () = assert!(offset_of!(NetBuffer, ndis_reserved) == 0x40);
const _: () = assert!(offset_of!(NetBuffer, miniport_reserved) == 0x80);
const _: () = assert!(offset_of!(NetBuffer, data_physical_address) == 0xa0);

/// `NDIS_NET_BUFFER_LIST_INFO` indices (ndis.h, x64, NDIS 6.30).
pub const TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO: usize = 0;
pub const TCP_LARGE_SEND_NET_BUFFER_LIST_INFO: usize = 2;
pub const NET_BUFFER_LIST_CANCEL_ID: usize = 5;
pub const NET_BUFFER_LIST_HASH_VALUE: usize = 8;
pub const NET_BUFFER_LIST_HASH_INFO: usize = 9;
pub const TCP_RECV_SEG_COALESCE_INFO: usize = 22;
/// `MaxNetBufferListInfo` of NDIS 6.30 on x64 (`RscTcpTimestampDelta` is 23). NDIS 6.50 and
/// later append slots; a miniport only ever touches the ones above.
pub const MAX_NET_BUFFER_LIST_INFO: usize = 24;

/// `NET_BUFFER_LIST`: a list of NET_BUFFERs (frames) that share their per-packet information.
#[repr(C, align(16))]
#[derive(Debug)]
pub struct NetBufferList {
    pub next: *mut NetBufferList,
    pub first_net_buffer: *mut NetBuffer,
    pub context: *mut c_void,
    pub parent_net_buffer_list: *mut NetBufferList,
    pub ndis_pool_handle: NdisHandle,
    _pad: usize,
    pub ndis_reserved: [*mut c_void; 2],
    pub protocol_reserved: [*mut c_void; 4],
    pub miniport_reserved: [*mut c_void; 2],
    pub scratch: *mut c_void,
    pub source_handle: NdisHandle,
    pub nbl_flags: u32,
    pub child_ref_count: i32,
    pub flags: u32,
    /// `Status`: what the miniport reports when it completes a send.
    pub status: NdisStatus,
    pub net_buffer_list_info: [usize; MAX_NET_BUFFER_LIST_INFO],
}

const _: () = assert!(offset_of!(NetBufferList, first_net_buffer) == 0x8);
const _: () = assert!(offset_of!(NetBufferList, context) == 0x10);
const _: () = assert!(offset_of!(NetBufferList, ndis_pool_handle) == 0x20);
const _: () = assert!(offset_of!(NetBufferList, ndis_reserved) == 0x30);
const _: () = assert!(offset_of!(NetBufferList, protocol_reserved) == 0x40);
const _: () = assert!(offset_of!(NetBufferList, miniport_reserved) == 0x60);
const _: () = assert!(offset_of!(NetBufferList, scratch) == 0x70);
const _: () = assert!(offset_of!(NetBufferList, source_handle) == 0x78);
const _: () = assert!(offset_of!(NetBufferList, nbl_flags) == 0x80);
const _: () = assert!(offset_of!(NetBufferList, flags) == 0x88);
const _: () = assert!(offset_of!(NetBufferList, status) == 0x8c);
const _: () = assert!(offset_of!(NetBufferList, net_buffer_list_info) == 0x90);
const _: () = assert!(size_of::<NetBufferList>() == 0x150);

// NET_BUFFER_LIST NblFlags (nbl.h).
pub const NDIS_NBL_FLAGS_IS_IPV4: u32 = 0x0000_0200;
pub const NDIS_NBL_FLAGS_IS_IPV6: u32 = 0x0000_0400;
pub const NDIS_NBL_FLAGS_IS_TCP: u32 = 0x0000_0800;
pub const NDIS_NBL_FLAGS_IS_UDP: u32 = 0x0000_1000;

/// `NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO`, transmit view: what the stack asks the miniport
/// to compute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChecksumTxInfo(pub usize);

impl ChecksumTxInfo {
    pub fn is_ipv4(self) -> bool {
        self.0 & 1 != 0
    }
    pub fn is_ipv6(self) -> bool {
        self.0 & 2 != 0
    }
    pub fn tcp_checksum(self) -> bool {
        self.0 & 4 != 0
    }
    pub fn udp_checksum(self) -> bool {
        self.0 & 8 != 0
    }
    pub fn ip_header_checksum(self) -> bool {
        self.0 & 0x10 != 0
    }
    /// `TcpHeaderOffset`: 10 bits from bit 16.
    pub fn tcp_header_offset(self) -> u32 {
        ((self.0 >> 16) & 0x3ff) as u32
    }
}

/// `NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO`, receive view: what the miniport reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChecksumRxInfo(pub usize);

impl ChecksumRxInfo {
    pub const TCP_CHECKSUM_FAILED: usize = 1 << 0;
    pub const UDP_CHECKSUM_FAILED: usize = 1 << 1;
    pub const IP_CHECKSUM_FAILED: usize = 1 << 2;
    pub const TCP_CHECKSUM_SUCCEEDED: usize = 1 << 3;
    pub const UDP_CHECKSUM_SUCCEEDED: usize = 1 << 4;
    pub const IP_CHECKSUM_SUCCEEDED: usize = 1 << 5;
}

/// `NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO`: on transmit the LSO request (V1 or V2),
/// on completion the TCP payload bytes sent (V1) or the type echoed (V2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LsoInfo(pub usize);

/// `NDIS_TCP_LARGE_SEND_OFFLOAD_V1_TYPE` / `_V2_TYPE` (the `Type` bit).
pub const NDIS_TCP_LARGE_SEND_OFFLOAD_V1_TYPE: u32 = 0;
pub const NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE: u32 = 1;
/// `NDIS_TCP_LARGE_SEND_OFFLOAD_IPv4` / `IPv6` (`LsoV2Transmit.IPVersion`).
pub const NDIS_TCP_LARGE_SEND_OFFLOAD_IPV4: u32 = 0;
pub const NDIS_TCP_LARGE_SEND_OFFLOAD_IPV6: u32 = 1;

impl LsoInfo {
    /// `MSS`: 20 bits from bit 0 (zero: no large send asked).
    pub fn mss(self) -> u32 {
        (self.0 & 0xf_ffff) as u32
    }
    /// `TcpHeaderOffset`: 10 bits from bit 20.
    pub fn tcp_header_offset(self) -> u32 {
        ((self.0 >> 20) & 0x3ff) as u32
    }
    /// `Type`: bit 30.
    pub fn lso_type(self) -> u32 {
        ((self.0 >> 30) & 1) as u32
    }
    /// `LsoV2Transmit.IPVersion`: bit 31.
    pub fn ip_version(self) -> u32 {
        ((self.0 >> 31) & 1) as u32
    }
    /// The completion value. LSOv1: `LsoV1TransmitComplete.TcpPayload` (30 bits), the TCP
    /// payload bytes sent; LSOv2: `LsoV2TransmitComplete.Reserved` zero (Microsoft Learn, "Large
    /// Send Offload Version 2"). The type bit is kept in both.
    pub fn completed(lso_type: u32, tcp_payload: u32) -> Self {
        let payload = if lso_type == NDIS_TCP_LARGE_SEND_OFFLOAD_V1_TYPE {
            (tcp_payload & 0x3fff_ffff) as usize
        } else {
            0
        };
        LsoInfo(payload | ((lso_type as usize & 1) << 30))
    }
    /// `LsoV1TransmitComplete.TcpPayload`.
    pub fn tcp_payload(self) -> u32 {
        (self.0 & 0x3fff_ffff) as u32
    }
}

/// `NDIS_RSC_NBL_INFO`: how many segments a coalesced receive holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RscInfo(pub usize);

impl RscInfo {
    /// `Info.CoalescedSegCount` (low USHORT) and `Info.DupAckCount` (next USHORT).
    pub fn new(coalesced_segments: u16, dup_acks: u16) -> Self {
        RscInfo(usize::from(coalesced_segments) | (usize::from(dup_acks) << 16))
    }
    pub fn coalesced_segments(self) -> u16 {
        self.0 as u16
    }
}

// NDIS_HASH_* (ntddndis.h): the hash function and type of NetBufferListHashInfo.
pub const NDIS_HASH_FUNCTION_TOEPLITZ: u32 = 0x0000_0001;
pub const NDIS_HASH_FUNCTION_MASK: u32 = 0x0000_00ff;
pub const NDIS_HASH_TYPE_MASK: u32 = 0x00ff_ff00;
pub const NDIS_HASH_IPV4: u32 = 0x0000_0100;
pub const NDIS_HASH_TCP_IPV4: u32 = 0x0000_0200;
pub const NDIS_HASH_IPV6: u32 = 0x0000_0400;
pub const NDIS_HASH_IPV6_EX: u32 = 0x0000_0800;
pub const NDIS_HASH_TCP_IPV6: u32 = 0x0000_1000;
pub const NDIS_HASH_TCP_IPV6_EX: u32 = 0x0000_2000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lso_v2_fields_sit_where_the_bit_fields_put_them() {
        // MSS 1448, TCP header at 34, type V2, IPv6.
        let v = 1448 | (34 << 20) | (1 << 30) | (1usize << 31);
        let info = LsoInfo(v);
        assert_eq!(info.mss(), 1448);
        assert_eq!(info.tcp_header_offset(), 34);
        assert_eq!(info.lso_type(), NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE);
        assert_eq!(info.ip_version(), NDIS_TCP_LARGE_SEND_OFFLOAD_IPV6);
        let v1 = LsoInfo::completed(NDIS_TCP_LARGE_SEND_OFFLOAD_V1_TYPE, 60_000);
        assert_eq!(v1.tcp_payload(), 60_000);
        assert_eq!(v1.lso_type(), 0);
        let v2 = LsoInfo::completed(NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE, 60_000);
        assert_eq!(v2.tcp_payload(), 0, "LSOv2 completes with Reserved zero");
        assert_eq!(v2.lso_type(), 1);
    }

    #[test]
    fn checksum_and_rsc_bits() {
        let tx = ChecksumTxInfo(1 | 4 | (34 << 16));
        assert!(tx.is_ipv4() && tx.tcp_checksum() && !tx.udp_checksum() && !tx.is_ipv6());
        assert_eq!(tx.tcp_header_offset(), 34);
        let rsc = RscInfo::new(44, 0);
        assert_eq!(rsc.coalesced_segments(), 44);
        assert_eq!(rsc.0, 44);
    }
}
