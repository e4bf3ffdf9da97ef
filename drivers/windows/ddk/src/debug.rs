//! Kernel debug output: `core::fmt` formatted into a fixed buffer, printed with `DbgPrintEx`
//! (Windows builds only), and the filter values it is printed under (dpfilter.h).

/// `DPFLTR_IHVDRIVER_ID`: the component third-party drivers print under.
pub const DPFLTR_IHVDRIVER_ID: u32 = 77;
/// `DPFLTR_ERROR_LEVEL`: printed even with the default debug filter mask.
pub const DPFLTR_ERROR_LEVEL: u32 = 0;
/// `DPFLTR_INFO_LEVEL`.
pub const DPFLTR_INFO_LEVEL: u32 = 3;

#[cfg(windows)]
use core::fmt::{self, Write};

#[cfg(windows)]
use crate::kernel::DbgPrintEx;
#[cfg(windows)]
use crate::text::FixedText;

#[cfg(windows)]
/// The longest line printed; DbgPrintEx itself cuts output at 512 bytes.
const LINE: usize = 512;

#[cfg(windows)]
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
