//! NUL-separated string fields, read and written with the rules xenstored applies.

use super::{DecodeError, EncodeError};
use crate::xs::perm::parse_decimal;
use alloc::string::String;
use alloc::vec::Vec;

/// The whole payload is exactly one NUL-terminated string (xenstored's `onearg`): not empty, ends in
/// NUL, no other NUL.
pub(super) fn one_arg(payload: &[u8]) -> Result<&[u8], DecodeError> {
    let (&last, body) = payload.split_last().ok_or(DecodeError::MissingNul)?;
    if last != 0 {
        return Err(DecodeError::MissingNul);
    }
    if body.contains(&0) {
        return Err(DecodeError::UnexpectedNul);
    }
    Ok(body)
}

/// The payload is zero or more NUL-terminated strings (`<s>|*`): empty, or ending in NUL.
pub(super) fn all_strings(payload: &[u8]) -> Result<Vec<&[u8]>, DecodeError> {
    match payload.split_last() {
        None => Ok(Vec::new()),
        Some((&0, body)) => Ok(body.split(|&b| b == 0).collect()),
        Some(_) => Err(DecodeError::MissingNul),
    }
}

/// The first `N` NUL-terminated strings, and whatever follows them (binary value or reserved field).
pub(super) fn leading<const N: usize>(payload: &[u8]) -> Result<([&[u8]; N], &[u8]), DecodeError> {
    let mut out: [&[u8]; N] = [&[]; N];
    let mut rest = payload;
    for slot in out.iter_mut() {
        let nul = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(if rest.is_empty() {
                DecodeError::MissingArgument
            } else {
                DecodeError::MissingNul
            })?;
        *slot = &rest[..nul];
        rest = &rest[nul + 1..];
    }
    Ok((out, rest))
}

pub(super) fn utf8(b: &[u8]) -> Result<String, DecodeError> {
    core::str::from_utf8(b)
        .map(String::from)
        .map_err(|_| DecodeError::NotUtf8)
}

pub(super) fn decimal(b: &[u8], max: u64) -> Result<u64, DecodeError> {
    parse_decimal(b, max).ok_or(DecodeError::BadNumber)
}

/// Appends `s` and its terminating NUL; `s` itself must not contain NUL.
pub(super) fn push_str(out: &mut Vec<u8>, s: &[u8]) -> Result<(), EncodeError> {
    if s.contains(&0) {
        return Err(EncodeError::EmbeddedNul);
    }
    out.extend_from_slice(s);
    out.push(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_arg_follows_onearg() {
        assert_eq!(one_arg(b"/a\0"), Ok(&b"/a"[..]));
        assert_eq!(one_arg(b"\0"), Ok(&b""[..]));
        assert_eq!(one_arg(b""), Err(DecodeError::MissingNul));
        assert_eq!(one_arg(b"/a"), Err(DecodeError::MissingNul));
        assert_eq!(one_arg(b"/a\0b\0"), Err(DecodeError::UnexpectedNul));
    }

    #[test]
    fn all_strings_splits_terminated_lists() {
        assert_eq!(all_strings(b""), Ok(Vec::new()));
        assert_eq!(all_strings(b"a\0bc\0"), Ok(alloc::vec![&b"a"[..], b"bc"]));
        assert_eq!(all_strings(b"a\0\0"), Ok(alloc::vec![&b"a"[..], b""]));
        assert_eq!(all_strings(b"a\0b"), Err(DecodeError::MissingNul));
    }

    #[test]
    fn leading_returns_the_rest_untouched() {
        let ([p], rest) = leading::<1>(b"/a\0v\0x").unwrap();
        assert_eq!((p, rest), (&b"/a"[..], &b"v\0x"[..]));
        let ([a, b], rest) = leading::<2>(b"p\0t\0").unwrap();
        assert_eq!((a, b, rest), (&b"p"[..], &b"t"[..], &b""[..]));
        assert_eq!(leading::<2>(b"p\0"), Err(DecodeError::MissingArgument));
        assert_eq!(leading::<2>(b"p\0t"), Err(DecodeError::MissingNul));
    }

    #[test]
    fn push_str_refuses_embedded_nul() {
        let mut v = Vec::new();
        push_str(&mut v, b"ab").unwrap();
        assert_eq!(v, b"ab\0");
        assert_eq!(push_str(&mut v, b"a\0b"), Err(EncodeError::EmbeddedNul));
    }
}
