//! HYPERVISOR_memory_op of memory.h: XENMEM_* commands, XENMAPSPACE_* and their arguments.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::DomId;

pub const XENMEM_INCREASE_RESERVATION: u32 = 0;
pub const XENMEM_DECREASE_RESERVATION: u32 = 1;
pub const XENMEM_MAXIMUM_RAM_PAGE: u32 = 2;
pub const XENMEM_CURRENT_RESERVATION: u32 = 3;
pub const XENMEM_MAXIMUM_RESERVATION: u32 = 4;
pub const XENMEM_MACHPHYS_MFN_LIST: u32 = 5;
pub const XENMEM_POPULATE_PHYSMAP: u32 = 6;
pub const XENMEM_ADD_TO_PHYSMAP: u32 = 7;
pub const XENMEM_MEMORY_MAP: u32 = 9;
pub const XENMEM_MACHINE_MEMORY_MAP: u32 = 10;
pub const XENMEM_EXCHANGE: u32 = 11;
pub const XENMEM_MACHPHYS_MAPPING: u32 = 12;
pub const XENMEM_SET_MEMORY_MAP: u32 = 13;
pub const XENMEM_MAXIMUM_GPFN: u32 = 14;
pub const XENMEM_REMOVE_FROM_PHYSMAP: u32 = 15;
pub const XENMEM_SET_POD_TARGET: u32 = 16;
pub const XENMEM_GET_POD_TARGET: u32 = 17;
pub const XENMEM_ADD_TO_PHYSMAP_BATCH: u32 = 23;
pub const XENMEM_MACHPHYS_COMPAT_MFN_LIST: u32 = 25;
pub const XENMEM_GET_VNUMAINFO: u32 = 26;
pub const XENMEM_ACQUIRE_RESOURCE: u32 = 28;

/// `mem_flags`: populate-on-demand allocation.
pub const XENMEMF_POPULATE_ON_DEMAND: u32 = 1 << 16;
/// `mem_flags`: the NUMA node request is exact.
pub const XENMEMF_EXACT_NODE_REQUEST: u32 = 1 << 17;
/// `mem_flags`: the node is virtual.
pub const XENMEMF_VNODE: u32 = 1 << 18;

/// XENMEM_increase/decrease_reservation and populate_physmap argument
/// (C `struct xen_memory_reservation`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct XenMemoryReservation {
    /// Guest handle of an array of frame numbers.
    pub extent_start: u64,
    pub nr_extents: u64,
    /// Each extent is `2^extent_order` pages.
    pub extent_order: u32,
    /// `XENMEMF_*`.
    pub mem_flags: u32,
    pub domid: DomId,
    /// Implicit C tail padding.
    pub pad: [u8; 6],
}

pub const XENMAPSPACE_SHARED_INFO: u32 = 0;
pub const XENMAPSPACE_GRANT_TABLE: u32 = 1;
pub const XENMAPSPACE_GMFN: u32 = 2;
pub const XENMAPSPACE_GMFN_RANGE: u32 = 3;
pub const XENMAPSPACE_GMFN_FOREIGN: u32 = 4;
pub const XENMAPSPACE_DEV_MMIO: u32 = 5;
/// `idx` flag with XENMAPSPACE_grant_table: map a status frame (v2 only).
pub const XENMAPIDX_GRANT_TABLE_STATUS: u64 = 0x8000_0000;

/// XENMEM_add_to_physmap argument (C `struct xen_add_to_physmap`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct XenAddToPhysmap {
    pub domid: DomId,
    /// Pages for XENMAPSPACE_gmfn_range.
    pub size: u16,
    /// `XENMAPSPACE_*`.
    pub space: u32,
    /// Index in the space (e.g. grant table frame number).
    pub idx: u64,
    /// Guest frame to map it at.
    pub gpfn: u64,
}

/// XENMEM_remove_from_physmap argument (C `struct xen_remove_from_physmap`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct XenRemoveFromPhysmap {
    pub domid: DomId,
    /// Implicit C padding.
    pub pad: [u8; 6],
    pub gpfn: u64,
}
