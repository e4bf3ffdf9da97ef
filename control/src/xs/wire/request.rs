//! Typed requests (guest → xenstored): encoded by the client, decoded by a server.

use super::strings::{all_strings, decimal, leading, one_arg, push_str, utf8};
use super::{DecodeError, EncodeError, Message, MsgType};
use crate::xs::path;
use crate::xs::perm::Perm;
use alloc::string::String;
use alloc::vec::Vec;

/// A request a guest sends, with the payload syntax of xenstore.txt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `<path>|` → child names.
    Directory { path: String },
    /// `<path>|<offset>|` → generation and the child list from byte `offset` on.
    DirectoryPart { path: String, offset: u32 },
    /// `<path>|` → value.
    Read { path: String },
    /// `<path>|` → permissions; `path` may be special (`@...`).
    GetPerms { path: String },
    /// `<wpath>|<token>|`; `path` may be special. The tx_id is ignored by xenstored.
    Watch { path: String, token: String },
    /// `<wpath>|<token>|`.
    Unwatch { path: String, token: String },
    /// `|` → transaction id. tx_id must be 0.
    TransactionStart,
    /// `T|` commits, `F|` aborts the transaction named by the header's tx_id.
    TransactionEnd { commit: bool },
    /// `<domid>|` → the domain's home path.
    GetDomainPath { domid: u16 },
    /// `<path>|<value|>`: the value is binary and not NUL-terminated.
    Write { path: String, value: Vec<u8> },
    /// `<path>|`.
    Mkdir { path: String },
    /// `<path>|`.
    Rm { path: String },
    /// `<path>|<perm>|+`; the first perm names the owner. `path` may be special.
    SetPerms { path: String, perms: Vec<Perm> },
    /// `|`: drop all watches and transactions of the connection.
    ResetWatches,
}

impl Request {
    pub fn msg_type(&self) -> MsgType {
        match self {
            Request::Directory { .. } => MsgType::Directory,
            Request::DirectoryPart { .. } => MsgType::DirectoryPart,
            Request::Read { .. } => MsgType::Read,
            Request::GetPerms { .. } => MsgType::GetPerms,
            Request::Watch { .. } => MsgType::Watch,
            Request::Unwatch { .. } => MsgType::Unwatch,
            Request::TransactionStart => MsgType::TransactionStart,
            Request::TransactionEnd { .. } => MsgType::TransactionEnd,
            Request::GetDomainPath { .. } => MsgType::GetDomainPath,
            Request::Write { .. } => MsgType::Write,
            Request::Mkdir { .. } => MsgType::Mkdir,
            Request::Rm { .. } => MsgType::Rm,
            Request::SetPerms { .. } => MsgType::SetPerms,
            Request::ResetWatches => MsgType::ResetWatches,
        }
    }

    /// Whether the request's path may be a special `@...` path (xenstored's `allow_special`).
    fn allows_special(&self) -> bool {
        matches!(
            self,
            Request::GetPerms { .. }
                | Request::SetPerms { .. }
                | Request::Watch { .. }
                | Request::Unwatch { .. }
        )
    }

    /// The path the request operates on, if it has one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Request::Directory { path }
            | Request::DirectoryPart { path, .. }
            | Request::Read { path }
            | Request::GetPerms { path }
            | Request::Watch { path, .. }
            | Request::Unwatch { path, .. }
            | Request::Write { path, .. }
            | Request::Mkdir { path }
            | Request::Rm { path }
            | Request::SetPerms { path, .. } => Some(path),
            Request::TransactionStart
            | Request::TransactionEnd { .. }
            | Request::GetDomainPath { .. }
            | Request::ResetWatches => None,
        }
    }

    /// The payload bytes. Paths are checked against xenstore's rules and limits, so that a request
    /// xenstored would refuse (or kill the connection for) is never sent.
    pub fn payload(&self) -> Result<Vec<u8>, EncodeError> {
        if let Some(p) = self.path() {
            path::validate(p, self.allows_special()).map_err(EncodeError::BadPath)?;
        }
        let mut out = Vec::new();
        match self {
            Request::Directory { path }
            | Request::Read { path }
            | Request::GetPerms { path }
            | Request::Mkdir { path }
            | Request::Rm { path } => push_str(&mut out, path.as_bytes())?,
            Request::DirectoryPart { path, offset } => {
                push_str(&mut out, path.as_bytes())?;
                push_str(&mut out, alloc::format!("{offset}").as_bytes())?;
            }
            Request::Watch { path, token } | Request::Unwatch { path, token } => {
                push_str(&mut out, path.as_bytes())?;
                push_str(&mut out, token.as_bytes())?;
            }
            Request::TransactionStart | Request::ResetWatches => out.push(0),
            Request::TransactionEnd { commit } => {
                push_str(&mut out, if *commit { b"T" } else { b"F" })?
            }
            Request::GetDomainPath { domid } => {
                push_str(&mut out, alloc::format!("{domid}").as_bytes())?
            }
            Request::Write { path, value } => {
                push_str(&mut out, path.as_bytes())?;
                out.extend_from_slice(value);
            }
            Request::SetPerms { path, perms } => {
                if perms.is_empty() {
                    return Err(EncodeError::NoPerms);
                }
                push_str(&mut out, path.as_bytes())?;
                for p in perms {
                    push_str(&mut out, p.to_wire().as_bytes())?;
                }
            }
        }
        if out.len() > super::PAYLOAD_MAX {
            return Err(EncodeError::PayloadTooLong(out.len()));
        }
        Ok(out)
    }

    /// The framed message for `req_id` / `tx_id`.
    pub fn to_message(&self, req_id: u32, tx_id: u32) -> Result<Message, EncodeError> {
        Message::new(self.msg_type(), req_id, tx_id, self.payload()?)
    }

    /// Parses a received request with the argument rules xenstored enforces, plus path validation
    /// (which xenstored also applies, answering EINVAL). Answer a failure with
    /// [`DecodeError::reply_error`].
    pub fn decode(msg: &Message) -> Result<Request, DecodeError> {
        let p = &msg.payload[..];
        let path_of = |b: &[u8], special: bool| -> Result<String, DecodeError> {
            let s = utf8(b)?;
            path::validate(&s, special).map_err(DecodeError::BadPath)?;
            Ok(s)
        };
        let req = match msg.msg_type()? {
            MsgType::Directory => Request::Directory {
                path: path_of(one_arg(p)?, false)?,
            },
            MsgType::Read => Request::Read {
                path: path_of(one_arg(p)?, false)?,
            },
            MsgType::GetPerms => Request::GetPerms {
                path: path_of(one_arg(p)?, true)?,
            },
            MsgType::Mkdir => Request::Mkdir {
                path: path_of(one_arg(p)?, false)?,
            },
            MsgType::Rm => Request::Rm {
                path: path_of(one_arg(p)?, false)?,
            },
            MsgType::DirectoryPart => {
                // xenstored counts exactly two strings.
                let s = all_strings(p)?;
                let [path, offset] = s[..] else {
                    return Err(DecodeError::MissingArgument);
                };
                // Bounded by u32::MAX, so the narrowing is exact.
                let offset = decimal(offset, u32::MAX.into())? as u32;
                Request::DirectoryPart {
                    path: path_of(path, false)?,
                    offset,
                }
            }
            MsgType::Watch | MsgType::Unwatch => {
                // Anything after the token is the reserved `?` field, which xenstored ignores.
                let ([path, token], _reserved) = leading::<2>(p)?;
                let (path, token) = (path_of(path, true)?, utf8(token)?);
                if msg.header.msg_type == MsgType::Watch.as_u32() {
                    Request::Watch { path, token }
                } else {
                    Request::Unwatch { path, token }
                }
            }
            // xenstored does not look at these payloads.
            MsgType::TransactionStart => Request::TransactionStart,
            MsgType::ResetWatches => Request::ResetWatches,
            MsgType::TransactionEnd => match one_arg(p)? {
                b"T" => Request::TransactionEnd { commit: true },
                b"F" => Request::TransactionEnd { commit: false },
                _ => return Err(DecodeError::BadArgument),
            },
            MsgType::GetDomainPath => {
                // Bounded by u16::MAX, so the narrowing is exact.
                Request::GetDomainPath {
                    domid: decimal(one_arg(p)?, u16::MAX.into())? as u16,
                }
            }
            MsgType::Write => {
                let ([path], value) = leading::<1>(p)?;
                Request::Write {
                    path: path_of(path, false)?,
                    value: value.to_vec(),
                }
            }
            MsgType::SetPerms => {
                let s = all_strings(p)?;
                let (path, perms) = s.split_first().ok_or(DecodeError::MissingArgument)?;
                if perms.is_empty() {
                    return Err(DecodeError::MissingArgument);
                }
                let perms = perms
                    .iter()
                    .map(|s| Perm::parse(s).map_err(DecodeError::BadPerm))
                    .collect::<Result<_, _>>()?;
                Request::SetPerms {
                    path: path_of(path, true)?,
                    perms,
                }
            }
            t @ (MsgType::WatchEvent | MsgType::Error) => return Err(DecodeError::NotARequest(t)),
            t @ (MsgType::Control
            | MsgType::Introduce
            | MsgType::Release
            | MsgType::IsDomainIntroduced
            | MsgType::Resume
            | MsgType::SetTarget) => return Err(DecodeError::Privileged(t)),
        };
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xs::path::PathError;
    use crate::xs::perm::{Access, PermParseError};
    use crate::xs::wire::tests::raw;
    use crate::xs::wire::{Header, PAYLOAD_MAX};
    use alloc::string::ToString;
    use alloc::vec;

    fn all_requests() -> Vec<Request> {
        vec![
            Request::Directory {
                path: "/local/domain/0".into(),
            },
            Request::DirectoryPart {
                path: "/local".into(),
                offset: 4000,
            },
            Request::Read {
                path: "device/vif/0/state".into(),
            },
            Request::GetPerms {
                path: "@releaseDomain".into(),
            },
            Request::Watch {
                path: "/local/domain/0/backend".into(),
                token: "tok 1".into(),
            },
            Request::Unwatch {
                path: "backend".into(),
                token: "".into(),
            },
            Request::TransactionStart,
            Request::TransactionEnd { commit: true },
            Request::TransactionEnd { commit: false },
            Request::GetDomainPath { domid: 65535 },
            Request::Write {
                path: "/a".into(),
                value: b"bin\0ary".to_vec(),
            },
            Request::Write {
                path: "/a".into(),
                value: Vec::new(),
            },
            Request::Mkdir {
                path: "/a/b".into(),
            },
            Request::Rm {
                path: "/a/b".into(),
            },
            Request::SetPerms {
                path: "/a".into(),
                perms: vec![Perm::new(3, Access::None), Perm::new(0, Access::Both)],
            },
            Request::ResetWatches,
        ]
    }

    #[test]
    fn every_request_round_trips() {
        for r in all_requests() {
            let m = r.to_message(42, 7).unwrap();
            assert_eq!(m.header.req_id, 42);
            assert_eq!(m.header.tx_id, 7);
            assert_eq!(m.msg_type(), Ok(r.msg_type()));
            assert_eq!(Request::decode(&m), Ok(r.clone()), "{r:?}");
        }
    }

    #[test]
    fn payloads_have_the_documented_syntax() {
        let p = |r: Request| r.payload().unwrap();
        assert_eq!(p(Request::Read { path: "/a".into() }), b"/a\0");
        assert_eq!(
            p(Request::Write {
                path: "/a".into(),
                value: b"v".to_vec()
            }),
            b"/a\0v"
        );
        assert_eq!(
            p(Request::Watch {
                path: "/a".into(),
                token: "t".into()
            }),
            b"/a\0t\0"
        );
        assert_eq!(p(Request::TransactionStart), b"\0");
        assert_eq!(p(Request::TransactionEnd { commit: false }), b"F\0");
        assert_eq!(p(Request::GetDomainPath { domid: 3 }), b"3\0");
        assert_eq!(
            p(Request::DirectoryPart {
                path: "/a".into(),
                offset: 12
            }),
            b"/a\x0012\0"
        );
        assert_eq!(
            p(Request::SetPerms {
                path: "/a".into(),
                perms: vec![Perm::new(0, Access::Read), Perm::new(3, Access::Both)]
            }),
            b"/a\0r0\0b3\0"
        );
    }

    #[test]
    fn encoder_refuses_what_xenstored_would_reject() {
        let long = "/".to_string() + &"a".repeat(3072);
        assert_eq!(
            Request::Read { path: long }.payload(),
            Err(EncodeError::BadPath(PathError::TooLong(3073)))
        );
        assert_eq!(
            Request::Read {
                path: "@releaseDomain".into()
            }
            .payload(),
            Err(EncodeError::BadPath(PathError::SpecialNotAllowed))
        );
        assert_eq!(
            Request::Watch {
                path: "/a".into(),
                token: "t\0".into()
            }
            .payload(),
            Err(EncodeError::EmbeddedNul)
        );
        assert_eq!(
            Request::SetPerms {
                path: "/a".into(),
                perms: vec![]
            }
            .payload(),
            Err(EncodeError::NoPerms)
        );
        let big = Request::Write {
            path: "/a".into(),
            value: vec![b'x'; PAYLOAD_MAX - 3],
        };
        assert_eq!(big.payload().map(|p| p.len()), Ok(PAYLOAD_MAX));
        let too_big = Request::Write {
            path: "/a".into(),
            value: vec![b'x'; PAYLOAD_MAX - 2],
        };
        assert_eq!(
            too_big.payload(),
            Err(EncodeError::PayloadTooLong(PAYLOAD_MAX + 1))
        );
    }

    #[test]
    fn single_argument_requests_need_exactly_one_terminated_string() {
        for t in [
            MsgType::Read,
            MsgType::Directory,
            MsgType::GetPerms,
            MsgType::Mkdir,
            MsgType::Rm,
        ] {
            assert_eq!(
                Request::decode(&raw(t, b"/a")),
                Err(DecodeError::MissingNul)
            );
            assert_eq!(Request::decode(&raw(t, b"")), Err(DecodeError::MissingNul));
            assert_eq!(
                Request::decode(&raw(t, b"/a\0/b\0")),
                Err(DecodeError::UnexpectedNul)
            );
            assert_eq!(
                Request::decode(&raw(t, b"/a//b\0")),
                Err(DecodeError::BadPath(PathError::DoubleSlash))
            );
            assert_eq!(
                Request::decode(&raw(t, b"/\xff\0")),
                Err(DecodeError::NotUtf8)
            );
        }
    }

    #[test]
    fn malformed_arguments_are_typed_errors() {
        let d = |t, p: &[u8]| Request::decode(&raw(t, p));
        assert_eq!(
            d(MsgType::Watch, b"/a\0"),
            Err(DecodeError::MissingArgument)
        );
        assert_eq!(d(MsgType::Watch, b"/a\0tok"), Err(DecodeError::MissingNul));
        // The reserved field after the token is ignored, as xenstored does.
        assert_eq!(
            d(MsgType::Watch, b"/a\0t\0x\0"),
            Ok(Request::Watch {
                path: "/a".into(),
                token: "t".into()
            })
        );
        assert_eq!(d(MsgType::Write, b"/a"), Err(DecodeError::MissingNul));
        assert_eq!(
            d(MsgType::TransactionEnd, b"X\0"),
            Err(DecodeError::BadArgument)
        );
        assert_eq!(
            d(MsgType::TransactionEnd, b"TF\0"),
            Err(DecodeError::BadArgument)
        );
        assert_eq!(
            d(MsgType::GetDomainPath, b"65536\0"),
            Err(DecodeError::BadNumber)
        );
        assert_eq!(
            d(MsgType::GetDomainPath, b"-1\0"),
            Err(DecodeError::BadNumber)
        );
        assert_eq!(
            d(MsgType::DirectoryPart, b"/a\0"),
            Err(DecodeError::MissingArgument)
        );
        assert_eq!(
            d(MsgType::DirectoryPart, b"/a\x001\x002\0"),
            Err(DecodeError::MissingArgument)
        );
        assert_eq!(
            d(MsgType::DirectoryPart, b"/a\0x\0"),
            Err(DecodeError::BadNumber)
        );
        assert_eq!(
            d(MsgType::SetPerms, b"/a\0"),
            Err(DecodeError::MissingArgument)
        );
        assert_eq!(
            d(MsgType::SetPerms, b"/a\0r0"),
            Err(DecodeError::MissingNul)
        );
        assert_eq!(
            d(MsgType::SetPerms, b"/a\0q0\0"),
            Err(DecodeError::BadPerm(PermParseError::BadAccess(b'q')))
        );
    }

    #[test]
    fn non_request_types_are_refused_with_the_right_reply() {
        let e = Request::decode(&raw(MsgType::WatchEvent, b"/a\0t\0")).unwrap_err();
        assert_eq!(e, DecodeError::NotARequest(MsgType::WatchEvent));
        let e = Request::decode(&raw(MsgType::Introduce, b"1\x002\x003\0")).unwrap_err();
        assert_eq!(e, DecodeError::Privileged(MsgType::Introduce));
        let m = Message {
            header: Header {
                msg_type: 20,
                req_id: 1,
                tx_id: 0,
                len: 0,
            },
            payload: vec![],
        };
        assert_eq!(Request::decode(&m), Err(DecodeError::UnknownType(20)));
    }
}
