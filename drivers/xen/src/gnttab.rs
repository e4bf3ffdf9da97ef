//! Grant table v1, the guest side: the table is an array of 8-byte entries in frames Xen shares with
//! us (`XENMAPSPACE_grant_table` frames on HVM, `GNTTABOP_setup_table` frames on PV), and a grant is
//! one entry saying "domain D may access frame F".
//!
//! - Granting writes the frame and domain first and the flags last, with release ordering, so Xen
//!   never sees a permitted entry with a stale frame.
//! - Ending a grant swaps the flags to 0 with a compare-and-swap that refuses while Xen reports the
//!   backend is using the page (GTF_reading / GTF_writing): the page must not be reused before.
//!   It is two steps, [`GrantTable::revoke`] then [`GrantTable::release`], so that a region of
//!   several pages keeps all its references until every page is let go (see `platform`).
//! - Free references live on a lock-free stack (a tagged head against ABA) threaded through a
//!   caller-provided link array, so granting from any CPU takes no lock and no allocation.
//! - References 0–7 are Xen's reserved entries (console, xenstore); a range after them is kept aside
//!   for the crash-dump path, which must grant without touching the shared free list.

use crate::sync::{AtomicU16, AtomicU32, AtomicU64, Ordering};
use core::ops::Range;

use xenpv_abi::grant_table::{
    GNTTAB_NR_RESERVED_ENTRIES, GTF_PERMIT_ACCESS, GTF_READING, GTF_READONLY, GTF_WRITING,
};
use xenpv_abi::{DomId, GrantRef, PAGE_SIZE};

/// One entry, laid out as `grant_entry_v1` (flags, domid, frame), accessed atomically because Xen
/// writes the flags concurrently.
#[repr(C)]
pub struct Entry {
    pub flags: AtomicU16,
    pub domid: AtomicU16,
    pub frame: AtomicU32,
}

// Under loom the atomics are loom's (bigger); the layout matters only where Xen reads it.
#[cfg(not(loom))]
const _: () = assert!(core::mem::size_of::<Entry>() == 8);

/// Entries in one grant table frame.
pub const ENTRIES_PER_FRAME: usize =
    PAGE_SIZE / core::mem::size_of::<xenpv_abi::grant_table::GrantEntryV1>();

/// Link value of a reference that is not on the free list (handed out, reserved or set aside).
const TAKEN: u32 = u32::MAX - 1;
/// End of the free list.
const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantError {
    /// The table has fewer entries than the reserved ones, the crash-dump range and one more, or
    /// its size is not whole frames, or the link array does not match it.
    BadLayout,
    /// No free reference.
    Exhausted,
    /// The backend still has the page mapped or is copying it: the grant stays.
    InUse,
    /// The reference is not one this table handed out (free, reserved, or out of range).
    NotGranted(GrantRef),
    /// Frame numbers of grant table v1 are 32-bit.
    FrameTooLarge(u64),
    /// `release` of a reference whose grant was not revoked first.
    StillGranted(GrantRef),
}

/// The guest's grant table.
pub struct GrantTable<'a> {
    entries: &'a [Entry],
    links: &'a [AtomicU32],
    /// Tag in the high 32 bits (bumped by every change), first free reference in the low 32.
    head: AtomicU64,
    /// References in use by the table so far (grows with frames).
    limit: AtomicU32,
    crash_dump: Range<GrantRef>,
}

impl<'a> GrantTable<'a> {
    /// A table over `entries` (whole frames, as many as it may ever grow to) of which the first
    /// `frames` frames are established, with `crash_dump` references after the reserved ones set
    /// aside. `links` is scratch space of the same length.
    pub fn new(
        entries: &'a [Entry],
        links: &'a [AtomicU32],
        frames: usize,
        crash_dump: u32,
    ) -> Result<Self, GrantError> {
        let first_free = GNTTAB_NR_RESERVED_ENTRIES + crash_dump;
        let limit = frames * ENTRIES_PER_FRAME;
        if entries.len() % ENTRIES_PER_FRAME != 0
            || links.len() != entries.len()
            || limit > entries.len()
            || first_free as usize >= limit
            || entries.len() >= TAKEN as usize
        {
            return Err(GrantError::BadLayout);
        }
        for l in links.iter() {
            l.store(TAKEN, Ordering::Relaxed);
        }
        let table = Self {
            entries,
            links,
            head: AtomicU64::new(u64::from(NONE)),
            limit: AtomicU32::new(first_free),
            crash_dump: GNTTAB_NR_RESERVED_ENTRIES..first_free,
        };
        table.add_refs(limit as u32);
        Ok(table)
    }

    /// Frames Xen has established now (see [`Self::grow`]).
    pub fn frames(&self) -> usize {
        (self.limit.load(Ordering::Acquire) as usize).div_ceil(ENTRIES_PER_FRAME)
    }

    /// Frames the entry array can hold at most.
    pub fn max_frames(&self) -> usize {
        self.entries.len() / ENTRIES_PER_FRAME
    }

    /// Makes the entries of frames up to `frames` available, after the caller had Xen establish them
    /// (add_to_physmap / setup_table). Not for concurrent callers of `grow` itself.
    pub fn grow(&self, frames: usize) -> Result<(), GrantError> {
        if frames > self.max_frames() {
            return Err(GrantError::BadLayout);
        }
        self.add_refs((frames * ENTRIES_PER_FRAME) as u32);
        Ok(())
    }

    fn add_refs(&self, new_limit: u32) {
        let old = self.limit.load(Ordering::Acquire);
        // Push high to low so that the lowest reference comes out first.
        for r in (old..new_limit).rev() {
            self.push(r);
        }
        self.limit.fetch_max(new_limit, Ordering::AcqRel);
    }

    /// The references kept aside for the crash-dump path.
    pub fn crash_dump_refs(&self) -> Range<GrantRef> {
        self.crash_dump.clone()
    }

    fn push(&self, r: GrantRef) {
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            self.links[r as usize].store(head as u32, Ordering::Relaxed);
            let new = tagged(head, r);
            // Release: the link is written before the reference is visible on the list.
            match self
                .head
                .compare_exchange_weak(head, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(h) => head = h,
            }
        }
    }

    fn pop(&self) -> Option<GrantRef> {
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let r = head as u32;
            if r == NONE {
                return None;
            }
            // If another CPU takes `r` meanwhile, the head's tag changes and the CAS fails, so a
            // stale `next` is never installed.
            let next = self.links[r as usize].load(Ordering::Acquire);
            match self.head.compare_exchange_weak(
                head,
                tagged(head, next),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.links[r as usize].store(TAKEN, Ordering::Release);
                    return Some(r);
                }
                Err(h) => head = h,
            }
        }
    }

    /// Grants `domid` access to `frame` (read-only or read-write) and returns the reference.
    pub fn grant(&self, domid: DomId, frame: u64, readonly: bool) -> Result<GrantRef, GrantError> {
        let frame = u32::try_from(frame).map_err(|_| GrantError::FrameTooLarge(frame))?;
        let r = self.pop().ok_or(GrantError::Exhausted)?;
        self.write(r, domid, frame, readonly);
        Ok(r)
    }

    /// Grants through crash-dump reference `r` (the dump path owns that range alone and reuses it).
    pub fn grant_crash_dump(
        &self,
        r: GrantRef,
        domid: DomId,
        frame: u64,
        readonly: bool,
    ) -> Result<(), GrantError> {
        if !self.crash_dump.contains(&r) {
            return Err(GrantError::NotGranted(r));
        }
        let frame = u32::try_from(frame).map_err(|_| GrantError::FrameTooLarge(frame))?;
        self.write(r, domid, frame, readonly);
        Ok(())
    }

    /// Takes the access given through crash-dump reference `r` away, unless the grantee uses the
    /// page ([`GrantError::InUse`]); the reference stays the dump path's.
    pub fn end_crash_dump(&self, r: GrantRef) -> Result<(), GrantError> {
        if !self.crash_dump.contains(&r) {
            return Err(GrantError::NotGranted(r));
        }
        let flags = &self.entries[r as usize].flags;
        let mut f = flags.load(Ordering::Acquire);
        loop {
            if f & (GTF_READING | GTF_WRITING) != 0 {
                return Err(GrantError::InUse);
            }
            // Xen marks a mapping with its own CAS on this word: one starting now fails ours.
            match flags.compare_exchange(f, 0, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(now) => f = now,
            }
        }
    }

    fn write(&self, r: GrantRef, domid: DomId, frame: u32, readonly: bool) {
        let e = &self.entries[r as usize];
        e.frame.store(frame, Ordering::Relaxed);
        e.domid.store(domid, Ordering::Relaxed);
        let flags = GTF_PERMIT_ACCESS | if readonly { GTF_READONLY } else { 0 };
        // Release: frame and domid are visible before Xen can see the entry as permitted.
        e.flags.store(flags, Ordering::Release);
    }

    /// Ends grant `r` unless the backend still uses the page; the reference is free again after.
    pub fn end(&self, r: GrantRef) -> Result<(), GrantError> {
        self.revoke(r)?;
        self.push(r);
        Ok(())
    }

    /// Takes the backend's access to `r` away unless it still uses the page, but keeps the
    /// reference out of the free list until [`Self::release`]. Revoking again is harmless, so a
    /// caller ending several references can retry all of them until none is in use.
    pub fn revoke(&self, r: GrantRef) -> Result<(), GrantError> {
        let i = self.handed_out(r)?;
        let flags = &self.entries[i].flags;
        let mut f = flags.load(Ordering::Acquire);
        loop {
            if f & (GTF_READING | GTF_WRITING) != 0 {
                return Err(GrantError::InUse);
            }
            // Xen sets GTF_reading/writing with its own CAS on the same word, so a mapping that
            // starts between our load and our swap makes the swap fail and we look again.
            match flags.compare_exchange(f, 0, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(now) => f = now,
            }
        }
    }

    /// Puts revoked reference `r` back on the free list.
    pub fn release(&self, r: GrantRef) -> Result<(), GrantError> {
        let i = self.handed_out(r)?;
        if self.entries[i].flags.load(Ordering::Acquire) != 0 {
            return Err(GrantError::StillGranted(r));
        }
        self.push(r);
        Ok(())
    }

    /// The index of `r` if it is a reference this table handed out and has not taken back.
    fn handed_out(&self, r: GrantRef) -> Result<usize, GrantError> {
        let i = r as usize;
        if i >= self.entries.len()
            || self.crash_dump.contains(&r)
            || r < GNTTAB_NR_RESERVED_ENTRIES
            || self.links[i].load(Ordering::Acquire) != TAKEN
        {
            return Err(GrantError::NotGranted(r));
        }
        Ok(i)
    }

    /// The flags of entry `r` as Xen last wrote them (for diagnostics).
    pub fn flags(&self, r: GrantRef) -> Option<u16> {
        self.entries
            .get(r as usize)
            .map(|e| e.flags.load(Ordering::Acquire))
    }
}

fn tagged(head: u64, r: u32) -> u64 {
    ((head >> 32).wrapping_add(1) << 32) | u64::from(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::vec::Vec;

    struct Mem {
        entries: Vec<Entry>,
        links: Vec<AtomicU32>,
    }

    fn mem(frames: usize) -> Mem {
        let n = frames * ENTRIES_PER_FRAME;
        Mem {
            entries: (0..n)
                .map(|_| Entry {
                    flags: AtomicU16::new(0),
                    domid: AtomicU16::new(0),
                    frame: AtomicU32::new(0),
                })
                .collect(),
            links: (0..n).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    #[test]
    fn grants_skip_reserved_and_crash_dump_refs_and_write_the_entry() {
        let m = mem(2);
        let t = GrantTable::new(&m.entries, &m.links, 1, 4).unwrap();
        assert_eq!(t.crash_dump_refs(), 8..12);
        let r = t.grant(0, 0x1234, true).unwrap();
        assert_eq!(r, 12);
        let e = &m.entries[12];
        assert_eq!(e.frame.load(Ordering::SeqCst), 0x1234);
        assert_eq!(e.domid.load(Ordering::SeqCst), 0);
        assert_eq!(
            e.flags.load(Ordering::SeqCst),
            GTF_PERMIT_ACCESS | GTF_READONLY
        );
        let w = t.grant(5, 0x99, false).unwrap();
        assert_eq!(
            m.entries[w as usize].flags.load(Ordering::SeqCst),
            GTF_PERMIT_ACCESS
        );
        assert_eq!(
            t.grant(0, 1 << 32, false),
            Err(GrantError::FrameTooLarge(1 << 32))
        );
    }

    #[test]
    fn end_refuses_while_the_backend_maps_the_page() {
        let m = mem(1);
        let t = GrantTable::new(&m.entries, &m.links, 1, 0).unwrap();
        let r = t.grant(0, 7, false).unwrap();
        // Xen marks the entry while a backend has it mapped.
        m.entries[r as usize]
            .flags
            .fetch_or(GTF_WRITING, Ordering::SeqCst);
        assert_eq!(t.end(r), Err(GrantError::InUse));
        assert_ne!(t.flags(r), Some(0));
        m.entries[r as usize]
            .flags
            .fetch_and(!GTF_WRITING, Ordering::SeqCst);
        m.entries[r as usize]
            .flags
            .fetch_or(GTF_READING, Ordering::SeqCst);
        assert_eq!(t.end(r), Err(GrantError::InUse));
        m.entries[r as usize]
            .flags
            .fetch_and(!GTF_READING, Ordering::SeqCst);
        assert_eq!(t.end(r), Ok(()));
        assert_eq!(t.flags(r), Some(0));
        // Ended once: a second end is refused, the reference comes back out of the list.
        assert_eq!(t.end(r), Err(GrantError::NotGranted(r)));
        assert_eq!(t.grant(0, 8, false), Ok(r));
    }

    #[test]
    fn revoke_keeps_the_reference_until_release() {
        let m = mem(1);
        let t = GrantTable::new(&m.entries, &m.links, 1, 0).unwrap();
        let r = t.grant(0, 7, false).unwrap();
        assert_eq!(t.release(r), Err(GrantError::StillGranted(r)));
        m.entries[r as usize]
            .flags
            .fetch_or(GTF_READING, Ordering::SeqCst);
        assert_eq!(t.revoke(r), Err(GrantError::InUse));
        m.entries[r as usize]
            .flags
            .fetch_and(!GTF_READING, Ordering::SeqCst);
        assert_eq!(t.revoke(r), Ok(()));
        assert_eq!(t.flags(r), Some(0));
        // Revoked but not released: still ours, so nobody else gets it and revoking is repeatable.
        assert_eq!(t.revoke(r), Ok(()));
        let other = t.grant(0, 8, false).unwrap();
        assert_ne!(other, r);
        assert_eq!(t.release(r), Ok(()));
        assert_eq!(t.release(r), Err(GrantError::NotGranted(r)));
        assert_eq!(t.revoke(r), Err(GrantError::NotGranted(r)));
        assert_eq!(t.grant(0, 9, false), Ok(r));
    }

    #[test]
    fn reserved_crash_dump_and_foreign_refs_cannot_be_ended() {
        let m = mem(1);
        let t = GrantTable::new(&m.entries, &m.links, 1, 2).unwrap();
        for r in [0, 7, 8, 9, 10, 511, 512, u32::MAX] {
            assert_eq!(t.end(r), Err(GrantError::NotGranted(r)), "ref {r}");
            assert_eq!(t.revoke(r), Err(GrantError::NotGranted(r)), "ref {r}");
            assert_eq!(t.release(r), Err(GrantError::NotGranted(r)), "ref {r}");
        }
        t.grant_crash_dump(9, 0, 0x55, false).unwrap();
        assert_eq!(m.entries[9].frame.load(Ordering::SeqCst), 0x55);
        assert_eq!(
            t.grant_crash_dump(10, 0, 1, false),
            Err(GrantError::NotGranted(10))
        );
        // Ending a crash-dump grant: refused outside the range and while the page is mapped.
        assert_eq!(t.end_crash_dump(10), Err(GrantError::NotGranted(10)));
        assert_eq!(t.end_crash_dump(7), Err(GrantError::NotGranted(7)));
        m.entries[9].flags.fetch_or(GTF_READING, Ordering::SeqCst);
        assert_eq!(t.end_crash_dump(9), Err(GrantError::InUse));
        m.entries[9].flags.fetch_and(!GTF_READING, Ordering::SeqCst);
        assert_eq!(t.end_crash_dump(9), Ok(()));
        assert_eq!(m.entries[9].flags.load(Ordering::SeqCst), 0);
        // The reference is still the dump path's: it can be granted again, never ended.
        t.grant_crash_dump(9, 0, 0x56, true).unwrap();
        assert_eq!(t.end(9), Err(GrantError::NotGranted(9)));
    }

    #[test]
    fn exhaustion_and_growth() {
        let m = mem(2);
        let t = GrantTable::new(&m.entries, &m.links, 1, 0).unwrap();
        let first: Vec<_> = (0..ENTRIES_PER_FRAME - 8)
            .map(|_| t.grant(0, 1, false).unwrap())
            .collect();
        assert_eq!(first.first(), Some(&8));
        assert_eq!(first.last(), Some(&511));
        assert_eq!(t.grant(0, 1, false), Err(GrantError::Exhausted));
        assert_eq!(t.frames(), 1);
        assert_eq!(t.grow(3), Err(GrantError::BadLayout));
        t.grow(2).unwrap();
        assert_eq!(t.frames(), 2);
        assert_eq!(t.grant(0, 1, false), Ok(512));
    }

    #[test]
    fn layouts_that_cannot_work_are_refused() {
        let m = mem(1);
        assert!(GrantTable::new(&m.entries[..100], &m.links[..100], 0, 0).is_err());
        assert!(GrantTable::new(&m.entries, &m.links[..511], 1, 0).is_err());
        assert!(GrantTable::new(&m.entries, &m.links, 2, 0).is_err());
        assert!(GrantTable::new(&m.entries, &m.links, 1, 504).is_err());
        assert!(GrantTable::new(&m.entries, &m.links, 1, 503).is_ok());
    }

    #[test]
    fn concurrent_grant_and_end_never_hand_out_a_ref_twice() {
        let m = mem(1);
        let t = GrantTable::new(&m.entries, &m.links, 1, 0).unwrap();
        // Scoped threads borrow the table: nothing is leaked (Miri checks for leaks).
        std::thread::scope(|s| {
            for id in 0..4u16 {
                let (t, m) = (&t, &m);
                s.spawn(move || {
                    // Miri interprets every step: a few rounds still cross the threads.
                    let rounds = if cfg!(miri) { 10 } else { 2000u32 };
                    for round in 0..rounds {
                        let held: Vec<_> = (0..50)
                            .map(|_| t.grant(id, u64::from(round), false).unwrap())
                            .collect();
                        for &r in &held {
                            // Nobody else may have rewritten an entry we hold.
                            assert_eq!(m.entries[r as usize].domid.load(Ordering::SeqCst), id);
                        }
                        for r in held {
                            t.end(r).unwrap();
                        }
                    }
                });
            }
        });
        let all: BTreeSet<_> = core::iter::from_fn(|| t.grant(0, 0, false).ok()).collect();
        assert_eq!(all, (8..512).collect());
    }
}
