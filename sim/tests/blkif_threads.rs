//! Frontend and backend on their own threads, each sleeping on its event channel between batches:
//! the notification hold-off (req_event / rsp_event) and the unmasking must never lose a wake-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use xenpv_sim::blkback::pair::{DiskPair, FrontOptions};
use xenpv_sim::blkback::verify::Verifier;
use xenpv_sim::blkback::{shared, BackendConfig, MemDisk};
use xenpv_sim::host::{Host, HostConfig};

const SECTORS: u64 = 16384;

/// Longer than any honest wait; a wait this long means a notification was lost.
const LOST: Duration = Duration::from_secs(5);

#[test]
fn no_wakeup_is_lost_between_threads() {
    for (persistent, depth) in [(true, 1), (true, 24), (false, 8)] {
        let front = FrontOptions {
            persistent,
            queues: 2,
            ..FrontOptions::default()
        };
        let config = BackendConfig::default();
        let mut p = DiskPair::new(
            Host::new(HostConfig::default()),
            config,
            shared(MemDisk::new(SECTORS)),
            front,
        )
        .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let backs: Vec<_> = p
            .backend
            .take()
            .unwrap()
            .queues
            .into_iter()
            .map(|mut q| {
                let stop = stop.clone();
                thread::spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        q.service().unwrap();
                        q.wait(Duration::from_millis(20));
                    }
                    q.stats().requests
                })
            })
            .collect();
        let mut v = Verifier::new(SECTORS, 4096, 3);
        let total = 400u64;
        let (mut issued, mut done) = (0u64, 0u64);
        let mut outstanding = [0usize; 2];
        let mut wait_on = 0;
        let mut written = Vec::new();
        let mut read_block = std::collections::HashMap::new();
        while done < total {
            for (q, pending) in outstanding.iter_mut().enumerate() {
                while issued < total && *pending < depth {
                    let b = issued * 4;
                    // Reads go to the block of the last completed write (each write has its
                    // own block), or to one never written (zeros).
                    let req = if issued % 3 == 2 {
                        let b = written.last().map_or(v.blocks() - 4, |&t: &u64| t * 4);
                        read_block.insert(issued, b);
                        v.read(issued, b, 4, Vec::new())
                    } else {
                        v.write(issued, b, 4, Vec::new())
                    };
                    p.handles[q].submit(req).unwrap();
                    *pending += 1;
                    issued += 1;
                }
                p.queues[q].service().unwrap();
                while let Some(c) = p.handles[q].completion() {
                    c.result.unwrap();
                    match read_block.remove(&c.tag) {
                        Some(b) => v.check(b * v.block_sectors(), &c.buf).unwrap(),
                        None => written.push(c.tag),
                    }
                    *pending -= 1;
                    done += 1;
                }
            }
            // Sleep on one queue's port with work outstanding there: its event must come.
            wait_on = (wait_on + 1) % 2;
            if outstanding[wait_on] > 0 {
                let port = p.queues[wait_on].port().unwrap();
                assert!(
                    p.guest.wait(port, LOST),
                    "lost a response notification (persistent {persistent}, depth {depth})"
                );
            }
        }
        stop.store(true, Ordering::Release);
        let answered: u64 = backs.into_iter().map(|t| t.join().unwrap()).sum();
        let issued_to_ring: u64 = p.queues.iter().map(|q| q.stats().ring_requests).sum();
        assert_eq!(answered, issued_to_ring, "every ring request was answered");
        let sends = p.host.evtchn.sends();
        assert!(
            sends < 4 * total,
            "notifications are held off in batches: {sends} sends"
        );
    }
}
