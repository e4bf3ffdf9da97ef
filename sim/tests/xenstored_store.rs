//! The store as the in-process API sees it: tree semantics, permissions per domain, transactions,
//! quotas and watch semantics, each checked against what C xenstored / oxenstored do.

use std::time::Duration;
use xenpv_control::xs::{Access, Perm, XsError};
use xenpv_sim::xenstored::{Config, LocalConnection, Quotas, StoreOps, WatchEvent, Xenstored};

const SHORT: Duration = Duration::from_millis(50);
const LONG: Duration = Duration::from_secs(5);

fn store() -> Xenstored {
    Xenstored::new(Config::default())
}

fn p(domid: u16, access: Access) -> Perm {
    Perm::new(domid, access)
}

/// What libxl does for a new domain: a home dom0 owns and the guest may read, with a `data`
/// directory the guest owns.
fn make_home(dom0: &LocalConnection, domid: u16) {
    let home = format!("/local/domain/{domid}");
    dom0.mkdir(&home).unwrap();
    dom0.set_perms(&home, &[p(0, Access::None), p(domid, Access::Read)])
        .unwrap();
    dom0.mkdir(&format!("{home}/data")).unwrap();
    dom0.set_perms(&format!("{home}/data"), &[p(domid, Access::None)])
        .unwrap();
}

fn drain(c: &LocalConnection) -> Vec<WatchEvent> {
    std::iter::from_fn(|| c.next_event(SHORT)).collect()
}

fn ev(path: &str, token: &str) -> WatchEvent {
    WatchEvent {
        path: path.into(),
        token: token.into(),
    }
}

#[test]
fn write_read_mkdir_directory_and_implicit_parents() {
    let xs = store();
    let dom0 = xs.connect(0);
    dom0.write("/a/b/c", "v").unwrap();
    assert_eq!(dom0.read("/a/b/c").unwrap(), b"v");
    // Implicit parents exist, with empty values.
    assert_eq!(dom0.read("/a/b").unwrap(), b"");
    assert_eq!(dom0.directory("/a").unwrap(), ["b"]);
    // MKDIR leaves an existing value alone.
    dom0.mkdir("/a/b/c").unwrap();
    assert_eq!(dom0.read("/a/b/c").unwrap(), b"v");
    // Children in creation order, not sorted.
    dom0.write("/a/z", "").unwrap();
    dom0.write("/a/m", "").unwrap();
    assert_eq!(dom0.directory("/a").unwrap(), ["b", "z", "m"]);
    // Values are binary.
    dom0.write("/bin", [0u8, 1, 0, 255]).unwrap();
    assert_eq!(dom0.read("/bin").unwrap(), [0, 1, 0, 255]);
    assert_eq!(dom0.read("/nope"), Err(XsError::ENOENT));
    assert_eq!(dom0.directory("/nope"), Err(XsError::ENOENT));
    assert_eq!(dom0.exists("/a/b"), Ok(true));
    assert_eq!(dom0.exists("/nope"), Ok(false));
    assert_eq!(dom0.read_string("/a/b/c").unwrap(), "v");
}

#[test]
fn rm_removes_subtrees_and_tolerates_only_a_missing_leaf() {
    let xs = store();
    let dom0 = xs.connect(0);
    dom0.write("/a/b/c", "1").unwrap();
    dom0.write("/a/d", "2").unwrap();
    dom0.rm("/a/b").unwrap();
    assert_eq!(dom0.read("/a/b/c"), Err(XsError::ENOENT));
    assert_eq!(dom0.directory("/a").unwrap(), ["d"]);
    // Absent node whose parent exists: fine. Absent parent: ENOENT.
    dom0.rm("/a/b").unwrap();
    assert_eq!(dom0.rm("/x/y"), Err(XsError::ENOENT));
    assert_eq!(dom0.rm("/"), Err(XsError::EINVAL));
}

#[test]
fn malformed_paths_are_einval() {
    let xs = store();
    let dom0 = xs.connect(0);
    for bad in ["", "/a//b", "/a/", "/a b", "/a.b", "@releaseDomain"] {
        assert_eq!(dom0.write(bad, "x"), Err(XsError::EINVAL), "{bad:?}");
    }
    let too_long = format!("/{}", "a".repeat(3072));
    assert_eq!(dom0.read(&too_long), Err(XsError::EINVAL));
}

#[test]
fn relative_paths_are_below_the_domain_home() {
    let xs = store();
    let dom0 = xs.connect(0);
    make_home(&dom0, 5);
    let guest = xs.connect(5);
    guest.write("data/x", "1").unwrap();
    assert_eq!(dom0.read("/local/domain/5/data/x").unwrap(), b"1");
    assert_eq!(guest.get_domain_path(7), "/local/domain/7");
}

#[test]
fn guests_see_only_what_permissions_allow() {
    let xs = store();
    let dom0 = xs.connect(0);
    make_home(&dom0, 1);
    make_home(&dom0, 2);
    let g1 = xs.connect(1);
    let g2 = xs.connect(2);

    g1.write("data/secret", "s").unwrap();
    // A guest owns what it creates, with the parent's permissions otherwise.
    assert_eq!(g1.get_perms("data/secret").unwrap(), [p(1, Access::None)]);
    assert_eq!(g1.read("data/secret").unwrap(), b"s");
    // Another guest: not readable, not writable, and it cannot even learn what exists there.
    assert_eq!(g2.read("/local/domain/1/data/secret"), Err(XsError::EACCES));
    assert_eq!(
        g2.read("/local/domain/1/data/nothing"),
        Err(XsError::EACCES)
    );
    assert_eq!(
        g2.write("/local/domain/1/data/secret", "x"),
        Err(XsError::EACCES)
    );
    assert_eq!(
        g2.write("/local/domain/1/data/new", "x"),
        Err(XsError::EACCES)
    );
    assert_eq!(g2.rm("/local/domain/1/data/secret"), Err(XsError::EACCES));
    assert_eq!(g2.directory("/local/domain/1/data"), Err(XsError::EACCES));
    // Its own home is readable but not writable: it may read and learn ENOENT, not create.
    assert_eq!(g2.read("/local/domain/2/missing"), Err(XsError::ENOENT));
    assert_eq!(g2.write("/local/domain/2/new", "x"), Err(XsError::EACCES));
    // dom0 bypasses everything.
    assert_eq!(dom0.read("/local/domain/1/data/secret").unwrap(), b"s");

    // The owner shares: read for dom2, then write.
    g1.set_perms("data/secret", &[p(1, Access::None), p(2, Access::Read)])
        .unwrap();
    assert_eq!(g2.read("/local/domain/1/data/secret").unwrap(), b"s");
    assert_eq!(
        g2.write("/local/domain/1/data/secret", "x"),
        Err(XsError::EACCES)
    );
    g1.set_perms("data/secret", &[p(1, Access::None), p(2, Access::Both)])
        .unwrap();
    g2.write("/local/domain/1/data/secret", "x").unwrap();
    assert_eq!(g1.read("data/secret").unwrap(), b"x");
    // Only the owner may change permissions, and a guest may not give a node away.
    assert_eq!(
        g2.set_perms("/local/domain/1/data/secret", &[p(2, Access::Both)]),
        Err(XsError::EACCES)
    );
    assert_eq!(
        g1.set_perms("data/secret", &[p(2, Access::Both)]),
        Err(XsError::EPERM)
    );
    // The default access (perms[0]) applies to every domain not listed.
    g1.set_perms("data/secret", &[p(1, Access::Read)]).unwrap();
    let g3 = xs.connect(3);
    assert_eq!(g3.read("/local/domain/1/data/secret").unwrap(), b"x");
    assert_eq!(
        g3.write("/local/domain/1/data/secret", "y"),
        Err(XsError::EACCES)
    );
}

#[test]
fn created_nodes_belong_to_the_guest_that_wrote_into_a_shared_directory() {
    let xs = store();
    let dom0 = xs.connect(0);
    dom0.mkdir("/shared").unwrap();
    dom0.set_perms("/shared", &[p(0, Access::Both)]).unwrap();
    let g = xs.connect(4);
    g.write("/shared/a/b", "v").unwrap();
    // Both the implicit parent and the leaf are the guest's, with the default access inherited.
    assert_eq!(dom0.get_perms("/shared/a").unwrap(), [p(4, Access::Both)]);
    assert_eq!(dom0.get_perms("/shared/a/b").unwrap(), [p(4, Access::Both)]);
    assert_eq!(xs.entries_owned(4), 2);
    // dom0 creating keeps the parent's owner.
    dom0.write("/shared/c", "").unwrap();
    assert_eq!(dom0.get_perms("/shared/c").unwrap(), [p(0, Access::Both)]);
}

#[test]
fn set_perms_rejects_an_empty_list() {
    let xs = store();
    let dom0 = xs.connect(0);
    dom0.write("/a", "").unwrap();
    assert_eq!(dom0.set_perms("/a", &[]), Err(XsError::EINVAL));
}

#[test]
fn a_target_domain_acts_with_its_targets_rights() {
    let xs = store();
    let dom0 = xs.connect(0);
    make_home(&dom0, 3);
    xs.introduce_domain(3).unwrap();
    xs.introduce_domain(9).unwrap();
    let stubdom = xs.connect(9);
    assert_eq!(
        stubdom.write("/local/domain/3/data/x", "1"),
        Err(XsError::EACCES)
    );
    xs.set_target(9, 3).unwrap();
    stubdom.write("/local/domain/3/data/x", "1").unwrap();
    assert_eq!(xs.set_target(9, 44), Err(XsError::ENOENT));
}

#[test]
fn transaction_sees_a_snapshot_and_commits_atomically() {
    let xs = store();
    let dom0 = xs.connect(0);
    dom0.write("/t/a", "1").unwrap();
    let other = xs.connect(0);
    let tx = dom0.transaction().unwrap();
    tx.write("/t/b", "2").unwrap();
    tx.rm("/t/a").unwrap();
    // Invisible outside until commit.
    assert_eq!(other.read("/t/b"), Err(XsError::ENOENT));
    assert_eq!(other.read("/t/a").unwrap(), b"1");
    assert_eq!(tx.read("/t/b").unwrap(), b"2");
    tx.commit().unwrap();
    assert_eq!(other.read("/t/b").unwrap(), b"2");
    assert_eq!(other.read("/t/a"), Err(XsError::ENOENT));
    assert_eq!(other.directory("/t").unwrap(), ["b"]);
}

#[test]
fn conflicting_transactions_fail_with_eagain_and_apply_nothing() {
    let xs = store();
    let dom0 = xs.connect(0);
    let other = xs.connect(0);
    dom0.write("/c/x", "0").unwrap();

    // Read, then someone else writes what we read: EAGAIN.
    let tx = dom0.transaction().unwrap();
    assert_eq!(tx.read("/c/x").unwrap(), b"0");
    tx.write("/c/y", "mine").unwrap();
    other.write("/c/x", "1").unwrap();
    assert_eq!(tx.commit(), Err(XsError::EAGAIN));
    assert_eq!(other.read("/c/y"), Err(XsError::ENOENT));

    // Two transactions writing the same node: the second to commit loses.
    let t1 = dom0.transaction().unwrap();
    let t2 = other.transaction().unwrap();
    t1.write("/c/x", "t1").unwrap();
    t2.write("/c/x", "t2").unwrap();
    t1.commit().unwrap();
    assert_eq!(t2.commit(), Err(XsError::EAGAIN));
    assert_eq!(dom0.read("/c/x").unwrap(), b"t1");

    // A node the transaction found missing and someone else created: EAGAIN as well.
    let tx = dom0.transaction().unwrap();
    assert_eq!(tx.read("/c/new"), Err(XsError::ENOENT));
    other.write("/c/new", "").unwrap();
    assert_eq!(tx.commit(), Err(XsError::EAGAIN));

    // Unrelated changes elsewhere do not conflict.
    let tx = dom0.transaction().unwrap();
    tx.read("/c/x").unwrap();
    other.write("/elsewhere", "").unwrap();
    tx.commit().unwrap();
}

#[test]
fn abort_discards_and_ids_are_checked() {
    let xs = store();
    let dom0 = xs.connect(0);
    let tx = dom0.transaction().unwrap();
    assert_ne!(tx.id(), 0);
    tx.write("/gone", "x").unwrap();
    tx.abort().unwrap();
    assert_eq!(dom0.read("/gone"), Err(XsError::ENOENT));
    // Dropping a transaction aborts it too.
    {
        let tx = dom0.transaction().unwrap();
        tx.write("/gone", "x").unwrap();
    }
    assert_eq!(dom0.read("/gone"), Err(XsError::ENOENT));
}

#[test]
fn watch_events_are_deferred_to_commit_and_dropped_on_abort() {
    let xs = store();
    let dom0 = xs.connect(0);
    let watcher = xs.connect(0);
    watcher.watch("/w", "tok").unwrap();
    assert_eq!(drain(&watcher), [ev("/w", "tok")]);

    let tx = dom0.transaction().unwrap();
    tx.write("/w/a", "1").unwrap();
    assert_eq!(watcher.try_next_event(), None);
    tx.commit().unwrap();
    assert_eq!(drain(&watcher), [ev("/w/a", "tok")]);

    let tx = dom0.transaction().unwrap();
    tx.write("/w/b", "1").unwrap();
    tx.abort().unwrap();
    assert_eq!(drain(&watcher), []);
}

#[test]
fn watches_fire_initially_then_on_the_subtree_including_removal() {
    let xs = store();
    let dom0 = xs.connect(0);
    let w = xs.connect(0);
    dom0.write("/d/e", "").unwrap();
    w.watch("/d", "t1").unwrap();
    // The initial event comes even though nothing changed.
    assert_eq!(w.next_event(LONG), Some(ev("/d", "t1")));
    dom0.write("/d/e/f", "1").unwrap();
    dom0.write("/d", "x").unwrap();
    dom0.write("/dd", "not below /d").unwrap();
    dom0.set_perms("/d/e", &[p(0, Access::Read)]).unwrap();
    assert_eq!(
        drain(&w),
        [ev("/d/e/f", "t1"), ev("/d", "t1"), ev("/d/e", "t1")]
    );

    // A watch below a removed subtree reports its own path; one above reports the removed root.
    w.watch("/d/e/f/g", "below").unwrap();
    w.watch("/", "root").unwrap();
    assert_eq!(drain(&w), [ev("/d/e/f/g", "below"), ev("/", "root")]);
    dom0.rm("/d/e").unwrap();
    let mut got = drain(&w);
    got.sort_by(|a, b| a.token.cmp(&b.token));
    assert_eq!(
        got,
        [
            ev("/d/e/f/g", "below"),
            ev("/d/e", "root"),
            ev("/d/e", "t1")
        ]
    );

    // Duplicate watches are refused, unwatch stops events, unknown unwatch is ENOENT.
    assert_eq!(w.watch("/d", "t1"), Err(XsError::EEXIST));
    w.unwatch("/d", "t1").unwrap();
    w.unwatch("/", "root").unwrap();
    dom0.write("/d/again", "").unwrap();
    assert_eq!(drain(&w), []);
    assert_eq!(w.unwatch("/d", "t1"), Err(XsError::ENOENT));
}

#[test]
fn watch_events_respect_read_permission() {
    let xs = store();
    let dom0 = xs.connect(0);
    make_home(&dom0, 6);
    dom0.mkdir("/pub").unwrap();
    dom0.set_perms("/pub", &[p(0, Access::Read)]).unwrap();
    let g = xs.connect(6);
    g.watch("/pub", "t").unwrap();
    assert_eq!(g.next_event(LONG), Some(ev("/pub", "t")));
    dom0.write("/pub/open", "").unwrap();
    dom0.write("/pub/closed", "").unwrap();
    dom0.set_perms("/pub/closed", &[p(0, Access::None)])
        .unwrap();
    dom0.write("/pub/closed", "changed").unwrap();
    dom0.rm("/pub/closed").unwrap();
    // Only the events on nodes it could read: creating /pub/closed happened while it was readable.
    assert_eq!(drain(&g), [ev("/pub/open", "t"), ev("/pub/closed", "t")]);
}

#[test]
fn relative_watches_report_relative_paths() {
    let xs = store();
    let dom0 = xs.connect(0);
    make_home(&dom0, 7);
    let g = xs.connect(7);
    g.watch("data", "rel").unwrap();
    assert_eq!(g.next_event(LONG), Some(ev("data", "rel")));
    dom0.write("/local/domain/7/data/k", "v").unwrap();
    assert_eq!(g.next_event(LONG), Some(ev("data/k", "rel")));
}

#[test]
fn reset_watches_drops_watches_and_transactions() {
    let xs = store();
    let c = xs.connect(0);
    c.watch("/r", "t").unwrap();
    c.reset_watches().unwrap();
    drain(&c);
    c.write("/r", "1").unwrap();
    assert_eq!(drain(&c), []);
    // (That it drops transactions is checked over the wire, where ids are visible.)
}

#[test]
fn introduce_and_release_fire_special_watches_for_those_allowed() {
    let xs = store();
    let dom0 = xs.connect(0);
    dom0.watch("@introduceDomain", "i").unwrap();
    dom0.watch("@releaseDomain", "r").unwrap();
    let g = xs.connect(8);
    g.watch("@releaseDomain", "g").unwrap();
    assert_eq!(
        drain(&dom0),
        [ev("@introduceDomain", "i"), ev("@releaseDomain", "r")]
    );
    assert_eq!(drain(&g), [ev("@releaseDomain", "g")]);

    xs.introduce_domain(3).unwrap();
    assert!(xs.is_domain_introduced(3));
    assert_eq!(drain(&dom0), [ev("@introduceDomain", "i")]);
    xs.release_domain(3).unwrap();
    assert!(!xs.is_domain_introduced(3));
    assert_eq!(drain(&dom0), [ev("@releaseDomain", "r")]);
    // The guest may not see other domains go away unless dom0 lets it.
    assert_eq!(drain(&g), []);
    dom0.set_perms("@releaseDomain", &[p(0, Access::Read)])
        .unwrap();
    xs.introduce_domain(4).unwrap();
    xs.release_domain(4).unwrap();
    assert_eq!(drain(&g), [ev("@releaseDomain", "g")]);
    assert_eq!(
        g.set_perms("@releaseDomain", &[p(8, Access::Both)]),
        Err(XsError::EACCES)
    );

    assert_eq!(xs.release_domain(4), Err(XsError::ENOENT));
    assert_eq!(xs.introduce_domain(0), Err(XsError::EINVAL));
    assert_eq!(xs.introduce_domain(0x7ff0), Err(XsError::EINVAL));
}

#[test]
fn release_closes_the_domains_connections_and_hands_its_nodes_to_dom0() {
    let xs = store();
    let dom0 = xs.connect(0);
    make_home(&dom0, 5);
    xs.introduce_domain(5).unwrap();
    let g = xs.connect(5);
    g.write("data/mine", "v").unwrap();
    assert_eq!(xs.entries_owned(5), 2);
    xs.release_domain(5).unwrap();
    assert_eq!(g.read("data/mine"), Err(XsError::EIO));
    assert_eq!(xs.entries_owned(5), 0);
    assert_eq!(
        dom0.get_perms("/local/domain/5/data/mine").unwrap()[0].domid,
        0
    );
    // A new domain 5 cannot touch what the old one owned.
    xs.introduce_domain(5).unwrap();
    let g = xs.connect(5);
    assert_eq!(g.read("data/mine"), Err(XsError::EACCES));
}

#[test]
fn quotas_limit_guests_but_not_dom0() {
    let quotas = Quotas {
        max_entries_per_domain: 3,
        max_value_size: 8,
        max_watches_per_domain: 2,
        max_transactions_per_connection: 1,
        max_perms_per_node: 1,
    };
    let xs = Xenstored::new(Config { quotas });
    let dom0 = xs.connect(0);
    make_home(&dom0, 2);
    let g = xs.connect(2);
    // data is already the guest's: two more nodes fit, the third does not, atomically.
    g.write("data/a", "").unwrap();
    assert_eq!(g.write("data/b/c", ""), Err(XsError::EQUOTA));
    assert_eq!(g.read("data/b"), Err(XsError::ENOENT));
    g.write("data/b", "").unwrap();
    assert_eq!(g.write("data/c", ""), Err(XsError::EQUOTA));
    g.rm("data/b").unwrap();
    g.write("data/c", "").unwrap();
    // Value size.
    assert_eq!(g.write("data/a", "123456789"), Err(XsError::E2BIG));
    g.write("data/a", "12345678").unwrap();
    dom0.write("/big", "x".repeat(4000)).unwrap();
    // Watches.
    g.watch("data", "1").unwrap();
    g.watch("data", "2").unwrap();
    assert_eq!(g.watch("data", "3"), Err(XsError::E2BIG));
    // Transactions.
    let _t = g.transaction().unwrap();
    assert_eq!(g.transaction().err(), Some(XsError::EQUOTA));
    // ACL length.
    assert_eq!(
        g.set_perms(
            "data/a",
            &[p(2, Access::None), p(3, Access::Read), p(4, Access::Read)]
        ),
        Err(XsError::EQUOTA)
    );
    g.set_perms("data/a", &[p(2, Access::None), p(3, Access::Read)])
        .unwrap();
    // dom0 is not limited.
    for i in 0..10 {
        dom0.write(&format!("/many/{i}"), "").unwrap();
    }
}

#[test]
fn entry_quota_is_checked_at_transaction_commit() {
    let quotas = Quotas {
        max_entries_per_domain: 4,
        ..Quotas::default()
    };
    let xs = Xenstored::new(Config { quotas });
    let dom0 = xs.connect(0);
    make_home(&dom0, 2);
    dom0.mkdir("/local/domain/2/other").unwrap();
    dom0.set_perms("/local/domain/2/other", &[p(2, Access::None)])
        .unwrap();
    let g = xs.connect(2);
    let other = xs.connect(2);
    let tx = g.transaction().unwrap();
    tx.write("data/t", "").unwrap();
    // Meanwhile the same domain fills its quota in a directory the transaction did not touch.
    other.write("other/a", "").unwrap();
    other.write("other/b", "").unwrap();
    assert_eq!(tx.commit(), Err(XsError::EQUOTA));
    assert_eq!(xs.entries_owned(2), 4);
    assert_eq!(g.read("data/t"), Err(XsError::ENOENT));
}

#[test]
fn directory_part_pages_long_lists_with_a_generation() {
    let xs = store();
    let dom0 = xs.connect(0);
    let names: Vec<String> = (0..300)
        .map(|i| format!("child-with-a-long-name-{i:04}"))
        .collect();
    for n in &names {
        dom0.write(&format!("/big/{n}"), "").unwrap();
    }
    let mut all = Vec::new();
    let mut offset = 0;
    let mut generation = None;
    loop {
        let part = dom0.directory_part("/big", offset).unwrap();
        assert!(part.children.iter().map(|c| c.len() + 1).sum::<usize>() <= 4096);
        generation.get_or_insert(part.generation);
        assert_eq!(
            Some(part.generation),
            generation,
            "unchanged node, same generation"
        );
        offset += part.children.iter().map(|c| c.len() + 1).sum::<usize>();
        all.extend(part.children);
        if part.complete {
            break;
        }
    }
    assert_eq!(all, names);
    dom0.write("/big/one-more", "").unwrap();
    assert_ne!(
        Some(dom0.directory_part("/big", 0).unwrap().generation),
        generation
    );
    let past_end = dom0.directory_part("/big", 1 << 20).unwrap();
    assert!(past_end.children.is_empty() && past_end.complete);
}

#[test]
fn concurrent_read_modify_write_transactions_lose_no_update() {
    let xs = store();
    xs.connect(0).write("/counter", "0").unwrap();
    // All threads read before any commits in the first round, so that round surely conflicts.
    let first_round = std::sync::Arc::new(std::sync::Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (xs, barrier) = (xs.clone(), first_round.clone());
            std::thread::spawn(move || {
                let c = xs.connect(0);
                let mut retries = 0;
                for round in 0..50 {
                    loop {
                        let tx = c.transaction().unwrap();
                        let n: u32 = tx.read_string("/counter").unwrap().parse().unwrap();
                        if round == 0 && retries == 0 {
                            barrier.wait();
                        }
                        tx.write("/counter", (n + 1).to_string()).unwrap();
                        match tx.commit() {
                            Ok(()) => break,
                            Err(XsError::EAGAIN) => retries += 1,
                            Err(e) => panic!("commit failed: {e}"),
                        }
                    }
                }
                retries
            })
        })
        .collect();
    let retries: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    // Every increment landed exactly once, and the first round's losers had to retry.
    assert_eq!(xs.connect(0).read_string("/counter").unwrap(), "200");
    assert!(retries >= 3, "{retries} retries");
}
