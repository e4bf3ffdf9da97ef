//! The encoder of what the driver answers: every reply that carries data is `len:u32` followed by
//! `len` bytes of payload, written into the caller's output buffer, and the IRP completes with the
//! status and byte count returned here.
//!
//! A buffer too small for the payload still learns how much is needed: if it holds the 4-byte
//! length, that is written and the request completes with STATUS_BUFFER_OVERFLOW (a warning, so
//! the I/O manager copies those 4 bytes back and DeviceIoControl fails with ERROR_MORE_DATA);
//! smaller than that, STATUS_BUFFER_TOO_SMALL. The caller retries with `4 + len` bytes.

use alloc::string::String;
use xenpv_ddk::status::{
    NtStatus, STATUS_BUFFER_OVERFLOW, STATUS_BUFFER_TOO_SMALL, STATUS_SUCCESS,
};

/// Bytes of the length that starts every reply with data.
pub const LEN_BYTES: usize = 4;

/// What an operation answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// Success without data: nothing is written, whatever the output buffer.
    Empty,
    /// One number (a watch id, transaction id, port, action).
    U32(u32),
    /// A store value, as stored.
    Bytes(&'a [u8]),
    /// Names (a directory listing), each followed by a NUL.
    Names(&'a [String]),
    /// A watch fired: its id, then the path that changed and a NUL.
    WatchFired { watch: u32, path: &'a str },
    /// Grant references.
    Refs(&'a [u32]),
}

/// How the IRP completes: `IoStatus.Status` and `IoStatus.Information`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    pub status: NtStatus,
    pub information: usize,
}

impl Completion {
    /// A failure: nothing is copied back.
    pub fn error(status: NtStatus) -> Self {
        Completion {
            status,
            information: 0,
        }
    }
}

impl Reply<'_> {
    /// The payload's length (without the 4-byte length).
    pub fn payload_len(&self) -> usize {
        match self {
            Reply::Empty => 0,
            Reply::U32(_) => 4,
            Reply::Bytes(b) => b.len(),
            Reply::Names(names) => names.iter().map(|n| n.len() + 1).sum(),
            Reply::WatchFired { path, .. } => 4 + path.len() + 1,
            Reply::Refs(refs) => refs.len() * 4,
        }
    }

    /// Writes the reply into `out` (the whole output buffer) and says how the IRP completes.
    pub fn encode(&self, out: &mut [u8]) -> Completion {
        if *self == Reply::Empty {
            return Completion {
                status: STATUS_SUCCESS,
                information: 0,
            };
        }
        let len = self.payload_len();
        // A payload over 4 GiB cannot come from xenstore (4 KiB messages) or a handle's grants.
        let Ok(len32) = u32::try_from(len) else {
            return Completion::error(STATUS_BUFFER_TOO_SMALL);
        };
        let Some(head) = out.get_mut(..LEN_BYTES) else {
            return Completion::error(STATUS_BUFFER_TOO_SMALL);
        };
        head.copy_from_slice(&len32.to_le_bytes());
        let Some(body) = out.get_mut(LEN_BYTES..LEN_BYTES + len) else {
            return Completion {
                status: STATUS_BUFFER_OVERFLOW,
                information: LEN_BYTES,
            };
        };
        let mut w = Writer { out: body, at: 0 };
        match self {
            Reply::Empty => {}
            Reply::U32(v) => w.put(&v.to_le_bytes()),
            Reply::Bytes(b) => w.put(b),
            Reply::Names(names) => {
                for name in names.iter() {
                    w.put(name.as_bytes());
                    w.put(&[0]);
                }
            }
            Reply::WatchFired { watch, path } => {
                w.put(&watch.to_le_bytes());
                w.put(path.as_bytes());
                w.put(&[0]);
            }
            Reply::Refs(refs) => {
                for r in refs.iter() {
                    w.put(&r.to_le_bytes());
                }
            }
        }
        Completion {
            status: STATUS_SUCCESS,
            information: LEN_BYTES + len,
        }
    }
}

/// Appends into a slice sized by `payload_len`.
struct Writer<'o> {
    out: &'o mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.out[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    #[test]
    fn a_reply_is_its_length_then_its_payload() {
        let mut out = [0xffu8; 16];
        let c = Reply::Bytes(b"hello").encode(&mut out);
        assert_eq!(
            c,
            Completion {
                status: STATUS_SUCCESS,
                information: 9
            }
        );
        assert_eq!(&out[..9], b"\x05\0\0\0hello");
        assert_eq!(out[9], 0xff, "nothing written past the reply");
    }

    #[test]
    fn names_and_watch_firings_are_nul_terminated() {
        let names: Vec<String> = vec!["a".into(), "bc".into()];
        let mut out = [0u8; 32];
        let c = Reply::Names(&names).encode(&mut out);
        assert_eq!(c.information, 4 + 5);
        assert_eq!(&out[..9], b"\x05\0\0\0a\0bc\0");
        let c = Reply::WatchFired {
            watch: 7,
            path: "x/y",
        }
        .encode(&mut out);
        assert_eq!(&out[..c.information], b"\x08\0\0\0\x07\0\0\0x/y\0");
        let c = Reply::Refs(&[1, 0x0102_0304]).encode(&mut out);
        assert_eq!(
            &out[..c.information],
            b"\x08\0\0\0\x01\0\0\0\x04\x03\x02\x01"
        );
    }

    #[test]
    fn a_short_buffer_learns_the_size_it_needs() {
        let value = [7u8; 100];
        let mut out = [0u8; 50];
        let c = Reply::Bytes(&value).encode(&mut out);
        assert_eq!(
            c,
            Completion {
                status: STATUS_BUFFER_OVERFLOW,
                information: 4
            }
        );
        assert_eq!(u32::from_le_bytes(out[..4].try_into().unwrap()), 100);
        assert_eq!(out[4..], [0; 46], "no partial payload");
        let c = Reply::U32(1).encode(&mut out[..3]);
        assert_eq!(c, Completion::error(STATUS_BUFFER_TOO_SMALL));
        // Exactly enough is enough.
        let c = Reply::Bytes(&value).encode(&mut [0u8; 104]);
        assert_eq!(c.status, STATUS_SUCCESS);
    }

    #[test]
    fn an_empty_reply_needs_no_buffer() {
        assert_eq!(
            Reply::Empty.encode(&mut []),
            Completion {
                status: STATUS_SUCCESS,
                information: 0
            }
        );
    }

    proptest::proptest! {
        /// Any reply into any output length: the bytes written stay inside the buffer, a
        /// success carries the whole payload after its length, and a short buffer learns the
        /// length it needs.
        #[test]
        fn any_reply_into_any_buffer(
            kind in 0..5u8,
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            names in proptest::collection::vec("[a-z0-9]{0,12}", 0..6),
            out_len in 0..200usize,
        ) {
            let refs: Vec<u32> = bytes.iter().map(|&b| u32::from(b) * 7).collect();
            let path: String = names.concat();
            let reply = match kind {
                0 => Reply::U32(u32::from_le_bytes([1, 2, 3, 4])),
                1 => Reply::Bytes(&bytes),
                2 => Reply::Names(&names),
                3 => Reply::WatchFired { watch: 9, path: &path },
                _ => Reply::Refs(&refs),
            };
            let mut out = vec![0xAAu8; out_len + 8];
            let c = reply.encode(&mut out[..out_len]);
            proptest::prop_assert!(out[out_len..].iter().all(|&b| b == 0xAA), "wrote past the buffer");
            let len = reply.payload_len();
            if c.status == STATUS_SUCCESS {
                proptest::prop_assert_eq!(c.information, LEN_BYTES + len);
                proptest::prop_assert_eq!(&out[..4], &(len as u32).to_le_bytes()[..]);
            } else if c.status == STATUS_BUFFER_OVERFLOW {
                proptest::prop_assert!(out_len >= 4 && out_len < LEN_BYTES + len);
                proptest::prop_assert_eq!(c.information, 4);
                proptest::prop_assert_eq!(&out[..4], &(len as u32).to_le_bytes()[..]);
            } else {
                proptest::prop_assert_eq!(c, Completion::error(STATUS_BUFFER_TOO_SMALL));
                proptest::prop_assert!(out_len < 4);
            }
        }
    }
}
