//! Portable logic of the xenpv WDM drivers: decisions that need no kernel call, kept out of the
//! drivers' unsafe FFI layer so they are tested on any host. The drivers (drivers/windows/xenbus,
//! later xeniface) turn each decision into kernel calls through xenpv-ddk.

#![no_std]

extern crate alloc;

pub mod pnp;
pub mod resources;
