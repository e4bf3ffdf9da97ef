//! What a driver that serves user space needs: file objects and per-handle context, the
//! parameters of IRP_MJ_DEVICE_CONTROL, device interfaces (and their GUIDs), MDLs of direct I/O,
//! cancel-safe IRP queues, work items, user event objects and the system time.
//!
//! Sizes and offsets: wdm.h / ntifs.h of the Windows 10 SDK 10.0.19041 for x64, the same
//! declarations as in mingw-w64 `ddk/wdm.h`; measured again by `tests/conformance.rs`.

pub mod csq;
pub mod file;
pub mod guid;
pub mod mdl;

#[cfg(windows)]
pub mod forward;
#[cfg(windows)]
pub mod imports;

/// `ACCESS_MASK` bit `EVENT_MODIFY_STATE`: enough to set an event (winnt.h / wdm.h).
pub const EVENT_MODIFY_STATE: u32 = 0x0002;
/// `KPROCESSOR_MODE::UserMode`: a handle from user space is checked against the caller's rights.
pub const USER_MODE: i8 = 1;
/// `WORK_QUEUE_TYPE::DelayedWorkQueue`.
pub const DELAYED_WORK_QUEUE: u32 = 1;
