//! Typed responses (xenstored → guest): encoded by a server, decoded by the client.

use super::strings::{all_strings, decimal, leading, one_arg, push_str, utf8};
use super::{DecodeError, EncodeError, Message, MsgType};
use crate::xs::error::XsError;
use crate::xs::perm::Perm;
use alloc::string::String;
use alloc::vec::Vec;

/// A message from xenstored: the reply to a request (same type, req_id and tx_id), an error reply
/// (type ERROR, req_id and tx_id copied), or an unsolicited watch event (req_id and tx_id 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// `<child>|*`.
    Directory(Vec<String>),
    /// `<gencnt>|<child>|*`, with a final empty string once the list is complete.
    DirectoryPart {
        generation: u64,
        children: Vec<String>,
        complete: bool,
    },
    /// `<value|>`: binary, not NUL-terminated.
    Read(Vec<u8>),
    /// `<perm>|+`.
    GetPerms(Vec<Perm>),
    /// `<transid>|`, never 0.
    TransactionStart(u32),
    /// `<path>|`.
    GetDomainPath(String),
    /// `OK|`, the success reply of WATCH, UNWATCH, TRANSACTION_END, WRITE, MKDIR, RM, SET_PERMS and
    /// RESET_WATCHES; carries which of them it acknowledges.
    Ok(MsgType),
    /// `E<name>|`.
    Error(XsError),
    /// `<epath>|<token>|`.
    WatchEvent { path: String, token: String },
}

/// Whether a reply of type `t` is a bare `OK|` acknowledgement.
fn is_ack(t: MsgType) -> bool {
    matches!(
        t,
        MsgType::Watch
            | MsgType::Unwatch
            | MsgType::TransactionEnd
            | MsgType::Write
            | MsgType::Mkdir
            | MsgType::Rm
            | MsgType::SetPerms
            | MsgType::ResetWatches
    )
}

impl Response {
    pub fn msg_type(&self) -> MsgType {
        match self {
            Response::Directory(_) => MsgType::Directory,
            Response::DirectoryPart { .. } => MsgType::DirectoryPart,
            Response::Read(_) => MsgType::Read,
            Response::GetPerms(_) => MsgType::GetPerms,
            Response::TransactionStart(_) => MsgType::TransactionStart,
            Response::GetDomainPath(_) => MsgType::GetDomainPath,
            Response::Ok(t) => *t,
            Response::Error(_) => MsgType::Error,
            Response::WatchEvent { .. } => MsgType::WatchEvent,
        }
    }

    /// The payload bytes.
    pub fn payload(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        match self {
            Response::Directory(children) => {
                for c in children {
                    push_str(&mut out, c.as_bytes())?;
                }
            }
            Response::DirectoryPart {
                generation,
                children,
                complete,
            } => {
                push_str(&mut out, alloc::format!("{generation}").as_bytes())?;
                for c in children {
                    push_str(&mut out, c.as_bytes())?;
                }
                if *complete {
                    out.push(0);
                }
            }
            Response::Read(value) => out.extend_from_slice(value),
            Response::GetPerms(perms) => {
                if perms.is_empty() {
                    return Err(EncodeError::NoPerms);
                }
                for p in perms {
                    push_str(&mut out, p.to_wire().as_bytes())?;
                }
            }
            Response::TransactionStart(id) => {
                push_str(&mut out, alloc::format!("{id}").as_bytes())?
            }
            Response::GetDomainPath(path) => push_str(&mut out, path.as_bytes())?,
            Response::Ok(_) => push_str(&mut out, b"OK")?,
            Response::Error(e) => push_str(&mut out, e.as_str().as_bytes())?,
            Response::WatchEvent { path, token } => {
                push_str(&mut out, path.as_bytes())?;
                push_str(&mut out, token.as_bytes())?;
            }
        }
        if out.len() > super::PAYLOAD_MAX {
            return Err(EncodeError::PayloadTooLong(out.len()));
        }
        Ok(out)
    }

    /// The framed message. Replies echo the request's req_id and tx_id; watch events use 0 and 0.
    pub fn to_message(&self, req_id: u32, tx_id: u32) -> Result<Message, EncodeError> {
        if let Response::Ok(t) = self {
            if !is_ack(*t) {
                // An `OK` for, say, READ would decode as a value "OK\0": refuse to build it.
                return Err(EncodeError::NotAnAck(*t));
            }
        }
        Message::new(self.msg_type(), req_id, tx_id, self.payload()?)
    }

    /// Parses a message received from xenstored. The reply's shape follows from its type alone.
    pub fn decode(msg: &Message) -> Result<Response, DecodeError> {
        let p = &msg.payload[..];
        let strings = |p| -> Result<Vec<String>, DecodeError> {
            all_strings(p)?.into_iter().map(utf8).collect()
        };
        let resp = match msg.msg_type()? {
            MsgType::Directory => Response::Directory(strings(p)?),
            MsgType::DirectoryPart => {
                let mut list = strings(p)?;
                if list.is_empty() {
                    return Err(DecodeError::MissingArgument);
                }
                let generation = decimal(list.remove(0).as_bytes(), u64::MAX)?;
                let complete = list.last().is_some_and(|s| s.is_empty());
                if complete {
                    list.pop();
                }
                // An empty name anywhere else is not a child.
                if list.iter().any(|s| s.is_empty()) {
                    return Err(DecodeError::BadArgument);
                }
                Response::DirectoryPart {
                    generation,
                    children: list,
                    complete,
                }
            }
            MsgType::Read => Response::Read(p.to_vec()),
            MsgType::GetPerms => {
                let s = all_strings(p)?;
                if s.is_empty() {
                    return Err(DecodeError::MissingArgument);
                }
                Response::GetPerms(
                    s.into_iter()
                        .map(|s| Perm::parse(s).map_err(DecodeError::BadPerm))
                        .collect::<Result<_, _>>()?,
                )
            }
            MsgType::TransactionStart => {
                // Bounded by u32::MAX, so the narrowing is exact.
                let id = decimal(one_arg(p)?, u32::MAX.into())? as u32;
                // 0 means "no transaction": a server handing it out would silently make our
                // "transactional" requests non-atomic.
                if id == 0 {
                    return Err(DecodeError::BadArgument);
                }
                Response::TransactionStart(id)
            }
            MsgType::GetDomainPath => Response::GetDomainPath(utf8(one_arg(p)?)?),
            MsgType::Error => {
                Response::Error(XsError::from_name(one_arg(p)?).ok_or(DecodeError::UnknownError)?)
            }
            MsgType::WatchEvent => {
                let ([path, token], _) = leading::<2>(p)?;
                Response::WatchEvent {
                    path: utf8(path)?,
                    token: utf8(token)?,
                }
            }
            t if is_ack(t) => {
                if one_arg(p)? != b"OK" {
                    return Err(DecodeError::BadArgument);
                }
                Response::Ok(t)
            }
            t => return Err(DecodeError::NotAResponse(t)),
        };
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xs::perm::{Access, PermParseError};
    use crate::xs::wire::tests::raw;
    use alloc::vec;

    #[test]
    fn every_response_round_trips() {
        let all = vec![
            Response::Directory(vec![]),
            Response::Directory(vec!["vif".into(), "vbd".into()]),
            Response::DirectoryPart {
                generation: 17,
                children: vec!["a".into()],
                complete: false,
            },
            Response::DirectoryPart {
                generation: u64::MAX,
                children: vec!["a".into(), "b".into()],
                complete: true,
            },
            Response::DirectoryPart {
                generation: 0,
                children: vec![],
                complete: true,
            },
            Response::Read(b"4".to_vec()),
            Response::Read(vec![]),
            Response::Read(b"bin\0\0".to_vec()),
            Response::GetPerms(vec![Perm::new(0, Access::None), Perm::new(5, Access::Read)]),
            Response::TransactionStart(u32::MAX),
            Response::GetDomainPath("/local/domain/5".into()),
            Response::Ok(MsgType::Write),
            Response::Ok(MsgType::ResetWatches),
            Response::Error(XsError::EAGAIN),
            Response::WatchEvent {
                path: "/local/domain/0/backend/vif/5/0/state".into(),
                token: "fe:1".into(),
            },
        ];
        for r in all {
            let m = r.to_message(3, 4).unwrap();
            assert_eq!(Response::decode(&m), Ok(r.clone()), "{r:?}");
        }
    }

    #[test]
    fn payloads_have_the_documented_syntax() {
        assert_eq!(Response::Ok(MsgType::Write).payload().unwrap(), b"OK\0");
        assert_eq!(
            Response::Error(XsError::ENOENT).payload().unwrap(),
            b"ENOENT\0"
        );
        assert_eq!(
            Response::Directory(vec!["a".into(), "b".into()])
                .payload()
                .unwrap(),
            b"a\0b\0"
        );
        // xenstored's "offset behind list" reply: the generation and an empty string.
        let end = Response::DirectoryPart {
            generation: 9,
            children: vec![],
            complete: true,
        };
        assert_eq!(end.payload().unwrap(), b"9\0\0");
        assert_eq!(Response::TransactionStart(12).payload().unwrap(), b"12\0");
    }

    #[test]
    fn ok_for_a_non_ack_type_is_refused() {
        assert_eq!(
            Response::Ok(MsgType::Read).to_message(1, 0),
            Err(EncodeError::NotAnAck(MsgType::Read))
        );
    }

    #[test]
    fn malformed_replies_are_typed_errors() {
        let d = |t, p: &[u8]| Response::decode(&raw(t, p));
        assert_eq!(d(MsgType::Directory, b"a\0b"), Err(DecodeError::MissingNul));
        assert_eq!(d(MsgType::Directory, b"\xff\0"), Err(DecodeError::NotUtf8));
        assert_eq!(
            d(MsgType::TransactionStart, b"0\0"),
            Err(DecodeError::BadArgument)
        );
        assert_eq!(
            d(MsgType::TransactionStart, b"x\0"),
            Err(DecodeError::BadNumber)
        );
        assert_eq!(
            d(MsgType::TransactionStart, b"4294967296\0"),
            Err(DecodeError::BadNumber)
        );
        assert_eq!(
            d(MsgType::TransactionStart, b"5"),
            Err(DecodeError::MissingNul)
        );
        assert_eq!(d(MsgType::Error, b"ENOENT"), Err(DecodeError::MissingNul));
        assert_eq!(
            d(MsgType::Error, b"EWHAT\0"),
            Err(DecodeError::UnknownError)
        );
        assert_eq!(d(MsgType::Write, b"KO\0"), Err(DecodeError::BadArgument));
        assert_eq!(d(MsgType::Write, b"OK"), Err(DecodeError::MissingNul));
        assert_eq!(
            d(MsgType::WatchEvent, b"/a\0"),
            Err(DecodeError::MissingArgument)
        );
        assert_eq!(d(MsgType::GetPerms, b""), Err(DecodeError::MissingArgument));
        assert_eq!(
            d(MsgType::GetPerms, b"z1\0"),
            Err(DecodeError::BadPerm(PermParseError::BadAccess(b'z')))
        );
        assert_eq!(
            d(MsgType::DirectoryPart, b""),
            Err(DecodeError::MissingArgument)
        );
        assert_eq!(
            d(MsgType::DirectoryPart, b"1\0\0a\0"),
            Err(DecodeError::BadArgument)
        );
        assert_eq!(
            d(MsgType::Introduce, b"OK\0"),
            Err(DecodeError::NotAResponse(MsgType::Introduce))
        );
    }
}
