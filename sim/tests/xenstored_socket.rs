//! The store over its Unix socket, spoken to with the control crate's codec: replies, errors,
//! asynchronous watch events, several clients at once, an unprivileged socket, and clients that
//! break the protocol.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;
use xenpv_control::xs::wire::{Decoder, Header, Message, MsgType, Request, Response};
use xenpv_control::xs::{Access, Perm, XsError};
use xenpv_sim::xenstored::{Config, StoreOps, UnixServer, Xenstored};

const TIMEOUT: Duration = Duration::from_secs(5);

fn socket_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xenpv-xs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    dir
}

/// A minimal client: sends requests, collects replies and events in arrival order.
struct Client {
    stream: UnixStream,
    decoder: Decoder,
    next_req: u32,
}

impl Client {
    fn connect(server: &UnixServer) -> Client {
        let stream = UnixStream::connect(server.path()).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        Client {
            stream,
            decoder: Decoder::new(),
            next_req: 1,
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// The next message from the server, or `None` at EOF / timeout.
    fn recv(&mut self) -> Option<Response> {
        let mut buf = [0u8; 1];
        loop {
            let mut input: &[u8] = &[];
            if let Some(msg) = self.decoder.feed(&mut input).unwrap() {
                return Some(Response::decode(&msg).unwrap());
            }
            match self.stream.read(&mut buf) {
                Ok(1) => {
                    let mut input = &buf[..];
                    if let Some(msg) = self.decoder.feed(&mut input).unwrap() {
                        return Some(Response::decode(&msg).unwrap());
                    }
                }
                _ => return None,
            }
        }
    }

    fn call_tx(&mut self, req: Request, tx: u32) -> Response {
        let id = self.next_req;
        self.next_req += 1;
        self.send_raw(&req.to_message(id, tx).unwrap().to_bytes());
        self.recv().expect("reply")
    }

    fn call(&mut self, req: Request) -> Response {
        self.call_tx(req, 0)
    }
}

fn read(path: &str) -> Request {
    Request::Read { path: path.into() }
}

fn write(path: &str, value: &str) -> Request {
    Request::Write {
        path: path.into(),
        value: value.as_bytes().to_vec(),
    }
}

fn raw(msg_type: u32, payload: &[u8]) -> Vec<u8> {
    Message {
        header: Header {
            msg_type,
            req_id: 77,
            tx_id: 0,
            len: payload.len() as u32,
        },
        payload: payload.to_vec(),
    }
    .to_bytes()
}

#[test]
fn requests_round_trip_over_the_socket() {
    let xs = Xenstored::new(Config::default());
    let server = xs.serve_unix(socket_path("basic"), 0).unwrap();
    let mut c = Client::connect(&server);
    assert_eq!(c.call(write("/a/b", "v")), Response::Ok(MsgType::Write));
    assert_eq!(c.call(read("/a/b")), Response::Read(b"v".to_vec()));
    assert_eq!(
        c.call(Request::Directory { path: "/a".into() }),
        Response::Directory(vec!["b".into()])
    );
    assert_eq!(c.call(read("/a/zz")), Response::Error(XsError::ENOENT));
    assert_eq!(
        c.call(Request::GetPerms {
            path: "/a/b".into()
        }),
        Response::GetPerms(vec![Perm::new(0, Access::None)])
    );
    assert_eq!(
        c.call(Request::GetDomainPath { domid: 12 }),
        Response::GetDomainPath("/local/domain/12".into())
    );
    assert_eq!(
        c.call(Request::Rm { path: "/a".into() }),
        Response::Ok(MsgType::Rm)
    );
    // What the socket client did is visible in-process.
    assert_eq!(xs.connect(0).read("/a"), Err(XsError::ENOENT));
}

#[test]
fn transactions_over_the_wire_use_tx_id() {
    let xs = Xenstored::new(Config::default());
    let server = xs.serve_unix(socket_path("txn"), 0).unwrap();
    let mut c = Client::connect(&server);
    let Response::TransactionStart(tx) = c.call(Request::TransactionStart) else {
        panic!("no tx id")
    };
    assert_eq!(
        c.call_tx(write("/t", "1"), tx),
        Response::Ok(MsgType::Write)
    );
    assert_eq!(c.call(read("/t")), Response::Error(XsError::ENOENT));
    assert_eq!(c.call_tx(read("/t"), tx), Response::Read(b"1".to_vec()));
    // Starting a transaction inside one is EBUSY; an unknown id is ENOENT.
    assert_eq!(
        c.call_tx(Request::TransactionStart, tx),
        Response::Error(XsError::EBUSY)
    );
    assert_eq!(
        c.call_tx(read("/t"), tx + 100),
        Response::Error(XsError::ENOENT)
    );
    // Someone else writes what the transaction wrote: EAGAIN, and nothing applied.
    xs.connect(0).write("/t", "other").unwrap();
    assert_eq!(
        c.call_tx(Request::TransactionEnd { commit: true }, tx),
        Response::Error(XsError::EAGAIN)
    );
    assert_eq!(c.call(read("/t")), Response::Read(b"other".to_vec()));
    // The id is gone after END.
    assert_eq!(
        c.call_tx(Request::TransactionEnd { commit: false }, tx),
        Response::Error(XsError::ENOENT)
    );
    // RESET_WATCHES drops open transactions.
    let Response::TransactionStart(tx) = c.call(Request::TransactionStart) else {
        panic!("no tx id")
    };
    assert_eq!(
        c.call(Request::ResetWatches),
        Response::Ok(MsgType::ResetWatches)
    );
    assert_eq!(
        c.call_tx(Request::TransactionEnd { commit: true }, tx),
        Response::Error(XsError::ENOENT)
    );
}

#[test]
fn watch_events_arrive_asynchronously_after_the_watch_reply() {
    let xs = Xenstored::new(Config::default());
    let server = xs.serve_unix(socket_path("watch"), 0).unwrap();
    let mut watcher = Client::connect(&server);
    let mut writer = Client::connect(&server);
    assert_eq!(
        watcher.call(Request::Watch {
            path: "/w".into(),
            token: "tok".into()
        }),
        Response::Ok(MsgType::Watch)
    );
    assert_eq!(
        watcher.recv(),
        Some(Response::WatchEvent {
            path: "/w".into(),
            token: "tok".into()
        })
    );
    writer.call(write("/w/x", "1"));
    xs.connect(0).write("/w/y", "2").unwrap();
    assert_eq!(
        watcher.recv(),
        Some(Response::WatchEvent {
            path: "/w/x".into(),
            token: "tok".into()
        })
    );
    assert_eq!(
        watcher.recv(),
        Some(Response::WatchEvent {
            path: "/w/y".into(),
            token: "tok".into()
        })
    );
    // A request after events still gets its own reply.
    assert_eq!(watcher.call(read("/w/x")), Response::Read(b"1".to_vec()));
}

#[test]
fn a_directory_too_long_for_one_reply_is_e2big_and_pages_with_directory_part() {
    let xs = Xenstored::new(Config::default());
    let dom0 = xs.connect(0);
    for i in 0..200 {
        dom0.write(&format!("/big/a-rather-long-child-name-{i:04}"), "")
            .unwrap();
    }
    let server = xs.serve_unix(socket_path("dirpart"), 0).unwrap();
    let mut c = Client::connect(&server);
    assert_eq!(
        c.call(Request::Directory {
            path: "/big".into()
        }),
        Response::Error(XsError::E2BIG)
    );
    let mut all = Vec::new();
    let mut offset = 0u32;
    loop {
        let Response::DirectoryPart {
            children, complete, ..
        } = c.call(Request::DirectoryPart {
            path: "/big".into(),
            offset,
        })
        else {
            panic!("no directory part")
        };
        offset += children.iter().map(|c| c.len() as u32 + 1).sum::<u32>();
        all.extend(children);
        if complete {
            break;
        }
    }
    assert_eq!(all, dom0.directory("/big").unwrap());
}

#[test]
fn an_unprivileged_socket_acts_as_its_domain() {
    let xs = Xenstored::new(Config::default());
    let dom0 = xs.connect(0);
    dom0.write("/local/domain/4/data", "").unwrap();
    dom0.set_perms("/local/domain/4/data", &[Perm::new(4, Access::None)])
        .unwrap();
    dom0.write("/secret", "s").unwrap();
    let server = xs.serve_unix(socket_path("guest"), 4).unwrap();
    let mut c = Client::connect(&server);
    assert_eq!(c.call(read("/secret")), Response::Error(XsError::EACCES));
    assert_eq!(c.call(write("data/x", "1")), Response::Ok(MsgType::Write));
    assert_eq!(
        dom0.get_perms("/local/domain/4/data/x").unwrap(),
        [Perm::new(4, Access::None)]
    );
    // dom0-only requests: refused for a guest.
    c.send_raw(&raw(MsgType::Introduce.as_u32(), b"5\x0012\x003\x00"));
    assert_eq!(c.recv(), Some(Response::Error(XsError::EACCES)));
}

#[test]
fn malformed_requests_get_errors_and_the_connection_lives_on() {
    let xs = Xenstored::new(Config::default());
    let server = xs.serve_unix(socket_path("malformed"), 0).unwrap();
    let mut c = Client::connect(&server);
    c.send_raw(&raw(999, b""));
    assert_eq!(c.recv(), Some(Response::Error(XsError::ENOSYS)));
    c.send_raw(&raw(MsgType::Read.as_u32(), b"/no-nul"));
    assert_eq!(c.recv(), Some(Response::Error(XsError::EINVAL)));
    c.send_raw(&raw(MsgType::Read.as_u32(), b"/bad..path\0"));
    assert_eq!(c.recv(), Some(Response::Error(XsError::EINVAL)));
    c.send_raw(&raw(MsgType::TransactionEnd.as_u32(), b"X\0"));
    assert_eq!(c.recv(), Some(Response::Error(XsError::EINVAL)));
    // dom0's socket: the dom0-only requests the sim serves through its API are ENOSYS.
    c.send_raw(&raw(MsgType::Control.as_u32(), b"help\0"));
    assert_eq!(c.recv(), Some(Response::Error(XsError::ENOSYS)));
    assert_eq!(
        c.call(write("/still", "alive")),
        Response::Ok(MsgType::Write)
    );
}

#[test]
fn an_oversized_message_drops_only_that_connection() {
    let xs = Xenstored::new(Config::default());
    let server = xs.serve_unix(socket_path("oversize"), 0).unwrap();
    let mut bad = Client::connect(&server);
    let mut good = Client::connect(&server);
    assert_eq!(
        bad.call(Request::Watch {
            path: "/x".into(),
            token: "t".into()
        }),
        Response::Ok(MsgType::Watch)
    );
    let header = Header {
        msg_type: MsgType::Write.as_u32(),
        req_id: 1,
        tx_id: 0,
        len: 4097,
    };
    bad.send_raw(&header.to_bytes());
    // The initial watch event was queued before; then the server hangs up.
    assert_eq!(
        bad.recv(),
        Some(Response::WatchEvent {
            path: "/x".into(),
            token: "t".into()
        })
    );
    assert_eq!(bad.recv(), None);
    assert_eq!(good.call(write("/x/y", "1")), Response::Ok(MsgType::Write));
    assert_eq!(good.call(read("/x/y")), Response::Read(b"1".to_vec()));
}

#[test]
fn several_clients_at_once_and_server_shutdown() {
    let xs = Xenstored::new(Config::default());
    let path = socket_path("many");
    let server = xs.serve_unix(&path, 0).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let mut c = Client::connect(&server);
            std::thread::spawn(move || {
                for i in 0..50 {
                    let key = format!("/many/{t}/{i}");
                    assert_eq!(
                        c.call(write(&key, &i.to_string())),
                        Response::Ok(MsgType::Write)
                    );
                    assert_eq!(
                        c.call(read(&key)),
                        Response::Read(i.to_string().into_bytes())
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(xs.connect(0).directory("/many").unwrap().len(), 4);
    let mut c = Client::connect(&server);
    drop(server);
    assert!(!path.exists());
    assert_eq!(c.recv(), None);
}

#[test]
fn a_client_that_never_reads_is_disconnected_not_buffered_forever() {
    let xs = Xenstored::new(Config::default());
    let server = xs.serve_unix(socket_path("silent"), 0).unwrap();
    let mut silent = Client::connect(&server);
    let token = "t".repeat(2000);
    assert_eq!(
        silent.call(Request::Watch {
            path: "/".into(),
            token
        }),
        Response::Ok(MsgType::Watch)
    );
    // 8000 events of 2 KiB each: far more than the socket buffer plus the store's 4 MiB limit.
    let dom0 = xs.connect(0);
    for i in 0..8000 {
        dom0.write(&format!("/flood/{i}"), "").unwrap();
    }
    // Whatever was buffered drains, then the server has hung up.
    let mut buf = vec![0u8; 1 << 16];
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        match silent.stream.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => assert!(
                std::time::Instant::now() < deadline,
                "the server never hung up"
            ),
            Err(e) => panic!("no hang-up within {TIMEOUT:?}: {e}"),
        }
    }
    // Others are served as before.
    let mut c = Client::connect(&server);
    assert_eq!(c.call(read("/flood/0")), Response::Read(Vec::new()));
}
