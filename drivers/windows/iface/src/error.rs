//! Why a request failed, as typed values, and the NTSTATUS each becomes.
//!
//! Two kinds: the caller's buffers are wrong ([`RequestError`], found by the decoder before
//! anything is done), or the operation itself failed ([`OpError`]: xenstore said no, the handle
//! does not own the transaction, the hypervisor refused a port). Each maps to one NTSTATUS, so a
//! user-mode caller sees the usual Win32 error (STATUS_INVALID_PARAMETER is
//! ERROR_INVALID_PARAMETER, STATUS_OBJECT_NAME_NOT_FOUND is ERROR_FILE_NOT_FOUND, …).

use core::fmt;

use xenpv_control::xs::client::Error as StoreError;
use xenpv_control::xs::path::PathError;
use xenpv_control::xs::XsError;
use xenpv_datapath::platform::PlatformError;
use xenpv_ddk::status::*;

/// The caller's input or output buffer is not acceptable. Nothing was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// A control code this device does not have.
    UnknownIoctl(u32),
    /// A fixed-size input of the wrong length.
    InputLength { expected: usize, got: usize },
    /// The input is shorter than its fixed part.
    InputTooShort { min: usize, got: usize },
    /// A string does not end with a NUL inside the buffer.
    MissingNul,
    /// A string with a NUL inside it, at this offset of the input.
    EmbeddedNul(usize),
    /// A string that is not UTF-8.
    NotUtf8,
    /// A path xenstored would refuse (bad character, too long, …).
    BadPath(PathError),
    /// The path and value do not fit in one xenstore message.
    TooLong { len: usize, max: usize },
    /// A field with a value outside its range (a flag, a reserved field that must be 0).
    BadField(&'static str),
    /// The output buffer cannot hold even the 4-byte length every reply starts with.
    OutputTooSmall { needed: usize },
    /// Memory to grant that is not whole, page-aligned pages (or none).
    BadGrantBuffer,
}

/// The operation was understood but failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpError {
    /// xenstore's answer or the connection's failure.
    Store(StoreError),
    /// A transaction id this handle did not start (or already ended).
    NoSuchTransaction(u32),
    /// A watch id this handle does not have.
    NoSuchWatch(u32),
    /// A port this handle did not bind.
    NoSuchPort(u32),
    /// A grant id this handle does not have.
    NoSuchGrant(u32),
    /// A user handle that is not an event the caller may set.
    BadHandle,
    /// A grant id this handle already uses.
    GrantIdInUse(u32),
    /// The per-handle limit of watches, ports, grants or transactions is reached.
    TooMany(&'static str),
    /// The hypervisor or the bus refused (no ports, no grant references, …).
    Platform(PlatformError),
    /// The remote domain still maps a granted page: the grant stays; try again later.
    GrantInUse,
    /// A request the session does not run itself (grants and the agent have their own paths).
    NotASessionRequest,
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        OpError::Store(e)
    }
}

impl From<PlatformError> for OpError {
    fn from(e: PlatformError) -> Self {
        OpError::Platform(e)
    }
}

impl RequestError {
    pub fn status(&self) -> NtStatus {
        match self {
            RequestError::UnknownIoctl(_) => STATUS_INVALID_DEVICE_REQUEST,
            RequestError::OutputTooSmall { .. } => STATUS_BUFFER_TOO_SMALL,
            _ => STATUS_INVALID_PARAMETER,
        }
    }
}

/// The NTSTATUS of a xenstore error, chosen so the Win32 error reads naturally.
pub fn xs_status(e: XsError) -> NtStatus {
    match e {
        XsError::ENOENT => STATUS_OBJECT_NAME_NOT_FOUND,
        XsError::EACCES | XsError::EPERM | XsError::EROFS => STATUS_ACCESS_DENIED,
        XsError::EEXIST | XsError::EISCONN => STATUS_OBJECT_NAME_COLLISION,
        XsError::ENOTEMPTY => STATUS_DIRECTORY_NOT_EMPTY,
        XsError::EAGAIN => STATUS_RETRY,
        XsError::ENOSPC | XsError::EQUOTA | XsError::ENOMEM => STATUS_QUOTA_EXCEEDED,
        XsError::EBUSY => STATUS_DEVICE_BUSY,
        XsError::ENOSYS => STATUS_NOT_IMPLEMENTED,
        XsError::EINVAL | XsError::EISDIR | XsError::E2BIG => STATUS_INVALID_PARAMETER,
        XsError::EIO => STATUS_IO_DEVICE_ERROR,
    }
}

impl OpError {
    pub fn status(&self) -> NtStatus {
        match self {
            OpError::Store(StoreError::Xs(e)) => xs_status(*e),
            OpError::Store(StoreError::Encode(_)) => STATUS_INVALID_PARAMETER,
            OpError::Store(StoreError::TransactionRetries(_)) => STATUS_RETRY,
            // The connection to xenstored is broken or out of step: not the caller's fault.
            OpError::Store(_) => STATUS_IO_DEVICE_ERROR,
            OpError::NoSuchTransaction(_)
            | OpError::NoSuchWatch(_)
            | OpError::NoSuchPort(_)
            | OpError::NoSuchGrant(_) => STATUS_NOT_FOUND,
            OpError::GrantIdInUse(_) => STATUS_OBJECT_NAME_COLLISION,
            OpError::BadHandle => STATUS_INVALID_HANDLE,
            OpError::TooMany(_) => STATUS_QUOTA_EXCEEDED,
            OpError::Platform(PlatformError::Invalid) => STATUS_INVALID_PARAMETER,
            OpError::Platform(PlatformError::Os(_)) => STATUS_IO_DEVICE_ERROR,
            OpError::Platform(_) => STATUS_INSUFFICIENT_RESOURCES,
            OpError::GrantInUse => STATUS_DEVICE_BUSY,
            OpError::NotASessionRequest => STATUS_INVALID_DEVICE_REQUEST,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::UnknownIoctl(c) => write!(f, "unknown control code {c:#x}"),
            RequestError::InputLength { expected, got } => {
                write!(f, "input of {got} bytes, expected {expected}")
            }
            RequestError::InputTooShort { min, got } => {
                write!(f, "input of {got} bytes, at least {min} needed")
            }
            RequestError::MissingNul => f.write_str("string without a terminating NUL"),
            RequestError::EmbeddedNul(at) => write!(f, "NUL inside a string at byte {at}"),
            RequestError::NotUtf8 => f.write_str("string is not UTF-8"),
            RequestError::BadPath(e) => write!(f, "bad xenstore path: {e:?}"),
            RequestError::TooLong { len, max } => write!(f, "{len} bytes, at most {max}"),
            RequestError::BadField(name) => write!(f, "bad value in field {name}"),
            RequestError::OutputTooSmall { needed } => {
                write!(f, "output buffer too small, {needed} bytes needed")
            }
            RequestError::BadGrantBuffer => f.write_str("grant buffer is not whole aligned pages"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_xenstore_error_is_an_error_status() {
        for e in XsError::ALL {
            assert!(!nt_success(xs_status(e)), "{e:?}");
        }
        assert_eq!(xs_status(XsError::ENOENT), STATUS_OBJECT_NAME_NOT_FOUND);
        assert_eq!(xs_status(XsError::EAGAIN), STATUS_RETRY);
    }

    #[test]
    fn buffer_errors_are_invalid_parameter_except_a_short_output() {
        assert_eq!(RequestError::MissingNul.status(), STATUS_INVALID_PARAMETER);
        assert_eq!(
            RequestError::OutputTooSmall { needed: 4 }.status(),
            STATUS_BUFFER_TOO_SMALL
        );
        assert_eq!(
            RequestError::UnknownIoctl(1).status(),
            STATUS_INVALID_DEVICE_REQUEST
        );
        assert_eq!(OpError::NoSuchTransaction(3).status(), STATUS_NOT_FOUND);
        assert_eq!(
            OpError::Store(StoreError::Xs(XsError::EACCES)).status(),
            STATUS_ACCESS_DENIED
        );
    }
}
