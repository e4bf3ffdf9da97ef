//! A scripted xenstore peer for unit tests: a small in-memory store with watches and
//! transactions, reachable through an in-memory byte stream, with fault injection.

use crate::xs::client::{ByteStream, Client, Error, StreamTransport};
use crate::xs::perm::{Access, Perm};
use crate::xs::wire::{Decoder, Message, MsgType, Request, Response};
use crate::xs::XsError;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

/// Fault injection: `Some(replies)` replaces the normal handling of a message.
pub type Script = Box<dyn FnMut(&Message) -> Option<Vec<Message>>>;

/// A small xenstore for the tests: a flat map of nodes, watches, transactions whose commit can be
/// made to fail with EAGAIN, and an optional script that overrides replies to inject faults.
#[derive(Default)]
pub struct Peer {
    pub nodes: BTreeMap<String, Vec<u8>>,
    pub watches: Vec<(String, String)>,
    pub next_tx: u32,
    /// Commits to refuse with EAGAIN before accepting one.
    pub eagain_commits: u32,
    /// Lists longer than this are refused with E2BIG and served 2 children per DIRECTORY_PART.
    pub dir_limit: usize,
    /// Bumped by every write; reported as the DIRECTORY_PART generation.
    pub generation: u64,
    /// Every request received, with its tx_id.
    pub log: Vec<(Request, u32)>,
    pub script: Option<Script>,
    /// Watch events caused by changes made outside the connection (another domain).
    pub unsolicited: Vec<Message>,
}

pub fn reply(to: &Message, r: Response) -> Message {
    r.to_message(to.header.req_id, to.header.tx_id).unwrap()
}

pub fn event(path: &str, token: &str) -> Message {
    Response::WatchEvent {
        path: path.into(),
        token: token.into(),
    }
    .to_message(0, 0)
    .unwrap()
}

impl Peer {
    pub fn new() -> Rc<RefCell<Peer>> {
        Rc::new(RefCell::new(Peer {
            dir_limit: usize::MAX,
            ..Peer::default()
        }))
    }

    fn children(&self, path: &str) -> Vec<String> {
        let prefix = alloc::format!("{path}/");
        let mut out: Vec<String> = Vec::new();
        for k in self.nodes.keys() {
            if let Some(rest) = k.strip_prefix(&prefix) {
                let name = rest.split('/').next().unwrap().to_string();
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
        out
    }

    /// Queues the events a change of `path` causes. Removing a parent of a watched path fires that
    /// watch with its own path (xenstore.txt, WATCH_EVENT).
    fn fire(&self, path: &str, removal: bool, out: &mut Vec<Message>) {
        for (w, token) in &self.watches {
            if path == w || path.starts_with(&alloc::format!("{w}/")) {
                out.push(event(path, token));
            } else if removal && w.starts_with(&alloc::format!("{path}/")) {
                out.push(event(w, token));
            }
        }
    }

    /// A write by someone else (the backend, the toolstack): fires our watches.
    pub fn external_write(&mut self, path: &str, value: &[u8]) {
        self.nodes.insert(path.into(), value.into());
        self.generation += 1;
        let mut out = Vec::new();
        self.fire(path, false, &mut out);
        self.unsolicited.extend(out);
    }

    /// A removal by someone else: fires our watches.
    pub fn external_rm(&mut self, path: &str) {
        self.nodes
            .retain(|k, _| k != path && !k.starts_with(&alloc::format!("{path}/")));
        self.generation += 1;
        let mut out = Vec::new();
        self.fire(path, true, &mut out);
        self.unsolicited.extend(out);
    }

    pub fn handle(&mut self, msg: &Message) -> Vec<Message> {
        if let Some(script) = self.script.as_mut() {
            if let Some(out) = script(msg) {
                return out;
            }
        }
        let req = match Request::decode(msg) {
            Ok(r) => r,
            Err(e) => return vec![reply(msg, Response::Error(e.reply_error()))],
        };
        self.log.push((req.clone(), msg.header.tx_id));
        let mut out = Vec::new();
        let r = match req {
            Request::Read { path } => match self.nodes.get(&path) {
                Some(v) => Response::Read(v.clone()),
                None => Response::Error(XsError::ENOENT),
            },
            Request::Write { path, value } => {
                self.nodes.insert(path.clone(), value);
                self.generation += 1;
                self.fire(&path, false, &mut out);
                Response::Ok(MsgType::Write)
            }
            Request::Rm { path } => {
                self.nodes
                    .retain(|k, _| k != &path && !k.starts_with(&alloc::format!("{path}/")));
                self.generation += 1;
                self.fire(&path, true, &mut out);
                Response::Ok(MsgType::Rm)
            }
            Request::Mkdir { path } => {
                self.nodes.entry(path).or_default();
                Response::Ok(MsgType::Mkdir)
            }
            Request::Directory { path } => {
                let c = self.children(&path);
                if c.len() > self.dir_limit {
                    Response::Error(XsError::E2BIG)
                } else {
                    Response::Directory(c)
                }
            }
            Request::DirectoryPart { path, offset } => {
                let all = self.children(&path);
                let mut skipped = 0;
                let rest: Vec<String> = all
                    .into_iter()
                    .skip_while(|c| {
                        let skip = skipped < offset as usize;
                        skipped += c.len() + 1;
                        skip
                    })
                    .collect();
                let part: Vec<String> = rest.iter().take(2).cloned().collect();
                Response::DirectoryPart {
                    generation: self.generation,
                    complete: part.len() == rest.len(),
                    children: part,
                }
            }
            Request::Watch { path, token } => {
                self.watches.push((path.clone(), token.clone()));
                out.push(event(&path, &token));
                Response::Ok(MsgType::Watch)
            }
            Request::Unwatch { path, token } => {
                self.watches.retain(|w| w != &(path.clone(), token.clone()));
                Response::Ok(MsgType::Unwatch)
            }
            Request::TransactionStart => {
                self.next_tx += 1;
                Response::TransactionStart(self.next_tx)
            }
            Request::TransactionEnd { commit } => {
                if commit && self.eagain_commits > 0 {
                    self.eagain_commits -= 1;
                    Response::Error(XsError::EAGAIN)
                } else {
                    Response::Ok(MsgType::TransactionEnd)
                }
            }
            Request::GetDomainPath { domid } => {
                Response::GetDomainPath(alloc::format!("/local/domain/{domid}"))
            }
            Request::GetPerms { .. } => Response::GetPerms(vec![Perm::new(0, Access::None)]),
            Request::SetPerms { .. } => Response::Ok(MsgType::SetPerms),
            Request::ResetWatches => {
                self.watches.clear();
                Response::Ok(MsgType::ResetWatches)
            }
        };
        // The reply first, then the events it caused (xenstored's order for WATCH).
        out.insert(0, reply(msg, r));
        out
    }
}

/// An in-memory stream whose far end is a `Peer`; reads return at most `chunk` bytes, to exercise
/// reassembly across arbitrary splits.
pub struct MemStream {
    peer: Rc<RefCell<Peer>>,
    rx: VecDeque<u8>,
    chunk: usize,
}

impl MemStream {
    /// Events caused by outside changes go on the stream in the order they happened.
    fn take_unsolicited(&mut self) {
        for m in core::mem::take(&mut self.peer.borrow_mut().unsolicited) {
            self.rx.extend(m.to_bytes());
        }
    }
}

impl ByteStream for MemStream {
    fn write_message(&mut self, bytes: &[u8]) -> Result<(), Error> {
        // One write carries exactly one whole message, as /dev/xen/xenbus requires.
        let mut dec = Decoder::new();
        let mut input = bytes;
        let msg = dec
            .feed(&mut input)
            .unwrap()
            .expect("write_message got a partial message");
        assert!(input.is_empty(), "write_message got more than one message");
        self.take_unsolicited();
        for m in self.peer.borrow_mut().handle(&msg) {
            self.rx.extend(m.to_bytes());
        }
        Ok(())
    }

    fn try_read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        self.take_unsolicited();
        if self.rx.is_empty() {
            return Ok(None);
        }
        self.read(buf).map(Some)
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        self.take_unsolicited();
        let n = buf.len().min(self.chunk).min(self.rx.len());
        for (d, s) in buf.iter_mut().zip(self.rx.drain(..n)) {
            *d = s;
        }
        Ok(n)
    }
}

pub fn stream_client(chunk: usize) -> (Client<StreamTransport<MemStream>>, Rc<RefCell<Peer>>) {
    let peer = Peer::new();
    let stream = MemStream {
        peer: peer.clone(),
        rx: VecDeque::new(),
        chunk,
    };
    (Client::new(StreamTransport::new(stream)), peer)
}
