//! xenpv's fronts as user-space drivers in a Linux Xen guest.
//!
//! The cores (xenpv-datapath, xenpv-control) run unchanged; this crate is their Linux home:
//! - [`platform::LinuxPlatform`]: granted regions from /dev/xen/gntalloc ([`gntalloc`]) and event
//!   channels from /dev/xen/evtchn ([`evtchn`]);
//! - [`xenbus`]: the xenstore client over /dev/xen/xenbus;
//! - the programs in `src/bin`: `xenpv-xs-check` (control-plane checks against the real
//!   xenstored, [`xscheck`]), `xenpv-blk` (a vbd exposed as a ublk device, [`blk`], [`ublk`] over
//!   [`uring`], or as the kernel's nbd device where ublk_drv is missing) and
//!   `xenpv-net` (a vif exposed as a TAP interface with virtio-net offloads, [`net`], [`vnet`]).
//!
//! The cores never wait; the homes here poll() the device files and call "process what is pending".

pub mod blk;
pub mod evtchn;
pub mod fd;
pub mod front;
pub mod gntalloc;
pub mod mapping;
pub mod nbd;
pub mod nbd_dev;
pub mod net;
pub mod platform;
pub mod signals;
pub mod sys;
pub mod tap;
pub mod ublk;
pub mod uring;
pub mod vnet;
pub mod xenbus;
pub mod xscheck;
