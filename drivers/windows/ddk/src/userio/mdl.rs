//! MDLs of direct I/O: the I/O manager probes and locks the caller's buffer and describes it with
//! an [`Mdl`] (the structure XENNET's NDIS bindings already pin), followed in memory by the frame
//! number of each page.

use crate::ndis::nbl::Mdl;

/// `MDL_PAGES_LOCKED`: the pages are resident and stay so until the MDL is unlocked.
pub const MDL_PAGES_LOCKED: i16 = 0x0002;

const PAGE_SIZE: usize = 4096;

/// `ADDRESS_AND_SIZE_TO_SPAN_PAGES(MmGetMdlVirtualAddress(mdl), MmGetMdlByteCount(mdl))`.
pub fn pages(mdl: &Mdl) -> usize {
    let offset = mdl.byte_offset as usize % PAGE_SIZE;
    (offset + mdl.byte_count as usize).div_ceil(PAGE_SIZE)
}

/// `MmGetMdlPfnArray`: the frame number of each page, right after the MDL.
///
/// # Safety
/// `mdl` is a valid MDL whose pages are locked (or built for non-paged memory), so that its frame
/// array holds [`pages`] entries and stays valid while the borrow lives.
pub unsafe fn frames<'a>(mdl: *const Mdl) -> &'a [usize] {
    // SAFETY: the caller's promise; the array starts at the end of the header.
    unsafe { core::slice::from_raw_parts(mdl.add(1).cast::<usize>(), pages(&*mdl)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;
    use std::vec::Vec;

    #[test]
    fn the_frames_follow_the_header() {
        // An MDL for 2 pages starting 0x10 bytes into a page: 3 pages spanned.
        let mut words: Vec<usize> = std::vec![0; size_of::<Mdl>() / 8 + 3];
        let base = words.as_mut_ptr();
        let first = size_of::<Mdl>() / 8;
        // SAFETY: `words` is 8-aligned and large enough for the header and three frames; all
        // access goes through `base`.
        unsafe {
            let mdl = base.cast::<Mdl>();
            (*mdl).byte_offset = 0x10;
            (*mdl).byte_count = 2 * 4096;
            assert_eq!(pages(&*mdl), 3);
            *base.add(first) = 7;
            *base.add(first + 1) = 8;
            *base.add(first + 2) = 9;
            assert_eq!(frames(mdl), &[7, 8, 9]);
            (*mdl).byte_offset = 0;
            assert_eq!(pages(&*mdl), 2);
        }
    }
}
