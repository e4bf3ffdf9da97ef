use super::*;
use crate::error::RequestError as E;
use alloc::vec;
use proptest::prelude::*;
use xenpv_control::xs::path::PathError;
use xenpv_control::xs::wire::{ABS_PATH_MAX, REL_PATH_MAX};

fn code(i: Ioctl) -> u32 {
    i.code()
}

fn samples() -> alloc::vec::Vec<Request<'static>> {
    vec![
        Request::StoreRead {
            tx: 0,
            path: "data/x",
        },
        Request::StoreWrite {
            tx: 9,
            path: "/local/domain/3/data",
            value: b"v\0\xff",
        },
        Request::StoreWrite {
            tx: 0,
            path: "a",
            value: b"",
        },
        Request::StoreDirectory { tx: 1, path: "/" },
        Request::StoreRemove {
            tx: 2,
            path: "data",
        },
        Request::WatchAdd {
            event: Some(0x1234),
            path: "@releaseDomain",
        },
        Request::WatchAdd {
            event: None,
            path: "control",
        },
        Request::WatchRemove { watch: 3 },
        Request::WatchWait,
        Request::TransactionStart,
        Request::TransactionEnd {
            tx: 4,
            commit: true,
        },
        Request::TransactionEnd {
            tx: 4,
            commit: false,
        },
        Request::EvtchnBindInterdomain {
            remote_domain: 0,
            remote_port: 17,
            event: 8,
        },
        Request::EvtchnAllocUnbound {
            remote_domain: 0x7ff0,
            event: 1,
        },
        Request::EvtchnNotify { port: 5 },
        Request::EvtchnClose { port: 5 },
        Request::GrantAccess {
            remote_domain: 1,
            read_only: true,
            id: 77,
        },
        Request::GrantAccess {
            remote_domain: 1,
            read_only: false,
            id: 0,
        },
        Request::GrantRefs { id: 77 },
        Request::GrantRevoke { id: 77 },
        Request::AgentWaitAction,
        Request::SuspendCount,
    ]
}

#[test]
fn every_request_round_trips() {
    for request in samples() {
        let bytes = request.encode();
        assert_eq!(decode(request.ioctl().code(), &bytes), Ok(request));
    }
}

#[test]
fn every_control_code_has_a_sample() {
    for ioctl in Ioctl::ALL {
        assert!(samples().iter().any(|r| r.ioctl() == *ioctl), "{ioctl:?}");
    }
}

#[test]
fn a_string_needs_its_nul_and_only_one() {
    let read = code(Ioctl::StoreRead);
    assert_eq!(decode(read, b"\0\0\0\0data"), Err(E::MissingNul));
    assert_eq!(decode(read, b"\0\0\0\0da\0ta\0"), Err(E::EmbeddedNul(6)));
    assert_eq!(decode(read, b"\0\0\0\0data\0\0"), Err(E::EmbeddedNul(8)));
    assert_eq!(decode(read, b"\0\0\0\0da\xffta\0"), Err(E::NotUtf8));
    assert_eq!(
        decode(read, b"\0\0\0"),
        Err(E::InputTooShort { min: 5, got: 3 })
    );
    assert_eq!(decode(read, b""), Err(E::InputTooShort { min: 5, got: 0 }));
    assert_eq!(
        decode(read, b"\0\0\0\0\0"),
        Err(E::BadPath(PathError::Empty))
    );
}

#[test]
fn paths_follow_xenstored_rules_and_limits() {
    let read = code(Ioctl::StoreRead);
    let long = vec![b'a'; REL_PATH_MAX + 1];
    let input = [&[0u8; 4][..], &long, &[0]].concat();
    assert_eq!(
        decode(read, &input),
        Err(E::BadPath(PathError::TooLong(REL_PATH_MAX + 1)))
    );
    let abs = [&[0u8; 4][..], b"/", &vec![b'a'; ABS_PATH_MAX - 1], &[0]].concat();
    assert!(decode(read, &abs).is_ok());
    assert_eq!(
        decode(read, b"\0\0\0\0a//b\0"),
        Err(E::BadPath(PathError::DoubleSlash))
    );
    // Special paths only where xenstored allows them: watches, not reads.
    assert_eq!(
        decode(read, b"\0\0\0\0@releaseDomain\0"),
        Err(E::BadPath(PathError::SpecialNotAllowed))
    );
}

#[test]
fn a_write_must_fit_one_xenstore_message() {
    let path = "data/v";
    let fits = vec![0u8; PAYLOAD_MAX - path.len() - 1];
    let ok = Request::StoreWrite {
        tx: 0,
        path,
        value: &fits,
    }
    .encode();
    assert!(decode(code(Ioctl::StoreWrite), &ok).is_ok());
    let over = vec![0u8; fits.len() + 1];
    let bad = Request::StoreWrite {
        tx: 0,
        path,
        value: &over,
    }
    .encode();
    assert_eq!(
        decode(code(Ioctl::StoreWrite), &bad),
        Err(E::TooLong {
            len: PAYLOAD_MAX + 1,
            max: PAYLOAD_MAX
        })
    );
}

#[test]
fn fixed_inputs_have_exact_lengths_and_zero_reserved_fields() {
    assert_eq!(
        decode(code(Ioctl::EvtchnNotify), &[1, 0, 0]),
        Err(E::InputLength {
            expected: 4,
            got: 3
        })
    );
    assert_eq!(
        decode(code(Ioctl::TransactionStart), &[0]),
        Err(E::InputLength {
            expected: 0,
            got: 1
        })
    );
    assert_eq!(
        decode(code(Ioctl::TransactionEnd), &[1, 0, 0, 0, 2, 0, 0, 0]),
        Err(E::BadField("commit"))
    );
    let mut bind = Request::EvtchnBindInterdomain {
        remote_domain: 0,
        remote_port: 1,
        event: 5,
    }
    .encode();
    bind[2] = 1;
    assert_eq!(
        decode(code(Ioctl::EvtchnBindInterdomain), &bind),
        Err(E::BadField("reserved"))
    );
    let no_event = Request::EvtchnAllocUnbound {
        remote_domain: 0,
        event: 0,
    }
    .encode();
    assert_eq!(
        decode(code(Ioctl::EvtchnAllocUnbound), &no_event),
        Err(E::BadField("event"))
    );
    let mut grant = Request::GrantAccess {
        remote_domain: 0,
        read_only: false,
        id: 1,
    }
    .encode();
    grant[2] = 2;
    assert_eq!(
        decode(code(Ioctl::GrantAccess), &grant),
        Err(E::BadField("flags"))
    );
    assert_eq!(decode(0x0022_2000, &[]), Err(E::UnknownIoctl(0x0022_2000)));
}

#[test]
fn grant_memory_is_whole_aligned_pages() {
    assert_eq!(grant_pages(0, 8192, 16), Ok(2));
    assert_eq!(grant_pages(8, 4096, 16), Err(E::BadGrantBuffer));
    assert_eq!(grant_pages(0, 4097, 16), Err(E::BadGrantBuffer));
    assert_eq!(grant_pages(0, 0, 16), Err(E::BadGrantBuffer));
    assert_eq!(grant_pages(0, 17 * 4096, 16), Err(E::BadGrantBuffer));
}

proptest! {
    /// Hostile buffers for every control code (and random codes): a typed error or a request
    /// whose strings and values lie inside the input, never a panic.
    #[test]
    fn hostile_inputs_never_panic(
        which in 0..Ioctl::ALL.len() + 1,
        random_code in any::<u32>(),
        input in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let code = Ioctl::ALL.get(which).map_or(random_code, |i| i.code());
        let range = input.as_ptr_range();
        let inside = |s: &[u8]| s.is_empty() || (range.contains(&s.as_ptr()) && s.len() <= input.len());
        match decode(code, &input) {
            Ok(request) => {
                prop_assert_eq!(request.ioctl().code(), code);
                // Decoding what was accepted again gives the same request.
                let again = request.encode();
                prop_assert_eq!(decode(code, &again), Ok(request));
                match request {
                    Request::StoreRead { path, .. }
                    | Request::StoreDirectory { path, .. }
                    | Request::StoreRemove { path, .. }
                    | Request::WatchAdd { path, .. } => prop_assert!(inside(path.as_bytes())),
                    Request::StoreWrite { path, value, .. } => {
                        prop_assert!(inside(path.as_bytes()) && inside(value));
                    }
                    _ => {}
                }
            }
            Err(e) => prop_assert!(!xenpv_ddk::status::nt_success(e.status())),
        }
    }

    /// Mutating one byte of a valid input gives a valid request or a typed error.
    #[test]
    fn mutated_valid_inputs_never_panic(which in 0..22usize, at in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
        let request = samples()[which % samples().len()];
        let mut bytes = request.encode();
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] = byte;
            bytes.truncate(cut % (bytes.len() + 1));
        }
        let _ = decode(request.ioctl().code(), &bytes);
    }
}
