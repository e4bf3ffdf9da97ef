//! The agent against the sim xenstored: the toolstack (dom0) writes control/shutdown, the guest
//! sees it through its watch over its own store ring.

use super::*;
use alloc::format;
use xenpv_control::xs::client::{Client, Store, Transport};
use xenpv_control::xs::{Access, Perm};
use xenpv_sim::domain::{Guest, Sim, DOM0};
use xenpv_sim::host::HostConfig;
use xenpv_sim::xenstored::{LocalConnection, StoreOps};

const DOMID: u16 = 6;
const KEY: &str = "/local/domain/6/control/shutdown";

const ALL_BUT_SLEEP: Features = Features {
    poweroff: true,
    reboot: true,
    suspend: true,
    s3: false,
    s4: false,
};

fn sim() -> (Sim, Guest, LocalConnection) {
    let sim = Sim::new(HostConfig {
        frames: 64,
        grant_entries: 64,
        ports: 16,
    });
    let guest = sim.create_guest(DOMID).unwrap();
    let dom0 = sim.xenstored.connect(DOM0);
    // As libxl creates it: control/shutdown, writable by the guest.
    dom0.write(KEY, "").unwrap();
    dom0.set_perms(KEY, &[Perm::new(DOMID, Access::None)])
        .unwrap();
    (sim, guest, dom0)
}

/// Runs the agent on every firing of its watch until none is left.
fn pump<T: Transport>(agent: &mut Agent, xs: &mut Client<T>) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    loop {
        // A round trip: every event fired before it has been filed.
        xs.read("control").unwrap_or_default();
        let mut fired = false;
        while xs.take_event(AGENT_TOKEN).is_some() {
            fired = true;
            outcomes.push(agent.on_shutdown_watch(xs).unwrap());
        }
        if !fired {
            return outcomes;
        }
    }
}

fn acted(outcomes: &[Outcome]) -> Vec<Action> {
    outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Act(a) => Some(*a),
            _ => None,
        })
        .collect()
}

fn started(guest: &Guest, features: Features) -> (Agent, Client<impl Transport>) {
    let mut xs = guest.store().unwrap();
    let mut agent = Agent::new(features);
    agent.advertise(&mut xs).unwrap();
    xs.watch(SHUTDOWN_PATH, AGENT_TOKEN).unwrap();
    assert_eq!(
        pump(&mut agent, &mut xs),
        [Outcome::Nothing],
        "the first firing asks nothing"
    );
    (agent, xs)
}

#[test]
fn the_feature_keys_say_what_the_guest_handles() {
    let (_sim, guest, dom0) = sim();
    // A stale promise from an earlier driver is withdrawn.
    dom0.write("/local/domain/6/control/feature-s4", "1")
        .unwrap();
    let _ = started(&guest, ALL_BUT_SLEEP);
    for key in ["poweroff", "reboot", "suspend"] {
        let path = format!("/local/domain/6/control/feature-{key}");
        assert_eq!(dom0.read(&path).unwrap(), b"1", "{key}");
    }
    for key in ["s3", "s4"] {
        let path = format!("/local/domain/6/control/feature-{key}");
        assert!(dom0.read(&path).is_err(), "{key} is not advertised");
    }
}

#[test]
fn a_reboot_request_is_acted_on_once_and_cleared() {
    let (_sim, guest, dom0) = sim();
    let (mut agent, mut xs) = started(&guest, ALL_BUT_SLEEP);
    dom0.write(KEY, "reboot").unwrap();
    let outcomes = pump(&mut agent, &mut xs);
    assert_eq!(acted(&outcomes), [Action::Reboot], "{outcomes:?}");
    assert_eq!(
        dom0.read(KEY).unwrap(),
        b"",
        "acknowledged as libxl expects"
    );
    assert_eq!(agent.under_way(), Some(Action::Reboot));
    // An impatient toolstack writes it again: acknowledged, not handed out twice.
    dom0.write(KEY, "reboot").unwrap();
    let outcomes = pump(&mut agent, &mut xs);
    assert!(acted(&outcomes).is_empty(), "{outcomes:?}");
    assert!(outcomes.contains(&Outcome::Repeated(Action::Reboot)));
    assert_eq!(dom0.read(KEY).unwrap(), b"");
}

#[test]
fn halt_is_poweroff_and_unknown_requests_are_left_alone() {
    let (_sim, guest, dom0) = sim();
    let (mut agent, mut xs) = started(&guest, ALL_BUT_SLEEP);
    dom0.write(KEY, "dance").unwrap();
    assert_eq!(
        pump(&mut agent, &mut xs),
        [Outcome::Ignored(b"dance".to_vec())]
    );
    assert_eq!(dom0.read(KEY).unwrap(), b"dance", "not acknowledged");
    // s3 is a known request, but this guest does not advertise it.
    dom0.write(KEY, "s3").unwrap();
    assert_eq!(
        pump(&mut agent, &mut xs),
        [Outcome::Ignored(b"s3".to_vec())]
    );
    assert_eq!(agent.under_way(), None);
    dom0.write(KEY, "halt").unwrap();
    assert_eq!(acted(&pump(&mut agent, &mut xs)), [Action::PowerOff]);
}

#[test]
fn a_suspend_may_be_asked_again_after_resume_which_readvertises() {
    let (_sim, guest, dom0) = sim();
    let (mut agent, mut xs) = started(&guest, ALL_BUT_SLEEP);
    dom0.write(KEY, "suspend").unwrap();
    assert_eq!(acted(&pump(&mut agent, &mut xs)), [Action::Suspend]);
    dom0.write(KEY, "suspend").unwrap();
    assert!(acted(&pump(&mut agent, &mut xs)).is_empty());
    // Resumed on a host whose store lacks the keys.
    dom0.rm("/local/domain/6/control/feature-suspend").unwrap();
    agent.resumed(&mut xs).unwrap();
    assert_eq!(
        dom0.read("/local/domain/6/control/feature-suspend")
            .unwrap(),
        b"1"
    );
    dom0.write(KEY, "suspend").unwrap();
    assert_eq!(acted(&pump(&mut agent, &mut xs)), [Action::Suspend]);
}

#[test]
fn a_cancelled_suspend_rearms_the_agent_without_touching_the_store() {
    let (_sim, guest, dom0) = sim();
    let (mut agent, mut xs) = started(&guest, ALL_BUT_SLEEP);
    dom0.write(KEY, "suspend").unwrap();
    assert_eq!(acted(&pump(&mut agent, &mut xs)), [Action::Suspend]);
    // Another action under way is not the suspend's to clear.
    agent.suspend_cancelled();
    assert_eq!(agent.under_way(), None);
    dom0.write(KEY, "suspend").unwrap();
    assert_eq!(acted(&pump(&mut agent, &mut xs)), [Action::Suspend]);
    dom0.write(KEY, "reboot").unwrap();
    assert_eq!(acted(&pump(&mut agent, &mut xs)), [Action::Reboot]);
    agent.suspend_cancelled();
    assert_eq!(agent.under_way(), Some(Action::Reboot));
}

/// A store whose first transaction commit meets a toolstack write of the key in between.
struct Interfering<'a, T: Transport> {
    xs: &'a mut Client<T>,
    dom0: &'a LocalConnection,
    commits: u32,
}

impl<T: Transport> StoreConn for Interfering<'_, T> {
    fn request(&mut self, req: &XsRequest, tx: u32) -> Result<Response, StoreError> {
        if matches!(req, XsRequest::TransactionEnd { commit: true }) {
            self.commits += 1;
            if self.commits == 1 {
                self.dom0.write(KEY, "poweroff").unwrap();
            }
        }
        self.xs.request(req, tx)
    }

    fn watch(&mut self, path: &str, token: &str) -> Result<(), StoreError> {
        self.xs.watch(path, token)
    }

    fn unwatch(&mut self, path: &str, token: &str) -> Result<(), StoreError> {
        self.xs.unwatch(path, token)
    }
}

#[test]
fn a_conflicting_toolstack_write_reruns_the_transaction_and_wins() {
    let (_sim, guest, dom0) = sim();
    let (mut agent, mut xs) = started(&guest, ALL_BUT_SLEEP);
    dom0.write(KEY, "reboot").unwrap();
    xs.read("control").unwrap();
    assert!(xs.take_event(AGENT_TOKEN).is_some());
    let mut store = Interfering {
        xs: &mut xs,
        dom0: &dom0,
        commits: 0,
    };
    // The reboot's acknowledgement conflicted; the rerun sees the newer request.
    assert_eq!(
        agent.on_shutdown_watch(&mut store),
        Ok(Outcome::Act(Action::PowerOff))
    );
    assert_eq!(store.commits, 2);
    assert_eq!(dom0.read(KEY).unwrap(), b"");
}

#[test]
fn every_request_name_parses_and_nothing_else_does() {
    let table = [
        (&b"poweroff"[..], Action::PowerOff),
        (b"halt", Action::PowerOff),
        (b"reboot", Action::Reboot),
        (b"suspend", Action::Suspend),
        (b"s3", Action::S3),
        (b"s4", Action::S4),
    ];
    for (name, action) in table {
        assert_eq!(Action::parse(name), Some(action));
    }
    for bad in [&b""[..], b"Reboot", b"reboot\0", b" reboot", b"s5"] {
        assert_eq!(Action::parse(bad), None);
    }
}

#[test]
fn only_the_suspend_is_the_buss_and_the_rest_user_modes() {
    let all = [
        Action::PowerOff,
        Action::Reboot,
        Action::Suspend,
        Action::S3,
        Action::S4,
    ];
    let by_bus: Vec<Action> = all
        .into_iter()
        .filter(|a| a.performer() == Performer::Bus)
        .collect();
    assert_eq!(by_bus, [Action::Suspend]);
}
