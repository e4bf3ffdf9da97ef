//! The store on a guest's `xenstore_domain_interface` page, served with the control crate's
//! server end of the ring. The guest's notification reaches us through [`RingKick::kick`] (bind it
//! to the sim's event channel); ours reaches the guest through the `notify_guest` hook.
//!
//! A guest that breaks the ring (indices more than a ring apart, a length over
//! XENSTORE_PAYLOAD_MAX) gets what xenstored does: the reason in the page's `error` field and its
//! connection dropped. Malformed requests that still frame get error replies.

use super::wire::{WireOutbox, WireSession, MAX_QUEUED_BYTES};
use super::Xenstored;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;
use xenpv_abi::xs_wire::XENSTORE_SERVER_FEATURE_ERROR;
use xenpv_control::xs::ring::{RingError, RingLink};
use xenpv_datapath::shmem::SharedMem;

/// How often an idle server rechecks the page when nobody signals (a lost notification costs at
/// most this much latency, as with xenstored's periodic ring checks).
const IDLE_POLL: Duration = Duration::from_millis(200);

/// Signals the server that the guest updated the ring (the guest's event channel notify).
#[derive(Clone)]
pub struct RingKick(Arc<WireOutbox>);

impl RingKick {
    pub fn kick(&self) {
        self.0.kick();
    }
}

/// Why a ring connection ended, besides the server being dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingStop {
    /// The guest broke the ring protocol.
    Protocol(RingError),
    /// The guest left more than MAX_QUEUED_BYTES of replies unread.
    Backlog,
    /// The domain was released.
    Released,
}

/// Why a ring could not be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServeRingError {
    /// The page cannot hold a `xenstore_domain_interface`.
    Ring(RingError),
    /// No thread could be started for it.
    Thread(std::io::ErrorKind),
}

/// A served ring; dropping it stops serving (the domain's connection closes).
pub struct RingServer {
    kick: RingKick,
    stopped: Arc<Mutex<Option<RingStop>>>,
    thread: Option<JoinHandle<()>>,
}

impl RingServer {
    pub fn kicker(&self) -> RingKick {
        self.kick.clone()
    }

    /// Why the connection ended, once it has.
    pub fn stopped(&self) -> Option<RingStop> {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for RingServer {
    fn drop(&mut self) {
        self.kick.0.shut();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Xenstored {
    /// Serves `domid`'s xenstore ring in `page` (the guest's `xenstore_domain_interface`) on a
    /// thread of its own. `notify_guest` is called whenever the server moved bytes on the ring.
    /// The connection is privileged only for domid 0.
    pub fn serve_ring(
        &self,
        domid: u16,
        page: SharedMem,
        notify_guest: impl Fn() + Send + 'static,
    ) -> Result<RingServer, ServeRingError> {
        let link = RingLink::server(page).map_err(ServeRingError::Ring)?;
        link.advertise_features(XENSTORE_SERVER_FEATURE_ERROR);
        let session = WireSession::open(self, domid, domid == 0);
        let kick = RingKick(session.outbox().clone());
        let stopped = Arc::new(Mutex::new(None));
        let s = stopped.clone();
        let thread = thread::Builder::new()
            .name(format!("xenstored-ring-{domid}"))
            .spawn(move || {
                let why = serve(link, &session, &notify_guest);
                *s.lock().unwrap_or_else(|p| p.into_inner()) = why;
            })
            .map_err(|e| ServeRingError::Thread(e.kind()))?;
        Ok(RingServer {
            kick,
            stopped,
            thread: Some(thread),
        })
    }
}

/// Serves until the guest breaks the protocol, the domain is released or the server is dropped
/// (then `None`).
fn serve(mut link: RingLink, session: &WireSession, notify_guest: &dyn Fn()) -> Option<RingStop> {
    loop {
        let wake = session.outbox().wait(IDLE_POLL);
        for msg in &wake.msgs {
            link.enqueue(msg);
        }
        if wake.overflowed || link.pending_out() > MAX_QUEUED_BYTES {
            return Some(RingStop::Backlog);
        }
        if wake.closed {
            // Dropped by us, or the domain was released (then the session is already gone from
            // the store, which tells the two apart).
            return session.is_released().then_some(RingStop::Released);
        }
        match link.poll() {
            Ok(progress) => {
                if progress.moved() {
                    notify_guest();
                }
            }
            Err(e) => {
                link.report_error(e);
                notify_guest();
                return Some(RingStop::Protocol(e));
            }
        }
        // Replies land in the outbox, so the next wait returns at once to send them.
        while let Some(msg) = link.next_message() {
            session.handle(&msg);
        }
    }
}
