//! What both fronts share on this home: the platform the cores run on (hypercalls, the grant
//! table, the page arena), bounded waits for events, and the loop that feeds xenstore watch events
//! to a front's state machine.
//!
//! Waiting is by event: each round of a wait looks at the store and the rings, then sleeps until
//! the port that signals the awaited work fires (counted by the upcall, see [`crate::upcall`]) or
//! a short timeout passes, so that timers (resends, deadlines) run even without events.

use alloc::sync::Arc;
use core::fmt::Debug;

use xenpv_abi::shared_info::StartInfo;
use xenpv_abi::EvtchnPort;
use xenpv_control::xenbus::{FrontendDevice, FrontendDriver};
use xenpv_control::xs::client::{Error, RingTransport};
use xenpv_control::xs::XsError;
use xenpv_xen::gnttab::GrantTable;
use xenpv_xen::hypercall::Page;
use xenpv_xen::pages::PageArena;
use xenpv_xen::platform::{XenGrants, XenPlatform};
use xenpv_xen::Xen;

use crate::pages::PagesError;
use crate::say;
use crate::steps::{at, detail, Failure};
use crate::store::{Signal, StoreClient};
use crate::upcall::{self, WaitError};

/// Longest sleep of one round of a wait, so that timers run without events.
const ROUND_NS: u64 = 10_000_000;

/// The platform the cores run on here.
pub type Metal = XenPlatform<'static, Page>;

/// The home of the fronts.
pub struct Fronts {
    pub platform: Arc<Metal>,
    /// The store's event channel: what a wait for a state change sleeps on.
    store_port: EvtchnPort,
    pages: &'static PageArena<'static>,
}

impl Fronts {
    pub fn new(si: &StartInfo, table: &'static GrantTable<'static>) -> Result<Self, Failure> {
        if upcall::now_ns() == 0 {
            return Err(at("fronts")(
                "no system time: event upcalls are not installed",
            ));
        }
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
            store_port: si.store_evtchn,
            pages,
        })
    }

    /// The store's event channel.
    pub fn store_port(&self) -> EvtchnPort {
        self.store_port
    }

    /// After a restore into a new domain: the store has a new event channel.
    pub fn resumed(&mut self, si: &StartInfo) {
        self.store_port = si.store_evtchn;
    }

    /// Xen system time in nanoseconds.
    pub fn now(&self) -> u64 {
        upcall::now_ns()
    }

    /// Pages of the arena not granted now.
    pub fn free_pages(&self) -> usize {
        self.pages.free_pages()
    }

    /// Runs `round` until it says done, sleeping between rounds until `port` fires (or a round's
    /// timeout passes); fails `step` after `limit_ms`.
    pub fn wait(
        &self,
        step: &'static str,
        limit_ms: u64,
        port: EvtchnPort,
        mut round: impl FnMut() -> Result<bool, Failure>,
    ) -> Result<Waited, Failure> {
        let start = self.now();
        let deadline = start + limit_ms * 1_000_000;
        let first = upcall::count(port);
        loop {
            // Counted before the round: an event for work the round started is not missed.
            let seen = upcall::count(port);
            if round()? {
                return Ok(Waited {
                    ns: self.now() - start,
                    events: upcall::count(port).wrapping_sub(first),
                });
            }
            let now = self.now();
            if now > deadline {
                return Err(at(step)("timed out"));
            }
            match upcall::wait_for(&self.platform.xen, port, seen, ROUND_NS.min(deadline - now)) {
                Ok(_) | Err(WaitError::TimedOut) => {}
                Err(e) => return Err(detail(step)(e)),
            }
        }
    }
}

/// How a wait went.
#[derive(Clone, Copy)]
pub struct Waited {
    /// Nanoseconds it took.
    pub ns: u64,
    /// Events that came on the port meanwhile.
    pub events: u32,
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

/// Attaches a device that left its old driver (before a suspend) to a new driver and waits until
/// it is connected to the backend of the resumed domain.
pub fn rejoin<D>(
    step: &'static str,
    path: &str,
    device: D,
    fronts: &Fronts,
    xs: &mut StoreClient,
) -> Result<(FrontendDriver<D>, Waited), Failure>
where
    D: FrontendDevice<RingTransport<Signal>>,
    D::Error: Debug,
{
    let mut driver = FrontendDriver::attach(xs, path, device).map_err(detail(step))?;
    driver.connect(xs).map_err(detail(step))?;
    let took = fronts.wait(step, 15_000, fronts.store_port(), || {
        pump(step, xs, &mut driver)?;
        Ok(driver.machine().is_connected())
    })?;
    Ok((driver, took))
}

/// Takes a closed front off the store: its backend-state watch and its keys.
///
/// After a restore xenstored has sometimes (in several runs) no longer had the backend-state watch
/// at this point and answered ENOENT; the cause is not found yet. Nothing watches either way, so
/// that answer is said on the console and accepted.
pub fn detach<D>(
    step: &'static str,
    device: &str,
    driver: FrontendDriver<D>,
    xs: &mut StoreClient,
) -> Result<(), Failure>
where
    D: FrontendDevice<RingTransport<Signal>>,
{
    match driver.detach(xs) {
        Ok(_) => Ok(()),
        Err(Error::Xs(XsError::ENOENT)) => {
            say!("{step}: {device}: xenstored had dropped our watch already");
            Ok(())
        }
        Err(e) => Err(at(step)(e)),
    }
}

/// Milliseconds, for log lines.
pub fn ms(ns: u64) -> u64 {
    ns / 1_000_000
}
