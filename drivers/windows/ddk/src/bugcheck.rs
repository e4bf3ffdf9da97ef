//! The project's bug check: what a Rust panic in a xenpv driver stops the machine with.

use core::panic::Location;

/// The bug check code of a panic in a xenpv driver. Bit 29 is set, the customer bit of NTSTATUS
/// values, so it cannot collide with a code Microsoft defines; the low half spells "XV".
pub const XENPV_PANIC_BUGCHECK: u32 = 0xE000_5856;

/// The four `KeBugCheckEx` parameters of a panic at `location`: the address and length of the
/// source file name (readable in the crash dump, where the image is mapped), the line and the
/// column. Without a location all four are zero.
pub fn panic_parameters(location: Option<&Location<'_>>) -> [usize; 4] {
    match location {
        Some(location) => [
            location.file().as_ptr() as usize,
            location.file().len(),
            location.line() as usize,
            location.column() as usize,
        ],
        None => [0; 4],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_lead_back_to_the_panicking_line() {
        let location = Location::caller();
        let [file, len, line, column] = panic_parameters(Some(location));
        // SAFETY: the first two parameters describe a &'static str of this binary.
        let name = unsafe { core::slice::from_raw_parts(file as *const u8, len) };
        assert_eq!(name, location.file().as_bytes());
        assert!(location.file().ends_with("bugcheck.rs"));
        assert_eq!(line, location.line() as usize);
        assert_eq!(column, location.column() as usize);
        assert_eq!(panic_parameters(None), [0; 4]);
    }

    #[test]
    fn the_code_has_the_customer_bit() {
        assert_ne!(XENPV_PANIC_BUGCHECK & (1 << 29), 0);
    }
}
