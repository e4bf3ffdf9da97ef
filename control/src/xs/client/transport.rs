//! How the client reaches xenstored: the shared ring page plus an event channel, or a byte stream
//! (a Unix socket to xenstored, `/dev/xen/xenbus` in a Linux guest).

use super::Error;
use crate::xs::ring::RingLink;
use crate::xs::wire::{Decoder, Message};
use alloc::collections::VecDeque;
use xenpv_datapath::shmem::SharedMem;

/// A message pipe to xenstored. Blocking is the transport's business: `recv` returns only with a
/// message or an error.
pub trait Transport {
    /// Sends one complete message.
    fn send(&mut self, msg: &Message) -> Result<(), Error>;
    /// The next message from xenstored, waiting for it if needed.
    fn recv(&mut self) -> Result<Message, Error>;
    /// The next message if one is available without waiting (for homes that are told by an event
    /// rather than block: a DPC, an evtchn fd that polled readable).
    fn try_recv(&mut self) -> Result<Option<Message>, Error>;
}

/// The event channel of a ring page, as the home provides it.
pub trait RingSignal {
    /// Kick the other end (the ring changed).
    fn notify(&self);
    /// Block until the other end has kicked us. Must not lose a kick that arrived since the previous
    /// `wait` returned (an event channel's pending bit has exactly this property), otherwise the
    /// transport could sleep forever on data that is already there.
    fn wait(&self);
}

/// The client's end of a xenstore ring page.
#[derive(Debug)]
pub struct RingTransport<S: RingSignal> {
    link: RingLink,
    signal: S,
}

impl<S: RingSignal> RingTransport<S> {
    /// Attaches to the ring page `mem` (the guest end).
    pub fn new(mem: SharedMem, signal: S) -> Result<Self, Error> {
        Ok(RingTransport {
            link: RingLink::guest(mem).map_err(Error::Ring)?,
            signal,
        })
    }

    /// Moves bytes both ways and kicks the server if anything moved.
    fn pump(&mut self) -> Result<bool, Error> {
        let progress = self.link.poll().map_err(Error::Ring)?;
        if progress.moved() {
            self.signal.notify();
        }
        Ok(progress.moved())
    }
}

impl<S: RingSignal> Transport for RingTransport<S> {
    fn send(&mut self, msg: &Message) -> Result<(), Error> {
        self.link.enqueue(msg);
        loop {
            let moved = self.pump()?;
            if self.link.pending_out() == 0 {
                return Ok(());
            }
            if !moved {
                // The ring is full: sleep until the server consumes.
                self.signal.wait();
            }
        }
    }

    fn recv(&mut self) -> Result<Message, Error> {
        loop {
            if let Some(m) = self.try_recv()? {
                return Ok(m);
            }
            self.signal.wait();
        }
    }

    fn try_recv(&mut self) -> Result<Option<Message>, Error> {
        loop {
            if let Some(m) = self.link.next_message() {
                return Ok(Some(m));
            }
            if !self.pump()? {
                return Ok(None);
            }
        }
    }
}

/// A transport that can restart its connection on a message boundary.
pub trait Reconnect {
    /// Resets the connection; blocks until the server has done its part.
    fn reconnect(&mut self) -> Result<(), Error>;
}

/// The ring's reconnection feature (xenstore-ring.txt): the server empties both lanes and drops the
/// connection's watches and transactions.
impl<S: RingSignal> Reconnect for RingTransport<S> {
    fn reconnect(&mut self) -> Result<(), Error> {
        self.link.begin_reconnect().map_err(Error::Ring)?;
        self.signal.notify();
        while !self.link.reconnect_complete() {
            self.signal.wait();
        }
        Ok(())
    }
}

/// A byte stream to xenstored.
pub trait ByteStream {
    /// Writes one whole message (header and payload). `/dev/xen/xenbus` wants each message in one
    /// `write()`; a socket accepts it in pieces, which the implementation then loops over.
    fn write_message(&mut self, bytes: &[u8]) -> Result<(), Error>;
    /// Reads some bytes, blocking until at least one is available; `Ok(0)` means the peer closed.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error>;
    /// Reads some bytes if any are available without blocking (`Ok(None)` otherwise). A stream
    /// that cannot tell keeps the default, and is then driven only by blocking calls.
    fn try_read(&mut self, _buf: &mut [u8]) -> Result<Option<usize>, Error> {
        Ok(None)
    }
}

/// The client over a [`ByteStream`].
#[derive(Debug)]
pub struct StreamTransport<B: ByteStream> {
    stream: B,
    decoder: Decoder,
    inbox: VecDeque<Message>,
}

impl<B: ByteStream> StreamTransport<B> {
    pub fn new(stream: B) -> Self {
        StreamTransport {
            stream,
            decoder: Decoder::new(),
            inbox: VecDeque::new(),
        }
    }
}

impl<B: ByteStream> Transport for StreamTransport<B> {
    fn send(&mut self, msg: &Message) -> Result<(), Error> {
        self.stream.write_message(&msg.to_bytes())
    }

    fn recv(&mut self) -> Result<Message, Error> {
        loop {
            if let Some(m) = self.inbox.pop_front() {
                return Ok(m);
            }
            let mut buf = [0u8; 1024];
            let n = self.stream.read(&mut buf)?;
            self.take_in(&buf[..n])?;
        }
    }

    fn try_recv(&mut self) -> Result<Option<Message>, Error> {
        loop {
            if let Some(m) = self.inbox.pop_front() {
                return Ok(Some(m));
            }
            let mut buf = [0u8; 1024];
            match self.stream.try_read(&mut buf)? {
                Some(n) => self.take_in(&buf[..n])?,
                None => return Ok(None),
            }
        }
    }
}

impl<B: ByteStream> StreamTransport<B> {
    /// Frames bytes read from the stream; an empty read is the peer closing.
    fn take_in(&mut self, mut input: &[u8]) -> Result<(), Error> {
        if input.is_empty() {
            // A close in the middle of a message is a truncated stream, not a clean close.
            self.decoder.finish().map_err(Error::Decode)?;
            return Err(Error::Closed);
        }
        while let Some(m) = self.decoder.feed(&mut input).map_err(Error::Decode)? {
            self.inbox.push_back(m);
        }
        Ok(())
    }
}

/// Any `std::io` stream (a `UnixStream` to xenstored's socket, an opened `/dev/xen/xenbus`).
#[cfg(any(test, feature = "std"))]
#[derive(Debug)]
pub struct IoStream<T>(pub T);

#[cfg(any(test, feature = "std"))]
impl<T: std::io::Read + std::io::Write> ByteStream for IoStream<T> {
    fn write_message(&mut self, bytes: &[u8]) -> Result<(), Error> {
        // A single write() on /dev/xen/xenbus takes a whole message; write_all only loops on a
        // socket's short writes.
        self.0.write_all(bytes).map_err(io_error)
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        loop {
            match self.0.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => return r.map_err(io_error),
            }
        }
    }
}

#[cfg(any(test, feature = "std"))]
fn io_error(e: std::io::Error) -> Error {
    Error::Io(e.raw_os_error().unwrap_or(-1))
}
