//! The PV console ring page of io/console.h: what a domU's console daemon (xenconsoled) and the
//! guest share. The guest produces into `output` and consumes from `input`; the indices are
//! free-running and taken modulo the ring's size, a power of two.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A console ring index (C `XENCONS_RING_IDX`).
pub type XenconsRingIdx = u32;

/// Bytes of the daemon-to-guest ring (C `sizeof(((struct xencons_interface *)0)->in)`).
pub const XENCONS_IN_SIZE: usize = 1024;
/// Bytes of the guest-to-daemon ring (C `sizeof(((struct xencons_interface *)0)->out)`).
pub const XENCONS_OUT_SIZE: usize = 2048;

/// The console ring page (C `struct xencons_interface`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct XenconsInterface {
    /// C `in`: input from the daemon.
    pub input: [u8; XENCONS_IN_SIZE],
    /// C `out`: output to the daemon.
    pub output: [u8; XENCONS_OUT_SIZE],
    pub in_cons: XenconsRingIdx,
    pub in_prod: XenconsRingIdx,
    pub out_cons: XenconsRingIdx,
    pub out_prod: XenconsRingIdx,
}
