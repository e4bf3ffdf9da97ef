//! Feature negotiation: the backend's `feature-*` (and other) keys read into a typed struct, and the
//! frontend's keys written in one transaction.
//!
//! The struct is the caller's (vif and vbd define their own); it lists its keys and how each value
//! updates it. A missing key leaves the default (the feature is absent), a malformed value is a
//! typed error naming the key: the backend is untrusted.

use crate::xs::client::{Client, Error, Store, Transport};
use crate::xs::perm::parse_decimal;
use alloc::format;

/// A value that does not have the form its key requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadValue;

/// Applies one key's value to the features struct.
pub type Parser<F> = fn(&mut F, &str) -> Result<(), BadValue>;

/// A set of backend keys, read by [`read_features`].
pub trait Features: Default + 'static {
    /// Each key (relative to the backend's directory) and the parser that stores its value.
    const KEYS: &'static [(&'static str, Parser<Self>)];
}

/// Why the backend's features could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureError {
    Store(Error),
    /// The backend wrote something malformed under this key.
    BadValue {
        key: &'static str,
    },
}

/// Reads `F`'s keys under `backend`.
pub fn read_features<F: Features, S: Store + ?Sized>(
    store: &mut S,
    backend: &str,
) -> Result<F, FeatureError> {
    let mut features = F::default();
    for (key, parse) in F::KEYS {
        let value = store
            .try_read(&format!("{backend}/{key}"))
            .map_err(FeatureError::Store)?;
        if let Some(value) = value {
            let text = core::str::from_utf8(&value).map_err(|_| FeatureError::BadValue { key })?;
            parse(&mut features, text).map_err(|_| FeatureError::BadValue { key })?;
        }
    }
    Ok(features)
}

/// A `feature-*` flag: `"0"` or `"1"`.
pub fn parse_flag(v: &str) -> Result<bool, BadValue> {
    match v {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(BadValue),
    }
}

/// An unsigned decimal that fits `N`.
pub fn parse_number<N: TryFrom<u64>>(v: &str) -> Result<N, BadValue> {
    let n = parse_decimal(v.as_bytes(), u64::MAX).ok_or(BadValue)?;
    N::try_from(n).map_err(|_| BadValue)
}

/// Writes `(key, value)` pairs under `base` in one transaction, retried on EAGAIN, so the backend
/// sees all of them or none.
pub fn write_keys<T: Transport>(
    client: &mut Client<T>,
    base: &str,
    keys: &[(&str, &str)],
) -> Result<(), Error> {
    client.transaction(|tx| {
        for (k, v) in keys {
            tx.write(&format!("{base}/{k}"), v.as_bytes())?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xs::wire::{Request, Response};
    use crate::xs::XsError;
    use alloc::collections::BTreeMap;
    use alloc::string::String;
    use alloc::vec::Vec;

    #[derive(Default, Debug, PartialEq)]
    struct Vif {
        sg: bool,
        gso_tcpv4: bool,
        max_queues: u16,
    }

    impl Features for Vif {
        const KEYS: &'static [(&'static str, Parser<Self>)] = &[
            ("feature-sg", |f, v| {
                f.sg = parse_flag(v)?;
                Ok(())
            }),
            ("feature-gso-tcpv4", |f, v| {
                f.gso_tcpv4 = parse_flag(v)?;
                Ok(())
            }),
            ("multi-queue-max-queues", |f, v| {
                f.max_queues = parse_number(v)?;
                Ok(())
            }),
        ];
    }

    /// A plain map as a store.
    struct MapStore(BTreeMap<String, Vec<u8>>);

    impl Store for MapStore {
        fn call(&mut self, req: Request) -> Result<Response, Error> {
            match req {
                Request::Read { path } => self
                    .0
                    .get(&path)
                    .map(|v| Response::Read(v.clone()))
                    .ok_or(Error::Xs(XsError::ENOENT)),
                _ => Err(Error::Xs(XsError::ENOSYS)),
            }
        }
    }

    fn store(entries: &[(&str, &[u8])]) -> MapStore {
        MapStore(
            entries
                .iter()
                .map(|(k, v)| (String::from(*k), v.to_vec()))
                .collect(),
        )
    }

    #[test]
    fn reads_present_keys_and_defaults_missing_ones() {
        let mut s = store(&[
            ("/be/feature-sg", b"1"),
            ("/be/multi-queue-max-queues", b"8"),
        ]);
        let f: Vif = read_features(&mut s, "/be").unwrap();
        assert_eq!(
            f,
            Vif {
                sg: true,
                gso_tcpv4: false,
                max_queues: 8
            }
        );
    }

    #[test]
    fn malformed_values_name_their_key() {
        for (key, bad) in [
            ("/be/feature-sg", &b"yes"[..]),
            ("/be/feature-gso-tcpv4", b"2"),
            ("/be/multi-queue-max-queues", b"65536"),
            ("/be/multi-queue-max-queues", b"-1"),
            ("/be/feature-sg", b"\xff"),
        ] {
            let mut s = store(&[(key, bad)]);
            let want = key.strip_prefix("/be/").unwrap();
            assert_eq!(
                read_features::<Vif, _>(&mut s, "/be"),
                Err(FeatureError::BadValue { key: want })
            );
        }
    }

    #[test]
    fn store_errors_other_than_enoent_propagate() {
        struct Denied;
        impl Store for Denied {
            fn call(&mut self, _: Request) -> Result<Response, Error> {
                Err(Error::Xs(XsError::EACCES))
            }
        }
        assert_eq!(
            read_features::<Vif, _>(&mut Denied, "/be"),
            Err(FeatureError::Store(Error::Xs(XsError::EACCES)))
        );
    }

    #[test]
    fn frontend_keys_are_written_in_one_retried_transaction() {
        let (mut c, peer) = crate::test_peer::stream_client(16);
        peer.borrow_mut().eagain_commits = 1;
        write_keys(
            &mut c,
            "/fe",
            &[
                ("tx-ring-ref", "8"),
                ("rx-ring-ref", "9"),
                ("event-channel", "3"),
            ],
        )
        .unwrap();
        let p = peer.borrow();
        assert_eq!(p.nodes.get("/fe/rx-ring-ref").unwrap(), b"9");
        let writes: Vec<u32> = p
            .log
            .iter()
            .filter(|(r, _)| matches!(r, Request::Write { .. }))
            .map(|(_, tx)| *tx)
            .collect();
        // Two attempts of three writes, each attempt inside its own transaction.
        assert_eq!(writes.len(), 6);
        assert!(writes[..3].iter().all(|t| *t == writes[0] && *t != 0));
        assert!(writes[3..]
            .iter()
            .all(|t| *t == writes[3] && *t != writes[0]));
    }

    #[test]
    fn value_parsers_are_strict() {
        assert_eq!(parse_flag("1"), Ok(true));
        assert_eq!(parse_flag("0"), Ok(false));
        assert_eq!(parse_flag(" 1"), Err(BadValue));
        assert_eq!(parse_number::<u32>("4294967295"), Ok(u32::MAX));
        assert_eq!(parse_number::<u32>("4294967296"), Err(BadValue));
        assert_eq!(parse_number::<u64>("007"), Err(BadValue));
        assert_eq!(parse_number::<u8>(""), Err(BadValue));
    }
}
