//! The kernel's part of a session for host tests: the sim host's event channels and grant table,
//! user events as counters behind handles, and a guest whose store ring reaches the sim xenstored.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, Ordering};
use std::collections::BTreeMap as Map;

use xenpv_abi::{DomId, EvtchnPort, GrantRef};
use xenpv_datapath::platform::PlatformError;
use xenpv_sim::domain::{Guest, Sim};
use xenpv_sim::host::{Host, HostConfig};

use crate::error::OpError;
use crate::session::{GrantInUse, Home};

pub const DOMID: DomId = 7;

/// The kernel's part for a session, on the sim host: user events are counters behind handles.
pub struct SimHome {
    pub host: Arc<Host>,
    pub events: Map<u64, Arc<AtomicU32>>,
    pub referenced: i32,
}

pub type Event = (u64, Arc<AtomicU32>);

impl Home for SimHome {
    type Event = Event;

    fn reference_event(&mut self, handle: u64) -> Result<Event, OpError> {
        let e = self.events.get(&handle).ok_or(OpError::BadHandle)?;
        self.referenced += 1;
        Ok((handle, e.clone()))
    }

    fn release_event(&mut self, _event: Event) {
        self.referenced -= 1;
    }

    fn signal(&mut self, event: &Event) {
        event.1.fetch_add(1, Ordering::SeqCst);
    }

    fn alloc_unbound(&mut self, remote: DomId, _: &Event) -> Result<EvtchnPort, PlatformError> {
        self.host
            .evtchn
            .alloc_unbound(DOMID, remote)
            .map_err(|_| PlatformError::NoPorts)
    }

    fn bind_interdomain(
        &mut self,
        remote: DomId,
        port: EvtchnPort,
        _: &Event,
    ) -> Result<EvtchnPort, PlatformError> {
        self.host
            .evtchn
            .bind_interdomain(DOMID, remote, port)
            .map_err(|_| PlatformError::Invalid)
    }

    fn notify(&mut self, port: EvtchnPort) -> Result<(), PlatformError> {
        self.host
            .evtchn
            .send(DOMID, port)
            .map_err(|_| PlatformError::Invalid)
    }

    fn close(&mut self, port: EvtchnPort) {
        self.host.evtchn.close(DOMID, port).unwrap();
    }

    fn grant_frame(
        &mut self,
        domid: DomId,
        gfn: u64,
        read_only: bool,
    ) -> Result<GrantRef, PlatformError> {
        self.host
            .grant_table(DOMID)
            .grant(domid, gfn, read_only)
            .map_err(|_| PlatformError::NoGrantRefs)
    }

    fn end_grant(&mut self, gref: GrantRef) -> Result<(), GrantInUse> {
        self.host
            .grant_table(DOMID)
            .end_access(gref)
            .map_err(|_| GrantInUse)
    }
}

pub struct Setup {
    pub sim: Sim,
    pub guest: Guest,
    pub home: SimHome,
}

pub fn setup() -> Setup {
    let sim = Sim::new(HostConfig {
        frames: 64,
        grant_entries: 16,
        ports: 32,
    });
    let guest = sim.create_guest(DOMID).unwrap();
    let home = SimHome {
        host: sim.host.clone(),
        events: (1..=4).map(|h| (h, Arc::new(AtomicU32::new(0)))).collect(),
        referenced: 0,
    };
    Setup { sim, guest, home }
}
