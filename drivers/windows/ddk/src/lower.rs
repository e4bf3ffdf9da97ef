//! Synchronous PnP requests a function driver sends to the device below it in its own stack:
//! IRP_MN_QUERY_INTERFACE (a bus driver's interface table) and IRP_MN_QUERY_ID for the instance
//! id. XENNET, XENVBD and XENIFACE use these to find XENBUS below them, at PASSIVE_LEVEL, from
//! their start routines.
//!
//! Values and parameter layouts: wdm.h of the Windows 10 SDK 10.0.19041, x64
//! (`IO_STACK_LOCATION.Parameters.QueryInterface` / `.QueryId`).

use core::fmt;

use crate::status::NtStatus;

/// Characters of an instance id that are looked at: enough for the decimal device numbers XENBUS
/// gives its children (at most 5 digits), so a longer id is already a wrong one.
pub const MAX_INSTANCE_ID: usize = 8;

/// Why a request to the device below did not give what was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LowerError<E> {
    /// The request failed below (nobody answers it, or another version of the interface).
    Status(NtStatus),
    /// The interface table came back but the caller's check refused it.
    Interface(E),
    /// The instance id is not what the caller expects (e.g. not a device number).
    InstanceId,
}

impl<E: fmt::Debug> fmt::Display for LowerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LowerError::Status(s) => write!(f, "request failed below: {s:#x}"),
            LowerError::Interface(e) => write!(f, "interface table refused: {e:?}"),
            LowerError::InstanceId => f.write_str("unexpected instance id"),
        }
    }
}

/// The characters of the NUL-terminated UTF-16 string at `id`, at most [`MAX_INSTANCE_ID`] of
/// them (an id without a NUL among those is cut there and its parser sees it as too long).
///
/// # Safety
/// `id` points to a NUL-terminated UTF-16 string, or to at least [`MAX_INSTANCE_ID`] readable
/// characters.
pub unsafe fn instance_id_chars<'a>(id: *const u16) -> &'a [u16] {
    // SAFETY: the caller's promise; nothing past the NUL or the limit is read.
    unsafe {
        let len = (0..MAX_INSTANCE_ID)
            .find(|&i| *id.add(i) == 0)
            .unwrap_or(MAX_INSTANCE_ID);
        core::slice::from_raw_parts(id, len)
    }
}

#[cfg(windows)]
pub use requests::{query_instance_id, query_interface};

#[cfg(windows)]
mod requests {
    use core::ffi::c_void;
    use core::ptr::{null, null_mut};

    use super::{instance_id_chars, LowerError};
    use crate::bus::{BUS_QUERY_INSTANCE_ID, IRP_MN_QUERY_ID};
    use crate::irp::{next_stack_location, IoStatusBlock, IRP_MJ_PNP, IRP_MN_QUERY_INTERFACE};
    use crate::kernel::{
        ExFreePoolWithTag, IofCallDriver, KeInitializeEvent, KeWaitForSingleObject,
    };
    use crate::object::DeviceObject;
    use crate::status::{nt_success, NtStatus, STATUS_INSUFFICIENT_RESOURCES};
    use crate::status::{STATUS_NOT_SUPPORTED, STATUS_PENDING};
    use crate::sync::{KEvent, EXECUTIVE, KERNEL_MODE, NOTIFICATION_EVENT};
    use crate::userio::guid::Guid;
    use crate::userio::imports::IoBuildSynchronousFsdRequest;

    /// Sends a PnP request with `minor` and `parameters` to `device` and waits for it; returns
    /// its final status and `IoStatus.Information`.
    ///
    /// # Safety
    /// PASSIVE_LEVEL; `device` is a referenced device object of the stack below the caller;
    /// whatever `parameters` point to lives until this returns.
    unsafe fn send_pnp(
        device: *mut DeviceObject,
        minor: u8,
        parameters: [usize; 4],
    ) -> Result<usize, NtStatus> {
        // SAFETY: the event and status block live on this stack until the wait returns, which is
        // after the I/O manager completed the IRP (it signals the event and frees the IRP).
        unsafe {
            let mut event: KEvent = core::mem::zeroed();
            KeInitializeEvent(&mut event, NOTIFICATION_EVENT, 0);
            let mut iosb: IoStatusBlock = core::mem::zeroed();
            let irp = IoBuildSynchronousFsdRequest(
                u32::from(IRP_MJ_PNP),
                device,
                null_mut(),
                0,
                null_mut(),
                &mut event,
                &mut iosb,
            );
            if irp.is_null() {
                return Err(STATUS_INSUFFICIENT_RESOURCES);
            }
            // PnP requests start as "not supported", so a stack that ignores one says so.
            (*irp).io_status.status = STATUS_NOT_SUPPORTED;
            let location = next_stack_location(irp);
            (*location).minor_function = minor;
            (*location).parameters = parameters;
            let mut status = IofCallDriver(device, irp);
            if status == STATUS_PENDING {
                KeWaitForSingleObject(
                    (&mut event as *mut KEvent).cast(),
                    EXECUTIVE,
                    KERNEL_MODE,
                    0,
                    null(),
                );
                status = iosb.status;
            }
            if nt_success(status) {
                Ok(iosb.information)
            } else {
                Err(status)
            }
        }
    }

    /// Asks `device` for the interface `interface_type` (`size` bytes, `version`), filling in
    /// `table` (which starts as the caller made it: a bus checks its header), then hands the
    /// filled table to `accept`, which validates it.
    ///
    /// # Safety
    /// As `send_pnp`; `interface_type` points to a GUID (any `#[repr(C)]` one of the same
    /// layout, such as xenpv-busif's); `T` is the `#[repr(C)]` table behind wdm.h's `INTERFACE`
    /// header that the interface of that GUID, size and version is, and `size` is at most its size.
    pub unsafe fn query_interface<T, R, E>(
        device: *mut DeviceObject,
        interface_type: *const Guid,
        size: u16,
        version: u16,
        mut table: T,
        accept: impl FnOnce(T) -> Result<R, E>,
    ) -> Result<R, LowerError<E>> {
        debug_assert!(usize::from(size) <= core::mem::size_of::<T>());
        // Parameters.QueryInterface: InterfaceType, Size | Version << 16, Interface, data.
        let parameters = [
            interface_type as usize,
            usize::from(size) | (usize::from(version) << 16),
            &mut table as *mut T as usize,
            0,
        ];
        // SAFETY: the caller's promise; the GUID and `table` outlive the synchronous request.
        unsafe { send_pnp(device, IRP_MN_QUERY_INTERFACE, parameters) }
            .map_err(LowerError::Status)?;
        accept(table).map_err(LowerError::Interface)
    }

    /// Asks `device` for its instance id (`BusQueryInstanceID`) and hands its characters (at
    /// most [`super::MAX_INSTANCE_ID`]) to `parse`.
    ///
    /// # Safety
    /// As `send_pnp`.
    pub unsafe fn query_instance_id<R, E>(
        device: *mut DeviceObject,
        parse: impl FnOnce(&[u16]) -> Option<R>,
    ) -> Result<R, LowerError<E>> {
        // SAFETY: the caller's promise.
        let information = unsafe {
            send_pnp(
                device,
                IRP_MN_QUERY_ID,
                [BUS_QUERY_INSTANCE_ID as usize, 0, 0, 0],
            )
        }
        .map_err(LowerError::Status)?;
        if information == 0 {
            return Err(LowerError::Status(STATUS_NOT_SUPPORTED));
        }
        let id = information as *mut u16;
        // SAFETY: a successful QUERY_ID returns a NUL-terminated UTF-16 string in pool that the
        // caller frees, after the parser is done with it.
        let parsed = unsafe {
            let parsed = parse(instance_id_chars(id));
            ExFreePoolWithTag(id.cast::<c_void>(), 0);
            parsed
        };
        parsed.ok_or(LowerError::InstanceId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_id_stops_at_the_nul_or_the_limit() {
        let short = [u16::from(b'1'), u16::from(b'2'), 0, u16::from(b'9')];
        // SAFETY: NUL-terminated.
        assert_eq!(unsafe { instance_id_chars(short.as_ptr()) }, &short[..2]);
        let long = [u16::from(b'7'); MAX_INSTANCE_ID + 4];
        // SAFETY: more than MAX_INSTANCE_ID readable characters.
        let cut = unsafe { instance_id_chars(long.as_ptr()) };
        assert_eq!(cut.len(), MAX_INSTANCE_ID);
        let empty = [0u16];
        // SAFETY: NUL-terminated.
        assert!(unsafe { instance_id_chars(empty.as_ptr()) }.is_empty());
    }

    #[test]
    fn errors_say_which_step_failed() {
        extern crate std;
        use std::string::ToString;
        let status: LowerError<u8> = LowerError::Status(0xc000_00bbu32 as NtStatus);
        assert_eq!(status.to_string(), "request failed below: 0xc00000bb");
        assert_eq!(
            LowerError::Interface(7u8).to_string(),
            "interface table refused: 7"
        );
    }
}
