//! The x86 Xen guest platform that XENBUS is on Windows and that the bare-metal proof kernel
//! (drivers/metal) boots on: finding Xen, making hypercalls, and the guest-side logic of event
//! channels, grant table frames and the PV console.
//!
//! Nothing here calls an operating system. Everything that touches the hypervisor goes through the
//! [`Hypercall`] trait, with three implementations: direct `VMCALL`/`VMMCALL` for HVM guests (what
//! Windows uses), the hypercall page of a PV guest, and a model of Xen for tests. The typed wrappers
//! in [`ops`] turn Xen's `-errno` results into [`XenError`] values.
#![no_std]

extern crate alloc;

#[cfg(any(test, feature = "model"))]
extern crate std;

pub mod console;
pub mod cpuid;
pub mod error;
pub mod evtchn;
pub mod fifo;
pub mod gnttab;
pub mod hvm;
pub mod hypercall;
/// A model of Xen answering hypercalls, for tests of code built on this crate (feature `model`).
#[cfg(any(test, feature = "model"))]
pub mod model;
pub mod ops;
pub mod pages;
pub mod platform;
pub mod pv;
mod sync;
pub mod systime;
pub mod unplug;
pub mod wallclock;

pub use error::XenError;
pub use hypercall::Hypercall;
pub use ops::Xen;
