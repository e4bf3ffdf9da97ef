//! The strict decoder of what user space sends: the input buffer of each control code, checked
//! completely before anything is done. Lengths must be exact, strings end with their only NUL and
//! are UTF-8, paths follow xenstored's rules and fit one xenstore message, reserved fields are 0.
//! Nothing here can panic or read past the buffer: every access goes through [`Input`], which
//! hands out sub-slices only after checking their bounds.

use alloc::vec::Vec;
use xenpv_abi::{DomId, EvtchnPort};
use xenpv_control::xs::path;
use xenpv_control::xs::wire::PAYLOAD_MAX;

use crate::error::RequestError;
use crate::ioctl::Ioctl;

/// A decoded request; strings and values borrow the input buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    StoreRead {
        tx: u32,
        path: &'a str,
    },
    StoreWrite {
        tx: u32,
        path: &'a str,
        value: &'a [u8],
    },
    StoreDirectory {
        tx: u32,
        path: &'a str,
    },
    StoreRemove {
        tx: u32,
        path: &'a str,
    },
    /// `event`: a user event handle, or `None` to collect firings with `WatchWait`.
    WatchAdd {
        event: Option<u64>,
        path: &'a str,
    },
    WatchRemove {
        watch: u32,
    },
    WatchWait,
    TransactionStart,
    TransactionEnd {
        tx: u32,
        commit: bool,
    },
    EvtchnBindInterdomain {
        remote_domain: DomId,
        remote_port: EvtchnPort,
        event: u64,
    },
    EvtchnAllocUnbound {
        remote_domain: DomId,
        event: u64,
    },
    EvtchnNotify {
        port: EvtchnPort,
    },
    EvtchnClose {
        port: EvtchnPort,
    },
    GrantAccess {
        remote_domain: DomId,
        read_only: bool,
        id: u32,
    },
    GrantRefs {
        id: u32,
    },
    GrantRevoke {
        id: u32,
    },
    AgentWaitAction,
    SuspendCount,
}

/// `GrantAccess` flags: bit 0 grants read-only access; no other bit is defined.
pub const GRANT_READ_ONLY: u16 = 1;

/// Bounds-checked reads from the front of the input.
struct Input<'a> {
    bytes: &'a [u8],
    /// Offset of `bytes` in the whole input, for error reports.
    at: usize,
}

impl<'a> Input<'a> {
    fn take(&mut self, n: usize, min: usize, total: usize) -> Result<&'a [u8], RequestError> {
        if self.bytes.len() < n {
            return Err(RequestError::InputTooShort { min, got: total });
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        self.at += n;
        Ok(head)
    }

    /// A NUL-terminated UTF-8 string; the NUL is consumed.
    fn c_str(&mut self) -> Result<&'a str, RequestError> {
        let nul = self
            .bytes
            .iter()
            .position(|&b| b == 0)
            .ok_or(RequestError::MissingNul)?;
        let s = core::str::from_utf8(&self.bytes[..nul]).map_err(|_| RequestError::NotUtf8)?;
        self.bytes = &self.bytes[nul + 1..];
        self.at += nul + 1;
        Ok(s)
    }

    /// The last string of an input: it must end exactly at the end of the buffer.
    fn last_c_str(&mut self) -> Result<&'a str, RequestError> {
        let s = self.c_str()?;
        if !self.bytes.is_empty() {
            // The first NUL ended the string, so whatever follows was inside it.
            return Err(RequestError::EmbeddedNul(self.at - 1));
        }
        Ok(s)
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

/// The whole input must be exactly `N` bytes.
fn fixed<const N: usize>(input: &[u8]) -> Result<[u8; N], RequestError> {
    input.try_into().map_err(|_| RequestError::InputLength {
        expected: N,
        got: input.len(),
    })
}

fn store_path(path: &str, allow_special: bool) -> Result<&str, RequestError> {
    path::validate(path, allow_special).map_err(RequestError::BadPath)?;
    Ok(path)
}

/// A `tx:u32, path NUL` input.
fn tx_and_path(input: &[u8]) -> Result<(u32, &str), RequestError> {
    let mut cursor = Input {
        bytes: input,
        at: 0,
    };
    let tx = u32_at(cursor.take(4, 5, input.len())?, 0);
    let path = store_path(cursor.last_c_str()?, false)?;
    Ok((tx, path))
}

/// Decodes the input of control code `code`.
pub fn decode(code: u32, input: &[u8]) -> Result<Request<'_>, RequestError> {
    let ioctl = Ioctl::from_code(code).ok_or(RequestError::UnknownIoctl(code))?;
    Ok(match ioctl {
        Ioctl::StoreRead => {
            let (tx, path) = tx_and_path(input)?;
            Request::StoreRead { tx, path }
        }
        Ioctl::StoreDirectory => {
            let (tx, path) = tx_and_path(input)?;
            Request::StoreDirectory { tx, path }
        }
        Ioctl::StoreRemove => {
            let (tx, path) = tx_and_path(input)?;
            Request::StoreRemove { tx, path }
        }
        Ioctl::StoreWrite => {
            let mut cursor = Input {
                bytes: input,
                at: 0,
            };
            let tx = u32_at(cursor.take(4, 5, input.len())?, 0);
            let path = store_path(cursor.c_str()?, false)?;
            let value = cursor.bytes;
            // On the wire: `path NUL value`, one message.
            let len = path.len() + 1 + value.len();
            if len > PAYLOAD_MAX {
                return Err(RequestError::TooLong {
                    len,
                    max: PAYLOAD_MAX,
                });
            }
            Request::StoreWrite { tx, path, value }
        }
        Ioctl::StoreWatchAdd => {
            let mut cursor = Input {
                bytes: input,
                at: 0,
            };
            let event = u64_at(cursor.take(8, 9, input.len())?, 0);
            let path = store_path(cursor.last_c_str()?, true)?;
            Request::WatchAdd {
                event: (event != 0).then_some(event),
                path,
            }
        }
        Ioctl::StoreWatchRemove => Request::WatchRemove {
            watch: u32::from_le_bytes(fixed::<4>(input)?),
        },
        Ioctl::StoreWatchWait => {
            fixed::<0>(input)?;
            Request::WatchWait
        }
        Ioctl::TransactionStart => {
            fixed::<0>(input)?;
            Request::TransactionStart
        }
        Ioctl::TransactionEnd => {
            let b = fixed::<8>(input)?;
            let commit = match u32_at(&b, 4) {
                0 => false,
                1 => true,
                _ => return Err(RequestError::BadField("commit")),
            };
            Request::TransactionEnd {
                tx: u32_at(&b, 0),
                commit,
            }
        }
        Ioctl::EvtchnBindInterdomain => {
            let b = fixed::<16>(input)?;
            reserved_zero(u16_at(&b, 2).into(), "reserved")?;
            Request::EvtchnBindInterdomain {
                remote_domain: u16_at(&b, 0),
                remote_port: u32_at(&b, 4),
                event: required_event(u64_at(&b, 8))?,
            }
        }
        Ioctl::EvtchnAllocUnbound => {
            let b = fixed::<16>(input)?;
            reserved_zero(u16_at(&b, 2).into(), "reserved")?;
            reserved_zero(u32_at(&b, 4), "reserved")?;
            Request::EvtchnAllocUnbound {
                remote_domain: u16_at(&b, 0),
                event: required_event(u64_at(&b, 8))?,
            }
        }
        Ioctl::EvtchnNotify => Request::EvtchnNotify {
            port: u32::from_le_bytes(fixed::<4>(input)?),
        },
        Ioctl::EvtchnClose => Request::EvtchnClose {
            port: u32::from_le_bytes(fixed::<4>(input)?),
        },
        Ioctl::GrantAccess => {
            let b = fixed::<8>(input)?;
            let flags = u16_at(&b, 2);
            if flags & !GRANT_READ_ONLY != 0 {
                return Err(RequestError::BadField("flags"));
            }
            Request::GrantAccess {
                remote_domain: u16_at(&b, 0),
                read_only: flags & GRANT_READ_ONLY != 0,
                id: u32_at(&b, 4),
            }
        }
        Ioctl::GrantRefs => Request::GrantRefs {
            id: u32::from_le_bytes(fixed::<4>(input)?),
        },
        Ioctl::GrantRevoke => Request::GrantRevoke {
            id: u32::from_le_bytes(fixed::<4>(input)?),
        },
        Ioctl::AgentWaitAction => {
            fixed::<0>(input)?;
            Request::AgentWaitAction
        }
        Ioctl::SuspendCount => {
            fixed::<0>(input)?;
            Request::SuspendCount
        }
    })
}

impl Request<'_> {
    /// The control code of this request.
    pub fn ioctl(&self) -> Ioctl {
        match self {
            Request::StoreRead { .. } => Ioctl::StoreRead,
            Request::StoreWrite { .. } => Ioctl::StoreWrite,
            Request::StoreDirectory { .. } => Ioctl::StoreDirectory,
            Request::StoreRemove { .. } => Ioctl::StoreRemove,
            Request::WatchAdd { .. } => Ioctl::StoreWatchAdd,
            Request::WatchRemove { .. } => Ioctl::StoreWatchRemove,
            Request::WatchWait => Ioctl::StoreWatchWait,
            Request::TransactionStart => Ioctl::TransactionStart,
            Request::TransactionEnd { .. } => Ioctl::TransactionEnd,
            Request::EvtchnBindInterdomain { .. } => Ioctl::EvtchnBindInterdomain,
            Request::EvtchnAllocUnbound { .. } => Ioctl::EvtchnAllocUnbound,
            Request::EvtchnNotify { .. } => Ioctl::EvtchnNotify,
            Request::EvtchnClose { .. } => Ioctl::EvtchnClose,
            Request::GrantAccess { .. } => Ioctl::GrantAccess,
            Request::GrantRefs { .. } => Ioctl::GrantRefs,
            Request::GrantRevoke { .. } => Ioctl::GrantRevoke,
            Request::AgentWaitAction => Ioctl::AgentWaitAction,
            Request::SuspendCount => Ioctl::SuspendCount,
        }
    }

    /// The input buffer a user-mode caller passes for this request (the inverse of [`decode`]).
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        let c_str = |b: &mut Vec<u8>, s: &str| {
            b.extend_from_slice(s.as_bytes());
            b.push(0);
        };
        match *self {
            Request::StoreRead { tx, path }
            | Request::StoreDirectory { tx, path }
            | Request::StoreRemove { tx, path } => {
                b.extend_from_slice(&tx.to_le_bytes());
                c_str(&mut b, path);
            }
            Request::StoreWrite { tx, path, value } => {
                b.extend_from_slice(&tx.to_le_bytes());
                c_str(&mut b, path);
                b.extend_from_slice(value);
            }
            Request::WatchAdd { event, path } => {
                b.extend_from_slice(&event.unwrap_or(0).to_le_bytes());
                c_str(&mut b, path);
            }
            Request::WatchRemove { watch: id }
            | Request::EvtchnNotify { port: id }
            | Request::EvtchnClose { port: id }
            | Request::GrantRefs { id }
            | Request::GrantRevoke { id } => b.extend_from_slice(&id.to_le_bytes()),
            Request::WatchWait
            | Request::TransactionStart
            | Request::AgentWaitAction
            | Request::SuspendCount => {}
            Request::TransactionEnd { tx, commit } => {
                b.extend_from_slice(&tx.to_le_bytes());
                b.extend_from_slice(&u32::from(commit).to_le_bytes());
            }
            Request::EvtchnBindInterdomain {
                remote_domain,
                remote_port,
                event,
            } => {
                b.extend_from_slice(&remote_domain.to_le_bytes());
                b.extend_from_slice(&[0, 0]);
                b.extend_from_slice(&remote_port.to_le_bytes());
                b.extend_from_slice(&event.to_le_bytes());
            }
            Request::EvtchnAllocUnbound {
                remote_domain,
                event,
            } => {
                b.extend_from_slice(&remote_domain.to_le_bytes());
                b.extend_from_slice(&[0; 6]);
                b.extend_from_slice(&event.to_le_bytes());
            }
            Request::GrantAccess {
                remote_domain,
                read_only,
                id,
            } => {
                b.extend_from_slice(&remote_domain.to_le_bytes());
                let flags = if read_only { GRANT_READ_ONLY } else { 0 };
                b.extend_from_slice(&flags.to_le_bytes());
                b.extend_from_slice(&id.to_le_bytes());
            }
        }
        b
    }
}

fn reserved_zero(value: u32, name: &'static str) -> Result<(), RequestError> {
    if value == 0 {
        Ok(())
    } else {
        Err(RequestError::BadField(name))
    }
}

/// Event channels always signal the caller through an event: there is no other way to learn of
/// an event on the port.
fn required_event(handle: u64) -> Result<u64, RequestError> {
    if handle == 0 {
        Err(RequestError::BadField("event"))
    } else {
        Ok(handle)
    }
}

/// The pages of the memory a `GrantAccess` names: its start must be page-aligned (`offset` is
/// its offset in its first page, the MDL's ByteOffset) and its length whole pages, at most
/// `max_pages`.
pub fn grant_pages(offset: usize, len: usize, max_pages: usize) -> Result<usize, RequestError> {
    let page = xenpv_abi::PAGE_SIZE;
    if offset != 0 || len == 0 || len % page != 0 || len / page > max_pages {
        return Err(RequestError::BadGrantBuffer);
    }
    Ok(len / page)
}

#[cfg(test)]
mod tests;
