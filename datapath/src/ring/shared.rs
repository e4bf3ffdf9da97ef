//! [`RingMemory`] over real shared pages: the C `struct xxx_sring` layout.

use super::{Entry, EntrySlots, Index, RingMemory};
use crate::shmem::{SharedMem, SlotArray};
use core::fmt;
use core::mem::size_of;
use xenpv_abi::ring::{sring_entries, sring_entry_size, SRING_HEADER_SIZE};

/// The memory is too small to hold the ring header and one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingTooSmall {
    /// Bytes of memory given.
    pub bytes: usize,
    /// Bytes per slot.
    pub entry_size: usize,
}

impl fmt::Display for RingTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes cannot hold a ring of {}-byte entries",
            self.bytes, self.entry_size
        )
    }
}

/// A ring laid out in shared memory as io/ring.h lays it out: the 64-byte header, then as many
/// slots of `max(sizeof(Req), sizeof(Rsp))` bytes as fit, rounded down to a power of two
/// (`__RING_SIZE`). Any number of pages works (multi-page rings).
#[derive(Debug, Clone)]
pub struct SharedRing {
    mem: SharedMem,
    entry_size: usize,
    slots: u32,
}

impl SharedRing {
    /// Lays out a ring for `Req`/`Rsp` entries over `mem`.
    ///
    /// `mem` must start 4-byte aligned (ring pages do; panics otherwise), and the entry types'
    /// sizes must be multiples of 4 bytes (checked at compile time).
    pub fn new<Req: Entry, Rsp: Entry>(mem: SharedMem) -> Result<Self, RingTooSmall> {
        let entry_size = const {
            let size = sring_entry_size(size_of::<Req>(), size_of::<Rsp>());
            // So that every slot is 4-byte aligned and entries are copied as whole words.
            assert!(
                size.is_multiple_of(4),
                "ring entries must be a multiple of 4 bytes, as every Xen ring's are"
            );
            size
        };
        let slots = sring_entries(mem.len(), entry_size);
        if slots == 0 {
            return Err(RingTooSmall {
                bytes: mem.len(),
                entry_size,
            });
        }
        // What load_index and store_index rely on (with slots > 0, which means the header fits).
        assert!(
            mem.as_ptr().cast::<u32>().is_aligned(),
            "ring memory at {:p} is not 4-byte aligned",
            mem.as_ptr()
        );
        Ok(Self {
            mem,
            entry_size,
            slots,
        })
    }

    /// The underlying memory (for granting its pages to the peer).
    pub fn mem(&self) -> &SharedMem {
        &self.mem
    }
}

impl RingMemory for SharedRing {
    #[inline]
    fn load_index(&self, i: Index) -> u32 {
        // SAFETY: the index lies in the 64-byte header, which `new` saw fit in the memory, at a
        // multiple of 4 from the memory's start, which `new` checked is 4-byte aligned.
        unsafe { self.mem.load_u32_acquire_unchecked(i.offset()) }
    }

    #[inline]
    fn store_index(&self, i: Index, v: u32) {
        // SAFETY: as in load_index.
        unsafe { self.mem.store_u32_release_unchecked(i.offset(), v) }
    }

    #[inline]
    fn fence(&self) {
        self.mem.fence()
    }

    #[inline]
    fn read_slot<T: Entry>(&self, slot: u32) -> T {
        self.entry_slots::<T>().read(slot)
    }

    #[inline]
    fn write_slot<T: Entry>(&self, slot: u32, v: &T) {
        self.entry_slots::<T>().write(slot, v)
    }

    #[inline]
    fn slots(&self) -> u32 {
        self.slots
    }

    fn clear_header_padding(&self) {
        let end_of_indices = Index::RspEvent.offset() + 4;
        self.mem
            .write_bytes(end_of_indices, &[0; SRING_HEADER_SIZE - 16]);
    }

    /// The slot area after the header, checked to fit the memory once per batch, so that no
    /// entry access needs a check (`__RING_SIZE` only counts slots that fit).
    #[inline]
    fn entry_slots<T: Entry>(&self) -> impl EntrySlots<T> {
        self.mem
            .slot_array::<T>(SRING_HEADER_SIZE, self.entry_size, self.slots)
    }
}

impl<T: Entry> EntrySlots<T> for SlotArray<'_, T> {
    #[inline]
    fn read(self, index: u32) -> T {
        SlotArray::read(self, index)
    }

    #[inline]
    fn write(self, index: u32, v: &T) {
        SlotArray::write(self, index, v)
    }
}
