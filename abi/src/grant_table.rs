//! Grant tables of grant_table.h: v1 entries, their flags, and the GNTTABOP_* hypercall arguments.
//!
//! Guest handles (`XEN_GUEST_HANDLE(...)`) are 64-bit pointers on x86_64 and appear here as `u64`.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::{DomId, GrantHandle, GrantRef};

/// One v1 grant table entry (C `struct grant_entry_v1`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct GrantEntryV1 {
    /// `GTF_*`: type and state bits.
    pub flags: u16,
    /// The domain being granted access.
    pub domid: DomId,
    /// The frame being granted (or, for transfers, the frame received).
    pub frame: u32,
}

/// Grant references 0..8 are reserved for the toolstack (console, xenstore).
pub const GNTTAB_NR_RESERVED_ENTRIES: u32 = 8;
pub const GNTTAB_RESERVED_CONSOLE: u32 = 0;
pub const GNTTAB_RESERVED_XENSTORE: u32 = 1;

// Entry types (low two bits of `flags`).
pub const GTF_INVALID: u16 = 0;
pub const GTF_PERMIT_ACCESS: u16 = 1;
pub const GTF_ACCEPT_TRANSFER: u16 = 2;
pub const GTF_TRANSITIVE: u16 = 3;
pub const GTF_TYPE_MASK: u16 = 3;

// Sub-flags of GTF_permit_access / GTF_transitive.
pub const GTF_READONLY_BIT: u16 = 2;
pub const GTF_READONLY: u16 = 1 << GTF_READONLY_BIT;
pub const GTF_READING_BIT: u16 = 3;
/// Set by Xen while the remote domain has the grant mapped for reading.
pub const GTF_READING: u16 = 1 << GTF_READING_BIT;
pub const GTF_WRITING_BIT: u16 = 4;
/// Set by Xen while the remote domain has the grant mapped for writing.
pub const GTF_WRITING: u16 = 1 << GTF_WRITING_BIT;
pub const GTF_PWT_BIT: u16 = 5;
pub const GTF_PWT: u16 = 1 << GTF_PWT_BIT;
pub const GTF_PCD_BIT: u16 = 6;
pub const GTF_PCD: u16 = 1 << GTF_PCD_BIT;
pub const GTF_PAT_BIT: u16 = 7;
pub const GTF_PAT: u16 = 1 << GTF_PAT_BIT;
pub const GTF_SUB_PAGE_BIT: u16 = 8;
pub const GTF_SUB_PAGE: u16 = 1 << GTF_SUB_PAGE_BIT;

// Sub-flags of GTF_accept_transfer.
pub const GTF_TRANSFER_COMMITTED_BIT: u16 = 2;
pub const GTF_TRANSFER_COMMITTED: u16 = 1 << GTF_TRANSFER_COMMITTED_BIT;
pub const GTF_TRANSFER_COMPLETED_BIT: u16 = 3;
pub const GTF_TRANSFER_COMPLETED: u16 = 1 << GTF_TRANSFER_COMPLETED_BIT;

pub const GNTTABOP_MAP_GRANT_REF: u32 = 0;
pub const GNTTABOP_UNMAP_GRANT_REF: u32 = 1;
pub const GNTTABOP_SETUP_TABLE: u32 = 2;
pub const GNTTABOP_DUMP_TABLE: u32 = 3;
pub const GNTTABOP_TRANSFER: u32 = 4;
pub const GNTTABOP_COPY: u32 = 5;
pub const GNTTABOP_QUERY_SIZE: u32 = 6;
pub const GNTTABOP_UNMAP_AND_REPLACE: u32 = 7;
pub const GNTTABOP_SET_VERSION: u32 = 8;
pub const GNTTABOP_GET_STATUS_FRAMES: u32 = 9;
pub const GNTTABOP_GET_VERSION: u32 = 10;
pub const GNTTABOP_SWAP_GRANT_REF: u32 = 11;
pub const GNTTABOP_CACHE_FLUSH: u32 = 12;

/// GNTTABOP_map_grant_ref argument (C `struct gnttab_map_grant_ref`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct GnttabMapGrantRef {
    /// In: where to map (virtual or, with `GNTMAP_contains_pte`, PTE address).
    pub host_addr: u64,
    /// In: `GNTMAP_*`.
    pub flags: u32,
    /// In: the grant to map (C `ref`).
    pub gref: GrantRef,
    /// In: the granting domain.
    pub dom: DomId,
    /// Out: `GNTST_*`.
    pub status: i16,
    /// Out: handle for unmapping.
    pub handle: GrantHandle,
    /// Out: bus address with `GNTMAP_device_map`.
    pub dev_bus_addr: u64,
}

/// GNTTABOP_unmap_grant_ref argument (C `struct gnttab_unmap_grant_ref`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct GnttabUnmapGrantRef {
    pub host_addr: u64,
    pub dev_bus_addr: u64,
    pub handle: GrantHandle,
    /// Out: `GNTST_*`.
    pub status: i16,
    /// Implicit C tail padding.
    pub pad: u16,
}

/// GNTTABOP_setup_table argument (C `struct gnttab_setup_table`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct GnttabSetupTable {
    /// In: `DOMID_SELF` for the caller.
    pub dom: DomId,
    /// Implicit C padding.
    pub pad0: u16,
    /// In: number of grant table frames wanted.
    pub nr_frames: u32,
    /// Out: `GNTST_*`.
    pub status: i16,
    /// Implicit C padding.
    pub pad1: [u8; 6],
    /// In: guest handle of an array of `nr_frames` frame numbers (out).
    pub frame_list: u64,
}

/// GNTTABOP_query_size argument (C `struct gnttab_query_size`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct GnttabQuerySize {
    pub dom: DomId,
    /// Implicit C padding.
    pub pad0: u16,
    /// Out: frames currently in the table.
    pub nr_frames: u32,
    /// Out: frames the table may grow to.
    pub max_nr_frames: u32,
    /// Out: `GNTST_*`.
    pub status: i16,
    /// Implicit C tail padding.
    pub pad1: u16,
}

/// Bit number of [`GNTCOPY_SOURCE_GREF`] (C `_GNTCOPY_source_gref`).
pub const GNTCOPY_SOURCE_GREF_BIT: u16 = 0;
/// The copy source is a grant reference, not a frame.
pub const GNTCOPY_SOURCE_GREF: u16 = 1 << GNTCOPY_SOURCE_GREF_BIT;
/// Bit number of [`GNTCOPY_DEST_GREF`] (C `_GNTCOPY_dest_gref`).
pub const GNTCOPY_DEST_GREF_BIT: u16 = 1;
/// The copy destination is a grant reference, not a frame.
pub const GNTCOPY_DEST_GREF: u16 = 1 << GNTCOPY_DEST_GREF_BIT;

/// One end of a grant copy (C `struct gnttab_copy_ptr`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct GnttabCopyPtr {
    /// C union `u`: a grant reference in the low 32 bits (`u.ref`, with `GNTCOPY_*_gref`) or a
    /// frame number (`u.gmfn`).
    pub u: u64,
    pub domid: DomId,
    /// Byte offset in the page.
    pub offset: u16,
    /// Implicit C tail padding.
    pub pad: u32,
}

/// GNTTABOP_copy argument (C `struct gnttab_copy`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct GnttabCopy {
    pub source: GnttabCopyPtr,
    pub dest: GnttabCopyPtr,
    /// Bytes to copy; source and destination must not cross a page.
    pub len: u16,
    /// `GNTCOPY_*`.
    pub flags: u16,
    /// Out: `GNTST_*`.
    pub status: i16,
    /// Implicit C tail padding.
    pub pad: u16,
}

/// GNTTABOP_set_version argument (C `struct gnttab_set_version`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct GnttabSetVersion {
    /// In: 1 or 2; out: the version in force.
    pub version: u32,
}

/// GNTTABOP_get_version argument (C `struct gnttab_get_version`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct GnttabGetVersion {
    pub dom: DomId,
    pub pad: u16,
    /// Out: the grant table version.
    pub version: u32,
}

pub const GNTMAP_DEVICE_MAP_BIT: u32 = 0;
pub const GNTMAP_DEVICE_MAP: u32 = 1 << GNTMAP_DEVICE_MAP_BIT;
pub const GNTMAP_HOST_MAP_BIT: u32 = 1;
pub const GNTMAP_HOST_MAP: u32 = 1 << GNTMAP_HOST_MAP_BIT;
pub const GNTMAP_READONLY_BIT: u32 = 2;
pub const GNTMAP_READONLY: u32 = 1 << GNTMAP_READONLY_BIT;
pub const GNTMAP_APPLICATION_MAP_BIT: u32 = 3;
pub const GNTMAP_APPLICATION_MAP: u32 = 1 << GNTMAP_APPLICATION_MAP_BIT;
pub const GNTMAP_CONTAINS_PTE_BIT: u32 = 4;
pub const GNTMAP_CONTAINS_PTE: u32 = 1 << GNTMAP_CONTAINS_PTE_BIT;
pub const GNTMAP_GUEST_AVAIL0_BIT: u32 = 16;
pub const GNTMAP_GUEST_AVAIL_MASK: u32 = u32::MAX << GNTMAP_GUEST_AVAIL0_BIT;

pub const GNTST_OKAY: i16 = 0;
pub const GNTST_GENERAL_ERROR: i16 = -1;
pub const GNTST_BAD_DOMAIN: i16 = -2;
pub const GNTST_BAD_GNTREF: i16 = -3;
pub const GNTST_BAD_HANDLE: i16 = -4;
pub const GNTST_BAD_VIRT_ADDR: i16 = -5;
pub const GNTST_BAD_DEV_ADDR: i16 = -6;
pub const GNTST_NO_DEVICE_SPACE: i16 = -7;
pub const GNTST_PERMISSION_DENIED: i16 = -8;
pub const GNTST_BAD_PAGE: i16 = -9;
pub const GNTST_BAD_COPY_ARG: i16 = -10;
pub const GNTST_ADDRESS_TOO_BIG: i16 = -11;
pub const GNTST_EAGAIN: i16 = -12;
pub const GNTST_NO_SPACE: i16 = -13;

/// Xen's text for each `GNTST_*` status, indexed by `-status` (C `GNTTABOP_error_msgs`).
pub const GNTTABOP_ERROR_MSGS: &[&str] = &[
    "okay",
    "undefined error",
    "unrecognised domain id",
    "invalid grant reference",
    "invalid mapping handle",
    "invalid virtual address",
    "invalid device address",
    "no spare translation slot in the I/O MMU",
    "permission denied",
    "bad page",
    "copy arguments cross page boundary",
    "page address size too large",
    "operation not done; try again",
    "out of space",
];
