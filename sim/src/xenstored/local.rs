//! In-process connections: the sim's own backends (dom0) and test code call the store directly,
//! with the same checks a wire connection of that domain gets.

use super::engine::{ConnId, DirectoryPart, Outbox};
use super::Xenstored;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use xenpv_control::xs::{Perm, XsError};

/// A watch firing: the (possibly relative) path and the watch's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    pub path: String,
    pub token: String,
}

struct ChannelOutbox(Mutex<Option<Sender<WatchEvent>>>);

impl Outbox for ChannelOutbox {
    fn watch_event(&self, path: &str, token: &str) {
        if let Some(tx) = &*self.0.lock().unwrap_or_else(|p| p.into_inner()) {
            // The receiver lives as long as the connection, which unregisters on drop.
            let _ = tx.send(WatchEvent {
                path: path.to_owned(),
                token: token.to_owned(),
            });
        }
    }

    fn close(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// A connection to the store as `domid`. Dropping it removes its watches and aborts its
/// transactions. Once its domain is released every operation fails with EIO.
pub struct LocalConnection {
    xs: Xenstored,
    id: ConnId,
    domid: u16,
    events: Receiver<WatchEvent>,
}

impl LocalConnection {
    pub(super) fn open(xs: Xenstored, domid: u16) -> LocalConnection {
        let (tx, events) = channel();
        let id = xs.state().connect(
            domid,
            domid == 0,
            Arc::new(ChannelOutbox(Mutex::new(Some(tx)))),
        );
        LocalConnection {
            xs,
            id,
            domid,
            events,
        }
    }

    pub fn domid(&self) -> u16 {
        self.domid
    }

    /// WATCH: registers `path` (absolute, relative to this domain's home, or `@...`) with `token`;
    /// the initial event is queued at once.
    pub fn watch(&self, path: &str, token: &str) -> Result<(), XsError> {
        let mut state = self.xs.state();
        let first = state.watch(self.id, path, token)?;
        // Queued while the store is locked, so no later event can overtake it.
        state.deliver_to(self.id, &first, token);
        Ok(())
    }

    pub fn unwatch(&self, path: &str, token: &str) -> Result<(), XsError> {
        self.xs.state().unwatch(self.id, path, token)
    }

    /// RESET_WATCHES: drops all watches and open transactions of this connection.
    pub fn reset_watches(&self) -> Result<(), XsError> {
        self.xs.state().reset_watches(self.id)
    }

    /// The next watch event, waiting at most `timeout`.
    pub fn next_event(&self, timeout: Duration) -> Option<WatchEvent> {
        self.events.recv_timeout(timeout).ok()
    }

    /// A watch event already queued, if any.
    pub fn try_next_event(&self) -> Option<WatchEvent> {
        self.events.try_recv().ok()
    }

    /// TRANSACTION_START. Operations through the returned handle see the store as it was at the
    /// start plus their own changes; dropping it without `commit` aborts.
    pub fn transaction(&self) -> Result<Transaction<'_>, XsError> {
        let id = self.xs.state().transaction_start(self.id, 0)?;
        Ok(Transaction {
            conn: self,
            id,
            open: true,
        })
    }

    /// GET_DOMAIN_PATH.
    pub fn get_domain_path(&self, domid: u16) -> String {
        super::domain_path(domid)
    }
}

impl Drop for LocalConnection {
    fn drop(&mut self) {
        self.xs.state().disconnect(self.id);
    }
}

/// An open transaction (TRANSACTION_START ... TRANSACTION_END).
pub struct Transaction<'a> {
    conn: &'a LocalConnection,
    id: u32,
    open: bool,
}

impl Transaction<'_> {
    /// The transaction id as it would travel in tx_id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// TRANSACTION_END T: EAGAIN if a node this transaction read or wrote was changed by someone
    /// else since it started (then nothing is applied; start over).
    pub fn commit(mut self) -> Result<(), XsError> {
        self.open = false;
        self.conn
            .xs
            .state()
            .transaction_end(self.conn.id, self.id, true)
    }

    /// TRANSACTION_END F.
    pub fn abort(mut self) -> Result<(), XsError> {
        self.open = false;
        self.conn
            .xs
            .state()
            .transaction_end(self.conn.id, self.id, false)
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.open {
            // Aborting can only fail if the connection is already gone, which aborted it too.
            let _ = self
                .conn
                .xs
                .state()
                .transaction_end(self.conn.id, self.id, false);
        }
    }
}

/// The node operations, the same on a connection (outside any transaction) and inside a
/// [`Transaction`]. Paths are absolute or relative to `/local/domain/<domid>`.
pub trait StoreOps {
    #[doc(hidden)]
    fn scope(&self) -> (&LocalConnection, u32);

    /// READ.
    fn read(&self, path: &str) -> Result<Vec<u8>, XsError> {
        let (c, tx) = self.scope();
        c.xs.state().read(c.id, tx, path)
    }

    /// READ, as UTF-8 (lossy).
    fn read_string(&self, path: &str) -> Result<String, XsError> {
        Ok(String::from_utf8_lossy(&self.read(path)?).into_owned())
    }

    /// WRITE: creates missing parents.
    fn write(&self, path: &str, value: impl AsRef<[u8]>) -> Result<(), XsError> {
        let (c, tx) = self.scope();
        c.xs.state().write(c.id, tx, path, value.as_ref())
    }

    /// MKDIR.
    fn mkdir(&self, path: &str) -> Result<(), XsError> {
        let (c, tx) = self.scope();
        c.xs.state().mkdir(c.id, tx, path)
    }

    /// RM: removes the subtree; fine if absent as long as the parent exists.
    fn rm(&self, path: &str) -> Result<(), XsError> {
        let (c, tx) = self.scope();
        c.xs.state().rm(c.id, tx, path)
    }

    /// DIRECTORY: child names in creation order (the whole list, whatever its size).
    fn directory(&self, path: &str) -> Result<Vec<String>, XsError> {
        let (c, tx) = self.scope();
        c.xs.state().directory(c.id, tx, path)
    }

    /// DIRECTORY_PART from byte `offset` of the NUL-separated child list.
    fn directory_part(&self, path: &str, offset: usize) -> Result<DirectoryPart, XsError> {
        let (c, tx) = self.scope();
        c.xs.state().directory_part(c.id, tx, path, offset)
    }

    /// GET_PERMS; `path` may be `@introduceDomain` / `@releaseDomain`.
    fn get_perms(&self, path: &str) -> Result<Vec<Perm>, XsError> {
        let (c, tx) = self.scope();
        c.xs.state().get_perms(c.id, tx, path)
    }

    /// SET_PERMS: the owner (or dom0) only; a guest may not change the owner (EPERM).
    fn set_perms(&self, path: &str, perms: &[Perm]) -> Result<(), XsError> {
        let (c, tx) = self.scope();
        c.xs.state().set_perms(c.id, tx, path, perms)
    }

    /// Whether the node exists and is readable.
    fn exists(&self, path: &str) -> Result<bool, XsError> {
        match self.read(path) {
            Ok(_) => Ok(true),
            Err(XsError::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl StoreOps for LocalConnection {
    fn scope(&self) -> (&LocalConnection, u32) {
        (self, 0)
    }
}

impl StoreOps for Transaction<'_> {
    fn scope(&self) -> (&LocalConnection, u32) {
        (self.conn, self.id)
    }
}
