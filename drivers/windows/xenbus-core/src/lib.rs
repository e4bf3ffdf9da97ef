//! XENBUS's decisions, apart from the kernel calls that carry them out, so that they are tested on
//! the host (against drivers/xen's model of Xen):
//!
//! - [`bar`]: where shared_info and the grant table frames go in the platform device's memory BAR;
//! - [`bringup`]: the start sequence (and its reverse), with each failure undoing exactly what was
//!   done before it; [`bringup::xen`] has the Xen steps themselves;
//! - [`home`]: the Xen guest platform as the bus interface's [`xenpv_busif::BusHost`];
//! - [`dump`]: the same platform as the home of the crash-dump interface (reserved grants,
//!   event channels, the polled store ring) XENVBD's dump instance uses;
//! - [`suspend`]: the HVM suspend and what a resume restores, step by step;
//! - [`children`]: which child devices exist (from the store's device listing) and their PnP IDs;
//! - [`settings`]: what the registry values under the service's `Parameters` mean.
#![no_std]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod bar;
pub mod bringup;
pub mod children;
pub mod dump;
pub mod home;
pub mod settings;
pub mod suspend;
