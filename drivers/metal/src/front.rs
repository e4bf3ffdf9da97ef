//! What both fronts share on this home: the platform the cores run on (hypercalls, the grant
//! table, the page arena), a clock for bounded waits, and the loop that feeds xenstore watch
//! events to a front's state machine.
//!
//! Events are polled: each round of a wait looks at the store and the rings and then yields the
//! CPU to dom0, whose back ends do the other half of the work.

use alloc::sync::Arc;
use core::fmt::Debug;

use xenpv_abi::shared_info::StartInfo;
use xenpv_control::xenbus::{FrontendDevice, FrontendDriver};
use xenpv_control::xs::client::RingTransport;
use xenpv_xen::gnttab::GrantTable;
use xenpv_xen::hypercall::Page;
use xenpv_xen::pages::PageArena;
use xenpv_xen::platform::{XenGrants, XenPlatform};
use xenpv_xen::Xen;

use crate::clock::Clock;
use crate::pages::PagesError;
use crate::steps::{at, detail, Failure};
use crate::store::{Signal, StoreClient};

/// The platform the cores run on here.
pub type Metal = XenPlatform<'static, Page>;

/// The home of the fronts.
pub struct Fronts {
    pub platform: Arc<Metal>,
    pub clock: Clock,
    pages: &'static PageArena<'static>,
}

impl Fronts {
    pub fn new(
        xen: &Xen<Page>,
        si: &StartInfo,
        table: &'static GrantTable<'static>,
    ) -> Result<Self, Failure> {
        let clock = Clock::new(xen, si).map_err(at("clock"))?;
        let pages = crate::pages::arena(si).map_err(|e| {
            at("pages")(match e {
                PagesError::Twice => "the arena was made twice",
                PagesError::OutsideP2m => "the arena lies beyond the p2m list",
                PagesError::Layout => "the arena's layout was refused",
            })
        })?;
        let platform = Arc::new(XenPlatform {
            xen: Xen::new(crate::boot::hypercalls()),
            grants: XenGrants::new(table, pages),
        });
        Ok(Self {
            platform,
            clock,
            pages,
        })
    }

    /// Pages of the arena not granted now.
    pub fn free_pages(&self) -> usize {
        self.pages.free_pages()
    }

    /// Runs `round` until it says done, yielding to dom0 between rounds; fails `step` after
    /// `limit_ms`. Returns the nanoseconds it took.
    pub fn wait(
        &self,
        step: &'static str,
        limit_ms: u64,
        mut round: impl FnMut() -> Result<bool, Failure>,
    ) -> Result<u64, Failure> {
        let start = self.clock.now();
        let deadline = start + limit_ms * 1_000_000;
        loop {
            if round()? {
                return Ok(self.clock.now() - start);
            }
            if self.clock.now() > deadline {
                return Err(at(step)("timed out"));
            }
            let _ = self.platform.xen.sched_yield();
        }
    }
}

/// Files what the store sent and passes each watch event to the front's state machine.
pub fn pump<D>(
    step: &'static str,
    xs: &mut StoreClient,
    driver: &mut FrontendDriver<D>,
) -> Result<(), Failure>
where
    D: FrontendDevice<RingTransport<Signal>>,
    D::Error: Debug,
{
    xs.process_pending().map_err(at(step))?;
    while let Some(ev) = xs.try_event() {
        driver.on_watch(xs, &ev).map_err(detail(step))?;
    }
    Ok(())
}

/// Milliseconds, for log lines.
pub fn ms(ns: u64) -> u64 {
    ns / 1_000_000
}
