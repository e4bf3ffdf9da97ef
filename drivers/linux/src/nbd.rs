//! The NBD transmission phase as the kernel's nbd client speaks it (the ioctl interface skips the
//! handshake): 28-byte requests, a write's data right after its request, 16-byte simple replies
//! followed by a read's data. Everything big-endian (include/uapi/linux/nbd.h, the NBD protocol).
//!
//! The peer is the kernel, but the bytes still come from a socket: every field is checked and a
//! bad request is a typed error, never a panic.

use std::fmt;

pub const REQUEST_MAGIC: u32 = 0x2560_9513;
pub const REPLY_MAGIC: u32 = 0x6744_6698;
pub const REQUEST_LEN: usize = 28;
pub const REPLY_LEN: usize = 16;

/// Export flags (NBD_SET_FLAGS).
pub const FLAG_HAS_FLAGS: u64 = 1 << 0;
pub const FLAG_READ_ONLY: u64 = 1 << 1;
pub const FLAG_SEND_FLUSH: u64 = 1 << 2;
pub const FLAG_SEND_FUA: u64 = 1 << 3;
pub const FLAG_SEND_TRIM: u64 = 1 << 5;
/// Every connection sees every other's completed writes: the kernel then accepts several sockets
/// (one per hardware queue) for one device.
pub const FLAG_CAN_MULTI_CONN: u64 = 1 << 8;

/// Command flag: the write must be durable before the reply.
pub const CMD_FLAG_FUA: u16 = 1 << 0;

/// Largest transfer we accept in one request: the kernel's nbd limits requests to 32 MiB
/// (`max_hw_sectors` 65536), and a bigger length can only be a corrupt stream.
pub const MAX_TRANSFER: u32 = 32 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Read,
    Write,
    /// The client is going away.
    Disconnect,
    Flush,
    Trim,
}

impl Command {
    fn from_wire(v: u16) -> Option<Command> {
        Some(match v {
            0 => Command::Read,
            1 => Command::Write,
            2 => Command::Disconnect,
            3 => Command::Flush,
            4 => Command::Trim,
            _ => return None,
        })
    }

    fn to_wire(self) -> u16 {
        match self {
            Command::Read => 0,
            Command::Write => 1,
            Command::Disconnect => 2,
            Command::Flush => 3,
            Command::Trim => 4,
        }
    }
}

/// One request header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub command: Command,
    pub flags: u16,
    /// The client's cookie, echoed in the reply.
    pub handle: u64,
    pub offset: u64,
    pub len: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NbdError {
    BadMagic(u32),
    UnknownCommand(u16),
    TooLong(u32),
}

impl fmt::Display for NbdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NbdError::BadMagic(m) => write!(f, "bad request magic {m:#x}"),
            NbdError::UnknownCommand(c) => write!(f, "unknown command {c}"),
            NbdError::TooLong(n) => write!(f, "transfer of {n} bytes is too long"),
        }
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

impl Request {
    pub fn parse(b: &[u8; REQUEST_LEN]) -> Result<Request, NbdError> {
        let magic = be32(&b[0..4]);
        if magic != REQUEST_MAGIC {
            return Err(NbdError::BadMagic(magic));
        }
        let flags = u16::from_be_bytes([b[4], b[5]]);
        let ty = u16::from_be_bytes([b[6], b[7]]);
        let command = Command::from_wire(ty).ok_or(NbdError::UnknownCommand(ty))?;
        let len = be32(&b[24..28]);
        if len > MAX_TRANSFER {
            return Err(NbdError::TooLong(len));
        }
        Ok(Request {
            command,
            flags,
            handle: be64(&b[8..16]),
            offset: be64(&b[16..24]),
            len,
        })
    }

    /// The wire form (what the kernel sends; used by tests).
    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut b = [0u8; REQUEST_LEN];
        b[0..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
        b[4..6].copy_from_slice(&self.flags.to_be_bytes());
        b[6..8].copy_from_slice(&self.command.to_wire().to_be_bytes());
        b[8..16].copy_from_slice(&self.handle.to_be_bytes());
        b[16..24].copy_from_slice(&self.offset.to_be_bytes());
        b[24..28].copy_from_slice(&self.len.to_be_bytes());
        b
    }
}

/// A simple reply header; `error` is an errno value (0: success).
pub fn reply(handle: u64, error: u32) -> [u8; REPLY_LEN] {
    let mut b = [0u8; REPLY_LEN];
    b[0..4].copy_from_slice(&REPLY_MAGIC.to_be_bytes());
    b[4..8].copy_from_slice(&error.to_be_bytes());
    b[8..16].copy_from_slice(&handle.to_be_bytes());
    b
}

/// A request with its data (a write's payload; empty otherwise).
#[derive(Debug, PartialEq, Eq)]
pub struct Incoming {
    pub req: Request,
    pub data: Vec<u8>,
}

/// Frames the byte stream from the client into requests.
#[derive(Debug, Default)]
pub struct Decoder {
    header: Vec<u8>,
    pending: Option<Incoming>,
}

impl Decoder {
    /// Consumes bytes from `input` and returns the next complete request, if it is complete.
    /// Call again while `input` is not empty.
    pub fn feed(&mut self, input: &mut &[u8]) -> Result<Option<Incoming>, NbdError> {
        loop {
            if let Some(inc) = &mut self.pending {
                let want = inc.req.len as usize - inc.data.len();
                let take = want.min(input.len());
                inc.data.extend_from_slice(&input[..take]);
                *input = &input[take..];
                if inc.data.len() == inc.req.len as usize {
                    return Ok(self.pending.take());
                }
                return Ok(None);
            }
            let take = (REQUEST_LEN - self.header.len()).min(input.len());
            self.header.extend_from_slice(&input[..take]);
            *input = &input[take..];
            if self.header.len() < REQUEST_LEN {
                return Ok(None);
            }
            let mut raw = [0u8; REQUEST_LEN];
            raw.copy_from_slice(&self.header);
            self.header.clear();
            let req = Request::parse(&raw)?;
            if req.command != Command::Write || req.len == 0 {
                return Ok(Some(Incoming {
                    req,
                    data: Vec::new(),
                }));
            }
            self.pending = Some(Incoming {
                req,
                data: Vec::with_capacity(req.len as usize),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(command: Command, handle: u64, offset: u64, len: u32) -> Request {
        Request {
            command,
            flags: 0,
            handle,
            offset,
            len,
        }
    }

    #[test]
    fn header_layout_is_big_endian_at_the_protocol_offsets() {
        let r = Request {
            command: Command::Write,
            flags: CMD_FLAG_FUA,
            handle: 0x0102_0304_0506_0708,
            offset: 0x1000,
            len: 0x200,
        };
        let b = r.encode();
        assert_eq!(&b[0..4], &[0x25, 0x60, 0x95, 0x13]);
        assert_eq!(&b[4..8], &[0, 1, 0, 1]);
        assert_eq!(&b[8..16], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&b[16..24], &[0, 0, 0, 0, 0, 0, 0x10, 0]);
        assert_eq!(&b[24..28], &[0, 0, 2, 0]);
        assert_eq!(Request::parse(&b), Ok(r));
        let rep = reply(0x0102_0304_0506_0708, 5);
        assert_eq!(
            rep,
            [0x67, 0x44, 0x66, 0x98, 0, 0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8]
        );
    }

    #[test]
    fn bad_headers_are_typed_errors() {
        let mut b = req(Command::Read, 1, 0, 512).encode();
        b[0] ^= 1;
        assert_eq!(Request::parse(&b), Err(NbdError::BadMagic(0x2460_9513)));
        let mut b = req(Command::Read, 1, 0, 512).encode();
        b[7] = 9;
        assert_eq!(Request::parse(&b), Err(NbdError::UnknownCommand(9)));
        let b = req(Command::Write, 1, 0, MAX_TRANSFER + 1).encode();
        assert_eq!(Request::parse(&b), Err(NbdError::TooLong(MAX_TRANSFER + 1)));
    }

    #[test]
    fn a_stream_split_anywhere_frames_the_same_requests() {
        let write = req(Command::Write, 7, 4096, 1000);
        let payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut stream = Vec::new();
        stream.extend_from_slice(&req(Command::Read, 1, 0, 4096).encode());
        stream.extend_from_slice(&write.encode());
        stream.extend_from_slice(&payload);
        stream.extend_from_slice(&req(Command::Flush, 9, 0, 0).encode());
        for chunk in [1, 3, 27, 28, 29, 500, stream.len()] {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                let mut input = piece;
                while !input.is_empty() {
                    if let Some(inc) = d.feed(&mut input).unwrap() {
                        got.push(inc);
                    }
                }
            }
            assert_eq!(got.len(), 3, "chunk {chunk}");
            assert_eq!(got[0].req.command, Command::Read);
            assert!(got[0].data.is_empty());
            assert_eq!(got[1].req, write);
            assert_eq!(got[1].data, payload);
            assert_eq!(got[2].req.command, Command::Flush);
        }
    }
}
