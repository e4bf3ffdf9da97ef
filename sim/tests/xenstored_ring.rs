//! Guests on their xenstore ring page: the control crate's client over the ring talks to the sim
//! xenstored, and hostile guests (garbage indices, oversized messages) lose only their own
//! connection while the server keeps serving everyone else.

use std::mem::offset_of;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use xenpv_abi::xs_wire::{
    XenstoreDomainInterface as Page, XENSTORE_ERROR_PROTO, XENSTORE_ERROR_RINGIDX,
};
use xenpv_control::xs::client::{Client, Error, RingSignal, RingTransport, Store, WatchEvent};
use xenpv_control::xs::ring::{RingError, RingLink};
use xenpv_control::xs::wire::{DecodeError, Header, Message, MsgType, Request, Response};
use xenpv_control::xs::{Access, Perm, XsError};
use xenpv_datapath::shmem::SharedPages;
use xenpv_sim::xenstored::{Config, RingKick, RingServer, RingStop, StoreOps, Xenstored};

const TIMEOUT: Duration = Duration::from_secs(10);

/// The guest's side of the event channel: the server's notifications set `pending`.
#[derive(Default)]
struct Doorbell {
    pending: Mutex<bool>,
    rung: Condvar,
}

impl Doorbell {
    fn ring(&self) {
        *self.pending.lock().unwrap() = true;
        self.rung.notify_all();
    }

    /// Waits for a notification (bounded: a server that never answers fails the test).
    fn wait(&self) -> bool {
        let pending = self.pending.lock().unwrap();
        let (mut pending, _) = self
            .rung
            .wait_timeout_while(pending, TIMEOUT, |p| !*p)
            .unwrap();
        std::mem::take(&mut *pending)
    }
}

struct Signal {
    bell: Arc<Doorbell>,
    kick: RingKick,
}

impl RingSignal for Signal {
    fn notify(&self) {
        self.kick.kick();
    }

    fn wait(&self) {
        assert!(
            self.bell.wait(),
            "no notification from xenstored within {TIMEOUT:?}"
        );
    }
}

struct Guest {
    page: SharedPages,
    bell: Arc<Doorbell>,
    server: RingServer,
}

fn attach(xs: &Xenstored, domid: u16) -> Guest {
    let page = SharedPages::new(1).unwrap();
    let bell = Arc::new(Doorbell::default());
    let b = bell.clone();
    let server = xs.serve_ring(domid, page.mem(), move || b.ring()).unwrap();
    Guest { page, bell, server }
}

impl Guest {
    fn client(&self) -> Client<RingTransport<Signal>> {
        let signal = Signal {
            bell: self.bell.clone(),
            kick: self.server.kicker(),
        };
        Client::new(RingTransport::new(self.page.mem(), signal).unwrap())
    }

    /// Waits until the server has given up on this ring.
    fn wait_stopped(&self) -> RingStop {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(why) = self.server.stopped() {
                return why;
            }
            assert!(
                Instant::now() < deadline,
                "the server kept serving a broken ring"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn error_field(&self) -> u32 {
        self.page.mem().load_u32_acquire(offset_of!(Page, error))
    }
}

fn store_with_guest(domid: u16) -> Xenstored {
    let xs = Xenstored::new(Config::default());
    let dom0 = xs.connect(0);
    let home = format!("/local/domain/{domid}");
    dom0.mkdir(&home).unwrap();
    dom0.set_perms(
        &home,
        &[Perm::new(0, Access::None), Perm::new(domid, Access::Read)],
    )
    .unwrap();
    dom0.mkdir(&format!("{home}/data")).unwrap();
    dom0.set_perms(&format!("{home}/data"), &[Perm::new(domid, Access::None)])
        .unwrap();
    xs.introduce_domain(domid).unwrap();
    xs
}

#[test]
fn the_control_client_works_over_the_ring() {
    let xs = store_with_guest(3);
    let dom0 = xs.connect(0);
    dom0.write("/secret", "s").unwrap();
    let guest = attach(&xs, 3);
    let mut c = guest.client();

    assert_eq!(c.get_domain_path(3).unwrap(), "/local/domain/3");
    c.write("data/x", b"1").unwrap();
    assert_eq!(dom0.read("/local/domain/3/data/x").unwrap(), b"1");
    assert_eq!(c.read("/local/domain/3/data/x").unwrap(), b"1");
    assert_eq!(c.read("/secret"), Err(Error::Xs(XsError::EACCES)));
    assert_eq!(c.read("data/missing"), Err(Error::Xs(XsError::ENOENT)));
    assert_eq!(c.get_perms("data/x").unwrap(), [Perm::new(3, Access::None)]);

    // Watches: the initial event, then dom0's change, relative to the guest's home.
    c.watch("data", "tok").unwrap();
    let initial = c.wait_event_for("tok").unwrap();
    assert_eq!(
        initial,
        WatchEvent {
            path: "data".into(),
            token: "tok".into()
        }
    );
    dom0.write("/local/domain/3/data/from-dom0", "v").unwrap();
    assert_eq!(c.wait_event_for("tok").unwrap().path, "data/from-dom0");

    // A transaction through the ring.
    c.transaction(|t| {
        let v = t.read("data/x")?;
        t.write("data/y", &v)
    })
    .unwrap();
    assert_eq!(dom0.read("/local/domain/3/data/y").unwrap(), b"1");

    // Values larger than the 1 KiB ring cross it in pieces.
    let big = vec![b'z'; 2000];
    c.write("data/big", &big).unwrap();
    assert_eq!(c.read("data/big").unwrap(), big);
}

#[test]
fn garbage_indices_drop_that_guest_only() {
    let xs = store_with_guest(3);
    xs.introduce_domain(4).unwrap();
    let hostile = attach(&xs, 3);
    let good = attach(&xs, 4);
    let mut good_client = good.client();
    good_client.get_domain_path(4).unwrap();

    // Producer index more than a ring ahead of the consumer.
    let mem = hostile.page.mem();
    let cons = mem.load_u32_acquire(offset_of!(Page, req_cons));
    mem.store_u32_release(offset_of!(Page, req_prod), cons.wrapping_add(5000));
    hostile.server.kicker().kick();
    assert!(matches!(
        hostile.wait_stopped(),
        RingStop::Protocol(RingError::BadIndex { .. })
    ));
    assert_eq!(hostile.error_field(), XENSTORE_ERROR_RINGIDX);

    // The others are unaffected.
    assert_eq!(
        good_client.write("/local/domain/3/data/x", b"1"),
        Err(Error::Xs(XsError::EACCES))
    );
    assert_eq!(good_client.get_domain_path(9).unwrap(), "/local/domain/9");
    xs.connect(0).write("/after", "1").unwrap();
    assert_eq!(good.server.stopped(), None);
}

#[test]
fn an_oversized_message_drops_the_guest_and_malformed_ones_get_errors() {
    let xs = store_with_guest(3);
    let guest = attach(&xs, 3);
    let mut link = RingLink::guest(guest.page.mem()).unwrap();
    let exchange = |link: &mut RingLink, msg: &Message| -> Response {
        link.enqueue(msg);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            link.poll().unwrap();
            guest.server.kicker().kick();
            if let Some(m) = link.next_message() {
                return Response::decode(&m).unwrap();
            }
            assert!(Instant::now() < deadline, "no reply");
            guest.bell.wait();
        }
    };
    let raw = |msg_type: u32, payload: &[u8]| Message {
        header: Header {
            msg_type,
            req_id: 5,
            tx_id: 0,
            len: payload.len() as u32,
        },
        payload: payload.to_vec(),
    };
    // Messages that frame but are wrong are answered, as xenstored does.
    assert_eq!(
        exchange(&mut link, &raw(4242, b"")),
        Response::Error(XsError::ENOSYS)
    );
    assert_eq!(
        exchange(&mut link, &raw(MsgType::Read.as_u32(), b"no-nul")),
        Response::Error(XsError::EINVAL)
    );
    assert_eq!(
        exchange(&mut link, &raw(MsgType::Release.as_u32(), b"3\0")),
        Response::Error(XsError::EACCES),
        "a guest may not RELEASE"
    );
    let ok = Request::Read {
        path: "data".into(),
    }
    .to_message(6, 0)
    .unwrap();
    assert_eq!(exchange(&mut link, &ok), Response::Read(Vec::new()));

    // A header announcing more than XENSTORE_PAYLOAD_MAX: the stream cannot be framed any more.
    let oversized = Message {
        header: Header {
            msg_type: 2,
            req_id: 7,
            tx_id: 0,
            len: 5000,
        },
        payload: Vec::new(),
    };
    link.enqueue(&oversized);
    link.poll().unwrap();
    guest.server.kicker().kick();
    assert_eq!(
        guest.wait_stopped(),
        RingStop::Protocol(RingError::Framing(DecodeError::PayloadTooLong(5000)))
    );
    assert_eq!(guest.error_field(), XENSTORE_ERROR_PROTO);
    // The store itself is fine.
    assert_eq!(xs.connect(0).read("/local/domain/3/data").unwrap(), b"");
}

#[test]
fn releasing_the_domain_closes_its_ring_connection() {
    let xs = store_with_guest(3);
    let guest = attach(&xs, 3);
    let mut c = guest.client();
    c.write("data/a", b"1").unwrap();
    xs.release_domain(3).unwrap();
    assert_eq!(guest.wait_stopped(), RingStop::Released);
    // Its node now belongs to dom0.
    assert_eq!(
        xs.connect(0).get_perms("/local/domain/3/data/a").unwrap()[0].domid,
        0
    );
}

#[test]
fn a_guest_that_never_reads_its_replies_is_dropped_not_buffered_forever() {
    let xs = store_with_guest(3);
    xs.connect(0)
        .set_perms("/", &[Perm::new(0, Access::Read)])
        .unwrap();
    let guest = attach(&xs, 3);
    let mut link = RingLink::guest(guest.page.mem()).unwrap();
    // A watch with a long token (the request still fits in the 1 KiB ring in one go): every event
    // it causes is over 900 bytes.
    let token = "t".repeat(900);
    link.enqueue(
        &Request::Watch {
            path: "/".into(),
            token,
        }
        .to_message(1, 0)
        .unwrap(),
    );
    link.poll().unwrap();
    guest.server.kicker().kick();
    // The guest now stops consuming; dom0 keeps changing the store.
    let dom0 = xs.connect(0);
    for i in 0..8000 {
        dom0.write(&format!("/noise/{i}"), "").unwrap();
        if guest.server.stopped().is_some() {
            break;
        }
    }
    assert_eq!(guest.wait_stopped(), RingStop::Backlog);
    // Writers are not affected.
    dom0.write("/after", "").unwrap();
}
