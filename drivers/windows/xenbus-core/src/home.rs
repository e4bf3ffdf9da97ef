//! The Xen guest platform as the bus interface's home: drivers/xen's `XenPlatform` (hypercall event
//! channels, regions from a page arena granted through the grant table) plus what the bus adds —
//! binding to a remote port, granting a child's own frames, the current wall clock from shared_info.

use core::sync::atomic::{AtomicU32, Ordering};

use xenpv_abi::shared_info::SharedInfo;
use xenpv_abi::{DomId, EvtchnPort, GrantRef};
use xenpv_busif::{BusError, BusHost, BusWallClock, SuspendOutcome};
use xenpv_datapath::platform::{
    Access, EventChannels, GrantedRegion, Grants, PlatformError, StillInUse,
};
use xenpv_xen::gnttab::{GrantError, GrantTable};
use xenpv_xen::platform::XenPlatform;
use xenpv_xen::{wallclock, Hypercall};

use crate::suspend::{suspend_and_restore, ResumeError, ResumePlan, Suspended};

/// Ports the 2-level ABI has, hence the size of the bus's callback table.
pub const EVENT_PORTS: u32 = xenpv_abi::event_channel::EVTCHN_2L_NR_CHANNELS;

/// XENBUS's platform.
pub struct XenHome<'a, H> {
    platform: XenPlatform<'a, H>,
    table: &'a GrantTable<'a>,
    shared_info: *const SharedInfo,
    rdtsc: fn() -> u64,
    suspend: Option<SuspendContext<'a>>,
}

/// What the home needs to suspend the domain (see [`crate::suspend`]).
pub struct SuspendContext<'a> {
    pub plan: ResumePlan,
    /// Runs the closure once on one CPU while every other CPU is parked with interrupts off
    /// (KeIpiGenericCall on Windows), and returns when it has.
    pub alone: &'a (dyn Fn(&mut dyn FnMut()) + Sync),
    /// The port XENBUS's store signal notifies: the store's port after a resume goes here.
    pub store_port: &'a AtomicU32,
}

/// The vCPU whose time record gives the system time. An HVM domain's vCPUs share one TSC offset,
/// so vCPU 0's record extrapolated with whichever CPU's TSC the caller runs on is the same time
/// (Xen's Windows XENBUS reads vCPU 0's too); its record is in shared_info, as XENBUS registers no
/// vcpu_info elsewhere.
const CLOCK_VCPU: usize = 0;

// SAFETY: `shared_info` is only read (volatile, under its version seqlock), which any CPU may do;
// the rest is XenPlatform, Send + Sync for a Send + Sync hypercall.
unsafe impl<H: Send + Sync> Send for XenHome<'_, H> {}
// SAFETY: as above.
unsafe impl<H: Send + Sync> Sync for XenHome<'_, H> {}

impl<'a, H> XenHome<'a, H> {
    /// `rdtsc` reads the CPU's time-stamp counter (the driver's `_rdtsc`; a test's fake).
    ///
    /// # Safety
    /// `shared_info` points to the domain's shared_info page (or memory laid out as one) for `'a`.
    pub unsafe fn new(
        platform: XenPlatform<'a, H>,
        table: &'a GrantTable<'a>,
        shared_info: *const SharedInfo,
        rdtsc: fn() -> u64,
    ) -> Self {
        XenHome {
            platform,
            table,
            shared_info,
            rdtsc,
            suspend: None,
        }
    }

    /// Lets [`BusHost::suspend_domain`] suspend (without it, it is [`BusError::Unsupported`]).
    pub fn with_suspend(self, suspend: SuspendContext<'a>) -> Self {
        XenHome {
            suspend: Some(suspend),
            ..self
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

    /// The time now (shared_info's base is the host's boot time: children setting a clock want
    /// the current one).
    fn wall_clock(&self) -> Result<BusWallClock, BusError> {
        // SAFETY: `new`'s contract.
        let c = unsafe { wallclock::now(self.shared_info, CLOCK_VCPU, self.rdtsc) }
            .map_err(|_| BusError::Unsupported)?;
        Ok(BusWallClock {
            sec: c.sec,
            nsec: c.nsec,
            reserved: 0,
        })
    }

    fn event_ports(&self) -> u32 {
        EVENT_PORTS
    }

    fn suspend_domain(&self) -> Result<SuspendOutcome, BusError> {
        let ctx = self.suspend.as_ref().ok_or(BusError::Unsupported)?;
        let mut result = None;
        (ctx.alone)(&mut || result = Some(suspend_and_restore(&self.platform.xen, &ctx.plan)));
        // A parker that never ran the closure suspended nothing.
        match result.ok_or(BusError::Unsupported)? {
            Ok(Suspended::Cancelled) => Ok(SuspendOutcome::Cancelled),
            Ok(Suspended::Resumed { store_port }) => {
                ctx.store_port.store(store_port, Ordering::Release);
                Ok(SuspendOutcome::Resumed)
            }
            Err(ResumeError::Xen(_, e)) => Err(BusError::Os(e.errno() as i32)),
            Err(ResumeError::StoreMoved { .. }) => Err(BusError::StoreFailed),
        }
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
    use xenpv_xen::model::{self, Port, XenModel};
    use xenpv_xen::pages::PageArena;
    use xenpv_xen::platform::XenGrants;
    use xenpv_xen::{Xen, XenError};
    use zerocopy::FromZeros;

    #[repr(C, align(4096))]
    struct Page([u8; PAGE_SIZE]);

    /// The tests' TSC: 1 GHz, stamped at 1000 ticks, read 2 s of ticks later.
    const TSC_STAMP: u64 = 1_000;
    fn test_tsc() -> u64 {
        TSC_STAMP + 2_000_000_000
    }

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
        let home = unsafe { XenHome::new(platform, table, si as *const SharedInfo, test_tsc) };
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
        // The base says 1_700_000_000.5; vCPU 0's record 10 s of system time at the stamp, and
        // the TSC (1 GHz: mul 2^31 after a shift of 1) is 2 s past it.
        model::publish_wall_clock(si, 1_700_000_000, 500_000_000);
        model::publish_time(
            &mut si.vcpu_info[0].time,
            TSC_STAMP,
            10_000_000_000,
            1 << 31,
            1,
        );
        assert_eq!(
            home.wall_clock(),
            Ok(BusWallClock {
                sec: 1_700_000_012,
                nsec: 500_000_000,
                reserved: 0
            })
        );
        // A time record Xen never finishes updating: an error, not a hang.
        si.vcpu_info[0].time.version = 3;
        assert_eq!(home.wall_clock(), Err(BusError::Unsupported));
        si.vcpu_info[0].time.version = 4;
        // Xen updating it forever (version stuck odd): an error, not a hang.
        si.wc_version = 1;
        assert_eq!(home.wall_clock(), Err(BusError::Unsupported));
        assert_eq!(home.event_ports(), 4096);
    }

    #[test]
    fn the_home_suspends_with_the_other_cpus_parked_and_hands_the_store_its_new_port() {
        use crate::bar::plan;
        use crate::suspend::ResumePlan;
        use xenpv_abi::hvm::{HVM_PARAM_STORE_EVTCHN, HVM_PARAM_STORE_PFN};
        let (home, _, _) = home();
        assert_eq!(
            home.suspend_domain(),
            Err(BusError::Unsupported),
            "no context"
        );
        let parked = std::sync::atomic::AtomicU32::new(0);
        let alone = |f: &mut dyn FnMut()| {
            parked.fetch_add(1, Ordering::SeqCst);
            f()
        };
        let port = AtomicU32::new(3);
        let home = home.with_suspend(SuspendContext {
            plan: ResumePlan {
                bar: plan(0xF100_0000, 16 << 20, 1, 32).unwrap(),
                gsi: 28,
                store_pfn: 0xFEFFC,
            },
            alone: &alone,
            store_port: &port,
        });
        let set = |result: i64, store_port: u64| {
            let mut s = home.platform().xen.hypercall().state.lock().unwrap();
            s.suspend_result = result;
            s.params[HVM_PARAM_STORE_PFN as usize] = 0xFEFFC;
            s.params[HVM_PARAM_STORE_EVTCHN as usize] = store_port;
        };
        set(1, 9);
        assert_eq!(home.suspend_domain(), Ok(SuspendOutcome::Cancelled));
        assert_eq!(port.load(Ordering::Acquire), 3, "a cancel keeps the port");
        set(0, 9);
        assert_eq!(home.suspend_domain(), Ok(SuspendOutcome::Resumed));
        assert_eq!(port.load(Ordering::Acquire), 9);
        assert_eq!(parked.load(Ordering::SeqCst), 2, "each suspend ran parked");
        // The store ring elsewhere after the resume: the store is lost.
        home.platform().xen.hypercall().state.lock().unwrap().params
            [HVM_PARAM_STORE_PFN as usize] = 0x1234;
        assert_eq!(home.suspend_domain(), Err(BusError::StoreFailed));
        set(7, 9);
        assert_eq!(
            home.suspend_domain(),
            Err(BusError::Os(XenError::BadAnswer(7).errno() as i32))
        );
    }

    /// The whole resume through the bus: a child's request reaches this home (over drivers/xen's
    /// model), which restores the platform and hands the store its new port, and the provider
    /// registers the child's watch again on xenstored (the sim's, over the guest's store ring).
    #[test]
    fn a_childs_request_resumes_the_platform_and_its_store_session() {
        use crate::bar::plan;
        use crate::suspend::ResumePlan;
        use std::sync::Arc;
        use xenpv_abi::hvm::{HVM_PARAM_STORE_EVTCHN, HVM_PARAM_STORE_PFN};
        use xenpv_abi::memory::{XENMAPSPACE_GRANT_TABLE, XENMAPSPACE_SHARED_INFO};
        use xenpv_busif::sim::SimWaker;
        use xenpv_busif::{open_store, Bus, Provider};
        use xenpv_sim::domain::Sim;
        use xenpv_sim::host::HostConfig;

        let sim = Sim::new(HostConfig {
            frames: 256,
            grant_entries: 256,
            ports: 64,
        });
        let guest = sim.create_guest(1).unwrap();
        let port: &'static AtomicU32 = Box::leak(Box::new(AtomicU32::new(1)));
        let alone: &'static (dyn Fn(&mut dyn FnMut()) + Sync) = &|f: &mut dyn FnMut()| f();
        let bar = plan(0xF100_0000, 16 << 20, 1, 32).unwrap();
        let (home, _, _) = home();
        let home = home.with_suspend(SuspendContext {
            plan: ResumePlan {
                bar,
                gsi: 28,
                store_pfn: 0xFEFFC,
            },
            alone,
            store_port: port,
        });
        let provider = Arc::new(Provider::new(home, guest.store().unwrap()));
        // SAFETY: the provider outlives the child (dropped at the end of the test, after it).
        let bus = Arc::new(unsafe { Bus::from_interface(provider.interface()) }.unwrap());
        let mut xs = open_store(&bus, Arc::new(SimWaker::default())).unwrap();
        let path = "/local/domain/1/watched";
        xs.watch(path, "tok").unwrap();
        let next_event = |xs: &mut xenpv_busif::BusStore<SimWaker>| {
            for _ in 0..5000 {
                provider.poll_store().unwrap();
                xs.process_pending().unwrap();
                if let Some(ev) = xs.try_event() {
                    return Some(ev);
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            None
        };
        assert_eq!(next_event(&mut xs).unwrap().path, path, "first firing");

        {
            let mut s = provider
                .host()
                .platform()
                .xen
                .hypercall()
                .state
                .lock()
                .unwrap();
            s.suspend_result = 0;
            s.params[HVM_PARAM_STORE_PFN as usize] = 0xFEFFC;
            s.params[HVM_PARAM_STORE_EVTCHN as usize] = 7;
        }
        assert_eq!(bus.request_suspend(), Ok(SuspendOutcome::Resumed));
        {
            let s = provider
                .host()
                .platform()
                .xen
                .hypercall()
                .state
                .lock()
                .unwrap();
            let spaces: std::vec::Vec<u32> = s.physmap.iter().map(|m| m.0).collect();
            assert_eq!(spaces, [XENMAPSPACE_SHARED_INFO, XENMAPSPACE_GRANT_TABLE]);
        }
        assert_eq!(
            port.load(Ordering::Acquire),
            7,
            "the store signal's new port"
        );
        assert_eq!(next_event(&mut xs).unwrap().path, path, "registered again");
        drop(xs);
        drop(bus);
        assert_eq!(provider.references(), 0);
    }

    /// XENIFACE's resync after a resume over this bus's clock: a host up for days (the base is
    /// its boot time) and a guest whose clock stopped 10 minutes ago while saved. The current
    /// time moves the guest's clock forward; the base alone (what the bus used to hand out) is
    /// days behind and refused, so no clock would ever be set.
    #[test]
    fn xenifaces_resync_sets_the_clock_from_the_current_time_not_the_base() {
        use xenpv_winiface::time::{resync, windows_time, Resync};
        let (home, _, si) = home();
        let boot = 1_800_000_000;
        let uptime_ns = 3 * 86_400 * 1_000_000_000u64;
        model::publish_wall_clock(si, boot, 0);
        model::publish_time(&mut si.vcpu_info[0].time, TSC_STAMP, uptime_ns, 1 << 31, 1);
        let xen_now = boot + 3 * 86_400 + 2;
        let guest_now = windows_time(xen_now - 600, 0).unwrap();
        let c = home.wall_clock().unwrap();
        assert_eq!(
            resync(guest_now, c.sec, c.nsec),
            Ok(Resync::Set(windows_time(xen_now, 0).unwrap()))
        );
        // SAFETY: `si` is the home's own test page.
        let base = unsafe { wallclock::read(&*si) }.unwrap();
        assert!(matches!(
            resync(guest_now, base.sec, base.nsec),
            Ok(Resync::Refused { .. })
        ));
    }
}
