//! Xen shared rings with the exact semantics of io/ring.h, generic over the request and response
//! types and over the memory the ring lives in.
//!
//! A ring is a header of four free-running `u32` indices (`req_prod`, `req_event`, `rsp_prod`,
//! `rsp_event`) followed by a power-of-two number of slots, each holding a request or a response.
//! The frontend ([`FrontRing`]) produces requests and consumes responses; the backend
//! ([`BackRing`]) consumes requests and produces responses into the same slots.
//!
//! Each side keeps a private producer index and publishes it with one Release store per batch
//! ([`FrontRing::publish`]), then decides from the peer's event index whether the peer asked to be
//! notified (`RING_PUSH_*_AND_CHECK_NOTIFY`). A consumer reads the peer's producer index once per
//! batch with Acquire, validates it, and copies each entry out exactly once. Before sleeping it
//! runs the final check (`RING_FINAL_CHECK_FOR_*`), which re-arms its event index and looks again,
//! so that a notification cannot be lost.
//!
//! The peer is untrusted: a producer index outside what the protocol allows is a
//! [`RingError::PeerIndex`], never a panic.
//!
//! The ring logic talks to memory only through [`RingMemory`], so the same code runs on real
//! shared pages ([`SharedRing`]) and under loom.

mod back;
mod front;
mod shared;
#[cfg(test)]
mod tests;

pub use back::BackRing;
pub use front::FrontRing;
pub use shared::{RingTooSmall, SharedRing};

use core::borrow::Borrow;
use core::fmt;
use core::marker::PhantomData;
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// One of the four shared indices at the start of a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// Requests produced by the frontend.
    ReqProd,
    /// The backend wants a notification when `req_prod` passes this.
    ReqEvent,
    /// Responses produced by the backend.
    RspProd,
    /// The frontend wants a notification when `rsp_prod` passes this.
    RspEvent,
}

impl Index {
    /// Byte offset of the index in the ring header (C `struct xxx_sring`).
    pub const fn offset(self) -> usize {
        match self {
            Index::ReqProd => 0,
            Index::ReqEvent => 4,
            Index::RspProd => 8,
            Index::RspEvent => 12,
        }
    }
}

/// A request or response that can be copied through shared memory as plain bytes.
pub trait Entry: FromBytes + IntoBytes + Immutable {}
impl<T: FromBytes + IntoBytes + Immutable> Entry for T {}

/// The memory a ring lives in: its four indices and its slots.
///
/// Implementations: [`SharedRing`] for real shared pages; the loom tests provide one whose slots
/// are tracked cells, so loom proves no slot is read before it was published.
pub trait RingMemory {
    /// Loads an index with Acquire ordering.
    fn load_index(&self, i: Index) -> u32;
    /// Stores an index with Release ordering.
    fn store_index(&self, i: Index, v: u32);
    /// Full memory barrier (`xen_mb`).
    fn fence(&self);
    /// Copies the entry in `slot` (< `slots()`) out of the ring.
    fn read_slot<T: Entry>(&self, slot: u32) -> T;
    /// Copies `v` into `slot` (< `slots()`).
    fn write_slot<T: Entry>(&self, slot: u32, v: &T);
    /// Number of slots, a power of two.
    fn slots(&self) -> u32;
    /// Zeroes whatever the header holds besides the indices (`SHARED_RING_INIT`'s memsets).
    fn clear_header_padding(&self);

    /// The slots as entries of type `T`, for the length of one batch. The ring copies a batch's
    /// entries through this `Copy` value, which the compiler can keep in registers; what it
    /// reaches through `&self` it must reload after every entry, since an atomic store into
    /// the ring might have changed it. The default goes through
    /// [`read_slot`](Self::read_slot) and [`write_slot`](Self::write_slot).
    #[inline]
    fn entry_slots<T: Entry>(&self) -> impl EntrySlots<T> {
        SlotsOf(self, PhantomData)
    }
}

/// Copies entries of one type in and out of a ring's slots; see [`RingMemory::entry_slots`].
pub trait EntrySlots<T>: Copy {
    /// Copies out the entry at ring index `index` (free-running: the slot is `index` modulo the
    /// number of slots).
    fn read(self, index: u32) -> T;
    /// Copies `v` into the slot of ring index `index`.
    fn write(self, index: u32, v: &T);
}

/// [`RingMemory::entry_slots`] through `read_slot` and `write_slot`.
struct SlotsOf<'a, M: ?Sized, T>(&'a M, PhantomData<fn(T) -> T>);

impl<M: ?Sized, T> Clone for SlotsOf<'_, M, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: ?Sized, T> Copy for SlotsOf<'_, M, T> {}

impl<M: RingMemory + ?Sized, T: Entry> EntrySlots<T> for SlotsOf<'_, M, T> {
    #[inline]
    fn read(self, index: u32) -> T {
        self.0.read_slot(index & (self.0.slots() - 1))
    }

    #[inline]
    fn write(self, index: u32, v: &T) {
        self.0.write_slot(index & (self.0.slots() - 1), v)
    }
}

/// The ring has no room: no free request slot (front), or no consumed request left to answer
/// (back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingFull;

impl fmt::Display for RingFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ring full")
    }
}

/// The peer broke the ring protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    /// The peer's producer index `value` is outside the window `min..=max` (wrapping) it must be
    /// in: below `min` it moved backwards past what it already published; above `max` it claims
    /// entries that cannot exist (responses to requests never made, or more requests than the
    /// ring holds).
    PeerIndex {
        /// Which index.
        index: Index,
        /// What the peer wrote.
        value: u32,
        /// Lowest valid value: what the peer had published when we last looked.
        min: u32,
        /// Highest valid value.
        max: u32,
    },
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::PeerIndex {
                index,
                value,
                min,
                max,
            } => write!(
                f,
                "peer wrote {index:?} = {value}, outside the valid range {min}..={max}"
            ),
        }
    }
}

#[inline]
fn check_power_of_two<M: RingMemory>(mem: &M) -> u32 {
    let slots = mem.slots();
    assert!(
        slots.is_power_of_two(),
        "ring memory with {slots} slots: not a power of two"
    );
    slots
}

/// The producing half of one direction: a private index and the last one published.
#[derive(Debug, Clone, Copy)]
struct Producer {
    /// Next index to write (C `req_prod_pvt` / `rsp_prod_pvt`).
    pvt: u32,
    /// What we last stored to the shared producer index. We are its only writer, so we keep it
    /// privately instead of re-reading it from shared memory as ring.h does.
    published: u32,
}

impl Producer {
    #[inline]
    fn at(start: u32) -> Self {
        Self {
            pvt: start,
            published: start,
        }
    }

    /// Writes at most `max` entries from `items`, taking no more than it writes, and returns how
    /// many. The index and the slots are kept in locals: the slot writes are atomics, across
    /// which the compiler would otherwise reload and store `self.pvt` for every entry.
    #[inline]
    fn write<M: RingMemory, T: Entry>(
        &mut self,
        mem: &M,
        items: impl IntoIterator<Item = impl Borrow<T>>,
        max: u32,
    ) -> u32 {
        let slots = mem.entry_slots::<T>();
        let start = self.pvt;
        let mut pvt = start;
        for v in items.into_iter().take(max as usize) {
            slots.write(pvt, v.borrow());
            pvt = pvt.wrapping_add(1);
        }
        self.pvt = pvt;
        pvt.wrapping_sub(start)
    }

    /// `RING_PUSH_*_AND_CHECK_NOTIFY`: makes everything written visible with one Release store,
    /// then, after a full barrier (so the peer's final check and our read of its event index
    /// cannot both miss each other), reports whether the peer's event index lies in the batch
    /// just published.
    #[inline]
    fn publish<M: RingMemory>(&mut self, mem: &M, prod: Index, event: Index) -> bool {
        let (old, new) = (self.published, self.pvt);
        if old == new {
            // ring.h would store the same value and compute `new - event < 0`: no notification.
            return false;
        }
        mem.store_index(prod, new);
        self.published = new;
        mem.fence();
        let event = mem.load_index(event);
        new.wrapping_sub(event) < new.wrapping_sub(old)
    }
}

/// The consuming half of one direction.
#[derive(Debug, Clone, Copy)]
struct Consumer {
    /// Next index to read (C `rsp_cons` / `req_cons`).
    cons: u32,
    /// The peer's producer index as last read and validated.
    seen: u32,
}

impl Consumer {
    #[inline]
    fn at(start: u32) -> Self {
        Self {
            cons: start,
            seen: start,
        }
    }

    /// Reads the peer's producer index once and validates it: it may not move backwards from
    /// what we saw last, and may be at most `limit` entries ahead of our consumer index.
    /// Returns the number of entries ready to consume.
    #[inline]
    fn refresh<M: RingMemory>(
        &mut self,
        mem: &M,
        prod: Index,
        limit: u32,
    ) -> Result<u32, RingError> {
        let value = mem.load_index(prod);
        let ready = value.wrapping_sub(self.cons);
        if ready < self.seen.wrapping_sub(self.cons) || ready > limit {
            return Err(RingError::PeerIndex {
                index: prod,
                value,
                min: self.seen,
                max: self.cons.wrapping_add(limit),
            });
        }
        self.seen = value;
        Ok(ready)
    }

    /// `RING_FINAL_CHECK_FOR_*`: if nothing is ready, asks for a notification on the next entry
    /// and looks again after a full barrier, so that an entry published concurrently is either
    /// seen here or notified.
    #[inline]
    fn final_check<M: RingMemory>(
        &mut self,
        mem: &M,
        prod: Index,
        event: Index,
        limit: u32,
    ) -> Result<bool, RingError> {
        if self.refresh(mem, prod, limit)? != 0 {
            return Ok(true);
        }
        mem.store_index(event, self.cons.wrapping_add(1));
        mem.fence();
        Ok(self.refresh(mem, prod, limit)? != 0)
    }

    #[inline]
    fn entries<'a, T: Entry, M: RingMemory>(
        &'a mut self,
        mem: &'a M,
    ) -> Entries<'a, T, impl EntrySlots<T> + use<'a, T, M>> {
        Entries {
            next: self.cons,
            end: self.seen,
            consumer: self,
            slots: mem.entry_slots::<T>(),
            _entry: PhantomData,
        }
    }
}

/// The entries of one consumed batch, each copied out of the ring once as it is yielded.
///
/// The batch ends at the producer index read when the batch was taken; entries not taken before
/// the iterator is dropped stay on the ring for the next batch. The consumer index advances when
/// the iterator is dropped (a leaked iterator consumes nothing).
pub struct Entries<'a, T, S> {
    consumer: &'a mut Consumer,
    slots: S,
    /// The consumer index, kept here while iterating so it can live in a register (see
    /// `Producer::write`) and stored back on drop.
    next: u32,
    end: u32,
    _entry: PhantomData<fn() -> T>,
}

impl<T, S> Drop for Entries<'_, T, S> {
    #[inline]
    fn drop(&mut self) {
        self.consumer.cons = self.next;
    }
}

impl<T, S: EntrySlots<T>> Iterator for Entries<'_, T, S> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        let cons = self.next;
        if cons == self.end {
            return None;
        }
        let entry = self.slots.read(cons);
        self.next = cons.wrapping_add(1);
        Some(entry)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end.wrapping_sub(self.next) as usize;
        (n, Some(n))
    }
}

impl<T, S: EntrySlots<T>> ExactSizeIterator for Entries<'_, T, S> {}

impl<T, S> fmt::Debug for Entries<'_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entries")
            .field("next", &self.next)
            .field("end", &self.end)
            .finish()
    }
}
