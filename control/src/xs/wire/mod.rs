//! The xenstore wire protocol (xs_wire.h, docs/misc/xenstore.txt): message framing, the streaming
//! decoder, and typed request / response payloads.
//!
//! Every message in either direction is a 16-byte header (`type, req_id, tx_id, len`, each a
//! little-endian u32 — Xen runs only on little-endian machines) followed by `len` payload bytes,
//! `len <= XENSTORE_PAYLOAD_MAX`. A peer that announces more is killed by xenstored, so here it is
//! the one fatal framing error ([`DecodeError::PayloadTooLong`]); every other decode error concerns a
//! single message and is answered (server) or reported (client) without losing the stream.

mod decoder;
mod request;
mod response;
mod strings;

pub use decoder::Decoder;
pub use request::Request;
pub use response::Response;

use super::error::XsError;
use super::path::PathError;
use super::perm::PermParseError;
use alloc::vec::Vec;
use xenpv_abi::xs_wire as abi;

/// Size of `struct xsd_sockmsg`.
pub const HEADER_LEN: usize = core::mem::size_of::<abi::XsdSockmsg>();
/// Largest payload either side may send (`XENSTORE_PAYLOAD_MAX`).
pub const PAYLOAD_MAX: usize = abi::XENSTORE_PAYLOAD_MAX;
/// Longest absolute path (`XENSTORE_ABS_PATH_MAX`).
pub const ABS_PATH_MAX: usize = abi::XENSTORE_ABS_PATH_MAX;
/// Longest relative path (`XENSTORE_REL_PATH_MAX`).
pub const REL_PATH_MAX: usize = abi::XENSTORE_REL_PATH_MAX;

/// The message types of `enum xsd_sockmsg_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum MsgType {
    Control = abi::XS_CONTROL,
    Directory = abi::XS_DIRECTORY,
    Read = abi::XS_READ,
    GetPerms = abi::XS_GET_PERMS,
    Watch = abi::XS_WATCH,
    Unwatch = abi::XS_UNWATCH,
    TransactionStart = abi::XS_TRANSACTION_START,
    TransactionEnd = abi::XS_TRANSACTION_END,
    Introduce = abi::XS_INTRODUCE,
    Release = abi::XS_RELEASE,
    GetDomainPath = abi::XS_GET_DOMAIN_PATH,
    Write = abi::XS_WRITE,
    Mkdir = abi::XS_MKDIR,
    Rm = abi::XS_RM,
    SetPerms = abi::XS_SET_PERMS,
    WatchEvent = abi::XS_WATCH_EVENT,
    Error = abi::XS_ERROR,
    IsDomainIntroduced = abi::XS_IS_DOMAIN_INTRODUCED,
    Resume = abi::XS_RESUME,
    SetTarget = abi::XS_SET_TARGET,
    // XS_RESET_WATCHES - 1 was XS_RESTRICT, removed from the protocol.
    ResetWatches = abi::XS_RESET_WATCHES,
    DirectoryPart = abi::XS_DIRECTORY_PART,
}

impl MsgType {
    /// Every defined type, in wire order.
    pub const ALL: [MsgType; 22] = [
        MsgType::Control,
        MsgType::Directory,
        MsgType::Read,
        MsgType::GetPerms,
        MsgType::Watch,
        MsgType::Unwatch,
        MsgType::TransactionStart,
        MsgType::TransactionEnd,
        MsgType::Introduce,
        MsgType::Release,
        MsgType::GetDomainPath,
        MsgType::Write,
        MsgType::Mkdir,
        MsgType::Rm,
        MsgType::SetPerms,
        MsgType::WatchEvent,
        MsgType::Error,
        MsgType::IsDomainIntroduced,
        MsgType::Resume,
        MsgType::SetTarget,
        MsgType::ResetWatches,
        MsgType::DirectoryPart,
    ];

    pub fn from_u32(v: u32) -> Option<MsgType> {
        MsgType::ALL.iter().copied().find(|t| *t as u32 == v)
    }

    pub fn as_u32(self) -> u32 {
        self as u32
    }
}

/// A message header as it travels (`struct xsd_sockmsg`). `msg_type` stays a raw u32 so that a
/// message of an unknown type can still be framed, skipped and answered with ENOSYS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub msg_type: u32,
    pub req_id: u32,
    pub tx_id: u32,
    pub len: u32,
}

impl Header {
    pub fn from_bytes(b: &[u8; HEADER_LEN]) -> Header {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Header {
            msg_type: word(0),
            req_id: word(4),
            tx_id: word(8),
            len: word(12),
        }
    }

    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        for (i, w) in [self.msg_type, self.req_id, self.tx_id, self.len]
            .into_iter()
            .enumerate()
        {
            b[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
        }
        b
    }
}

/// One complete framed message: header plus exactly `header.len` payload bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub payload: Vec<u8>,
}

impl Message {
    /// The typed message type, or [`DecodeError::UnknownType`].
    pub fn msg_type(&self) -> Result<MsgType, DecodeError> {
        MsgType::from_u32(self.header.msg_type)
            .ok_or(DecodeError::UnknownType(self.header.msg_type))
    }

    /// Frames `payload`; fails if it exceeds [`PAYLOAD_MAX`].
    pub fn new(
        msg_type: MsgType,
        req_id: u32,
        tx_id: u32,
        payload: Vec<u8>,
    ) -> Result<Message, EncodeError> {
        if payload.len() > PAYLOAD_MAX {
            return Err(EncodeError::PayloadTooLong(payload.len()));
        }
        // Bounded by PAYLOAD_MAX just above.
        let len = payload.len() as u32;
        Ok(Message {
            header: Header {
                msg_type: msg_type.as_u32(),
                req_id,
                tx_id,
                len,
            },
            payload,
        })
    }

    /// Header and payload as one byte string, ready for a stream write or a ring.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.payload.len());
        out.extend_from_slice(&self.header.to_bytes());
        out.extend_from_slice(&self.payload);
        out
    }
}

/// Why a message could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The payload would exceed [`PAYLOAD_MAX`]; xenstored would kill the connection.
    PayloadTooLong(usize),
    /// A path breaks xenstore's path rules.
    BadPath(PathError),
    /// A string field (watch token) contains NUL, which would split it on the wire.
    EmbeddedNul,
    /// A permission list must hold at least the owner entry.
    NoPerms,
    /// `Response::Ok` for a type whose success reply is not `OK` (READ, DIRECTORY, ...).
    NotAnAck(MsgType),
}

/// Why received bytes are not a valid message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended inside a header or payload.
    Truncated,
    /// The header announces more than [`PAYLOAD_MAX`] bytes. Fatal: the stream cannot be resynchronised
    /// and xenstored drops such a connection.
    PayloadTooLong(u32),
    /// The type field is not a known `xsd_sockmsg_type`.
    UnknownType(u32),
    /// A known type that an unprivileged guest may not send (INTRODUCE, RELEASE, CONTROL, ...).
    Privileged(MsgType),
    /// A type that is never a request (WATCH_EVENT, ERROR) received as a request.
    NotARequest(MsgType),
    /// A request type (INTRODUCE, ...) received as a response, which a guest never asked for.
    NotAResponse(MsgType),
    /// A string field that must be NUL-terminated is not.
    MissingNul,
    /// A NUL inside a payload that must hold exactly one string.
    UnexpectedNul,
    /// Fewer strings than the message type requires.
    MissingArgument,
    /// A string is not UTF-8.
    NotUtf8,
    /// A number (transaction id, domid, offset, generation) is not strict unsigned decimal in range.
    BadNumber,
    /// A fixed-form argument has a wrong value (`T`/`F`, `OK`, transaction id 0, empty child name).
    BadArgument,
    BadPath(PathError),
    BadPerm(PermParseError),
    /// An `ERROR` reply names an errno that xs_wire.h does not define.
    UnknownError,
}

impl DecodeError {
    /// Whether the connection must be dropped: the byte stream can no longer be framed.
    pub fn is_fatal(&self) -> bool {
        matches!(self, DecodeError::PayloadTooLong(_))
    }

    /// The error a server answers a bad request with, as xenstored does: ENOSYS for types it has no
    /// handler for, EACCES for privileged operations from a guest, EINVAL for malformed payloads.
    pub fn reply_error(&self) -> XsError {
        match self {
            DecodeError::UnknownType(_) | DecodeError::NotARequest(_) => XsError::ENOSYS,
            DecodeError::Privileged(_) => XsError::EACCES,
            _ => XsError::EINVAL,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec;

    /// A message of type `t` carrying `payload` as it is, valid or not: what a peer could send.
    pub(crate) fn raw(t: MsgType, payload: &[u8]) -> Message {
        Message {
            header: Header {
                msg_type: t.as_u32(),
                req_id: 1,
                tx_id: 0,
                len: payload.len() as u32,
            },
            payload: Vec::from(payload),
        }
    }

    #[test]
    fn msg_type_values_match_xs_wire_h() {
        assert_eq!(MsgType::Control.as_u32(), 0);
        assert_eq!(MsgType::Directory.as_u32(), 1);
        assert_eq!(MsgType::GetDomainPath.as_u32(), 10);
        assert_eq!(MsgType::WatchEvent.as_u32(), 15);
        assert_eq!(MsgType::Error.as_u32(), 16);
        assert_eq!(MsgType::SetTarget.as_u32(), 19);
        assert_eq!(MsgType::ResetWatches.as_u32(), 21);
        assert_eq!(MsgType::DirectoryPart.as_u32(), 22);
        assert_eq!(MsgType::from_u32(20), None, "XS_RESTRICT was removed");
        assert_eq!(MsgType::from_u32(23), None);
        assert_eq!(MsgType::from_u32(0xffff), None, "XS_INVALID");
        for t in MsgType::ALL {
            assert_eq!(MsgType::from_u32(t.as_u32()), Some(t));
        }
        // Every value below XS_TYPE_COUNT except the removed XS_RESTRICT is a known type.
        let known = (0..abi::XS_TYPE_COUNT)
            .filter(|v| MsgType::from_u32(*v).is_some())
            .count();
        assert_eq!(known, abi::XS_TYPE_COUNT as usize - 1);
    }

    #[test]
    fn header_layout_is_four_little_endian_words() {
        let h = Header {
            msg_type: 2,
            req_id: 0x0102_0304,
            tx_id: 7,
            len: 5,
        };
        let b = h.to_bytes();
        assert_eq!(&b[0..4], &[2, 0, 0, 0]);
        assert_eq!(&b[4..8], &[4, 3, 2, 1]);
        assert_eq!(&b[8..12], &[7, 0, 0, 0]);
        assert_eq!(&b[12..16], &[5, 0, 0, 0]);
        assert_eq!(Header::from_bytes(&b), h);
    }

    #[test]
    fn message_refuses_oversized_payload() {
        assert!(Message::new(MsgType::Write, 1, 0, vec![0; PAYLOAD_MAX]).is_ok());
        assert_eq!(
            Message::new(MsgType::Write, 1, 0, vec![0; PAYLOAD_MAX + 1]),
            Err(EncodeError::PayloadTooLong(PAYLOAD_MAX + 1))
        );
    }

    #[test]
    fn message_bytes_are_header_then_payload() {
        let m = Message::new(MsgType::Read, 9, 3, b"/a\0".to_vec()).unwrap();
        let b = m.to_bytes();
        assert_eq!(b.len(), HEADER_LEN + 3);
        assert_eq!(
            Header::from_bytes(b[..HEADER_LEN].try_into().unwrap()).len,
            3
        );
        assert_eq!(&b[HEADER_LEN..], b"/a\0");
        assert_eq!(m.msg_type(), Ok(MsgType::Read));
    }

    #[test]
    fn reply_errors_follow_xenstored() {
        assert_eq!(DecodeError::UnknownType(99).reply_error(), XsError::ENOSYS);
        assert_eq!(
            DecodeError::NotARequest(MsgType::Error).reply_error(),
            XsError::ENOSYS
        );
        assert_eq!(
            DecodeError::Privileged(MsgType::Introduce).reply_error(),
            XsError::EACCES
        );
        assert_eq!(DecodeError::MissingNul.reply_error(), XsError::EINVAL);
        assert!(DecodeError::PayloadTooLong(5000).is_fatal());
        assert!(!DecodeError::MissingNul.is_fatal());
    }
}
