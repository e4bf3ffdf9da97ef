//! The Xen guest platform as the bus interface's home: drivers/xen's `XenPlatform` (hypercall event
//! channels, regions from a page arena granted through the grant table) plus what the bus adds —
//! binding to a remote port, granting a child's own frames, the wall clock from shared_info.

use xenpv_abi::shared_info::SharedInfo;
use xenpv_abi::{DomId, EvtchnPort, GrantRef};
use xenpv_busif::{BusError, BusHost, BusWallClock};
use xenpv_datapath::platform::{
    Access, EventChannels, GrantedRegion, Grants, PlatformError, StillInUse,
};
use xenpv_xen::gnttab::{GrantError, GrantTable};
use xenpv_xen::platform::XenPlatform;
use xenpv_xen::{wallclock, Hypercall};

/// Ports the 2-level ABI has, hence the size of the bus's callback table.
pub const EVENT_PORTS: u32 = xenpv_abi::event_channel::EVTCHN_2L_NR_CHANNELS;

/// XENBUS's platform.
pub struct XenHome<'a, H> {
    platform: XenPlatform<'a, H>,
    table: &'a GrantTable<'a>,
    shared_info: *const SharedInfo,
}

// SAFETY: `shared_info` is only read (volatile, under its version seqlock), which any CPU may do;
// the rest is XenPlatform, Send + Sync for a Send + Sync hypercall.
unsafe impl<H: Send + Sync> Send for XenHome<'_, H> {}
// SAFETY: as above.
unsafe impl<H: Send + Sync> Sync for XenHome<'_, H> {}

impl<'a, H> XenHome<'a, H> {
    /// # Safety
    /// `shared_info` points to the domain's shared_info page (or memory laid out as one) for `'a`.
    pub unsafe fn new(
        platform: XenPlatform<'a, H>,
        table: &'a GrantTable<'a>,
        shared_info: *const SharedInfo,
    ) -> Self {
        XenHome {
            platform,
            table,
            shared_info,
        }
    }

    pub fn platform(&self) -> &XenPlatform<'a, H> {
        &self.platform
    }
}

impl<H: Hypercall + Send + Sync> Grants for XenHome<'_, H> {
    fn grant_region(
        &self,
        domid: DomId,
        pages: usize,
        access: Access,
    ) -> Result<GrantedRegion, PlatformError> {
        self.platform.grant_region(domid, pages, access)
    }

    fn end_region(&self, region: GrantedRegion) -> Result<(), StillInUse> {
        self.platform.end_region(region)
    }
}

impl<H: Hypercall + Send + Sync> EventChannels for XenHome<'_, H> {
    fn alloc_unbound(&self, remote: DomId) -> Result<EvtchnPort, PlatformError> {
        self.platform.alloc_unbound(remote)
    }
    fn notify(&self, port: EvtchnPort) {
        self.platform.notify(port)
    }
    fn unmask(&self, port: EvtchnPort) {
        self.platform.unmask(port)
    }
    fn close(&self, port: EvtchnPort) {
        self.platform.close(port)
    }
}

impl<H: Hypercall + Send + Sync> BusHost for XenHome<'_, H> {
    fn bind_interdomain(
        &self,
        remote: DomId,
        remote_port: EvtchnPort,
    ) -> Result<EvtchnPort, PlatformError> {
        Ok(self.platform.xen.bind_interdomain(remote, remote_port)?)
    }

    fn grant_frame(
        &self,
        domid: DomId,
        gfn: u64,
        access: Access,
    ) -> Result<GrantRef, PlatformError> {
        self.table
            .grant(domid, gfn, access == Access::ReadOnly)
            .map_err(|e| match e {
                GrantError::Exhausted => PlatformError::NoGrantRefs,
                _ => PlatformError::Invalid,
            })
    }

    fn end_frame(&self, gref: GrantRef) -> Result<(), BusError> {
        self.table.end(gref).map_err(|e| match e {
            GrantError::InUse => BusError::StillInUse,
            _ => BusError::NotOurs,
        })
    }

    fn wall_clock(&self) -> Result<BusWallClock, BusError> {
        // SAFETY: `new`'s contract.
        let c = unsafe { wallclock::read(self.shared_info) }.map_err(|_| BusError::Unsupported)?;
        Ok(BusWallClock {
            sec: c.sec,
            nsec: c.nsec,
            reserved: 0,
        })
    }

    fn event_ports(&self) -> u32 {
        EVENT_PORTS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::ptr::NonNull;
    use core::sync::atomic::{AtomicU32, AtomicU64};
    use std::boxed::Box;
    use std::vec::Vec;
    use xenpv_abi::grant_table::GTF_READING;
    use xenpv_abi::PAGE_SIZE;
    use xenpv_xen::gnttab::{Entry, ENTRIES_PER_FRAME};
    use xenpv_xen::model::{Port, XenModel};
    use xenpv_xen::pages::PageArena;
    use xenpv_xen::platform::XenGrants;
    use xenpv_xen::Xen;
    use zerocopy::FromZeros;

    #[repr(C, align(4096))]
    struct Page([u8; PAGE_SIZE]);

    /// Leaked test memory: the home borrows it for 'static, as the driver's does for its lifetime.
    fn home() -> (
        XenHome<'static, XenModel>,
        &'static [Entry],
        &'static mut SharedInfo,
    ) {
        let entries: &'static [Entry] = Box::leak(
            (0..ENTRIES_PER_FRAME)
                .map(|_| Entry {
                    flags: 0.into(),
                    domid: 0.into(),
                    frame: AtomicU32::new(0),
                })
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let links: &'static [AtomicU32] = Box::leak(
            (0..ENTRIES_PER_FRAME)
                .map(|_| AtomicU32::new(0))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let table: &'static GrantTable<'static> =
            Box::leak(Box::new(GrantTable::new(entries, links, 1, 0).unwrap()));
        let pages: &'static mut [Page] = Box::leak(
            (0..4)
                .map(|_| Page([0; PAGE_SIZE]))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let frames: &'static [u64] = Box::leak(Box::new([0x100, 0x101, 0x102, 0x103]));
        let used: &'static [AtomicU64] = Box::leak(Box::new([AtomicU64::new(0)]));
        // SAFETY: four leaked pages, used by nothing else.
        let arena = unsafe {
            PageArena::new(
                NonNull::new(pages.as_mut_ptr().cast()).unwrap(),
                frames,
                used,
            )
        }
        .unwrap();
        let arena: &'static PageArena<'static> = Box::leak(Box::new(arena));
        let si: &'static mut SharedInfo = Box::leak(Box::new(SharedInfo::new_zeroed()));
        let platform = XenPlatform {
            xen: Xen::new(XenModel::new()),
            grants: XenGrants::new(table, arena),
        };
        // SAFETY: `si` is leaked, so it lives for 'static.
        let home = unsafe { XenHome::new(platform, table, si as *const SharedInfo) };
        (home, entries, si)
    }

    #[test]
    fn frames_granted_for_a_child_refuse_to_end_while_in_use() {
        let (home, entries, _) = home();
        let g = home.grant_frame(0, 0x5000, Access::ReadOnly).unwrap();
        assert_eq!(
            entries[g as usize]
                .frame
                .load(core::sync::atomic::Ordering::Relaxed),
            0x5000
        );
        // The backend maps it: Xen sets GTF_reading.
        entries[g as usize]
            .flags
            .fetch_or(GTF_READING, core::sync::atomic::Ordering::SeqCst);
        assert_eq!(home.end_frame(g), Err(BusError::StillInUse));
        entries[g as usize]
            .flags
            .fetch_and(!GTF_READING, core::sync::atomic::Ordering::SeqCst);
        home.end_frame(g).unwrap();
        assert_eq!(home.end_frame(g), Err(BusError::NotOurs), "ended already");
        assert_eq!(
            home.grant_frame(0, 1 << 40, Access::ReadWrite),
            Err(PlatformError::Invalid),
            "v1 frames are 32-bit"
        );
    }

    #[test]
    fn regions_ports_and_the_clock() {
        let (home, _, si) = home();
        let r = home.grant_region(0, 2, Access::ReadWrite).unwrap();
        assert_eq!(r.grefs().len(), 2);
        home.end_region(r).unwrap();
        let remote = home.bind_interdomain(0, 9).unwrap();
        assert_eq!(
            home.platform().xen.hypercall().state.lock().unwrap().ports[remote as usize],
            Port::Interdomain(0, 9)
        );
        si.wc_sec = 1_700_000_000;
        si.wc_nsec = 5;
        assert_eq!(
            home.wall_clock(),
            Ok(BusWallClock {
                sec: 1_700_000_000,
                nsec: 5,
                reserved: 0
            })
        );
        // Xen updating it forever (version stuck odd): an error, not a hang.
        si.wc_version = 1;
        assert_eq!(home.wall_clock(), Err(BusError::Unsupported));
        assert_eq!(home.event_ports(), 4096);
    }
}
