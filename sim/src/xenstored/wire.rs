//! The store spoken over the xenstore wire protocol: one [`WireSession`] per socket or ring
//! connection decodes requests with the control crate's codec, runs them and queues the replies and
//! watch events, in order, in the connection's [`WireOutbox`].

use super::engine::{ConnId, Outbox};
use super::Xenstored;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;
use xenpv_control::xs::wire::{DecodeError, Message, Request, Response};
use xenpv_control::xs::XsError;

/// Output a peer may leave unread before the store gives up on it (a client that never reads
/// must not make the store grow without bound).
pub const MAX_QUEUED_BYTES: usize = 4 << 20;

#[derive(Default)]
struct Queue {
    msgs: VecDeque<Message>,
    bytes: usize,
    closed: bool,
    /// Closed because the peer left more than MAX_QUEUED_BYTES unread.
    overflowed: bool,
    /// The peer signalled (the ring's event channel).
    kicked: bool,
}

/// A connection's ordered output, and the wake-up point of the thread that serves it.
#[derive(Default)]
pub struct WireOutbox {
    queue: Mutex<Queue>,
    wake: Condvar,
}

/// What woke a serving thread.
pub struct Wakeup {
    pub msgs: Vec<Message>,
    pub closed: bool,
    pub overflowed: bool,
}

impl WireOutbox {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, msg: Message) {
        let mut q = self.lock();
        if q.closed {
            return;
        }
        q.bytes += msg.payload.len();
        q.msgs.push_back(msg);
        if q.bytes > MAX_QUEUED_BYTES {
            q.closed = true;
            q.overflowed = true;
        }
        self.wake.notify_all();
    }

    /// Marks the connection for closing; its serving threads see it at their next wake-up.
    pub fn shut(&self) {
        self.lock().closed = true;
        self.wake.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// The peer signalled us.
    pub fn kick(&self) {
        self.lock().kicked = true;
        self.wake.notify_all();
    }

    /// Waits (at most `timeout`) until there is output, a kick or the close, and takes them.
    pub fn wait(&self, timeout: Duration) -> Wakeup {
        let q = self.lock();
        let (mut q, _) = self
            .wake
            .wait_timeout_while(q, timeout, |q| q.msgs.is_empty() && !q.kicked && !q.closed)
            .unwrap_or_else(|p| p.into_inner());
        q.bytes = 0;
        q.kicked = false;
        Wakeup {
            msgs: q.msgs.drain(..).collect(),
            closed: q.closed,
            overflowed: q.overflowed,
        }
    }
}

fn encode(resp: &Response, req_id: u32, tx_id: u32) -> Message {
    match resp.to_message(req_id, tx_id) {
        Ok(m) => m,
        // Only a reply longer than XENSTORE_PAYLOAD_MAX (a huge DIRECTORY) cannot be built: C
        // xenstored answers E2BIG then, and libxenstore falls back to DIRECTORY_PART. An error
        // reply always fits, so this recursion ends at once.
        Err(_) => encode(&Response::Error(XsError::E2BIG), req_id, tx_id),
    }
}

impl Outbox for WireOutbox {
    fn watch_event(&self, path: &str, token: &str) {
        let event = Response::WatchEvent {
            path: path.to_owned(),
            token: token.to_owned(),
        };
        self.push(encode(&event, 0, 0));
    }

    fn close(&self) {
        self.shut();
    }
}

/// One wire connection's session with the store.
pub struct WireSession {
    xs: Xenstored,
    id: ConnId,
    privileged: bool,
    out: Arc<WireOutbox>,
}

impl WireSession {
    pub fn open(xs: &Xenstored, domid: u16, privileged: bool) -> WireSession {
        let out = Arc::new(WireOutbox::default());
        let id = xs.state().connect(domid, privileged, out.clone());
        WireSession {
            xs: xs.clone(),
            id,
            privileged,
            out,
        }
    }

    pub fn outbox(&self) -> &Arc<WireOutbox> {
        &self.out
    }

    /// Whether the store closed this connection (its domain was released).
    pub fn is_released(&self) -> bool {
        !self.xs.state().is_connected(self.id)
    }

    /// Runs one request and queues its reply (and, for WATCH, the initial event after it).
    pub fn handle(&self, msg: &Message) {
        let (req_id, tx) = (msg.header.req_id, msg.header.tx_id);
        let request = match Request::decode(msg) {
            Ok(r) => r,
            Err(e) => {
                // INTRODUCE, RELEASE, CONTROL & co. are dom0-only; the sim offers them through
                // its API (Xenstored::introduce_domain ...) rather than the wire.
                let err = match e {
                    DecodeError::Privileged(_) if self.privileged => XsError::ENOSYS,
                    _ => e.reply_error(),
                };
                self.out.push(encode(&Response::Error(err), req_id, tx));
                return;
            }
        };
        let ack = Response::Ok(request.msg_type());
        let mut state = self.xs.state();
        let id = self.id;
        let mut initial_event = None;
        let result = match request {
            Request::Read { path } => state.read(id, tx, &path).map(Response::Read),
            Request::Write { path, value } => state.write(id, tx, &path, &value).map(|()| ack),
            Request::Mkdir { path } => state.mkdir(id, tx, &path).map(|()| ack),
            Request::Rm { path } => state.rm(id, tx, &path).map(|()| ack),
            Request::Directory { path } => state.directory(id, tx, &path).map(Response::Directory),
            Request::DirectoryPart { path, offset } => state
                .directory_part(id, tx, &path, offset as usize)
                .map(|p| Response::DirectoryPart {
                    generation: p.generation,
                    children: p.children,
                    complete: p.complete,
                }),
            Request::GetPerms { path } => state.get_perms(id, tx, &path).map(Response::GetPerms),
            Request::SetPerms { path, perms } => {
                state.set_perms(id, tx, &path, &perms).map(|()| ack)
            }
            Request::Watch { path, token } => state.watch(id, &path, &token).map(|first| {
                initial_event = Some((first, token));
                ack
            }),
            Request::Unwatch { path, token } => state.unwatch(id, &path, &token).map(|()| ack),
            Request::ResetWatches => state.reset_watches(id).map(|()| ack),
            Request::TransactionStart => state
                .transaction_start(id, tx)
                .map(Response::TransactionStart),
            Request::TransactionEnd { commit } => {
                state.transaction_end(id, tx, commit).map(|()| ack)
            }
            Request::GetDomainPath { domid } => {
                Ok(Response::GetDomainPath(super::domain_path(domid)))
            }
        };
        let reply = result.unwrap_or_else(Response::Error);
        // Queued under the store lock, so that events caused by later requests of other
        // connections cannot overtake this reply or the initial event.
        self.out.push(encode(&reply, req_id, tx));
        if let Some((path, token)) = initial_event {
            state.deliver_to(id, &path, &token);
        }
    }
}

impl Drop for WireSession {
    fn drop(&mut self) {
        self.xs.state().disconnect(self.id);
        self.out.shut();
    }
}
