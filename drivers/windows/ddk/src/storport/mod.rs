//! STORPORT: what a storport miniport (XENVBD) passes to and gets from storport.sys.
//!
//! - [`config`]: `HW_INITIALIZATION_DATA` (DriverEntry → `StorPortInitialize`) and
//!   `PORT_CONFIGURATION_INFORMATION` (what HwFindAdapter reads and fills in), with the miniport
//!   callback types and the flag values that go into them.
//! - [`srb`]: the two request block formats a miniport receives — the classic
//!   `SCSI_REQUEST_BLOCK` and the extended `STORAGE_REQUEST_BLOCK` with its `SRBEX_DATA_*`
//!   blocks and `STOR_ADDR_BTL8` address — and the function, status and flag values.
//! - [`sgl`]: `STOR_SCATTER_GATHER_LIST` and `STOR_DPC`.
//! - `imports` (Windows only): the storport.sys exports, and the inline helpers of storport.h
//!   over `StorPortNotification` (RequestComplete, InitializeDpc, IssueDpc).
//!
//! Layouts: storport.h and srb.h of the Windows 10 SDK 10.0.19041 for x64 (the Microsoft Learn
//! reference pages of each structure show the same declarations). mingw-w64's `ddk/srb.h` has the
//! older prefix of `PORT_CONFIGURATION_INFORMATION` and `HW_INITIALIZATION_DATA` and the whole
//! `SCSI_REQUEST_BLOCK`; `tests/conformance.rs` measures those. The Windows 8+ tails of the two
//! configuration structures and the extended SRB are not in mingw-w64; their offsets below are
//! derived from the declarations by the x64 layout rules and pinned here.

pub mod config;
pub mod sgl;
pub mod srb;

#[cfg(windows)]
pub mod imports;
