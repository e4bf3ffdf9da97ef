//! The client against a scripted xenstore peer, over an in-memory byte stream and over a ring page.

use super::*;
use crate::test_peer::{event, reply, stream_client, Peer};
use crate::xs::perm::Access;
use crate::xs::perm::Perm;
use crate::xs::ring::RingLink;
use crate::xs::wire::{Decoder, Header, PAYLOAD_MAX};
use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use xenpv_datapath::shmem::SharedPages;

#[test]
fn read_write_directory_rm() {
    for chunk in [1, 7, 4096] {
        let (mut c, _peer) = stream_client(chunk);
        c.write("/local/domain/1/name", b"guest").unwrap();
        c.write("/local/domain/1/memory/target", b"1024").unwrap();
        assert_eq!(c.read("/local/domain/1/name").unwrap(), b"guest");
        assert_eq!(
            c.read_string("/local/domain/1/memory/target").unwrap(),
            "1024"
        );
        assert_eq!(
            c.directory("/local/domain/1").unwrap(),
            vec!["memory", "name"]
        );
        c.rm("/local/domain/1/memory").unwrap();
        assert_eq!(c.directory("/local/domain/1").unwrap(), vec!["name"]);
        assert_eq!(c.try_read("/local/domain/1/memory/target").unwrap(), None);
        assert_eq!(c.get_domain_path(7).unwrap(), "/local/domain/7");
    }
}

#[test]
fn error_replies_are_typed_and_keep_the_connection() {
    let (mut c, _peer) = stream_client(4096);
    assert_eq!(c.read("/missing"), Err(Error::Xs(XsError::ENOENT)));
    c.write("/a", b"1").unwrap();
    assert_eq!(c.read("/a").unwrap(), b"1");
    assert_eq!(c.failure(), None);
}

#[test]
fn requests_that_cannot_be_encoded_are_not_sent() {
    let (mut c, peer) = stream_client(4096);
    let e = c.write("/a", &vec![b'x'; PAYLOAD_MAX]).unwrap_err();
    assert_eq!(
        e,
        Error::Encode(EncodeError::PayloadTooLong(PAYLOAD_MAX + 3))
    );
    assert!(matches!(
        c.read("/a//b"),
        Err(Error::Encode(EncodeError::BadPath(_)))
    ));
    assert!(peer.borrow().log.is_empty());
    assert_eq!(c.failure(), None);
}

#[test]
fn replies_out_of_order_are_matched_by_req_id() {
    let (mut c, peer) = stream_client(3);
    // Hold replies until three requests are in, then answer them in reverse order.
    let held: Rc<RefCell<Vec<Message>>> = Rc::new(RefCell::new(Vec::new()));
    let h = held.clone();
    peer.borrow_mut().script = Some(Box::new(move |m| {
        let Ok(Request::Read { path }) = Request::decode(m) else {
            return None;
        };
        h.borrow_mut()
            .push(reply(m, Response::Read(path.into_bytes())));
        if h.borrow().len() < 3 {
            return Some(vec![]);
        }
        Some(h.borrow_mut().drain(..).rev().collect())
    }));
    let a = c.submit(&Request::Read { path: "/a".into() }, 0).unwrap();
    let b = c.submit(&Request::Read { path: "/b".into() }, 0).unwrap();
    let d = c.submit(&Request::Read { path: "/d".into() }, 0).unwrap();
    assert_ne!(a, b);
    assert_eq!(c.wait(b).unwrap(), Response::Read(b"/b".to_vec()));
    assert_eq!(c.wait(a).unwrap(), Response::Read(b"/a".to_vec()));
    assert_eq!(c.wait(d).unwrap(), Response::Read(b"/d".to_vec()));
    // Collected already: waiting again is an error, not a hang.
    assert_eq!(c.wait(a), Err(Error::NotInFlight(a.0)));
    assert_eq!(c.failure(), None);
}

#[test]
fn reply_with_unknown_req_id_drops_the_connection() {
    let (mut c, peer) = stream_client(4096);
    peer.borrow_mut().script = Some(Box::new(|m| {
        let mut r = reply(m, Response::Read(b"x".to_vec()));
        r.header.req_id = m.header.req_id + 1000;
        Some(vec![r])
    }));
    let e = c.read("/a").unwrap_err();
    assert!(matches!(e, Error::UnknownReqId(_)));
    assert!(e.is_fatal());
    peer.borrow_mut().script = None;
    // Dead for good, even though the peer now behaves.
    assert_eq!(c.read("/a"), Err(e));
    assert_eq!(c.failure(), Some(e));
}

#[test]
fn duplicate_reply_is_a_protocol_error() {
    let (mut c, peer) = stream_client(4096);
    peer.borrow_mut().script = Some(Box::new(|m| {
        let r = reply(m, Response::Read(b"x".to_vec()));
        Some(vec![r.clone(), r])
    }));
    let a = c.submit(&Request::Read { path: "/a".into() }, 0).unwrap();
    let b = c.submit(&Request::Read { path: "/b".into() }, 0).unwrap();
    // Waiting for b reads a's reply twice before b's arrives.
    assert_eq!(c.wait(b), Err(Error::UnknownReqId(a.0)));
}

#[test]
fn reply_of_the_wrong_type_fails_only_that_request() {
    let (mut c, peer) = stream_client(4096);
    peer.borrow_mut().script = Some(Box::new(|m| {
        (m.header.msg_type == MsgType::Read.as_u32())
            .then(|| vec![reply(m, Response::Directory(vec![]))])
    }));
    assert_eq!(
        c.read("/a"),
        Err(Error::UnexpectedReply {
            expected: MsgType::Read,
            got: MsgType::Directory.as_u32()
        })
    );
    c.write("/a", b"1").unwrap();
}

#[test]
fn malformed_reply_payload_fails_only_that_request() {
    let (mut c, peer) = stream_client(4096);
    peer.borrow_mut().script = Some(Box::new(|m| {
        (m.header.msg_type == MsgType::Directory.as_u32()).then(|| {
            let h = Header { len: 3, ..m.header };
            vec![Message {
                header: h,
                payload: b"a\0b".to_vec(),
            }]
        })
    }));
    assert_eq!(
        c.directory("/a"),
        Err(Error::Decode(DecodeError::MissingNul))
    );
    c.write("/a", b"1").unwrap();
}

#[test]
fn stream_closed_inside_a_message_is_truncation() {
    let (mut c, peer) = stream_client(4096);
    peer.borrow_mut().script = Some(Box::new(|m| {
        let mut r = reply(m, Response::Read(b"value".to_vec()));
        r.payload.truncate(2); // the header still announces 5 bytes
        Some(vec![r])
    }));
    assert_eq!(c.read("/a"), Err(Error::Decode(DecodeError::Truncated)));
    assert!(c.failure().is_some());

    let (mut c, peer) = stream_client(4096);
    peer.borrow_mut().script = Some(Box::new(|_| Some(vec![])));
    assert_eq!(c.read("/a"), Err(Error::Closed));
}

#[test]
fn oversized_reply_header_is_fatal() {
    let (mut c, peer) = stream_client(4096);
    peer.borrow_mut().script = Some(Box::new(|m| {
        let h = Header {
            len: PAYLOAD_MAX as u32 + 1,
            ..m.header
        };
        Some(vec![Message {
            header: h,
            payload: vec![],
        }])
    }));
    let e = c.read("/a").unwrap_err();
    assert_eq!(
        e,
        Error::Decode(DecodeError::PayloadTooLong(PAYLOAD_MAX as u32 + 1))
    );
    assert!(e.is_fatal());
}

#[test]
fn watches_deliver_events_per_token() {
    let (mut c, _peer) = stream_client(5);
    c.watch("/local/domain/0/backend/vif/1/0/state", "be-state")
        .unwrap();
    c.watch("/local/domain/1/device", "devices").unwrap();
    // xenstored fires every new watch once, after its reply: the first event was read while
    // waiting for the second reply, the second one must be waited for.
    assert_eq!(
        c.wait_event_for("devices").unwrap().path,
        "/local/domain/1/device"
    );
    assert_eq!(
        c.take_event("be-state").unwrap().path,
        "/local/domain/0/backend/vif/1/0/state"
    );
    assert_eq!(c.try_event(), None);

    c.write("/local/domain/1/device/vif/0/state", b"1").unwrap();
    c.write("/local/domain/0/backend/vif/1/0/state", b"2")
        .unwrap();
    assert_eq!(
        c.wait_event_for("be-state").unwrap(),
        WatchEvent {
            path: "/local/domain/0/backend/vif/1/0/state".into(),
            token: "be-state".into()
        }
    );
    assert_eq!(c.take_event("be-state"), None);
    assert_eq!(
        c.wait_event().unwrap().path,
        "/local/domain/1/device/vif/0/state"
    );

    c.unwatch("/local/domain/1/device", "devices").unwrap();
    c.write("/local/domain/1/device/vif/1/state", b"1").unwrap();
    assert_eq!(c.try_event(), None);
}

#[test]
fn events_for_tokens_we_do_not_watch_are_dropped() {
    let (mut c, peer) = stream_client(4096);
    peer.borrow_mut().script = Some(Box::new(|m| {
        (m.header.msg_type == MsgType::Read.as_u32()).then(|| {
            vec![
                event("/x", "stranger"),
                reply(m, Response::Read(b"v".to_vec())),
            ]
        })
    }));
    assert_eq!(c.read("/a").unwrap(), b"v");
    assert_eq!(c.try_event(), None);
}

#[test]
fn malformed_watch_event_is_fatal() {
    let (mut c, peer) = stream_client(4096);
    peer.borrow_mut().script = Some(Box::new(|_| {
        let h = Header {
            msg_type: MsgType::WatchEvent.as_u32(),
            req_id: 0,
            tx_id: 0,
            len: 2,
        };
        Some(vec![Message {
            header: h,
            payload: b"/x".to_vec(),
        }])
    }));
    assert_eq!(
        c.read("/a"),
        Err(Error::BadWatchEvent(DecodeError::MissingNul))
    );
    assert!(c.failure().is_some());
}

#[test]
fn a_token_serves_one_watch_at_a_time() {
    let (mut c, peer) = stream_client(4096);
    c.watch("/a", "t").unwrap();
    assert_eq!(c.watch("/b", "t"), Err(Error::TokenInUse));
    assert_eq!(peer.borrow().watches.len(), 1, "nothing sent");
    c.unwatch("/a", "t").unwrap();
    c.watch("/b", "t").unwrap();
}

#[test]
fn failed_watch_is_not_registered() {
    let (mut c, peer) = stream_client(4096);
    peer.borrow_mut().script = Some(Box::new(|m| {
        (m.header.msg_type == MsgType::Watch.as_u32())
            .then(|| vec![reply(m, Response::Error(XsError::ENOSPC))])
    }));
    assert_eq!(c.watch("/a", "t"), Err(Error::Xs(XsError::ENOSPC)));
    peer.borrow_mut().script = Some(Box::new(|m| {
        (m.header.msg_type == MsgType::Read.as_u32())
            .then(|| vec![event("/a", "t"), reply(m, Response::Read(b"v".to_vec()))])
    }));
    c.read("/a").unwrap();
    assert_eq!(c.try_event(), None);
}

#[test]
fn transaction_commits_with_its_id_on_every_request() {
    let (mut c, peer) = stream_client(4096);
    let n = c
        .transaction(|tx| {
            tx.write("/fe/ring-ref", b"8")?;
            tx.write("/fe/event-channel", b"3")?;
            Ok(tx.id())
        })
        .unwrap();
    let log = &peer.borrow().log;
    assert_eq!(log[0], (Request::TransactionStart, 0));
    assert_eq!(log[1].1, n);
    assert_eq!(log[2].1, n);
    assert_eq!(log[3], (Request::TransactionEnd { commit: true }, n));
}

#[test]
fn transaction_retries_on_eagain() {
    let (mut c, peer) = stream_client(4096);
    peer.borrow_mut().eagain_commits = 2;
    let mut runs = 0;
    c.transaction(|tx| {
        runs += 1;
        tx.write("/a", b"1")
    })
    .unwrap();
    assert_eq!(runs, 3);
    let starts = peer
        .borrow()
        .log
        .iter()
        .filter(|(r, _)| *r == Request::TransactionStart)
        .count();
    assert_eq!(starts, 3);
}

#[test]
fn transaction_gives_up_after_the_bound() {
    let (mut c, peer) = stream_client(4096);
    peer.borrow_mut().eagain_commits = u32::MAX;
    let mut runs = 0;
    let r = c.transaction(|tx| {
        runs += 1;
        tx.write("/a", b"1")
    });
    assert_eq!(r, Err(Error::TransactionRetries(MAX_TRANSACTION_ATTEMPTS)));
    assert_eq!(runs, MAX_TRANSACTION_ATTEMPTS);
}

#[test]
fn transaction_body_error_aborts() {
    let (mut c, peer) = stream_client(4096);
    let r: Result<(), Error> = c.transaction(|tx| {
        tx.write("/a", b"1")?;
        tx.read("/missing").map(drop)
    });
    assert_eq!(r, Err(Error::Xs(XsError::ENOENT)));
    let log = &peer.borrow().log;
    let (last, tx) = log.last().unwrap();
    assert_eq!(*last, Request::TransactionEnd { commit: false });
    assert_ne!(*tx, 0);
}

#[test]
fn long_directories_are_listed_in_parts() {
    let (mut c, peer) = stream_client(4096);
    peer.borrow_mut().dir_limit = 3;
    for i in 0..7 {
        c.write(&alloc::format!("/d/child{i}"), b"").unwrap();
    }
    let list = c.directory("/d").unwrap();
    assert_eq!(
        list,
        (0..7)
            .map(|i| alloc::format!("child{i}"))
            .collect::<Vec<_>>()
    );
    let parts = peer
        .borrow()
        .log
        .iter()
        .filter(|(r, _)| matches!(r, Request::DirectoryPart { .. }))
        .count();
    assert_eq!(parts, 4);
}

#[test]
fn directory_part_restarts_when_the_node_changes() {
    let (mut c, peer) = stream_client(4096);
    peer.borrow_mut().dir_limit = 1;
    for i in 0..4 {
        c.write(&alloc::format!("/d/c{i}"), b"").unwrap();
    }
    // The first part comes from an older generation than the rest.
    let mut first = true;
    peer.borrow_mut().script = Some(Box::new(move |m| {
        if m.header.msg_type == MsgType::DirectoryPart.as_u32() && first {
            first = false;
            let r = Response::DirectoryPart {
                generation: 1,
                children: vec!["gone".into()],
                complete: false,
            };
            return Some(vec![reply(m, r)]);
        }
        None
    }));
    assert_eq!(c.directory("/d").unwrap(), vec!["c0", "c1", "c2", "c3"]);
}

#[test]
fn perms_and_reset() {
    let (mut c, peer) = stream_client(4096);
    assert_eq!(c.get_perms("/a").unwrap(), vec![Perm::new(0, Access::None)]);
    c.set_perms(
        "/a",
        &[Perm::new(1, Access::Both), Perm::new(0, Access::Read)],
    )
    .unwrap();
    c.watch("/a", "t").unwrap();
    c.reset_watches().unwrap();
    assert_eq!(
        c.try_event(),
        None,
        "queued events are dropped with the watches"
    );
    assert!(peer.borrow().watches.is_empty());
}

/// The ring transport's signal in a single-threaded test: a kick runs the server end, which
/// answers through the same `Peer`.
struct ServerOnKick {
    server: RefCell<RingLink>,
    peer: Rc<RefCell<Peer>>,
    kicks: RefCell<u32>,
}

impl ServerOnKick {
    fn run(&self) -> bool {
        let mut server = self.server.borrow_mut();
        if server.reconnect_requested() {
            // What xenstored does for a reset: the connection's watches go too.
            server.complete_reconnect();
            self.peer.borrow_mut().watches.clear();
            return true;
        }
        for m in core::mem::take(&mut self.peer.borrow_mut().unsolicited) {
            server.enqueue(&m);
        }
        let mut moved = server.poll().unwrap().moved();
        while let Some(m) = server.next_message() {
            for r in self.peer.borrow_mut().handle(&m) {
                server.enqueue(&r);
            }
        }
        moved |= server.poll().unwrap().moved();
        moved
    }
}

impl RingSignal for &ServerOnKick {
    fn notify(&self) {
        *self.kicks.borrow_mut() += 1;
        self.run();
    }

    fn wait(&self) {
        assert!(
            self.run(),
            "the client waits but the server has nothing to do: it would sleep forever"
        );
    }
}

#[test]
fn client_over_the_ring_page() {
    let pages = SharedPages::new(1).unwrap();
    let peer = Peer::new();
    let server = ServerOnKick {
        server: RefCell::new(RingLink::server(pages.mem()).unwrap()),
        peer,
        kicks: RefCell::new(0),
    };
    let mut c = Client::new(RingTransport::new(pages.mem(), &server).unwrap());
    // A value four times the ring: the transport must wait for the server to drain it.
    let big = vec![b'v'; PAYLOAD_MAX - 32];
    c.write("/local/domain/1/data", &big).unwrap();
    assert_eq!(c.read("/local/domain/1/data").unwrap(), big);
    c.watch("/local/domain/1", "w").unwrap();
    assert_eq!(c.wait_event().unwrap().path, "/local/domain/1");
    c.transaction(|tx| tx.write("/local/domain/1/x", b"1"))
        .unwrap();
    assert_eq!(c.directory("/local/domain/1").unwrap(), vec!["data", "x"]);
    assert!(*server.kicks.borrow() > 0);
}

fn ring_setup(pages: &SharedPages) -> ServerOnKick {
    let server = RingLink::server(pages.mem()).unwrap();
    ServerOnKick {
        server: RefCell::new(server),
        peer: Peer::new(),
        kicks: RefCell::new(0),
    }
}

#[test]
fn reconnect_over_the_ring_restores_watches() {
    let pages = SharedPages::new(1).unwrap();
    let server = ring_setup(&pages);
    let mut c = Client::new(RingTransport::new(pages.mem(), &server).unwrap());
    c.watch("/local/domain/1/device", "devices").unwrap();
    c.wait_event_for("devices").unwrap();
    assert_eq!(
        c.reconnect(),
        Err(Error::Ring(
            crate::xs::ring::RingError::ReconnectUnsupported
        ))
    );

    server
        .server
        .borrow()
        .advertise_features(xenpv_abi::xs_wire::XENSTORE_SERVER_FEATURE_RECONNECTION);
    c.reconnect().unwrap();
    assert_eq!(
        server.peer.borrow().watches.len(),
        1,
        "the watch was registered again"
    );
    // Its re-registration fires once, then changes arrive as before.
    assert_eq!(
        c.wait_event_for("devices").unwrap().path,
        "/local/domain/1/device"
    );
    server
        .peer
        .borrow_mut()
        .external_write("/local/domain/1/device/vif/0", b"");
    assert_eq!(
        c.wait_event_for("devices").unwrap().path,
        "/local/domain/1/device/vif/0"
    );
}

#[test]
fn event_driven_use_over_a_stream() {
    let (mut c, peer) = stream_client(3);
    let id = c.submit(&Request::GetDomainPath { domid: 2 }, 0).unwrap();
    peer.borrow_mut().watches.push(("/x".into(), "t".into()));
    c.watch("/y", "t").unwrap();
    peer.borrow_mut().external_write("/x/1", b"");
    assert!(c.process_pending().unwrap() >= 2);
    assert_eq!(
        c.try_wait(id),
        Ok(Some(Response::GetDomainPath("/local/domain/2".into())))
    );
    assert_eq!(
        c.take_event("t").unwrap().path,
        "/y",
        "the watch's first firing"
    );
    assert_eq!(c.take_event("t").unwrap().path, "/x/1");
    assert_eq!(c.process_pending(), Ok(0));
}

#[test]
fn event_driven_use_without_blocking() {
    let pages = SharedPages::new(1).unwrap();
    let server = ring_setup(&pages);
    let mut c = Client::new(RingTransport::new(pages.mem(), &server).unwrap());
    c.watch("/w", "w").unwrap();
    // The request goes out with a kick; the scripted server answers on that kick.
    let id = c.submit(&Request::Read { path: "/w".into() }, 0).unwrap();
    server.peer.borrow_mut().external_write("/w/x", b"1");
    assert_eq!(c.try_wait(id), Ok(None), "nothing filed yet");
    // The home's event handler: the server kicked us, process what is there.
    server.run();
    assert!(c.process_pending().unwrap() >= 2);
    assert_eq!(c.try_wait(id), Err(Error::Xs(XsError::ENOENT)));
    assert_eq!(c.try_wait(id), Err(Error::NotInFlight(id.0)), "collected");
    let paths: Vec<String> = core::iter::from_fn(|| c.try_event())
        .map(|e| e.path)
        .collect();
    assert_eq!(paths.last().map(String::as_str), Some("/w/x"));
    assert_eq!(c.process_pending(), Ok(0));
}

#[test]
fn bad_ring_index_is_fatal_for_the_client() {
    let pages = SharedPages::new(1).unwrap();
    let mem = pages.mem();
    let peer = Peer::new();
    let server = ServerOnKick {
        server: RefCell::new(RingLink::server(mem.clone()).unwrap()),
        peer,
        kicks: RefCell::new(0),
    };
    let mut c = Client::new(RingTransport::new(mem.clone(), &server).unwrap());
    c.write("/a", b"1").unwrap();
    // A hostile server claims 5000 bytes of responses (rsp_prod lives at offset 2060).
    let rsp_cons = mem.load_u32_acquire(2056);
    mem.store_u32_release(2060, rsp_cons.wrapping_add(5000));
    let e = c.read("/a").unwrap_err();
    assert!(matches!(
        e,
        Error::Ring(crate::xs::ring::RingError::BadIndex { .. })
    ));
    assert!(e.is_fatal());
    assert_eq!(c.read("/a"), Err(e));
}

#[test]
fn io_stream_over_a_unix_socket() {
    use std::os::unix::net::UnixStream;
    let (client_end, mut server_end) = UnixStream::pair().unwrap();
    // A server thread answering READ with the path and WRITE with OK, until the client hangs up.
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut dec = Decoder::new();
        let mut buf = [0u8; 64];
        loop {
            let n = server_end.read(&mut buf).unwrap();
            if n == 0 {
                return;
            }
            let mut input = &buf[..n];
            while let Some(m) = dec.feed(&mut input).unwrap() {
                let r = match Request::decode(&m).unwrap() {
                    Request::Read { path } => Response::Read(path.into_bytes()),
                    other => Response::Ok(other.msg_type()),
                };
                server_end.write_all(&reply(&m, r).to_bytes()).unwrap();
            }
        }
    });
    let mut c = Client::new(StreamTransport::new(IoStream(client_end)));
    c.write("/a", b"1").unwrap();
    assert_eq!(c.read("/some/path").unwrap(), b"/some/path");
    drop(c);
    server.join().unwrap();
}
