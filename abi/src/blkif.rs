//! Block frontend/backend protocol of io/blkif.h: requests (direct, indirect, discard), responses.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::{GrantRef, PAGE_SIZE};

/// C `blkif_vdev_t`: the virtual device handle.
pub type BlkifVdev = u16;
/// C `blkif_sector_t`: a sector number in 512-byte units.
pub type BlkifSector = u64;

/// Unit of `sector_number`, `first_sect`/`last_sect` and `nr_sectors`, whatever the disk's logical
/// sector size (blkif.h states it in prose; it has no macro).
pub const BLKIF_SECTOR_SIZE: usize = 512;

pub const BLKIF_OP_READ: u8 = 0;
pub const BLKIF_OP_WRITE: u8 = 1;
pub const BLKIF_OP_WRITE_BARRIER: u8 = 2;
pub const BLKIF_OP_FLUSH_DISKCACHE: u8 = 3;
pub const BLKIF_OP_RESERVED_1: u8 = 4;
pub const BLKIF_OP_DISCARD: u8 = 5;
pub const BLKIF_OP_INDIRECT: u8 = 6;

/// Segments carried directly in a [`BlkifRequest`].
pub const BLKIF_MAX_SEGMENTS_PER_REQUEST: usize = 11;
/// Indirect pages a [`BlkifRequestIndirect`] may name.
pub const BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST: usize = 8;
/// Segment descriptors that fit in one indirect page (Linux `BLKIF_SEGS_PER_INDIRECT_FRAME`).
pub const BLKIF_SEGS_PER_INDIRECT_FRAME: usize =
    PAGE_SIZE / core::mem::size_of::<BlkifRequestSegment>();

/// One data segment: a granted page and the sector range in it (C `struct blkif_request_segment`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct BlkifRequestSegment {
    /// Grant of the data page.
    pub gref: GrantRef,
    /// First sector (of 512 bytes) in the page to transfer.
    pub first_sect: u8,
    /// Last sector in the page to transfer, inclusive.
    pub last_sect: u8,
    /// Implicit C tail padding.
    pub pad: u16,
}

/// Read / write / barrier / flush request (C `struct blkif_request`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct BlkifRequest {
    /// `BLKIF_OP_*`.
    pub operation: u8,
    /// Segments used in `seg`.
    pub nr_segments: u8,
    /// Only for read/write requests.
    pub handle: BlkifVdev,
    /// Implicit C padding before `id`.
    pub pad: u32,
    /// Echoed in the response.
    pub id: u64,
    /// Start sector on the disk.
    pub sector_number: BlkifSector,
    /// The data segments.
    pub seg: [BlkifRequestSegment; BLKIF_MAX_SEGMENTS_PER_REQUEST],
}

/// Flag of [`BlkifRequestDiscard::flag`]: the discarded data must be unrecoverable.
pub const BLKIF_DISCARD_SECURE: u8 = 1 << 0;

/// Discard request (C `struct blkif_request_discard`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct BlkifRequestDiscard {
    /// `BLKIF_OP_DISCARD`.
    pub operation: u8,
    /// `BLKIF_DISCARD_*`.
    pub flag: u8,
    /// The device handle.
    pub handle: BlkifVdev,
    /// Implicit C padding before `id`.
    pub pad: u32,
    /// Echoed in the response.
    pub id: u64,
    /// Start sector.
    pub sector_number: BlkifSector,
    /// Number of sectors to discard.
    pub nr_sectors: u64,
}

/// Indirect request: the segments live in granted pages (C `struct blkif_request_indirect`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct BlkifRequestIndirect {
    /// `BLKIF_OP_INDIRECT`.
    pub operation: u8,
    /// The real operation, `BLKIF_OP_READ` or `BLKIF_OP_WRITE`.
    pub indirect_op: u8,
    /// Total segments in the indirect pages.
    pub nr_segments: u16,
    /// Implicit C padding before `id`.
    pub pad0: u32,
    /// Echoed in the response.
    pub id: u64,
    /// Start sector.
    pub sector_number: BlkifSector,
    /// The device handle.
    pub handle: BlkifVdev,
    /// Implicit C padding before `indirect_grefs`.
    pub pad1: u16,
    /// Grants of the pages holding [`BlkifRequestSegment`] arrays.
    pub indirect_grefs: [GrantRef; BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST],
    /// Implicit C tail padding.
    pub pad2: u32,
}

/// Response to any request (C `struct blkif_response`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct BlkifResponse {
    /// The request's id.
    pub id: u64,
    /// The request's operation.
    pub operation: u8,
    /// Implicit C padding before `status`.
    pub pad0: u8,
    /// `BLKIF_RSP_*`.
    pub status: i16,
    /// Implicit C tail padding.
    pub pad1: u32,
}

pub const BLKIF_RSP_EOPNOTSUPP: i16 = -2;
pub const BLKIF_RSP_ERROR: i16 = -1;
pub const BLKIF_RSP_OKAY: i16 = 0;

// Bits of the `info` xenstore key.
pub const VDISK_CDROM: u32 = 0x1;
pub const VDISK_REMOVABLE: u32 = 0x2;
pub const VDISK_READONLY: u32 = 0x4;
