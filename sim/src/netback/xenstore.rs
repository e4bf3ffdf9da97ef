//! The xenstore side of the sim netback, as Linux xen-netback's xenbus.c does it: advertise the
//! features and wait in InitWait; when the frontend says Connected, read its keys, connect the
//! vif and go Connected; when the frontend closes, disconnect and follow it to Closed, and go back
//! to InitWait only once the frontend says Initialising again. The backend can also close on its own (unplug, a fatal
//! error), which the frontend sees as Closing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use xenpv_abi::xenbus::XenbusState;
use xenpv_abi::DomId;
use xenpv_control::vif::{BackendFeatures, FrontendVif, VifError};
use xenpv_control::xenbus::driver::parse_state;
use xenpv_control::xenbus::{DriverError, FrontendDevice, FrontendDriver};
use xenpv_control::xs::client::{Client, Error as ClientError, Transport, WatchEvent};
use xenpv_control::xs::XsError;

use super::{NetbackError, Vif};
use crate::host::Host;
use crate::toolstack::Device;
use crate::xenstored::{LocalConnection, StoreOps, Xenstored};

/// Why the backend could not bring the vif up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// The frontend's keys are missing or malformed.
    Keys(VifError),
    /// Mapping or binding what the keys name failed.
    Vif(NetbackError),
}

/// A vif backend attached to xenstore.
pub struct NetbackDevice {
    host: Arc<Host>,
    conn: LocalConnection,
    dev: Device,
    front_dom: DomId,
    features: BackendFeatures,
    vif: Option<Vif>,
    state: XenbusState,
    token: String,
    /// Why the last connection attempt failed, if it did.
    pub last_error: Option<ConnectError>,
}

impl NetbackDevice {
    /// Advertises `features` in the backend directory, goes to InitWait and watches the frontend.
    pub fn attach(
        host: &Arc<Host>,
        xenstored: &Xenstored,
        dev: &Device,
        front_dom: DomId,
        features: BackendFeatures,
    ) -> Result<Self, XsError> {
        let conn = xenstored.connect(0);
        for (k, v) in features.keys() {
            conn.write(&format!("{}/{k}", dev.backend), v)?;
        }
        let token = format!("netback:{}", dev.backend);
        conn.watch(&format!("{}/state", dev.frontend), &token)?;
        if features.dynamic_multicast_control {
            conn.watch(&mcast_key(dev), &token)?;
        }
        let mut me = Self {
            host: host.clone(),
            conn,
            dev: dev.clone(),
            front_dom,
            features,
            vif: None,
            state: XenbusState::Initialising,
            token,
            last_error: None,
        };
        me.switch(XenbusState::InitWait)?;
        Ok(me)
    }

    /// The connected vif, to drive its data path.
    pub fn vif(&mut self) -> Option<&mut Vif> {
        self.vif.as_mut()
    }

    /// Our state.
    pub fn state(&self) -> XenbusState {
        self.state
    }

    fn switch(&mut self, s: XenbusState) -> Result<(), XsError> {
        self.state = s;
        self.conn.write(
            &format!("{}/state", self.dev.backend),
            (s as u32).to_string(),
        )
    }

    /// Publishes the link state (`carrier`).
    pub fn set_carrier(&self, up: bool) -> Result<(), XsError> {
        self.conn.write(
            &format!("{}/carrier", self.dev.backend),
            if up { "1" } else { "0" },
        )
    }

    /// Handles frontend state changes (level-triggered: the state is re-read, events only wake).
    pub fn process(&mut self) -> Result<(), XsError> {
        while self.conn.try_next_event().is_some() {}
        let front = self
            .conn
            .read(&format!("{}/state", self.dev.frontend))
            .ok()
            .and_then(|v| parse_state(&v));
        use XenbusState as S;
        match (front, self.state) {
            // Like xen-netback: Initialised means nothing; the frontend's Connected does.
            (Some(S::Connected), S::InitWait) => match self.connect() {
                Ok(vif) => {
                    self.vif = Some(vif);
                    self.last_error = None;
                    self.switch(S::Connected)?;
                }
                Err(e) => {
                    self.last_error = Some(e);
                    self.switch(S::Closing)?;
                }
            },
            (Some(S::Closing), S::Connected | S::InitWait) => {
                self.disconnect();
                self.switch(S::Closing)?;
            }
            (Some(S::Closed) | None, S::Connected | S::Closing) => {
                self.disconnect();
                self.switch(S::Closed)?;
            }
            // Closed, and the device is still plugged in: like xen-netback, wait for the
            // frontend to come back as Initialising before offering the device again.
            (Some(S::Initialising), S::Closed) => self.switch(S::InitWait)?,
            _ => {}
        }
        // With dynamic multicast control the frontend may change its request at any time
        // (Linux netback's xen_mcast_ctrl_changed); absent or malformed reads as off.
        if let Some(vif) = self
            .vif
            .as_mut()
            .filter(|_| self.features.dynamic_multicast_control)
        {
            let on = self
                .conn
                .read(&mcast_key(&self.dev))
                .is_ok_and(|v| v == b"1");
            vif.set_multicast_control(on);
        }
        Ok(())
    }

    /// The backend closes on its own (a fatal frontend error, unplug): the vif goes away now and
    /// the frontend is told through our state.
    pub fn close(&mut self) -> Result<(), XsError> {
        self.disconnect();
        self.switch(XenbusState::Closing)
    }

    /// Polls the vif; a fatal error closes the device as netback does.
    pub fn poll(&mut self) -> Result<super::Work, NetbackError> {
        let Some(vif) = &mut self.vif else {
            return Ok(super::Work::default());
        };
        match vif.poll() {
            Ok(w) => Ok(w),
            Err(e) => {
                let _ = self.close();
                Err(e)
            }
        }
    }

    fn disconnect(&mut self) {
        if let Some(vif) = self.vif.take() {
            vif.disconnect();
        }
    }

    fn connect(&self) -> Result<Vif, ConnectError> {
        let get = |k: &str| {
            self.conn
                .read_string(&format!("{}/{k}", self.dev.frontend))
                .ok()
        };
        let keys = FrontendVif::parse(get, &self.features).map_err(ConnectError::Keys)?;
        Vif::connect(&self.host, 0, self.front_dom, &self.features, &keys)
            .map_err(ConnectError::Vif)
    }
}

fn mcast_key(dev: &Device) -> String {
    format!("{}/request-multicast-control", dev.frontend)
}

impl Drop for NetbackDevice {
    fn drop(&mut self) {
        let _ = self
            .conn
            .unwatch(&format!("{}/state", self.dev.frontend), &self.token);
        if self.features.dynamic_multicast_control {
            let _ = self.conn.unwatch(&mcast_key(&self.dev), &self.token);
        }
        self.disconnect();
    }
}

/// Why a handshake did not reach its goal.
#[derive(Debug)]
pub enum HandshakeError<E> {
    /// Nothing reached the goal in time.
    Timeout {
        /// Where the frontend was.
        front: XenbusState,
        /// Where the backend was.
        back: XenbusState,
    },
    /// The frontend's store connection failed.
    Store(ClientError),
    /// The backend's store connection failed.
    BackendStore(XsError),
    /// The frontend driver failed.
    Driver(DriverError<E>),
}

/// Lets a frontend driver and a netback device react to each other until `done` holds. The
/// frontend machine is level-triggered, so besides the watch events that arrive it is also given
/// a wake-up on every round (events coalesce anyway; it re-reads the backend state).
pub fn handshake<T: Transport, D: FrontendDevice<T>>(
    client: &mut Client<T>,
    drv: &mut FrontendDriver<D>,
    back: &mut NetbackDevice,
    timeout: Duration,
    done: impl Fn(&FrontendDriver<D>, &NetbackDevice) -> bool,
) -> Result<(), HandshakeError<D::Error>> {
    let start = Instant::now();
    while !done(drv, back) {
        if start.elapsed() > timeout {
            return Err(HandshakeError::Timeout {
                front: drv.machine().state(),
                back: back.state(),
            });
        }
        back.process().map_err(HandshakeError::BackendStore)?;
        client.process_pending().map_err(HandshakeError::Store)?;
        let wake = WatchEvent {
            path: format!("{}/state", drv.paths().backend),
            token: drv.token().to_string(),
        };
        let mut events: Vec<WatchEvent> = std::iter::from_fn(|| client.try_event()).collect();
        if events.is_empty() {
            events.push(wake);
        }
        for ev in &events {
            drv.on_watch(client, ev).map_err(HandshakeError::Driver)?;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(())
}
