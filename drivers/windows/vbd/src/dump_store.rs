//! The dump instance's handshake with the backend, over the dump interface's polled store.
//!
//! At dump time nothing of the normal instance can be trusted to run: its store session is
//! XENBUS's (interrupt-driven, behind locks), and its ring is whatever it was when the machine
//! stopped. So the dump instance takes the vbd over: it closes the normal connection the way
//! Linux blkfront closes one (Closing, then Closed, waiting for the backend at each step),
//! publishes its own single one-page ring (prepared in normal mode: [`crate::dump_data`]) and
//! connects again (Initialising, Initialised, Connected), blkback following each step as its
//! `frontend_changed` does. Every message is built in a fixed buffer on the stack: nothing here
//! allocates.

use core::fmt;

use xenpv_abi::xenbus::XenbusState;
use xenpv_abi::xs_wire::{XS_ERROR, XS_READ, XS_RM, XS_WRITE};
use xenpv_busif::dump::{DumpBus, DumpBusError};
use xenpv_control::vbd::PROTOCOL_X86_64;

use crate::dump_data::Handshake;

/// Bytes of one message (header and payload) the dump path sends or accepts: paths of at most
/// [`crate::dump_data::MAX_PATH`] bytes, a key and a short value.
const MESSAGE: usize = 256;
const HEADER: usize = 16;

/// Polls of the store ring for one reply (the home stalls between polls).
pub const STORE_POLLS: u32 = 200_000;

/// Request ids of the dump path: never 0 (watch events), apart from XENBUS's small counters.
const FIRST_ID: u32 = 0x6475_0000;

/// Why the handshake failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpStoreError {
    Bus(DumpBusError),
    /// xenstored refused a request (the reply was XS_ERROR).
    Refused,
    /// A reply of the wrong type, or a value that does not fit or parse.
    BadReply,
    /// The backend did not reach the state wanted within the rounds allowed.
    Backend {
        waiting_for: XenbusState,
        last: Option<u32>,
    },
}

impl fmt::Display for DumpStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpStoreError::Bus(e) => write!(f, "dump store: {e}"),
            DumpStoreError::Refused => f.write_str("xenstored refused a request"),
            DumpStoreError::BadReply => f.write_str("unexpected xenstore reply"),
            DumpStoreError::Backend { waiting_for, last } => {
                write!(
                    f,
                    "backend not {waiting_for:?} in time (last state {last:?})"
                )
            }
        }
    }
}

/// Store requests over the dump interface.
pub struct PolledStore<'a> {
    bus: &'a DumpBus,
    next_id: u32,
}

impl<'a> PolledStore<'a> {
    pub fn new(bus: &'a DumpBus) -> Self {
        PolledStore {
            bus,
            next_id: FIRST_ID,
        }
    }

    /// Sends `kind` with the concatenation of `parts` as payload; the reply's payload length
    /// (in `reply[HEADER..]`).
    fn request(
        &mut self,
        kind: u32,
        parts: &[&[u8]],
        reply: &mut [u8; MESSAGE],
    ) -> Result<usize, DumpStoreError> {
        let mut msg = [0u8; MESSAGE];
        let mut len = HEADER;
        for part in parts {
            let end = len + part.len();
            msg.get_mut(len..end)
                .ok_or(DumpStoreError::BadReply)?
                .copy_from_slice(part);
            len = end;
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(FIRST_ID);
        let payload = (len - HEADER) as u32;
        for (i, word) in [kind, id, 0, payload].into_iter().enumerate() {
            msg[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
        }
        let got = self
            .bus
            .exchange(&msg[..len], reply, STORE_POLLS)
            .map_err(DumpStoreError::Bus)?;
        let kind_back = u32::from_le_bytes([reply[0], reply[1], reply[2], reply[3]]);
        if kind_back == XS_ERROR {
            return Err(DumpStoreError::Refused);
        }
        if kind_back != kind || got < HEADER {
            return Err(DumpStoreError::BadReply);
        }
        Ok(got - HEADER)
    }

    /// Writes `dir/key` = `value`.
    pub fn write(&mut self, dir: &[u8], key: &str, value: &[u8]) -> Result<(), DumpStoreError> {
        let mut reply = [0u8; MESSAGE];
        self.request(
            XS_WRITE,
            &[dir, b"/", key.as_bytes(), b"\0", value],
            &mut reply,
        )
        .map(drop)
    }

    /// Removes `dir/key`; a key that is not there is fine (xenstored refuses with ENOENT).
    pub fn remove(&mut self, dir: &[u8], key: &str) -> Result<(), DumpStoreError> {
        let mut reply = [0u8; MESSAGE];
        match self.request(XS_RM, &[dir, b"/", key.as_bytes(), b"\0"], &mut reply) {
            Ok(_) | Err(DumpStoreError::Refused) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Reads `dir/key` as a decimal number.
    pub fn read_number(&mut self, dir: &[u8], key: &str) -> Result<u32, DumpStoreError> {
        let mut reply = [0u8; MESSAGE];
        let n = self.request(XS_READ, &[dir, b"/", key.as_bytes(), b"\0"], &mut reply)?;
        parse_number(&reply[HEADER..HEADER + n]).ok_or(DumpStoreError::BadReply)
    }
}

/// A decimal number of at most 9 digits (state values, references, ports).
fn parse_number(text: &[u8]) -> Option<u32> {
    if text.is_empty() || text.len() > 9 {
        return None;
    }
    text.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

/// `n` in decimal, in `buf`.
fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// Takes the vbd of `handshake` over with its prepared ring: closes whatever connection the
/// backend has, publishes the ring's reference and event channel and connects. `between` runs after each look at
/// the backend that did not find it where wanted (the home stalls; a test runs the backend),
/// at most `rounds` times per step.
pub fn take_over(
    bus: &DumpBus,
    handshake: &Handshake,
    rounds: u32,
    mut between: impl FnMut(),
) -> Result<(), DumpStoreError> {
    use XenbusState as S;
    let mut store = PolledStore::new(bus);
    let front = handshake.frontend.as_bytes();
    let back = handshake.backend.as_bytes();
    let mut digits = [0u8; 10];
    let set_state = |store: &mut PolledStore<'_>, state: S| {
        let mut d = [0u8; 10];
        store.write(front, "state", decimal(state as u32, &mut d))
    };
    let mut wait = |store: &mut PolledStore<'_>, wanted: &[S]| {
        let mut last = None;
        for _ in 0..=rounds {
            let state = store.read_number(back, "state")?;
            if wanted.iter().any(|&s| s as u32 == state) {
                return Ok(state);
            }
            last = Some(state);
            between();
        }
        Err(DumpStoreError::Backend {
            waiting_for: wanted[0],
            last,
        })
    };

    let mut state = wait(
        &mut store,
        &[S::Connected, S::Closing, S::Closed, S::InitWait],
    )?;
    if state == S::Connected as u32 || state == S::Closing as u32 {
        set_state(&mut store, S::Closing)?;
        wait(&mut store, &[S::Closing, S::Closed])?;
        set_state(&mut store, S::Closed)?;
        state = wait(&mut store, &[S::Closed])?;
    }
    // The normal connection may have had several queues and a bigger ring: their keys would
    // send the backend looking for rings that are gone.
    store.remove(front, "multi-queue-num-queues")?;
    store.remove(front, "ring-page-order")?;
    store.write(front, "ring-ref", decimal(handshake.ring_ref, &mut digits))?;
    store.write(front, "event-channel", decimal(handshake.port, &mut digits))?;
    store.write(front, "protocol", PROTOCOL_X86_64.as_bytes())?;
    store.write(front, "feature-persistent", b"1")?;
    if state == S::Closed as u32 {
        set_state(&mut store, S::Initialising)?;
        wait(&mut store, &[S::InitWait])?;
    }
    set_state(&mut store, S::Initialised)?;
    wait(&mut store, &[S::Connected])?;
    set_state(&mut store, S::Connected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_strictly_and_print_back() {
        assert_eq!(parse_number(b"4"), Some(4));
        assert_eq!(parse_number(b"51712"), Some(51712));
        for bad in [&b""[..], b"-1", b"4\n", b"1234567890", b" 4"] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
        let mut buf = [0u8; 10];
        for n in [0, 7, 10, 51712, u32::MAX] {
            let text = decimal(n, &mut buf);
            assert_eq!(core::str::from_utf8(text).unwrap(), std::format!("{n}"));
        }
    }
}
