//! NDIS 6 for the XENNET miniport: status codes, object headers, the NET_BUFFER_LIST /
//! NET_BUFFER / MDL structures and their per-packet information ([`nbl`]), the miniport
//! registration and attribute structures ([`miniport`]), OID requests and the OID payloads the
//! miniport reads or writes ([`oid`]), and the ndis.sys imports (Windows builds only).
//!
//! Sources: ndis.h, nbl*.h and ntddndis.h of the Windows 10 SDK 10.0.19041 (NDIS 6.30 and later
//! for x64) and the Microsoft Learn pages of each structure. Every structure that mingw-w64 also
//! declares (ntddndis.h: offload, RSS, statistics, link state; wdm.h: MDL) is measured again by
//! `tests/conformance.rs`; the others (NET_BUFFER_LIST, NET_BUFFER, the miniport characteristics
//! and attributes, NDIS_OID_REQUEST, NDIS_STATUS_INDICATION — mingw-w64's ndis.h is NDIS 5) are
//! pinned by the compile-time assertions next to them.

pub mod miniport;
pub mod nbl;
pub mod oid;

#[cfg(windows)]
pub mod imports;

use core::ffi::c_void;
use core::mem::size_of;

/// `NDIS_STATUS`: an `NTSTATUS` value space.
pub type NdisStatus = i32;

/// `NDIS_HANDLE`: an opaque pointer NDIS or the miniport owns.
pub type NdisHandle = *mut c_void;

// NDIS_STATUS values (ndis.h; NTSTATUS facility 0x001 values for the NDIS-specific ones).
pub const NDIS_STATUS_SUCCESS: NdisStatus = 0;
pub const NDIS_STATUS_PENDING: NdisStatus = 0x0000_0103;
pub const NDIS_STATUS_INDICATION_REQUIRED: NdisStatus = 0x4023_0001;
pub const NDIS_STATUS_MEDIA_CONNECT: NdisStatus = 0x4001_000B;
pub const NDIS_STATUS_MEDIA_DISCONNECT: NdisStatus = 0x4001_000C;
pub const NDIS_STATUS_LINK_STATE: NdisStatus = 0x4001_0017;
pub const NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG: NdisStatus = 0x4002_0006;
pub const NDIS_STATUS_FAILURE: NdisStatus = 0xC000_0001_u32 as NdisStatus;
pub const NDIS_STATUS_RESOURCES: NdisStatus = 0xC000_009A_u32 as NdisStatus;
pub const NDIS_STATUS_NOT_SUPPORTED: NdisStatus = 0xC000_00BB_u32 as NdisStatus;
pub const NDIS_STATUS_INVALID_PARAMETER: NdisStatus = 0xC000_000D_u32 as NdisStatus;
pub const NDIS_STATUS_MULTICAST_FULL: NdisStatus = 0xC001_0009_u32 as NdisStatus;
pub const NDIS_STATUS_REQUEST_ABORTED: NdisStatus = 0xC001_000C_u32 as NdisStatus;
pub const NDIS_STATUS_ADAPTER_NOT_READY: NdisStatus = 0xC001_0011_u32 as NdisStatus;
pub const NDIS_STATUS_INVALID_LENGTH: NdisStatus = 0xC001_0014_u32 as NdisStatus;
pub const NDIS_STATUS_INVALID_DATA: NdisStatus = 0xC001_0015_u32 as NdisStatus;
pub const NDIS_STATUS_BUFFER_TOO_SHORT: NdisStatus = 0xC001_0016_u32 as NdisStatus;
pub const NDIS_STATUS_INVALID_OID: NdisStatus = 0xC001_0017_u32 as NdisStatus;
/// `NDIS_STATUS_SEND_ABORTED` (= `STATUS_NDIS_REQUEST_ABORTED`).
pub const NDIS_STATUS_SEND_ABORTED: NdisStatus = NDIS_STATUS_REQUEST_ABORTED;
/// `NDIS_STATUS_PAUSED` (= `STATUS_NDIS_PAUSED`).
pub const NDIS_STATUS_PAUSED: NdisStatus = 0xC023_002A_u32 as NdisStatus;
/// `NDIS_STATUS_MEDIA_DISCONNECTED` (= `STATUS_NDIS_MEDIA_DISCONNECTED`).
pub const NDIS_STATUS_MEDIA_DISCONNECTED: NdisStatus = 0xC023_001F_u32 as NdisStatus;
/// `NDIS_STATUS_LOW_POWER_STATE` (= `STATUS_NDIS_LOW_POWER_STATE`).
pub const NDIS_STATUS_LOW_POWER_STATE: NdisStatus = 0xC023_002F_u32 as NdisStatus;

/// `NDIS_OBJECT_HEADER` (ntddndis.h): type, revision and size of every NDIS 6 structure.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObjectHeader {
    pub type_: u8,
    pub revision: u8,
    pub size: u16,
}

const _: () = assert!(size_of::<ObjectHeader>() == 4);

impl ObjectHeader {
    /// A header for an object of `type_`, `revision`, `size` bytes.
    pub const fn new(type_: u8, revision: u8, size: usize) -> Self {
        Self {
            type_,
            revision,
            size: size as u16,
        }
    }
}

// NDIS_OBJECT_TYPE_* (ntddndis.h).
pub const NDIS_OBJECT_TYPE_DEFAULT: u8 = 0x80;
pub const NDIS_OBJECT_TYPE_RSS_CAPABILITIES: u8 = 0x88;
pub const NDIS_OBJECT_TYPE_RSS_PARAMETERS: u8 = 0x89;
pub const NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS: u8 = 0x8a;
pub const NDIS_OBJECT_TYPE_OID_REQUEST: u8 = 0x96;
pub const NDIS_OBJECT_TYPE_STATUS_INDICATION: u8 = 0x98;
pub const NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES: u8 = 0x9e;
pub const NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES: u8 = 0x9f;
pub const NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES: u8 = 0xa0;
pub const NDIS_OBJECT_TYPE_OFFLOAD: u8 = 0xa7;
pub const NDIS_OBJECT_TYPE_OFFLOAD_ENCAPSULATION: u8 = 0xa8;
