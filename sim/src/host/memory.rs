//! Guest memory of the simulated host: pages with guest frame numbers.
//!
//! A backend in real Xen reaches a frontend's page only through its frame number, found in a grant
//! entry. The frame table is that translation: gfn → the page's memory, and which domain owns it.
//! Lookups are lock-free (they happen per packet and per block request in the sim backends);
//! allocation and freeing happen at setup and take a lock.

use std::collections::HashMap;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::sync::Mutex;

use xenpv_abi::{DomId, PAGE_SIZE};
use xenpv_datapath::shmem::{SharedMem, SharedPages};

/// A frame that no domain owns.
const NO_OWNER: u32 = u32::MAX;

struct Frame {
    page: AtomicPtr<u8>,
    owner: AtomicU32,
}

/// Every page of every simulated domain, by guest frame number.
pub struct FrameTable {
    frames: Box<[Frame]>,
    alloc: Mutex<Allocator>,
}

struct Allocator {
    /// Frame numbers not in use, lowest last so allocation hands out low numbers first.
    free: Vec<u64>,
    /// Live allocations by their first frame: the memory and its frames.
    regions: HashMap<u64, (SharedPages, Vec<u64>)>,
}

impl FrameTable {
    /// A table with room for `capacity` frames.
    pub fn new(capacity: usize) -> Self {
        let frames = (0..capacity)
            .map(|_| Frame {
                page: AtomicPtr::new(std::ptr::null_mut()),
                owner: AtomicU32::new(NO_OWNER),
            })
            .collect();
        let free = (0..capacity as u64).rev().collect();
        Self {
            frames,
            alloc: Mutex::new(Allocator {
                free,
                regions: HashMap::new(),
            }),
        }
    }

    /// Allocate `pages` zeroed, virtually contiguous pages owned by `owner`. Returns their memory and
    /// the frame number of each page; the first frame number identifies the allocation.
    pub fn alloc(&self, owner: DomId, pages: usize) -> Option<(SharedMem, Vec<u64>)> {
        let mut a = self.alloc.lock().unwrap();
        if a.free.len() < pages || pages == 0 {
            return None;
        }
        let memory = SharedPages::new(pages).ok()?;
        let mem = memory.mem();
        let at = a.free.len() - pages;
        let gfns: Vec<u64> = a.free.drain(at..).rev().collect();
        for (i, &gfn) in gfns.iter().enumerate() {
            let frame = &self.frames[gfn as usize];
            // The page pointer is published before the owner, so a lookup that sees the owner sees the page.
            frame.page.store(
                mem.as_ptr().as_ptr().wrapping_add(i * PAGE_SIZE),
                Ordering::Relaxed,
            );
            frame.owner.store(u32::from(owner), Ordering::Release);
        }
        a.regions.insert(gfns[0], (memory, gfns.clone()));
        Some((mem, gfns))
    }

    /// Free the allocation whose first frame is `first_gfn`. The caller (the grant table's owner)
    /// guarantees that no grant of these frames is still active.
    pub fn free(&self, first_gfn: u64) {
        let mut a = self.alloc.lock().unwrap();
        let Some((memory, gfns)) = a.regions.remove(&first_gfn) else {
            return;
        };
        for &gfn in &gfns {
            let frame = &self.frames[gfn as usize];
            frame.owner.store(NO_OWNER, Ordering::Release);
            frame.page.store(std::ptr::null_mut(), Ordering::Relaxed);
        }
        a.free.extend(gfns.iter().rev());
        drop(memory);
    }

    /// The page of frame `gfn` if `owner` owns it.
    pub fn page(&self, owner: DomId, gfn: u64) -> Option<SharedMem> {
        let frame = self.frames.get(usize::try_from(gfn).ok()?)?;
        if frame.owner.load(Ordering::Acquire) != u32::from(owner) {
            return None;
        }
        let page = NonNull::new(frame.page.load(Ordering::Relaxed))?;
        // SAFETY: an owned frame points at a live page of PAGE_SIZE bytes; it stays allocated while a
        // grant of it is active, and the grant table pins the grant for as long as the view is used.
        Some(unsafe { SharedMem::new(page, PAGE_SIZE) })
    }

    /// Number of frames in use.
    pub fn used(&self) -> usize {
        let a = self.alloc.lock().unwrap();
        self.frames.len() - a.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_belong_to_their_owner_until_freed() {
        let table = FrameTable::new(8);
        let (mem, gfns) = table.alloc(3, 2).unwrap();
        assert_eq!(gfns.len(), 2);
        assert_eq!(table.used(), 2);
        mem.write_bytes(PAGE_SIZE, b"second page");
        let page = table.page(3, gfns[1]).expect("owner sees its frame");
        let mut buf = [0u8; 11];
        page.read_bytes(0, &mut buf);
        assert_eq!(&buf, b"second page");
        assert!(
            table.page(4, gfns[1]).is_none(),
            "another domain's frame is not ours"
        );
        table.free(gfns[0]);
        assert!(
            table.page(3, gfns[1]).is_none(),
            "freed frames belong to nobody"
        );
        assert_eq!(table.used(), 0);
    }

    #[test]
    fn allocation_fails_when_frames_run_out() {
        let table = FrameTable::new(3);
        let (_m, gfns) = table.alloc(1, 2).unwrap();
        assert!(table.alloc(1, 2).is_none());
        assert!(
            table.page(1, 99).is_none(),
            "out-of-range frame numbers are nobody's"
        );
        table.free(gfns[0]);
        assert!(table.alloc(1, 3).is_some());
    }
}
