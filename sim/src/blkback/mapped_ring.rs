//! A ring that the backend reaches through one grant mapping per page.
//!
//! Real blkback maps the ring pages into one contiguous virtual area; the simulated host hands out
//! one view per mapped page, so entries that straddle a page boundary are copied in two pieces.
//! Page boundaries are 4-byte aligned, so each piece is copied with the same word accesses the
//! frontend's contiguous view uses.

use std::mem::size_of;

use xenpv_abi::ring::{sring_entries, sring_entry_size, SRING_HEADER_SIZE};
use xenpv_abi::PAGE_SIZE;
use xenpv_datapath::ring::{Entry, Index, RingMemory};

use crate::host::Mapping;

/// Ring memory over mapped pages; dropping it unmaps them.
pub struct MappedRing {
    pages: Vec<Mapping>,
    entry_size: usize,
    slots: u32,
}

impl MappedRing {
    /// Lays out a `Req`/`Rsp` ring over `pages` (at least one).
    pub fn new<Req: Entry, Rsp: Entry>(pages: Vec<Mapping>) -> Self {
        assert!(!pages.is_empty(), "a ring has at least one page");
        let entry_size = sring_entry_size(size_of::<Req>(), size_of::<Rsp>());
        let slots = sring_entries(pages.len() * PAGE_SIZE, entry_size);
        Self {
            pages,
            entry_size,
            slots,
        }
    }

    /// Calls `f(page, offset in page, range in the entry)` for each piece of the slot's first
    /// `len` bytes.
    fn pieces(
        &self,
        slot: u32,
        len: usize,
        mut f: impl FnMut(&Mapping, usize, std::ops::Range<usize>),
    ) {
        assert!(slot < self.slots && len <= self.entry_size);
        let mut at = SRING_HEADER_SIZE + slot as usize * self.entry_size;
        let mut done = 0;
        while done < len {
            let (page, off) = (at / PAGE_SIZE, at % PAGE_SIZE);
            let n = (PAGE_SIZE - off).min(len - done);
            f(&self.pages[page], off, done..done + n);
            done += n;
            at += n;
        }
    }
}

impl RingMemory for MappedRing {
    fn load_index(&self, i: Index) -> u32 {
        self.pages[0].mem().load_u32_acquire(i.offset())
    }

    fn store_index(&self, i: Index, v: u32) {
        self.pages[0].mem().store_u32_release(i.offset(), v)
    }

    fn fence(&self) {
        self.pages[0].mem().fence()
    }

    fn read_slot<T: Entry>(&self, slot: u32) -> T {
        let mut v = T::new_zeroed();
        let bytes = v.as_mut_bytes();
        self.pieces(slot, bytes.len(), |page, off, r| {
            page.mem().read_bytes(off, &mut bytes[r])
        });
        v
    }

    fn write_slot<T: Entry>(&self, slot: u32, v: &T) {
        let bytes = v.as_bytes();
        self.pieces(slot, bytes.len(), |page, off, r| {
            page.mem().write_bytes(off, &bytes[r])
        });
    }

    fn slots(&self) -> u32 {
        self.slots
    }

    fn clear_header_padding(&self) {
        let end_of_indices = Index::RspEvent.offset() + 4;
        self.pages[0]
            .mem()
            .write_bytes(end_of_indices, &[0; SRING_HEADER_SIZE - 16]);
    }
}
