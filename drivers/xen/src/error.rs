//! Xen's error results. A hypercall returns a negative errno (Xen's own numbering, public/errno.h,
//! which matches Linux's for everything used here); grant table operations report a per-entry
//! `GNTST_*` status besides.

use core::fmt;

/// A failed hypercall: `-errno` as Xen returned it, with names for the values guests meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XenError {
    /// EPERM: not allowed (e.g. console_io from an unprivileged domain on a release build).
    NotPermitted,
    /// ENOENT.
    NoEntry,
    /// ESRCH: no such domain.
    NoSuchDomain,
    /// EAGAIN: try again.
    Again,
    /// ENOMEM.
    NoMemory,
    /// EACCES.
    AccessDenied,
    /// EFAULT: Xen could not read or write an argument.
    BadAddress,
    /// EBUSY.
    Busy,
    /// EEXIST.
    Exists,
    /// EINVAL.
    Invalid,
    /// ENOSPC: e.g. no free event channel port.
    NoSpace,
    /// ENOSYS: the hypercall or sub-op does not exist.
    NotImplemented,
    /// EOPNOTSUPP.
    NotSupported,
    /// Any other errno (positive number).
    Errno(i64),
    /// A grant table operation returned 0 but set this `GNTST_*` status in its argument.
    Grant(i16),
    /// Xen answered with a value outside what the operation can return (a broken model or ABI mix-up).
    BadAnswer(i64),
}

impl XenError {
    /// The error for a negative hypercall result.
    pub fn from_errno(ret: i64) -> Self {
        match -ret {
            1 => XenError::NotPermitted,
            2 => XenError::NoEntry,
            3 => XenError::NoSuchDomain,
            11 => XenError::Again,
            12 => XenError::NoMemory,
            13 => XenError::AccessDenied,
            14 => XenError::BadAddress,
            16 => XenError::Busy,
            17 => XenError::Exists,
            22 => XenError::Invalid,
            28 => XenError::NoSpace,
            38 => XenError::NotImplemented,
            95 => XenError::NotSupported,
            e => XenError::Errno(e),
        }
    }

    /// The errno Xen would return for this error (for the model, and for logs).
    pub fn errno(self) -> i64 {
        match self {
            XenError::NotPermitted => 1,
            XenError::NoEntry => 2,
            XenError::NoSuchDomain => 3,
            XenError::Again => 11,
            XenError::NoMemory => 12,
            XenError::AccessDenied => 13,
            XenError::BadAddress => 14,
            XenError::Busy => 16,
            XenError::Exists => 17,
            XenError::Invalid => 22,
            XenError::NoSpace => 28,
            XenError::NotImplemented => 38,
            XenError::NotSupported => 95,
            XenError::Errno(e) | XenError::BadAnswer(e) => e,
            XenError::Grant(_) => 0,
        }
    }
}

/// A raw hypercall result: negative values are errors, the rest the operation's answer.
pub fn check(ret: i64) -> Result<i64, XenError> {
    if ret < 0 {
        Err(XenError::from_errno(ret))
    } else {
        Ok(ret)
    }
}

impl fmt::Display for XenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XenError::Grant(s) => {
                let text = xenpv_abi::grant_table::GNTTABOP_ERROR_MSGS
                    .get(s.unsigned_abs() as usize)
                    .copied()
                    .unwrap_or("unknown grant status");
                write!(f, "grant table status {s} ({text})")
            }
            XenError::BadAnswer(v) => write!(f, "unexpected hypercall answer {v}"),
            other => write!(f, "hypercall failed: -{} ({other:?})", other.errno()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn errno_round_trips_and_unknown_values_are_kept() {
        for e in [1, 2, 3, 11, 12, 13, 14, 16, 17, 22, 28, 38, 95, 7, 110] {
            assert_eq!(XenError::from_errno(-e).errno(), e);
        }
        assert_eq!(XenError::from_errno(-38), XenError::NotImplemented);
        assert_eq!(XenError::from_errno(-110), XenError::Errno(110));
    }

    #[test]
    fn check_passes_answers_and_types_errors() {
        assert_eq!(check(0), Ok(0));
        assert_eq!(check(0x4_0011), Ok(0x4_0011));
        assert_eq!(check(-1), Err(XenError::NotPermitted));
    }

    #[test]
    fn grant_status_is_described_in_xens_words() {
        assert_eq!(
            XenError::Grant(-3).to_string(),
            "grant table status -3 (invalid grant reference)"
        );
        assert_eq!(
            XenError::Grant(-99).to_string(),
            "grant table status -99 (unknown grant status)"
        );
    }
}
