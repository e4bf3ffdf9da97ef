//! Non-paged pool allocation for Rust's `alloc`: the portable arithmetic of over-aligned blocks.
//!
//! `ExAllocatePool2` returns blocks aligned to `MEMORY_ALLOCATION_ALIGNMENT` (16 on x64, wdm.h).
//! A layout that asks for more gets `size + align` bytes; the block handed out starts at the first
//! `align`-aligned address at least one pointer past the pool block's start, and the pointer-sized
//! slot just before it holds the pool block's address for `dealloc`. The global allocator that uses
//! this lives in `runtime` (Windows only).

use core::alloc::Layout;

/// `POOL_FLAG_NON_PAGED` (wdm.h of the Windows 10 SDK 10.0.19041, where `ExAllocatePool2` first
/// appears; Microsoft Learn, "POOL_FLAGS"). Not in mingw-w64's headers, so not measured.
pub const POOL_FLAG_NON_PAGED: u64 = 0x0000_0000_0000_0040;

/// `MEMORY_ALLOCATION_ALIGNMENT` on x64: every pool block is aligned at least this much.
pub const POOL_ALIGNMENT: usize = 16;

/// The pool tag of every xenpv allocation, shown as "xenp" by pool tools (`!poolused`, poolmon),
/// which print the tag's bytes in memory order.
pub const POOL_TAG: u32 = u32::from_le_bytes(*b"xenp");

/// How a layout is served from the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolRequest {
    /// The pool's own alignment suffices: ask for exactly `size` bytes.
    Direct { size: usize },
    /// Ask for `size` bytes and place the block with [`place_over_aligned`].
    OverAligned { size: usize, align: usize },
}

/// The pool request for `layout`, or `None` when the padded size is too large for any allocation.
pub fn request(layout: Layout) -> Option<PoolRequest> {
    if layout.align() <= POOL_ALIGNMENT {
        Some(PoolRequest::Direct {
            size: layout.size(),
        })
    } else {
        // Alignment > 16 is a power of two ≥ 32; a 16-aligned pool block needs at most `align`
        // extra bytes for the pointer slot plus the move to the next aligned address.
        // The padded block must itself be a valid allocation size (at most isize::MAX).
        let padded = layout.size().checked_add(layout.align())?;
        let padded = Layout::from_size_align(padded, POOL_ALIGNMENT).ok()?;
        Some(PoolRequest::OverAligned {
            size: padded.size(),
            align: layout.align(),
        })
    }
}

/// Where the caller's block starts inside a pool block at `pool_address` (16-aligned): the first
/// `align`-aligned address with room for one pointer before it.
pub fn place_over_aligned(pool_address: usize, align: usize) -> usize {
    let after_slot = pool_address + core::mem::size_of::<usize>();
    (after_slot + align - 1) & !(align - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_alignments_go_straight_to_the_pool() {
        for align in [1, 2, 4, 8, 16] {
            let layout = Layout::from_size_align(100, align).unwrap();
            assert_eq!(request(layout), Some(PoolRequest::Direct { size: 100 }));
        }
    }

    #[test]
    fn over_aligned_blocks_fit_with_their_slot_inside_the_pool_block() {
        for align in [32, 64, 128, 4096, 1 << 16] {
            for size in [1, 24, 4096, 10_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                let Some(PoolRequest::OverAligned {
                    size: pool_size,
                    align: a,
                }) = request(layout)
                else {
                    panic!("{layout:?} is over-aligned");
                };
                assert_eq!(a, align);
                // Every 16-aligned pool address in a window of two alignments.
                for pool in (0x10_0000..0x10_0000 + 2 * align).step_by(POOL_ALIGNMENT) {
                    let block = place_over_aligned(pool, align);
                    assert_eq!(block % align, 0);
                    assert!(block - core::mem::size_of::<usize>() >= pool);
                    assert!(block + size <= pool + pool_size, "{pool:#x} {layout:?}");
                }
            }
        }
    }

    #[test]
    fn a_size_that_overflows_when_padded_is_refused() {
        let layout = Layout::from_size_align(isize::MAX as usize - 31, 32).unwrap();
        assert_eq!(request(layout), None);
    }

    #[test]
    fn the_tag_reads_xenp_in_memory() {
        assert_eq!(&POOL_TAG.to_le_bytes(), b"xenp");
    }
}
