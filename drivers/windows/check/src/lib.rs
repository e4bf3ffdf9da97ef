//! Checks of the xenpv Windows driver images, run by `cargo xtask windows` on every image it
//! packages, and tested here on synthetic images that break each rule in turn.
//!
//! An image passes when it is a PE32+ image for x86-64 with the native subsystem, executable,
//! relocatable, DEP-compatible, without writable code or thread-local storage, entered at its
//! exported `DriverEntry`, and when every import comes by name from a kernel module
//! (ntoskrnl.exe, hal.dll, ndis.sys, storport.sys) and is on the project's list
//! (drivers/windows/imports.txt). A link that succeeded with `/NODEFAULTLIB` has no unresolved
//! symbol; the import rules make sure nothing was resolved from a user-mode DLL instead.

mod allowed;
mod image;
mod inf;
pub mod mutate;
#[cfg(test)]
mod synthetic;
#[cfg(test)]
mod tests;

pub use allowed::{is_kernel_module, AllowedImports, ListError, KERNEL_MODULES};
pub use image::{check_image, Problem, Summary, DRIVER_ENTRY};
pub use inf::{check_inf, InfProblem, InfSummary};
