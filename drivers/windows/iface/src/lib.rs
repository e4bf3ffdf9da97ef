//! XENIFACE's portable half, tested on the host: the IOCTL protocol between user space and the
//! driver, the per-handle state behind it, and the guest agent.
//!
//! - [`ioctl`]: the control codes and the device interface GUID.
//! - [`request`]: the strict decoder of input buffers (and the encoder user-mode callers use).
//! - [`reply`]: replies into output buffers, with the needed size when a buffer is short.
//! - [`error`]: typed errors and the NTSTATUS of each.
//! - [`session`]: what one open handle owns (transactions, watches, ports, grants) and the
//!   operations on it; everything is released when the handle is closed.
//! - [`lease`]: the requests behind grants, completed once and only after their grants ended.
//! - [`agent`]: control/feature-* and control/shutdown, as the toolstack expects them.
//! - [`time`]: Windows system time from Xen's wall clock, and whether to set it after a resume.
//!
//! The driver (drivers/windows/xeniface) does the kernel's part: the device interface, IRPs,
//! event objects, MDLs. Everything that decides something is here.

#![no_std]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod agent;
pub mod error;
pub mod ioctl;
pub mod lease;
pub mod reply;
pub mod request;
pub mod session;
pub mod time;

#[cfg(test)]
mod sim_home;
