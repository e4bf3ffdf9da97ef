//! What one open handle of the device owns, and the operations on it: the transactions it
//! started, its watches, its event channels and its grants. Everything is released when the
//! handle is cleaned up ([`Session::close`]), so a process that dies leaves nothing behind in
//! xenstore, the event channel table or the grant table.
//!
//! The kernel's part is behind two traits: [`StoreConn`] (the xenstore connection, shared by every
//! handle, so watch tokens carry the session id) and [`Home`] (user event objects, event
//! channels, grants). The driver implements them over XENBUS's interface; the tests over the sim.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use xenpv_abi::{DomId, EvtchnPort, GrantRef};
use xenpv_control::xs::client::{Client, Error as StoreError, Store, Transport};
use xenpv_control::xs::wire::{MsgType, Request as XsRequest, Response};
use xenpv_datapath::platform::PlatformError;

use crate::error::OpError;
use crate::request::Request;

/// Most transactions one handle may have open.
pub const MAX_TRANSACTIONS: usize = 16;
/// Most watches one handle may have.
pub const MAX_WATCHES: usize = 64;
/// Most event channels one handle may have bound.
pub const MAX_PORTS: usize = 64;
/// Most grants (each up to [`MAX_GRANT_PAGES`] pages) one handle may have.
pub const MAX_GRANTS: usize = 64;
/// Most pages one grant may span.
pub const MAX_GRANT_PAGES: usize = 256;
/// Most firings of event-less watches kept for `WatchWait`; more are counted and dropped (a watch
/// says "look again", so the newest firings of a path are the ones that matter little).
pub const MAX_FIRED: usize = 256;

/// A xenstore connection that can carry a request inside any transaction.
pub trait StoreConn {
    /// Sends `req` in transaction `tx` (0: none) and waits for the answer.
    fn request(&mut self, req: &XsRequest, tx: u32) -> Result<Response, StoreError>;
    /// Registers a watch; its events carry `token`.
    fn watch(&mut self, path: &str, token: &str) -> Result<(), StoreError>;
    fn unwatch(&mut self, path: &str, token: &str) -> Result<(), StoreError>;
}

impl<T: Transport> StoreConn for Client<T> {
    fn request(&mut self, req: &XsRequest, tx: u32) -> Result<Response, StoreError> {
        Client::request(self, req, tx)
    }

    fn watch(&mut self, path: &str, token: &str) -> Result<(), StoreError> {
        Client::watch(self, path, token)
    }

    fn unwatch(&mut self, path: &str, token: &str) -> Result<(), StoreError> {
        Client::unwatch(self, path, token)
    }
}

/// A connection seen through one transaction (0: none), so that the control plane's `Store`
/// operations (and their handling of long directory listings) serve every transaction.
pub struct InTx<'c, S: StoreConn> {
    conn: &'c mut S,
    tx: u32,
}

impl<'c, S: StoreConn> InTx<'c, S> {
    pub fn new(conn: &'c mut S, tx: u32) -> Self {
        InTx { conn, tx }
    }
}

impl<S: StoreConn> Store for InTx<'_, S> {
    fn call(&mut self, req: XsRequest) -> Result<Response, StoreError> {
        self.conn.request(&req, self.tx)
    }
}

/// A grant reference the remote domain still maps; it was not ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantInUse;

/// The kernel services a session uses.
pub trait Home {
    /// A user event object, referenced (kept alive) while the session uses it.
    type Event;
    /// References the event behind a user handle; fails for a handle that is not an event the
    /// caller may set.
    fn reference_event(&mut self, handle: u64) -> Result<Self::Event, OpError>;
    /// Drops the reference.
    fn release_event(&mut self, event: Self::Event);
    /// Sets the event.
    fn signal(&mut self, event: &Self::Event);
    /// Allocates a port for `remote` whose events set `event`.
    fn alloc_unbound(
        &mut self,
        remote: DomId,
        event: &Self::Event,
    ) -> Result<EvtchnPort, PlatformError>;
    /// Binds to `remote`'s `remote_port`; events set `event`.
    fn bind_interdomain(
        &mut self,
        remote: DomId,
        remote_port: EvtchnPort,
        event: &Self::Event,
    ) -> Result<EvtchnPort, PlatformError>;
    fn notify(&mut self, port: EvtchnPort) -> Result<(), PlatformError>;
    /// Closes the port; when this returns no event of it will set its event any more.
    fn close(&mut self, port: EvtchnPort);
    /// Grants guest frame `gfn` to `domid`.
    fn grant_frame(
        &mut self,
        domid: DomId,
        gfn: u64,
        read_only: bool,
    ) -> Result<GrantRef, PlatformError>;
    /// Ends a grant, unless the remote domain still maps the page.
    fn end_grant(&mut self, gref: GrantRef) -> Result<(), GrantInUse>;
}

/// What a successful operation answers (owned; [`Answer::reply`] borrows it for encoding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Empty,
    U32(u32),
    Bytes(Vec<u8>),
    Names(Vec<String>),
    WatchFired {
        watch: u32,
        path: String,
    },
    Refs(Vec<GrantRef>),
    /// Nothing to answer yet: the request waits (pended) until [`Session::on_watch_event`] has
    /// something for it.
    Wait,
}

impl Answer {
    /// The reply to encode; `None` for [`Answer::Wait`].
    pub fn reply(&self) -> Option<crate::reply::Reply<'_>> {
        use crate::reply::Reply;
        Some(match self {
            Answer::Empty => Reply::Empty,
            Answer::U32(v) => Reply::U32(*v),
            Answer::Bytes(b) => Reply::Bytes(b),
            Answer::Names(n) => Reply::Names(n),
            Answer::WatchFired { watch, path } => Reply::WatchFired {
                watch: *watch,
                path,
            },
            Answer::Refs(r) => Reply::Refs(r),
            Answer::Wait => return None,
        })
    }
}

struct Watch<E> {
    path: String,
    token: String,
    event: Option<E>,
}

/// The grants of one `GrantAccess` request, and the request itself (`lease`: the pended IRP that
/// keeps the pages locked).
pub struct Grant<L> {
    /// References not yet ended, in page order.
    pub refs: Vec<GrantRef>,
    pub lease: L,
}

impl<L> Grant<L> {
    /// Ends every reference it can; `Ok(lease)` once none is left (the pages may be let go).
    pub fn end<H: Home>(mut self, home: &mut H) -> Result<L, Grant<L>> {
        self.refs.retain(|&gref| home.end_grant(gref).is_err());
        if self.refs.is_empty() {
            Ok(self.lease)
        } else {
            Err(self)
        }
    }
}

/// How a watch firing was handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fired {
    /// The watch's event was set.
    Signalled,
    /// Queued for `WatchWait`: the driver completes a waiting request with [`Session::next_fired`].
    Queued,
    /// The queue was full; the firing was dropped.
    Dropped,
    /// Not a watch of this session (or one removed since).
    NotOurs,
}

/// Why a grant failed; `lease` comes back unless refs that could not be ended keep it.
pub struct GrantFailed<L> {
    pub error: OpError,
    pub lease: Option<L>,
}

/// What [`Session::close`] leaves for the driver.
pub struct Closed<L> {
    /// Grants fully ended: their requests can complete.
    pub released: Vec<L>,
    /// Grants a remote domain still maps: their pages must stay locked until [`Grant::end`]
    /// succeeds (the driver keeps them and tries again later).
    pub stuck: Vec<Grant<L>>,
}

/// One open handle.
pub struct Session<E, L> {
    id: u32,
    transactions: BTreeSet<u32>,
    watches: BTreeMap<u32, Watch<E>>,
    next_watch: u32,
    fired: VecDeque<(u32, String)>,
    dropped: u64,
    ports: BTreeMap<EvtchnPort, E>,
    grants: BTreeMap<u32, Grant<L>>,
}

const TOKEN_PREFIX: &str = "xeniface/";

/// The session and watch a token names, if it is one of ours.
pub fn parse_token(token: &str) -> Option<(u32, u32)> {
    let (session, watch) = token.strip_prefix(TOKEN_PREFIX)?.split_once('/')?;
    let number = |s: &str| {
        // Exactly the decimal form `token()` writes: no sign, no leading zeros.
        (!s.is_empty()
            && s.bytes().all(|b| b.is_ascii_digit())
            && (s == "0" || !s.starts_with('0')))
        .then(|| s.parse().ok())
        .flatten()
    };
    Some((number(session)?, number(watch)?))
}

fn token(session: u32, watch: u32) -> String {
    // Written into the String directly: `format!` would pull in alloc's precompiled formatter,
    // whose unwind tables need a C++ exception personality a kernel image does not have.
    let mut t = String::new();
    let _ = write!(t, "{TOKEN_PREFIX}{session}/{watch}");
    t
}

pub(crate) fn unexpected(expected: MsgType, got: &Response) -> OpError {
    OpError::Store(StoreError::UnexpectedReply {
        expected,
        got: got.msg_type().as_u32(),
    })
}

/// An `OK` acknowledging a request of type `t`.
fn ack(r: Response, t: MsgType) -> Result<Answer, OpError> {
    match r {
        Response::Ok(acked) if acked == t => Ok(Answer::Empty),
        other => Err(unexpected(t, &other)),
    }
}

impl<E, L> Session<E, L> {
    /// A handle's session; `id` must be unique among the device's open sessions (it is part of
    /// every watch token).
    pub fn new(id: u32) -> Self {
        Session {
            id,
            transactions: BTreeSet::new(),
            watches: BTreeMap::new(),
            next_watch: 1,
            fired: VecDeque::new(),
            dropped: 0,
            ports: BTreeMap::new(),
            grants: BTreeMap::new(),
        }
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    /// Firings dropped because [`MAX_FIRED`] were queued.
    pub fn dropped_firings(&self) -> u64 {
        self.dropped
    }

    fn check_tx(&self, tx: u32) -> Result<u32, OpError> {
        if tx == 0 || self.transactions.contains(&tx) {
            Ok(tx)
        } else {
            Err(OpError::NoSuchTransaction(tx))
        }
    }

    /// Runs one decoded request. `GrantAccess` and `AgentWaitAction` are not session operations
    /// (see [`Session::grant`] and the agent) and are refused here.
    pub fn execute<S: StoreConn, H: Home<Event = E>>(
        &mut self,
        request: Request<'_>,
        store: &mut S,
        home: &mut H,
    ) -> Result<Answer, OpError> {
        match request {
            Request::StoreRead { tx, path } => {
                let mut store = InTx::new(store, self.check_tx(tx)?);
                Ok(Answer::Bytes(store.read(path)?))
            }
            Request::StoreWrite { tx, path, value } => {
                InTx::new(store, self.check_tx(tx)?).write(path, value)?;
                Ok(Answer::Empty)
            }
            Request::StoreDirectory { tx, path } => {
                // Lists too long for one reply come in DIRECTORY_PART pieces (the Store trait).
                let mut store = InTx::new(store, self.check_tx(tx)?);
                Ok(Answer::Names(store.directory(path)?))
            }
            Request::StoreRemove { tx, path } => {
                InTx::new(store, self.check_tx(tx)?).rm(path)?;
                Ok(Answer::Empty)
            }
            Request::TransactionStart => {
                if self.transactions.len() >= MAX_TRANSACTIONS {
                    return Err(OpError::TooMany("transactions"));
                }
                match store.request(&XsRequest::TransactionStart, 0)? {
                    Response::TransactionStart(tx) => {
                        self.transactions.insert(tx);
                        Ok(Answer::U32(tx))
                    }
                    other => Err(unexpected(MsgType::TransactionStart, &other)),
                }
            }
            Request::TransactionEnd { tx, commit } => {
                if tx == 0 || !self.transactions.remove(&tx) {
                    return Err(OpError::NoSuchTransaction(tx));
                }
                // Whatever the answer, xenstored has ended the transaction (a failed commit
                // included), so it is no longer this handle's.
                ack(
                    store.request(&XsRequest::TransactionEnd { commit }, tx)?,
                    MsgType::TransactionEnd,
                )
            }
            Request::WatchAdd { event, path } => {
                if self.watches.len() >= MAX_WATCHES {
                    return Err(OpError::TooMany("watches"));
                }
                let event = event.map(|h| home.reference_event(h)).transpose()?;
                let id = self.next_watch;
                let token = token(self.id, id);
                if let Err(e) = store.watch(path, &token) {
                    if let Some(event) = event {
                        home.release_event(event);
                    }
                    return Err(e.into());
                }
                self.next_watch = self.next_watch.wrapping_add(1).max(1);
                self.watches.insert(
                    id,
                    Watch {
                        path: path.into(),
                        token,
                        event,
                    },
                );
                Ok(Answer::U32(id))
            }
            Request::WatchRemove { watch } => {
                let w = self
                    .watches
                    .remove(&watch)
                    .ok_or(OpError::NoSuchWatch(watch))?;
                self.fired.retain(|(id, _)| *id != watch);
                let result = store.unwatch(&w.path, &w.token);
                if let Some(event) = w.event {
                    home.release_event(event);
                }
                result.map(|()| Answer::Empty).map_err(OpError::from)
            }
            Request::WatchWait => Ok(self.next_fired().unwrap_or(Answer::Wait)),
            Request::EvtchnBindInterdomain {
                remote_domain,
                remote_port,
                event,
            } => self.bind(home, event, |home, event| {
                home.bind_interdomain(remote_domain, remote_port, event)
            }),
            Request::EvtchnAllocUnbound {
                remote_domain,
                event,
            } => self.bind(home, event, |home, event| {
                home.alloc_unbound(remote_domain, event)
            }),
            Request::EvtchnNotify { port } => {
                if !self.ports.contains_key(&port) {
                    return Err(OpError::NoSuchPort(port));
                }
                home.notify(port)?;
                Ok(Answer::Empty)
            }
            Request::EvtchnClose { port } => {
                let event = self.ports.remove(&port).ok_or(OpError::NoSuchPort(port))?;
                home.close(port);
                home.release_event(event);
                Ok(Answer::Empty)
            }
            Request::GrantRefs { id } => {
                let grant = self.grants.get(&id).ok_or(OpError::NoSuchGrant(id))?;
                Ok(Answer::Refs(grant.refs.clone()))
            }
            Request::GrantAccess { .. }
            | Request::GrantRevoke { .. }
            | Request::AgentWaitAction
            | Request::SuspendCount => Err(OpError::NotASessionRequest),
        }
    }

    fn bind<H: Home<Event = E>>(
        &mut self,
        home: &mut H,
        handle: u64,
        bind: impl FnOnce(&mut H, &E) -> Result<EvtchnPort, PlatformError>,
    ) -> Result<Answer, OpError> {
        if self.ports.len() >= MAX_PORTS {
            return Err(OpError::TooMany("event channels"));
        }
        let event = home.reference_event(handle)?;
        match bind(home, &event) {
            Ok(port) => {
                self.ports.insert(port, event);
                Ok(Answer::U32(port))
            }
            Err(e) => {
                home.release_event(event);
                Err(e.into())
            }
        }
    }

    /// The oldest queued firing, as the answer to a `WatchWait`.
    pub fn next_fired(&mut self) -> Option<Answer> {
        self.fired
            .pop_front()
            .map(|(watch, path)| Answer::WatchFired { watch, path })
    }

    /// A watch event with `token` arrived for `path`.
    pub fn on_watch_event<H: Home<Event = E>>(
        &mut self,
        token: &str,
        path: &str,
        home: &mut H,
    ) -> Fired {
        let Some((session, id)) = parse_token(token) else {
            return Fired::NotOurs;
        };
        let Some(watch) = self.watches.get(&id).filter(|_| session == self.id) else {
            return Fired::NotOurs;
        };
        match &watch.event {
            Some(event) => {
                home.signal(event);
                Fired::Signalled
            }
            None if self.fired.len() >= MAX_FIRED => {
                self.dropped += 1;
                Fired::Dropped
            }
            None => {
                self.fired.push_back((id, path.into()));
                Fired::Queued
            }
        }
    }

    /// Grants the frames `gfns` (the locked pages of a `GrantAccess` request) to `domid` under
    /// `id`; `lease` is kept until [`Session::revoke`] or [`Session::close`] gives it back.
    pub fn grant<H: Home<Event = E>>(
        &mut self,
        home: &mut H,
        id: u32,
        domid: DomId,
        read_only: bool,
        gfns: &[u64],
        lease: L,
    ) -> Result<(), GrantFailed<L>> {
        let fail = |error, lease| {
            Err(GrantFailed {
                error,
                lease: Some(lease),
            })
        };
        if self.grants.contains_key(&id) {
            return fail(OpError::GrantIdInUse(id), lease);
        }
        if self.grants.len() >= MAX_GRANTS {
            return fail(OpError::TooMany("grants"), lease);
        }
        if gfns.is_empty() || gfns.len() > MAX_GRANT_PAGES {
            return fail(OpError::TooMany("pages in one grant"), lease);
        }
        let mut refs = Vec::with_capacity(gfns.len());
        for &gfn in gfns {
            match home.grant_frame(domid, gfn, read_only) {
                Ok(gref) => refs.push(gref),
                Err(e) => {
                    // Nobody has been told these references, but a remote domain could guess
                    // them: end what can be ended, keep the rest (and the pages) under `id`.
                    return match (Grant { refs, lease }).end(home) {
                        Ok(lease) => fail(e.into(), lease),
                        Err(stuck) => {
                            self.grants.insert(id, stuck);
                            Err(GrantFailed {
                                error: e.into(),
                                lease: None,
                            })
                        }
                    };
                }
            }
        }
        self.grants.insert(id, Grant { refs, lease });
        Ok(())
    }

    /// Ends grant `id`: its lease comes back once every page is free; while the remote domain
    /// still maps one, [`OpError::GrantInUse`] (the grant stays, with the pages still in use).
    pub fn revoke<H: Home<Event = E>>(&mut self, home: &mut H, id: u32) -> Result<L, OpError> {
        let grant = self.grants.remove(&id).ok_or(OpError::NoSuchGrant(id))?;
        grant.end(home).map_err(|stuck| {
            self.grants.insert(id, stuck);
            OpError::GrantInUse
        })
    }

    /// The grant whose lease is `lease`, if this session has it.
    pub fn grant_with_lease(&self, lease: &L) -> Option<u32>
    where
        L: PartialEq,
    {
        self.grants
            .iter()
            .find(|(_, g)| g.lease == *lease)
            .map(|(id, _)| *id)
    }

    /// Releases everything the handle owns: aborts its transactions, removes its watches, closes
    /// its ports, drops its events and ends its grants. Store failures do not stop the release
    /// (a transaction or watch the connection lost is gone anyway).
    pub fn close<S: StoreConn, H: Home<Event = E>>(self, store: &mut S, home: &mut H) -> Closed<L> {
        for tx in self.transactions {
            let _ = store.request(&XsRequest::TransactionEnd { commit: false }, tx);
        }
        for (_, watch) in self.watches {
            let _ = store.unwatch(&watch.path, &watch.token);
            if let Some(event) = watch.event {
                home.release_event(event);
            }
        }
        for (port, event) in self.ports {
            home.close(port);
            home.release_event(event);
        }
        let mut closed = Closed {
            released: Vec::new(),
            stuck: Vec::new(),
        };
        for (_, grant) in self.grants {
            match grant.end(home) {
                Ok(lease) => closed.released.push(lease),
                Err(stuck) => closed.stuck.push(stuck),
            }
        }
        closed
    }
}

#[cfg(test)]
mod tests;
