//! Typed, minimal FFI to the Windows kernel for the xenpv drivers.
//!
//! Only what the drivers call is here: the structures they touch, the constants they use and the
//! functions they import, each function from the module that exports it (`ntoskrnl.exe` today;
//! `hal.dll`, `ndis.sys` and `storport.sys` join as XENNET and XENVBD arrive). Imports are linked
//! with `raw-dylib`, so no Windows import library (and no WDK) is needed to link a driver.
//!
//! Every structure is `#[repr(C)]` with the x64 layout, and its size and every offset the drivers
//! use are pinned by compile-time assertions whose values come from the public headers (the WDK's
//! `wdm.h` / `ntddk.h`, the same declarations as in mingw-w64's `ddk/` headers). The conformance test
//! (`tests/conformance.rs`) measures them again by compiling those headers with mingw-w64 gcc.
//!
//! The types and the portable halves of the allocator and the panic handler compile on any host
//! (that is how they are tested on Linux); the imports, the global allocator and the panic handler
//! exist only when building for Windows.

#![no_std]

#[cfg(test)]
extern crate std;

pub mod bus;
pub mod debug;
pub mod interrupt;
pub mod irp;
pub mod lower;
pub mod memory;
pub mod ndis;
pub mod object;
pub mod personality;
pub mod pool;
pub mod registry;
pub mod resource;
pub mod status;
pub mod storport;
pub mod string;
pub mod sync;
pub mod text;
pub mod userio;

mod bugcheck;
pub use bugcheck::{panic_parameters, XENPV_PANIC_BUGCHECK};

#[cfg(windows)]
pub mod kernel;
#[cfg(windows)]
mod remove_lock;

#[cfg(windows)]
mod chkstk;
#[cfg(windows)]
mod runtime;
