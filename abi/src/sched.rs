//! HYPERVISOR_sched_op of sched.h: SCHEDOP_* commands, shutdown reasons, and their arguments.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::DomId;

pub const SCHEDOP_YIELD: u32 = 0;
pub const SCHEDOP_BLOCK: u32 = 1;
pub const SCHEDOP_SHUTDOWN: u32 = 2;
pub const SCHEDOP_POLL: u32 = 3;
pub const SCHEDOP_REMOTE_SHUTDOWN: u32 = 4;
pub const SCHEDOP_SHUTDOWN_CODE: u32 = 5;
pub const SCHEDOP_WATCHDOG: u32 = 6;
pub const SCHEDOP_PIN_OVERRIDE: u32 = 7;

pub const SHUTDOWN_POWEROFF: u32 = 0;
pub const SHUTDOWN_REBOOT: u32 = 1;
/// Suspend for save or migration; the hypercall returns 1 in the guest if it was cancelled.
pub const SHUTDOWN_SUSPEND: u32 = 2;
pub const SHUTDOWN_CRASH: u32 = 3;
pub const SHUTDOWN_WATCHDOG: u32 = 4;
pub const SHUTDOWN_SOFT_RESET: u32 = 5;
pub const SHUTDOWN_MAX: u32 = 5;

/// SCHEDOP_shutdown / SCHEDOP_shutdown_code argument (C `struct sched_shutdown`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct SchedShutdown {
    /// `SHUTDOWN_*`.
    pub reason: u32,
}

/// SCHEDOP_poll argument (C `struct sched_poll`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct SchedPoll {
    /// Guest handle of an array of ports.
    pub ports: u64,
    pub nr_ports: u32,
    /// Implicit C padding.
    pub pad: u32,
    /// Absolute system time, 0 for none.
    pub timeout: u64,
}

/// SCHEDOP_remote_shutdown argument (C `struct sched_remote_shutdown`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct SchedRemoteShutdown {
    pub domain_id: DomId,
    /// Implicit C padding.
    pub pad: u16,
    pub reason: u32,
}

/// SCHEDOP_watchdog argument (C `struct sched_watchdog`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct SchedWatchdog {
    /// 0 to allocate a new watchdog; otherwise the watchdog to pet or (timeout 0) destroy.
    pub id: u32,
    /// Seconds.
    pub timeout: u32,
}
