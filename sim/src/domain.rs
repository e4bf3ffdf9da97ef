//! Simulated machines and their guest domains: the host, xenstored, and per guest the store ring
//! wired to xenstored through a real event channel, the way a guest finds its store at boot.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use xenpv_abi::{DomId, EvtchnPort};
use xenpv_control::xs::client::{Client, Error as ClientError, RingSignal, RingTransport};
use xenpv_control::xs::{Access, Perm, XsError};
use xenpv_datapath::platform::EventChannels as _;
use xenpv_datapath::shmem::SharedMem;

use crate::guest::SimPlatform;
use crate::host::{EvtchnError, Host, HostConfig, Signal};
use crate::xenstored::{domain_path, Config, RingServer, ServeRingError, StoreOps, Xenstored};

/// The domain that runs xenstored and the backends.
pub const DOM0: DomId = 0;

/// How long a guest waits for xenstored before the sim declares it hung.
const STORE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a guest could not be created.
#[derive(Debug)]
pub enum CreateError {
    /// The host has no memory left for the store page.
    NoMemory,
    /// Event channel setup failed.
    Evtchn(EvtchnError),
    /// xenstored refused the domain.
    Store(XsError),
    /// xenstored could not serve the ring.
    Ring(ServeRingError),
}

/// One simulated machine: the hypervisor and dom0's xenstored.
#[derive(Clone)]
pub struct Sim {
    pub host: Arc<Host>,
    pub xenstored: Xenstored,
}

impl Sim {
    pub fn new(config: HostConfig) -> Self {
        Self {
            host: Host::new(config),
            xenstored: Xenstored::new(Config::default()),
        }
    }

    /// Creates guest `domid` as a toolstack does: introduces it to xenstored with its home
    /// `/local/domain/<domid>` owned by it, and connects its store ring page through an event
    /// channel to dom0.
    pub fn create_guest(&self, domid: DomId) -> Result<Guest, CreateError> {
        let (page, gfns) = self
            .host
            .frames
            .alloc(domid, 1)
            .ok_or(CreateError::NoMemory)?;
        let platform = Arc::new(SimPlatform::new(self.host.clone(), domid));
        let port = platform
            .alloc_unbound(DOM0)
            .map_err(|_| CreateError::Evtchn(EvtchnError::NoPorts))?;
        let dom0_port = self
            .host
            .evtchn
            .bind_interdomain(DOM0, domid, port)
            .map_err(CreateError::Evtchn)?;

        self.xenstored
            .introduce_domain(domid)
            .map_err(CreateError::Store)?;
        let dom0 = self.xenstored.connect(DOM0);
        let home = domain_path(domid);
        dom0.write(&home, "").map_err(CreateError::Store)?;
        dom0.set_perms(&home, &[Perm::new(domid, Access::None)])
            .map_err(CreateError::Store)?;

        let host = self.host.clone();
        let server = self
            .xenstored
            .serve_ring(domid, page.clone(), move || {
                let _ = host.evtchn.send(DOM0, dom0_port);
            })
            .map_err(CreateError::Ring)?;
        let forwarder = Forwarder::start(self.host.clone(), dom0_port, &server);
        Ok(Guest {
            platform,
            store_page: page,
            store_gfn: gfns[0],
            port,
            server: Some(server),
            forwarder: Some(forwarder),
        })
    }
}

/// dom0's side of a guest's store event channel: every event from the guest kicks the ring server.
struct Forwarder {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Forwarder {
    fn start(host: Arc<Host>, dom0_port: EvtchnPort, server: &RingServer) -> Self {
        let kick = server.kicker();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let signal = host
            .evtchn
            .signal(DOM0, dom0_port)
            .expect("port bound just now");
        let thread = thread::spawn(move || {
            while !s.load(Ordering::Acquire) {
                if signal.wait(Duration::from_millis(50)) {
                    kick.kick();
                    let _ = host.evtchn.unmask(DOM0, dom0_port);
                }
            }
            let _ = host.evtchn.close(DOM0, dom0_port);
        });
        Self { stop, thread }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.thread.join();
    }
}

/// A simulated guest domain.
pub struct Guest {
    platform: Arc<SimPlatform>,
    store_page: SharedMem,
    store_gfn: u64,
    port: EvtchnPort,
    server: Option<RingServer>,
    forwarder: Option<Forwarder>,
}

impl Guest {
    pub fn domid(&self) -> DomId {
        self.platform.domid()
    }

    /// The guest's platform: what its frontends are given.
    pub fn platform(&self) -> &Arc<SimPlatform> {
        &self.platform
    }

    /// The guest's store ring page and its event channel port, for a client that drives the ring
    /// itself (a crash-dump path polling it once the ordinary client has stopped).
    pub fn store_ring(&self) -> (SharedMem, EvtchnPort) {
        (self.store_page.clone(), self.port)
    }

    /// A xenstore client over the guest's store ring. A guest has one ring, so one client at a time.
    pub fn store(&self) -> Result<Client<RingTransport<GuestSignal>>, ClientError> {
        let signal = GuestSignal {
            platform: self.platform.clone(),
            port: self.port,
        };
        Ok(Client::new(RingTransport::new(
            self.store_page.clone(),
            signal,
        )?))
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        drop(self.server.take());
        if let Some(f) = self.forwarder.take() {
            f.stop();
        }
        self.platform.close(self.port);
        self.platform.host().frames.free(self.store_gfn);
    }
}

/// The guest's end of its store event channel.
pub struct GuestSignal {
    platform: Arc<SimPlatform>,
    port: EvtchnPort,
}

impl RingSignal for GuestSignal {
    fn notify(&self) {
        self.platform.notify(self.port);
    }

    fn wait(&self) {
        let start = Instant::now();
        let signal: Arc<Signal> = self
            .platform
            .host()
            .evtchn
            .signal(self.platform.domid(), self.port)
            .expect("store port is open while the guest lives");
        while !signal.wait(Duration::from_millis(100)) {
            assert!(
                start.elapsed() < STORE_TIMEOUT,
                "xenstored did not answer domain {} within {STORE_TIMEOUT:?}",
                self.platform.domid()
            );
        }
        self.platform.unmask(self.port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xenpv_control::xs::client::Store;

    #[test]
    fn a_guest_talks_to_xenstored_over_its_ring_and_event_channel() {
        let sim = Sim::new(HostConfig {
            frames: 64,
            grant_entries: 64,
            ports: 16,
        });
        let guest = sim.create_guest(5).unwrap();
        let mut xs = guest.store().unwrap();
        xs.write("data/hello", b"world").unwrap();
        assert_eq!(xs.read("/local/domain/5/data/hello").unwrap(), b"world");
        assert_eq!(
            sim.xenstored
                .connect(DOM0)
                .read("/local/domain/5/data/hello")
                .unwrap(),
            b"world"
        );
        assert!(matches!(
            xs.read("/local/domain/0/secret"),
            Err(ClientError::Xs(XsError::EACCES)) | Err(ClientError::Xs(XsError::ENOENT))
        ));
        let before = sim.host.evtchn.sends();
        xs.watch("data", "tok").unwrap();
        sim.xenstored
            .connect(DOM0)
            .write("/local/domain/5/data/x", "1")
            .unwrap();
        let mut paths = vec![xs.wait_event().unwrap().path, xs.wait_event().unwrap().path];
        paths.sort();
        assert_eq!(paths, ["data", "data/x"]);
        assert!(
            sim.host.evtchn.sends() > before,
            "the traffic went through event channels"
        );
    }

    #[test]
    fn guests_are_isolated_from_each_other() {
        let sim = Sim::new(HostConfig {
            frames: 64,
            grant_entries: 64,
            ports: 16,
        });
        let a = sim.create_guest(1).unwrap();
        let b = sim.create_guest(2).unwrap();
        a.store().unwrap().write("mine", b"a").unwrap();
        let err = b.store().unwrap().read("/local/domain/1/mine").unwrap_err();
        assert!(matches!(err, ClientError::Xs(XsError::EACCES)), "{err:?}");
    }
}
