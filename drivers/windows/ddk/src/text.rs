//! A fixed-size, always NUL-terminated text buffer for kernel debug output, filled with
//! `core::fmt` and never allocating (a panic message is formatted while the pool may be the very
//! thing that failed). Text that does not fit is cut at a character boundary.

use core::fmt;

/// Up to `N - 1` bytes of UTF-8 followed by a NUL.
pub struct FixedText<const N: usize> {
    bytes: [u8; N],
    len: usize,
    cut: bool,
}

impl<const N: usize> FixedText<N> {
    pub const fn new() -> Self {
        assert!(N > 0, "room for the NUL is needed");
        FixedText {
            bytes: [0; N],
            len: 0,
            cut: false,
        }
    }

    /// The text written so far.
    pub fn as_str(&self) -> &str {
        // The writer only ever copies whole characters.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }

    /// The text as a NUL-terminated C string for `DbgPrintEx("%s", …)`.
    pub fn as_c_str(&self) -> *const u8 {
        self.bytes.as_ptr()
    }

    /// Whether some text was cut off.
    pub fn truncated(&self) -> bool {
        self.cut
    }
}

impl<const N: usize> Default for FixedText<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for FixedText<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = N - 1 - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.bytes[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        self.bytes[self.len] = 0;
        self.cut |= take < s.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn text_that_fits_is_kept_whole_and_nul_terminated() {
        let mut text = FixedText::<16>::new();
        write!(text, "line {}", 42).unwrap();
        assert_eq!(text.as_str(), "line 42");
        assert!(!text.truncated());
        // SAFETY: the buffer is NUL-terminated and lives as long as `text`.
        let c = unsafe { core::ffi::CStr::from_ptr(text.as_c_str().cast()) };
        assert_eq!(c.to_str().unwrap(), "line 42");
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        let mut text = FixedText::<8>::new();
        // "ab" then four two-byte characters: only two of them fit in the seven bytes.
        text.write_str("ab").unwrap();
        text.write_str("éééé").unwrap();
        assert_eq!(text.as_str(), "abéé");
        assert!(text.truncated());
        write!(text, "more").unwrap();
        // One byte of room was left: "m" takes it, the rest is cut.
        assert_eq!(text.as_str(), "abéém");
        // SAFETY: as above.
        let c = unsafe { core::ffi::CStr::from_ptr(text.as_c_str().cast()) };
        assert_eq!(c.to_bytes(), "abéém".as_bytes());
    }
}
