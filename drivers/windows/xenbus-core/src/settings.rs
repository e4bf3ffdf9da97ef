//! XENBUS's settings from its service's `Parameters` key (xenbus.inf writes the defaults).

use xenpv_xen::unplug::{UNPLUG_ALL_DISKS, UNPLUG_ALL_NICS};

/// Registry value: unplug QEMU's emulated disks (REG_DWORD, non-zero: yes).
pub const UNPLUG_DISKS: &str = "UnplugDisks";
/// Registry value: unplug QEMU's emulated NICs (REG_DWORD, non-zero: yes).
pub const UNPLUG_NICS: &str = "UnplugNics";

/// The unplug mask from the two values; a value that is missing or not a DWORD counts as the
/// INF's default, yes.
pub fn unplug_mask(disks: Option<u32>, nics: Option<u32>) -> u16 {
    let on = |v: Option<u32>| v.is_none_or(|v| v != 0);
    (if on(disks) { UNPLUG_ALL_DISKS } else { 0 }) | (if on(nics) { UNPLUG_ALL_NICS } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_both_and_zero_turns_one_off() {
        assert_eq!(unplug_mask(None, None), UNPLUG_ALL_DISKS | UNPLUG_ALL_NICS);
        assert_eq!(unplug_mask(Some(0), None), UNPLUG_ALL_NICS);
        assert_eq!(unplug_mask(Some(1), Some(0)), UNPLUG_ALL_DISKS);
        assert_eq!(unplug_mask(Some(0), Some(0)), 0);
        assert_eq!(
            unplug_mask(Some(7), Some(2)),
            UNPLUG_ALL_DISKS | UNPLUG_ALL_NICS
        );
    }
}
