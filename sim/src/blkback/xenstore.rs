//! blkback's xenstore half: creates the device directories as the toolstack does, publishes the
//! offer, follows the frontend's state, connects to the rings the frontend names, publishes the
//! disk once connected, and writes `sectors` again on an online resize.

use std::fmt;
use std::sync::Arc;

use xenpv_abi::xenbus::XenbusState;
use xenpv_control::vbd::{BackendOffer, FrontendVbd, VbdError};
use xenpv_control::xenbus::driver::parse_state;
use xenpv_control::xs::XsError;
use xenpv_datapath::blkif::DiscardInfo;

use super::{BackError, BackendConfig, BlkBack, ConnectError, SharedStorage};
use crate::host::Host;
use crate::toolstack::{create_device, DeviceSpec};
use crate::xenstored::{LocalConnection, StoreOps, Xenstored};

/// Why the backend could not follow the frontend.
#[derive(Debug)]
pub enum VbdBackendError {
    Store(XsError),
    /// The frontend's keys are missing or wrong; the backend stays unconnected.
    Keys(VbdError),
    Connect(ConnectError),
    Ring(BackError),
}

impl fmt::Display for VbdBackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VbdBackendError::Store(e) => write!(f, "store: {e:?}"),
            VbdBackendError::Keys(e) => write!(f, "frontend keys: {e}"),
            VbdBackendError::Connect(e) => write!(f, "connect: {e}"),
            VbdBackendError::Ring(e) => write!(f, "ring: {e}"),
        }
    }
}

impl From<XsError> for VbdBackendError {
    fn from(e: XsError) -> Self {
        VbdBackendError::Store(e)
    }
}

/// One vbd's backend in dom0, driven through xenstore.
pub struct VbdBackend {
    host: Arc<Host>,
    xs: LocalConnection,
    pub config: BackendConfig,
    storage: SharedStorage,
    /// `/local/domain/0/backend/vbd/<front>/<devid>`.
    pub backend: String,
    /// `/local/domain/<front>/device/vbd/<devid>`.
    pub frontend: String,
    state: XenbusState,
    pub back: Option<BlkBack>,
}

const TOKEN: &str = "blkback-frontend-state";

impl VbdBackend {
    /// Creates both device directories as the toolstack does, then publishes the offer (InitWait).
    pub fn create(
        xenstored: &Xenstored,
        host: Arc<Host>,
        config: BackendConfig,
        storage: SharedStorage,
        devid: u32,
    ) -> Result<Self, VbdBackendError> {
        let xs = xenstored.connect(config.backend_dom);
        let vdev = devid.to_string();
        let dev = create_device(
            &xs,
            &DeviceSpec {
                class: "vbd",
                id: devid,
                frontend: config.front_dom,
                backend: config.backend_dom,
                frontend_keys: &[
                    ("virtual-device", &vdev),
                    ("device-type", if config.cdrom { "cdrom" } else { "disk" }),
                ],
                backend_keys: &[
                    ("mode", if config.read_only { "r" } else { "w" }),
                    ("type", "phy"),
                ],
            },
        )?;
        let (backend, frontend) = (dev.backend, dev.frontend);
        let mut me = Self {
            host,
            xs,
            config,
            storage,
            backend,
            frontend,
            state: XenbusState::Initialising,
            back: None,
        };
        me.xs.watch(&format!("{}/state", me.frontend), TOKEN)?;
        me.publish_offer()?;
        Ok(me)
    }

    fn switch(&mut self, state: XenbusState) -> Result<(), XsError> {
        self.state = state;
        self.xs.write(
            &format!("{}/state", self.backend),
            (state as u32).to_string(),
        )
    }

    /// InitWait with the transport limits only. The features are written when we connect, as
    /// Linux blkback does; none may linger from an earlier connection, so that a frontend deciding
    /// them before we are connected finds nothing (stricter than blkback, which leaves them).
    fn publish_offer(&mut self) -> Result<(), XsError> {
        let everything = BackendOffer {
            max_indirect_segments: 1,
            discard: Some(DiscardInfo {
                granularity: 0,
                alignment: 0,
                secure: true,
            }),
            ..self.config.offer()
        };
        for (k, _) in everything.connect_keys() {
            self.xs.rm(&format!("{}/{k}", self.backend))?;
        }
        for (k, v) in self.config.offer().setup_keys() {
            self.xs.write(&format!("{}/{k}", self.backend), v)?;
        }
        self.switch(XenbusState::InitWait)
    }

    /// Our state as last written.
    pub fn state(&self) -> XenbusState {
        self.state
    }

    /// Follows the frontend's state (call when its watch may have fired), as blkback's
    /// `frontend_changed` does: connect when the frontend is Initialised, close behind it, and
    /// after Closed wait for the frontend to come back as Initialising (Linux's resume writes it)
    /// before offering again.
    pub fn poll(&mut self) -> Result<(), VbdBackendError> {
        while self.xs.try_next_event().is_some() {}
        let front = self
            .xs
            .read(&format!("{}/state", self.frontend))
            .ok()
            .as_deref()
            .and_then(parse_state);
        use XenbusState as S;
        match (self.state, front) {
            (S::InitWait, Some(S::Initialised | S::Connected)) => self.connect()?,
            (S::Connected, Some(S::Closing)) => {
                self.back = None;
                self.switch(S::Closing)?;
            }
            (S::Connected | S::Closing, Some(S::Closed) | None) => {
                self.back = None;
                self.switch(S::Closed)?;
            }
            (S::Closed, Some(S::Initialising)) => self.publish_offer()?,
            _ => {}
        }
        Ok(())
    }

    fn connect(&mut self) -> Result<(), VbdBackendError> {
        let front = FrontendVbd::parse(
            |k| self.xs.read_string(&format!("{}/{k}", self.frontend)).ok(),
            &self.config.offer(),
        )
        .map_err(VbdBackendError::Keys)?;
        let back = BlkBack::connect(&self.host, &self.config, self.storage.clone(), &front)
            .map_err(VbdBackendError::Connect)?;
        self.back = Some(back);
        // blkback's connect(): persistent grants are in use iff the frontend wrote
        // feature-persistent=1 (and we allow them), and only now do we say so.
        let sectors = self.storage.lock().unwrap().sectors();
        let props = self.config.disk_props(sectors).keys();
        for (k, v) in self.config.offer().connect_keys().into_iter().chain(props) {
            self.xs.write(&format!("{}/{k}", self.backend), v)?;
        }
        self.switch(XenbusState::Connected)?;
        Ok(())
    }

    /// The backend goes away (its process dies, dom0 reloads the driver): rings are dropped and
    /// the state goes to Closed. [`VbdBackend::restart`] brings it back.
    pub fn stop(&mut self) -> Result<(), XsError> {
        self.back = None;
        self.switch(XenbusState::Closed)
    }

    /// The backend comes back with `config`, re-plugged as the toolstack does it: the frontend's
    /// state node is reset to Initialising and the backend waits in InitWait.
    pub fn restart(&mut self, config: BackendConfig) -> Result<(), XsError> {
        self.back = None;
        self.config = config;
        self.xs.write(
            &format!("{}/state", self.frontend),
            (XenbusState::Initialising as u32).to_string(),
        )?;
        self.publish_offer()
    }

    /// The storage was resized: publish the new size (the frontend watches it).
    pub fn publish_size(&mut self) -> Result<(), XsError> {
        let sectors = self.storage.lock().unwrap().sectors();
        self.xs
            .write(&format!("{}/sectors", self.backend), sectors.to_string())
    }

    /// Serves the rings, if connected.
    pub fn service(&mut self) -> Result<usize, VbdBackendError> {
        match &mut self.back {
            Some(b) => b.service().map_err(VbdBackendError::Ring),
            None => Ok(0),
        }
    }
}
