//! A [`RingMemory`] for loom: indices are loom atomics and each slot is a loom `UnsafeCell`, so
//! loom reports any slot access that is not ordered after the write it depends on (for example a
//! request read before the Release store of `req_prod` that published it).

use loom::cell::UnsafeCell;
use loom::sync::atomic::{fence, AtomicU32, Ordering};
use loom::sync::Arc;
use xenpv_datapath::ring::{Entry, Index, RingMemory};

/// Largest entry the model's slots hold.
pub const SLOT_BYTES: usize = 16;

struct Inner {
    indices: [AtomicU32; 4],
    slots: Vec<UnsafeCell<[u8; SLOT_BYTES]>>,
}

/// Ring memory shared by the model's threads (clones share it).
#[derive(Clone)]
pub struct LoomRing(Arc<Inner>);

impl LoomRing {
    /// A ring of `slots` (a power of two) zeroed slots with zeroed indices.
    pub fn new(slots: usize) -> Self {
        Self(Arc::new(Inner {
            indices: core::array::from_fn(|_| AtomicU32::new(0)),
            slots: (0..slots)
                .map(|_| UnsafeCell::new([0; SLOT_BYTES]))
                .collect(),
        }))
    }

    fn index(&self, i: Index) -> &AtomicU32 {
        &self.0.indices[i.offset() / 4]
    }
}

impl RingMemory for LoomRing {
    fn load_index(&self, i: Index) -> u32 {
        self.index(i).load(Ordering::Acquire)
    }

    fn store_index(&self, i: Index, v: u32) {
        self.index(i).store(v, Ordering::Release)
    }

    fn fence(&self) {
        fence(Ordering::SeqCst)
    }

    fn read_slot<T: Entry>(&self, slot: u32) -> T {
        self.0.slots[slot as usize].with(|p| {
            // SAFETY: loom checks that no write to this slot is concurrent with this read.
            let bytes = unsafe { &*p };
            T::read_from_prefix(bytes).expect("entry fits a slot").0
        })
    }

    fn write_slot<T: Entry>(&self, slot: u32, v: &T) {
        self.0.slots[slot as usize].with_mut(|p| {
            let src = v.as_bytes();
            // SAFETY: loom checks that no other access to this slot is concurrent with this write.
            unsafe { (&mut *p)[..src.len()].copy_from_slice(src) }
        })
    }

    fn slots(&self) -> u32 {
        self.0.slots.len() as u32
    }

    fn clear_header_padding(&self) {
        // The model has no header padding, only the four indices.
    }
}
