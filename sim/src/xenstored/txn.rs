//! Transactions: a private copy of the tree taken at TRANSACTION_START, and a log of every node the
//! transaction read or wrote with the version it saw. At commit, if any of those nodes has a
//! different version in the live tree, someone else changed what the transaction depended on and
//! the commit fails with EAGAIN; otherwise the written nodes are copied into the live tree and the
//! watch events the transaction deferred are fired.

use super::perms::Caller;
use super::tree::Tree;
use super::watch::Change;
use super::Quotas;
use std::collections::{BTreeSet, HashMap};
use xenpv_control::xs::XsError;

#[derive(Default)]
pub struct Log {
    /// Path -> generation when first touched (`None`: did not exist).
    observed: HashMap<String, Option<u64>>,
    /// Paths the transaction created, changed or removed.
    pub written: BTreeSet<String>,
    /// Watch events to fire at commit.
    pub pending: Vec<Change>,
}

impl Log {
    pub fn observe(&mut self, path: &str, version: Option<u64>) {
        self.observed.entry(path.to_owned()).or_insert(version);
    }
}

pub struct Txn {
    pub tree: Tree,
    pub log: Log,
    /// How many nodes the caller owned at the start, to charge only the transaction's net creations.
    owned_at_start: u32,
}

impl Txn {
    pub fn new(snapshot: Tree, domid: u16) -> Txn {
        let owned_at_start = snapshot.owned_by(domid);
        Txn {
            tree: snapshot,
            log: Log::default(),
            owned_at_start,
        }
    }

    /// Applies the transaction to `live` and returns the changes to fire.
    pub fn commit(
        self,
        live: &mut Tree,
        generation: &mut u64,
        caller: &Caller,
        quotas: &Quotas,
    ) -> Result<Vec<Change>, XsError> {
        if self
            .log
            .observed
            .iter()
            .any(|(path, seen)| live.version(path) != *seen)
        {
            return Err(XsError::EAGAIN);
        }
        if !caller.privileged {
            let now = i64::from(live.owned_by(caller.domid));
            let net = i64::from(self.tree.owned_by(caller.domid)) - i64::from(self.owned_at_start);
            if now + net > i64::from(quotas.max_entries_per_domain) {
                return Err(XsError::EQUOTA);
            }
        }
        for path in &self.log.written {
            let node = self.tree.get(path).cloned().map(|mut n| {
                *generation += 1;
                n.generation = *generation;
                n
            });
            live.put(path.clone(), node);
        }
        Ok(self.log.pending)
    }
}
