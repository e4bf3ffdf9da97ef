//! HYPERVISOR_xen_version of version.h and the feature bits of features.h.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Returns `major << 16 | minor`.
pub const XENVER_VERSION: u32 = 0;
pub const XENVER_EXTRAVERSION: u32 = 1;
pub const XENVER_COMPILE_INFO: u32 = 2;
pub const XENVER_CAPABILITIES: u32 = 3;
pub const XENVER_CHANGESET: u32 = 4;
pub const XENVER_PLATFORM_PARAMETERS: u32 = 5;
pub const XENVER_GET_FEATURES: u32 = 6;
pub const XENVER_PAGESIZE: u32 = 7;
pub const XENVER_GUEST_HANDLE: u32 = 8;
pub const XENVER_COMMANDLINE: u32 = 9;
pub const XENVER_BUILD_ID: u32 = 10;

/// Buffer size for XENVER_extraversion (C `XEN_EXTRAVERSION_LEN`).
pub const XEN_EXTRAVERSION_LEN: usize = 16;
/// Buffer size for XENVER_capabilities (C `XEN_CAPABILITIES_INFO_LEN`).
pub const XEN_CAPABILITIES_INFO_LEN: usize = 1024;
/// Buffer size for XENVER_changeset (C `XEN_CHANGESET_INFO_LEN`).
pub const XEN_CHANGESET_INFO_LEN: usize = 64;

/// XENVER_platform_parameters argument (C `struct xen_platform_parameters`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct XenPlatformParameters {
    pub virt_start: u64,
}

/// XENVER_get_features argument (C `struct xen_feature_info`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct XenFeatureInfo {
    /// In: which 32-bit block of `XENFEAT_*` bits.
    pub submap_idx: u32,
    /// Out: the bits.
    pub submap: u32,
}

pub const XENFEAT_WRITABLE_PAGE_TABLES: u32 = 0;
pub const XENFEAT_WRITABLE_DESCRIPTOR_TABLES: u32 = 1;
pub const XENFEAT_AUTO_TRANSLATED_PHYSMAP: u32 = 2;
pub const XENFEAT_SUPERVISOR_MODE_KERNEL: u32 = 3;
pub const XENFEAT_PAE_PGDIR_ABOVE_4GB: u32 = 4;
pub const XENFEAT_MMU_PT_UPDATE_PRESERVE_AD: u32 = 5;
pub const XENFEAT_HIGHMEM_ASSIST: u32 = 6;
pub const XENFEAT_GNTTAB_MAP_AVAIL_BITS: u32 = 7;
/// The guest may take event upcalls on an IDT vector (HVM_PARAM_CALLBACK_IRQ type vector).
pub const XENFEAT_HVM_CALLBACK_VECTOR: u32 = 8;
pub const XENFEAT_HVM_SAFE_PVCLOCK: u32 = 9;
pub const XENFEAT_HVM_PIRQS: u32 = 10;
pub const XENFEAT_DOM0: u32 = 11;
pub const XENFEAT_MEMORY_OP_VNODE_SUPPORTED: u32 = 13;
pub const XENFEAT_ARM_SMCCC_SUPPORTED: u32 = 14;
pub const XENFEAT_LINUX_RSDP_UNRESTRICTED: u32 = 15;
pub const XENFEAT_NOT_DIRECT_MAPPED: u32 = 16;
pub const XENFEAT_DIRECT_MAPPED: u32 = 17;
/// Number of 32-bit feature blocks.
pub const XENFEAT_NR_SUBMAPS: u32 = 1;
