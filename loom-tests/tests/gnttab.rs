//! loom model of the grant table's lock-free free list (xenpv_xen::gnttab): references are popped
//! and pushed by several CPUs at once through a head word tagged against ABA. Every interleaving
//! must hand each reference to one holder at a time and lose none.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p xenpv-loom-tests --release --test gnttab`.
#![cfg(loom)]

use loom::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use loom::sync::Arc;
use loom::thread;
use xenpv_xen::gnttab::{Entry, GrantTable, ENTRIES_PER_FRAME};

fn model(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(bound);
    builder.check(f);
}

struct Mem {
    entries: Vec<Entry>,
    links: Vec<AtomicU32>,
}

/// One frame of entries with all but `free` of the references after the reserved ones set aside
/// for the crash-dump path, so the list is short and loom's exploration stays small.
fn table(free: u32) -> (Arc<GrantTable<'static>>, &'static Mem) {
    let mem: &'static Mem = Box::leak(Box::new(Mem {
        entries: (0..ENTRIES_PER_FRAME)
            .map(|_| Entry {
                flags: AtomicU16::new(0),
                domid: AtomicU16::new(0),
                frame: AtomicU32::new(0),
            })
            .collect(),
        links: (0..ENTRIES_PER_FRAME).map(|_| AtomicU32::new(0)).collect(),
    }));
    let crash_dump = ENTRIES_PER_FRAME as u32 - 8 - free;
    let t = GrantTable::new(&mem.entries, &mem.links, 1, crash_dump).unwrap();
    (Arc::new(t), mem)
}

/// Whether entry `r` still names domain `id`: another holder of the same reference would have
/// written its own.
fn mine(mem: &Mem, r: u32, id: u16) -> bool {
    mem.entries[r as usize].domid.load(Ordering::SeqCst) == id
}

/// A pops one reference while B pops two and pushes the first back: the ABA case a plain head
/// (without the tag) gets wrong, handing B's second reference to A as well. A double hand-out
/// shows as an entry rewritten under its holder, or as an `end` of a reference already ended.
#[test]
fn a_pop_racing_pop_pop_push_never_hands_a_ref_out_twice() {
    model(3, || {
        let (t, mem) = table(3);
        let a = {
            let t = t.clone();
            thread::spawn(move || {
                let r = t.grant(1, 1, false).unwrap();
                assert!(mine(mem, r, 1), "reference {r} handed out twice");
                thread::yield_now();
                assert!(mine(mem, r, 1), "reference {r} handed out twice");
                t.end(r).unwrap();
            })
        };
        let x = t.grant(2, 2, false).unwrap();
        let y = t.grant(2, 2, false).unwrap();
        t.end(x).unwrap();
        assert!(mine(mem, y, 2), "reference {y} handed out twice");
        a.join().unwrap();
        assert!(mine(mem, y, 2), "reference {y} handed out twice");
        t.end(y).unwrap();
        // Nothing lost: all three come out again, each once.
        let mut all: Vec<u32> = core::iter::from_fn(|| t.grant(0, 0, false).ok()).collect();
        all.sort();
        assert_eq!(all, [509, 510, 511]);
    });
}

/// Two CPUs grant and end concurrently on a list of two: neither is refused, and both references
/// are on the list afterwards.
#[test]
fn concurrent_grant_and_end_keep_the_list_whole() {
    model(3, || {
        let (t, mem) = table(2);
        let a = {
            let t = t.clone();
            thread::spawn(move || {
                let r = t.grant(1, 1, false).unwrap();
                assert!(mine(mem, r, 1));
                t.end(r).unwrap();
            })
        };
        let r = t.grant(2, 2, false).unwrap();
        assert!(mine(mem, r, 2));
        t.end(r).unwrap();
        a.join().unwrap();
        let mut all: Vec<u32> = core::iter::from_fn(|| t.grant(0, 0, false).ok()).collect();
        all.sort();
        assert_eq!(all, [510, 511]);
    });
}
