//! Bad input at the table, from a broken or hostile caller, and bad tables handed to a child:
//! every case is a typed status, nothing panics, nothing is consumed that should be kept.

use std::ptr::{null, null_mut};
use std::sync::Arc;

use crate::common::*;
use xenpv_busif::*;
use xenpv_control::xs::client::Store;
use xenpv_control::xs::wire::{Header, MsgType, Request, HEADER_LEN, PAYLOAD_MAX};

fn err(s: BusStatus) -> BusError {
    s.result().expect_err("must fail")
}

fn open(t: &BusInterface) -> u64 {
    let mut session = 0;
    let s = unsafe { t.store_open.unwrap()(t.header.context, None, null_mut(), &mut session) };
    s.result().unwrap();
    session
}

fn send(t: &BusInterface, session: u64, bytes: &[u8]) -> Result<(), BusError> {
    unsafe { t.store_send.unwrap()(t.header.context, session, bytes.as_ptr(), bytes.len()) }
        .result()
}

fn read_msg(path: &[u8], req_id: u32) -> Vec<u8> {
    let mut payload = path.to_vec();
    payload.push(0);
    let mut m = Header {
        msg_type: MsgType::Read.as_u32(),
        req_id,
        tx_id: 0,
        len: payload.len() as u32,
    }
    .to_bytes()
    .to_vec();
    m.extend_from_slice(&payload);
    m
}

#[test]
fn null_context_and_null_out_pointers() {
    let f = Fixture::new();
    let t = f.table();
    let c = t.header.context;
    unsafe {
        let mut port = 0;
        assert_eq!(
            err(t.evtchn_alloc_unbound.unwrap()(null_mut(), 0, &mut port)),
            BusError::InvalidParameter
        );
        assert_eq!(
            err(t.evtchn_alloc_unbound.unwrap()(c, 0, null_mut())),
            BusError::InvalidParameter
        );
        assert_eq!(
            err(t.store_open.unwrap()(c, None, null_mut(), null_mut())),
            BusError::InvalidParameter
        );
        assert_eq!(
            err(t.wall_clock.unwrap()(c, null_mut())),
            BusError::InvalidParameter
        );
        // Refused before anything is suspended.
        assert_eq!(
            err(t.request_suspend.unwrap()(c, null_mut())),
            BusError::InvalidParameter
        );
        assert_eq!(
            f.provider
                .host()
                .1
                .count
                .load(std::sync::atomic::Ordering::Acquire),
            0
        );
        assert_eq!(
            err(t.grant_frame.unwrap()(c, 0, 1, 1, null_mut())),
            BusError::InvalidParameter
        );
        assert_eq!(
            err(t.evtchn_bind_interdomain.unwrap()(c, 0, 1, null_mut())),
            BusError::InvalidParameter
        );
        let mut h = 0;
        assert_eq!(
            err(t.suspend_register.unwrap()(c, None, null_mut(), &mut h)),
            BusError::InvalidParameter
        );
        assert_eq!(
            err(t.suspend_unregister.unwrap()(c, 12345)),
            BusError::InvalidParameter
        );
        // Reference counting through a null context is ignored, not a crash.
        t.header.interface_reference.unwrap()(null_mut());
        t.header.interface_dereference.unwrap()(null_mut());
    }
}

#[test]
fn store_messages_that_are_not_requests() {
    let f = Fixture::new();
    let t = f.table();
    let s = open(&t);
    let c = t.header.context;
    unsafe {
        assert_eq!(
            err(t.store_send.unwrap()(c, s, null(), 16)),
            BusError::InvalidParameter
        );
        let big = vec![0u8; MAX_MESSAGE + 1];
        assert_eq!(
            err(t.store_send.unwrap()(c, s, big.as_ptr(), big.len())),
            BusError::InvalidParameter,
            "oversized: refused before it is read"
        );
    }
    let good = read_msg(b"/local/domain/1", 1);
    assert_eq!(send(&t, s, &good[..10]), Err(BusError::BadMessage));
    assert_eq!(
        send(&t, s, &good[..good.len() - 1]),
        Err(BusError::BadMessage)
    );
    assert_eq!(
        send(&t, s, &read_msg(b"/local/\xff\xfe", 2)),
        Err(BusError::BadMessage)
    );
    let mut unknown_type = good.clone();
    unknown_type[0] = 200;
    assert_eq!(send(&t, s, &unknown_type), Err(BusError::BadMessage));
    let mut lying = good.clone();
    lying[12..16].copy_from_slice(&(PAYLOAD_MAX as u32).to_le_bytes());
    assert_eq!(
        send(&t, s, &lying),
        Err(BusError::BadMessage),
        "announces more than it has"
    );
    assert_eq!(
        send(&t, 999, &good),
        Err(BusError::InvalidParameter),
        "no such session"
    );
    // Nothing of that was queued, and the session still works.
    let mut len = 0;
    let mut buf = vec![0u8; MAX_MESSAGE];
    unsafe {
        assert_eq!(
            err(t.store_recv.unwrap()(
                c,
                s,
                buf.as_mut_ptr(),
                buf.len(),
                &mut len
            )),
            BusError::Empty
        );
    }
    send(&t, s, &good).unwrap();
    unsafe {
        t.store_recv.unwrap()(c, s, buf.as_mut_ptr(), buf.len(), &mut len)
            .result()
            .unwrap();
    }
    assert_eq!(
        Header::from_bytes(buf[..HEADER_LEN].try_into().unwrap()).req_id,
        1
    );
    unsafe {
        t.store_close.unwrap()(c, s).result().unwrap();
        assert_eq!(
            err(t.store_close.unwrap()(c, s)),
            BusError::InvalidParameter
        );
    }
}

#[test]
fn a_small_receive_buffer_keeps_the_message_and_says_how_much_is_needed() {
    let f = Fixture::new();
    let t = f.table();
    let s = open(&t);
    let c = t.header.context;
    send(&t, s, &read_msg(b"/local/domain/1", 5)).unwrap();
    let mut len = 0;
    let mut small = [0u8; 8];
    let needed =
        match unsafe { t.store_recv.unwrap()(c, s, small.as_mut_ptr(), small.len(), &mut len) }
            .result()
        {
            Err(BusError::BufferTooSmall(n)) => n,
            other => panic!("{other:?}"),
        };
    assert_eq!(len, needed);
    assert!(needed >= HEADER_LEN);
    unsafe {
        assert_eq!(
            err(t.store_recv.unwrap()(c, s, null_mut(), 0, &mut len)),
            BusError::InvalidParameter
        );
        assert_eq!(
            err(t.store_recv.unwrap()(
                c,
                s,
                small.as_mut_ptr(),
                8,
                null_mut()
            )),
            BusError::InvalidParameter
        );
    }
    let mut buf = vec![0u8; needed];
    unsafe {
        t.store_recv.unwrap()(c, s, buf.as_mut_ptr(), buf.len(), &mut len)
            .result()
            .unwrap();
    }
    assert_eq!(len, needed);
}

#[test]
fn a_child_that_never_reads_is_stopped_not_grown() {
    let f = Fixture::new();
    let t = f.table();
    let s = open(&t);
    let m = read_msg(b"/local/domain/1", 1);
    for _ in 0..MAX_QUEUED_REPLIES {
        send(&t, s, &m).unwrap();
    }
    assert_eq!(send(&t, s, &m), Err(BusError::QueueFull));
}

/// Takes every queued message of `s`; returns how many there were.
fn drain(t: &BusInterface, s: u64) -> usize {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut len = 0;
    let mut n = 0;
    while unsafe {
        t.store_recv.unwrap()(t.header.context, s, buf.as_mut_ptr(), buf.len(), &mut len)
    }
    .result()
    .is_ok()
    {
        n += 1;
    }
    n
}

#[test]
fn watch_events_beyond_the_queue_are_dropped_and_counted() {
    let f = Fixture::new();
    let t = f.table();
    let s = open(&t);
    let dir = "/local/domain/1/flood";
    let w = Request::Watch {
        path: dir.into(),
        token: "t".into(),
    };
    send(&t, s, &w.to_message(1, 0).unwrap().to_bytes()).unwrap();
    // The reply and the event xenstored fires on registration.
    let mut seen = 0;
    for _ in 0..2000 {
        f.provider.poll_store().unwrap();
        seen += drain(&t, s);
        if seen == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(seen, 2);
    // A child that stops reading while its watch keeps firing.
    let dom0 = f.sim.xenstored.connect(0);
    for i in 0..MAX_QUEUED_EVENTS + 5 {
        xenpv_sim::xenstored::StoreOps::write(&dom0, &format!("{dir}/k{i}"), "v").unwrap();
    }
    for _ in 0..2000 {
        f.provider.poll_store().unwrap();
        if f.provider.dropped_events(s) == Some(5) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(f.provider.dropped_events(s), Some(5));
    assert_eq!(drain(&t, s), MAX_QUEUED_EVENTS);
    assert_eq!(f.provider.dropped_events(9999), None);
}

#[test]
fn region_requests_out_of_range() {
    let f = Fixture::new();
    let t = f.table();
    let c = t.header.context;
    let mut region = BusRegion {
        va: null_mut(),
        pages: 0,
        reserved: 0,
        handle: 0,
    };
    let mut grefs = vec![0u32; 4];
    unsafe {
        let g = t.grant_region.unwrap();
        assert_eq!(
            err(g(c, 0, 0, 1, grefs.as_mut_ptr(), &mut region)),
            BusError::InvalidParameter
        );
        assert_eq!(
            err(g(
                c,
                0,
                MAX_REGION_PAGES + 1,
                1,
                grefs.as_mut_ptr(),
                &mut region
            )),
            BusError::InvalidParameter
        );
        assert_eq!(
            err(g(c, 0, 1, 1, null_mut(), &mut region)),
            BusError::InvalidParameter
        );
        assert_eq!(
            err(g(c, 0, 1, 1, grefs.as_mut_ptr(), null_mut())),
            BusError::InvalidParameter
        );
        let misaligned = (grefs.as_mut_ptr() as *mut u8).add(1) as *mut u32;
        assert_eq!(
            err(g(c, 0, 1, 1, misaligned, &mut region)),
            BusError::InvalidParameter
        );
        assert_eq!(err(t.end_region.unwrap()(c, 77)), BusError::NotOurs);
        // As many pages as the sim has frames (its store page is taken): the platform's error,
        // typed.
        assert_eq!(
            err(g(
                c,
                0,
                MAX_REGION_PAGES,
                1,
                vec![0u32; MAX_REGION_PAGES as usize].as_mut_ptr(),
                &mut region
            )),
            BusError::NoMemory
        );
    }
    assert_eq!(f.guest.platform().host().grant_table(GUEST).active(), 0);
}

#[test]
fn event_callbacks_for_ports_beyond_the_table() {
    let f = Fixture::new();
    let bus = f.child();
    assert_eq!(
        bus.on_event(PORTS, |_| {}).err(),
        Some(BusError::InvalidParameter)
    );
    assert_eq!(
        bus.on_event(u32::MAX, |_| {}).err(),
        Some(BusError::InvalidParameter)
    );
    assert!(!f.provider.deliver_event(u32::MAX));
}

#[test]
fn a_child_refuses_tables_it_cannot_use() {
    let f = Fixture::new();
    let good = f.table();
    type Spoil = fn(&mut BusInterface);
    let cases: [(&str, Spoil); 5] = [
        ("old version", |t| t.header.version = 0),
        ("newer version", |t| {
            t.header.version = XENBUS_INTERFACE_VERSION + 1
        }),
        ("short", |t| t.header.size = XENBUS_INTERFACE_SIZE - 8),
        ("no context", |t| t.header.context = null_mut()),
        ("missing function", |t| t.store_recv = None),
    ];
    for (what, spoil) in cases {
        let mut t = good;
        spoil(&mut t);
        assert_eq!(
            unsafe { Bus::from_interface(t) }.err().map(|_| ()),
            Some(()),
            "{what}"
        );
    }
    assert_eq!(
        unsafe { Bus::from_interface(Bus::request()) }
            .err()
            .map(|_| ()),
        Some(())
    );
    // The rejected tables were never dereferenced: only `good`'s reference is outstanding.
    assert_eq!(f.provider.references(), 1);
}

#[test]
fn query_interface_answers_only_what_it_provides() {
    let f = Fixture::new();
    let mut out = Bus::request();
    let other = Guid {
        data1: 1,
        ..XENBUS_INTERFACE_GUID
    };
    let guid = XENBUS_INTERFACE_GUID;
    let size = XENBUS_INTERFACE_SIZE;
    let v = XENBUS_INTERFACE_VERSION;
    unsafe {
        let p = &*f.provider;
        assert_eq!(
            answer_query_interface(p, &other, size, v, &mut out),
            QueryAnswer::NotOurs
        );
        assert_eq!(
            answer_query_interface(p, null(), size, v, &mut out),
            QueryAnswer::NotOurs
        );
        assert_eq!(
            answer_query_interface(p, &guid, size, v + 1, &mut out),
            QueryAnswer::Unsupported
        );
        assert_eq!(
            answer_query_interface(p, &guid, size - 1, v, &mut out),
            QueryAnswer::Unsupported
        );
        assert_eq!(
            answer_query_interface(p, &guid, size, v, null_mut()),
            QueryAnswer::Unsupported
        );
        assert_eq!(
            f.provider.references(),
            0,
            "nothing answered, nothing referenced"
        );
        assert_eq!(
            answer_query_interface(p, &guid, size, v, &mut out),
            QueryAnswer::Answered
        );
    }
    assert_eq!(f.provider.references(), 1);
    let bus = Arc::new(unsafe { Bus::from_interface(out) }.unwrap());
    let mut xs = store(&bus);
    assert!(xs.directory("/local/domain/1").is_ok());
    drop(xs);
    drop(bus);
    assert_eq!(f.provider.references(), 0);
    // A dereference too many does not wrap the count.
    unsafe { out.header.interface_dereference.unwrap()(out.header.context) };
    assert_eq!(f.provider.references(), 0);
}

#[test]
fn a_core_asking_for_absurd_regions_gets_an_error_not_an_allocation() {
    use xenpv_datapath::platform::{Access, Grants, PlatformError};
    let f = Fixture::new();
    let platform = BusPlatform::new(f.child());
    for pages in [0, MAX_REGION_PAGES as usize + 1, usize::MAX] {
        assert!(
            matches!(
                platform.grant_region(0, pages, Access::ReadWrite),
                Err(PlatformError::Invalid)
            ),
            "{pages} pages"
        );
    }
    assert_eq!(
        f.guest.platform().host().frames.used(),
        1,
        "only the store page"
    );
}
