//! The store's state and every operation on it, checked against the calling connection.
//!
//! One `State` sits behind the `Xenstored` mutex. Each operation runs on a [`View`]: the live tree,
//! or a transaction's private copy of it plus the log of what the transaction touched. Changes made
//! outside transactions are matched against the watches at once; inside a transaction they wait in
//! its log until it commits.

use super::perms::{rights, Caller, OWNER, READ, WRITE};
use super::tree::{self, Node, Tree};
use super::txn::Txn;
use super::watch::{Change, Watch};
use super::Quotas;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use xenpv_control::xs::path::{validate, PathKind};
use xenpv_control::xs::perm::{Access, Perm};
use xenpv_control::xs::wire::{ABS_PATH_MAX, PAYLOAD_MAX};
use xenpv_control::xs::XsError;

/// The special watch names xenstored fires itself.
pub const INTRODUCE_DOMAIN: &str = "@introduceDomain";
pub const RELEASE_DOMAIN: &str = "@releaseDomain";

/// First domid that is not a real domain (DOMID_FIRST_RESERVED in xen.h).
const DOMID_FIRST_RESERVED: u16 = 0x7ff0;

/// Where a connection's watch events go (a local channel, a socket's or a ring's output queue).
pub trait Outbox: Send + Sync {
    fn watch_event(&self, path: &str, token: &str);
    /// The connection was closed by the store (its domain was released).
    fn close(&self);
}

pub type ConnId = u64;

struct Conn {
    domid: u16,
    privileged: bool,
    watches: Vec<Watch>,
    txns: HashMap<u32, Txn>,
    last_txid: u32,
    outbox: Arc<dyn Outbox>,
}

/// DIRECTORY_PART's answer: the node's generation and the children from the requested byte offset
/// of the NUL-separated list, as many as fit in one reply (the first one is cut if the offset falls
/// inside a name, as in xenstored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryPart {
    pub generation: u64,
    pub children: Vec<String>,
    /// The list ends with this part (the wire reply then carries an extra NUL).
    pub complete: bool,
}

pub struct State {
    tree: Tree,
    generation: u64,
    quotas: Quotas,
    conns: HashMap<ConnId, Conn>,
    next_conn: ConnId,
    introduced: BTreeSet<u16>,
    targets: HashMap<u16, u16>,
    /// Permissions of `@introduceDomain` / `@releaseDomain`: who may watch them.
    special_perms: HashMap<&'static str, Vec<Perm>>,
}

/// The tree an operation works on, and the transaction log if it runs inside one.
struct View<'a> {
    tree: &'a mut Tree,
    txn_log: Option<&'a mut super::txn::Log>,
    generation: &'a mut u64,
    quotas: &'a Quotas,
    caller: Caller,
    changes: Vec<Change>,
}

impl View<'_> {
    /// Records that the operation depends on the current version of `path`.
    fn observe(&mut self, path: &str) {
        if let Some(log) = self.txn_log.as_deref_mut() {
            log.observe(path, self.tree.version(path));
        }
    }

    fn modify(&mut self, path: &str) -> u64 {
        self.observe(path);
        if let Some(log) = self.txn_log.as_deref_mut() {
            log.written.insert(path.to_owned());
        }
        *self.generation += 1;
        *self.generation
    }

    fn changed(&mut self, change: Change) {
        match self.txn_log.as_deref_mut() {
            Some(log) => log.pending.push(change),
            None => self.changes.push(change),
        }
    }

    /// xenstored's `get_node`: the node if the caller has every right in `need`. A missing node is
    /// ENOENT only if the caller has one of those rights on the closest existing ancestor, and EACCES
    /// otherwise, so that a domain cannot probe for nodes it may not see.
    fn node(&mut self, path: &str, need: u8) -> Result<&Node, XsError> {
        self.observe(path);
        if let Some(node) = self.tree.get(path) {
            return if rights(&self.caller, &node.perms) & need == need {
                Ok(node)
            } else {
                Err(XsError::EACCES)
            };
        }
        let mut up = tree::parent(path);
        while let Some(p) = up {
            if let Some(ancestor) = self.tree.get(p) {
                return Err(if rights(&self.caller, &ancestor.perms) & need != 0 {
                    XsError::ENOENT
                } else {
                    XsError::EACCES
                });
            }
            up = tree::parent(p);
        }
        Err(XsError::ENOENT)
    }

    fn check_value_size(&self, value: &[u8]) -> Result<(), XsError> {
        if !self.caller.privileged && value.len() > self.quotas.max_value_size {
            return Err(XsError::E2BIG);
        }
        Ok(())
    }

    /// Creates `path` with `value` and any missing ancestors with empty values. New nodes inherit
    /// their parent's permissions; a guest becomes the owner of what it creates.
    fn create(&mut self, path: &str, mut value: Vec<u8>) -> Result<(), XsError> {
        let mut missing = vec![path.to_owned()];
        let mut top_parent = tree::parent(path);
        while let Some(p) = top_parent {
            if self.tree.get(p).is_some() {
                break;
            }
            missing.push(p.to_owned());
            top_parent = tree::parent(p);
        }
        let domid = self.caller.domid;
        if !self.caller.privileged
            && self.tree.owned_by(domid) as usize + missing.len()
                > self.quotas.max_entries_per_domain as usize
        {
            return Err(XsError::EQUOTA);
        }
        for p in missing.iter().rev() {
            let parent = tree::parent(p).unwrap_or("/");
            let mut perms = self
                .tree
                .get(parent)
                .map_or_else(|| vec![Perm::new(0, Access::None)], |n| n.perms.clone());
            if !self.caller.privileged {
                perms[0].domid = domid;
            }
            self.modify(parent);
            let generation = self.modify(p);
            // Only the requested node gets the value; the parents made on the way are empty.
            let v = if p == path {
                std::mem::take(&mut value)
            } else {
                Vec::new()
            };
            self.tree.add_leaf(
                p,
                Node {
                    value: v,
                    children: Vec::new(),
                    perms,
                    generation,
                },
                generation,
            );
        }
        let perms = self
            .tree
            .get(path)
            .map(|n| n.perms.clone())
            .unwrap_or_default();
        self.changed(Change::Node {
            path: path.to_owned(),
            perms: vec![perms],
        });
        Ok(())
    }
}

/// A domain's home, the base of its relative paths (GET_DOMAIN_PATH).
pub fn domain_path(domid: u16) -> String {
    format!("/local/domain/{domid}")
}

impl State {
    pub fn new(quotas: Quotas) -> State {
        let closed = vec![Perm::new(0, Access::None)];
        State {
            tree: Tree::new(),
            generation: 0,
            quotas,
            conns: HashMap::new(),
            next_conn: 1,
            introduced: BTreeSet::new(),
            targets: HashMap::new(),
            special_perms: [(INTRODUCE_DOMAIN, closed.clone()), (RELEASE_DOMAIN, closed)]
                .into_iter()
                .collect(),
        }
    }

    pub fn connect(&mut self, domid: u16, privileged: bool, outbox: Arc<dyn Outbox>) -> ConnId {
        let id = self.next_conn;
        self.next_conn += 1;
        let conn = Conn {
            domid,
            privileged,
            watches: Vec::new(),
            txns: HashMap::new(),
            last_txid: 0,
            outbox,
        };
        self.conns.insert(id, conn);
        id
    }

    /// Forgets a connection with its watches and open transactions (which are thereby aborted).
    pub fn disconnect(&mut self, id: ConnId) {
        self.conns.remove(&id);
    }

    pub fn is_connected(&self, id: ConnId) -> bool {
        self.conns.contains_key(&id)
    }

    fn caller(&self, id: ConnId) -> Result<Caller, XsError> {
        // A connection the store closed (its domain was released) can do nothing more.
        let conn = self.conns.get(&id).ok_or(XsError::EIO)?;
        Ok(Caller {
            domid: conn.domid,
            privileged: conn.privileged,
            target: self.targets.get(&conn.domid).copied(),
        })
    }

    /// Makes `path` absolute and checks it against xenstore.txt's rules.
    fn resolve(caller: &Caller, path: &str) -> Result<String, XsError> {
        let abs = match validate(path, false) {
            Ok(PathKind::Absolute) => path.to_owned(),
            Ok(PathKind::Relative) => tree::join(&domain_path(caller.domid), path),
            Ok(PathKind::Special) | Err(_) => return Err(XsError::EINVAL),
        };
        if abs.len() > ABS_PATH_MAX {
            return Err(XsError::EINVAL);
        }
        Ok(abs)
    }

    /// Runs `op` on the live tree (`tx == 0`) or on transaction `tx`'s copy, then fires the watches
    /// for what it changed outside a transaction.
    fn run<T>(
        &mut self,
        id: ConnId,
        tx: u32,
        op: impl FnOnce(&mut View) -> Result<T, XsError>,
    ) -> Result<T, XsError> {
        let caller = self.caller(id)?;
        let State {
            tree,
            generation,
            quotas,
            conns,
            ..
        } = self;
        let (tree, txn_log) = match tx {
            0 => (tree, None),
            _ => {
                let txn = conns
                    .get_mut(&id)
                    .and_then(|c| c.txns.get_mut(&tx))
                    .ok_or(XsError::ENOENT)?;
                (&mut txn.tree, Some(&mut txn.log))
            }
        };
        let mut view = View {
            tree,
            txn_log,
            generation,
            quotas,
            caller,
            changes: Vec::new(),
        };
        let result = op(&mut view)?;
        let changes = view.changes;
        self.fire(&changes);
        Ok(result)
    }

    fn fire(&self, changes: &[Change]) {
        for change in changes {
            for conn in self.conns.values() {
                let caller = Caller {
                    domid: conn.domid,
                    privileged: conn.privileged,
                    target: self.targets.get(&conn.domid).copied(),
                };
                for w in &conn.watches {
                    let special =
                        |name: &str| self.special_perms.get(name).cloned().unwrap_or_default();
                    if let Some(path) = w.event_for(change, &caller, special) {
                        conn.outbox.watch_event(&path, &w.token);
                    }
                }
            }
        }
    }

    /// Sends one event to one connection: the initial event of a new watch, queued by the caller
    /// after its reply.
    pub fn deliver_to(&self, id: ConnId, path: &str, token: &str) {
        if let Some(conn) = self.conns.get(&id) {
            conn.outbox.watch_event(path, token);
        }
    }

    pub fn read(&mut self, id: ConnId, tx: u32, path: &str) -> Result<Vec<u8>, XsError> {
        let abs = Self::resolve(&self.caller(id)?, path)?;
        self.run(id, tx, |v| Ok(v.node(&abs, READ)?.value.clone()))
    }

    pub fn write(&mut self, id: ConnId, tx: u32, path: &str, value: &[u8]) -> Result<(), XsError> {
        let abs = Self::resolve(&self.caller(id)?, path)?;
        self.run(id, tx, |v| {
            v.check_value_size(value)?;
            match v.node(&abs, WRITE) {
                Ok(node) => {
                    let perms = node.perms.clone();
                    let generation = v.modify(&abs);
                    v.tree.set_value(&abs, value.to_vec(), generation);
                    v.changed(Change::Node {
                        path: abs.clone(),
                        perms: vec![perms],
                    });
                    Ok(())
                }
                Err(XsError::ENOENT) => v.create(&abs, value.to_vec()),
                Err(e) => Err(e),
            }
        })
    }

    pub fn mkdir(&mut self, id: ConnId, tx: u32, path: &str) -> Result<(), XsError> {
        let abs = Self::resolve(&self.caller(id)?, path)?;
        self.run(id, tx, |v| match v.node(&abs, WRITE) {
            Ok(_) => Ok(()),
            Err(XsError::ENOENT) => v.create(&abs, Vec::new()),
            Err(e) => Err(e),
        })
    }

    pub fn rm(&mut self, id: ConnId, tx: u32, path: &str) -> Result<(), XsError> {
        let abs = Self::resolve(&self.caller(id)?, path)?;
        self.run(id, tx, |v| match v.node(&abs, WRITE) {
            Ok(_) if abs == "/" => Err(XsError::EINVAL),
            Ok(_) => {
                // Every removed node is part of what a transaction wrote, seen as it was before.
                for p in v.tree.subtree_paths(&abs) {
                    v.modify(&p);
                }
                let parent = tree::parent(&abs).unwrap_or("/").to_owned();
                let generation = v.modify(&parent);
                let removed = v.tree.remove_subtree(&abs, generation);
                v.changed(Change::Removed(
                    removed.into_iter().map(|(p, n)| (p, n.perms)).collect(),
                ));
                Ok(())
            }
            // Removing what is not there is fine, as long as the parent is.
            Err(XsError::ENOENT) => {
                let parent = tree::parent(&abs).unwrap_or("/");
                v.observe(parent);
                if v.tree.get(parent).is_some() {
                    Ok(())
                } else {
                    Err(XsError::ENOENT)
                }
            }
            Err(e) => Err(e),
        })
    }

    pub fn directory(&mut self, id: ConnId, tx: u32, path: &str) -> Result<Vec<String>, XsError> {
        let abs = Self::resolve(&self.caller(id)?, path)?;
        self.run(id, tx, |v| Ok(v.node(&abs, READ)?.children.clone()))
    }

    /// DIRECTORY_PART: the names from byte `offset` of the children list that fit in one reply.
    pub fn directory_part(
        &mut self,
        id: ConnId,
        tx: u32,
        path: &str,
        offset: usize,
    ) -> Result<DirectoryPart, XsError> {
        let abs = Self::resolve(&self.caller(id)?, path)?;
        self.run(id, tx, |v| {
            let node = v.node(&abs, READ)?;
            let mut list = Vec::new();
            for c in &node.children {
                list.extend_from_slice(c.as_bytes());
                list.push(0);
            }
            // Like xenstored: the offset is a byte offset (it may even fall inside a name), and an
            // offset past the end yields an empty, complete list.
            let rest = list.get(offset..).unwrap_or(&[]);
            // The reply holds "<gencnt>\0", the names and the final NUL of a complete list.
            let max_len = PAYLOAD_MAX - (node.generation.to_string().len() + 1) - 1;
            let mut len = 0;
            for name in rest.split_inclusive(|&b| b == 0) {
                if len + name.len() > max_len {
                    break;
                }
                len += name.len();
            }
            let children = rest[..len]
                .split(|&b| b == 0)
                .map(|n| String::from_utf8_lossy(n).into_owned());
            // split() yields one empty piece after the last NUL (or for an empty list): drop it.
            let mut children: Vec<String> = children.collect();
            children.pop();
            Ok(DirectoryPart {
                generation: node.generation,
                children,
                complete: len == rest.len(),
            })
        })
    }

    pub fn get_perms(&mut self, id: ConnId, tx: u32, path: &str) -> Result<Vec<Perm>, XsError> {
        let caller = self.caller(id)?;
        if let Some(perms) = self.special_perms.get(path) {
            return Ok(perms.clone());
        }
        let abs = Self::resolve(&caller, path)?;
        self.run(id, tx, |v| Ok(v.node(&abs, READ)?.perms.clone()))
    }

    pub fn set_perms(
        &mut self,
        id: ConnId,
        tx: u32,
        path: &str,
        perms: &[Perm],
    ) -> Result<(), XsError> {
        let caller = self.caller(id)?;
        if perms.is_empty() {
            return Err(XsError::EINVAL);
        }
        if !caller.privileged && perms.len() - 1 > self.quotas.max_perms_per_node {
            return Err(XsError::EQUOTA);
        }
        if let Some(special) = self.special_perms.get_mut(path) {
            // Only the owner (dom0) may decide who sees these events.
            if rights(&caller, special) & OWNER == 0 {
                return Err(XsError::EACCES);
            }
            *special = perms.to_vec();
            return Ok(());
        }
        let abs = Self::resolve(&caller, path)?;
        self.run(id, tx, |v| {
            let old = v.node(&abs, WRITE | OWNER)?.perms.clone();
            // A guest may share its node but not give it away.
            if !caller.privileged && perms[0].domid != old[0].domid {
                return Err(XsError::EPERM);
            }
            let generation = v.modify(&abs);
            v.tree.set_perms(&abs, perms.to_vec(), generation);
            v.changed(Change::Node {
                path: abs.clone(),
                perms: vec![old, perms.to_vec()],
            });
            Ok(())
        })
    }

    /// WATCH: registers the watch and returns the path of the initial event, which the caller
    /// delivers after its reply (xenstored fires every new watch once at once).
    pub fn watch(&mut self, id: ConnId, path: &str, token: &str) -> Result<String, XsError> {
        let caller = self.caller(id)?;
        let abs = match validate(path, true) {
            Ok(PathKind::Special) => path.to_owned(),
            _ => Self::resolve(&caller, path)?,
        };
        let conn = self.conns.get(&id).ok_or(XsError::EIO)?;
        if conn
            .watches
            .iter()
            .any(|w| w.abs == abs && w.token == token)
        {
            return Err(XsError::EEXIST);
        }
        if !caller.privileged {
            let count: usize = self
                .conns
                .values()
                .filter(|c| c.domid == caller.domid)
                .map(|c| c.watches.len())
                .sum();
            if count >= self.quotas.max_watches_per_domain as usize {
                return Err(XsError::E2BIG);
            }
        }
        let watch = Watch {
            given: path.to_owned(),
            abs,
            token: token.to_owned(),
        };
        self.conns
            .get_mut(&id)
            .ok_or(XsError::EIO)?
            .watches
            .push(watch);
        Ok(path.to_owned())
    }

    pub fn unwatch(&mut self, id: ConnId, path: &str, token: &str) -> Result<(), XsError> {
        let caller = self.caller(id)?;
        let abs = match validate(path, true) {
            Ok(PathKind::Special) => path.to_owned(),
            _ => Self::resolve(&caller, path)?,
        };
        let conn = self.conns.get_mut(&id).ok_or(XsError::EIO)?;
        let at = conn
            .watches
            .iter()
            .position(|w| w.abs == abs && w.token == token)
            .ok_or(XsError::ENOENT)?;
        conn.watches.remove(at);
        Ok(())
    }

    /// RESET_WATCHES: drops the caller's watches and transactions.
    pub fn reset_watches(&mut self, id: ConnId) -> Result<(), XsError> {
        let conn = self.conns.get_mut(&id).ok_or(XsError::EIO)?;
        conn.watches.clear();
        conn.txns.clear();
        Ok(())
    }

    /// TRANSACTION_START; `tx` is the request's tx_id, which must be 0.
    pub fn transaction_start(&mut self, id: ConnId, tx: u32) -> Result<u32, XsError> {
        let caller = self.caller(id)?;
        let max = self.quotas.max_transactions_per_connection as usize;
        let snapshot = self.tree.clone();
        let conn = self.conns.get_mut(&id).ok_or(XsError::EIO)?;
        if tx != 0 {
            return Err(if conn.txns.contains_key(&tx) {
                XsError::EBUSY
            } else {
                XsError::ENOENT
            });
        }
        if !caller.privileged && conn.txns.len() >= max {
            return Err(XsError::EQUOTA);
        }
        let mut txid = conn.last_txid;
        loop {
            txid = txid.wrapping_add(1);
            if txid != 0 && !conn.txns.contains_key(&txid) {
                break;
            }
        }
        conn.last_txid = txid;
        conn.txns.insert(txid, Txn::new(snapshot, caller.domid));
        Ok(txid)
    }

    /// TRANSACTION_END: commits (EAGAIN if anything the transaction depended on changed meanwhile)
    /// or discards transaction `tx`. Either way the transaction is gone afterwards.
    pub fn transaction_end(&mut self, id: ConnId, tx: u32, commit: bool) -> Result<(), XsError> {
        let caller = self.caller(id)?;
        let txn = self
            .conns
            .get_mut(&id)
            .and_then(|c| c.txns.remove(&tx))
            .ok_or(XsError::ENOENT)?;
        if !commit {
            return Ok(());
        }
        let changes = txn.commit(&mut self.tree, &mut self.generation, &caller, &self.quotas)?;
        self.fire(&changes);
        Ok(())
    }

    pub fn is_introduced(&self, domid: u16) -> bool {
        self.introduced.contains(&domid)
    }

    /// Marks `domid` as introduced and fires `@introduceDomain`.
    pub fn introduce(&mut self, domid: u16) -> Result<(), XsError> {
        if domid == 0 || domid >= DOMID_FIRST_RESERVED {
            return Err(XsError::EINVAL);
        }
        self.introduced.insert(domid);
        self.fire(&[Change::Special(INTRODUCE_DOMAIN.to_owned())]);
        Ok(())
    }

    /// Forgets `domid`: closes its connections, makes dom0 the owner of its nodes (as xenstored does,
    /// so a later domain with the same id inherits nothing) and fires `@releaseDomain`.
    pub fn release(&mut self, domid: u16) -> Result<(), XsError> {
        if !self.introduced.remove(&domid) {
            return Err(XsError::ENOENT);
        }
        self.targets.remove(&domid);
        let closing: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.domid == domid)
            .map(|(id, _)| *id)
            .collect();
        for id in closing {
            if let Some(conn) = self.conns.remove(&id) {
                conn.outbox.close();
            }
        }
        self.generation += 1;
        self.tree.disown(domid, self.generation);
        self.fire(&[Change::Special(RELEASE_DOMAIN.to_owned())]);
        Ok(())
    }

    /// SET_TARGET's effect: `domid` gets `target`'s rights (a device model stub domain).
    pub fn set_target(&mut self, domid: u16, target: u16) -> Result<(), XsError> {
        if !self.is_introduced(domid) || !self.is_introduced(target) {
            return Err(XsError::ENOENT);
        }
        self.targets.insert(domid, target);
        Ok(())
    }

    /// Number of nodes `domid` owns (what the entry quota counts).
    pub fn entries_owned(&self, domid: u16) -> u32 {
        self.tree.owned_by(domid)
    }
}
