//! A whole vbd over xenstore in one simulated machine: a guest whose frontend driver talks to its
//! store ring, and blkback in dom0 following it through xenstored. Tests and the demo drive it
//! step by step, as a polled guest and dom0 on one CPU would.

use std::fmt;
use std::thread::sleep;
use std::time::{Duration, Instant};

use xenpv_abi::xenbus::XenbusState;
use xenpv_control::vbd::{FrontWishes, VbdDeviceError, VbdFrontend};
use xenpv_control::xenbus::driver::{DriverError, FrontendDriver};
use xenpv_control::xs::client::{Client, Error as ClientError, RingTransport};
use xenpv_datapath::blkif::{QueueConfig, QueueError};

use super::xenstore::{VbdBackend, VbdBackendError};
use super::{BackendConfig, SharedStorage};
use crate::domain::{CreateError, Guest, GuestSignal, Sim};
use crate::guest::SimPlatform;
use crate::host::HostConfig;

/// The frontend driver of the guest's disk.
pub type VbdDriver = FrontendDriver<VbdFrontend<SimPlatform, Vec<u8>>>;

/// What went wrong on either side.
#[derive(Debug)]
pub enum XsDiskError {
    Create(CreateError),
    Store(ClientError),
    Driver(DriverError<VbdDeviceError>),
    Backend(VbdBackendError),
    Queue(QueueError),
    /// A state was not reached in time.
    Timeout(&'static str),
}

impl fmt::Display for XsDiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XsDiskError::Create(e) => write!(f, "guest creation: {e:?}"),
            XsDiskError::Store(e) => write!(f, "guest store: {e:?}"),
            XsDiskError::Driver(e) => write!(f, "frontend driver: {e:?}"),
            XsDiskError::Backend(e) => write!(f, "blkback: {e}"),
            XsDiskError::Queue(e) => write!(f, "frontend queue: {e}"),
            XsDiskError::Timeout(what) => write!(f, "timed out waiting for {what}"),
        }
    }
}

/// How long a handshake may take (xenstored answers on its own thread).
const HANDSHAKE: Duration = Duration::from_secs(20);

/// The guest, its disk's frontend and the backend serving it.
pub struct XsDisk {
    // Field order is drop order: the client goes before the guest whose ring it uses.
    pub xs: Client<RingTransport<GuestSignal>>,
    pub driver: VbdDriver,
    pub backend: VbdBackend,
    guest: Guest,
    pub sim: Sim,
}

impl XsDisk {
    /// Creates guest 1 with disk `devid` served by `storage`, and connects it.
    pub fn new(
        config: BackendConfig,
        storage: SharedStorage,
        wishes: FrontWishes,
        queue: QueueConfig,
        devid: u32,
    ) -> Result<Self, XsDiskError> {
        let sim = Sim::new(HostConfig::default());
        let guest = sim
            .create_guest(config.front_dom)
            .map_err(XsDiskError::Create)?;
        let backend = VbdBackend::create(&sim.xenstored, sim.host.clone(), config, storage, devid)
            .map_err(XsDiskError::Backend)?;
        let mut xs = guest.store().map_err(XsDiskError::Store)?;
        let device = VbdFrontend::new(guest.platform().clone(), devid as u16, wishes, queue);
        let mut driver = FrontendDriver::attach(&mut xs, &format!("device/vbd/{devid}"), device)
            .map_err(XsDiskError::Driver)?;
        driver.connect(&mut xs).map_err(XsDiskError::Driver)?;
        let mut disk = Self {
            xs,
            driver,
            backend,
            guest,
            sim,
        };
        disk.until("the first connection", XsDisk::connected)?;
        Ok(disk)
    }

    /// One round of everyone doing what is pending: blkback follows the frontend's state, the
    /// guest takes its watch events, the queues and the backend move requests.
    pub fn step(&mut self) -> Result<(), XsDiskError> {
        self.backend.poll().map_err(XsDiskError::Backend)?;
        self.xs.process_pending().map_err(XsDiskError::Store)?;
        while let Some(ev) = self.xs.try_event() {
            self.driver
                .on_watch(&mut self.xs, &ev)
                .map_err(XsDiskError::Driver)?;
            let paths = self.driver.paths().clone();
            self.driver
                .device_mut()
                .on_watch(&mut self.xs, &paths, &ev)
                .map_err(|e| XsDiskError::Driver(DriverError::Device(e)))?;
        }
        self.service_queues()?;
        self.backend.service().map_err(XsDiskError::Backend)?;
        self.service_queues()
    }

    /// Lets the frontend queues take submissions and put them on their rings, without the
    /// backend moving: the requests are then in flight.
    pub fn service_queues(&mut self) -> Result<(), XsDiskError> {
        for q in self.driver.device_mut().queues_mut() {
            q.service().map_err(XsDiskError::Queue)?;
        }
        Ok(())
    }

    /// Steps until `done` holds.
    pub fn until(
        &mut self,
        what: &'static str,
        mut done: impl FnMut(&mut XsDisk) -> bool,
    ) -> Result<(), XsDiskError> {
        let start = Instant::now();
        while !done(self) {
            if start.elapsed() > HANDSHAKE {
                return Err(XsDiskError::Timeout(what));
            }
            self.step()?;
            sleep(Duration::from_micros(200));
        }
        Ok(())
    }

    /// Both ends are connected.
    pub fn connected(&mut self) -> bool {
        self.driver.machine().is_connected() && self.backend.state() == XenbusState::Connected
    }

    /// Suspend and resume: the guest closes its device, the backend lets go, then the guest comes
    /// back (its state machine announces Initialising to the closed backend, as Linux's xenbus
    /// resume does) and reconnects. Requests in
    /// flight stay in the queues and are replayed.
    pub fn suspend_resume(&mut self) -> Result<(), XsDiskError> {
        self.driver
            .close(&mut self.xs)
            .map_err(XsDiskError::Driver)?;
        self.until("the device to close", |d| {
            d.driver.machine().state() == XenbusState::Closed
                && d.backend.state() == XenbusState::Closed
        })?;
        self.driver
            .connect(&mut self.xs)
            .map_err(XsDiskError::Driver)?;
        self.until("the reconnection", XsDisk::connected)
    }

    /// The backend dies and comes back with `config`; the frontend reconnects on its own.
    pub fn restart_backend(&mut self, config: BackendConfig) -> Result<(), XsDiskError> {
        self.backend
            .stop()
            .map_err(|e| XsDiskError::Backend(e.into()))?;
        self.until("the frontend to let go", |d| {
            !d.driver.machine().has_rings()
        })?;
        self.backend
            .restart(config)
            .map_err(|e| XsDiskError::Backend(e.into()))?;
        self.until("the reconnection", XsDisk::connected)
    }

    /// The guest's domain id.
    pub fn domid(&self) -> u16 {
        self.guest.domid()
    }
}
