//! The guest agent: what Xen's toolstack expects of a guest with PV drivers, done the way Linux's
//! drivers/xen/manage.c and Xen's Windows agent do it.
//!
//! - The guest advertises what it can do: `control/feature-poweroff`, `feature-reboot`,
//!   `feature-suspend` (and `feature-s3` / `feature-s4` when user mode can sleep or hibernate the
//!   machine), each `"1"`. The toolstack (libxl) uses the PV path only for what is advertised, and
//!   the keys are written again after every resume (a new host's store has none of them).
//! - The toolstack asks by writing `control/shutdown` (`poweroff`, `reboot`, `suspend`, `halt`,
//!   `s3`, `s4`). The guest, inside one transaction, reads the key and, for a request it handles,
//!   clears it (writes `""`): that is the acknowledgement libxl waits for (for suspend it gives up
//!   and takes the request back if the key is not cleared in time). A request it does not handle
//!   is left alone and reported, so the toolstack can time out and fall back.
//! - Who acts ([`Action::performer`]): a suspend for save or migration is XENBUS's to carry out
//!   (the driver asks the bus through its interface, which parks the CPUs, suspends the domain and
//!   restores the platform, as Xen's Windows drivers do); every other action goes to user mode (a
//!   pended `AgentWaitAction` request completes with it): Windows is shut down, restarted or put
//!   to sleep by a user-mode service calling ExitWindowsEx / InitiateSystemShutdownEx /
//!   SetSuspendState — not by this driver. So exactly one side acts on each request.
//! - Repeats: xenstored fires the watch for our own clear, and toolstacks rewrite the key when
//!   impatient. An action already handed out is acknowledged again but not handed out twice
//!   (a suspend only until the domain has resumed).

use alloc::vec::Vec;

use xenpv_control::xs::client::Error as StoreError;
use xenpv_control::xs::wire::{MsgType, Request as XsRequest, Response};
use xenpv_control::xs::XsError;

use crate::error::OpError;
use crate::session::{unexpected, InTx, StoreConn};
use xenpv_control::xs::client::Store;

/// The key the toolstack writes requests to (relative to the domain's home).
pub const SHUTDOWN_PATH: &str = "control/shutdown";
/// The watch token of the agent (not a session token: those start with `xeniface/`).
pub const AGENT_TOKEN: &str = "xeniface-agent";
/// How often a transaction conflicting with the toolstack's writes is run again.
pub const MAX_ATTEMPTS: u32 = 16;

/// What user mode is asked to do; the number is what `AgentWaitAction` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Action {
    /// `poweroff` or `halt`: shut Windows down and power off.
    PowerOff = 1,
    /// `reboot`: restart Windows.
    Reboot = 2,
    /// `suspend`: the toolstack wants to save or migrate the domain (done by XENBUS, never
    /// handed to user mode).
    Suspend = 3,
    /// `s3`: sleep.
    S3 = 4,
    /// `s4`: hibernate.
    S4 = 5,
}

/// Who carries an action out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Performer {
    /// XENBUS, asked through the bus interface's `request_suspend`.
    Bus,
    /// A user-mode service waiting in `AgentWaitAction`.
    UserMode,
}

impl Action {
    pub fn performer(self) -> Performer {
        match self {
            Action::Suspend => Performer::Bus,
            Action::PowerOff | Action::Reboot | Action::S3 | Action::S4 => Performer::UserMode,
        }
    }

    /// The request a `control/shutdown` value names.
    pub fn parse(value: &[u8]) -> Option<Action> {
        Some(match value {
            b"poweroff" | b"halt" => Action::PowerOff,
            b"reboot" => Action::Reboot,
            b"suspend" => Action::Suspend,
            b"s3" => Action::S3,
            b"s4" => Action::S4,
            _ => return None,
        })
    }
}

/// What this guest can do, and so advertises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    pub poweroff: bool,
    pub reboot: bool,
    pub suspend: bool,
    pub s3: bool,
    pub s4: bool,
}

impl Features {
    fn keys(&self) -> [(&'static str, bool); 5] {
        [
            ("control/feature-poweroff", self.poweroff),
            ("control/feature-reboot", self.reboot),
            ("control/feature-suspend", self.suspend),
            ("control/feature-s3", self.s3),
            ("control/feature-s4", self.s4),
        ]
    }

    /// Whether `action` is one this guest handles.
    pub fn handles(&self, action: Action) -> bool {
        match action {
            Action::PowerOff => self.poweroff,
            Action::Reboot => self.reboot,
            Action::Suspend => self.suspend,
            Action::S3 => self.s3,
            Action::S4 => self.s4,
        }
    }
}

/// What one firing of the `control/shutdown` watch came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing asked (the key is empty or absent: the first firing, or our own clear).
    Nothing,
    /// Acknowledged; hand this to user mode.
    Act(Action),
    /// Acknowledged, but this action was handed out already and is still under way.
    Repeated(Action),
    /// A value this guest does not handle: left in place (the caller logs it).
    Ignored(Vec<u8>),
}

/// The agent's state: which action is under way.
#[derive(Debug)]
pub struct Agent {
    features: Features,
    under_way: Option<Action>,
}

impl Agent {
    pub fn new(features: Features) -> Self {
        Agent {
            features,
            under_way: None,
        }
    }

    /// Writes the feature keys: `"1"` for what is handled; keys for what is not are removed, so a
    /// stale advertisement (an older driver, another host) does not promise it.
    pub fn advertise<S: StoreConn>(&self, store: &mut S) -> Result<(), OpError> {
        for (path, on) in self.features.keys() {
            let req = if on {
                XsRequest::Write {
                    path: path.into(),
                    value: b"1".to_vec(),
                }
            } else {
                XsRequest::Rm { path: path.into() }
            };
            match store.request(&req, 0) {
                Ok(Response::Ok(_)) => {}
                // Nothing to remove.
                Err(StoreError::Xs(XsError::ENOENT)) if !on => {}
                Ok(other) => return Err(unexpected(req.msg_type(), &other)),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Handles a firing of the watch on [`SHUTDOWN_PATH`]: reads the request and acknowledges
    /// it in one transaction (run again when the toolstack wrote in between).
    pub fn on_shutdown_watch<S: StoreConn>(&mut self, store: &mut S) -> Result<Outcome, OpError> {
        for _ in 0..MAX_ATTEMPTS {
            let tx = match store.request(&XsRequest::TransactionStart, 0)? {
                Response::TransactionStart(tx) => tx,
                other => return Err(unexpected(MsgType::TransactionStart, &other)),
            };
            let value = match InTx::new(store, tx).try_read(SHUTDOWN_PATH) {
                Ok(v) => v.unwrap_or_default(),
                Err(e) => {
                    let _ = store.request(&XsRequest::TransactionEnd { commit: false }, tx);
                    return Err(e.into());
                }
            };
            let action = Action::parse(&value).filter(|a| self.features.handles(*a));
            let Some(action) = action else {
                // Nothing to acknowledge; the transaction only read.
                let _ = store.request(&XsRequest::TransactionEnd { commit: false }, tx);
                return Ok(if value.is_empty() {
                    Outcome::Nothing
                } else {
                    Outcome::Ignored(value)
                });
            };
            if let Err(e) = InTx::new(store, tx).write(SHUTDOWN_PATH, b"") {
                let _ = store.request(&XsRequest::TransactionEnd { commit: false }, tx);
                return Err(e.into());
            }
            match store.request(&XsRequest::TransactionEnd { commit: true }, tx) {
                Ok(_) => return Ok(self.hand_out(action)),
                Err(StoreError::Xs(XsError::EAGAIN)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(OpError::Store(StoreError::TransactionRetries(MAX_ATTEMPTS)))
    }

    fn hand_out(&mut self, action: Action) -> Outcome {
        if self.under_way == Some(action) {
            return Outcome::Repeated(action);
        }
        self.under_way = Some(action);
        Outcome::Act(action)
    }

    /// The domain came back from a suspend: a new suspend may be asked for, and the feature keys
    /// are written again (after a migration this is another host's store).
    pub fn resumed<S: StoreConn>(&mut self, store: &mut S) -> Result<(), OpError> {
        if self.under_way == Some(Action::Suspend) {
            self.under_way = None;
        }
        self.advertise(store)
    }

    /// The toolstack cancelled the suspend: a new one may be asked for; the keys are where they
    /// were.
    pub fn suspend_cancelled(&mut self) {
        if self.under_way == Some(Action::Suspend) {
            self.under_way = None;
        }
    }

    /// The action handed out last and not finished.
    pub fn under_way(&self) -> Option<Action> {
        self.under_way
    }
}

#[cfg(test)]
mod tests;
