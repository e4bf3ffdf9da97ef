//! The granted pages a ring request's data and indirect descriptors travel through.
//!
//! Two ways, chosen per connection:
//! - persistent (`feature-persistent` on both sides): one region of pages granted read-write once
//!   at connect (blkif.h note 8: the backend may map them writable whatever the request), handed out
//!   LIFO so that a backend with a smaller persistent-map budget keeps hitting the same few pages;
//! - per request: every ring request gets its own region, read-only when the backend only reads it,
//!   ended when the response arrives.
//!
//! A region whose grants cannot be ended because the backend still maps it is quarantined: never
//! reused, retried until the backend lets go (the XSA-396 rule).

use alloc::vec::Vec;

use xenpv_abi::{DomId, GrantRef, PAGE_SIZE};

use crate::platform::{Access, GrantedRegion, Platform, PlatformError, StillInUse};
use crate::shmem::SharedMem;

/// The pages one in-flight ring request holds.
#[derive(Debug, Default)]
pub(super) struct SlotPages {
    /// Indices into the persistent pool (capacity reserved at setup).
    pool: Vec<u32>,
    /// The request's own region when grants are per request.
    region: Option<GrantedRegion>,
}

impl SlotPages {
    pub(super) fn with_capacity(pages: usize) -> Self {
        Self {
            pool: Vec::with_capacity(pages),
            region: None,
        }
    }

    pub(super) fn reserve(&mut self, pages: usize) {
        self.pool.reserve(pages.saturating_sub(self.pool.len()));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pool.is_empty() && self.region.is_none()
    }
}

/// Not enough pages right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Short {
    /// Wait for in-flight requests to give pages back.
    Wait,
    /// The home refused to grant more memory.
    Platform(PlatformError),
}

/// Where the pages of one connection come from.
#[derive(Debug)]
pub(super) struct PageSource {
    backend: DomId,
    /// Persistent mode: the pool and its free stack.
    pool: Option<(GrantedRegion, Vec<u32>)>,
}

impl PageSource {
    /// Persistent pool of `pages` pages, granted at once.
    pub(super) fn persistent<P: Platform>(
        platform: &P,
        backend: DomId,
        pages: usize,
    ) -> Result<Self, PlatformError> {
        let region = platform.grant_region(backend, pages, Access::ReadWrite)?;
        // Highest index at the bottom: pages are handed out from index 0 up.
        let free = (0..pages as u32).rev().collect();
        Ok(Self {
            backend,
            pool: Some((region, free)),
        })
    }

    /// Grants made for each request.
    pub(super) fn per_request(backend: DomId) -> Self {
        Self {
            backend,
            pool: None,
        }
    }

    /// The domain the pages are granted to.
    pub(super) fn backend(&self) -> DomId {
        self.backend
    }

    pub(super) fn is_persistent(&self) -> bool {
        self.pool.is_some()
    }

    /// Gives `slot` `pages` pages; `writable` says whether the backend must write them (reads).
    pub(super) fn take<P: Platform>(
        &mut self,
        platform: &P,
        slot: &mut SlotPages,
        pages: usize,
        writable: bool,
    ) -> Result<(), Short> {
        debug_assert!(slot.is_empty());
        match &mut self.pool {
            Some((_, free)) => {
                if free.len() < pages {
                    return Err(Short::Wait);
                }
                let at = free.len() - pages;
                slot.pool.extend(free.drain(at..).rev());
                Ok(())
            }
            None => {
                let access = if writable {
                    Access::ReadWrite
                } else {
                    Access::ReadOnly
                };
                match platform.grant_region(self.backend, pages, access) {
                    Ok(region) => {
                        slot.region = Some(region);
                        Ok(())
                    }
                    Err(e) => Err(Short::Platform(e)),
                }
            }
        }
    }

    /// Takes the pages back from a slot whose request is answered (or abandoned).
    pub(super) fn give_back<P: Platform>(
        &mut self,
        platform: &P,
        quarantine: &mut Quarantine,
        slot: &mut SlotPages,
    ) {
        if let Some((_, free)) = &mut self.pool {
            // LIFO: the pages just used go on top.
            free.extend(slot.pool.drain(..).rev());
        } else {
            slot.pool.clear();
        }
        if let Some(region) = slot.region.take() {
            quarantine.end(platform, region);
        }
    }

    /// The grant and the memory of page `i` of `slot`.
    pub(super) fn page<'a>(
        &'a self,
        slot: &'a SlotPages,
        i: usize,
    ) -> (GrantRef, &'a SharedMem, usize) {
        match (&self.pool, &slot.region) {
            (_, Some(region)) => (region.grefs()[i], region.mem(), i * PAGE_SIZE),
            (Some((region, _)), None) => {
                let p = slot.pool[i] as usize;
                (region.grefs()[p], region.mem(), p * PAGE_SIZE)
            }
            (None, None) => unreachable!("a slot without pages has no page {i}"),
        }
    }

    /// Ends the pool at disconnect; every slot must have given its pages back.
    pub(super) fn end<P: Platform>(self, platform: &P, quarantine: &mut Quarantine) {
        if let Some((region, _)) = self.pool {
            quarantine.end(platform, region);
        }
    }
}

/// Regions the backend still held when we ended them.
#[derive(Debug, Default)]
pub(super) struct Quarantine {
    regions: Vec<GrantedRegion>,
}

impl Quarantine {
    /// Ends `region`'s grants, or keeps it until the backend lets go.
    pub(super) fn end<P: Platform>(&mut self, platform: &P, region: GrantedRegion) {
        if let Err(StillInUse(region)) = platform.end_region(region) {
            self.regions.push(region);
        }
    }

    /// Tries again to end every quarantined region.
    pub(super) fn retry<P: Platform>(&mut self, platform: &P) {
        if self.regions.is_empty() {
            return;
        }
        let mut i = 0;
        while i < self.regions.len() {
            let region = self.regions.swap_remove(i);
            match platform.end_region(region) {
                Ok(()) => {}
                Err(StillInUse(region)) => {
                    self.regions.push(region);
                    let last = self.regions.len() - 1;
                    self.regions.swap(i, last);
                    i += 1;
                }
            }
        }
    }

    /// Regions waiting for the backend.
    pub(super) fn len(&self) -> usize {
        self.regions.len()
    }
}
