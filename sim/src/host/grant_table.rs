//! A domain's grant table, v1, with Xen's semantics.
//!
//! The guest side writes entries (frame, then domid and flags) and ends access with a compare-and-swap
//! that fails while the backend has the grant in use; the hypervisor side pins an entry for a map or a
//! copy, setting GTF_reading / GTF_writing in the shared flags exactly as Xen does, so that a frontend
//! that ends a grant the backend still uses gets told and must not reuse the page (XSA-396 class).
//!
//! Xen keeps the pin counts in a private active entry under a lock. Here they share one 64-bit
//! atomic with the guest-visible flags and domid, so a pin or an unpin changes the count and the
//! busy flags in a single compare-and-swap: no lock, and no moment where they disagree (a backend
//! pins every page it copies, so this is on the path of every packet).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use xenpv_abi::grant_table::{
    GNTTAB_NR_RESERVED_ENTRIES, GTF_PERMIT_ACCESS, GTF_READING, GTF_READONLY, GTF_TYPE_MASK,
    GTF_WRITING,
};
use xenpv_abi::{DomId, GrantRef};

/// Xen reserves the first references for its own use (the console and xenstore rings of the toolstack).
pub const RESERVED_REFS: GrantRef = GNTTAB_NR_RESERVED_ENTRIES;

/// Why a grant operation was refused; each maps to Xen's GNTST_* status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantError {
    /// The reference is outside the table (GNTST_bad_gntref).
    BadRef,
    /// The entry does not grant access to the asking domain (GNTST_permission_denied).
    NotPermitted,
    /// Write access asked for a read-only grant (GNTST_permission_denied).
    ReadOnly,
    /// The granted frame is not the granting domain's (GNTST_bad_page).
    BadFrame,
    /// Offset and length do not fit in a page (GNTST_bad_copy_arg).
    BadRange,
    /// The entry is pinned as often as its counter allows (GNTST_general_error, as Xen's pin
    /// count overflow check).
    TooManyPins,
    /// No free reference is left (the guest's own allocator, not a Xen status).
    Exhausted,
}

/// The flags word and the domid share one 32-bit word so that a single compare-and-swap changes them
/// together, as Xen's 16-bit cmpxchg on `flags` does while `domid` is checked in the same step.
fn pack(flags: u16, domid: DomId) -> u32 {
    u32::from(flags) | u32::from(domid) << 16
}

fn flags_of(word: u32) -> u16 {
    word as u16
}

fn domid_of(word: u32) -> DomId {
    (word >> 16) as DomId
}

/// One reader pin, in an entry's state (bits 32..48).
const READER: u64 = 1 << 32;
/// One writer pin (bits 48..64); a writer also counts as a reader.
const WRITER: u64 = 1 << 48;
/// Most pins of either kind an entry holds at once.
const MAX_PINS: u64 = 0xffff;

fn readers(state: u64) -> u64 {
    (state >> 32) & MAX_PINS
}

fn writers(state: u64) -> u64 {
    state >> 48
}

/// The guest-visible part of an entry's state: flags | domid << 16.
fn shared(state: u64) -> u32 {
    state as u32
}

struct Entry {
    /// Low 32 bits: flags | domid << 16, written by the guest, busy bits set by the hypervisor
    /// side. High 32 bits: the hypervisor-private reader and writer pin counts.
    state: AtomicU64,
    /// The granted frame; written by the guest before `state` makes the entry valid.
    frame: AtomicU32,
}

/// One domain's grant table.
pub struct GrantTable {
    entries: Box<[Entry]>,
    free: Mutex<Vec<GrantRef>>,
}

/// An entry pinned for the hypervisor side; unpin it with [`GrantTable::unpin`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pinned {
    pub gref: GrantRef,
    /// The granted frame (a v1 entry holds 32 bits).
    pub frame: u32,
    pub write: bool,
}

impl GrantTable {
    /// A table of `size` entries; the first [`RESERVED_REFS`] are never handed out.
    pub fn new(size: u32) -> Self {
        let entries = (0..size)
            .map(|_| Entry {
                state: AtomicU64::new(0),
                frame: AtomicU32::new(0),
            })
            .collect();
        let free = (RESERVED_REFS..size).rev().collect();
        Self {
            entries,
            free: Mutex::new(free),
        }
    }

    /// Guest side: grant `frame` to `domid`, returning the new reference.
    pub fn grant(&self, domid: DomId, frame: u64, readonly: bool) -> Result<GrantRef, GrantError> {
        let frame = u32::try_from(frame).map_err(|_| GrantError::BadFrame)?;
        let gref = self
            .free
            .lock()
            .unwrap()
            .pop()
            .ok_or(GrantError::Exhausted)?;
        self.permit(gref, domid, frame, readonly);
        Ok(gref)
    }

    /// Writes a valid entry into `gref`, which grants nothing now and is the caller's.
    fn permit(&self, gref: GrantRef, domid: DomId, frame: u32, readonly: bool) {
        let entry = &self.entries[gref as usize];
        entry.frame.store(frame, Ordering::Relaxed);
        let flags = GTF_PERMIT_ACCESS | if readonly { GTF_READONLY } else { 0 };
        // Release: the frame is visible before the entry becomes valid (Xen requires a wmb here).
        // An unused entry has no pins, so the whole state is the new shared word.
        entry
            .state
            .store(u64::from(pack(flags, domid)), Ordering::Release);
    }

    /// Guest side: take `count` references off the free list for the guest's own use
    /// (`gnttab_alloc_grant_references`): granting and ending through them takes no lock.
    pub fn reserve(&self, count: usize) -> Result<Vec<GrantRef>, GrantError> {
        let mut free = self.free.lock().unwrap();
        let at = free.len().checked_sub(count).ok_or(GrantError::Exhausted)?;
        Ok(free.split_off(at))
    }

    /// Guest side: grant `frame` to `domid` through `gref`, a reserved reference that grants
    /// nothing now. Refused (the entry untouched) while it still grants something.
    pub fn grant_reserved(
        &self,
        gref: GrantRef,
        domid: DomId,
        frame: u64,
        readonly: bool,
    ) -> Result<(), GrantError> {
        let entry = self.entries.get(gref as usize).ok_or(GrantError::BadRef)?;
        let frame = u32::try_from(frame).map_err(|_| GrantError::BadFrame)?;
        // Only the reserve's owner writes an unused entry and the grantee cannot pin one, so
        // nothing can change it between this check and the write.
        if entry.state.load(Ordering::Acquire) != 0 {
            return Err(GrantError::NotPermitted);
        }
        self.permit(gref, domid, frame, readonly);
        Ok(())
    }

    /// Guest side: end access through a reserved reference, which stays reserved. Fails, leaving
    /// the entry as it is, while the grantee has the page mapped or is copying through it.
    pub fn end_reserved(&self, gref: GrantRef) -> Result<(), GrantError> {
        let entry = self.entries.get(gref as usize).ok_or(GrantError::BadRef)?;
        let mut state = entry.state.load(Ordering::Acquire);
        loop {
            if flags_of(shared(state)) & (GTF_READING | GTF_WRITING) != 0 {
                return Err(GrantError::NotPermitted);
            }
            match entry
                .state
                .compare_exchange(state, 0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(now) => state = now,
            }
        }
    }

    /// Guest side: give reserved references back to the free list; each must grant nothing.
    pub fn release(&self, refs: &[GrantRef]) {
        self.free.lock().unwrap().extend_from_slice(refs);
    }

    /// Guest side: points reference `gref`, which the guest holds (granted and not ended), at
    /// `frame` for `domid` — what a guest does with references it keeps for itself (a crash-dump
    /// path reusing its reserved range). Refused while the grantee uses the entry.
    pub fn rewrite(
        &self,
        gref: GrantRef,
        domid: DomId,
        frame: u64,
        readonly: bool,
    ) -> Result<(), GrantError> {
        let entry = self.entries.get(gref as usize).ok_or(GrantError::BadRef)?;
        let frame = u32::try_from(frame).map_err(|_| GrantError::BadFrame)?;
        let state = entry.state.load(Ordering::Acquire);
        let flags = flags_of(shared(state));
        if flags & GTF_TYPE_MASK != GTF_PERMIT_ACCESS {
            return Err(GrantError::BadRef);
        }
        if flags & (GTF_READING | GTF_WRITING) != 0 || readers(state) != 0 {
            return Err(GrantError::NotPermitted);
        }
        // Revoke, then write the frame, then permit again (Release), as a fresh grant does; a
        // pin that starts in between fails the swap and the entry is left as it was.
        entry
            .state
            .compare_exchange(state, 0, Ordering::AcqRel, Ordering::Acquire)
            .map_err(|_| GrantError::NotPermitted)?;
        entry.frame.store(frame, Ordering::Relaxed);
        let flags = GTF_PERMIT_ACCESS | if readonly { GTF_READONLY } else { 0 };
        entry
            .state
            .store(u64::from(pack(flags, domid)), Ordering::Release);
        Ok(())
    }

    /// Guest side: end access through `gref` and free the reference. Fails, leaving the entry as it
    /// is, while the grantee has the page mapped or is copying through it.
    pub fn end_access(&self, gref: GrantRef) -> Result<(), GrantError> {
        self.end_reserved(gref)?;
        self.free.lock().unwrap().push(gref);
        Ok(())
    }

    /// Whether the grantee is using `gref` right now (what the guest can see in the shared flags).
    pub fn in_use(&self, gref: GrantRef) -> bool {
        self.entries.get(gref as usize).is_some_and(|e| {
            flags_of(shared(e.state.load(Ordering::Acquire))) & (GTF_READING | GTF_WRITING) != 0
        })
    }

    /// Number of references handed out and not yet ended.
    pub fn active(&self) -> usize {
        self.entries.len() - RESERVED_REFS as usize - self.free.lock().unwrap().len()
    }

    /// Hypervisor side: pin `gref` for `grantee`, for reading or also writing, as Xen does for a map or
    /// a copy. The shared flags get GTF_reading (and GTF_writing) while any pin holds.
    pub fn pin(&self, gref: GrantRef, grantee: DomId, write: bool) -> Result<Pinned, GrantError> {
        let entry = self.entries.get(gref as usize).ok_or(GrantError::BadRef)?;
        let busy = GTF_READING | if write { GTF_WRITING } else { 0 };
        let pin = READER + if write { WRITER } else { 0 };
        let mut state = entry.state.load(Ordering::Acquire);
        loop {
            let word = shared(state);
            let flags = flags_of(word);
            if flags & GTF_TYPE_MASK != GTF_PERMIT_ACCESS || domid_of(word) != grantee {
                return Err(GrantError::NotPermitted);
            }
            if write && flags & GTF_READONLY != 0 {
                return Err(GrantError::ReadOnly);
            }
            if readers(state) == MAX_PINS || writers(state) == MAX_PINS {
                return Err(GrantError::TooManyPins);
            }
            // The compare-and-swap is what makes a racing end_access either win before us (and we
            // refuse) or fail after us (and the guest keeps its hands off the page).
            match entry.state.compare_exchange(
                state,
                (state | u64::from(busy)) + pin,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        let frame = entry.frame.load(Ordering::Relaxed);
        Ok(Pinned { gref, frame, write })
    }

    /// Hypervisor side: drop a pin taken by [`GrantTable::pin`]; the busy flags clear with the last pin.
    pub fn unpin(&self, pinned: Pinned) {
        let entry = &self.entries[pinned.gref as usize];
        let pin = READER + if pinned.write { WRITER } else { 0 };
        let mut state = entry.state.load(Ordering::Acquire);
        loop {
            let left = state - pin;
            let mut clear = 0u16;
            if writers(left) == 0 {
                clear |= GTF_WRITING;
            }
            if readers(left) == 0 {
                clear |= GTF_READING;
            }
            match entry.state.compare_exchange(
                state,
                left & !u64::from(clear),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => state = now,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_reference_is_rewritten_only_while_unused() {
        let t = GrantTable::new(16);
        let r = t.grant(1, 100, true).unwrap();
        let active = t.active();
        t.rewrite(r, 0, 200, false).unwrap();
        assert_eq!(t.active(), active, "the same reference, not a new one");
        assert_eq!(
            t.pin(r, 1, false),
            Err(GrantError::NotPermitted),
            "old grantee"
        );
        let p = t.pin(r, 0, true).unwrap();
        assert_eq!((p.frame, p.write), (200, true));
        assert_eq!(t.rewrite(r, 1, 300, true), Err(GrantError::NotPermitted));
        t.unpin(p);
        // Free, reserved or out-of-range references are not the guest's to rewrite.
        let free = t.grant(0, 1, true).unwrap();
        t.end_access(free).unwrap();
        for bad in [free, 3, 99] {
            assert_eq!(
                t.rewrite(bad, 0, 1, true),
                Err(GrantError::BadRef),
                "ref {bad}"
            );
        }
        assert_eq!(t.rewrite(r, 0, 1 << 40, true), Err(GrantError::BadFrame));
    }

    #[test]
    fn grantee_pins_only_what_it_was_granted() {
        let t = GrantTable::new(16);
        let ro = t.grant(0, 100, true).unwrap();
        let rw = t.grant(0, 101, false).unwrap();
        assert!(ro >= RESERVED_REFS && rw >= RESERVED_REFS);
        assert_eq!(
            t.pin(ro, 1, false),
            Err(GrantError::NotPermitted),
            "wrong domain"
        );
        assert_eq!(t.pin(ro, 0, true), Err(GrantError::ReadOnly));
        assert_eq!(
            t.pin(3, 0, false),
            Err(GrantError::NotPermitted),
            "reserved refs are never granted"
        );
        assert_eq!(t.pin(99, 0, false), Err(GrantError::BadRef));
        let p = t.pin(rw, 0, true).unwrap();
        assert_eq!(p.frame, 101);
        t.unpin(p);
    }

    #[test]
    fn ending_a_pinned_grant_fails_until_the_last_pin_goes() {
        let t = GrantTable::new(16);
        let g = t.grant(0, 7, false).unwrap();
        let a = t.pin(g, 0, false).unwrap();
        let b = t.pin(g, 0, true).unwrap();
        assert!(t.in_use(g));
        assert_eq!(t.end_access(g), Err(GrantError::NotPermitted));
        t.unpin(b);
        assert_eq!(
            t.end_access(g),
            Err(GrantError::NotPermitted),
            "a reader still holds it"
        );
        t.unpin(a);
        assert!(!t.in_use(g));
        assert_eq!(t.end_access(g), Ok(()));
        assert_eq!(
            t.pin(g, 0, false),
            Err(GrantError::NotPermitted),
            "an ended grant cannot be pinned"
        );
        assert_eq!(t.active(), 0);
    }

    /// Pin counts share a word with the flags; a full count is refused rather than carried into
    /// the next field, and the flags clear only with the last pin.
    #[test]
    fn pin_counts_saturate_with_an_error_and_flags_follow_the_last_pin() {
        let t = GrantTable::new(16);
        let g = t.grant(0, 9, false).unwrap();
        let w = t.pin(g, 0, true).unwrap();
        let pins: Vec<Pinned> = (1..MAX_PINS).map(|_| t.pin(g, 0, false).unwrap()).collect();
        assert_eq!(t.pin(g, 0, false), Err(GrantError::TooManyPins));
        assert_eq!(t.pin(g, 0, true), Err(GrantError::TooManyPins));
        t.unpin(w);
        let word = shared(t.entries[g as usize].state.load(Ordering::Relaxed));
        assert_eq!(flags_of(word) & (GTF_READING | GTF_WRITING), GTF_READING);
        for p in pins {
            t.unpin(p);
        }
        assert!(!t.in_use(g));
        assert_eq!(t.end_access(g), Ok(()));
    }

    #[test]
    fn a_reserved_reference_grants_one_frame_at_a_time_and_stays_reserved() {
        let t = GrantTable::new(RESERVED_REFS + 3);
        let refs = t.reserve(2).unwrap();
        assert_eq!(t.reserve(2), Err(GrantError::Exhausted));
        let r = refs[0];
        assert_eq!(t.pin(r, 0, false), Err(GrantError::NotPermitted), "unused");
        t.grant_reserved(r, 0, 40, true).unwrap();
        assert_eq!(
            t.grant_reserved(r, 0, 41, true),
            Err(GrantError::NotPermitted),
            "already grants a frame"
        );
        let p = t.pin(r, 0, false).unwrap();
        assert_eq!(p.frame, 40, "the refused second grant left the entry alone");
        assert_eq!(t.end_reserved(r), Err(GrantError::NotPermitted));
        t.unpin(p);
        t.end_reserved(r).unwrap();
        assert_eq!(t.pin(r, 0, false), Err(GrantError::NotPermitted));
        t.grant_reserved(r, 0, 42, false).unwrap();
        assert_eq!(t.pin(r, 0, true).map(|p| p.frame), Ok(42));
        assert!(t.grant(0, 1, true).is_ok(), "one unreserved reference left");
        assert_eq!(t.grant(0, 1, true), Err(GrantError::Exhausted));
        t.release(&refs[1..]);
        assert!(t.grant(0, 1, true).is_ok());
    }

    #[test]
    fn references_run_out_and_come_back() {
        let t = GrantTable::new(RESERVED_REFS + 2);
        let a = t.grant(0, 1, true).unwrap();
        let _b = t.grant(0, 2, true).unwrap();
        assert_eq!(t.grant(0, 3, true), Err(GrantError::Exhausted));
        t.end_access(a).unwrap();
        assert!(t.grant(0, 3, true).is_ok());
    }
}
