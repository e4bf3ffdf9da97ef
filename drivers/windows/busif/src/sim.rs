//! A bus over the simulated Xen host (feature `sim`), for tests of this crate and of the drivers
//! built on it: the provider on a sim guest's platform and store ring, as XENBUS builds it, and
//! children holding the table, as a child driver would.
//!
//! ```
//! # use std::sync::Arc;
//! # use xenpv_busif::{open_store, BusPlatform};
//! # use xenpv_busif::sim::{Poller, SimBus, SimWaker};
//! # use xenpv_control::xs::client::Store;
//! # use xenpv_datapath::platform::EventChannels;
//! let bus = SimBus::new();
//! let child = bus.child(); // what QUERY_INTERFACE gives a child
//! let platform = BusPlatform::new(child.clone()); // for the netif/blkif cores
//! let _poller = Poller::start(&bus.provider); // XENBUS's store work item
//! let mut store = open_store(&child, Arc::new(SimWaker::default())).unwrap();
//! store.write("/local/domain/1/hello", b"world").unwrap();
//! assert!(platform.alloc_unbound(0).is_ok());
//! ```

use std::boxed::Box;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use xenpv_abi::{DomId, EvtchnPort, GrantRef};
use xenpv_control::xs::client::RingTransport;
use xenpv_datapath::platform::{
    Access, EventChannels, GrantedRegion, Grants, PlatformError, StillInUse,
};
use xenpv_sim::domain::{Guest, GuestSignal, Sim};
use xenpv_sim::guest::SimPlatform;
use xenpv_sim::host::{GrantError, HostConfig};

use crate::{
    open_store, Bus, BusError, BusHost, BusInterface, BusStore, BusWallClock, Provider, StoreWaker,
    SuspendOutcome,
};

/// The guest's domain id.
pub const GUEST: DomId = 1;
/// Event channel ports of the sim guest (and of the provider's callback table).
pub const PORTS: u32 = 64;
/// The wall clock the sim home reports.
pub const CLOCK: BusWallClock = BusWallClock {
    sec: 1_700_000_000,
    nsec: 250,
    reserved: 0,
};

/// The sim guest as XENBUS's home: its platform, plus binding, frame grants and a fixed clock.
pub struct SimHome(pub Arc<SimPlatform>, pub SimSuspend);

/// What happens to the world while the domain is suspended (a migration: the new host's
/// backends and toolstack at work).
pub type WhileSuspended = Box<dyn FnMut() + Send>;

/// What the sim's domain does when suspended: the answer Xen gives (settable by a test), what
/// happens meanwhile, and how often it was asked.
pub struct SimSuspend {
    pub outcome: Mutex<Result<SuspendOutcome, BusError>>,
    pub meanwhile: Mutex<Option<WhileSuspended>>,
    pub count: AtomicU32,
}

impl Default for SimSuspend {
    fn default() -> Self {
        SimSuspend {
            outcome: Mutex::new(Ok(SuspendOutcome::Resumed)),
            meanwhile: Mutex::new(None),
            count: AtomicU32::new(0),
        }
    }
}

impl Grants for SimHome {
    fn grant_region(
        &self,
        domid: DomId,
        pages: usize,
        access: Access,
    ) -> Result<GrantedRegion, PlatformError> {
        self.0.grant_region(domid, pages, access)
    }
    fn end_region(&self, region: GrantedRegion) -> Result<(), StillInUse> {
        self.0.end_region(region)
    }
}

impl EventChannels for SimHome {
    fn alloc_unbound(&self, remote: DomId) -> Result<EvtchnPort, PlatformError> {
        self.0.alloc_unbound(remote)
    }
    fn notify(&self, port: EvtchnPort) {
        self.0.notify(port)
    }
    fn unmask(&self, port: EvtchnPort) {
        self.0.unmask(port)
    }
    fn close(&self, port: EvtchnPort) {
        self.0.close(port)
    }
}

impl BusHost for SimHome {
    fn bind_interdomain(
        &self,
        remote: DomId,
        remote_port: EvtchnPort,
    ) -> Result<EvtchnPort, PlatformError> {
        self.0
            .host()
            .evtchn
            .bind_interdomain(self.0.domid(), remote, remote_port)
            .map_err(|_| PlatformError::Invalid)
    }
    fn grant_frame(
        &self,
        domid: DomId,
        gfn: u64,
        access: Access,
    ) -> Result<GrantRef, PlatformError> {
        self.0
            .host()
            .grant_table(self.0.domid())
            .grant(domid, gfn, access == Access::ReadOnly)
            .map_err(|e| match e {
                GrantError::Exhausted => PlatformError::NoGrantRefs,
                _ => PlatformError::Invalid,
            })
    }
    fn end_frame(&self, gref: GrantRef) -> Result<(), BusError> {
        match self.0.host().grant_table(self.0.domid()).end_access(gref) {
            Ok(()) => Ok(()),
            // The sim's answer while the grantee has the frame mapped.
            Err(GrantError::NotPermitted) => Err(BusError::StillInUse),
            Err(_) => Err(BusError::NotOurs),
        }
    }
    fn wall_clock(&self) -> Result<BusWallClock, BusError> {
        Ok(CLOCK)
    }
    fn event_ports(&self) -> u32 {
        PORTS
    }
    /// The sim's domain keeps its memory and xenstored across the "suspend"; what changes is
    /// the store connection, which the provider resets after a resume.
    fn suspend_domain(&self) -> Result<SuspendOutcome, BusError> {
        self.1.count.fetch_add(1, Ordering::AcqRel);
        if let Some(meanwhile) = self.1.meanwhile.lock().unwrap().as_mut() {
            meanwhile();
        }
        *self.1.outcome.lock().unwrap()
    }
}

/// The provider over the sim.
pub type SimProvider = Provider<SimHome, RingTransport<GuestSignal>>;

/// A simulated machine with one guest whose bus is up.
pub struct SimBus {
    pub sim: Sim,
    pub guest: Guest,
    pub provider: Arc<SimProvider>,
}

impl SimBus {
    /// Guest [`GUEST`] on a small sim host, with its provider.
    pub fn new() -> SimBus {
        let sim = Sim::new(HostConfig {
            frames: 4096,
            grant_entries: 4096,
            ports: PORTS,
        });
        let guest = sim.create_guest(GUEST).unwrap();
        let client = guest.store().unwrap();
        let provider = Arc::new(Provider::new(
            SimHome(guest.platform().clone(), SimSuspend::default()),
            client,
        ));
        SimBus {
            sim,
            guest,
            provider,
        }
    }

    /// What a child gets: the validated table behind an Arc.
    pub fn child(&self) -> Arc<Bus> {
        // SAFETY: the provider does not move (an Arc) and outlives every child of the tests.
        Arc::new(unsafe { Bus::from_interface(self.provider.interface()) }.unwrap())
    }

    /// The raw table, for hostile callers.
    pub fn table(&self) -> BusInterface {
        self.provider.interface()
    }
}

impl Default for SimBus {
    fn default() -> Self {
        SimBus::new()
    }
}

/// A waker like an auto-reset KEVENT, with a timeout so that a broken test fails instead of hanging.
#[derive(Default)]
pub struct SimWaker {
    set: Mutex<bool>,
    cv: Condvar,
}

impl StoreWaker for SimWaker {
    fn wake(&self) {
        *self.set.lock().unwrap() = true;
        self.cv.notify_all();
    }
    fn wait(&self) {
        let guard = self.set.lock().unwrap();
        let (mut set, timeout) = self
            .cv
            .wait_timeout_while(guard, Duration::from_secs(20), |s| !*s)
            .unwrap();
        assert!(!timeout.timed_out(), "no store message within 20 s");
        *set = false;
    }
}

/// A store session of `bus` with a [`SimWaker`].
pub fn store(bus: &Arc<Bus>) -> BusStore<SimWaker> {
    open_store(bus, Arc::new(SimWaker::default())).unwrap()
}

/// The home's store work item, run every few milliseconds (XENBUS runs it when the store ring's
/// event channel fires) until dropped.
pub struct Poller {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Poller {
    pub fn start(provider: &Arc<SimProvider>) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let (s, p) = (stop.clone(), provider.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.poll_store().unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Poller {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}
