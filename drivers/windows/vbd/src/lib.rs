//! XENVBD's portable logic: everything of the STORPORT miniport that is not a kernel call, tested
//! on the host against the sim's blkback.
//!
//! - [`srb`]: reads a `SCSI_REQUEST_BLOCK` or a `STORAGE_REQUEST_BLOCK` (with its address and
//!   `SRBEX_DATA_SCSI_CDB16/32` blocks) from the SRB's bytes, validating every length and offset,
//!   and writes the outcome (SRB status, SCSI status, transfer length) back.
//! - [`miniport`]: [`miniport::Miniport`], the request path: a CDB through the SCSI translation
//!   layer (xenpv-datapath `scsi`) to the blkif queue of the submitting processor, and the core's
//!   completions back to SRB outcomes, each SRB completed exactly once, across reconnects (the
//!   core replays what was in flight).
//! - [`adapter`]: what XENVBD tells storport about itself (HW_INITIALIZATION_DATA and
//!   PORT_CONFIGURATION_INFORMATION choices, in normal and dump mode) and the adapter control
//!   types it supports.
//! - [`frontend`]: the vbd's frontend driver (control plane) around the miniport: the first
//!   handshake and the rounds that follow backend restarts and protocol errors.
//! - [`dump`]: the crash-dump / hibernation path: one ring, polled, granting only through the
//!   reserved grant references, no allocation once started; [`dump_data`] is the block the
//!   normal instance leaves for the dump instance (`MiniportDumpData`), [`dump_store`] the
//!   polled take-over of the vbd at dump time, [`dump_bus`] both over XENBUS's dump interface
//!   (xenpv-busif `dump`).
//!
//! The kernel side (drivers/windows/xenvbd) turns storport's calls into these and back.

#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod adapter;
pub mod dump;
pub mod dump_bus;
pub mod dump_data;
pub mod dump_store;
pub mod frontend;
pub mod miniport;
pub mod srb;
