//! [`RingMemory`] over real shared pages: the C `struct xxx_sring` layout.

use super::{Entry, Index, RingMemory};
use crate::shmem::SharedMem;
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
    /// Every slot starts 4-byte aligned (always, for page-aligned rings of Xen's entry types),
    /// so entries are copied as whole words without checking each address.
    aligned: bool,
}

impl SharedRing {
    /// Lays out a ring for `Req`/`Rsp` entries over `mem`.
    pub fn new<Req: Entry, Rsp: Entry>(mem: SharedMem) -> Result<Self, RingTooSmall> {
        let entry_size = sring_entry_size(size_of::<Req>(), size_of::<Rsp>());
        let slots = sring_entries(mem.len(), entry_size);
        if slots == 0 {
            return Err(RingTooSmall {
                bytes: mem.len(),
                entry_size,
            });
        }
        // What read_slot and write_slot rely on.
        assert!(SRING_HEADER_SIZE + slots as usize * entry_size <= mem.len());
        let first_slot = mem.as_ptr().as_ptr() as usize + SRING_HEADER_SIZE;
        let aligned = first_slot.is_multiple_of(4) && entry_size.is_multiple_of(4);
        Ok(Self {
            mem,
            entry_size,
            slots,
            aligned,
        })
    }

    /// The underlying memory (for granting its pages to the peer).
    pub fn mem(&self) -> &SharedMem {
        &self.mem
    }

    /// Offset of `slot`, checked to lie with a `T` inside the slot area, which `new` sized to fit
    /// inside the memory.
    #[inline]
    fn slot_offset<T>(&self, slot: u32) -> usize {
        assert!(
            slot < self.slots && size_of::<T>() <= self.entry_size,
            "slot {slot} of a {}-byte entry outside a ring of {} {}-byte slots",
            size_of::<T>(),
            self.slots,
            self.entry_size
        );
        SRING_HEADER_SIZE + slot as usize * self.entry_size
    }
}

impl RingMemory for SharedRing {
    #[inline]
    fn load_index(&self, i: Index) -> u32 {
        self.mem.load_u32_acquire(i.offset())
    }

    #[inline]
    fn store_index(&self, i: Index, v: u32) {
        self.mem.store_u32_release(i.offset(), v)
    }

    #[inline]
    fn fence(&self) {
        self.mem.fence()
    }

    #[inline]
    fn read_slot<T: Entry>(&self, slot: u32) -> T {
        let off = self.slot_offset::<T>(slot);
        // SAFETY: slot_offset checked that the entry lies inside the slot area, which lies inside
        // the memory (`__RING_SIZE` only counts slots that fit); `aligned` was computed from the
        // slot area's address and stride.
        unsafe {
            if self.aligned {
                self.mem.read_unchecked::<T, true>(off)
            } else {
                self.mem.read_unchecked::<T, false>(off)
            }
        }
    }

    #[inline]
    fn write_slot<T: Entry>(&self, slot: u32, v: &T) {
        let off = self.slot_offset::<T>(slot);
        // SAFETY: as in read_slot.
        unsafe {
            if self.aligned {
                self.mem.write_unchecked::<T, true>(off, v)
            } else {
                self.mem.write_unchecked::<T, false>(off, v)
            }
        }
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
}
