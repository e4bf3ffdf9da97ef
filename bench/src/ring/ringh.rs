//! The baseline: Xen's io/ring.h macros in C (csrc/ringh.c), called once per batch.

use super::{Back, EventFlag, Front};
use core::sync::atomic::AtomicBool;
use std::sync::Arc;
use xenpv_datapath::shmem::SharedPages;

#[repr(C)]
struct CFront {
    _opaque: [u8; 0],
}

#[repr(C)]
struct CBack {
    _opaque: [u8; 0],
}

extern "C" {
    fn ringh_front_new(page: *mut u8, notify_back: *mut i32) -> *mut CFront;
    fn ringh_front_free(f: *mut CFront);
    fn ringh_front_checksum(f: *const CFront) -> u64;
    fn ringh_front_produce(f: *mut CFront, k: u32, seq: u32) -> u32;
    fn ringh_front_consume(f: *mut CFront, max: u32) -> u32;
    fn ringh_front_final_check(f: *mut CFront) -> i32;
    fn ringh_back_new(page: *mut u8, notify_front: *mut i32) -> *mut CBack;
    fn ringh_back_free(b: *mut CBack);
    fn ringh_back_checksum(b: *const CBack) -> u64;
    fn ringh_back_step(b: *mut CBack, max: u32) -> u32;
    fn ringh_back_final_check(b: *mut CBack) -> i32;
}

/// The frontend half. Holds the page and both flags so they outlive the C state that points at
/// them.
pub struct RinghFront {
    c: *mut CFront,
    to_front: Arc<EventFlag>,
    _to_back: Arc<EventFlag>,
    _page: SharedPages,
}

/// The backend half.
pub struct RinghBack {
    c: *mut CBack,
    to_back: Arc<EventFlag>,
    _to_front: Arc<EventFlag>,
    _page: SharedPages,
}

// SAFETY: the C back state is used only by the thread that owns this value; the page and flags
// it points to are kept alive by the Arcs/SharedPages held here and shared only through atomics
// (C side: the ring protocol's barriers; flags: __atomic stores).
unsafe impl Send for RinghBack {}

/// A netif tx ring on a fresh page, set up by ring.h's XEN_FRONT_RING_INIT / BACK_RING_INIT.
pub fn pair() -> (RinghFront, RinghBack) {
    let page = SharedPages::new(1).expect("one page");
    let (to_back, to_front) = (
        Arc::new(EventFlag::default()),
        Arc::new(EventFlag::default()),
    );
    let ptr = page.mem().as_ptr().as_ptr();
    // SAFETY: `ptr` is a zeroed, page-aligned page that `page` keeps alive for as long as both
    // halves exist; the flags are kept alive likewise. The C side only touches the page with
    // ring.h's accesses, which is the protocol under test.
    let (front, back) = unsafe {
        (
            ringh_front_new(ptr, to_back.as_c_int()),
            ringh_back_new(ptr, to_front.as_c_int()),
        )
    };
    assert!(!front.is_null() && !back.is_null(), "C allocation failed");
    (
        RinghFront {
            c: front,
            to_front: to_front.clone(),
            _to_back: to_back.clone(),
            _page: page.clone(),
        },
        RinghBack {
            c: back,
            to_back,
            _to_front: to_front,
            _page: page,
        },
    )
}

impl Front for RinghFront {
    fn produce(&mut self, k: u32, seq: u32) -> u32 {
        // SAFETY: `self.c` is a live front from ringh_front_new, used only by this thread.
        unsafe { ringh_front_produce(self.c, k, seq) }
    }

    fn consume(&mut self, max: u32) -> u32 {
        // SAFETY: as in produce.
        unsafe { ringh_front_consume(self.c, max) }
    }

    fn final_check(&mut self) -> bool {
        // SAFETY: as in produce.
        unsafe { ringh_front_final_check(self.c) != 0 }
    }

    fn wait(&mut self) {
        self.to_front.wait(None);
    }

    fn checksum(&self) -> u64 {
        // SAFETY: as in produce.
        unsafe { ringh_front_checksum(self.c) }
    }
}

impl Drop for RinghFront {
    fn drop(&mut self) {
        // SAFETY: `self.c` came from ringh_front_new and is freed once, here.
        unsafe { ringh_front_free(self.c) }
    }
}

impl Back for RinghBack {
    fn step(&mut self, max: u32) -> u32 {
        // SAFETY: `self.c` is a live back from ringh_back_new, used only by its owning thread.
        unsafe { ringh_back_step(self.c, max) }
    }

    fn final_check(&mut self) -> bool {
        // SAFETY: as in step.
        unsafe { ringh_back_final_check(self.c) != 0 }
    }

    fn wait(&mut self, stop: &AtomicBool) -> bool {
        self.to_back.wait(Some(stop))
    }

    fn checksum(&self) -> u64 {
        // SAFETY: as in step.
        unsafe { ringh_back_checksum(self.c) }
    }
}

impl Drop for RinghBack {
    fn drop(&mut self) {
        // SAFETY: `self.c` came from ringh_back_new and is freed once, here.
        unsafe { ringh_back_free(self.c) }
    }
}
