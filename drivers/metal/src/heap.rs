//! The kernel's heap: a bump allocator over a static arena. The proof allocates at setup (queues,
//! the block step's buffers, reused), for a bounded number of xenstore requests and for the net
//! step's few dozen frames, so memory is never given back; running out is an allocation failure
//! (a panic line on the console), not corruption.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

const HEAP_SIZE: usize = 8 << 20;

#[repr(C, align(4096))]
struct Arena(UnsafeCell<[u8; HEAP_SIZE]>);

// SAFETY: the allocator hands out disjoint ranges of the arena (below), so no byte is shared.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(UnsafeCell::new([0; HEAP_SIZE]));

struct Bump {
    /// Bytes of the arena handed out so far.
    used: AtomicUsize,
}

// SAFETY: `alloc` returns ranges that never overlap (the CAS claims each one exactly once), lie
// inside the arena, and are aligned as asked; `dealloc` does nothing, which is allowed.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = ARENA.0.get() as usize;
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let start = (base + used).next_multiple_of(layout.align()) - base;
            let Some(end) = start.checked_add(layout.size()).filter(|&e| e <= HEAP_SIZE) else {
                return core::ptr::null_mut();
            };
            match self
                .used
                .compare_exchange(used, end, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return (base + start) as *mut u8,
                Err(now) => used = now,
            }
        }
    }

    unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
}

#[global_allocator]
static HEAP: Bump = Bump {
    used: AtomicUsize::new(0),
};

/// Bytes allocated so far (for the log).
pub fn used() -> usize {
    HEAP.used.load(Ordering::Relaxed)
}
