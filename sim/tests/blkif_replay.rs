//! Suspend/resume and backend restarts: requests in flight are replayed on the new connection,
//! re-split to its limits, and the OS sees no error, no lost and no torn write.

use std::collections::HashMap;
use std::sync::Arc;

use xenpv_sim::blkback::pair::{DiskPair, FrontOptions};
use xenpv_sim::blkback::verify::Verifier;
use xenpv_sim::blkback::{shared, BackendConfig, FileDisk, MemDisk, SharedStorage};
use xenpv_sim::host::{Host, HostConfig};

const SECTORS: u64 = 8192; // 4 MiB

fn pair(storage: SharedStorage, config: BackendConfig) -> DiskPair {
    DiskPair::new(
        Host::new(HostConfig::default()),
        config,
        storage,
        FrontOptions::default(),
    )
    .unwrap()
}

/// Reads every block back and checks it.
fn verify_all(p: &mut DiskPair, v: &Verifier) {
    let per = 16;
    for b in (0..v.blocks()).step_by(per as usize) {
        let n = per.min(v.blocks() - b);
        let c = p.run(0, v.read(b, b, n, Vec::new())).unwrap();
        c.result.unwrap();
        v.check(b * v.block_sectors(), &c.buf)
            .unwrap_or_else(|e| panic!("block {b}: {e:?}"));
    }
}

#[test]
fn requests_in_flight_survive_a_reconnect_with_smaller_limits() {
    let mut p = pair(shared(MemDisk::new(SECTORS)), BackendConfig::default());
    let mut v = Verifier::new(SECTORS, 4096, 1);
    // Gaps between the writes, so that none is merged with another.
    for i in 0..8 {
        p.handles[0]
            .submit(v.write(i, i * 80, 64, Vec::new()))
            .unwrap();
    }
    // Issued as 8 indirect requests, never answered.
    p.queues[0].service().unwrap();
    assert_eq!(p.queues[0].in_flight(), 8);
    assert_eq!(p.queues[0].stats().indirect_requests, 8);

    // The backend comes back without persistent grants or indirect descriptors.
    p.disconnect();
    p.config.persistent = false;
    p.config.max_indirect_segments = 0;
    p.connect().unwrap();
    let before = p.queues[0].stats();
    p.pump().unwrap();
    let mut done = 0;
    while let Some(c) = p.handles[0].completion() {
        assert_eq!(c.result, Ok(()), "the OS sees no error");
        done += 1;
    }
    assert_eq!(done, 8);
    let after = p.queues[0].stats();
    assert_eq!(after.replayed, 8);
    assert_eq!(
        after.ring_requests - before.ring_requests,
        8 * 6,
        "64 pages in 11-segment pieces"
    );
    assert_eq!(after.indirect_requests, before.indirect_requests);
    verify_all(&mut p, &v);
}

#[test]
fn answered_but_unseen_writes_are_written_again_with_the_same_data() {
    let mut p = pair(shared(MemDisk::new(SECTORS)), BackendConfig::default());
    let mut v = Verifier::new(SECTORS, 4096, 2);
    for i in 0..4 {
        p.handles[0]
            .submit(v.write(i, i * 8, 8, Vec::new()))
            .unwrap();
    }
    p.queues[0].service().unwrap();
    // The backend does the writes and answers, but the guest suspends before it sees the answers.
    p.backend.as_mut().unwrap().service().unwrap();
    p.disconnect();
    p.connect().unwrap();
    p.pump().unwrap();
    for _ in 0..4 {
        assert_eq!(p.handles[0].completion().unwrap().result, Ok(()));
    }
    assert!(
        p.handles[0].completion().is_none(),
        "each request completes once"
    );
    verify_all(&mut p, &v);
}

/// xorshift64, reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A random verify workload with queue depth, interrupted by reconnects to backends with random
/// limits; every read is checked when it completes, and the whole disk at the end.
fn verify_across_reconnects(storage: SharedStorage, seed: u64, steps: usize) {
    let mut p = pair(storage, BackendConfig::default());
    let mut v = Verifier::new(SECTORS, 4096, seed);
    let mut rng = Rng(seed | 1);
    // tag → (first block, blocks, is a write)
    let mut in_flight: HashMap<u64, (u64, u64, bool)> = HashMap::new();
    let mut tag = 0u64;
    let mut reconnects = 0;
    for _ in 0..steps {
        match rng.below(10) {
            0..=5 => {
                let max = if rng.below(4) == 0 { 300 } else { 8 };
                let n = 1 + rng.below(max);
                let b = rng.below(v.blocks() - n);
                let overlaps = in_flight
                    .values()
                    .any(|&(b2, n2, _)| b < b2 + n2 && b2 < b + n);
                if overlaps {
                    continue;
                }
                let write = rng.below(2) == 0;
                let req = if write {
                    v.write(tag, b, n, Vec::new())
                } else {
                    v.read(tag, b, n, Vec::new())
                };
                if p.handles[0].submit(req).is_ok() {
                    in_flight.insert(tag, (b, n, write));
                    tag += 1;
                }
            }
            6 => p.queues[0].service().unwrap(),
            7 => {
                p.backend.as_mut().unwrap().service().unwrap();
            }
            8 => p.pump().unwrap(),
            _ => {
                p.disconnect();
                p.config.persistent = rng.below(2) == 0;
                p.config.max_indirect_segments = [0, 32, 256][rng.below(3) as usize];
                p.front.ring_order = rng.below(3) as u32;
                p.connect().unwrap();
                reconnects += 1;
            }
        }
        while let Some(c) = p.handles[0].completion() {
            let (b, _, write) = in_flight.remove(&c.tag).expect("a request we submitted");
            assert_eq!(c.result, Ok(()), "no error reaches the OS");
            if !write {
                v.check(b * v.block_sectors(), &c.buf)
                    .unwrap_or_else(|e| panic!("read of block {b}: {e:?}"));
            }
        }
    }
    p.pump().unwrap();
    while let Some(c) = p.handles[0].completion() {
        in_flight.remove(&c.tag).unwrap();
        assert_eq!(c.result, Ok(()));
    }
    assert!(in_flight.is_empty(), "everything completed");
    assert!(reconnects > 5 && v.writes() > 50);
    assert!(
        p.queues[0].stats().replayed > 0,
        "some reconnects caught requests in flight"
    );
    verify_all(&mut p, &v);
}

#[test]
fn verify_workload_across_suspend_resume_in_memory() {
    for seed in [1, 2, 3] {
        verify_across_reconnects(shared(MemDisk::new(SECTORS)), seed, 600);
    }
}

#[test]
fn verify_workload_across_backend_restarts_on_a_file() {
    let path = std::env::temp_dir().join(format!("xenpv-blkif-replay-{}", std::process::id()));
    let storage: SharedStorage = Arc::new(std::sync::Mutex::new(
        FileDisk::create(&path, SECTORS).unwrap(),
    ));
    verify_across_reconnects(storage, 42, 400);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn a_merged_request_in_flight_is_replayed_piece_by_piece() {
    let mut p = pair(shared(MemDisk::new(SECTORS)), BackendConfig::default());
    let mut v = Verifier::new(SECTORS, 4096, 7);
    for i in 0..6 {
        p.handles[0].submit(v.write(i, i, 1, Vec::new())).unwrap();
    }
    p.queues[0].service().unwrap();
    assert_eq!(
        p.queues[0].in_flight(),
        1,
        "six contiguous writes in one ring request"
    );
    p.disconnect();
    // The new backend has no indirect descriptors or persistent grants; six pages still fit a
    // direct request, so the pieces travel together again.
    p.config.persistent = false;
    p.config.max_indirect_segments = 0;
    p.connect().unwrap();
    p.pump().unwrap();
    let mut tags: Vec<u64> = std::iter::from_fn(|| p.handles[0].completion())
        .map(|c| {
            assert_eq!(c.result, Ok(()));
            c.tag
        })
        .collect();
    tags.sort_unstable();
    assert_eq!(tags, [0, 1, 2, 3, 4, 5], "each request completes once");
    assert_eq!(p.queues[0].stats().replayed, 1);
    verify_all(&mut p, &v);
}
