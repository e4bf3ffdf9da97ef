//! xenstore node permissions: `<access><domid>` strings such as `"r0"` or `"b3"`.
//!
//! xenstore.txt: the first permission names the node's owner (and the access everyone else gets), each
//! further one grants a specific domain an access. The string form is parsed strictly: one access
//! letter, then a decimal domid without sign, spaces or leading zeros, at most 65535.

use alloc::string::String;
use core::fmt;

/// What a domain may do with a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// `n`: no access.
    None,
    /// `r`: read only.
    Read,
    /// `w`: write only.
    Write,
    /// `b`: read and write.
    Both,
}

impl Access {
    /// The access letter on the wire.
    pub fn letter(self) -> char {
        match self {
            Access::None => 'n',
            Access::Read => 'r',
            Access::Write => 'w',
            Access::Both => 'b',
        }
    }

    fn from_letter(b: u8) -> Option<Access> {
        match b {
            b'n' => Some(Access::None),
            b'r' => Some(Access::Read),
            b'w' => Some(Access::Write),
            b'b' => Some(Access::Both),
            _ => None,
        }
    }

    /// Whether this access allows reading.
    pub fn can_read(self) -> bool {
        matches!(self, Access::Read | Access::Both)
    }

    /// Whether this access allows writing.
    pub fn can_write(self) -> bool {
        matches!(self, Access::Write | Access::Both)
    }
}

/// One permission entry: a domain and its access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Perm {
    pub domid: u16,
    pub access: Access,
}

/// Why a permission string was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PermParseError {
    /// The string is empty.
    Empty,
    /// The first byte is not one of `n r w b`.
    BadAccess(u8),
    /// The domid is missing, not plain decimal, has leading zeros, or exceeds 65535.
    BadDomid,
}

impl Perm {
    pub fn new(domid: u16, access: Access) -> Perm {
        Perm { domid, access }
    }

    /// Parses the wire form (without NUL), e.g. `b"r0"`.
    pub fn parse(s: &[u8]) -> Result<Perm, PermParseError> {
        let (&first, digits) = s.split_first().ok_or(PermParseError::Empty)?;
        let access = Access::from_letter(first).ok_or(PermParseError::BadAccess(first))?;
        let domid = parse_decimal(digits, u16::MAX.into()).ok_or(PermParseError::BadDomid)?;
        // parse_decimal bounded the value by u16::MAX, so the narrowing cannot lose bits.
        Ok(Perm {
            domid: domid as u16,
            access,
        })
    }

    /// The wire form without NUL, e.g. `"b3"`.
    pub fn to_wire(&self) -> String {
        use core::fmt::Write;
        let mut s = String::with_capacity(6);
        // Writing into a String cannot fail.
        let _ = write!(s, "{self}");
        s
    }
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.access.letter(), self.domid)
    }
}

/// Strict unsigned decimal: digits only, no leading zeros (except "0" itself), value <= `max`.
pub(crate) fn parse_decimal(s: &[u8], max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || (s.len() > 1 && s[0] == b'0') {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    (v <= max).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_access_letter() {
        assert_eq!(Perm::parse(b"n0"), Ok(Perm::new(0, Access::None)));
        assert_eq!(Perm::parse(b"r0"), Ok(Perm::new(0, Access::Read)));
        assert_eq!(Perm::parse(b"w12"), Ok(Perm::new(12, Access::Write)));
        assert_eq!(Perm::parse(b"b3"), Ok(Perm::new(3, Access::Both)));
        assert_eq!(Perm::parse(b"b65535"), Ok(Perm::new(65535, Access::Both)));
    }

    #[test]
    fn rejects_malformed_strings() {
        assert_eq!(Perm::parse(b""), Err(PermParseError::Empty));
        assert_eq!(Perm::parse(b"x0"), Err(PermParseError::BadAccess(b'x')));
        assert_eq!(Perm::parse(b"R0"), Err(PermParseError::BadAccess(b'R')));
        for bad in [
            &b"r"[..],
            b"r-1",
            b"r+1",
            b"r 1",
            b"r01",
            b"r65536",
            b"r1a",
            b"r99999999999999999999999",
        ] {
            assert_eq!(Perm::parse(bad), Err(PermParseError::BadDomid), "{bad:?}");
        }
    }

    #[test]
    fn wire_form_round_trips() {
        for p in [
            Perm::new(0, Access::Read),
            Perm::new(7, Access::Both),
            Perm::new(65535, Access::None),
        ] {
            assert_eq!(Perm::parse(p.to_wire().as_bytes()), Ok(p));
        }
        assert_eq!(Perm::new(3, Access::Both).to_wire(), "b3");
    }

    #[test]
    fn access_rights() {
        assert!(Access::Both.can_read() && Access::Both.can_write());
        assert!(Access::Read.can_read() && !Access::Read.can_write());
        assert!(!Access::Write.can_read() && Access::Write.can_write());
        assert!(!Access::None.can_read() && !Access::None.can_write());
    }
}
