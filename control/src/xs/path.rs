//! xenstore path rules (xenstore.txt, and xenstored's `canonicalize`).
//!
//! A path is absolute (`/local/domain/3/device`), relative to the caller's home
//! (`device/vif/0`, only for domains) or, where watches and permissions allow it, special
//! (`@releaseDomain`). Allowed bytes are ASCII alphanumerics and `-/_@`; no `//`, no trailing `/`
//! (except the root), not empty, at most 3072 bytes absolute or 2048 relative.

use super::wire::{ABS_PATH_MAX, REL_PATH_MAX};

/// Why a path is not acceptable to xenstored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    Empty,
    /// Longer than [`ABS_PATH_MAX`] (absolute or special) or [`REL_PATH_MAX`] (relative).
    TooLong(usize),
    /// A byte outside `[A-Za-z0-9-/_@]` (this includes NUL, which would split the wire string).
    BadChar(u8),
    DoubleSlash,
    TrailingSlash,
    /// A `@` path where only real nodes are allowed.
    SpecialNotAllowed,
}

/// Which kind of path a valid path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathKind {
    Absolute,
    Relative,
    Special,
}

/// Checks `path` against xenstored's rules; `allow_special` admits `@...` paths (watches, permissions).
pub fn validate(path: &str, allow_special: bool) -> Result<PathKind, PathError> {
    let bytes = path.as_bytes();
    let kind = match bytes.first() {
        None => return Err(PathError::Empty),
        Some(b'/') => PathKind::Absolute,
        Some(b'@') if allow_special => PathKind::Special,
        Some(b'@') => return Err(PathError::SpecialNotAllowed),
        Some(_) => PathKind::Relative,
    };
    let max = if kind == PathKind::Relative {
        REL_PATH_MAX
    } else {
        ABS_PATH_MAX
    };
    if bytes.len() > max {
        return Err(PathError::TooLong(bytes.len()));
    }
    if let Some(&b) = bytes
        .iter()
        .find(|&&b| !(b.is_ascii_alphanumeric() || b"-/_@".contains(&b)))
    {
        return Err(PathError::BadChar(b));
    }
    if kind == PathKind::Special {
        // Special names are matched literally by xenstored; slashes rules do not apply to them.
        return Ok(kind);
    }
    if path.contains("//") {
        return Err(PathError::DoubleSlash);
    }
    if path.len() > 1 && path.ends_with('/') {
        return Err(PathError::TrailingSlash);
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test]
    fn accepts_valid_paths() {
        assert_eq!(validate("/", false), Ok(PathKind::Absolute));
        assert_eq!(
            validate("/local/domain/3/device/vif/0", false),
            Ok(PathKind::Absolute)
        );
        assert_eq!(
            validate("device/vbd/51712/state", false),
            Ok(PathKind::Relative)
        );
        assert_eq!(validate("@releaseDomain", true), Ok(PathKind::Special));
        assert_eq!(validate("a-b_c@d", false), Ok(PathKind::Relative));
    }

    #[test]
    fn rejects_what_xenstored_rejects() {
        assert_eq!(validate("", false), Err(PathError::Empty));
        assert_eq!(validate("/a//b", false), Err(PathError::DoubleSlash));
        assert_eq!(validate("/a/", false), Err(PathError::TrailingSlash));
        assert_eq!(validate("a/", false), Err(PathError::TrailingSlash));
        assert_eq!(validate("/a b", false), Err(PathError::BadChar(b' ')));
        assert_eq!(validate("/a\0b", false), Err(PathError::BadChar(0)));
        assert_eq!(validate("/a.b", false), Err(PathError::BadChar(b'.')));
        assert_eq!(validate("/é", false), Err(PathError::BadChar(0xc3)));
        assert_eq!(
            validate("@releaseDomain", false),
            Err(PathError::SpecialNotAllowed)
        );
    }

    #[test]
    fn length_limits_differ_for_absolute_and_relative_paths() {
        let abs_ok = String::from("/") + &"a".repeat(ABS_PATH_MAX - 1);
        assert_eq!(validate(&abs_ok, false), Ok(PathKind::Absolute));
        let abs_long = abs_ok.clone() + "a";
        assert_eq!(
            validate(&abs_long, false),
            Err(PathError::TooLong(ABS_PATH_MAX + 1))
        );

        let rel_ok = "a".repeat(REL_PATH_MAX);
        assert_eq!(validate(&rel_ok, false), Ok(PathKind::Relative));
        let rel_long = "a".repeat(REL_PATH_MAX + 1);
        assert_eq!(
            validate(&rel_long, false),
            Err(PathError::TooLong(REL_PATH_MAX + 1))
        );
    }
}
