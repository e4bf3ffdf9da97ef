//! The store operations, shared by a plain connection and a transaction.

use super::Error;
use crate::xs::error::XsError;
use crate::xs::perm::Perm;
use crate::xs::wire::{DecodeError, MsgType, Request, Response};
use alloc::string::String;
use alloc::vec::Vec;

/// How often a DIRECTORY_PART listing restarts because the node changed under it.
const MAX_DIRECTORY_RESTARTS: u32 = 8;

fn unexpected(expected: MsgType, got: &Response) -> Error {
    Error::UnexpectedReply {
        expected,
        got: got.msg_type().as_u32(),
    }
}

fn expect_ack(expected: MsgType, r: Response) -> Result<(), Error> {
    match r {
        Response::Ok(t) if t == expected => Ok(()),
        other => Err(unexpected(expected, &other)),
    }
}

/// Reads and writes on xenstore, outside ([`super::Client`]) or inside ([`super::Transaction`]) a
/// transaction. Implementors provide `call`; everything else is built on it.
pub trait Store {
    /// Sends one request and returns its (successful) reply.
    fn call(&mut self, req: Request) -> Result<Response, Error>;

    /// The value at `path`.
    fn read(&mut self, path: &str) -> Result<Vec<u8>, Error> {
        match self.call(Request::Read { path: path.into() })? {
            Response::Read(v) => Ok(v),
            other => Err(unexpected(MsgType::Read, &other)),
        }
    }

    /// The value at `path`, or `None` if the node does not exist.
    fn try_read(&mut self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        match self.read(path) {
            Ok(v) => Ok(Some(v)),
            Err(Error::Xs(XsError::ENOENT)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The value at `path` as text.
    fn read_string(&mut self, path: &str) -> Result<String, Error> {
        String::from_utf8(self.read(path)?).map_err(|_| Error::Decode(DecodeError::NotUtf8))
    }

    /// Sets the value at `path`, creating missing parents.
    fn write(&mut self, path: &str, value: &[u8]) -> Result<(), Error> {
        expect_ack(
            MsgType::Write,
            self.call(Request::Write {
                path: path.into(),
                value: value.into(),
            })?,
        )
    }

    /// Creates `path` (and parents) if missing.
    fn mkdir(&mut self, path: &str) -> Result<(), Error> {
        expect_ack(
            MsgType::Mkdir,
            self.call(Request::Mkdir { path: path.into() })?,
        )
    }

    /// Removes `path` and everything below it.
    fn rm(&mut self, path: &str) -> Result<(), Error> {
        expect_ack(MsgType::Rm, self.call(Request::Rm { path: path.into() })?)
    }

    /// The names of the children of `path`. Lists too long for one reply (xenstored answers E2BIG)
    /// are fetched with DIRECTORY_PART and restarted if the node changes in between.
    fn directory(&mut self, path: &str) -> Result<Vec<String>, Error> {
        match self.call(Request::Directory { path: path.into() }) {
            Ok(Response::Directory(children)) => Ok(children),
            Ok(other) => Err(unexpected(MsgType::Directory, &other)),
            Err(Error::Xs(XsError::E2BIG)) => directory_in_parts(self, path),
            Err(e) => Err(e),
        }
    }

    /// The permissions of `path` (owner first).
    fn get_perms(&mut self, path: &str) -> Result<Vec<Perm>, Error> {
        match self.call(Request::GetPerms { path: path.into() })? {
            Response::GetPerms(p) => Ok(p),
            other => Err(unexpected(MsgType::GetPerms, &other)),
        }
    }

    /// Replaces the permissions of `path`; `perms[0]` is the owner and the default access.
    fn set_perms(&mut self, path: &str, perms: &[Perm]) -> Result<(), Error> {
        expect_ack(
            MsgType::SetPerms,
            self.call(Request::SetPerms {
                path: path.into(),
                perms: perms.into(),
            })?,
        )
    }
}

fn directory_in_parts<S: Store + ?Sized>(store: &mut S, path: &str) -> Result<Vec<String>, Error> {
    'restart: for _ in 0..MAX_DIRECTORY_RESTARTS {
        let mut children = Vec::new();
        let mut generation = None;
        let mut offset: u32 = 0;
        loop {
            let (gen, part, complete) = match store.call(Request::DirectoryPart {
                path: path.into(),
                offset,
            })? {
                Response::DirectoryPart {
                    generation,
                    children,
                    complete,
                } => (generation, children, complete),
                other => return Err(unexpected(MsgType::DirectoryPart, &other)),
            };
            if generation.is_some_and(|g| g != gen) {
                continue 'restart;
            }
            generation = Some(gen);
            if part.is_empty() && !complete {
                // No progress and no end: the server would have us loop forever.
                return Err(Error::Decode(DecodeError::BadArgument));
            }
            for child in part {
                let step = u32::try_from(child.len() + 1)
                    .map_err(|_| Error::Decode(DecodeError::BadArgument))?;
                offset = offset
                    .checked_add(step)
                    .ok_or(Error::Decode(DecodeError::BadArgument))?;
                children.push(child);
            }
            if complete {
                return Ok(children);
            }
        }
    }
    Err(Error::Xs(XsError::EAGAIN))
}
