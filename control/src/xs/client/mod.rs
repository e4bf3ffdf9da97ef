//! The xenstore client: requests in flight matched by req_id, watches with per-token event queues,
//! transactions retried on EAGAIN.
//!
//! Blocking comes from the [`Transport`]: with the ring it is the home's event-channel wait hook,
//! with a stream it is the stream's blocking read.

mod store;
mod transport;

pub use store::Store;
#[cfg(any(test, feature = "std"))]
pub use transport::IoStream;
pub use transport::{ByteStream, Reconnect, RingSignal, RingTransport, StreamTransport, Transport};

use super::error::XsError;
use super::ring::RingError;
use super::wire::{DecodeError, EncodeError, Message, MsgType, Request, Response};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;

/// How often [`Client::transaction`] runs its body before giving up on EAGAIN.
pub const MAX_TRANSACTION_ATTEMPTS: u32 = 16;

/// Why a client operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// xenstored answered with this error. The connection is fine.
    Xs(XsError),
    /// The request cannot be put on the wire (bad path, too long). Nothing was sent.
    Encode(EncodeError),
    /// A reply to our request is malformed; only that request failed. As a connection failure
    /// ([`Error::is_fatal`]) it means the byte stream itself could not be framed.
    Decode(DecodeError),
    /// The reply to a request has another type than the request (and is not ERROR).
    UnexpectedReply { expected: MsgType, got: u32 },
    /// A reply names a req_id that has no request in flight: the peer is out of step with us.
    UnknownReqId(u32),
    /// [`Client::wait`] for an id that is not in flight (never submitted or already collected).
    NotInFlight(u32),
    /// [`Client::watch`] with a token another watch of this client uses.
    TokenInUse,
    /// The ring page failed (bad index, server-reported error).
    Ring(RingError),
    /// The stream failed with this OS error number (-1 if unknown).
    Io(i32),
    /// The peer closed the stream.
    Closed,
    /// A watch event that cannot be parsed: it belongs to no watch, so the server is broken.
    BadWatchEvent(DecodeError),
    /// A transaction kept failing with EAGAIN.
    TransactionRetries(u32),
}

impl Error {
    /// Whether the connection is unusable after this error. The client then fails every further
    /// call with the same error; the owner reconnects.
    pub fn is_fatal(&self) -> bool {
        match self {
            // Asking for an unsupported reset leaves the connection as it was.
            Error::Ring(r) => *r != RingError::ReconnectUnsupported,
            Error::Io(_) | Error::Closed | Error::UnknownReqId(_) | Error::BadWatchEvent(_) => true,
            Error::Decode(d) => d.is_fatal() || *d == DecodeError::Truncated,
            Error::Xs(_)
            | Error::NotInFlight(_)
            | Error::TokenInUse
            | Error::Encode(_)
            | Error::UnexpectedReply { .. }
            | Error::TransactionRetries(_) => false,
        }
    }
}

/// A watch firing: `path` changed, matching the watch registered with `token`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    pub path: String,
    pub token: String,
}

/// Identifies a request in flight ([`Client::submit`] / [`Client::wait`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReqId(pub u32);

/// A xenstore connection.
#[derive(Debug)]
pub struct Client<T: Transport> {
    transport: T,
    next_req_id: u32,
    /// req_id → type of the request, for requests whose reply has not arrived.
    in_flight: BTreeMap<u32, MsgType>,
    /// req_id → reply, for replies not yet collected by `wait`.
    replies: BTreeMap<u32, Result<Response, Error>>,
    /// token → watched path.
    watches: BTreeMap<String, String>,
    events: VecDeque<WatchEvent>,
    failed: Option<Error>,
}

impl<T: Transport> Client<T> {
    pub fn new(transport: T) -> Self {
        Client {
            transport,
            next_req_id: 1,
            in_flight: BTreeMap::new(),
            replies: BTreeMap::new(),
            watches: BTreeMap::new(),
            events: VecDeque::new(),
            failed: None,
        }
    }

    /// The fatal error the connection died of, if it did.
    pub fn failure(&self) -> Option<Error> {
        self.failed
    }

    /// Records a fatal error: every later call fails with it.
    fn check(&mut self, e: Error) -> Error {
        if e.is_fatal() && self.failed.is_none() {
            self.failed = Some(e);
        }
        e
    }

    /// Sends `req` in transaction `tx_id` (0: none) without waiting; collect the reply with
    /// [`Client::wait`]. Several requests may be in flight.
    pub fn submit(&mut self, req: &Request, tx_id: u32) -> Result<ReqId, Error> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        // Skip 0 (watch events carry it) and any id still in use after a wrap.
        while self.next_req_id == 0
            || self.in_flight.contains_key(&self.next_req_id)
            || self.replies.contains_key(&self.next_req_id)
        {
            self.next_req_id = self.next_req_id.wrapping_add(1);
        }
        let id = self.next_req_id;
        let msg = req.to_message(id, tx_id).map_err(Error::Encode)?;
        self.transport.send(&msg).map_err(|e| self.check(e))?;
        self.next_req_id = id.wrapping_add(1);
        self.in_flight.insert(id, req.msg_type());
        Ok(ReqId(id))
    }

    /// Waits for the reply to `id`, queueing watch events and other replies that arrive first.
    pub fn wait(&mut self, id: ReqId) -> Result<Response, Error> {
        loop {
            if let Some(reply) = self.replies.remove(&id.0) {
                return reply;
            }
            if !self.in_flight.contains_key(&id.0) {
                // Never submitted, or already collected.
                return Err(Error::NotInFlight(id.0));
            }
            if let Some(e) = self.failed {
                return Err(e);
            }
            self.receive_one()?;
        }
    }

    /// The reply to `id` if it has arrived, without waiting (see [`Client::process_pending`]).
    pub fn try_wait(&mut self, id: ReqId) -> Result<Option<Response>, Error> {
        if let Some(reply) = self.replies.remove(&id.0) {
            return reply.map(Some);
        }
        if !self.in_flight.contains_key(&id.0) {
            return Err(Error::NotInFlight(id.0));
        }
        match self.failed {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }

    /// Files every message the transport has without waiting: replies for [`Client::try_wait`],
    /// events for [`Client::try_event`] / [`Client::take_event`]. For homes driven by an event
    /// (a DPC, a readable evtchn fd) instead of blocking; returns how many messages were filed.
    pub fn process_pending(&mut self) -> Result<usize, Error> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let mut n = 0;
        while let Some(msg) = self.transport.try_recv().map_err(|e| self.check(e))? {
            self.file(msg).map_err(|e| self.check(e))?;
            n += 1;
        }
        Ok(n)
    }

    /// Sends `req` and waits for its reply; an ERROR reply becomes `Err(Error::Xs(..))`.
    pub fn request(&mut self, req: &Request, tx_id: u32) -> Result<Response, Error> {
        let id = self.submit(req, tx_id)?;
        self.wait(id)
    }

    /// Takes one message from the transport and files it.
    fn receive_one(&mut self) -> Result<(), Error> {
        let msg = self.transport.recv().map_err(|e| self.check(e))?;
        self.file(msg).map_err(|e| self.check(e))
    }

    fn file(&mut self, msg: Message) -> Result<(), Error> {
        if msg.header.msg_type == MsgType::WatchEvent.as_u32() {
            // A malformed event cannot be attributed to any watch: the server is broken.
            return match Response::decode(&msg) {
                Ok(Response::WatchEvent { path, token }) => {
                    // Events for a token we no longer watch are expected after UNWATCH (they may
                    // already have been queued): drop them.
                    if self.watches.contains_key(&token) {
                        self.events.push_back(WatchEvent { path, token });
                    }
                    Ok(())
                }
                // The WATCH_EVENT type always decodes to WatchEvent; kept total instead of panicking.
                Ok(_) => Err(Error::BadWatchEvent(DecodeError::BadArgument)),
                Err(e) => Err(Error::BadWatchEvent(e)),
            };
        }
        // A reply for nothing in flight, or a second reply, means the peer is out of step.
        let req_id = msg.header.req_id;
        let expected = self
            .in_flight
            .remove(&req_id)
            .ok_or(Error::UnknownReqId(req_id))?;
        let reply = match Response::decode(&msg) {
            Ok(Response::Error(e)) => Err(Error::Xs(e)),
            Ok(r) if r.msg_type() == expected => Ok(r),
            Ok(_) => Err(Error::UnexpectedReply {
                expected,
                got: msg.header.msg_type,
            }),
            Err(DecodeError::UnknownType(t)) => Err(Error::UnexpectedReply { expected, got: t }),
            Err(e) => Err(Error::Decode(e)),
        };
        self.replies.insert(req_id, reply);
        Ok(())
    }

    /// Registers a watch on `path` (a node or `@introduceDomain` / `@releaseDomain`); its events
    /// carry `token`, which must not be in use by another watch of this client (events are routed
    /// by token alone). xenstored fires the watch once right away.
    pub fn watch(&mut self, path: &str, token: &str) -> Result<(), Error> {
        if self.watches.contains_key(token) {
            return Err(Error::TokenInUse);
        }
        // Registered before sending, so that the first event (which may arrive before the reply)
        // is kept.
        self.watches.insert(token.into(), path.into());
        let r = self.request(
            &Request::Watch {
                path: path.into(),
                token: token.into(),
            },
            0,
        );
        if r.is_err() {
            self.watches.remove(token);
        }
        r.map(drop)
    }

    /// Removes a watch and drops its queued events.
    pub fn unwatch(&mut self, path: &str, token: &str) -> Result<(), Error> {
        self.request(
            &Request::Unwatch {
                path: path.into(),
                token: token.into(),
            },
            0,
        )?;
        self.watches.remove(token);
        self.events.retain(|e| e.token != token);
        Ok(())
    }

    /// The next watch event, waiting for one if none is queued.
    pub fn wait_event(&mut self) -> Result<WatchEvent, Error> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(e);
            }
            if let Some(e) = self.failed {
                return Err(e);
            }
            self.receive_one()?;
        }
    }

    /// The next event for `token`, waiting for it; events of other watches stay queued.
    pub fn wait_event_for(&mut self, token: &str) -> Result<WatchEvent, Error> {
        loop {
            if let Some(e) = self.take_event(token) {
                return Ok(e);
            }
            if let Some(e) = self.failed {
                return Err(e);
            }
            self.receive_one()?;
        }
    }

    /// The oldest queued event for `token`, without waiting.
    pub fn take_event(&mut self, token: &str) -> Option<WatchEvent> {
        let i = self.events.iter().position(|e| e.token == token)?;
        self.events.remove(i)
    }

    /// The oldest queued event of any watch, without waiting.
    pub fn try_event(&mut self) -> Option<WatchEvent> {
        self.events.pop_front()
    }

    /// Runs `body` inside a transaction and commits it; when the commit (or a request inside)
    /// fails with EAGAIN because another writer interfered, runs it again, up to
    /// [`MAX_TRANSACTION_ATTEMPTS`] times. An error from `body` aborts the transaction.
    pub fn transaction<R>(
        &mut self,
        mut body: impl FnMut(&mut Transaction<'_, T>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        for _ in 0..MAX_TRANSACTION_ATTEMPTS {
            let id = match self.request(&Request::TransactionStart, 0)? {
                Response::TransactionStart(id) => id,
                other => {
                    return Err(Error::UnexpectedReply {
                        expected: MsgType::TransactionStart,
                        got: other.msg_type().as_u32(),
                    })
                }
            };
            let outcome = body(&mut Transaction { client: self, id });
            match outcome {
                Ok(v) => match self.request(&Request::TransactionEnd { commit: true }, id) {
                    Ok(_) => return Ok(v),
                    Err(Error::Xs(XsError::EAGAIN)) => continue,
                    Err(e) => return Err(e),
                },
                Err(e) => {
                    if !e.is_fatal() {
                        // Abort; its own failure does not change what the caller must hear.
                        let _ = self.request(&Request::TransactionEnd { commit: false }, id);
                    }
                    if e != Error::Xs(XsError::EAGAIN) {
                        return Err(e);
                    }
                }
            }
        }
        Err(Error::TransactionRetries(MAX_TRANSACTION_ATTEMPTS))
    }

    /// The home path of domain `domid` (`/local/domain/<domid>`).
    pub fn get_domain_path(&mut self, domid: u16) -> Result<String, Error> {
        match self.request(&Request::GetDomainPath { domid }, 0)? {
            Response::GetDomainPath(p) => Ok(p),
            other => Err(Error::UnexpectedReply {
                expected: MsgType::GetDomainPath,
                got: other.msg_type().as_u32(),
            }),
        }
    }

    /// Drops every watch and transaction of this connection on the server, and our event queue.
    pub fn reset_watches(&mut self) -> Result<(), Error> {
        self.request(&Request::ResetWatches, 0)?;
        self.watches.clear();
        self.events.clear();
        Ok(())
    }

    /// The transport, e.g. to reach the home's signal.
    pub fn transport(&self) -> &T {
        &self.transport
    }
}

impl<T: Transport + Reconnect> Client<T> {
    /// Resets the connection (after resume, or after the server flagged it broken) and registers
    /// every watch again. Requests in flight are lost (waiting for them gives
    /// [`Error::NotInFlight`]), queued events are dropped, open transactions are gone; xenstored
    /// fires each re-registered watch once, so owners re-read what they watch.
    pub fn reconnect(&mut self) -> Result<(), Error> {
        self.transport.reconnect().map_err(|e| self.check(e))?;
        self.in_flight.clear();
        self.replies.clear();
        self.events.clear();
        self.failed = None;
        let watches: alloc::vec::Vec<(String, String)> = self
            .watches
            .iter()
            .map(|(token, path)| (path.clone(), token.clone()))
            .collect();
        for (path, token) in watches {
            self.request(&Request::Watch { path, token }, 0)?;
        }
        Ok(())
    }
}

impl<T: Transport> Store for Client<T> {
    fn call(&mut self, req: Request) -> Result<Response, Error> {
        self.request(&req, 0)
    }
}

/// Requests inside one transaction of [`Client::transaction`].
#[derive(Debug)]
pub struct Transaction<'c, T: Transport> {
    client: &'c mut Client<T>,
    id: u32,
}

impl<T: Transport> Transaction<'_, T> {
    /// The transaction id xenstored assigned.
    pub fn id(&self) -> u32 {
        self.id
    }
}

impl<T: Transport> Store for Transaction<'_, T> {
    fn call(&mut self, req: Request) -> Result<Response, Error> {
        self.client.request(&req, self.id)
    }
}

#[cfg(test)]
mod tests;
