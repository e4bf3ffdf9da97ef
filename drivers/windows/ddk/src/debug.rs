//! Kernel debug output: `core::fmt` formatted into a fixed buffer, printed with `DbgPrintEx`.

use core::fmt;
use core::fmt::Write;

use crate::kernel::{DbgPrintEx, DPFLTR_IHVDRIVER_ID};
use crate::text::FixedText;

/// The longest line printed; DbgPrintEx itself cuts output at 512 bytes.
const LINE: usize = 512;

/// Prints one formatted line at `level` (`DPFLTR_*_LEVEL`) under the third-party driver component.
pub fn print(level: u32, args: fmt::Arguments<'_>) {
    let mut text = FixedText::<LINE>::new();
    let _ = text.write_fmt(args);
    // SAFETY: both strings are NUL-terminated and live across the call; "%s\n" consumes exactly
    // the one argument given.
    unsafe {
        DbgPrintEx(
            DPFLTR_IHVDRIVER_ID,
            level,
            c"%s\n".as_ptr().cast(),
            text.as_c_str(),
        )
    };
}
