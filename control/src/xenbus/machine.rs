//! The XenbusState machine of a frontend device, as a pure function of events to actions.
//!
//! The machine is level-triggered: after every event it looks at where it is (the state it last
//! wrote, whether rings are set up, whether the owner wants the device connected) and at the last
//! backend state it saw, and moves until nothing more applies. Watch events coalesce and may be
//! spurious, so the machine never relies on seeing every backend transition: a backend that went
//! Closed → InitWait between two reads is recognised by its InitWait while we are connected.
//!
//! The handshake (io/xenbus.h, Linux xenbus_probe_frontend / blkfront / netfront):
//!
//! ```text
//! we: Initialising ──backend InitWait──▶ SetupRings ──done──▶ Initialised ──backend Connected──▶ Connected
//!     (a device that announces Connected — netfront — writes Connected instead of Initialised)
//! backend Closing / Closed / gone / restarted, while we hold rings ──▶ TearDown, Closed
//! owner closes: Closing, wait until the backend has let go of the rings ──▶ TearDown, Closed
//! Closed and the backend is back (Initialising / InitWait) ──▶ Initialising again
//! backend Reconfiguring while connected ──▶ Reconfigure ──done──▶ Reconfigured ──backend Connected──▶ Connected
//! ```
//!
//! Rings are torn down only once the backend has stopped using them (it is Closing, Closed, gone or
//! restarted), so no grant is ended while the backend may still have it mapped in normal operation.

use alloc::vec::Vec;
use xenpv_abi::xenbus::XenbusState;

/// How a frontend tells its backend that its rings are ready; the two Linux backends differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Announce {
    /// Write Initialised and wait for the backend to connect (blkfront: blkback connects when it
    /// sees Initialised).
    Initialised,
    /// Write Connected at once (netfront: netback ignores Initialised and connects only when the
    /// frontend says Connected).
    Connected,
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The owner wants the device connected (probe, resume, re-plug).
    Connect,
    /// The owner wants the device closed (unplug, suspend, driver unload).
    Close,
    /// The backend's `state` node now reads this; `None` if it is missing or not a valid state.
    Backend(Option<XenbusState>),
    /// [`Action::SetupRings`] succeeded.
    SetupDone,
    /// [`Action::SetupRings`] failed; the device has released whatever it had set up.
    SetupFailed,
    /// [`Action::Reconfigure`] finished.
    ReconfigureDone,
}

/// What the owner must do, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write our `state` node.
    WriteState(XenbusState),
    /// Read the backend's features, allocate and grant rings, bind event channels, write our keys;
    /// then report [`Event::SetupDone`] or [`Event::SetupFailed`].
    SetupRings,
    /// The backend is connected: read what it publishes on connect and start the data path.
    StartIo,
    /// The backend is reconfiguring: re-read its configuration, then report [`Event::ReconfigureDone`].
    Reconfigure,
    /// Stop the data path, end the grants, free the rings and event channels.
    TearDown,
}

/// A frontend device's connection state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frontend {
    /// What we write once the rings are set up.
    announce: Announce,
    /// Our state as last written; `Unknown` before the first write.
    state: XenbusState,
    /// The backend's state as last read.
    backend: Option<XenbusState>,
    /// The owner wants the device connected.
    want: bool,
    /// Rings, grants and event channels exist.
    rings: bool,
    /// SetupRings was issued and has not reported back.
    setting_up: bool,
    /// Reconfigure was issued and has not reported back.
    reconfiguring: bool,
    /// The data path runs.
    io: bool,
    /// The last setup failed; cleared by the next Connect.
    failed: bool,
}

impl Default for Frontend {
    fn default() -> Self {
        Frontend::new(Announce::Initialised)
    }
}

/// The backend no longer uses (or never used) our rings.
fn backend_released(b: Option<XenbusState>) -> bool {
    matches!(
        b,
        None | Some(
            XenbusState::Unknown
                | XenbusState::Closing
                | XenbusState::Closed
                | XenbusState::Initialising
        )
    )
}

impl Frontend {
    pub fn new(announce: Announce) -> Frontend {
        Frontend {
            announce,
            state: XenbusState::Unknown,
            backend: None,
            want: false,
            rings: false,
            setting_up: false,
            reconfiguring: false,
            io: false,
            failed: false,
        }
    }

    /// Our state as last written.
    pub fn state(&self) -> XenbusState {
        self.state
    }

    /// The backend state as last seen.
    pub fn backend(&self) -> Option<XenbusState> {
        self.backend
    }

    /// Whether the data path runs and we have told the backend so.
    pub fn is_connected(&self) -> bool {
        self.io && self.state == XenbusState::Connected
    }

    /// Whether rings, grants and event channels currently exist.
    pub fn has_rings(&self) -> bool {
        self.rings
    }

    /// Whether the last setup failed (the machine then stays closed until the next Connect).
    pub fn setup_failed(&self) -> bool {
        self.failed
    }

    /// Feeds one event and returns the actions to perform, in order.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        match event {
            Event::Connect => {
                self.want = true;
                self.failed = false;
            }
            Event::Close => self.want = false,
            Event::Backend(b) => self.backend = b,
            Event::SetupDone if self.setting_up => {
                self.setting_up = false;
                self.rings = true;
            }
            Event::SetupFailed if self.setting_up => {
                self.setting_up = false;
                // Do not retry by ourselves: the same backend would fail the same way.
                self.want = false;
                self.failed = true;
            }
            Event::ReconfigureDone if self.reconfiguring => {
                self.reconfiguring = false;
                let mut actions = Vec::new();
                self.write(XenbusState::Reconfigured, &mut actions);
                actions.extend(self.settle());
                return actions;
            }
            // A report for something we did not ask for (or already dealt with) changes nothing.
            Event::SetupDone | Event::SetupFailed | Event::ReconfigureDone => {}
        }
        self.settle()
    }

    /// Moves until no rule applies.
    fn settle(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        // Each step either acts (changing state) or does nothing; a bound keeps a logic slip from
        // looping forever (the longest legal chain is a handful of steps).
        for _ in 0..8 {
            let before = actions.len();
            self.step(&mut actions);
            if actions.len() == before {
                break;
            }
        }
        actions
    }

    fn write(&mut self, s: XenbusState, out: &mut Vec<Action>) {
        self.state = s;
        out.push(Action::WriteState(s));
    }

    fn tear_down(&mut self, out: &mut Vec<Action>) {
        out.push(Action::TearDown);
        self.rings = false;
        self.io = false;
        self.reconfiguring = false;
    }

    /// One move, if any applies.
    fn step(&mut self, out: &mut Vec<Action>) {
        use XenbusState as S;
        let b = self.backend;
        if self.setting_up || self.reconfiguring {
            // The device is busy on our behalf; its report comes as an event.
            return;
        }
        match self.state {
            S::Unknown if self.want => self.write(S::Initialising, out),
            S::Unknown => {}
            S::Initialising => {
                if self.rings {
                    // Setup just finished: announce it, unless things changed meanwhile.
                    if !self.want || backend_released(b) {
                        self.tear_down(out);
                        self.write(S::Closed, out);
                    } else {
                        let ready = match self.announce {
                            Announce::Initialised => S::Initialised,
                            Announce::Connected => S::Connected,
                        };
                        self.write(ready, out);
                    }
                } else if !self.want {
                    self.write(S::Closed, out);
                } else if matches!(b, Some(S::InitWait | S::Initialised | S::Connected)) {
                    self.setting_up = true;
                    out.push(Action::SetupRings);
                }
            }
            S::Initialised | S::Connected | S::Reconfigured => {
                if backend_released(b) {
                    // The backend closed, died or restarted under us.
                    self.tear_down(out);
                    self.write(S::Closed, out);
                } else if !self.want {
                    // Wait in Closing until the backend has let go of the rings.
                    self.write(S::Closing, out);
                } else {
                    match (self.state, b) {
                        // A backend that was connected is back in InitWait: it restarted and we
                        // missed its Closed. (InitWait before the data path runs is the normal
                        // wait, whether we announced Initialised or Connected.)
                        (S::Connected | S::Reconfigured, Some(S::InitWait)) if self.io => {
                            self.tear_down(out);
                            self.write(S::Closed, out);
                        }
                        (S::Initialised | S::Connected, Some(S::Connected))
                        | (S::Reconfigured, Some(S::Connected | S::Reconfigured)) => {
                            if !self.io {
                                self.io = true;
                                out.push(Action::StartIo);
                            }
                            if self.state != S::Connected {
                                self.write(S::Connected, out);
                            }
                        }
                        (S::Connected, Some(S::Reconfiguring)) => {
                            self.reconfiguring = true;
                            out.push(Action::Reconfigure);
                        }
                        // Waiting for the backend.
                        _ => {}
                    }
                }
            }
            S::Closing => {
                if backend_released(b) || b == Some(S::InitWait) {
                    self.tear_down(out);
                    self.write(S::Closed, out);
                }
            }
            S::Closed => {
                // A backend that is Closed but still online waits for us to say Initialising
                // before it goes back to InitWait (Linux's blkback and netback, and Linux's own
                // frontends on resume, work this way), so Closed is a reason to start over too.
                if self.want && matches!(b, Some(S::Initialising | S::InitWait | S::Closed)) {
                    self.write(S::Initialising, out);
                }
            }
            // Never written by this frontend (backend-side states in this model).
            S::InitWait | S::Reconfiguring => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use std::collections::{HashSet, VecDeque};
    use Action::*;
    use XenbusState as S;

    fn connected() -> Frontend {
        let mut f = Frontend::new(Announce::Initialised);
        f.handle(Event::Connect);
        f.handle(Event::Backend(Some(S::InitWait)));
        f.handle(Event::SetupDone);
        f.handle(Event::Backend(Some(S::Connected)));
        assert!(f.is_connected());
        f
    }

    #[test]
    fn netfront_style_announces_connected_and_waits_for_the_backend() {
        let mut f = Frontend::new(Announce::Connected);
        assert_eq!(f.handle(Event::Connect), vec![WriteState(S::Initialising)]);
        assert_eq!(
            f.handle(Event::Backend(Some(S::InitWait))),
            vec![SetupRings]
        );
        assert_eq!(f.handle(Event::SetupDone), vec![WriteState(S::Connected)]);
        assert!(
            !f.is_connected(),
            "announced, but the backend has not connected yet"
        );
        assert_eq!(
            f.handle(Event::Backend(Some(S::InitWait))),
            vec![],
            "InitWait before the data path runs is the normal wait, not a restart"
        );
        assert_eq!(
            f.handle(Event::Backend(Some(S::Connected))),
            vec![StartIo],
            "Connected was already written"
        );
        assert!(f.is_connected());
        assert_eq!(
            f.handle(Event::Backend(Some(S::InitWait))),
            vec![
                TearDown,
                WriteState(S::Closed),
                WriteState(S::Initialising),
                SetupRings
            ],
            "once running, InitWait means the backend restarted: start over"
        );
    }

    #[test]
    fn normal_handshake() {
        let mut f = Frontend::new(Announce::Initialised);
        assert_eq!(
            f.handle(Event::Backend(Some(S::InitWait))),
            vec![],
            "nothing before Connect"
        );
        assert_eq!(
            f.handle(Event::Connect),
            vec![WriteState(S::Initialising), SetupRings]
        );
        assert_eq!(
            f.handle(Event::Backend(Some(S::InitWait))),
            vec![],
            "setup already running"
        );
        assert_eq!(f.handle(Event::SetupDone), vec![WriteState(S::Initialised)]);
        assert!(!f.is_connected());
        assert_eq!(
            f.handle(Event::Backend(Some(S::Connected))),
            vec![StartIo, WriteState(S::Connected)]
        );
        assert!(f.is_connected());
        assert_eq!(
            f.handle(Event::Backend(Some(S::Connected))),
            vec![],
            "spurious watch"
        );
    }

    #[test]
    fn waits_for_the_backend_before_setting_up() {
        let mut f = Frontend::new(Announce::Initialised);
        assert_eq!(f.handle(Event::Connect), vec![WriteState(S::Initialising)]);
        assert_eq!(f.handle(Event::Backend(Some(S::Initialising))), vec![]);
        assert_eq!(
            f.handle(Event::Backend(Some(S::InitWait))),
            vec![SetupRings]
        );
    }

    #[test]
    fn backend_already_connected_is_set_up_too() {
        let mut f = Frontend::new(Announce::Initialised);
        f.handle(Event::Connect);
        assert_eq!(
            f.handle(Event::Backend(Some(S::Connected))),
            vec![SetupRings]
        );
        assert_eq!(
            f.handle(Event::SetupDone),
            vec![
                WriteState(S::Initialised),
                StartIo,
                WriteState(S::Connected)
            ]
        );
    }

    #[test]
    fn backend_closing_under_us_then_coming_back() {
        let mut f = connected();
        assert_eq!(
            f.handle(Event::Backend(Some(S::Closing))),
            vec![TearDown, WriteState(S::Closed)]
        );
        assert!(!f.has_rings());
        // Linux's backends, once Closed, wait for the frontend to say Initialising.
        assert_eq!(
            f.handle(Event::Backend(Some(S::Closed))),
            vec![WriteState(S::Initialising)]
        );
        assert_eq!(
            f.handle(Event::Backend(Some(S::InitWait))),
            vec![SetupRings]
        );
        assert_eq!(f.handle(Event::SetupDone), vec![WriteState(S::Initialised)]);
        assert_eq!(
            f.handle(Event::Backend(Some(S::Connected))),
            vec![StartIo, WriteState(S::Connected)]
        );
    }

    #[test]
    fn backend_vanishing_tears_down() {
        let mut f = connected();
        assert_eq!(
            f.handle(Event::Backend(None)),
            vec![TearDown, WriteState(S::Closed)]
        );
        assert_eq!(f.handle(Event::Backend(None)), vec![]);
        // Its node reappears as Initialising: we start over and wait for InitWait.
        assert_eq!(
            f.handle(Event::Backend(Some(S::Initialising))),
            vec![WriteState(S::Initialising)]
        );
    }

    #[test]
    fn backend_restart_seen_only_as_initwait() {
        let mut f = connected();
        assert_eq!(
            f.handle(Event::Backend(Some(S::InitWait))),
            vec![
                TearDown,
                WriteState(S::Closed),
                WriteState(S::Initialising),
                SetupRings
            ]
        );
    }

    #[test]
    fn frontend_initiated_close_waits_for_the_backend() {
        let mut f = connected();
        assert_eq!(f.handle(Event::Close), vec![WriteState(S::Closing)]);
        assert!(f.has_rings(), "the backend may still use the rings");
        assert_eq!(f.handle(Event::Backend(Some(S::Connected))), vec![]);
        assert_eq!(
            f.handle(Event::Backend(Some(S::Closing))),
            vec![TearDown, WriteState(S::Closed)]
        );
        // Closed on purpose: a returning backend does not reconnect us.
        assert_eq!(f.handle(Event::Backend(Some(S::InitWait))), vec![]);
        assert_eq!(
            f.handle(Event::Connect),
            vec![WriteState(S::Initialising), SetupRings]
        );
    }

    #[test]
    fn close_during_setup_releases_when_setup_reports() {
        let mut f = Frontend::new(Announce::Initialised);
        f.handle(Event::Connect);
        f.handle(Event::Backend(Some(S::InitWait)));
        assert_eq!(f.handle(Event::Close), vec![]);
        assert_eq!(
            f.handle(Event::SetupDone),
            vec![TearDown, WriteState(S::Closed)]
        );
    }

    #[test]
    fn setup_failure_closes_and_does_not_retry() {
        let mut f = Frontend::new(Announce::Initialised);
        f.handle(Event::Connect);
        f.handle(Event::Backend(Some(S::InitWait)));
        assert_eq!(f.handle(Event::SetupFailed), vec![WriteState(S::Closed)]);
        assert!(f.setup_failed());
        assert_eq!(f.handle(Event::Backend(Some(S::InitWait))), vec![]);
        assert_eq!(
            f.handle(Event::Connect),
            vec![WriteState(S::Initialising), SetupRings]
        );
        assert!(!f.setup_failed());
    }

    #[test]
    fn stray_reports_change_nothing() {
        let mut f = connected();
        let before = f.clone();
        assert_eq!(f.handle(Event::SetupDone), vec![]);
        assert_eq!(f.handle(Event::SetupFailed), vec![]);
        assert_eq!(f.handle(Event::ReconfigureDone), vec![]);
        assert_eq!(f, before);
    }

    #[test]
    fn backend_reconfiguration() {
        let mut f = connected();
        assert_eq!(
            f.handle(Event::Backend(Some(S::Reconfiguring))),
            vec![Reconfigure]
        );
        assert_eq!(
            f.handle(Event::Backend(Some(S::Reconfiguring))),
            vec![],
            "once"
        );
        assert_eq!(
            f.handle(Event::ReconfigureDone),
            vec![WriteState(S::Reconfigured)]
        );
        assert_eq!(
            f.handle(Event::Backend(Some(S::Connected))),
            vec![WriteState(S::Connected)]
        );
        assert!(f.is_connected());
    }

    fn all_events() -> Vec<Event> {
        let mut v = vec![
            Event::Connect,
            Event::Close,
            Event::SetupDone,
            Event::SetupFailed,
            Event::ReconfigureDone,
        ];
        v.push(Event::Backend(None));
        v.extend((0..=8).map(|i| Event::Backend(XenbusState::from_u32(i))));
        v
    }

    /// Checks one transition against the machine's safety rules.
    fn check(before: &Frontend, ev: Event, after: &Frontend, actions: &[Action]) {
        // A successful setup report hands the machine its rings.
        let mut rings = before.rings || (ev == Event::SetupDone && before.setting_up);
        let mut written = before.state;
        for a in actions {
            match a {
                TearDown => {
                    assert!(rings, "{before:?} --{ev:?}--> TearDown without rings");
                    // If the backend may know our rings, it must have let go of them.
                    if matches!(
                        written,
                        S::Initialised | S::Connected | S::Reconfigured | S::Closing
                    ) {
                        assert!(
                            backend_released(after.backend) || after.backend == Some(S::InitWait),
                            "{before:?} --{ev:?}--> TearDown while the backend uses the rings"
                        );
                    }
                    rings = false;
                }
                SetupRings => {
                    assert!(
                        !rings && !before.setting_up,
                        "{before:?} --{ev:?}--> SetupRings twice"
                    );
                }
                StartIo => assert!(rings, "{before:?} --{ev:?}--> StartIo without rings"),
                Reconfigure => assert!(rings),
                WriteState(s) => {
                    assert_ne!(*s, written, "{before:?} --{ev:?}--> rewrote {s:?}");
                    written = *s;
                }
            }
        }
        assert_eq!(written, after.state);
        assert!(
            !after.io || after.rings,
            "data path without rings: {after:?}"
        );
    }

    /// Drives a machine to Connected the way a healthy backend would, answering its requests.
    fn drive_to_connected(mut f: Frontend) -> Frontend {
        let feed = |f: &mut Frontend, ev| {
            for a in f.handle(ev) {
                match a {
                    SetupRings => {
                        assert!(f.handle(Event::SetupDone).iter().all(|a| *a != SetupRings))
                    }
                    Reconfigure => {
                        f.handle(Event::ReconfigureDone);
                    }
                    _ => {}
                }
            }
        };
        if f.setting_up {
            feed(&mut f, Event::SetupDone);
        }
        if f.reconfiguring {
            feed(&mut f, Event::ReconfigureDone);
        }
        feed(&mut f, Event::Connect);
        for b in [S::Closing, S::Closed, S::InitWait, S::Connected] {
            feed(&mut f, Event::Backend(Some(b)));
        }
        f
    }

    /// Explores every state reachable from a fresh device under every event sequence.
    #[test]
    fn exhaustive_exploration() {
        let events = all_events();
        let mut seen = HashSet::new();
        let fresh = [
            Frontend::new(Announce::Initialised),
            Frontend::new(Announce::Connected),
        ];
        let mut queue = VecDeque::from(fresh.clone());
        seen.extend(fresh);
        while let Some(f) = queue.pop_front() {
            for &ev in &events {
                let mut next = f.clone();
                let actions = next.handle(ev);
                check(&f, ev, &next, &actions);
                // Feeding the same backend state again (a spurious watch) never acts.
                if let Event::Backend(_) = ev {
                    let mut again = next.clone();
                    assert_eq!(
                        again.handle(ev),
                        vec![],
                        "{next:?} not idempotent for {ev:?}"
                    );
                }
                if seen.insert(next.clone()) {
                    queue.push_back(next);
                }
            }
        }
        assert!(seen.len() > 50, "explored only {} states", seen.len());
        // Liveness: from anywhere, a willing owner and a healthy backend get the device connected.
        for f in &seen {
            let end = drive_to_connected(f.clone());
            assert!(end.is_connected(), "stuck from {f:?}: ended as {end:?}");
        }
    }
}
