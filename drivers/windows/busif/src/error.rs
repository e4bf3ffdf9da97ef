//! [`BusError`]: the typed form of a [`BusStatus`], and its mapping to and from the cores' errors.

use core::fmt;

use xenpv_datapath::platform::PlatformError;

use crate::abi::*;

/// Why a call through the interface failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusError {
    /// A null pointer, a length out of range, an unknown session or handle, non-UTF-8 text.
    InvalidParameter,
    /// The interface a provider handed over is not one this crate can use (size, version, a
    /// missing function).
    BadInterface,
    /// The buffer is too small; this many bytes are needed.
    BufferTooSmall(usize),
    /// No store message is waiting.
    Empty,
    /// The session has too many unread messages.
    QueueFull,
    NoMemory,
    NoGrantRefs,
    NoPorts,
    /// Not a port, grant or region the bus handed out.
    NotOurs,
    /// The backend still uses the granted memory.
    StillInUse,
    /// A store message that is not a well-formed request.
    BadMessage,
    /// XENBUS's connection to xenstored failed.
    StoreFailed,
    /// The hypervisor or OS failed with this error number.
    Os(i32),
    /// Not available on this machine.
    Unsupported,
    /// A status code this crate does not know (a newer provider).
    Unknown(u32),
}

impl fmt::Display for BusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BusError::InvalidParameter => f.write_str("invalid parameter"),
            BusError::BadInterface => f.write_str("unusable XENBUS interface"),
            BusError::BufferTooSmall(n) => write!(f, "buffer too small ({n} bytes needed)"),
            BusError::Empty => f.write_str("no store message waiting"),
            BusError::QueueFull => f.write_str("store session queue full"),
            BusError::NoMemory => f.write_str("out of memory"),
            BusError::NoGrantRefs => f.write_str("no free grant references"),
            BusError::NoPorts => f.write_str("no free event channel ports"),
            BusError::NotOurs => f.write_str("not a port, grant or region of this bus"),
            BusError::StillInUse => f.write_str("granted memory still in use by the backend"),
            BusError::BadMessage => f.write_str("malformed xenstore request"),
            BusError::StoreFailed => f.write_str("the bus's xenstore connection failed"),
            BusError::Os(e) => write!(f, "platform error {e}"),
            BusError::Unsupported => f.write_str("not supported by this bus"),
            BusError::Unknown(c) => write!(f, "unknown bus status {c}"),
        }
    }
}

impl BusStatus {
    pub const OK: BusStatus = BusStatus {
        code: STATUS_SUCCESS,
        detail: 0,
    };

    /// `Ok(())` for success, else the typed error.
    pub fn result(self) -> Result<(), BusError> {
        let detail = self.detail;
        Err(match self.code {
            STATUS_SUCCESS => return Ok(()),
            STATUS_INVALID_PARAMETER => BusError::InvalidParameter,
            // A negative size is nonsense from the provider; it still means "too small".
            STATUS_BUFFER_TOO_SMALL => {
                BusError::BufferTooSmall(usize::try_from(detail).unwrap_or(0))
            }
            STATUS_EMPTY => BusError::Empty,
            STATUS_QUEUE_FULL => BusError::QueueFull,
            STATUS_NO_MEMORY => BusError::NoMemory,
            STATUS_NO_GRANT_REFS => BusError::NoGrantRefs,
            STATUS_NO_PORTS => BusError::NoPorts,
            STATUS_NOT_OURS => BusError::NotOurs,
            STATUS_STILL_IN_USE => BusError::StillInUse,
            STATUS_BAD_MESSAGE => BusError::BadMessage,
            STATUS_STORE_FAILED => BusError::StoreFailed,
            STATUS_OS => BusError::Os(detail),
            STATUS_UNSUPPORTED => BusError::Unsupported,
            other => BusError::Unknown(other),
        })
    }
}

impl From<BusError> for BusStatus {
    fn from(e: BusError) -> BusStatus {
        let (code, detail) = match e {
            BusError::InvalidParameter | BusError::BadInterface => (STATUS_INVALID_PARAMETER, 0),
            BusError::BufferTooSmall(n) => (
                STATUS_BUFFER_TOO_SMALL,
                i32::try_from(n).unwrap_or(i32::MAX),
            ),
            BusError::Empty => (STATUS_EMPTY, 0),
            BusError::QueueFull => (STATUS_QUEUE_FULL, 0),
            BusError::NoMemory => (STATUS_NO_MEMORY, 0),
            BusError::NoGrantRefs => (STATUS_NO_GRANT_REFS, 0),
            BusError::NoPorts => (STATUS_NO_PORTS, 0),
            BusError::NotOurs => (STATUS_NOT_OURS, 0),
            BusError::StillInUse => (STATUS_STILL_IN_USE, 0),
            BusError::BadMessage => (STATUS_BAD_MESSAGE, 0),
            BusError::StoreFailed => (STATUS_STORE_FAILED, 0),
            BusError::Os(e) => (STATUS_OS, e),
            BusError::Unsupported => (STATUS_UNSUPPORTED, 0),
            BusError::Unknown(c) => (c, 0),
        };
        BusStatus { code, detail }
    }
}

impl From<Result<(), BusError>> for BusStatus {
    fn from(r: Result<(), BusError>) -> BusStatus {
        match r {
            Ok(()) => BusStatus::OK,
            Err(e) => e.into(),
        }
    }
}

impl From<PlatformError> for BusError {
    fn from(e: PlatformError) -> BusError {
        match e {
            PlatformError::NoGrantRefs => BusError::NoGrantRefs,
            PlatformError::NoMemory => BusError::NoMemory,
            PlatformError::NoPorts => BusError::NoPorts,
            PlatformError::Invalid => BusError::NotOurs,
            PlatformError::Os(e) => BusError::Os(e),
        }
    }
}

impl From<BusError> for PlatformError {
    fn from(e: BusError) -> PlatformError {
        match e {
            BusError::NoGrantRefs => PlatformError::NoGrantRefs,
            BusError::NoMemory => PlatformError::NoMemory,
            BusError::NoPorts => PlatformError::NoPorts,
            BusError::NotOurs | BusError::InvalidParameter => PlatformError::Invalid,
            BusError::Os(e) => PlatformError::Os(e),
            // The cores have no words for the rest; keep the status code so it can be logged.
            other => PlatformError::Os(-(BusStatus::from(other).code as i32)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_survives_the_status_round_trip() {
        let all = [
            BusError::InvalidParameter,
            BusError::BufferTooSmall(4112),
            BusError::Empty,
            BusError::QueueFull,
            BusError::NoMemory,
            BusError::NoGrantRefs,
            BusError::NoPorts,
            BusError::NotOurs,
            BusError::StillInUse,
            BusError::BadMessage,
            BusError::StoreFailed,
            BusError::Os(-22),
            BusError::Unsupported,
            BusError::Unknown(77),
        ];
        for e in all {
            assert_eq!(BusStatus::from(e).result(), Err(e), "{e}");
        }
        assert_eq!(BusStatus::OK.result(), Ok(()));
    }

    #[test]
    fn hostile_status_details_stay_typed() {
        let s = BusStatus {
            code: STATUS_BUFFER_TOO_SMALL,
            detail: -5,
        };
        assert_eq!(s.result(), Err(BusError::BufferTooSmall(0)));
        assert_eq!(
            BusStatus::from(BusError::BufferTooSmall(usize::MAX)).detail,
            i32::MAX
        );
    }

    #[test]
    fn platform_errors_map_both_ways() {
        for p in [
            PlatformError::NoGrantRefs,
            PlatformError::NoMemory,
            PlatformError::NoPorts,
            PlatformError::Invalid,
            PlatformError::Os(-5),
        ] {
            assert_eq!(PlatformError::from(BusError::from(p)), p);
        }
        assert_eq!(
            PlatformError::from(BusError::StoreFailed),
            PlatformError::Os(-(STATUS_STORE_FAILED as i32))
        );
    }
}
