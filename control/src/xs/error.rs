//! Errors that xenstored reports, as typed values.
//!
//! On the wire an error is the errno *name* (`"ENOENT\0"`), never a number (xs_wire.h: "We hand errors
//! as strings, for portability"). Inside xenpv the name is parsed once into [`XsError`] and only the
//! typed value is passed around.

use core::fmt;

/// An error reply from xenstored (the payload of an `XS_ERROR` message).
///
/// The set is the one xs_wire.h lists in `xsd_errors[]`, plus `EQUOTA`, which oxenstored sends when a
/// domain exceeds its quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XsError {
    EINVAL,
    EACCES,
    EEXIST,
    EISDIR,
    ENOENT,
    ENOMEM,
    ENOSPC,
    EIO,
    ENOTEMPTY,
    ENOSYS,
    EROFS,
    EBUSY,
    EAGAIN,
    EISCONN,
    E2BIG,
    EPERM,
    EQUOTA,
}

/// Every error with its wire name, in xs_wire.h's order (EQUOTA last).
const NAMES: [(XsError, &str); 17] = [
    (XsError::EINVAL, "EINVAL"),
    (XsError::EACCES, "EACCES"),
    (XsError::EEXIST, "EEXIST"),
    (XsError::EISDIR, "EISDIR"),
    (XsError::ENOENT, "ENOENT"),
    (XsError::ENOMEM, "ENOMEM"),
    (XsError::ENOSPC, "ENOSPC"),
    (XsError::EIO, "EIO"),
    (XsError::ENOTEMPTY, "ENOTEMPTY"),
    (XsError::ENOSYS, "ENOSYS"),
    (XsError::EROFS, "EROFS"),
    (XsError::EBUSY, "EBUSY"),
    (XsError::EAGAIN, "EAGAIN"),
    (XsError::EISCONN, "EISCONN"),
    (XsError::E2BIG, "E2BIG"),
    (XsError::EPERM, "EPERM"),
    (XsError::EQUOTA, "EQUOTA"),
];

impl XsError {
    /// All errors, for exhaustive tests and for servers that map their own codes.
    pub const ALL: [XsError; 17] = {
        let mut all = [XsError::EINVAL; 17];
        let mut i = 0;
        while i < NAMES.len() {
            all[i] = NAMES[i].0;
            i += 1;
        }
        all
    };

    /// The name as it travels on the wire (without the terminating NUL).
    pub fn as_str(self) -> &'static str {
        // NAMES covers every variant (checked by a test), so the fallback is never taken.
        NAMES
            .iter()
            .find(|(e, _)| *e == self)
            .map_or("EINVAL", |(_, n)| n)
    }

    /// Parses a wire name (without the NUL). Unknown names are `None`: the caller decides whether an
    /// unknown error is a protocol error.
    pub fn from_name(name: &[u8]) -> Option<XsError> {
        NAMES
            .iter()
            .find(|(_, n)| n.as_bytes() == name)
            .map(|(e, _)| *e)
    }
}

impl fmt::Display for XsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_round_trips_through_its_wire_name() {
        for e in XsError::ALL {
            assert_eq!(XsError::from_name(e.as_str().as_bytes()), Some(e));
        }
        // Distinct names: a copy-paste slip in NAMES would make two errors share a name.
        for (i, a) in XsError::ALL.iter().enumerate() {
            for b in &XsError::ALL[i + 1..] {
                assert_ne!(a.as_str(), b.as_str());
            }
        }
    }

    #[test]
    fn every_xs_wire_h_error_is_known() {
        for (_, name) in xenpv_abi::xs_wire::XSD_ERRORS {
            let e = XsError::from_name(name.as_bytes()).unwrap();
            assert_eq!(e.as_str(), *name);
        }
    }

    #[test]
    fn wire_names_match_xs_wire_h() {
        assert_eq!(XsError::ENOENT.as_str(), "ENOENT");
        assert_eq!(XsError::EAGAIN.as_str(), "EAGAIN");
        assert_eq!(XsError::E2BIG.as_str(), "E2BIG");
        assert_eq!(XsError::from_name(b"EQUOTA"), Some(XsError::EQUOTA));
    }

    #[test]
    fn unknown_or_malformed_names_are_rejected() {
        assert_eq!(XsError::from_name(b"ENOENT\0"), None);
        assert_eq!(XsError::from_name(b"enoent"), None);
        assert_eq!(XsError::from_name(b""), None);
        assert_eq!(XsError::from_name(b"ETIMEDOUT"), None);
    }
}
