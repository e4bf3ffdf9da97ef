//! The control-plane checks of `xenpv-xs-check` against the sim's xenstored over a Unix socket:
//! every check passes against a store that behaves like xenstored, and a store that does not
//! (a node it was told to write reads differently) makes the check fail with a typed error.

use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use xenpv_control::xs::client::{Client, Error, IoStream, StreamTransport};
use xenpv_linux::xscheck::{run, Check, CheckError, BASE};
use xenpv_sim::xenstored::{Config, StoreOps, UnixServer, Xenstored};

type C = Client<StreamTransport<IoStream<UnixStream>>>;

fn server(name: &str) -> (Xenstored, UnixServer) {
    let path: PathBuf =
        std::env::temp_dir().join(format!("xenpv-linux-xs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let xs = Xenstored::new(Config::default());
    // What the toolstack writes for every guest.
    xs.connect(0).write("/local/domain/0/domid", b"0").unwrap();
    let server = xs.serve_unix(&path, 0).unwrap();
    (xs, server)
}

fn opener(server: &UnixServer) -> impl FnMut() -> Result<C, Error> + '_ {
    move || {
        let s = UnixStream::connect(server.path()).map_err(|_| Error::Closed)?;
        Ok(Client::new(StreamTransport::new(IoStream(s))))
    }
}

#[test]
fn every_check_passes_against_a_correct_store() {
    let (_xs, server) = server("all");
    let mut open = opener(&server);
    for check in Check::ALL {
        let line = run(check, &mut open).unwrap_or_else(|e| panic!("{}: {e}", check.name()));
        assert!(!line.is_empty());
    }
}

#[test]
fn the_transaction_check_reports_the_conflict_and_the_retry() {
    let (_xs, server) = server("tx");
    let line = run(Check::Transaction, &mut opener(&server)).unwrap();
    assert!(line.contains("EAGAIN"), "{line}");
    assert!(line.contains("committed 42 in 2 attempts"), "{line}");
}

#[test]
fn a_missing_domid_is_a_store_error() {
    let path = std::env::temp_dir().join(format!("xenpv-linux-xs-{}-nodomid", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let xs = Xenstored::new(Config::default());
    let server = xs.serve_unix(&path, 0).unwrap();
    let e = run(Check::Read, &mut opener(&server)).unwrap_err();
    assert!(matches!(e, CheckError::Store(Error::Xs(_))), "{e:?}");
}

#[test]
fn a_garbage_domid_is_reported() {
    let (xs, server) = server("garbage");
    xs.connect(0)
        .write("/local/domain/0/domid", b"zero")
        .unwrap();
    let e = run(Check::Read, &mut opener(&server)).unwrap_err();
    assert!(
        matches!(e, CheckError::Wrong(ref w) if w.contains("not a number")),
        "{e:?}"
    );
    // The checks leave nothing behind.
    assert!(xs
        .connect(0)
        .directory(&format!("/local/domain/0/{BASE}"))
        .map_or(true, |d| d.is_empty()));
}

#[test]
fn check_names_round_trip() {
    for c in Check::ALL {
        assert_eq!(Check::parse(c.name()), Some(c));
    }
    assert_eq!(Check::parse("reed"), None);
}
