//! netfront → sim netback (loopback) → netfront throughput for 64 B, 1500 B and 64 KiB GSO frames
//! on 1 and 2 queues, next to memcpy of the same bytes in the same run (the limit of a copying
//! path), plus the cost of a per-packet grant against copying through the pre-granted pool.
//!
//! Each packet lives in the guest's own frames, as a header fragment and a payload fragment, as
//! an upper layer hands them over: the engine copies what is short and grants the frames of long
//! payloads (see `xenpv_datapath::netif::tx::GRANT_MIN`).
//!
//! Everything runs on one thread, frontend and backend taking turns as a polled driver would on
//! one CPU; the numbers are same-run ratios, not absolute claims. Each case's detailed line also
//! gives the rate per second of this thread's CPU time, for netif and memcpy alike: on a machine
//! shared with other work that ratio moves much less than the wall-clock one.

use std::hint::black_box;
use std::time::{Duration, Instant};

use xenpv_abi::PAGE_SIZE;
use xenpv_datapath::netif::{FragmentFrames, Gso, GsoKind, TxChecksum, TxOffload, TxPacket};
use xenpv_datapath::platform::{Access, Gfn, Grants};
use xenpv_sim::guest::SimPlatform;
use xenpv_sim::host::{Host, HostConfig};
use xenpv_sim::netback::pair::{linux_netback, FrontRequest, NetPair};

/// Ethernet, IPv4 and TCP headers: the first fragment of every packet.
const HEADERS: usize = 54;

/// A packet in the guest's frames: its headers and its payload as two fragments.
#[derive(Clone, Copy)]
struct Pkt {
    frame: &'static [u8],
    gfns: &'static [Gfn],
    offload: TxOffload,
}

impl TxPacket for Pkt {
    fn offload(&self) -> TxOffload {
        self.offload
    }

    fn fragments(&self) -> impl Iterator<Item = &[u8]> {
        let (headers, payload) = self.frame.split_at(HEADERS);
        [headers, payload].into_iter()
    }

    fn fragment_frames(&self, index: usize) -> Option<FragmentFrames<'_>> {
        (index == 1).then_some(FragmentFrames {
            offset: HEADERS,
            gfns: self.gfns,
        })
    }
}

const RUN: Duration = Duration::from_secs(3);

struct Case {
    name: &'static str,
    size: usize,
    gso: bool,
    queues: u16,
}

struct Result_ {
    pps: f64,
    bps: f64,
    /// Bits per second of this thread's CPU time: on a machine shared with other work, the
    /// fairer comparison (memcpy is measured the same way).
    cpu_bps: f64,
    cpu_pps: f64,
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(r, 0, "CLOCK_THREAD_CPUTIME_ID is available on Linux");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A TCP/IPv4 frame of `size` bytes in newly allocated frames of the guest `dom`, with the frames'
/// numbers; both live for the rest of the run.
fn frame(host: &Host, dom: u16, size: usize, queue: u16) -> (&'static [u8], &'static [Gfn]) {
    let mut f = vec![0u8; size];
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f[14] = 0x45;
    f[23] = 6;
    f[34..36].copy_from_slice(&(1000 + queue).to_be_bytes());
    for (i, b) in f.iter_mut().enumerate().skip(HEADERS) {
        *b = i as u8;
    }
    let (mem, gfns) = host
        .frames
        .alloc(dom, size.div_ceil(PAGE_SIZE))
        .expect("the host has frames for the bench");
    mem.write_bytes(0, &f);
    // SAFETY: the frames are never freed, and after this write nothing writes them: the guest
    // grants them read-only, so the backend can only read them.
    let bytes = unsafe { std::slice::from_raw_parts(mem.as_ptr().as_ptr(), size) };
    (bytes, Box::leak(gfns.into_boxed_slice()))
}

fn netif(case: &Case) -> Result_ {
    let host = Host::new(HostConfig::default());
    let req = FrontRequest {
        queues: case.queues,
        ..FrontRequest::default()
    };
    let mut pair: NetPair<Pkt> = NetPair::connect(&host, 1, &linux_netback(4), req)
        .unwrap_or_else(|e| panic!("connect: {e:?}"));
    let offload = if case.gso {
        TxOffload {
            checksum: TxChecksum::Offload,
            gso: Some(Gso {
                kind: GsoKind::TcpV4,
                mss: 1448,
            }),
        }
    } else {
        TxOffload::default()
    };
    let frames: Vec<(&'static [u8], &'static [Gfn])> = (0..case.queues)
        .map(|q| frame(&host, pair.guest.domid(), case.size, q))
        .collect();
    let (mut packets, mut bytes) = (0u64, 0u64);
    let step = |pair: &mut NetPair<Pkt>, packets: &mut u64, bytes: &mut u64| {
        let mut next = |q: usize| {
            Some(Pkt {
                frame: frames[q].0,
                gfns: frames[q].1,
                offload,
            })
        };
        pair.step(
            &mut next,
            &mut |d| {
                black_box(d);
            },
            &mut |_, _, data| {
                *packets += 1;
                *bytes += data.len() as u64;
                black_box(data);
            },
        )
        .expect("both ends healthy");
    };
    // Warm up, then measure.
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(300) {
        step(&mut pair, &mut packets, &mut bytes);
    }
    let (p0, b0) = (packets, bytes);
    let (start, cpu) = (Instant::now(), thread_cpu());
    while start.elapsed() < RUN {
        step(&mut pair, &mut packets, &mut bytes);
    }
    let t = start.elapsed().as_secs_f64();
    let cpu = (thread_cpu() - cpu).as_secs_f64();
    Result_ {
        pps: (packets - p0) as f64 / t,
        bps: (bytes - b0) as f64 * 8.0 / t,
        cpu_bps: (bytes - b0) as f64 * 8.0 / cpu,
        cpu_pps: (packets - p0) as f64 / cpu,
    }
}

/// memcpy of packet-sized chunks over a ring's worth of distinct buffers, in bits per second of
/// wall time and of this thread's CPU time.
fn memcpy(size: usize) -> (f64, f64) {
    let slots = 256;
    let src = vec![0x5au8; size * slots];
    let mut dst = vec![0u8; size * slots];
    let mut copied = 0u64;
    let (start, cpu) = (Instant::now(), thread_cpu());
    while start.elapsed() < RUN / 2 {
        for i in 0..slots {
            let r = i * size..(i + 1) * size;
            dst[r.clone()].copy_from_slice(black_box(&src[r]));
        }
        black_box(&mut dst);
        copied += (size * slots) as u64;
    }
    let bits = copied as f64 * 8.0;
    (
        bits / start.elapsed().as_secs_f64(),
        bits / (thread_cpu() - cpu).as_secs_f64(),
    )
}

/// Per packet: copy into a page granted once (what the engine does) versus granting a page for
/// the packet, the backend mapping and unmapping it, and ending the grant; and what the engine
/// pays per granted page itself: a grant and an end through a queue's reserve of references.
fn grant_cost(size: usize) -> (f64, f64, f64) {
    let host = Host::new(HostConfig::default());
    let guest = SimPlatform::new(host.clone(), 1);
    let pool = guest.grant_region(0, 1, Access::ReadOnly).unwrap();
    let data = vec![7u8; size.min(PAGE_SIZE)];
    let mut out = vec![0u8; data.len()];
    let n = 200_000u32;
    let t = Instant::now();
    for _ in 0..n {
        pool.mem().write_data(0, black_box(&data));
        host.copy_from_grant(0, 1, pool.grefs()[0], 0, &mut out)
            .unwrap();
    }
    let pooled = t.elapsed().as_secs_f64() * 1e9 / f64::from(n);
    let (mem, gfns) = host.frames.alloc(1, 1).unwrap();
    let table = host.grant_table(1);
    let t = Instant::now();
    for _ in 0..n {
        mem.write_data(0, black_box(&data));
        let g = table.grant(0, gfns[0], true).unwrap();
        let map = host.map(0, 1, g, false).unwrap();
        map.mem().read_data(0, &mut out);
        drop(map);
        table.end_access(g).unwrap();
    }
    let granted = t.elapsed().as_secs_f64() * 1e9 / f64::from(n);
    let reserve = guest
        .frame_grants(0, 1)
        .unwrap()
        .expect("the sim grants frames");
    let g = reserve.refs()[0];
    let t = Instant::now();
    for _ in 0..n {
        reserve
            .grant(g, black_box(gfns[0]), Access::ReadOnly)
            .unwrap();
        reserve.end(g).unwrap();
    }
    let reserved = t.elapsed().as_secs_f64() * 1e9 / f64::from(n);
    (pooled, granted, reserved)
}

/// How fast bytes move into and out of shared memory (every copy on the netif path is one of
/// these), in Gbit/s, over 16 distinct 64 KiB areas.
fn shared_copy() -> (f64, f64) {
    let size = 65536;
    let areas = 16;
    let pages = xenpv_datapath::shmem::SharedPages::new(areas * size / PAGE_SIZE).unwrap();
    let mem = pages.mem();
    let src = vec![0x5au8; size];
    let mut dst = vec![0u8; size];
    let time = |f: &mut dyn FnMut(usize)| {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_millis(500) {
            for a in 0..areas {
                f(a * size);
            }
            n += (areas * size) as u64;
        }
        n as f64 * 8.0 / start.elapsed().as_secs_f64()
    };
    let write = time(&mut |off| mem.write_data(off, black_box(&src)));
    let read = time(&mut |off| mem.read_data(off, black_box(&mut dst)));
    (write, read)
}

fn main() {
    // `cargo bench` passes --bench; any other argument is a filter: only cases whose
    // "SIZE qN" label contains it run (e.g. `-- 64KiB-GSO q1` for profiling one case).
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let cases = [
        Case {
            name: "64B",
            size: 64,
            gso: false,
            queues: 1,
        },
        Case {
            name: "64B",
            size: 64,
            gso: false,
            queues: 2,
        },
        Case {
            name: "1500B",
            size: 1514,
            gso: false,
            queues: 1,
        },
        Case {
            name: "1500B",
            size: 1514,
            gso: false,
            queues: 2,
        },
        Case {
            name: "64KiB-GSO",
            size: 65535,
            gso: true,
            queues: 1,
        },
        Case {
            name: "64KiB-GSO",
            size: 65535,
            gso: true,
            queues: 2,
        },
    ];
    if filters.is_empty() {
        let (pooled, granted, reserved) = grant_cost(1514);
        println!(
            "netif tx buffer 1500B: pre-granted pool copy {pooled:.0} ns/pkt, per-packet grant+map+unmap+end {granted:.0} ns/pkt; grant+end of a page through a reserve {reserved:.1} ns"
        );
        let (write, read) = shared_copy();
        println!(
            "netif shared-memory copy 64KiB: in {:.1} Gbit/s, out {:.1} Gbit/s (memcpy of 64KiB: {:.1} Gbit/s)",
            write / 1e9,
            read / 1e9,
            memcpy(65536).0 / 1e9
        );
    }
    let mut lines = Vec::new();
    for case in &cases {
        let label = format!("{} q{}", case.name, case.queues);
        if !filters.is_empty() && !filters.iter().any(|f| label.contains(f.as_str())) {
            continue;
        }
        let r = netif(case);
        let (m, m_cpu) = memcpy(case.size);
        lines.push(format!(
            "netif {label}: {:.3} Mpps, {:.2} Gbit/s = {:.0}% of memcpy ({:.1} Gbit/s; per CPU-second: {:.3} Mpps, {:.0}% of memcpy)",
            r.pps / 1e6,
            r.bps / 1e9,
            100.0 * r.bps / m,
            m / 1e9,
            r.cpu_pps / 1e6,
            100.0 * r.cpu_bps / m_cpu,
        ));
        println!("{}", lines.last().unwrap());
    }
    println!();
    for l in &lines {
        println!("{}", l.split(" (").next().unwrap());
    }
}
