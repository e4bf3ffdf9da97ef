//! The provider (XENBUS's side): the services behind the table, generic over the home.
//!
//! XENBUS builds one [`Provider`] from its platform (drivers/xen on Windows; the sim in tests) and
//! its xenstore client, keeps it at a fixed address (a `Box` in the FDO), and hands each child the
//! table from [`Provider::interface`]. The home then drives it: [`Provider::deliver_event`] from its
//! event DPC for each pending port, [`Provider::poll_store`] when the store ring's event fires (at
//! PASSIVE_LEVEL, e.g. from a work item), [`Provider::suspend`] around a suspend. A child asks for
//! the suspend itself through the table ([`Provider::request_suspend`]), so exactly one side acts
//! on the toolstack's request: the child acknowledges it, the bus suspends.

mod events;
mod ffi;
mod store;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::ffi::c_void;
use core::sync::atomic::{AtomicUsize, Ordering};

use xenpv_abi::{DomId, EvtchnPort, GrantRef};
use xenpv_control::xs::client::{Client, Transport};
use xenpv_datapath::platform::{Access, GrantedRegion, Platform, PlatformError, StillInUse};

use crate::abi::{BusInterface, BusWallClock, EventFn, SuspendFn};
use crate::error::BusError;
use crate::lock::SpinLock;
use events::EventCallbacks;
use store::{Notify, StoreMux};

pub use ffi::MAX_REGION_PAGES;
pub use store::{MAX_MESSAGE, MAX_QUEUED_EVENTS, MAX_QUEUED_REPLIES};

/// What a provider needs from its home beyond the cores' [`Platform`].
pub trait BusHost: Platform {
    /// Binds a local port to `remote`'s port `remote_port` (EVTCHNOP_bind_interdomain).
    fn bind_interdomain(
        &self,
        remote: DomId,
        remote_port: EvtchnPort,
    ) -> Result<EvtchnPort, PlatformError>;
    /// Grants guest frame `gfn` to `domid`.
    fn grant_frame(
        &self,
        domid: DomId,
        gfn: u64,
        access: Access,
    ) -> Result<GrantRef, PlatformError>;
    /// Ends a grant of [`BusHost::grant_frame`]: [`BusError::StillInUse`] while the grantee maps
    /// it, [`BusError::NotOurs`] for a reference that is not such a grant.
    fn end_frame(&self, gref: GrantRef) -> Result<(), BusError>;
    /// The current wall-clock time (Xen's base in shared_info plus the system time now).
    fn wall_clock(&self) -> Result<BusWallClock, BusError>;
    /// Event channel ports `0..event_ports()` can get a callback.
    fn event_ports(&self) -> u32;
    /// Suspends the domain (SCHEDOP_shutdown(suspend)) and reports how it ended. After a resume
    /// the home has restored the platform (shared_info, grant frames, the upcall, the store's
    /// event channel) before it returns; after a cancel it restored nothing, as nothing was lost.
    /// Called with the store connection held idle.
    fn suspend_domain(&self) -> Result<SuspendOutcome, BusError>;
}

/// How a suspend ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuspendOutcome {
    /// Saved or migrated and resumed: every event channel is gone, the store was reconnected.
    Resumed,
    /// The toolstack cancelled it: the domain went on with everything it had.
    Cancelled,
}

struct Regions {
    live: BTreeMap<u64, GrantedRegion>,
    next: u64,
}

/// The event channel ports handed out, and what a resume left of them.
///
/// A resume closes every port in Xen, but the children still hold the numbers and close them when
/// they reconnect — by then Xen may have given the same number to another child, whose port that
/// close would take. So the numbers handed out before a resume are *stale* until their owner
/// closes them, and no stale number is handed to anyone: right after the resume the provider
/// allocates ports until it holds each stale number itself (Xen hands out the lowest free port),
/// and a stale number's close releases that hold instead of anything a child owns.
#[derive(Default)]
struct Ports {
    live: BTreeSet<EvtchnPort>,
    stale: BTreeSet<EvtchnPort>,
    /// Stale numbers the provider holds an allocation of.
    held: BTreeSet<EvtchnPort>,
}

/// The domain the holding allocations are offered to: dom0, which exists on every host and never
/// learns the numbers.
const HOLD_REMOTE: DomId = 0;

struct Suspenders {
    callbacks: BTreeMap<u64, (SuspendFn, SendPtr)>,
    next: u64,
}

/// A registrant's context: used only to call its callback, which it allows from any thread.
#[derive(Clone, Copy)]
struct SendPtr(*mut c_void);

// SAFETY: see above.
unsafe impl Send for SendPtr {}

/// The services of one bus.
pub struct Provider<H: BusHost, T: Transport> {
    host: H,
    store: SpinLock<StoreMux<T>>,
    events: EventCallbacks,
    regions: SpinLock<Regions>,
    ports: SpinLock<Ports>,
    suspenders: SpinLock<Suspenders>,
    /// Held for the whole of a suspend, so that two requests run one after the other.
    suspending: SpinLock<()>,
    references: AtomicUsize,
}

impl<H: BusHost, T: Transport> Provider<H, T> {
    /// A provider over `host` and XENBUS's xenstore connection `client`.
    pub fn new(host: H, client: Client<T>) -> Self {
        let ports = host.event_ports();
        Provider {
            host,
            store: SpinLock::new(StoreMux::new(client)),
            events: EventCallbacks::new(ports),
            regions: SpinLock::new(Regions {
                live: BTreeMap::new(),
                next: 1,
            }),
            ports: SpinLock::new(Ports::default()),
            suspenders: SpinLock::new(Suspenders {
                callbacks: BTreeMap::new(),
                next: 1,
            }),
            suspending: SpinLock::new(()),
            references: AtomicUsize::new(0),
        }
    }

    pub fn host(&self) -> &H {
        &self.host
    }

    /// Outstanding references taken through the interface: the provider must stay alive (and not
    /// move) until this is 0.
    pub fn references(&self) -> usize {
        self.references.load(Ordering::Acquire)
    }

    /// Calls the callback registered for `port` (from the home's event DPC); says whether one ran.
    pub fn deliver_event(&self, port: EvtchnPort) -> bool {
        self.events.dispatch(port)
    }

    /// Reads what xenstored sent and hands watch events to their sessions (PASSIVE_LEVEL).
    pub fn poll_store(&self) -> Result<(), BusError> {
        let notify = self.store.lock().poll()?;
        notify.into_iter().for_each(Notify::call);
        Ok(())
    }

    /// Watch events a session lost to a full queue (`None`: no such session).
    pub fn dropped_events(&self, session: u64) -> Option<u64> {
        self.store.lock().dropped_events(session)
    }

    /// Tells every registered child about a suspend phase (`SUSPEND_PHASE_*`), in registration
    /// order. The list stays locked during the calls, so that a handler being unregistered is not
    /// running (and may be freed) once unregistering returns; a handler must not (un)register one.
    pub fn suspend(&self, phase: u32) {
        let s = self.suspenders.lock();
        for &(cb, ctx) in s.callbacks.values() {
            // SAFETY: the registrant promised the callback may be called until it unregisters.
            unsafe { cb(ctx.0, phase) };
        }
    }

    fn open_session(&self, notify: Option<Notify>) -> u64 {
        self.store.lock().open(notify)
    }

    /// Grants a region and records it; the references go to `grefs` (one per page).
    fn grant_region(
        &self,
        domid: DomId,
        access: Access,
        grefs: &mut [GrantRef],
    ) -> Result<(u64, *mut u8), BusError> {
        let region = self.host.grant_region(domid, grefs.len(), access)?;
        grefs.copy_from_slice(region.grefs());
        let va = region.mem().as_ptr().as_ptr();
        let mut r = self.regions.lock();
        let handle = r.next;
        r.next += 1;
        r.live.insert(handle, region);
        Ok((handle, va))
    }

    fn end_region(&self, handle: u64) -> Result<(), BusError> {
        let region = self
            .regions
            .lock()
            .live
            .remove(&handle)
            .ok_or(BusError::NotOurs)?;
        match self.host.end_region(region) {
            Ok(()) => Ok(()),
            Err(StillInUse(region)) => {
                self.regions.lock().live.insert(handle, region);
                Err(BusError::StillInUse)
            }
        }
    }

    /// Opens a port with `open` (allocate or bind) and records it.
    fn open_port(
        &self,
        open: impl FnOnce() -> Result<EvtchnPort, PlatformError>,
    ) -> Result<EvtchnPort, BusError> {
        let mut ports = self.ports.lock();
        let port = open()?;
        ports.live.insert(port);
        Ok(port)
    }

    /// Closes a port a child opened. A stale one is gone in Xen already: only the provider's
    /// hold on its number (if any) is closed.
    fn close_port(&self, port: EvtchnPort) {
        // A port beyond the callback table has no callback to drop, but may still be closed.
        let _ = self.set_event_callback(port, None, core::ptr::null_mut());
        let mut ports = self.ports.lock();
        if ports.stale.remove(&port) {
            if ports.held.remove(&port) {
                self.host.close(port);
            }
            return;
        }
        ports.live.remove(&port);
        self.host.close(port);
    }

    /// After a resume: every port handed out so far is stale; hold each stale number (see
    /// [`Ports`]). Xen hands out the lowest free port, so this allocates up to the highest stale
    /// number; any other order is covered too, as it tries up to the whole port space. It stops
    /// early when Xen has no more ports (a number it cannot give is one it gives no one else).
    /// The allocations that are not stale numbers are closed again.
    fn hold_stale_ports(&self) {
        let mut ports = self.ports.lock();
        let live = core::mem::take(&mut ports.live);
        ports.stale.extend(live);
        let mut extra = Vec::new();
        for _ in 0..self.host.event_ports() {
            if ports.stale.iter().all(|p| ports.held.contains(p)) {
                break;
            }
            let Ok(port) = self.host.alloc_unbound(HOLD_REMOTE) else {
                break;
            };
            if ports.stale.contains(&port) {
                ports.held.insert(port);
            } else {
                extra.push(port);
            }
        }
        for port in extra {
            self.host.close(port);
        }
    }

    fn set_event_callback(
        &self,
        port: EvtchnPort,
        cb: Option<EventFn>,
        ctx: *mut c_void,
    ) -> Result<(), BusError> {
        self.events.set(port, cb, ctx)
    }

    fn register_suspend(&self, cb: SuspendFn, ctx: *mut c_void) -> u64 {
        let mut s = self.suspenders.lock();
        let handle = s.next;
        s.next += 1;
        s.callbacks.insert(handle, (cb, SendPtr(ctx)));
        handle
    }

    fn unregister_suspend(&self, handle: u64) -> Result<(), BusError> {
        self.suspenders
            .lock()
            .callbacks
            .remove(&handle)
            .map(drop)
            .ok_or(BusError::InvalidParameter)
    }
}

impl<H: BusHost, T: Transport> Provider<H, T> {
    /// The table for a child, with one reference taken (the child drops it with the header's
    /// `interface_dereference`, as PnP's query-interface contract says).
    ///
    /// The table points at `self`: the provider must not move or be dropped while
    /// [`Provider::references`] is not 0.
    pub fn interface(&self) -> BusInterface {
        self.references.fetch_add(1, Ordering::AcqRel);
        ffi::table(self)
    }

    /// Suspends the domain on a child's request (PASSIVE_LEVEL). Children are told
    /// `SUSPEND_PHASE_SUSPEND`; the store connection is then held idle while the home suspends,
    /// and after a resume it is reset and every session's watches are registered again (xenstored
    /// fires each once, so a child re-reads its backend and reconnects; a session's transactions
    /// died with the old connection and answer EAGAIN, so they run again). The event channel
    /// ports handed out before a resume are stale: no stale number goes to anyone until its owner
    /// closed it (see [`Ports`]). Children are then told `SUSPEND_PHASE_RESUME`, or
    /// `SUSPEND_PHASE_CANCELLED` after a cancel (they quiesced for the suspend either way).
    ///
    /// The home's error is returned after the children were told to resume (a restore that
    /// failed half-way leaves them checking their backends rather than trusting what they had); a
    /// store that could
    /// not be reconnected is [`BusError::StoreFailed`] (sessions then fail until XENBUS restarts).
    pub fn request_suspend(&self) -> Result<SuspendOutcome, BusError> {
        let _one = self.suspending.lock();
        self.suspend(crate::abi::SUSPEND_PHASE_SUSPEND);
        let (outcome, store) = {
            let mut store = self.store.lock();
            let outcome = self.host.suspend_domain();
            let reconnected = match outcome {
                Ok(SuspendOutcome::Resumed) => {
                    self.hold_stale_ports();
                    store.resume()
                }
                _ => Ok(()),
            };
            (outcome, reconnected)
        };
        self.suspend(match outcome {
            Ok(SuspendOutcome::Cancelled) => crate::abi::SUSPEND_PHASE_CANCELLED,
            _ => crate::abi::SUSPEND_PHASE_RESUME,
        });
        let outcome = outcome?;
        store?;
        Ok(outcome)
    }
}
