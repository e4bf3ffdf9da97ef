//! The dump interface over the sim: reserved grants refused outside their range with a typed
//! error (through the safe child and the raw table alike), polled store exchanges that skip
//! what is not theirs, and tables or messages a provider or child must not accept.

use std::sync::Arc;

use xenpv_abi::xs_wire::{XS_ERROR, XS_READ, XS_WATCH, XS_WRITE};
use xenpv_busif::dump::{
    answer_dump_query_interface, DumpBus, DumpBusError, DumpProvider, STATUS_NOT_RESERVED,
    XENBUS_DUMP_INTERFACE_GUID, XENBUS_DUMP_INTERFACE_SIZE, XENBUS_DUMP_INTERFACE_VERSION,
};
use xenpv_busif::sim::{store, Poller, SimBus, GUEST};
use xenpv_busif::sim_dump::{dump_child, SimDumpHome, SimDumpProvider};
use xenpv_busif::{BusError, QueryAnswer, STATUS_SUCCESS, XENBUS_INTERFACE_GUID};
use xenpv_control::xs::client::Store;

fn dump_bus() -> (SimBus, Arc<SimDumpProvider>) {
    let bus = SimBus::new();
    let home = SimDumpHome::new(&bus, 24).unwrap();
    (bus, Arc::new(DumpProvider::new(home)))
}

fn message(kind: u32, id: u32, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    for w in [kind, id, 0, payload.len() as u32] {
        m.extend(w.to_le_bytes());
    }
    m.extend(payload);
    m
}

fn word(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap())
}

#[test]
fn reserved_grants_refuse_references_outside_the_range() {
    let (_bus, provider) = dump_bus();
    let child = dump_child(&provider);
    assert_eq!(child.reserved(), 8..32);
    let table = provider.host().grant_table().clone();
    let active = table.active();
    for r in [0, 1, 7, 32, 33, 1000, u32::MAX] {
        assert_eq!(
            child.grant_reserved(r, 0, 0x1234, false),
            Err(DumpBusError::NotReserved(r)),
            "ref {r}"
        );
    }
    assert_eq!(table.active(), active, "nothing was granted");
    // Inside the range the entry is rewritten for the backend.
    child.grant_reserved(8, 0, 0x1234, false).unwrap();
    child.grant_reserved(31, 0, 0x1235, true).unwrap();
    assert_eq!(table.active(), active, "rewritten, not new");
    // Ending: outside the range refused alike; refused while the grantee maps the page.
    assert_eq!(child.end_reserved(7), Err(DumpBusError::NotReserved(7)));
    assert_eq!(child.end_reserved(32), Err(DumpBusError::NotReserved(32)));
    let pinned = table.pin(8, 0, true).unwrap();
    assert_eq!(
        child.end_reserved(8),
        Err(DumpBusError::Bus(BusError::StillInUse))
    );
    table.unpin(pinned);
    child.end_reserved(8).unwrap();
    assert_eq!(
        table.pin(8, 0, false).err(),
        Some(xenpv_sim::host::GrantError::NotPermitted),
        "the backend has no access any more"
    );
    // The raw table says the same to a C caller.
    let raw = provider.interface();
    // SAFETY: a table of a live provider.
    let status = unsafe { (raw.grant_reserved.unwrap())(raw.header.context, 40, 0, 1, 1) };
    assert_eq!(status.code, STATUS_NOT_RESERVED);
    // SAFETY: as above.
    let status = unsafe { (raw.grant_reserved.unwrap())(raw.header.context, 9, 0, 1, 1) };
    assert_eq!(status.code, STATUS_SUCCESS);
    // SAFETY: the reference `interface` took.
    unsafe { (raw.header.interface_dereference.unwrap())(raw.header.context) };
}

#[test]
fn store_exchanges_poll_for_their_reply_and_skip_what_is_not_theirs() {
    let (bus, provider) = dump_bus();
    // XENBUS's own session writes a key and sets a watch (whose event will sit in the ring for
    // XENBUS's client when the dump path takes over) ...
    let child = bus.child();
    {
        let _poller = Poller::start(&bus.provider);
        let mut xs = store(&child);
        xs.write(&format!("/local/domain/{GUEST}/data/x"), b"42")
            .unwrap();
    }
    // ... then stops. A watch fires for XENBUS's client without anyone reading it.
    let mut raw = vec![0u8; 512];
    let dump = dump_child(&provider);
    let watch = message(XS_WATCH, 0x6475_0001, b"/local/domain/1/data\0tok\0");
    let n = dump.exchange(&watch, &mut raw, 100_000).unwrap();
    assert_eq!(word(&raw, 0), XS_WATCH);
    assert_eq!(word(&raw, 1), 0x6475_0001);
    assert_eq!(n, 16 + word(&raw, 3) as usize);
    // The watch fires at once (an event with request id 0 comes first): skipped.
    let read = message(XS_READ, 0x6475_0002, b"/local/domain/1/data/x\0");
    let n = dump.exchange(&read, &mut raw, 100_000).unwrap();
    assert_eq!((word(&raw, 0), word(&raw, 1)), (XS_READ, 0x6475_0002));
    assert_eq!(&raw[16..n], b"42");
    // A refusal comes back as xenstored's error reply, for the child to read.
    let missing = message(XS_READ, 0x6475_0003, b"/local/domain/1/nothing\0");
    let n = dump.exchange(&missing, &mut raw, 100_000).unwrap();
    assert_eq!(word(&raw, 0), XS_ERROR);
    assert_eq!(&raw[16..n], b"ENOENT\0");
    // A reply larger than the buffer is consumed and reported, and the ring stays in step.
    let write = message(XS_WRITE, 0x6475_0004, b"/local/domain/1/data/y\0abcdefghij");
    dump.exchange(&write, &mut raw, 100_000).unwrap();
    let read = message(XS_READ, 0x6475_0005, b"/local/domain/1/data/y\0");
    assert_eq!(
        dump.exchange(&read, &mut raw[..20], 100_000),
        Err(DumpBusError::Bus(BusError::BufferTooSmall(26)))
    );
    let read = message(XS_READ, 0x6475_0006, b"/local/domain/1/data/y\0");
    let n = dump.exchange(&read, &mut raw, 100_000).unwrap();
    assert_eq!(&raw[16..n], b"abcdefghij");
}

#[test]
fn malformed_requests_and_tables_are_refused() {
    let (_bus, provider) = dump_bus();
    let dump = dump_child(&provider);
    let mut reply = [0u8; 64];
    // Request id 0 (a watch event's), a length field that lies, a message shorter than a header.
    let mut lying = message(XS_READ, 5, b"/a\0");
    lying[12] = 9;
    for bad in [message(XS_READ, 0, b"/a\0"), lying, vec![0u8; 8]] {
        assert_eq!(
            dump.exchange(&bad, &mut reply, 10),
            Err(DumpBusError::Bus(BusError::BadMessage))
        );
    }
    // Null pointers through the raw table.
    let raw = provider.interface();
    let mut len = 0usize;
    // SAFETY: null pointers are what is tested; the provider checks them first.
    let status = unsafe {
        (raw.store_exchange.unwrap())(
            raw.header.context,
            std::ptr::null(),
            16,
            reply.as_mut_ptr(),
            64,
            &mut len,
            1,
        )
    };
    assert_ne!(status.code, STATUS_SUCCESS);
    // SAFETY: null context.
    let status = unsafe { (raw.evtchn_notify.unwrap())(std::ptr::null_mut(), 1) };
    assert_ne!(status.code, STATUS_SUCCESS);
    // Tables a child must not use.
    let mut wrong_version = raw;
    wrong_version.header.version = XENBUS_DUMP_INTERFACE_VERSION + 1;
    let mut missing = raw;
    missing.store_exchange = None;
    let mut small = raw;
    small.header.size -= 8;
    for table in [wrong_version, missing, small, DumpBus::request()] {
        // SAFETY: each is refused before anything is called.
        assert_eq!(
            unsafe { DumpBus::from_interface(table) }.err(),
            Some(BusError::BadInterface)
        );
    }
    // SAFETY: the reference `interface` took.
    unsafe { (raw.header.interface_dereference.unwrap())(raw.header.context) };
    drop(dump);
    assert_eq!(provider.references(), 0);
}

#[test]
fn query_interface_answers_only_the_dump_guid_version_and_size() {
    let (_bus, provider) = dump_bus();
    let (guid, size, version) = (
        XENBUS_DUMP_INTERFACE_GUID,
        XENBUS_DUMP_INTERFACE_SIZE,
        XENBUS_DUMP_INTERFACE_VERSION,
    );
    let mut out = DumpBus::request();
    let p = &*provider;
    // SAFETY (each call): the GUID and table are on this stack, the provider in an Arc.
    unsafe {
        // The main interface's GUID is not this one.
        assert_eq!(
            answer_dump_query_interface(p, &XENBUS_INTERFACE_GUID, size, version, &mut out),
            QueryAnswer::NotOurs
        );
        assert_eq!(
            answer_dump_query_interface(p, std::ptr::null(), size, version, &mut out),
            QueryAnswer::NotOurs
        );
        for (s, v) in [(size, version + 1), (size - 1, version)] {
            assert_eq!(
                answer_dump_query_interface(p, &guid, s, v, &mut out),
                QueryAnswer::Unsupported
            );
        }
        assert_eq!(
            answer_dump_query_interface(p, &guid, size, version, std::ptr::null_mut()),
            QueryAnswer::Unsupported
        );
        assert_eq!(provider.references(), 0, "nothing handed out yet");
        assert_eq!(
            answer_dump_query_interface(p, &guid, size, version, &mut out),
            QueryAnswer::Answered
        );
    }
    assert_eq!(provider.references(), 1);
    // SAFETY: the table just answered, with its reference.
    let child = unsafe { DumpBus::from_interface(out) }.unwrap();
    assert_eq!(child.reserved(), 8..32);
    drop(child);
    assert_eq!(provider.references(), 0);
}
