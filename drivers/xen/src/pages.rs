//! Pages to grant, for a home that has no operating system to ask: an arena of mapped guest pages
//! whose frame numbers are known (a PV guest's pages of its boot mapping, named by MFN through its
//! physical-to-machine list; an HVM guest's pages, named by GFN), handed out as runs of contiguous
//! pages and taken back whole.
//!
//! Allocation happens at setup (rings, buffer pools), so a run is found first-fit in a bitmap under
//! a spin lock; nothing on a hot path waits for it.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use xenpv_abi::PAGE_SIZE;

/// Why an arena could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArenaError {
    /// The base is not page aligned.
    Misaligned,
    /// The bitmap has fewer bits than the arena has pages.
    BitmapTooSmall,
}

/// A run of contiguous pages handed out by [`PageArena::alloc`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// Index of the first page in the arena.
    pub first: usize,
    /// Number of pages.
    pub pages: usize,
}

/// Contiguous mapped pages with their frame numbers.
pub struct PageArena<'a> {
    base: NonNull<u8>,
    frames: &'a [u64],
    /// One bit per page, set while the page is handed out.
    used: &'a [AtomicU64],
    lock: AtomicBool,
}

// SAFETY: the arena hands out disjoint runs (claimed under `lock`), and its own state is atomics;
// the pages themselves are accessed by whoever holds a run, never through `&PageArena`.
unsafe impl Send for PageArena<'_> {}
// SAFETY: as for Send.
unsafe impl Sync for PageArena<'_> {}

impl<'a> PageArena<'a> {
    /// An arena of `frames.len()` pages starting at `base`, page `i` being frame `frames[i]`, with
    /// `used` as its bitmap (cleared here).
    ///
    /// # Safety
    /// For `'a`, `base .. base + frames.len() * PAGE_SIZE` must be mapped readable and writable,
    /// used by nothing but this arena's runs, and page `i` must be frame `frames[i]`.
    pub unsafe fn new(
        base: NonNull<u8>,
        frames: &'a [u64],
        used: &'a [AtomicU64],
    ) -> Result<Self, ArenaError> {
        if base.as_ptr() as usize % PAGE_SIZE != 0 {
            return Err(ArenaError::Misaligned);
        }
        if used.len() * 64 < frames.len() {
            return Err(ArenaError::BitmapTooSmall);
        }
        for w in used {
            w.store(0, Ordering::Relaxed);
        }
        Ok(Self {
            base,
            frames,
            used,
            lock: AtomicBool::new(false),
        })
    }

    /// Pages in the arena.
    pub fn pages(&self) -> usize {
        self.frames.len()
    }

    fn is_used(&self, page: usize) -> bool {
        self.used[page / 64].load(Ordering::Relaxed) & (1 << (page % 64)) != 0
    }

    fn mark(&self, run: Run, used: bool) {
        for p in run.first..run.first + run.pages {
            let bit = 1u64 << (p % 64);
            if used {
                self.used[p / 64].fetch_or(bit, Ordering::Relaxed);
            } else {
                self.used[p / 64].fetch_and(!bit, Ordering::Relaxed);
            }
        }
    }

    fn locked<R>(&self, f: impl FnOnce() -> R) -> R {
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        let r = f();
        self.lock.store(false, Ordering::Release);
        r
    }

    /// Pages not handed out.
    pub fn free_pages(&self) -> usize {
        self.locked(|| (0..self.pages()).filter(|&p| !self.is_used(p)).count())
    }

    /// `pages` contiguous zeroed pages (the first free run that fits), or `None`.
    pub fn alloc(&self, pages: usize) -> Option<Run> {
        if pages == 0 {
            return None;
        }
        let run = self.locked(|| {
            let mut start = 0;
            while start + pages <= self.pages() {
                match (start..start + pages).rfind(|&p| self.is_used(p)) {
                    // Jump past the last used page of the window: no run can start before it.
                    Some(used) => start = used + 1,
                    None => {
                        let run = Run {
                            first: start,
                            pages,
                        };
                        self.mark(run, true);
                        return Some(run);
                    }
                }
            }
            None
        })?;
        // SAFETY: the run is inside the arena (mapped, writable, per `new`) and now ours alone.
        unsafe { core::ptr::write_bytes(self.ptr(run).as_ptr(), 0, pages * PAGE_SIZE) };
        Some(run)
    }

    /// Gives `run` back. The caller must no longer use its pages, and no other domain may reach
    /// them (their grants ended).
    pub fn free(&self, run: Run) {
        self.locked(|| self.mark(run, false));
    }

    /// Whether `run` is exactly pages this arena handed out (and not given back).
    pub fn owns(&self, run: Run) -> bool {
        run.pages > 0
            && run
                .first
                .checked_add(run.pages)
                .is_some_and(|end| end <= self.pages())
            && self.locked(|| (run.first..run.first + run.pages).all(|p| self.is_used(p)))
    }

    /// The address of the first page of `run`.
    pub fn ptr(&self, run: Run) -> NonNull<u8> {
        assert!(run.first < self.pages(), "a run of this arena");
        // SAFETY: in bounds of the arena (checked above), which does not wrap (it is mapped).
        unsafe { self.base.add(run.first * PAGE_SIZE) }
    }

    /// The frame numbers of `run`'s pages, in order.
    pub fn frames(&self, run: Run) -> &[u64] {
        &self.frames[run.first..run.first + run.pages]
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::boxed::Box;
    use std::vec::Vec;

    #[repr(C, align(4096))]
    struct Page([u8; PAGE_SIZE]);

    /// `n` leaked pages, as the raw pointer an arena is given (no reference to them is kept, so
    /// the arena's accesses are the only ones).
    fn leaked_pages(n: usize) -> NonNull<u8> {
        let pages: Box<[Page]> = (0..n).map(|_| Page([0xAA; PAGE_SIZE])).collect();
        NonNull::new(Box::into_raw(pages) as *mut u8).unwrap()
    }

    /// An arena over `n` leaked pages whose frames are 0x1000 + index.
    pub(crate) fn arena(n: usize) -> PageArena<'static> {
        let frames: &'static [u64] = Box::leak((0..n as u64).map(|i| 0x1000 + i).collect());
        let used: &'static [AtomicU64] =
            Box::leak((0..n.div_ceil(64)).map(|_| AtomicU64::new(!0)).collect());
        // SAFETY: the pages are leaked, so mapped for 'static, and reached only through the arena.
        unsafe { PageArena::new(leaked_pages(n), frames, used) }.unwrap()
    }

    #[test]
    fn runs_are_contiguous_zeroed_disjoint_and_first_fit() {
        let a = arena(70);
        assert_eq!(a.free_pages(), 70);
        let r1 = a.alloc(3).unwrap();
        let r2 = a.alloc(64).unwrap();
        assert_eq!((r1.first, r2.first), (0, 3));
        assert_eq!(a.frames(r2)[0], 0x1003);
        assert_eq!(a.frames(r2).len(), 64);
        // SAFETY: the run is ours and mapped.
        let bytes = unsafe { core::slice::from_raw_parts(a.ptr(r2).as_ptr(), 64 * PAGE_SIZE) };
        assert!(bytes.iter().all(|&b| b == 0), "handed out zeroed");
        assert_eq!(a.alloc(4), None, "only 3 pages left");
        a.free(r1);
        assert_eq!(a.alloc(4), None, "3 + 3 free pages, but not contiguous");
        let r3 = a.alloc(2).unwrap();
        assert_eq!(r3.first, 0, "the freed hole is reused first");
        assert_eq!(a.free_pages(), 70 - 2 - 64);
        assert_eq!(a.alloc(0), None);
    }

    #[test]
    fn ownership_is_exactly_what_was_handed_out() {
        let a = arena(10);
        let r = a.alloc(4).unwrap();
        assert!(a.owns(r));
        assert!(!a.owns(Run { first: 0, pages: 5 }));
        assert!(!a.owns(Run { first: 9, pages: 2 }));
        assert!(!a.owns(Run { first: 0, pages: 0 }));
        assert!(!a.owns(Run {
            first: usize::MAX,
            pages: 2
        }));
        a.free(r);
        assert!(!a.owns(r));
    }

    #[test]
    fn concurrent_callers_never_share_a_page() {
        let a = arena(256);
        let a: &'static PageArena<'static> = Box::leak(Box::new(a));
        let threads: Vec<_> = (0..4u8)
            .map(|id| {
                std::thread::spawn(move || {
                    // Miri interprets every step: fewer rounds still interleave the threads.
                    let rounds = if cfg!(miri) { 10 } else { 500 };
                    for round in 0..rounds {
                        let n = 1 + (round + usize::from(id)) % 7;
                        let Some(run) = a.alloc(n) else { continue };
                        // SAFETY: the run is ours alone until freed (what this test checks).
                        let bytes = unsafe {
                            core::slice::from_raw_parts_mut(a.ptr(run).as_ptr(), n * PAGE_SIZE)
                        };
                        assert!(bytes.iter().all(|&b| b == 0), "zeroed and not shared");
                        bytes.fill(id + 1);
                        std::thread::yield_now();
                        assert!(bytes.iter().all(|&b| b == id + 1), "nobody else wrote it");
                        a.free(run);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(a.free_pages(), 256);
    }

    #[test]
    fn bad_layouts_are_refused() {
        let base = leaked_pages(2);
        let frames = [1u64; 2];
        let used: Vec<AtomicU64> = Vec::new();
        // SAFETY: refused before anything is touched.
        let r = unsafe { PageArena::new(base, &frames, &used) };
        assert!(matches!(r, Err(ArenaError::BitmapTooSmall)));
        let one = [AtomicU64::new(0)];
        // SAFETY: as above.
        let r = unsafe { PageArena::new(base.byte_add(8), &frames, &one) };
        assert!(matches!(r, Err(ArenaError::Misaligned)));
    }
}
