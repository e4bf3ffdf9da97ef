//! The demo's disk: a guest's PV disk over xenstore and blkback, running a short verify workload
//! (writes carrying their sector numbers, reads checked against them) with requests in flight
//! across a suspend/resume and a backend restart, then reading the whole disk back.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use xenpv_control::vbd::FrontWishes;
use xenpv_datapath::blkif::verify::Mismatch;
use xenpv_datapath::blkif::{Features, QueueConfig, QueueHandle};

use crate::blkback::verify::Verifier;
use crate::blkback::xs_disk::{XsDisk, XsDiskError};
use crate::blkback::{shared, BackendConfig, MemDisk};

/// Block size of the verify workload; requests are 1 to `max_blocks` blocks.
const BLOCK: usize = 4096;
const DEVID: u32 = 51712;

/// What the demo runs.
#[derive(Clone, Copy, Debug)]
pub struct DiskOptions {
    /// Disk size.
    pub disk_mib: u64,
    /// Requests in the workload.
    pub ios: u64,
    /// Requests in flight (over all queues).
    pub depth: usize,
    /// Largest request, in 4 KiB blocks.
    pub max_blocks: u64,
    pub persistent: bool,
    pub indirect: bool,
    pub queues: u32,
    pub ring_order: u32,
}

impl Default for DiskOptions {
    fn default() -> Self {
        Self {
            disk_mib: 64,
            ios: 4000,
            depth: 16,
            max_blocks: 64,
            persistent: true,
            indirect: true,
            queues: 2,
            ring_order: 1,
        }
    }
}

/// How the verification went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verify {
    /// Every read matched what was written; the whole disk was read back at the end.
    Passed { sectors_checked: u64 },
    /// A read returned something else.
    Mismatch(Mismatch),
    /// The run stopped with an error.
    Failed(String),
}

/// What the run measured and negotiated.
#[derive(Clone, Debug)]
pub struct DiskSummary {
    pub ios: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    pub iops: f64,
    pub mbps: f64,
    pub verify: Verify,
    /// Negotiated on the last connection.
    pub features: Option<Features>,
    pub ring_order: u32,
    pub queues: u32,
    pub segments_per_request: u32,
    /// Backend grant maps per I/O over the whole run (reconnects included).
    pub grant_maps_per_io: f64,
    pub reconnects: u32,
    /// Ring requests issued again on a new connection.
    pub replayed: u64,
}

fn yes(on: bool) -> &'static str {
    if on {
        "yes"
    } else {
        "no"
    }
}

impl fmt::Display for DiskSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verify = match &self.verify {
            Verify::Passed { sectors_checked } => {
                format!("passed ({sectors_checked} sectors read back)")
            }
            Verify::Mismatch(m) => format!(
                "FAILED at sector {} (found sector {}, seed {})",
                m.sector, m.found_sector, m.found_seed
            ),
            Verify::Failed(e) => format!("FAILED: {e}"),
        };
        let mut rows: Vec<(&str, String)> = Vec::from([
            ("IOPS", format!("{:.0}", self.iops)),
            ("throughput", format!("{:.1} MB/s", self.mbps)),
            ("I/Os", self.ios.to_string()),
            ("verify", verify),
            ("queues", self.queues.to_string()),
            ("ring pages", (1u32 << self.ring_order).to_string()),
            (
                "segments per request",
                self.segments_per_request.to_string(),
            ),
        ]);
        if let Some(fe) = &self.features {
            let indirect = match fe.max_indirect_segments {
                0 => String::from("no"),
                n => format!("yes ({n} segments)"),
            };
            let discard = match fe.discard {
                None => String::from("no"),
                Some(d) if d.secure => String::from("yes (secure)"),
                Some(_) => String::from("yes"),
            };
            rows.extend([
                ("persistent grants", yes(fe.persistent).to_string()),
                ("indirect descriptors", indirect),
                (
                    "flush / barrier",
                    format!("{} / {}", yes(fe.flush), yes(fe.barrier)),
                ),
                ("discard", discard),
            ]);
        }
        rows.extend([
            (
                "grant maps per I/O",
                format!("{:.2} (incl. reconnects)", self.grant_maps_per_io),
            ),
            (
                "reconnects",
                format!("{} ({} requests replayed)", self.reconnects, self.replayed),
            ),
        ]);
        let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let v = rows.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
        writeln!(f, "disk xvda (blkfront over sim blkback, verify workload)")?;
        writeln!(f, "+-{}-+-{}-+", "-".repeat(w), "-".repeat(v))?;
        for (k, val) in &rows {
            writeln!(f, "| {k:<w$} | {val:>v$} |")?;
        }
        write!(f, "+-{}-+-{}-+", "-".repeat(w), "-".repeat(v))
    }
}

/// Runs the workload; `progress(done, total)` is called as requests complete.
pub fn run(options: &DiskOptions, mut progress: impl FnMut(u64, u64)) -> DiskSummary {
    let mut summary = DiskSummary {
        ios: 0,
        bytes: 0,
        elapsed: Duration::ZERO,
        iops: 0.0,
        mbps: 0.0,
        verify: Verify::Failed(String::from("not run")),
        features: None,
        ring_order: 0,
        queues: 0,
        segments_per_request: 0,
        grant_maps_per_io: 0.0,
        reconnects: 0,
        replayed: 0,
    };
    summary.verify = match workload(options, &mut progress, &mut summary) {
        Ok(v) => v,
        Err(e) => Verify::Failed(e.to_string()),
    };
    summary
}

/// A request in flight: its first block, its size, whether it writes.
type InFlight = HashMap<u64, (u64, u64, bool)>;

fn workload(
    o: &DiskOptions,
    progress: &mut impl FnMut(u64, u64),
    s: &mut DiskSummary,
) -> Result<Verify, XsDiskError> {
    let sectors = o.disk_mib * 2048;
    let config = BackendConfig::default();
    let wishes = FrontWishes {
        persistent: o.persistent,
        indirect: o.indirect,
        ring_order: o.ring_order,
        queues: o.queues,
    };
    let mut disk = XsDisk::new(
        config.clone(),
        shared(MemDisk::new(sectors)),
        wishes,
        QueueConfig::default(),
        DEVID,
    )?;
    let mut handles = disk.driver.device_mut().take_handles();
    let mut v = Verifier::new(sectors, BLOCK, 0x5eed);
    let mut in_flight: InFlight = HashMap::new();
    let maps0 = disk.sim.host.grant_stats().maps;
    let start = Instant::now();
    let (mut issued, mut done) = (0u64, 0u64);
    while done < o.ios {
        while issued < o.ios && in_flight.len() < o.depth {
            let n = 1 + v.random_block(o.max_blocks);
            let b = v.random_block(v.blocks() - n);
            if in_flight
                .values()
                .any(|&(b2, n2, _)| b < b2 + n2 && b2 < b + n)
            {
                break;
            }
            let write = v.random_block(2) == 0;
            let req = if write {
                v.write(issued, b, n, Vec::new())
            } else {
                v.read(issued, b, n, Vec::new())
            };
            let q = issued as usize % handles.len();
            if handles[q].submit(req).is_err() {
                break;
            }
            in_flight.insert(issued, (b, n, write));
            issued += 1;
            // Interruptions with requests in flight.
            if issued == o.ios / 3 {
                disk.service_queues()?;
                disk.suspend_resume()?;
                s.reconnects += 1;
            } else if issued == 2 * o.ios / 3 {
                disk.service_queues()?;
                disk.restart_backend(config.clone())?;
                s.reconnects += 1;
            }
        }
        disk.step()?;
        for h in &mut handles {
            while let Some(c) = h.completion() {
                let Some((b, n, write)) = in_flight.remove(&c.tag) else {
                    return Ok(Verify::Failed(format!(
                        "completion for unknown tag {}",
                        c.tag
                    )));
                };
                if let Err(e) = c.result {
                    return Ok(Verify::Failed(format!("request {} failed: {e}", c.tag)));
                }
                if !write {
                    if let Err(m) = v.check(b * v.block_sectors(), &c.buf) {
                        return Ok(Verify::Mismatch(m));
                    }
                }
                done += 1;
                s.bytes += n * BLOCK as u64;
                progress(done, o.ios);
            }
        }
    }
    s.elapsed = start.elapsed();
    s.ios = done;
    s.iops = done as f64 / s.elapsed.as_secs_f64();
    s.mbps = s.bytes as f64 / s.elapsed.as_secs_f64() / 1e6;
    s.grant_maps_per_io = (disk.sim.host.grant_stats().maps - maps0) as f64 / done.max(1) as f64;
    let dev = disk.driver.device_mut();
    if let Some(n) = dev.negotiated() {
        s.features = Some(n.features);
        s.ring_order = n.ring_order;
        s.queues = n.queues;
    }
    s.segments_per_request = dev.queues_mut()[0].segments_per_request().unwrap_or(0);
    s.replayed = dev.queues_mut().iter().map(|q| q.stats().replayed).sum();
    read_back(&mut disk, &mut handles[0], &v)
}

/// Reads the whole disk back and checks every sector.
fn read_back(
    disk: &mut XsDisk,
    h: &mut QueueHandle<Vec<u8>>,
    v: &Verifier,
) -> Result<Verify, XsDiskError> {
    const CHUNK: u64 = 64;
    let mut checked = 0;
    for b in (0..v.blocks()).step_by(CHUNK as usize) {
        let n = CHUNK.min(v.blocks() - b);
        if h.submit(v.read(b, b, n, Vec::new())).is_err() {
            return Ok(Verify::Failed(String::from("queue full during read-back")));
        }
        let mut got = None;
        disk.until("a read-back", |d| {
            if d.step().is_err() {
                return true;
            }
            got = h.completion();
            got.is_some()
        })?;
        let Some(c) = got else {
            return Ok(Verify::Failed(String::from("read-back stopped")));
        };
        if let Err(e) = c.result {
            return Ok(Verify::Failed(format!("read-back failed: {e}")));
        }
        if let Err(m) = v.check(b * v.block_sectors(), &c.buf) {
            return Ok(Verify::Mismatch(m));
        }
        checked += n * v.block_sectors();
    }
    Ok(Verify::Passed {
        sectors_checked: checked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_run_verifies_across_reconnects_and_prints_a_table() {
        let options = DiskOptions {
            disk_mib: 8,
            ios: 600,
            ..DiskOptions::default()
        };
        let mut last = (0, 0);
        let s = run(&options, |done, total| last = (done, total));
        assert_eq!(
            s.verify,
            Verify::Passed {
                sectors_checked: 8 * 2048
            }
        );
        assert_eq!(last, (600, 600));
        assert_eq!((s.ios, s.reconnects, s.queues), (600, 2, 2));
        assert!(
            s.replayed > 0,
            "the interruptions caught requests in flight"
        );
        assert!(s.features.unwrap().persistent);
        assert!(s.iops > 0.0 && s.mbps > 0.0);
        let table = s.to_string();
        for row in [
            "IOPS",
            "MB/s",
            "verify",
            "persistent grants",
            "yes (256 segments)",
        ] {
            assert!(table.contains(row), "{row} missing from\n{table}");
        }
    }
}
