//! Interop with Xen's own clients: Debian's xenstore-utils (libxenstore 4.17) talk to the sim
//! xenstored over its Unix socket (`XENSTORED_PATH`). Every tool's operation must round-trip, a
//! guest-identity socket must produce the tools' own permission errors, and xenstore-watch must
//! see the events our writes cause. Every wait is bounded, so a broken server fails the test
//! instead of hanging it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};
use xenpv_control::xs::{Access, Perm, XsError};
use xenpv_sim::xenstored::{Config, StoreOps, UnixServer, Xenstored};

const TOOL_TIMEOUT: Duration = Duration::from_secs(10);

fn tool(name: &str) -> PathBuf {
    let path = Path::new("/usr/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: install the Debian package xenstore-utils (apt-get install xenstore-utils)",
        path.display()
    );
    path
}

fn socket_path(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("xenpv-tools-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs a tool against `server` and waits at most TOOL_TIMEOUT for it.
fn run(server: &UnixServer, name: &str, args: &[&str]) -> Output {
    let mut child = Command::new(tool(name))
        .args(args)
        .env("XENSTORED_PATH", server.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    let deadline = Instant::now() + TOOL_TIMEOUT;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} {args:?} did not finish within {TOOL_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(server: &UnixServer, name: &str, args: &[&str]) -> String {
    let out = run(server, name, args);
    assert_eq!(out.code, 0, "{name} {args:?} failed: {}", out.stderr);
    out.stdout
}

fn dom0_server(name: &str) -> (Xenstored, UnixServer) {
    let xs = Xenstored::new(Config::default());
    let server = xs.serve_unix(socket_path(name), 0).unwrap();
    (xs, server)
}

#[test]
fn write_read_exists_list_ls_rm_round_trip() {
    let (xs, server) = dom0_server("basic");
    let dom0 = xs.connect(0);
    ok(
        &server,
        "xenstore-write",
        &["/tool/a", "hello world", "/tool/b/c", "deep"],
    );
    assert_eq!(dom0.read("/tool/a").unwrap(), b"hello world");
    assert_eq!(ok(&server, "xenstore-read", &["/tool/a"]), "hello world\n");
    assert_eq!(ok(&server, "xenstore-read", &["/tool/b/c"]), "deep\n");
    dom0.write("/tool/from-api", "x").unwrap();
    assert_eq!(ok(&server, "xenstore-read", &["/tool/from-api"]), "x\n");

    assert_eq!(run(&server, "xenstore-exists", &["/tool/a"]).code, 0);
    assert_eq!(run(&server, "xenstore-exists", &["/tool/nope"]).code, 1);

    assert_eq!(ok(&server, "xenstore-list", &["/tool"]), "a\nb\nfrom-api\n");
    assert_eq!(
        ok(&server, "xenstore-ls", &["/tool"]),
        "a = \"hello world\"\nb = \"\"\n c = \"deep\"\nfrom-api = \"x\"\n"
    );

    ok(&server, "xenstore-rm", &["/tool/b"]);
    assert_eq!(dom0.read("/tool/b/c"), Err(XsError::ENOENT));
    assert_eq!(run(&server, "xenstore-exists", &["/tool/b"]).code, 1);
    let missing = run(&server, "xenstore-read", &["/tool/b/c"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("couldn't read path /tool/b/c"),
        "{}",
        missing.stderr
    );
}

#[test]
fn chmod_sets_permissions_visible_to_other_connections() {
    let (xs, server) = dom0_server("chmod");
    let dom0 = xs.connect(0);
    dom0.write("/perm/node", "v").unwrap();
    ok(&server, "xenstore-chmod", &["/perm/node", "n0", "r5", "b6"]);
    assert_eq!(
        dom0.get_perms("/perm/node").unwrap(),
        [
            Perm::new(0, Access::None),
            Perm::new(5, Access::Read),
            Perm::new(6, Access::Both)
        ]
    );
    assert_eq!(xs.connect(5).read("/perm/node").unwrap(), b"v");
    assert_eq!(xs.connect(7).read("/perm/node"), Err(XsError::EACCES));
    let ls = ok(&server, "xenstore-ls", &["-p", "/perm"]);
    assert!(
        ls.starts_with("node = \"v\"") && ls.trim_end().ends_with("(n0,r5,b6)"),
        "{ls}"
    );
    // Recursive chmod reaches the children.
    dom0.write("/perm/node/child", "").unwrap();
    ok(&server, "xenstore-chmod", &["-r", "/perm", "b0"]);
    assert_eq!(
        dom0.get_perms("/perm/node/child").unwrap(),
        [Perm::new(0, Access::Both)]
    );
}

#[test]
fn a_guest_socket_gets_the_tools_permission_errors() {
    let xs = Xenstored::new(Config::default());
    let dom0 = xs.connect(0);
    dom0.write("/secret/key", "s").unwrap();
    dom0.write("/local/domain/5/data/mine", "m").unwrap();
    dom0.set_perms("/local/domain/5/data", &[Perm::new(5, Access::None)])
        .unwrap();
    dom0.set_perms("/local/domain/5/data/mine", &[Perm::new(5, Access::None)])
        .unwrap();
    let guest = xs.serve_unix(socket_path("guest"), 5).unwrap();

    let read = run(&guest, "xenstore-read", &["/secret/key"]);
    assert_eq!(read.code, 1);
    assert!(
        read.stderr.contains("couldn't read path /secret/key"),
        "{}",
        read.stderr
    );
    let write = run(&guest, "xenstore-write", &["/secret/key", "x"]);
    assert_eq!(write.code, 1);
    assert!(
        write.stderr.contains("could not write path /secret/key"),
        "{}",
        write.stderr
    );
    assert_eq!(dom0.read("/secret/key").unwrap(), b"s");
    let ls = run(&guest, "xenstore-ls", &["/secret"]);
    assert_ne!(ls.code, 0);
    assert!(ls.stderr.contains("Permission denied"), "{}", ls.stderr);
    let chmod = run(&guest, "xenstore-chmod", &["/secret/key", "b5"]);
    assert_ne!(chmod.code, 0);
    assert!(
        chmod.stderr.contains("Permission denied"),
        "{}",
        chmod.stderr
    );
    assert_eq!(run(&guest, "xenstore-rm", &["/secret/key"]).code, 1);
    assert_eq!(dom0.read("/secret/key").unwrap(), b"s");

    // Where it may read, a missing node is ENOENT, not EACCES.
    let missing = run(&guest, "xenstore-ls", &["/local/domain/5/data/nope"]);
    assert!(
        missing.stderr.contains("No such file or directory"),
        "{}",
        missing.stderr
    );

    // Its own nodes, absolute or relative to its home, work.
    assert_eq!(ok(&guest, "xenstore-read", &["data/mine"]), "m\n");
    ok(&guest, "xenstore-write", &["data/new", "n"]);
    assert_eq!(
        dom0.get_perms("/local/domain/5/data/new").unwrap()[0].domid,
        5
    );
}

/// A spawned xenstore-watch whose stdout lines arrive on a channel.
struct Watcher {
    child: Child,
    lines: Receiver<String>,
}

impl Watcher {
    fn spawn(server: &UnixServer, path: &str) -> Watcher {
        let mut child = Command::new(tool("xenstore-watch"))
            .arg(path)
            .env("XENSTORED_PATH", server.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watcher { child, lines }
    }

    fn next(&self) -> String {
        self.lines
            .recv_timeout(TOOL_TIMEOUT)
            .expect("xenstore-watch printed nothing within the timeout")
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn xenstore_watch_sees_our_writes() {
    let (xs, server) = dom0_server("watch");
    let dom0 = xs.connect(0);
    dom0.write("/watched", "").unwrap();
    let w = Watcher::spawn(&server, "/watched");
    // The initial event xenstored fires for every new watch.
    assert_eq!(w.next(), "/watched");
    dom0.write("/watched/a", "1").unwrap();
    assert_eq!(w.next(), "/watched/a");
    ok(&server, "xenstore-write", &["/watched/b/c", "2"]);
    assert_eq!(w.next(), "/watched/b/c");
    dom0.rm("/watched/a").unwrap();
    assert_eq!(w.next(), "/watched/a");
    // Elsewhere: nothing; the next event is the next change below /watched.
    dom0.write("/elsewhere", "").unwrap();
    dom0.write("/watched", "x").unwrap();
    assert_eq!(w.next(), "/watched");
}

#[test]
fn a_guest_xenstore_watch_sees_only_what_it_may_read() {
    let xs = Xenstored::new(Config::default());
    let dom0 = xs.connect(0);
    dom0.mkdir("/pub").unwrap();
    dom0.set_perms("/pub", &[Perm::new(0, Access::Read)])
        .unwrap();
    dom0.write("/pub/closed", "").unwrap();
    dom0.set_perms("/pub/closed", &[Perm::new(0, Access::None)])
        .unwrap();
    let guest = xs.serve_unix(socket_path("guest-watch"), 6).unwrap();
    let w = Watcher::spawn(&guest, "/pub");
    assert_eq!(w.next(), "/pub");
    // Changes to the unreadable node come first but are not shown to the guest.
    dom0.write("/pub/closed", "changed").unwrap();
    dom0.rm("/pub/closed").unwrap();
    dom0.write("/pub/open", "1").unwrap();
    assert_eq!(w.next(), "/pub/open");
}
