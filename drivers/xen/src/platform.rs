//! The datapath's platform traits on this home: event channels are hypercalls, and granted regions
//! are runs of a [`PageArena`] granted page by page through the [`GrantTable`].
//!
//! A region is ended all or nothing: every reference is revoked first (each refuses while Xen says
//! the backend still maps or copies its page), and only when none is in use do the references go
//! back to the free list and the pages to the arena. A region with a page still in use is handed
//! back whole, its other pages revoked but not reused, so the backend can never reach a page that
//! has moved on to another use (XSA-396).

use alloc::vec::Vec;

use xenpv_abi::{DomId, EvtchnPort, GrantRef, PAGE_SIZE};
use xenpv_datapath::platform::{
    Access, EventChannels, GrantedRegion, Grants, PlatformError, StillInUse,
};
use xenpv_datapath::shmem::SharedMem;

use crate::error::XenError;
use crate::gnttab::{GrantError, GrantTable};
use crate::hypercall::Hypercall;
use crate::ops::Xen;
use crate::pages::{PageArena, Run};

impl From<XenError> for PlatformError {
    fn from(e: XenError) -> Self {
        match e {
            XenError::NoSpace => PlatformError::NoPorts,
            XenError::NoMemory => PlatformError::NoMemory,
            XenError::Invalid => PlatformError::Invalid,
            other => PlatformError::Os(-(other.errno() as i32)),
        }
    }
}

impl<H: Hypercall + Send + Sync> EventChannels for Xen<H> {
    fn alloc_unbound(&self, remote: DomId) -> Result<EvtchnPort, PlatformError> {
        Ok(Xen::alloc_unbound(self, remote)?)
    }

    // The trait has no error path for these: a failure means the port was not ours, which the
    // cores never do; there is nothing better to do than drop it.
    fn notify(&self, port: EvtchnPort) {
        let _ = self.send(port);
    }

    fn unmask(&self, port: EvtchnPort) {
        let _ = Xen::unmask(self, port);
    }

    fn close(&self, port: EvtchnPort) {
        let _ = Xen::close(self, port);
    }
}

/// Granted regions from an arena of pages and a grant table.
pub struct XenGrants<'a> {
    table: &'a GrantTable<'a>,
    pages: &'a PageArena<'a>,
}

impl<'a> XenGrants<'a> {
    pub fn new(table: &'a GrantTable<'a>, pages: &'a PageArena<'a>) -> Self {
        Self { table, pages }
    }

    /// The arena's run behind `region`, if the region is one this home made and has not ended.
    fn run_of(&self, region: &GrantedRegion) -> Option<Run> {
        let run = Run {
            first: usize::try_from(region.handle()).ok()?,
            pages: region.pages(),
        };
        (self.pages.owns(run) && self.pages.ptr(run) == region.mem().as_ptr()).then_some(run)
    }
}

impl Grants for XenGrants<'_> {
    fn grant_region(
        &self,
        domid: DomId,
        pages: usize,
        access: Access,
    ) -> Result<GrantedRegion, PlatformError> {
        if pages == 0 {
            return Err(PlatformError::Invalid);
        }
        let run = self.pages.alloc(pages).ok_or(PlatformError::NoMemory)?;
        let readonly = access == Access::ReadOnly;
        let mut grefs = Vec::with_capacity(pages);
        for &frame in self.pages.frames(run) {
            match self.table.grant(domid, frame, readonly) {
                Ok(r) => grefs.push(r),
                Err(e) => {
                    // The references were never published, but a backend may guess them: if one
                    // is in use, the pages stay out of the arena for good rather than be reused.
                    if end_all(self.table, &grefs) {
                        self.pages.free(run);
                    }
                    return Err(match e {
                        GrantError::Exhausted => PlatformError::NoGrantRefs,
                        _ => PlatformError::Invalid,
                    });
                }
            }
        }
        // SAFETY: the run is mapped and ours alone until `end_region` frees it, which happens only
        // once every grant of it has ended and the region (the owner of this view) is consumed;
        // the cores access it only through SharedMem.
        let mem = unsafe { SharedMem::new(self.pages.ptr(run), pages * PAGE_SIZE) };
        Ok(GrantedRegion::new(
            mem,
            grefs,
            domid,
            access,
            run.first as u64,
        ))
    }

    fn end_region(&self, region: GrantedRegion) -> Result<(), StillInUse> {
        // A region this home did not make holds nothing of ours to end or free.
        let Some(run) = self.run_of(&region) else {
            return Ok(());
        };
        if end_all(self.table, region.grefs()) {
            self.pages.free(run);
            Ok(())
        } else {
            Err(StillInUse(region))
        }
    }
}

/// Revokes every reference and, if none is in use, releases them all: true when they are all free.
fn end_all(table: &GrantTable<'_>, grefs: &[GrantRef]) -> bool {
    // Revoke each one even after a refusal, so the backend loses what it does not hold yet.
    let in_use = grefs
        .iter()
        .filter(|&&r| table.revoke(r) == Err(GrantError::InUse))
        .count();
    if in_use > 0 {
        return false;
    }
    for &r in grefs {
        // Revoked just above and still ours: release cannot refuse.
        let _ = table.release(r);
    }
    true
}

/// Everything the cores need on this home: hypercalls for event channels, an arena and the grant
/// table for granted regions.
pub struct XenPlatform<'a, H> {
    pub xen: Xen<H>,
    pub grants: XenGrants<'a>,
}

impl<H: Hypercall + Send + Sync> EventChannels for XenPlatform<'_, H> {
    fn alloc_unbound(&self, remote: DomId) -> Result<EvtchnPort, PlatformError> {
        EventChannels::alloc_unbound(&self.xen, remote)
    }

    fn notify(&self, port: EvtchnPort) {
        EventChannels::notify(&self.xen, port)
    }

    fn unmask(&self, port: EvtchnPort) {
        EventChannels::unmask(&self.xen, port)
    }

    fn close(&self, port: EvtchnPort) {
        EventChannels::close(&self.xen, port)
    }
}

impl<H: Send + Sync> Grants for XenPlatform<'_, H> {
    fn grant_region(
        &self,
        domid: DomId,
        pages: usize,
        access: Access,
    ) -> Result<GrantedRegion, PlatformError> {
        self.grants.grant_region(domid, pages, access)
    }

    fn end_region(&self, region: GrantedRegion) -> Result<(), StillInUse> {
        self.grants.end_region(region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Port, XenModel};

    /// The cores see only the trait.
    fn connect(ev: &dyn EventChannels) -> EvtchnPort {
        let p = ev.alloc_unbound(0).unwrap();
        ev.notify(p);
        ev.unmask(p);
        p
    }

    #[test]
    fn the_cores_event_channels_are_hypercalls() {
        let x = Xen::new(XenModel::new());
        let p = connect(&x);
        {
            let s = x.hypercall().state.lock().unwrap();
            assert_eq!(s.ports[p as usize], Port::Unbound(0));
            assert_eq!(s.sent, [p]);
            assert_eq!(s.unmasked, [p]);
        }
        EventChannels::close(&x, p);
        assert_eq!(
            x.hypercall().state.lock().unwrap().ports[p as usize],
            Port::Free
        );
    }

    #[test]
    fn xen_errors_map_to_platform_errors() {
        let x = Xen::new(XenModel::new());
        while EventChannels::alloc_unbound(&x, 0).is_ok() {}
        assert_eq!(
            EventChannels::alloc_unbound(&x, 0),
            Err(PlatformError::NoPorts)
        );
        assert_eq!(
            PlatformError::from(XenError::Invalid),
            PlatformError::Invalid
        );
        assert_eq!(
            PlatformError::from(XenError::NotPermitted),
            PlatformError::Os(-1)
        );
    }

    mod grants {
        use super::*;
        use crate::gnttab::{Entry, ENTRIES_PER_FRAME};
        use crate::pages::tests::arena;
        use core::sync::atomic::{AtomicU16, AtomicU32, Ordering};
        use std::boxed::Box;
        use xenpv_abi::grant_table::{GTF_PERMIT_ACCESS, GTF_READONLY, GTF_WRITING};
        use xenpv_datapath::platform::Platform;
        use xenpv_datapath::shmem::SharedPages;

        /// A one-frame table (8 reserved, `crash_dump` set aside) and an arena of `pages` pages.
        fn home(pages: usize, crash_dump: u32) -> (XenGrants<'static>, &'static [Entry]) {
            let entries: &'static [Entry] = Box::leak(
                (0..ENTRIES_PER_FRAME)
                    .map(|_| Entry {
                        flags: AtomicU16::new(0),
                        domid: AtomicU16::new(0),
                        frame: AtomicU32::new(0),
                    })
                    .collect(),
            );
            let links: &'static [AtomicU32] =
                Box::leak((0..ENTRIES_PER_FRAME).map(|_| AtomicU32::new(0)).collect());
            let table = Box::leak(Box::new(
                GrantTable::new(entries, links, 1, crash_dump).unwrap(),
            ));
            (
                XenGrants::new(table, Box::leak(Box::new(arena(pages)))),
                entries,
            )
        }

        fn flags(entries: &[Entry], r: GrantRef) -> u16 {
            entries[r as usize].flags.load(Ordering::SeqCst)
        }

        #[test]
        fn a_region_is_zeroed_contiguous_pages_each_granted_by_frame() {
            let (g, entries) = home(8, 0);
            let ro = g.grant_region(3, 3, Access::ReadOnly).unwrap();
            let rw = g.grant_region(3, 2, Access::ReadWrite).unwrap();
            assert_eq!(ro.mem().len(), 3 * PAGE_SIZE);
            assert_eq!(ro.grefs().len(), 3);
            let mut all: Vec<_> = ro.grefs().iter().chain(rw.grefs()).copied().collect();
            all.sort();
            all.dedup();
            assert_eq!(all.len(), 5, "distinct references");
            for (i, &r) in ro.grefs().iter().enumerate() {
                let e = &entries[r as usize];
                assert_eq!(e.frame.load(Ordering::SeqCst), 0x1000 + i as u32);
                assert_eq!(e.domid.load(Ordering::SeqCst), 3);
                assert_eq!(flags(entries, r), GTF_PERMIT_ACCESS | GTF_READONLY);
            }
            // The second region follows the first in the arena.
            let r = rw.grefs()[1];
            assert_eq!(entries[r as usize].frame.load(Ordering::SeqCst), 0x1004);
            assert_eq!(flags(entries, r), GTF_PERMIT_ACCESS);
            let mut page = [0xFFu8; PAGE_SIZE];
            ro.mem().read_data(2 * PAGE_SIZE, &mut page);
            assert!(page.iter().all(|&b| b == 0));
        }

        #[test]
        fn a_region_with_a_page_in_use_comes_back_whole_and_nothing_of_it_is_reused() {
            let (g, entries) = home(4, 0);
            let region = g.grant_region(1, 3, Access::ReadWrite).unwrap();
            let grefs = region.grefs().to_vec();
            // The backend still maps the middle page.
            entries[grefs[1] as usize]
                .flags
                .fetch_or(GTF_WRITING, Ordering::SeqCst);
            let StillInUse(region) = g.end_region(region).unwrap_err();
            assert_eq!(region.grefs(), grefs);
            // The others are revoked already: the backend cannot start using them again.
            assert_eq!(flags(entries, grefs[0]), 0);
            assert_eq!(flags(entries, grefs[2]), 0);
            // Neither the pages nor the references go to anyone else meanwhile.
            assert_eq!(
                g.grant_region(1, 2, Access::ReadWrite).unwrap_err(),
                PlatformError::NoMemory
            );
            let other = g.grant_region(1, 1, Access::ReadWrite).unwrap();
            assert!(!grefs.contains(&other.grefs()[0]));
            let StillInUse(region) = g.end_region(region).unwrap_err();
            // The backend lets go: now it all ends, and pages and references are free again.
            entries[grefs[1] as usize]
                .flags
                .fetch_and(!GTF_WRITING, Ordering::SeqCst);
            g.end_region(region).unwrap();
            assert_eq!(g.pages.free_pages(), 3);
            let again = g.grant_region(1, 3, Access::ReadOnly).unwrap();
            let mut refs = again.grefs().to_vec();
            refs.sort();
            assert_eq!(refs, grefs, "the freed references come out again");
        }

        #[test]
        fn running_out_of_references_or_pages_gives_back_what_was_taken() {
            // 512 entries - 8 reserved - 500 for the crash dump = 4 references.
            let (g, entries) = home(16, 500);
            let held = g.grant_region(0, 3, Access::ReadWrite).unwrap();
            assert_eq!(
                g.grant_region(0, 2, Access::ReadWrite).unwrap_err(),
                PlatformError::NoGrantRefs
            );
            assert_eq!(
                g.pages.free_pages(),
                13,
                "the pages of the failed region are back"
            );
            let last = g.grant_region(0, 1, Access::ReadOnly).unwrap();
            assert_eq!(
                flags(entries, last.grefs()[0]),
                GTF_PERMIT_ACCESS | GTF_READONLY
            );
            g.end_region(held).unwrap();
            assert_eq!(
                g.grant_region(0, 14, Access::ReadWrite).unwrap_err(),
                PlatformError::NoMemory
            );
            assert_eq!(
                g.grant_region(0, 0, Access::ReadWrite).unwrap_err(),
                PlatformError::Invalid
            );
        }

        #[test]
        fn a_region_of_another_home_is_not_ended_here() {
            let (g, entries) = home(4, 0);
            let ours = g.grant_region(0, 2, Access::ReadWrite).unwrap();
            let elsewhere = SharedPages::new(2).unwrap();
            // Same references and handle as ours, other memory: ending it must not touch ours.
            let fake = GrantedRegion::new(
                elsewhere.mem(),
                ours.grefs().to_vec(),
                0,
                Access::ReadWrite,
                ours.handle(),
            );
            g.end_region(fake).unwrap();
            assert_eq!(flags(entries, ours.grefs()[0]), GTF_PERMIT_ACCESS);
            assert_eq!(g.pages.free_pages(), 2);
            g.end_region(ours).unwrap();
            assert_eq!(g.pages.free_pages(), 4);
        }

        #[test]
        fn the_platform_is_hypercalls_plus_grants() {
            let (grants, entries) = home(4, 0);
            let p = XenPlatform {
                xen: Xen::new(XenModel::new()),
                grants,
            };
            let plat: &dyn Platform = &p;
            let port = plat.alloc_unbound(0).unwrap();
            let ring = plat.grant_region(0, 1, Access::ReadWrite).unwrap();
            plat.notify(port);
            assert_eq!(p.xen.hypercall().state.lock().unwrap().sent, [port]);
            assert_eq!(flags(entries, ring.grefs()[0]), GTF_PERMIT_ACCESS);
            plat.end_region(ring).unwrap();
            plat.close(port);
        }
    }
}
