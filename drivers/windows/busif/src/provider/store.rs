//! Store sessions: each child gets what looks like its own xenstore connection, multiplexed onto
//! XENBUS's one client.
//!
//! A child sends whole xenstore request messages and reads back whole messages, so its side is an
//! ordinary [`xenpv_control::xs::client::Client`] over a transport (the control plane's device
//! machines run on it unchanged). Here each request is validated by decoding it, then forwarded on
//! XENBUS's client, and the reply is queued for the session under the child's own req_id. Three
//! things are per session and kept apart: watch tokens (registered on xenstored with the session
//! id in front and routed back by it), transaction ids (a session may only use those it started),
//! and RESET_WATCHES (which resets the session, not XENBUS's whole connection).

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::c_void;

use xenpv_control::xs::client::{Client, Error as ClientError, Transport};
use xenpv_control::xs::wire::{
    Header, Message, MsgType, Request, Response, HEADER_LEN, PAYLOAD_MAX,
};
use xenpv_control::xs::XsError;

use crate::abi::StoreNotifyFn;
use crate::error::BusError;

/// Watch events a session may have waiting; one beyond this is dropped and counted (the child
/// re-reads what it watches anyway, and a child that never reads must not exhaust the pool).
pub const MAX_QUEUED_EVENTS: usize = 64;

/// Replies a session may have unread: a request beyond this is refused with
/// [`BusError::QueueFull`]. A client collects each reply before sending the next request, so only
/// a broken child reaches it.
pub const MAX_QUEUED_REPLIES: usize = 16;

/// Largest message a session sends or receives.
pub const MAX_MESSAGE: usize = HEADER_LEN + PAYLOAD_MAX;

/// Who to tell that a session has a message.
#[derive(Clone, Copy)]
pub(crate) struct Notify {
    callback: StoreNotifyFn,
    context: *mut c_void,
}

impl Notify {
    pub(crate) fn new(callback: StoreNotifyFn, context: *mut c_void) -> Self {
        Notify { callback, context }
    }

    pub(crate) fn call(self) {
        // SAFETY: the session's opener promised the callback may be called with its context until
        // it closes the session.
        unsafe { (self.callback)(self.context) }
    }
}

// SAFETY: the opener's context is used only to call its callback, from any thread, as promised.
unsafe impl Send for Notify {}

#[derive(Default)]
struct Session {
    notify: Option<Notify>,
    /// Messages to read, each marked whether it is a reply (else a watch event).
    queue: VecDeque<(bool, Vec<u8>)>,
    replies: usize,
    /// (path, the child's token), as registered.
    watches: Vec<(String, String)>,
    transactions: BTreeSet<u32>,
    /// Transactions the session had open when the domain resumed: xenstored forgot them.
    lost_transactions: BTreeSet<u32>,
    dropped_events: u64,
}

pub(crate) struct StoreMux<T: Transport> {
    client: Client<T>,
    sessions: BTreeMap<u64, Session>,
    next_id: u64,
}

/// The token a session's watch is registered with on xenstored.
fn wire_token(session: u64, token: &str) -> String {
    format!("{session}:{token}")
}

/// The session and the child's token of a token registered by [`wire_token`].
fn split_token(token: &str) -> Option<(u64, &str)> {
    let (id, rest) = token.split_once(':')?;
    Some((id.parse().ok()?, rest))
}

/// Frames one child message: exactly a header and the payload it announces.
fn frame(bytes: &[u8]) -> Result<Message, BusError> {
    let (head, payload) = bytes
        .split_first_chunk::<HEADER_LEN>()
        .ok_or(BusError::BadMessage)?;
    let header = Header::from_bytes(head);
    if payload.len() > PAYLOAD_MAX || header.len as usize != payload.len() {
        return Err(BusError::BadMessage);
    }
    Ok(Message {
        header,
        payload: payload.into(),
    })
}

impl<T: Transport> StoreMux<T> {
    pub(crate) fn new(client: Client<T>) -> Self {
        StoreMux {
            client,
            sessions: BTreeMap::new(),
            next_id: 1,
        }
    }

    pub(crate) fn open(&mut self, notify: Option<Notify>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.sessions.insert(
            id,
            Session {
                notify,
                ..Session::default()
            },
        );
        id
    }

    /// Removes the session's watches and aborts its transactions on xenstored, then forgets it.
    pub(crate) fn close(&mut self, id: u64) -> Result<(), BusError> {
        let s = self
            .sessions
            .remove(&id)
            .ok_or(BusError::InvalidParameter)?;
        // Best effort: on a dead connection there is nothing left to undo.
        for (path, token) in s.watches {
            let _ = self.client.unwatch(&path, &wire_token(id, &token));
        }
        for tx in s.transactions {
            let _ = self
                .client
                .request(&Request::TransactionEnd { commit: false }, tx);
        }
        Ok(())
    }

    /// Handles one request of session `id`; returns the sessions to notify (once the lock is
    /// dropped).
    pub(crate) fn send(&mut self, id: u64, bytes: &[u8]) -> Result<Vec<Notify>, BusError> {
        let session = self.sessions.get(&id).ok_or(BusError::InvalidParameter)?;
        if session.replies >= MAX_QUEUED_REPLIES {
            return Err(BusError::QueueFull);
        }
        let msg = frame(bytes)?;
        let req = Request::decode(&msg).map_err(|_| BusError::BadMessage)?;
        let (req_id, tx) = (msg.header.req_id, msg.header.tx_id);
        let reply = self.forward(id, req, tx)?;
        let reply = match reply {
            Ok(r) => r,
            Err(e) => Response::Error(e),
        };
        let bytes = reply
            .to_message(req_id, tx)
            .map_err(|_| BusError::BadMessage)?
            .to_bytes();
        let mut notify = self.route_events();
        let session = self
            .sessions
            .get_mut(&id)
            .ok_or(BusError::InvalidParameter)?;
        session.queue.push_back((true, bytes));
        session.replies += 1;
        notify.extend(session.notify);
        Ok(notify)
    }

    /// Runs `req` for session `id` on XENBUS's client. The outer error is a failure of the bus
    /// itself; the inner one is xenstored's (or our) answer to the child.
    fn forward(
        &mut self,
        id: u64,
        req: Request,
        tx: u32,
    ) -> Result<Result<Response, XsError>, BusError> {
        let session = self
            .sessions
            .get_mut(&id)
            .ok_or(BusError::InvalidParameter)?;
        if tx != 0 && session.lost_transactions.contains(&tx) {
            // Gone with the connection before the resume: EAGAIN, as for a conflict, makes the
            // child's transaction loop run it again; its end is the last use of the id.
            if matches!(req, Request::TransactionEnd { .. }) {
                session.lost_transactions.remove(&tx);
            }
            return Ok(Err(XsError::EAGAIN));
        }
        if tx != 0 && !session.transactions.contains(&tx) {
            // Another session's (or no) transaction: xenstored's answer to an unknown one.
            return Ok(Err(XsError::ENOENT));
        }
        let answer = match req {
            Request::Watch { path, token } => {
                let r = self.client.watch(&path, &wire_token(id, &token));
                if r.is_ok() {
                    session.watches.push((path, token));
                }
                r.map(|()| Response::Ok(MsgType::Watch))
            }
            Request::Unwatch { path, token } => {
                let r = self.client.unwatch(&path, &wire_token(id, &token));
                if r.is_ok() {
                    session
                        .watches
                        .retain(|w| *w != (path.clone(), token.clone()));
                }
                r.map(|()| Response::Ok(MsgType::Unwatch))
            }
            Request::ResetWatches => {
                for (path, token) in core::mem::take(&mut session.watches) {
                    let _ = self.client.unwatch(&path, &wire_token(id, &token));
                }
                for t in core::mem::take(&mut session.transactions) {
                    let _ = self
                        .client
                        .request(&Request::TransactionEnd { commit: false }, t);
                }
                Ok(Response::Ok(MsgType::ResetWatches))
            }
            Request::TransactionStart => {
                let r = self.client.request(&Request::TransactionStart, 0);
                if let Ok(Response::TransactionStart(t)) = r {
                    session.transactions.insert(t);
                }
                r
            }
            Request::TransactionEnd { commit } => {
                // Ended either way: xenstored forgets a transaction whose end failed too.
                session.transactions.remove(&tx);
                self.client.request(&Request::TransactionEnd { commit }, tx)
            }
            other => self.client.request(&other, tx),
        };
        match answer {
            Ok(r) => Ok(Ok(r)),
            Err(ClientError::Xs(e)) => Ok(Err(e)),
            Err(ClientError::TokenInUse) => Ok(Err(XsError::EEXIST)),
            Err(e) if e.is_fatal() => Err(BusError::StoreFailed),
            // A reply XENBUS's client could not use: the request failed, the connection did not.
            Err(_) => Ok(Err(XsError::EIO)),
        }
    }

    /// Reads what xenstored sent without waiting and routes the watch events; returns the sessions
    /// to notify.
    pub(crate) fn poll(&mut self) -> Result<Vec<Notify>, BusError> {
        self.client.process_pending().map_err(|e| {
            if e.is_fatal() {
                BusError::StoreFailed
            } else {
                BusError::BadMessage
            }
        })?;
        Ok(self.route_events())
    }

    /// Moves every queued watch event of XENBUS's client to its session, with the child's token.
    fn route_events(&mut self) -> Vec<Notify> {
        let mut notify = Vec::new();
        while let Some(ev) = self.client.try_event() {
            let Some((id, token)) = split_token(&ev.token) else {
                continue;
            };
            let Some(session) = self.sessions.get_mut(&id) else {
                continue;
            };
            if session.queue.len() - session.replies >= MAX_QUEUED_EVENTS {
                session.dropped_events += 1;
                continue;
            }
            let event = Response::WatchEvent {
                path: ev.path.clone(),
                token: token.into(),
            };
            // An event that fitted in xenstored's message fits again with a shorter token.
            if let Ok(m) = event.to_message(0, 0) {
                session.queue.push_back((false, m.to_bytes()));
                notify.extend(session.notify);
            }
        }
        notify
    }

    /// Takes the session's oldest message into `buf`; returns its length.
    pub(crate) fn recv(&mut self, id: u64, buf: &mut [u8]) -> Result<usize, BusError> {
        let session = self
            .sessions
            .get_mut(&id)
            .ok_or(BusError::InvalidParameter)?;
        let (reply, msg) = session.queue.front().ok_or(BusError::Empty)?;
        let out = buf
            .get_mut(..msg.len())
            .ok_or(BusError::BufferTooSmall(msg.len()))?;
        out.copy_from_slice(msg);
        let n = msg.len();
        if *reply {
            session.replies -= 1;
        }
        session.queue.pop_front();
        Ok(n)
    }

    /// Watch events dropped because the session's queue was full.
    pub(crate) fn dropped_events(&self, id: u64) -> Option<u64> {
        self.sessions.get(&id).map(|s| s.dropped_events)
    }
}

impl<T: Transport> StoreMux<T> {
    /// After the domain resumed (XENBUS's client idle: the caller holds the mux): xenstored — on
    /// another host after a migration — knows none of this connection's watches or transactions,
    /// as Linux's xs_resume assumes. RESET_WATCHES makes that so on any xenstored (and clears the
    /// client's own watch table); then every session's watches are registered again under their
    /// wire tokens, and xenstored fires each once, so a child re-reads what it watches. The
    /// sessions' open transactions are marked lost. A watch xenstored now refuses is dropped
    /// from its session (its child sees no event for it and finds out on its next read); a
    /// failing connection is [`BusError::StoreFailed`].
    pub(crate) fn resume(&mut self) -> Result<(), BusError> {
        self.client
            .reset_watches()
            .map_err(|_| BusError::StoreFailed)?;
        for (&id, session) in self.sessions.iter_mut() {
            let open = core::mem::take(&mut session.transactions);
            session.lost_transactions.extend(open);
            let mut kept = Vec::new();
            for (path, token) in core::mem::take(&mut session.watches) {
                match self.client.watch(&path, &wire_token(id, &token)) {
                    Ok(()) => kept.push((path, token)),
                    Err(e) if e.is_fatal() => return Err(BusError::StoreFailed),
                    Err(_) => {}
                }
            }
            session.watches = kept;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_the_session_and_come_back_whole() {
        assert_eq!(split_token(&wire_token(7, "a:b")), Some((7, "a:b")));
        assert_eq!(split_token("nocolon"), None);
        assert_eq!(split_token("x:tok"), None);
    }

    #[test]
    fn framing_wants_exactly_the_announced_payload() {
        let m = Request::Read { path: "a".into() }
            .to_message(3, 0)
            .unwrap()
            .to_bytes();
        assert_eq!(frame(&m).unwrap().header.req_id, 3);
        assert_eq!(frame(&m[..m.len() - 1]).err(), Some(BusError::BadMessage));
        assert_eq!(frame(&m[..10]).err(), Some(BusError::BadMessage));
        let mut long = m.clone();
        long.push(0);
        assert_eq!(frame(&long).err(), Some(BusError::BadMessage));
        // A header announcing more than xenstore allows, with that many bytes behind it.
        let mut huge = Header {
            msg_type: MsgType::Write.as_u32(),
            req_id: 1,
            tx_id: 0,
            len: (PAYLOAD_MAX + 1) as u32,
        }
        .to_bytes()
        .to_vec();
        huge.resize(HEADER_LEN + PAYLOAD_MAX + 1, b'a');
        assert_eq!(frame(&huge).err(), Some(BusError::BadMessage));
    }
}
