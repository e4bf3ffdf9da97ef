//! Streaming framer: bytes in (any split), complete messages out.

use super::{DecodeError, Header, Message, HEADER_LEN, PAYLOAD_MAX};
use alloc::vec::Vec;

/// Reassembles messages from a byte stream that may arrive in arbitrary pieces (a socket read, a
/// ring's contiguous chunk, one byte at a time).
///
/// After a fatal error the decoder stays failed and repeats that error: the stream is out of sync and
/// the connection must be dropped.
#[derive(Debug, Default)]
pub struct Decoder {
    header_bytes: [u8; HEADER_LEN],
    header_used: usize,
    /// Set once the header is complete and valid; the payload is being collected.
    header: Option<Header>,
    payload: Vec<u8>,
    failed: Option<DecodeError>,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Consumes bytes from the front of `input` until one message is complete (returned) or `input`
    /// is exhausted (`Ok(None)`, the partial message is kept). Call again with the remaining input
    /// to get further messages.
    pub fn feed(&mut self, input: &mut &[u8]) -> Result<Option<Message>, DecodeError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let header = match self.header {
            Some(h) => h,
            None => {
                let take = (HEADER_LEN - self.header_used).min(input.len());
                self.header_bytes[self.header_used..self.header_used + take]
                    .copy_from_slice(&input[..take]);
                self.header_used += take;
                *input = &input[take..];
                if self.header_used < HEADER_LEN {
                    return Ok(None);
                }
                let h = Header::from_bytes(&self.header_bytes);
                if h.len as usize > PAYLOAD_MAX {
                    self.failed = Some(DecodeError::PayloadTooLong(h.len));
                    return Err(DecodeError::PayloadTooLong(h.len));
                }
                self.payload = Vec::with_capacity(h.len as usize);
                self.header = Some(h);
                h
            }
        };
        let want = header.len as usize - self.payload.len();
        let take = want.min(input.len());
        self.payload.extend_from_slice(&input[..take]);
        *input = &input[take..];
        if take < want {
            return Ok(None);
        }
        self.header = None;
        self.header_used = 0;
        Ok(Some(Message {
            header,
            payload: core::mem::take(&mut self.payload),
        }))
    }

    /// Whether no partial message is buffered: the stream is at a message boundary.
    pub fn is_idle(&self) -> bool {
        self.failed.is_none() && self.header_used == 0
    }

    /// To call when the stream ends: an error if it ended inside a message.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.failed {
            Some(e) => Err(e),
            None if self.header_used != 0 => Err(DecodeError::Truncated),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::MsgType;
    use super::*;
    use alloc::vec;

    fn msg(t: MsgType, req_id: u32, payload: &[u8]) -> Message {
        Message::new(t, req_id, 0, payload.to_vec()).unwrap()
    }

    fn decode_all(dec: &mut Decoder, mut input: &[u8]) -> Result<Vec<Message>, DecodeError> {
        let mut out = Vec::new();
        while let Some(m) = dec.feed(&mut input)? {
            out.push(m);
        }
        assert!(input.is_empty(), "feed returned None with input left");
        Ok(out)
    }

    #[test]
    fn decodes_back_to_back_messages_in_one_chunk() {
        let a = msg(MsgType::Read, 1, b"/a\0");
        let b = msg(MsgType::TransactionStart, 2, b"");
        let c = msg(MsgType::Write, 3, b"/x\0value");
        let mut bytes = a.to_bytes();
        bytes.extend(b.to_bytes());
        bytes.extend(c.to_bytes());
        let mut dec = Decoder::new();
        assert_eq!(decode_all(&mut dec, &bytes).unwrap(), vec![a, b, c]);
        assert!(dec.is_idle());
        assert_eq!(dec.finish(), Ok(()));
    }

    #[test]
    fn decodes_byte_by_byte() {
        let a = msg(MsgType::Directory, 7, b"/local/domain\0");
        let b = msg(MsgType::Read, 8, b"x\0");
        let mut bytes = a.to_bytes();
        bytes.extend(b.to_bytes());
        let mut dec = Decoder::new();
        let mut got = Vec::new();
        for byte in &bytes {
            got.extend(decode_all(&mut dec, core::slice::from_ref(byte)).unwrap());
        }
        assert_eq!(got, vec![a, b]);
    }

    #[test]
    fn partial_message_is_truncated_at_end_of_stream() {
        let bytes = msg(MsgType::Read, 1, b"/abc\0").to_bytes();
        for cut in 1..bytes.len() {
            let mut dec = Decoder::new();
            assert!(decode_all(&mut dec, &bytes[..cut]).unwrap().is_empty());
            assert!(!dec.is_idle());
            assert_eq!(dec.finish(), Err(DecodeError::Truncated), "cut at {cut}");
        }
    }

    #[test]
    fn oversized_length_is_fatal_and_sticky() {
        let h = Header {
            msg_type: MsgType::Write.as_u32(),
            req_id: 1,
            tx_id: 0,
            len: PAYLOAD_MAX as u32 + 1,
        };
        let mut dec = Decoder::new();
        assert_eq!(
            decode_all(&mut dec, &h.to_bytes()),
            Err(DecodeError::PayloadTooLong(4097))
        );
        let good = msg(MsgType::Read, 2, b"/a\0").to_bytes();
        assert_eq!(
            decode_all(&mut dec, &good),
            Err(DecodeError::PayloadTooLong(4097))
        );
        assert_eq!(dec.finish(), Err(DecodeError::PayloadTooLong(4097)));
        assert!(!dec.is_idle());
    }

    #[test]
    fn maximum_payload_is_accepted() {
        let m = msg(MsgType::Write, 1, &vec![b'a'; PAYLOAD_MAX]);
        let mut dec = Decoder::new();
        assert_eq!(decode_all(&mut dec, &m.to_bytes()).unwrap(), vec![m]);
    }

    #[test]
    fn unknown_types_are_still_framed() {
        let h = Header {
            msg_type: 0xffff,
            req_id: 5,
            tx_id: 0,
            len: 2,
        };
        let mut bytes = h.to_bytes().to_vec();
        bytes.extend_from_slice(b"zz");
        let mut dec = Decoder::new();
        let got = decode_all(&mut dec, &bytes).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].msg_type(), Err(DecodeError::UnknownType(0xffff)));
        assert_eq!(got[0].payload, b"zz");
    }
}
