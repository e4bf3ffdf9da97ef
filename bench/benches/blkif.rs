//! blkfront → sim blkback: 4 KiB random read and write IOPS at queue depth 1 and 32, and 1 MiB
//! sequential read and write MB/s, each with persistent grants on and off and indirect descriptors
//! on and off, with the grant maps the backend made per I/O in steady state.
//!
//! Frontend and backend take turns on one thread, as a polled driver on one CPU would; the numbers
//! are same-run ratios (persistent against per-request grants), not absolute claims.

use std::time::{Duration, Instant};

use xenpv_datapath::blkif::{BlockRequest, Completion};
use xenpv_sim::blkback::pair::{DiskPair, FrontOptions};
use xenpv_sim::blkback::{shared, BackendConfig, MemDisk};
use xenpv_sim::host::{Host, HostConfig};

/// Measured time per case, after a warm-up that fills the persistent pool.
const RUN: Duration = Duration::from_millis(1200);
const WARMUP: Duration = Duration::from_millis(200);
/// 64 MiB disk.
const SECTORS: u64 = 128 * 1024;

#[derive(Clone, Copy)]
struct Workload {
    name: &'static str,
    write: bool,
    bytes: usize,
    depth: usize,
    random: bool,
}

struct Measured {
    iops: f64,
    mbps: f64,
    maps_per_io: f64,
}

/// xorshift64: the same offsets in every case.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn run(w: Workload, persistent: bool, indirect: bool) -> Measured {
    let front = FrontOptions {
        persistent,
        indirect,
        ..FrontOptions::default()
    };
    let mut pair = DiskPair::new(
        Host::new(HostConfig::default()),
        BackendConfig::default(),
        shared(MemDisk::new(SECTORS)),
        front,
    )
    .unwrap_or_else(|e| panic!("pair: {e}"));
    let sectors_per_io = (w.bytes / 512) as u64;
    let slots = SECTORS / sectors_per_io;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut next_slot = 0u64;
    let mut offset = move || {
        let slot = if w.random {
            rng.next() % slots
        } else {
            next_slot = (next_slot + 1) % slots;
            next_slot
        };
        slot * sectors_per_io
    };
    // Buffers are made once and travel with the requests.
    let mut free: Vec<Vec<u8>> = (0..w.depth).map(|i| vec![i as u8; w.bytes]).collect();
    let mut tag = 0u64;
    let mut submit = |pair: &mut DiskPair, buf: Vec<u8>, tag: &mut u64| {
        let sector = offset();
        let req = if w.write {
            BlockRequest::write(*tag, sector, buf)
        } else {
            BlockRequest::read(*tag, sector, buf)
        };
        *tag += 1;
        if pair.handles[0].submit(req).is_err() {
            panic!("submission queue full at depth {}", w.depth);
        }
    };
    for buf in free.drain(..) {
        submit(&mut pair, buf, &mut tag);
    }
    let mut done = 0u64;
    let mut measuring: Option<(Instant, u64, u64)> = None;
    let start = Instant::now();
    loop {
        pair.pump().unwrap_or_else(|e| panic!("pump: {e}"));
        while let Some(Completion { buf, result, .. }) = pair.handles[0].completion() {
            result.unwrap_or_else(|e| panic!("I/O failed: {e}"));
            done += 1;
            submit(&mut pair, buf, &mut tag);
        }
        let now = Instant::now();
        match measuring {
            None if now - start >= WARMUP => {
                measuring = Some((now, done, pair.host.grant_stats().maps));
            }
            Some((t0, d0, m0)) if now - t0 >= RUN => {
                let secs = (now - t0).as_secs_f64();
                let ios = (done - d0) as f64;
                let maps = (pair.host.grant_stats().maps - m0) as f64;
                return Measured {
                    iops: ios / secs,
                    mbps: ios * w.bytes as f64 / secs / 1e6,
                    maps_per_io: maps / ios,
                };
            }
            _ => {}
        }
    }
}

fn main() {
    // `cargo bench` passes --bench; a filter argument is not supported, everything runs.
    let workloads = [
        Workload {
            name: "randread-4k-qd1",
            write: false,
            bytes: 4096,
            depth: 1,
            random: true,
        },
        Workload {
            name: "randread-4k-qd32",
            write: false,
            bytes: 4096,
            depth: 32,
            random: true,
        },
        Workload {
            name: "randwrite-4k-qd1",
            write: true,
            bytes: 4096,
            depth: 1,
            random: true,
        },
        Workload {
            name: "randwrite-4k-qd32",
            write: true,
            bytes: 4096,
            depth: 32,
            random: true,
        },
        Workload {
            name: "seqread-1m-qd4",
            write: false,
            bytes: 1 << 20,
            depth: 4,
            random: false,
        },
        Workload {
            name: "seqwrite-1m-qd4",
            write: true,
            bytes: 1 << 20,
            depth: 4,
            random: false,
        },
    ];
    let mut lines = Vec::new();
    let mut ratio = None;
    for w in workloads {
        let mut iops = [0.0; 2];
        for (i, persistent) in [true, false].into_iter().enumerate() {
            for indirect in [true, false] {
                let m = run(w, persistent, indirect);
                let line = format!(
                    "blkif {}-{}-{}: {:.0} IOPS, {:.1} MB/s, grant maps per I/O = {:.2}",
                    w.name,
                    if persistent {
                        "persistent"
                    } else {
                        "per-request"
                    },
                    if indirect { "indirect" } else { "direct" },
                    m.iops,
                    m.mbps,
                    m.maps_per_io
                );
                println!("{line}");
                lines.push(line);
                if indirect {
                    iops[i] = m.iops;
                }
            }
        }
        if w.name == "randread-4k-qd32" {
            ratio = Some(iops[0] / iops[1]);
        }
    }
    println!();
    for l in &lines {
        println!("{l}");
    }
    let ratio = ratio.expect("the 4 KiB QD32 random read case ran");
    println!("blkif persistent/per-request IOPS ratio = {ratio:.2} (4 KiB random read, QD 32, indirect on)");
}
