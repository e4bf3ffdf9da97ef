//! An in-memory xenstored: the node tree with per-node permissions, watches, transactions with
//! conflict detection and per-domain quotas, served to in-process callers ([`LocalConnection`]),
//! to tools over a Unix socket ([`Xenstored::serve_unix`]) and to guests over their
//! `xenstore_domain_interface` ring ([`Xenstored::serve_ring`]).
//!
//! Behaviour follows Xen's docs/misc/xenstore.txt and C xenstored: relative paths are relative to
//! `/local/domain/<domid>`; writes create missing parents, which inherit their parent's
//! permissions with a guest creator as owner; a guest learns ENOENT for a missing node only if it
//! could read (or write) the closest existing ancestor, EACCES otherwise; every new watch fires
//! once at once; watch events only reach connections that may read the node. Quotas (guests only;
//! dom0 is exempt) answer as oxenstored does: EQUOTA for too many nodes, transactions or ACL
//! entries, E2BIG for a too large value or too many watches.

mod engine;
mod local;
mod perms;
mod ring;
mod tree;
mod txn;
mod unix;
mod watch;
mod wire;

pub use engine::{domain_path, DirectoryPart, INTRODUCE_DOMAIN, RELEASE_DOMAIN};
pub use local::{LocalConnection, StoreOps, Transaction, WatchEvent};
pub use ring::{RingKick, RingServer, RingStop, ServeRingError};
pub use unix::UnixServer;

use engine::State;
use std::sync::{Arc, Mutex, MutexGuard};
use xenpv_control::xs::XsError;

/// Per-domain limits; privileged connections are not subject to them. The defaults are C
/// xenstored's and oxenstored's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// Nodes a domain may own (EQUOTA beyond).
    pub max_entries_per_domain: u32,
    /// Bytes in one value (E2BIG beyond).
    pub max_value_size: usize,
    /// Watches a domain may hold over all its connections (E2BIG beyond).
    pub max_watches_per_domain: u32,
    /// Transactions open at once on one connection (EQUOTA beyond).
    pub max_transactions_per_connection: u32,
    /// Permission entries after the owner's on one node (EQUOTA beyond).
    pub max_perms_per_node: usize,
}

impl Default for Quotas {
    fn default() -> Quotas {
        Quotas {
            max_entries_per_domain: 1000,
            max_value_size: 2048,
            max_watches_per_domain: 128,
            max_transactions_per_connection: 10,
            max_perms_per_node: 5,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub quotas: Quotas,
}

/// Handle to one store; clones share it.
#[derive(Clone)]
pub struct Xenstored {
    state: Arc<Mutex<State>>,
}

impl Xenstored {
    pub fn new(config: Config) -> Xenstored {
        Xenstored {
            state: Arc::new(Mutex::new(State::new(config.quotas))),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Operations validate before they mutate and do not panic; should one panic anyway, the
        // store it leaves is still a consistent tree, so keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An in-process connection acting as `domid`; dom0's is privileged.
    pub fn connect(&self, domid: u16) -> LocalConnection {
        LocalConnection::open(self.clone(), domid)
    }

    /// What INTRODUCE does: the domain is known (IS_DOMAIN_INTRODUCED) and `@introduceDomain` fires.
    /// EINVAL for dom0 and the reserved ids (DOMID_FIRST_RESERVED and above).
    pub fn introduce_domain(&self, domid: u16) -> Result<(), XsError> {
        self.state().introduce(domid)
    }

    /// What RELEASE (or the domain's destruction) does: its connections are closed, dom0 becomes the
    /// owner of its nodes and `@releaseDomain` fires. ENOENT if it was not introduced.
    pub fn release_domain(&self, domid: u16) -> Result<(), XsError> {
        self.state().release(domid)
    }

    pub fn is_domain_introduced(&self, domid: u16) -> bool {
        self.state().is_introduced(domid)
    }

    /// What SET_TARGET does: `domid` acts with `target`'s rights (a device model stub domain).
    pub fn set_target(&self, domid: u16, target: u16) -> Result<(), XsError> {
        self.state().set_target(domid, target)
    }

    /// Number of nodes `domid` owns: what the entry quota counts.
    pub fn entries_owned(&self, domid: u16) -> u32 {
        self.state().entries_owned(domid)
    }
}
