//! The shared info page and per-vCPU info of xen.h (x86_64 layout of arch-x86), and the PV boot
//! `start_info` page.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::EvtchnPort;

/// vCPUs whose `vcpu_info` lives in `shared_info`; others must use VCPUOP_register_vcpu_info.
pub const XEN_LEGACY_MAX_VCPUS: usize = 32;

/// `VcpuTimeInfo::flags`: the TSC is stable across vCPUs.
pub const XEN_PVCLOCK_TSC_STABLE_BIT: u8 = 1 << 0;
/// `VcpuTimeInfo::flags`: the guest was stopped (e.g. paused) since the last update.
pub const XEN_PVCLOCK_GUEST_STOPPED: u8 = 1 << 1;

/// Per-vCPU system time (C `struct vcpu_time_info`). `version` is odd while Xen updates it.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct VcpuTimeInfo {
    pub version: u32,
    pub pad0: u32,
    /// TSC at the last update.
    pub tsc_timestamp: u64,
    /// Nanoseconds since boot at the last update.
    pub system_time: u64,
    /// `ns = ((tsc - tsc_timestamp) << tsc_shift) * tsc_to_system_mul >> 32`.
    pub tsc_to_system_mul: u32,
    pub tsc_shift: i8,
    /// `XEN_PVCLOCK_*`.
    pub flags: u8,
    pub pad1: [u8; 2],
}

/// x86_64 part of `vcpu_info` (C `struct arch_vcpu_info`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct ArchVcpuInfo {
    pub cr2: u64,
    pub pad: u64,
}

/// Per-vCPU event and time state (C `struct vcpu_info`), 64 bytes.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct VcpuInfo {
    /// Set by Xen when an event is pending for this vCPU; cleared by the guest.
    pub evtchn_upcall_pending: u8,
    /// Set by the guest to hold off upcalls (PV).
    pub evtchn_upcall_mask: u8,
    /// Implicit C padding.
    pub pad: [u8; 6],
    /// 2-level ABI: which words of `evtchn_pending` have pending bits.
    pub evtchn_pending_sel: u64,
    pub arch: ArchVcpuInfo,
    pub time: VcpuTimeInfo,
}

/// x86_64 part of `shared_info` (C `struct arch_shared_info`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct ArchSharedInfo {
    pub max_pfn: u64,
    pub pfn_to_mfn_frame_list_list: u64,
    pub nmi_reason: u64,
    pub p2m_cr3: u64,
    pub p2m_vaddr: u64,
    pub p2m_generation: u64,
}

/// The shared info page (C `struct shared_info`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct SharedInfo {
    pub vcpu_info: [VcpuInfo; XEN_LEGACY_MAX_VCPUS],
    /// 2-level ABI: one bit per port.
    pub evtchn_pending: [u64; 64],
    /// 2-level ABI: one bit per port; a set bit holds off the upcall.
    pub evtchn_mask: [u64; 64],
    /// Odd while Xen updates the wall clock.
    pub wc_version: u32,
    /// Wall clock at system time 0: seconds (low 32 bits).
    pub wc_sec: u32,
    pub wc_nsec: u32,
    /// High 32 bits of the seconds.
    pub wc_sec_hi: u32,
    pub arch: ArchSharedInfo,
}

/// The domU member of `start_info`'s `console` union.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct StartInfoConsoleDomU {
    /// Frame of the console ring page.
    pub mfn: u64,
    pub evtchn: EvtchnPort,
    /// Implicit C tail padding.
    pub pad: u32,
}

/// Bytes in `StartInfo::cmd_line` (C `MAX_GUEST_CMDLINE`).
pub const MAX_GUEST_CMDLINE: usize = 1024;

/// The page a PV guest finds at boot (C `struct start_info`, x86_64).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct StartInfo {
    /// `"xen-<version>-<platform>"`, NUL-terminated.
    pub magic: [u8; 32],
    pub nr_pages: u64,
    /// Machine address of the shared info page.
    pub shared_info: u64,
    /// `SIF_*`.
    pub flags: u32,
    /// Implicit C padding.
    pub pad0: u32,
    pub store_mfn: u64,
    pub store_evtchn: EvtchnPort,
    /// Implicit C padding.
    pub pad1: u32,
    /// C union `console`, read as its domU member (dom0 has `info_off`, `info_size` there).
    pub console: StartInfoConsoleDomU,
    pub pt_base: u64,
    pub nr_pt_frames: u64,
    pub mfn_list: u64,
    pub mod_start: u64,
    pub mod_len: u64,
    pub cmd_line: [u8; MAX_GUEST_CMDLINE],
    pub first_p2m_pfn: u64,
    pub nr_p2m_frames: u64,
}

pub const SIF_PRIVILEGED: u32 = 1 << 0;
pub const SIF_INITDOMAIN: u32 = 1 << 1;
pub const SIF_MULTIBOOT_MOD: u32 = 1 << 2;
pub const SIF_MOD_START_PFN: u32 = 1 << 3;
pub const SIF_VIRT_P2M_4TOOLS: u32 = 1 << 4;
pub const SIF_PM_MASK: u32 = 0xFF << 8;
