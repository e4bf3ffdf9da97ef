//! Interdomain event channels of the simulated host.
//!
//! Semantics follow what a frontend sees through Linux's evtchn device (the strictest home): an event
//! arriving on an unmasked port marks it pending, masks it, and wakes whoever waits on it; the port
//! raises nothing more until it is unmasked, and unmasking a port that became pending meanwhile
//! delivers at once. A core that forgets to unmask stalls here just as it would in a real guest.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use xenpv_abi::{DomId, EvtchnPort};

/// Why an event channel operation was refused (Xen returns -EINVAL / -ENOSPC / -EBADF for these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvtchnError {
    /// No such port in that domain, or not in a state that allows the operation.
    BadPort,
    /// The unbound port was not offered to the binding domain.
    NotOffered,
    /// The domain has no free port left.
    NoPorts,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Binding {
    /// Waiting for `remote` to bind.
    Unbound { remote: DomId },
    /// Connected to `remote`'s `port`.
    Interdomain { remote: DomId, port: EvtchnPort },
}

#[derive(Default)]
struct SignalState {
    /// Xen's pending bit.
    pending: bool,
    /// Xen's mask bit.
    masked: bool,
    /// An upcall was made and the home has not consumed it yet.
    fired: bool,
}

/// The receiving side of one port: what a home waits on.
#[derive(Default)]
pub struct Signal {
    state: Mutex<SignalState>,
    wake: Condvar,
    delivered: AtomicU64,
}

impl Signal {
    fn raise(&self) {
        let mut s = self.state.lock().unwrap();
        s.pending = true;
        if !s.masked {
            self.fire(&mut s);
        }
    }

    fn fire(&self, s: &mut SignalState) {
        s.masked = true;
        s.fired = true;
        self.delivered.fetch_add(1, Ordering::Relaxed);
        self.wake.notify_all();
    }

    fn unmask(&self) {
        let mut s = self.state.lock().unwrap();
        if s.masked {
            s.masked = false;
            if s.pending {
                self.fire(&mut s);
            }
        }
    }

    /// Wait up to `timeout` for a delivered event and consume it; `false` on time-out.
    pub fn wait(&self, timeout: Duration) -> bool {
        let s = self.state.lock().unwrap();
        let (mut s, _) = self
            .wake
            .wait_timeout_while(s, timeout, |s| !s.fired)
            .unwrap();
        Self::consume(&mut s)
    }

    /// Consume a delivered event without waiting.
    pub fn take(&self) -> bool {
        Self::consume(&mut self.state.lock().unwrap())
    }

    fn consume(s: &mut SignalState) -> bool {
        let got = s.fired;
        if got {
            s.fired = false;
            s.pending = false;
        }
        got
    }

    /// Events delivered so far (a delivery is a wake-up; events raised while masked coalesce).
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }
}

struct Port {
    binding: Binding,
    signal: Arc<Signal>,
}

#[derive(Default)]
struct DomainPorts {
    ports: HashMap<EvtchnPort, Port>,
    next: EvtchnPort,
}

/// All event channels of the host.
pub struct EventChannels {
    domains: Mutex<HashMap<DomId, DomainPorts>>,
    max_ports: EvtchnPort,
    sends: AtomicU64,
}

impl EventChannels {
    /// Each domain gets at most `max_ports` ports (port 0 is never used, as in Xen).
    pub fn new(max_ports: EvtchnPort) -> Self {
        Self {
            domains: Mutex::new(HashMap::new()),
            max_ports,
            sends: AtomicU64::new(0),
        }
    }

    fn insert(
        &self,
        d: &mut DomainPorts,
        binding: Binding,
    ) -> Result<(EvtchnPort, Arc<Signal>), EvtchnError> {
        let port = (1..self.max_ports)
            .map(|i| (d.next + i) % self.max_ports)
            .find(|p| *p != 0 && !d.ports.contains_key(p))
            .ok_or(EvtchnError::NoPorts)?;
        d.next = port;
        let signal = Arc::new(Signal::default());
        d.ports.insert(
            port,
            Port {
                binding,
                signal: signal.clone(),
            },
        );
        Ok((port, signal))
    }

    /// EVTCHNOP_alloc_unbound: a port of `dom` that `remote` may bind.
    pub fn alloc_unbound(&self, dom: DomId, remote: DomId) -> Result<EvtchnPort, EvtchnError> {
        let mut all = self.domains.lock().unwrap();
        let d = all.entry(dom).or_default();
        self.insert(d, Binding::Unbound { remote }).map(|(p, _)| p)
    }

    /// EVTCHNOP_bind_interdomain: connect a new port of `dom` to `remote`'s unbound `remote_port`.
    pub fn bind_interdomain(
        &self,
        dom: DomId,
        remote: DomId,
        remote_port: EvtchnPort,
    ) -> Result<EvtchnPort, EvtchnError> {
        let mut all = self.domains.lock().unwrap();
        let offered = all
            .get(&remote)
            .and_then(|d| d.ports.get(&remote_port))
            .map(|p| p.binding)
            .ok_or(EvtchnError::BadPort)?;
        if offered != (Binding::Unbound { remote: dom }) {
            return Err(EvtchnError::NotOffered);
        }
        let local = all.entry(dom).or_default();
        let (port, _) = self.insert(
            local,
            Binding::Interdomain {
                remote,
                port: remote_port,
            },
        )?;
        let theirs = all
            .get_mut(&remote)
            .and_then(|d| d.ports.get_mut(&remote_port))
            .expect("checked above");
        theirs.binding = Binding::Interdomain { remote: dom, port };
        Ok(port)
    }

    /// EVTCHNOP_send: raise the remote end of `dom`'s `port`. Sending on an unbound port is a no-op,
    /// as in Xen.
    pub fn send(&self, dom: DomId, port: EvtchnPort) -> Result<(), EvtchnError> {
        let target = {
            let all = self.domains.lock().unwrap();
            let p = all
                .get(&dom)
                .and_then(|d| d.ports.get(&port))
                .ok_or(EvtchnError::BadPort)?;
            match p.binding {
                Binding::Unbound { .. } => None,
                Binding::Interdomain { remote, port } => all
                    .get(&remote)
                    .and_then(|d| d.ports.get(&port))
                    .map(|p| p.signal.clone()),
            }
        };
        self.sends.fetch_add(1, Ordering::Relaxed);
        if let Some(signal) = target {
            signal.raise();
        }
        Ok(())
    }

    /// EVTCHNOP_unmask.
    pub fn unmask(&self, dom: DomId, port: EvtchnPort) -> Result<(), EvtchnError> {
        self.signal(dom, port)?.unmask();
        Ok(())
    }

    /// What a home waits on for `dom`'s `port`.
    pub fn signal(&self, dom: DomId, port: EvtchnPort) -> Result<Arc<Signal>, EvtchnError> {
        let all = self.domains.lock().unwrap();
        all.get(&dom)
            .and_then(|d| d.ports.get(&port))
            .map(|p| p.signal.clone())
            .ok_or(EvtchnError::BadPort)
    }

    /// EVTCHNOP_close: the remote end of an interdomain channel goes back to unbound, as in Xen.
    pub fn close(&self, dom: DomId, port: EvtchnPort) -> Result<(), EvtchnError> {
        let mut all = self.domains.lock().unwrap();
        let p = all
            .get_mut(&dom)
            .and_then(|d| d.ports.remove(&port))
            .ok_or(EvtchnError::BadPort)?;
        if let Binding::Interdomain { remote, port } = p.binding {
            if let Some(theirs) = all.get_mut(&remote).and_then(|d| d.ports.get_mut(&port)) {
                theirs.binding = Binding::Unbound { remote: dom };
            }
        }
        Ok(())
    }

    /// Sends so far, over all ports (the cost a notification-suppression scheme saves).
    pub fn sends(&self) -> u64 {
        self.sends.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interdomain_events_flow_both_ways_and_mask_until_unmasked() {
        let ev = EventChannels::new(64);
        let front = ev.alloc_unbound(1, 0).unwrap();
        assert_eq!(
            ev.bind_interdomain(2, 1, front),
            Err(EvtchnError::NotOffered)
        );
        let back = ev.bind_interdomain(0, 1, front).unwrap();
        let fsig = ev.signal(1, front).unwrap();
        let bsig = ev.signal(0, back).unwrap();

        ev.send(0, back).unwrap();
        ev.send(0, back).unwrap();
        assert!(fsig.take(), "the first send is delivered");
        ev.send(0, back).unwrap();
        assert!(!fsig.take(), "a delivered port stays masked");
        assert_eq!(fsig.delivered(), 1);
        ev.unmask(1, front).unwrap();
        assert!(fsig.take(), "unmasking a pending port delivers at once");

        ev.send(1, front).unwrap();
        assert!(bsig.wait(Duration::from_secs(5)));
        assert!(
            !bsig.wait(Duration::from_millis(10)),
            "nothing more to consume"
        );
    }

    #[test]
    fn closing_one_end_leaves_the_other_unbound() {
        let ev = EventChannels::new(8);
        let front = ev.alloc_unbound(1, 0).unwrap();
        let back = ev.bind_interdomain(0, 1, front).unwrap();
        ev.close(0, back).unwrap();
        assert_eq!(ev.send(0, back), Err(EvtchnError::BadPort));
        ev.send(1, front).unwrap();
        let again = ev.bind_interdomain(0, 1, front).unwrap();
        ev.send(0, again).unwrap();
        assert!(ev.signal(1, front).unwrap().take());
    }

    #[test]
    fn a_domain_runs_out_of_ports() {
        let ev = EventChannels::new(3);
        ev.alloc_unbound(1, 0).unwrap();
        ev.alloc_unbound(1, 0).unwrap();
        assert_eq!(ev.alloc_unbound(1, 0), Err(EvtchnError::NoPorts));
        assert_eq!(ev.unmask(1, 9), Err(EvtchnError::BadPort));
    }
}
