//! The control-plane checks `xenpv-xs-check` runs against a real xenstored: each opens what it
//! needs through `open` (a fresh connection per call, so that a second writer can interfere), does
//! one kind of operation and verifies the outcome. Generic over the transport so that the same
//! checks run in tests against the sim's xenstored.

use std::fmt;

use xenpv_control::xs::client::{Client, Error, Store, Transport};
use xenpv_control::xs::wire::{MsgType, Request, Response};
use xenpv_control::xs::XsError;

/// Where the checks write: the guest's own `data` directory (writable by the domain).
pub const BASE: &str = "data/xenpv-check";

/// Which check to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    Read,
    Write,
    Directory,
    Watch,
    Transaction,
}

impl Check {
    pub const ALL: [Check; 5] = [
        Check::Read,
        Check::Write,
        Check::Directory,
        Check::Watch,
        Check::Transaction,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Check::Read => "read",
            Check::Write => "write",
            Check::Directory => "directory",
            Check::Watch => "watch",
            Check::Transaction => "transaction",
        }
    }

    pub fn parse(s: &str) -> Option<Check> {
        Check::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// Why a check failed.
#[derive(Debug, PartialEq, Eq)]
pub enum CheckError {
    Store(Error),
    /// The store answered, but not what the check expected.
    Wrong(String),
}

impl From<Error> for CheckError {
    fn from(e: Error) -> Self {
        CheckError::Store(e)
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Store(e) => write!(f, "store error {e:?}"),
            CheckError::Wrong(what) => f.write_str(what),
        }
    }
}

fn expect(cond: bool, what: impl FnOnce() -> String) -> Result<(), CheckError> {
    if cond {
        Ok(())
    } else {
        Err(CheckError::Wrong(what()))
    }
}

/// Runs `check`; `open` makes a new connection. Returns a line describing what was seen.
pub fn run<T: Transport>(
    check: Check,
    open: &mut dyn FnMut() -> Result<Client<T>, Error>,
) -> Result<String, CheckError> {
    let mut xs = open()?;
    match check {
        Check::Read => {
            // Every guest has these, written by the toolstack.
            let domid = xs.read_string("domid")?;
            expect(domid.parse::<u16>().is_ok(), || {
                format!("domid {domid:?} is not a number")
            })?;
            let home = xs.get_domain_path(domid.parse().unwrap_or(0))?;
            let missing = xs.try_read(&format!("{BASE}/does-not-exist"))?;
            expect(missing.is_none(), || {
                "a missing node read as present".into()
            })?;
            Ok(format!("domid={domid} home={home}"))
        }
        Check::Write => {
            let path = format!("{BASE}/value");
            let value = format!("written-by-{}", std::process::id());
            xs.write(&path, value.as_bytes())?;
            // Read back on another connection: the write reached xenstored, not a cache.
            let back = open()?.read_string(&path)?;
            expect(back == value, || {
                format!("read back {back:?}, wrote {value:?}")
            })?;
            xs.rm(&path)?;
            expect(xs.try_read(&path)?.is_none(), || "rm left the node".into())?;
            Ok(format!("{path}={value}"))
        }
        Check::Directory => {
            let dir = format!("{BASE}/dir");
            let _ = xs.rm(&dir);
            for child in ["a", "b", "c"] {
                xs.write(&format!("{dir}/{child}"), child.as_bytes())?;
            }
            let mut children = xs.directory(&dir)?;
            children.sort();
            expect(children == ["a", "b", "c"], || {
                format!("directory lists {children:?}")
            })?;
            xs.rm(&dir)?;
            Ok(format!("{dir}: {children:?}"))
        }
        Check::Watch => {
            let path = format!("{BASE}/watched");
            xs.write(&path, b"0")?;
            xs.watch(&path, "xs-check")?;
            // xenstored fires a new watch once right away.
            let first = xs.wait_event_for("xs-check")?;
            expect(first.path.ends_with(&path), || {
                format!("first event for {:?}", first.path)
            })?;
            open()?.write(&path, b"1")?;
            let fired = xs.wait_event_for("xs-check")?;
            expect(fired.path.ends_with(&path), || {
                format!("event for {:?}", fired.path)
            })?;
            xs.unwatch(&path, "xs-check")?;
            Ok(format!("events for {} and {}", first.path, fired.path))
        }
        Check::Transaction => transaction(&mut xs, open),
    }
}

/// A transaction whose node another connection changes before the commit must fail with EAGAIN;
/// [`Client::transaction`] then runs its body again and the second attempt commits.
fn transaction<T: Transport>(
    xs: &mut Client<T>,
    open: &mut dyn FnMut() -> Result<Client<T>, Error>,
) -> Result<String, CheckError> {
    let path = format!("{BASE}/counter");
    xs.write(&path, b"0")?;
    let mut other = open()?;

    // By hand: start, read, interfere, write, commit -> EAGAIN, and the outside write stands.
    let id = match xs.request(&Request::TransactionStart, 0)? {
        Response::TransactionStart(id) => id,
        r => return Err(CheckError::Wrong(format!("TRANSACTION_START gave {r:?}"))),
    };
    let seen = xs.read_in(&path, id)?;
    other.write(&path, b"outside")?;
    xs.write_in(&path, b"inside", id)?;
    let end = xs.request(&Request::TransactionEnd { commit: true }, id);
    expect(end == Err(Error::Xs(XsError::EAGAIN)), || {
        format!("conflicting commit gave {end:?}")
    })?;
    let after = xs.read_string(&path)?;
    expect(after == "outside", || {
        format!("after the failed commit the node holds {after:?}")
    })?;

    // With retry: the first attempt is interfered with, the second commits.
    let mut attempts = 0;
    let result = xs.transaction(|tx| {
        attempts += 1;
        let n: u32 = String::from_utf8_lossy(&tx.read(&path)?)
            .parse()
            .unwrap_or(0);
        if attempts == 1 {
            other.write(&path, b"41")?;
        }
        tx.write(&path, format!("{}", n + 1).as_bytes())?;
        Ok(n + 1)
    })?;
    let value = xs.read_string(&path)?;
    expect(attempts == 2 && value == "42" && result == 42, || {
        format!("retry: {attempts} attempts, value {value:?}, result {result}")
    })?;
    xs.rm(&path)?;
    Ok(format!(
        "conflict seen={:?} -> EAGAIN; retried transaction committed {value} in {attempts} attempts",
        String::from_utf8_lossy(&seen)
    ))
}

/// Reads and writes inside a transaction started by hand.
trait InTransaction {
    fn read_in(&mut self, path: &str, tx: u32) -> Result<Vec<u8>, Error>;
    fn write_in(&mut self, path: &str, value: &[u8], tx: u32) -> Result<(), Error>;
}

impl<T: Transport> InTransaction for Client<T> {
    fn read_in(&mut self, path: &str, tx: u32) -> Result<Vec<u8>, Error> {
        match self.request(&Request::Read { path: path.into() }, tx)? {
            Response::Read(v) => Ok(v),
            other => Err(Error::UnexpectedReply {
                expected: MsgType::Read,
                got: other.msg_type().as_u32(),
            }),
        }
    }

    fn write_in(&mut self, path: &str, value: &[u8], tx: u32) -> Result<(), Error> {
        self.request(
            &Request::Write {
                path: path.into(),
                value: value.into(),
            },
            tx,
        )
        .map(drop)
    }
}
