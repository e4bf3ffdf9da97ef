//! Start of day of a PV guest: checking the `start_info` page Xen hands over and finding the
//! guest's own address of a machine frame it names (console ring, xenstore ring).
//!
//! A PV guest sees machine frame numbers (MFNs); its pseudo-physical frames (PFNs) are indices into
//! the physical-to-machine list (`start_info.mfn_list`), and the domain builder maps every PFN of the
//! boot area at `virt_base + pfn * PAGE_SIZE`.

use xenpv_abi::shared_info::StartInfo;
use xenpv_abi::PAGE_SIZE;

/// The start of `start_info.magic` on a 64-bit PV guest.
pub const MAGIC_X86_64: &[u8] = b"xen-3.0-x86_64";

/// What is wrong with a start_info page or a frame it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    /// The magic is not `xen-3.0-x86_64` (not a 64-bit PV start, or not Xen 3+).
    BadMagic,
    /// The machine frame is not one of this domain's pages.
    NotOurFrame(u64),
}

/// Checks the magic of a start_info page.
pub fn check(si: &StartInfo) -> Result<(), StartError> {
    if si.magic.starts_with(MAGIC_X86_64) {
        Ok(())
    } else {
        Err(StartError::BadMagic)
    }
}

/// The PFN of machine frame `mfn` in the physical-to-machine list `p2m`.
pub fn pfn_of(p2m: &[u64], mfn: u64) -> Result<u64, StartError> {
    p2m.iter()
        .position(|&m| m == mfn)
        .map(|pfn| pfn as u64)
        .ok_or(StartError::NotOurFrame(mfn))
}

/// The virtual address at which a PV guest built with `virt_base` finds `pfn`.
pub fn virt_of(virt_base: u64, pfn: u64) -> u64 {
    virt_base + pfn * PAGE_SIZE as u64
}

/// The magic as text for a log line: up to its NUL, `?` for anything not printable ASCII.
pub fn magic_text(si: &StartInfo) -> impl Iterator<Item = char> + Clone + '_ {
    si.magic
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use zerocopy::FromZeros;

    #[test]
    fn magic_must_be_64_bit_pv() {
        let mut si = StartInfo::new_zeroed();
        assert_eq!(check(&si), Err(StartError::BadMagic));
        si.magic[..17].copy_from_slice(b"xen-3.0-x86_32p\0\0");
        assert_eq!(check(&si), Err(StartError::BadMagic));
        si.magic[..15].copy_from_slice(b"xen-3.0-x86_64\0");
        assert_eq!(check(&si), Ok(()));
        assert_eq!(magic_text(&si).collect::<String>(), "xen-3.0-x86_64");
        si.magic[3] = 0xFF;
        assert_eq!(magic_text(&si).collect::<String>(), "xen?3.0-x86_64");
    }

    #[test]
    fn frames_are_found_by_their_place_in_the_p2m() {
        let p2m = [0x1234, 0x99, 0x4321, 0x77];
        assert_eq!(pfn_of(&p2m, 0x4321), Ok(2));
        assert_eq!(pfn_of(&p2m, 0x5555), Err(StartError::NotOurFrame(0x5555)));
        assert_eq!(virt_of(0xFFFF_FFFF_8000_0000, 2), 0xFFFF_FFFF_8000_2000);
    }
}
