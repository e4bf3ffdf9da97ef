//! The store on a Unix socket, as xenstored serves the tools in dom0 (`XENSTORED_PATH`). Each
//! connection gets a reader thread (decode, run, queue the reply) and a writer thread (send replies
//! and watch events in order), so a slow or silent client never blocks the store.

use super::wire::WireSession;
use super::Xenstored;
use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;
use xenpv_control::xs::wire::Decoder;

/// How often a writer that is idle, or blocked on a client that does not read, rechecks whether
/// the connection was closed.
const WRITER_POLL: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Live {
    stop: AtomicBool,
    /// Open connections, to shut them down with the server.
    streams: Mutex<HashMap<u64, UnixStream>>,
}

/// A listening socket; dropping it stops accepting, closes every connection and removes the socket.
pub struct UnixServer {
    path: PathBuf,
    live: Arc<Live>,
    accept: Option<JoinHandle<()>>,
}

impl UnixServer {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Xenstored {
    /// Serves the store on a new Unix socket at `path`. Every connection acts as `domid`: 0 gives
    /// the privileged tool connections of dom0, another id lets tools act as that guest (relative
    /// paths, permission checks and quotas of that domain).
    pub fn serve_unix(&self, path: impl AsRef<Path>, domid: u16) -> io::Result<UnixServer> {
        let path = path.as_ref().to_path_buf();
        let listener = UnixListener::bind(&path)?;
        let live = Arc::new(Live::default());
        let (xs, l) = (self.clone(), live.clone());
        let accept = thread::Builder::new()
            .name(format!("xenstored-unix-{domid}"))
            .spawn(move || accept_loop(&xs, &listener, &l, domid))?;
        Ok(UnixServer {
            path,
            live,
            accept: Some(accept),
        })
    }
}

fn lock(live: &Live) -> std::sync::MutexGuard<'_, HashMap<u64, UnixStream>> {
    live.streams.lock().unwrap_or_else(|p| p.into_inner())
}

fn accept_loop(xs: &Xenstored, listener: &UnixListener, live: &Arc<Live>, domid: u16) {
    for (key, stream) in (0u64..).zip(listener.incoming()) {
        if live.stop.load(Ordering::Acquire) {
            break;
        }
        // A failed accept concerns that one client; keep serving the others.
        let Ok(stream) = stream else { continue };
        let (Ok(reader), Ok(writer), Ok(tracked)) =
            (stream.try_clone(), stream.try_clone(), stream.try_clone())
        else {
            continue;
        };
        lock(live).insert(key, tracked);
        let session = Arc::new(WireSession::open(xs, domid, domid == 0));
        let s = session.clone();
        let l = live.clone();
        let spawned = thread::Builder::new()
            .name("xenstored-conn-rx".into())
            .spawn(move || {
                read_loop(reader, &s);
                s.outbox().shut();
                lock(&l).remove(&key);
            });
        let spawned = spawned.and_then(|_| {
            thread::Builder::new()
                .name("xenstored-conn-tx".into())
                .spawn(move || write_loop(writer, &session))
        });
        if spawned.is_err() {
            // Out of threads: refuse this client rather than serve it half.
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Reads requests until the client goes away or breaks the framing (an oversized length), which
/// xenstored answers by dropping the connection.
fn read_loop(mut stream: UnixStream, session: &WireSession) {
    let mut decoder = Decoder::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut input = &buf[..n];
        loop {
            match decoder.feed(&mut input) {
                Ok(Some(msg)) => session.handle(&msg),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

fn write_loop(mut stream: UnixStream, session: &WireSession) {
    // Writes time out now and then so that a client that stopped reading (and made the store
    // close its overflowing connection) cannot hold this thread forever.
    let _ = stream.set_write_timeout(Some(WRITER_POLL));
    loop {
        let wake = session.outbox().wait(WRITER_POLL);
        for msg in &wake.msgs {
            if !send(&mut stream, &msg.to_bytes(), session) {
                session.outbox().shut();
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
        }
        if wake.closed {
            // Also ends the reader, which then drops the session.
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Writes all of `bytes`; false if the client is gone or the connection was closed meanwhile.
fn send(stream: &mut UnixStream, mut bytes: &[u8], session: &WireSession) -> bool {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return false,
            Ok(n) => bytes = &bytes[n..],
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if session.outbox().is_closed() {
                    return false;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

impl Drop for UnixServer {
    fn drop(&mut self) {
        self.live.stop.store(true, Ordering::Release);
        // Wake the accept loop so that it sees `stop`.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        for (_, s) in lock(&self.live).drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
        let _ = std::fs::remove_file(&self.path);
    }
}
