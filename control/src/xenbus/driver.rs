//! Runs a frontend's [`Frontend`] machine over a xenstore connection: finds the backend from
//! `<frontend>/backend` and `<frontend>/backend-id`, watches `<backend>/state`, writes
//! `<frontend>/state`, and calls the device for the rest.

use super::machine::{Action, Announce, Event, Frontend};
use crate::xs::client::{Client, Error, Store, Transport, WatchEvent};
use crate::xs::path::{self, PathKind};
use crate::xs::perm::parse_decimal;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use xenpv_abi::xenbus::XenbusState;

/// Where a device's two halves live in xenstore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevicePaths {
    /// e.g. `device/vif/0` (relative to the guest's home) or `/local/domain/5/device/vif/0`.
    pub frontend: String,
    /// e.g. `/local/domain/0/backend/vif/5/0`, as the toolstack wrote it.
    pub backend: String,
    pub backend_domid: u16,
}

/// The device-specific half of a frontend (vif, vbd, ...).
pub trait FrontendDevice<T: Transport> {
    /// A device failure.
    type Error;
    /// What the device writes once its rings are set up (blkfront style unless it says otherwise).
    const ANNOUNCE: Announce = Announce::Initialised;
    /// Read the backend's features, set up rings, grants and event channels, write our keys (one
    /// transaction). On failure, release what was set up.
    fn setup(&mut self, client: &mut Client<T>, paths: &DevicePaths) -> Result<(), Self::Error>;
    /// The backend is connected: read what it publishes then (e.g. `sectors`) and start I/O.
    fn start_io(&mut self, client: &mut Client<T>, paths: &DevicePaths) -> Result<(), Self::Error>;
    /// The backend is reconfiguring: re-read its configuration.
    fn reconfigure(
        &mut self,
        client: &mut Client<T>,
        paths: &DevicePaths,
    ) -> Result<(), Self::Error>;
    /// Stop I/O, end grants, free rings and event channels.
    fn tear_down(&mut self);
    /// The device is detached: remove what it registered on the store connection (watches).
    fn release(&mut self, _client: &mut Client<T>, _paths: &DevicePaths) -> Result<(), Error> {
        Ok(())
    }
}

/// Why the driver stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverError<E> {
    Store(Error),
    /// The device failed; the machine has been told to close.
    Device(E),
    /// `<frontend>/backend` is not an absolute path, or `backend-id` is not a domid.
    BadBackend,
}

/// A frontend device attached to xenstore.
#[derive(Debug)]
pub struct FrontendDriver<D> {
    paths: DevicePaths,
    machine: Frontend,
    device: D,
    token: String,
}

/// Writes `<dir>/state` as Linux's `xenbus_switch_state` does: in a transaction, only if the node
/// still exists (a device the toolstack removed must not be resurrected by our write) and only if
/// the value changes (no needless watch firings).
pub fn switch_state<T: Transport>(
    client: &mut Client<T>,
    dir: &str,
    state: XenbusState,
) -> Result<(), Error> {
    let path = format!("{dir}/state");
    let value = format!("{}", state as u32);
    client.transaction(|tx| match tx.try_read(&path)? {
        Some(current) if current != value.as_bytes() => tx.write(&path, value.as_bytes()),
        _ => Ok(()),
    })
}

/// Parses a `state` node's value; anything but a defined state reads as "no valid state".
pub fn parse_state(value: &[u8]) -> Option<XenbusState> {
    let n = parse_decimal(value, u32::MAX.into())?;
    // Bounded by u32::MAX just above.
    XenbusState::from_u32(n as u32)
}

impl<D> FrontendDriver<D> {
    /// Reads where the backend is and watches its state. The watch fires once right away; pass its
    /// events to [`FrontendDriver::on_watch`].
    pub fn attach<T: Transport>(
        client: &mut Client<T>,
        frontend: &str,
        device: D,
    ) -> Result<Self, DriverError<D::Error>>
    where
        D: FrontendDevice<T>,
    {
        let backend = client
            .read_string(&format!("{frontend}/backend"))
            .map_err(DriverError::Store)?;
        // The backend path comes from the toolstack, but it is about to be watched and written
        // next to: insist on a valid absolute path.
        if path::validate(&backend, false) != Ok(PathKind::Absolute) {
            return Err(DriverError::BadBackend);
        }
        let id = client
            .read(&format!("{frontend}/backend-id"))
            .map_err(DriverError::Store)?;
        let backend_domid =
            parse_decimal(&id, u16::MAX.into()).ok_or(DriverError::BadBackend)? as u16;
        let token = format!("xenpv-fe:{frontend}");
        client
            .watch(&format!("{backend}/state"), &token)
            .map_err(DriverError::Store)?;
        Ok(FrontendDriver {
            paths: DevicePaths {
                frontend: frontend.into(),
                backend,
                backend_domid,
            },
            machine: Frontend::new(D::ANNOUNCE),
            device,
            token,
        })
    }

    pub fn paths(&self) -> &DevicePaths {
        &self.paths
    }

    pub fn machine(&self) -> &Frontend {
        &self.machine
    }

    pub fn device(&self) -> &D {
        &self.device
    }

    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    /// The token of the backend-state watch, to route events to this driver.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The owner wants the device up.
    pub fn connect<T: Transport>(
        &mut self,
        client: &mut Client<T>,
    ) -> Result<(), DriverError<D::Error>>
    where
        D: FrontendDevice<T>,
    {
        self.run(client, Event::Connect)
    }

    /// The owner wants the device down (unplug, suspend).
    pub fn close<T: Transport>(
        &mut self,
        client: &mut Client<T>,
    ) -> Result<(), DriverError<D::Error>>
    where
        D: FrontendDevice<T>,
    {
        self.run(client, Event::Close)
    }

    /// Handles a watch event; events of other watches are ignored. The backend state is re-read
    /// rather than inferred from the event, since events coalesce.
    pub fn on_watch<T: Transport>(
        &mut self,
        client: &mut Client<T>,
        event: &WatchEvent,
    ) -> Result<(), DriverError<D::Error>>
    where
        D: FrontendDevice<T>,
    {
        if event.token != self.token {
            return Ok(());
        }
        let state = client
            .try_read(&format!("{}/state", self.paths.backend))
            .map_err(DriverError::Store)?;
        // A missing node, or one holding garbage, means the backend is not there for us.
        self.run(
            client,
            Event::Backend(state.as_deref().and_then(parse_state)),
        )
    }

    /// Removes the watch and hands back the device (the owner closes it first).
    pub fn detach<T: Transport>(mut self, client: &mut Client<T>) -> Result<D, Error>
    where
        D: FrontendDevice<T>,
    {
        client.unwatch(&format!("{}/state", self.paths.backend), &self.token)?;
        self.device.release(client, &self.paths)?;
        Ok(self.device)
    }

    /// Feeds `first` and every event the device's work produces, executing actions in order.
    fn run<T: Transport>(
        &mut self,
        client: &mut Client<T>,
        first: Event,
    ) -> Result<(), DriverError<D::Error>>
    where
        D: FrontendDevice<T>,
    {
        let mut events = VecDeque::from([first]);
        let mut failure = None;
        while let Some(ev) = events.pop_front() {
            for action in self.machine.handle(ev) {
                match action {
                    Action::WriteState(s) => {
                        switch_state(client, &self.paths.frontend, s).map_err(DriverError::Store)?
                    }
                    Action::SetupRings => {
                        events.push_back(match self.device.setup(client, &self.paths) {
                            Ok(()) => Event::SetupDone,
                            Err(e) => {
                                failure = Some(DriverError::Device(e));
                                Event::SetupFailed
                            }
                        })
                    }
                    Action::StartIo => {
                        if let Err(e) = self.device.start_io(client, &self.paths) {
                            failure = Some(DriverError::Device(e));
                            events.push_back(Event::Close);
                        }
                    }
                    Action::Reconfigure => {
                        events.push_back(match self.device.reconfigure(client, &self.paths) {
                            Ok(()) => Event::ReconfigureDone,
                            Err(e) => {
                                failure = Some(DriverError::Device(e));
                                Event::Close
                            }
                        })
                    }
                    Action::TearDown => self.device.tear_down(),
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_peer::{stream_client, MemStream, Peer};
    use crate::xenbus::features::write_keys;
    use crate::xs::client::StreamTransport;
    use alloc::rc::Rc;
    use alloc::vec;
    use alloc::vec::Vec;
    use core::cell::RefCell;
    use XenbusState as S;

    type C = Client<StreamTransport<MemStream>>;

    /// A device that records what it was asked to do and can be told to fail.
    #[derive(Default, Debug)]
    struct Recorder {
        calls: Vec<&'static str>,
        fail_setup: bool,
    }

    impl FrontendDevice<StreamTransport<MemStream>> for Recorder {
        type Error = &'static str;
        fn setup(&mut self, client: &mut C, paths: &DevicePaths) -> Result<(), &'static str> {
            self.calls.push("setup");
            if self.fail_setup {
                return Err("no rings");
            }
            write_keys(
                client,
                &paths.frontend,
                &[("ring-ref", "8"), ("event-channel", "5")],
            )
            .map_err(|_| "store")
        }
        fn start_io(&mut self, _: &mut C, _: &DevicePaths) -> Result<(), &'static str> {
            self.calls.push("start_io");
            Ok(())
        }
        fn reconfigure(&mut self, _: &mut C, _: &DevicePaths) -> Result<(), &'static str> {
            self.calls.push("reconfigure");
            Ok(())
        }
        fn tear_down(&mut self) {
            self.calls.push("tear_down");
        }
    }

    const FE: &str = "/local/domain/5/device/vif/0";
    const BE: &str = "/local/domain/0/backend/vif/5/0";

    fn setup() -> (C, Rc<RefCell<Peer>>, FrontendDriver<Recorder>) {
        let (mut c, peer) = stream_client(9);
        {
            let mut p = peer.borrow_mut();
            // The toolstack creates the device with our state Initialising.
            p.external_write(&format!("{FE}/state"), b"1");
            p.external_write(&format!("{FE}/backend"), BE.as_bytes());
            p.external_write(&format!("{FE}/backend-id"), b"0");
            p.external_write(&format!("{BE}/state"), b"1");
        }
        let d = FrontendDriver::attach(&mut c, FE, Recorder::default()).unwrap();
        (c, peer, d)
    }

    /// Delivers every pending watch event to the driver.
    fn deliver(c: &mut C, d: &mut FrontendDriver<Recorder>) {
        while let Some(ev) = c.try_event() {
            d.on_watch(c, &ev).unwrap();
        }
    }

    fn backend_goes(c: &mut C, peer: &Rc<RefCell<Peer>>, d: &mut FrontendDriver<Recorder>, s: S) {
        peer.borrow_mut()
            .external_write(&format!("{BE}/state"), format!("{}", s as u32).as_bytes());
        // A round trip makes sure the event has been read off the stream.
        c.get_domain_path(0).unwrap();
        deliver(c, d);
    }

    fn fe_state(peer: &Rc<RefCell<Peer>>) -> Vec<u8> {
        peer.borrow()
            .nodes
            .get(&format!("{FE}/state"))
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn full_connect_and_backend_close_and_reconnect() {
        let (mut c, peer, mut d) = setup();
        assert_eq!(d.paths().backend, BE);
        assert_eq!(d.paths().backend_domid, 0);
        d.connect(&mut c).unwrap();
        assert_eq!(fe_state(&peer), b"1");
        c.wait_event_for(d.token())
            .map(|ev| d.on_watch(&mut c, &ev).unwrap())
            .unwrap();

        backend_goes(&mut c, &peer, &mut d, S::InitWait);
        assert_eq!(d.device().calls, vec!["setup"]);
        assert_eq!(fe_state(&peer), b"3");
        assert_eq!(
            peer.borrow().nodes.get(&format!("{FE}/ring-ref")).unwrap(),
            b"8"
        );

        backend_goes(&mut c, &peer, &mut d, S::Connected);
        assert_eq!(fe_state(&peer), b"4");
        assert!(d.machine().is_connected());

        backend_goes(&mut c, &peer, &mut d, S::Closing);
        assert_eq!(fe_state(&peer), b"6");
        assert_eq!(d.device().calls, vec!["setup", "start_io", "tear_down"]);

        backend_goes(&mut c, &peer, &mut d, S::Closed);
        backend_goes(&mut c, &peer, &mut d, S::InitWait);
        assert_eq!(
            fe_state(&peer),
            b"3",
            "reconnected after the backend came back"
        );
        assert_eq!(d.device().calls.len(), 4);
    }

    #[test]
    fn backend_state_node_vanishing_or_garbage_tears_down() {
        for kill in [0, 1] {
            let (mut c, peer, mut d) = setup();
            d.connect(&mut c).unwrap();
            deliver(&mut c, &mut d);
            backend_goes(&mut c, &peer, &mut d, S::InitWait);
            backend_goes(&mut c, &peer, &mut d, S::Connected);
            if kill == 0 {
                peer.borrow_mut().external_rm(BE);
            } else {
                peer.borrow_mut()
                    .external_write(&format!("{BE}/state"), b"banana");
            }
            c.get_domain_path(0).unwrap();
            deliver(&mut c, &mut d);
            assert_eq!(fe_state(&peer), b"6");
            assert_eq!(d.device().calls.last(), Some(&"tear_down"));
        }
    }

    #[test]
    fn setup_failure_is_reported_and_closes() {
        let (mut c, peer, mut d) = setup();
        d.device_mut().fail_setup = true;
        d.connect(&mut c).unwrap();
        peer.borrow_mut()
            .external_write(&format!("{BE}/state"), b"2");
        c.get_domain_path(0).unwrap();
        let mut result = Ok(());
        while let Some(ev) = c.try_event() {
            if let Err(e) = d.on_watch(&mut c, &ev) {
                result = Err(e);
            }
        }
        assert_eq!(result, Err(DriverError::Device("no rings")));
        assert_eq!(fe_state(&peer), b"6");
        assert!(d.machine().setup_failed());
    }

    #[test]
    fn bad_backend_path_is_refused() {
        let (mut c, peer) = stream_client(64);
        peer.borrow_mut()
            .external_write(&format!("{FE}/backend"), b"backend/relative");
        peer.borrow_mut()
            .external_write(&format!("{FE}/backend-id"), b"0");
        let r = FrontendDriver::attach(&mut c, FE, Recorder::default());
        assert_eq!(r.unwrap_err(), DriverError::BadBackend);
        peer.borrow_mut()
            .external_write(&format!("{FE}/backend"), BE.as_bytes());
        peer.borrow_mut()
            .external_write(&format!("{FE}/backend-id"), b"70000");
        let r = FrontendDriver::attach(&mut c, FE, Recorder::default());
        assert_eq!(r.unwrap_err(), DriverError::BadBackend);
    }

    #[test]
    fn a_removed_device_is_not_resurrected_by_state_writes() {
        let (mut c, peer, mut d) = setup();
        d.connect(&mut c).unwrap();
        deliver(&mut c, &mut d);
        backend_goes(&mut c, &peer, &mut d, S::InitWait);
        backend_goes(&mut c, &peer, &mut d, S::Connected);
        // Unplug: the toolstack removes our directory, then the backend closes.
        peer.borrow_mut().external_rm(FE);
        backend_goes(&mut c, &peer, &mut d, S::Closing);
        assert_eq!(d.device().calls.last(), Some(&"tear_down"));
        let left: Vec<String> = peer
            .borrow()
            .nodes
            .keys()
            .filter(|k| k.starts_with(FE))
            .cloned()
            .collect();
        assert!(left.is_empty(), "written under {FE}: {left:?}");
    }

    #[test]
    fn switch_state_skips_unchanged_values() {
        let (mut c, peer, _d) = setup();
        switch_state(&mut c, FE, S::Initialising).unwrap();
        let writes = |p: &Rc<RefCell<Peer>>| {
            p.borrow()
                .log
                .iter()
                .filter(|(r, _)| matches!(r, crate::xs::wire::Request::Write { .. }))
                .count()
        };
        assert_eq!(writes(&peer), 0);
        switch_state(&mut c, FE, S::Connected).unwrap();
        assert_eq!(writes(&peer), 1);
        assert_eq!(fe_state(&peer), b"4");
    }

    #[test]
    fn detach_removes_the_watch() {
        let (mut c, peer, d) = setup();
        d.detach(&mut c).unwrap();
        assert!(peer.borrow().watches.is_empty());
    }

    #[test]
    fn parse_state_accepts_only_defined_states() {
        assert_eq!(parse_state(b"4"), Some(S::Connected));
        assert_eq!(parse_state(b"0"), Some(S::Unknown));
        assert_eq!(parse_state(b"9"), None);
        assert_eq!(parse_state(b"04"), None);
        assert_eq!(parse_state(b""), None);
        assert_eq!(parse_state(b"4\n"), None);
    }
}
