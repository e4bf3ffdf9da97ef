//! The pages the fronts grant: a page-aligned arena in the kernel image, which the domain builder
//! mapped at `VIRT_BASE + pfn * 4096` like the rest of the boot area. A PV guest names a page to
//! Xen (and so in a grant entry) by machine frame, which the p2m list gives for each pfn.

use alloc::boxed::Box;
use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use xenpv_abi::shared_info::StartInfo;
use xenpv_abi::PAGE_SIZE;
use xenpv_xen::pages::PageArena;

use crate::boot::VIRT_BASE;
use crate::steps::p2m;

/// Pages for rings and buffer pools: a netif queue takes 2 rings + 2 × 256 buffers, a blkif queue
/// one ring and its persistent pool (256 here); the rest is headroom for per-request grants.
pub const PAGES: usize = 1280;

#[repr(C, align(4096))]
struct Arena(UnsafeCell<[u8; PAGES * PAGE_SIZE]>);

// SAFETY: only the PageArena below hands out its pages, as disjoint runs.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(UnsafeCell::new([0; PAGES * PAGE_SIZE]));
static USED: [AtomicU64; PAGES.div_ceil(64)] = [const { AtomicU64::new(0) }; PAGES.div_ceil(64)];
static MADE: AtomicBool = AtomicBool::new(false);

/// Why the arena could not be made.
pub enum PagesError {
    /// The arena was made already; a second one would hand out the same pages again.
    Twice,
    /// The arena lies beyond the pages the p2m list covers.
    OutsideP2m,
    /// The arena is not page aligned, or its bitmap is too small.
    Layout,
}

/// The arena (once).
pub fn arena(si: &StartInfo) -> Result<&'static PageArena<'static>, PagesError> {
    if MADE.swap(true, Ordering::AcqRel) {
        return Err(PagesError::Twice);
    }
    let base = ARENA.0.get() as u64;
    let first = ((base - VIRT_BASE) / PAGE_SIZE as u64) as usize;
    let frames = p2m(si)
        .get(first..first + PAGES)
        .ok_or(PagesError::OutsideP2m)?;
    let ptr = NonNull::new(base as *mut u8).ok_or(PagesError::Layout)?;
    // SAFETY: ARENA is mapped read-write for good (boot area), used by nothing else, and its page
    // `i` is pfn `first + i`, whose machine frame the p2m list gives.
    let arena = unsafe { PageArena::new(ptr, frames, &USED) }.map_err(|_| PagesError::Layout)?;
    Ok(Box::leak(Box::new(arena)))
}
