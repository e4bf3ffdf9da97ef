//! HYPERVISOR_vcpu_op of vcpu.h: VCPUOP_* commands and their arguments.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

pub const VCPUOP_INITIALISE: u32 = 0;
pub const VCPUOP_UP: u32 = 1;
pub const VCPUOP_DOWN: u32 = 2;
pub const VCPUOP_IS_UP: u32 = 3;
pub const VCPUOP_GET_RUNSTATE_INFO: u32 = 4;
pub const VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA: u32 = 5;
pub const VCPUOP_SET_PERIODIC_TIMER: u32 = 6;
pub const VCPUOP_STOP_PERIODIC_TIMER: u32 = 7;
pub const VCPUOP_SET_SINGLESHOT_TIMER: u32 = 8;
pub const VCPUOP_STOP_SINGLESHOT_TIMER: u32 = 9;
pub const VCPUOP_REGISTER_VCPU_INFO: u32 = 10;
pub const VCPUOP_SEND_NMI: u32 = 11;
pub const VCPUOP_GET_PHYSID: u32 = 12;
pub const VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA: u32 = 13;

pub const RUNSTATE_RUNNING: i32 = 0;
pub const RUNSTATE_RUNNABLE: i32 = 1;
pub const RUNSTATE_BLOCKED: i32 = 2;
pub const RUNSTATE_OFFLINE: i32 = 3;
/// Set in `state_entry_time` while Xen updates a runstate area.
pub const XEN_RUNSTATE_UPDATE: u64 = 1 << 63;

/// VCPUOP_get_runstate_info result (C `struct vcpu_runstate_info`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct VcpuRunstateInfo {
    /// `RUNSTATE_*`.
    pub state: i32,
    /// Implicit C padding.
    pub pad: u32,
    pub state_entry_time: u64,
    /// Nanoseconds spent in each `RUNSTATE_*`.
    pub time: [u64; 4],
}

/// VCPUOP_register_runstate_memory_area argument (C `struct vcpu_register_runstate_memory_area`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct VcpuRegisterRunstateMemoryArea {
    /// C union `addr`: the guest address of a [`VcpuRunstateInfo`].
    pub addr: u64,
}

/// VCPUOP_set_periodic_timer argument (C `struct vcpu_set_periodic_timer`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct VcpuSetPeriodicTimer {
    pub period_ns: u64,
}

/// Bit number of [`VCPU_SSHOTTMR_FUTURE`] (C `_VCPU_SSHOTTMR_future`).
pub const VCPU_SSHOTTMR_FUTURE_BIT: u32 = 0;
/// Fail with -ETIME if the timeout is already in the past (C `VCPU_SSHOTTMR_future`).
pub const VCPU_SSHOTTMR_FUTURE: u32 = 1 << VCPU_SSHOTTMR_FUTURE_BIT;

/// VCPUOP_set_singleshot_timer argument (C `struct vcpu_set_singleshot_timer`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct VcpuSetSingleshotTimer {
    /// Absolute system time.
    pub timeout_abs_ns: u64,
    /// `VCPU_SSHOTTMR_*`.
    pub flags: u32,
    /// Implicit C tail padding.
    pub pad: u32,
}

/// VCPUOP_register_vcpu_info argument: move a vCPU's `vcpu_info` out of `shared_info`, which has room
/// for only 32 (C `struct vcpu_register_vcpu_info`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct VcpuRegisterVcpuInfo {
    /// Frame holding the new `vcpu_info`.
    pub mfn: u64,
    /// Byte offset in that frame.
    pub offset: u32,
    /// Must be zero.
    pub rsvd: u32,
}

/// VCPUOP_get_physid result (C `struct vcpu_get_physid`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct VcpuGetPhysid {
    pub phys_id: u64,
}

/// VCPUOP_register_vcpu_time_memory_area argument (C `struct vcpu_register_time_memory_area`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct VcpuRegisterTimeMemoryArea {
    /// C union `addr`: the guest address of a `vcpu_time_info`.
    pub addr: u64,
}
