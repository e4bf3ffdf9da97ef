//! Property tests: the wire decoder and the ring reader on arbitrary input (no panics, typed
//! errors, split-independence) and round trips of valid messages. Bounded so `cargo test` runs
//! them in a few seconds.

use proptest::prelude::*;
use xenpv_control::xs::perm::{Access, Perm};
use xenpv_control::xs::ring::{RingError, RingLink};
use xenpv_control::xs::wire::{
    DecodeError, Decoder, Header, Message, MsgType, Request, Response, PAYLOAD_MAX,
};
use xenpv_control::xs::XsError;
use xenpv_datapath::shmem::SharedPages;

/// Feeds `bytes` in pieces of the given sizes (cycled) and collects messages until an error.
fn decode_split(bytes: &[u8], splits: &[usize]) -> (Vec<Message>, Option<DecodeError>) {
    let mut dec = Decoder::new();
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let n = splits[i % splits.len()].min(rest.len());
        i += 1;
        let mut piece = &rest[..n];
        rest = &rest[n..];
        loop {
            match dec.feed(&mut piece) {
                Ok(Some(m)) => out.push(m),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, dec.finish().err())
}

fn path() -> impl Strategy<Value = String> {
    "(/[a-zA-Z0-9_@-]{1,8}){1,4}|[a-z0-9-]{1,8}(/[a-z0-9_-]{1,8}){0,2}"
}

fn perm() -> impl Strategy<Value = Perm> {
    (
        any::<u16>(),
        prop_oneof![
            Just(Access::None),
            Just(Access::Read),
            Just(Access::Write),
            Just(Access::Both)
        ],
    )
        .prop_map(|(d, a)| Perm::new(d, a))
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        path().prop_map(|path| Request::Read { path }),
        path().prop_map(|path| Request::Directory { path }),
        (path(), any::<u32>()).prop_map(|(path, offset)| Request::DirectoryPart { path, offset }),
        path().prop_map(|path| Request::GetPerms { path }),
        (path(), "[^\0]{0,12}").prop_map(|(path, token)| Request::Watch { path, token }),
        (path(), "[^\0]{0,12}").prop_map(|(path, token)| Request::Unwatch { path, token }),
        Just(Request::TransactionStart),
        any::<bool>().prop_map(|commit| Request::TransactionEnd { commit }),
        any::<u16>().prop_map(|domid| Request::GetDomainPath { domid }),
        (path(), proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(path, value)| Request::Write { path, value }),
        path().prop_map(|path| Request::Mkdir { path }),
        path().prop_map(|path| Request::Rm { path }),
        (path(), proptest::collection::vec(perm(), 1..5))
            .prop_map(|(path, perms)| Request::SetPerms { path, perms }),
        Just(Request::ResetWatches),
    ]
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_-]{1,10}"
}

fn response() -> impl Strategy<Value = Response> {
    let acks = [
        MsgType::Watch,
        MsgType::Unwatch,
        MsgType::TransactionEnd,
        MsgType::Write,
        MsgType::Mkdir,
        MsgType::Rm,
        MsgType::SetPerms,
        MsgType::ResetWatches,
    ];
    prop_oneof![
        proptest::collection::vec(name(), 0..6).prop_map(Response::Directory),
        (
            any::<u64>(),
            proptest::collection::vec(name(), 0..6),
            any::<bool>()
        )
            .prop_map(|(generation, children, complete)| Response::DirectoryPart {
                generation,
                children,
                complete
            }),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Response::Read),
        proptest::collection::vec(perm(), 1..5).prop_map(Response::GetPerms),
        (1..=u32::MAX).prop_map(Response::TransactionStart),
        path().prop_map(Response::GetDomainPath),
        proptest::sample::select(acks.to_vec()).prop_map(Response::Ok),
        proptest::sample::select(XsError::ALL.to_vec()).prop_map(Response::Error),
        (path(), "[^\0]{0,12}").prop_map(|(path, token)| Response::WatchEvent { path, token }),
    ]
}

/// A framed message with an arbitrary type (known or not) and payload.
fn raw_message() -> impl Strategy<Value = Message> {
    (
        0u32..30,
        any::<u32>(),
        any::<u32>(),
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(t, req_id, tx_id, payload)| Message {
            header: Header {
                msg_type: t,
                req_id,
                tx_id,
                len: payload.len() as u32,
            },
            payload,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary bytes never panic, and how they are split never changes the outcome.
    #[test]
    fn decoder_is_split_independent(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        splits in proptest::collection::vec(1usize..64, 1..8),
    ) {
        let whole = decode_split(&bytes, &[usize::MAX]);
        let split = decode_split(&bytes, &splits);
        prop_assert_eq!(&whole, &split);
        if let Some(e) = whole.1 {
            prop_assert!(matches!(e, DecodeError::Truncated | DecodeError::PayloadTooLong(_)));
        }
        for m in &whole.0 {
            prop_assert!(m.payload.len() <= PAYLOAD_MAX);
            prop_assert_eq!(m.payload.len(), m.header.len as usize);
        }
    }

    /// Valid message streams come back exactly, however they are split.
    #[test]
    fn valid_streams_round_trip(
        msgs in proptest::collection::vec(raw_message(), 0..8),
        splits in proptest::collection::vec(1usize..300, 1..8),
    ) {
        let bytes: Vec<u8> = msgs.iter().flat_map(|m| m.to_bytes()).collect();
        prop_assert_eq!(decode_split(&bytes, &splits), (msgs, None));
    }

    #[test]
    fn requests_round_trip(req in request(), req_id in any::<u32>(), tx_id in any::<u32>()) {
        let msg = req.to_message(req_id, tx_id).unwrap();
        prop_assert_eq!((msg.header.req_id, msg.header.tx_id), (req_id, tx_id));
        prop_assert_eq!(Request::decode(&msg), Ok(req));
    }

    #[test]
    fn responses_round_trip(resp in response(), req_id in any::<u32>()) {
        let msg = resp.to_message(req_id, 0).unwrap();
        prop_assert_eq!(Response::decode(&msg), Ok(resp));
    }

    /// Typed decoding of arbitrary messages never panics; server-side failures map to a reply.
    #[test]
    fn typed_decoding_of_garbage_is_an_error_not_a_panic(msg in raw_message()) {
        if let Err(e) = Request::decode(&msg) {
            let reply = e.reply_error();
            prop_assert!(matches!(reply, XsError::EINVAL | XsError::ENOSYS | XsError::EACCES));
        }
        let _ = Response::decode(&msg);
    }

    /// The ring reader with arbitrary indices and contents: bad indices are a typed error, good
    /// ones deliver exactly the queued bytes (checked by framing them the same way).
    #[test]
    fn ring_reader_on_arbitrary_page(
        cons in any::<u32>(),
        delta in prop_oneof![0u32..=1024, any::<u32>()],
        contents in proptest::collection::vec(any::<u8>(), 1024),
        server_side in any::<bool>(),
    ) {
        let pages = SharedPages::new(1).unwrap();
        let mem = pages.mem();
        let prod = cons.wrapping_add(delta);
        // Requests lane: data at 0, cons 2048, prod 2052. Responses: data 1024, cons 2056, prod 2060.
        let (data, cons_off, prod_off) = if server_side { (0, 2048, 2052) } else { (1024, 2056, 2060) };
        mem.write_bytes(data, &contents);
        mem.store_u32_release(cons_off, cons);
        mem.store_u32_release(prod_off, prod);
        let mut link = if server_side { RingLink::server(mem.clone()) } else { RingLink::guest(mem.clone()) }.unwrap();
        let result = link.poll();
        if delta > 1024 {
            prop_assert_eq!(result, Err(RingError::BadIndex { prod, cons }));
            prop_assert_eq!(link.poll(), Err(RingError::BadIndex { prod, cons }), "failure is sticky");
            return Ok(());
        }
        let queued: Vec<u8> = (0..delta).map(|i| contents[(cons.wrapping_add(i) & 1023) as usize]).collect();
        let (expected, err) = decode_split(&queued, &[usize::MAX]);
        match (result, err) {
            (Err(RingError::Framing(e)), Some(want)) => prop_assert_eq!(e, want),
            (Ok(progress), None | Some(DecodeError::Truncated)) => {
                prop_assert_eq!(progress.received, delta as usize);
                prop_assert_eq!(mem.load_u32_acquire(cons_off), prod, "consumed everything");
                let got: Vec<Message> = std::iter::from_fn(|| link.next_message()).collect();
                prop_assert_eq!(got, expected);
            }
            (r, e) => prop_assert!(false, "ring gave {:?}, framing model gave {:?}", r, e),
        }
    }
}
