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

/// Entries in one x86_64 page table.
pub const PT_ENTRIES: usize = 512;

/// Where Xen maps its read-only machine-to-physical table into every 64-bit PV guest
/// (arch-x86/xen-x86_64.h `MACH2PHYS_VIRT_START`): one 8-byte PFN per machine frame.
pub const MACH2PHYS_VIRT_START: u64 = 0xFFFF_8000_0000_0000;

/// The L4 slots Xen reserves in every 64-bit PV address space (0xFFFF_8000_0000_0000 up to
/// 0xFFFF_8800_0000_0000): the M2P table, Xen's own mappings, and the guest's linear page table,
/// which points back at the guest's own L4 and must not be walked as if it were guest mappings.
pub const XEN_L4_SLOTS: core::ops::Range<usize> = 256..272;

const PTE_PRESENT: u64 = 1;
/// A large page at L3 or L2 (a 64-bit PV guest without superpage support has none).
const PTE_LARGE: u64 = 1 << 7;
const PTE_FRAME: u64 = 0x000F_FFFF_FFFF_F000;

/// Walks 4-level page tables from `l4` and calls `found(va, mfn)` for every 4 KiB mapping of a
/// frame `own` says is not the guest's: the mappings a PV guest must remove before it suspends,
/// because the toolstack's save code turns every page-table entry into a guest frame number and
/// refuses the save at the first one that is not (shared_info, grant table frames).
///
/// `table(mfn)` gives the guest's read-only view of the page table in frame `mfn`, or `None` for a
/// frame that is not its own (Xen's slots in the L4): those subtrees are Xen's and skipped.
pub fn foreign_mappings<'t>(
    l4: &'t [u64; PT_ENTRIES],
    table: impl Fn(u64) -> Option<&'t [u64; PT_ENTRIES]>,
    own: impl Fn(u64) -> bool,
    mut found: impl FnMut(u64, u64),
) {
    let next =
        |e: u64| (e & (PTE_PRESENT | PTE_LARGE) == PTE_PRESENT).then_some((e & PTE_FRAME) >> 12);
    for (i4, &e4) in l4.iter().enumerate() {
        if XEN_L4_SLOTS.contains(&i4) {
            continue;
        }
        let Some(l3) = next(e4).and_then(&table) else {
            continue;
        };
        for (i3, &e3) in l3.iter().enumerate() {
            let Some(l2) = next(e3).and_then(&table) else {
                continue;
            };
            for (i2, &e2) in l2.iter().enumerate() {
                let Some(l1) = next(e2).and_then(&table) else {
                    continue;
                };
                for (i1, &e1) in l1.iter().enumerate() {
                    let mfn = (e1 & PTE_FRAME) >> 12;
                    if e1 & PTE_PRESENT == 0 || own(mfn) {
                        continue;
                    }
                    let va = (i4 as u64) << 39
                        | (i3 as u64) << 30
                        | (i2 as u64) << 21
                        | (i1 as u64) << 12;
                    // Canonical form: bit 47 copied upwards.
                    found(((va << 16) as i64 >> 16) as u64, mfn);
                }
            }
        }
    }
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
    fn mappings_of_frames_not_ours_are_found_with_their_addresses() {
        // Frames 0x10.. are ours: L4 0x10, L3 0x11, L2 0x12, L1s 0x13 and 0x14; 0x900 is Xen's
        // shared_info, 0x901 a grant frame, 0xA00 an L3 of Xen's own slots.
        let mut tables = [[0u64; PT_ENTRIES]; 5];
        let pte = |mfn: u64| mfn << 12 | 0x67;
        tables[0][511] = pte(0x11);
        tables[0][256] = pte(0xA00);
        // Xen's linear page table slot points at our own L4: not walked.
        tables[0][258] = pte(0x10);
        tables[1][510] = pte(0x12);
        tables[2][0] = pte(0x13);
        tables[2][1] = pte(0x14);
        // A large page is not descended into.
        tables[2][2] = pte(0x13) | PTE_LARGE;
        tables[3][0] = pte(0x20);
        tables[3][5] = pte(0x900);
        tables[3][6] = 0x901 << 12; // not present
        tables[4][7] = pte(0x901);
        tables[4][8] = pte(0x21);
        let own = |mfn: u64| (0x10..0x100).contains(&mfn);
        let table = |mfn: u64| {
            own(mfn)
                .then(|| tables.get((mfn - 0x10) as usize))
                .flatten()
        };
        let mut found = std::vec::Vec::new();
        foreign_mappings(&tables[0], table, own, |va, mfn| found.push((va, mfn)));
        assert_eq!(
            found,
            [
                (0xFFFF_FFFF_8000_5000, 0x900),
                (0xFFFF_FFFF_8020_7000, 0x901)
            ]
        );
    }

    #[test]
    fn frames_are_found_by_their_place_in_the_p2m() {
        let p2m = [0x1234, 0x99, 0x4321, 0x77];
        assert_eq!(pfn_of(&p2m, 0x4321), Ok(2));
        assert_eq!(pfn_of(&p2m, 0x5555), Err(StartError::NotOurFrame(0x5555)));
        assert_eq!(virt_of(0xFFFF_FFFF_8000_0000, 2), 0xFFFF_FFFF_8000_2000);
    }
}
