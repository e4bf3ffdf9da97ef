//! The network demo: a sim host with xenstored, a guest whose netfront connects to the sim netback
//! through the toolstack's device directories and the XenbusState handshake, traffic through a
//! loopback vif for a while, then an orderly close; the result is a summary table.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use xenpv_abi::xenbus::XenbusState;
use xenpv_control::vif::{VifFrontend, VifWishes};
use xenpv_control::xenbus::FrontendDriver;
use xenpv_datapath::netif::{Gso, GsoKind, OwnedPacket, TxChecksum, TxDone, TxOffload, TxStatus};

use crate::domain::Sim;
use crate::guest::SimPlatform;
use crate::host::HostConfig;
use crate::netback::pair::{linux_netback, step};
use crate::netback::xenstore::{handshake, NetbackDevice};
use crate::toolstack::{create_device, DeviceSpec};

/// What to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetOptions {
    /// How long traffic flows.
    pub duration: Duration,
    /// Queues the frontend asks for (the backend offers up to 4).
    pub queues: u16,
    /// Frame size in bytes (at most 65535); frames above 1514 bytes are sent as TCP GSO.
    pub frame_size: usize,
}

impl Default for NetOptions {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(3),
            queues: 2,
            frame_size: 1514,
        }
    }
}

/// How far the traffic phase is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Elapsed share of the traffic phase, 0 to 1.
    pub fraction: f64,
    /// Packets received back so far.
    pub packets: u64,
    /// Bytes received back so far.
    pub bytes: u64,
}

/// What happened.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetSummary {
    /// Seconds of traffic.
    pub seconds: f64,
    /// Packets sent by the frontend.
    pub packets_sent: u64,
    /// Packets received back.
    pub packets_received: u64,
    /// Bytes received back.
    pub bytes_received: u64,
    /// Transmit completions that were not OK.
    pub tx_errors: u64,
    /// Received packets dropped by the frontend as malformed.
    pub rx_dropped: u64,
    /// Packets the backend answered with an error or could not deliver.
    pub backend_errors: u64,
    /// What was negotiated, as (feature, value).
    pub features: Vec<(String, String)>,
    /// Why the demo stopped early, if it did.
    pub failure: Option<String>,
}

impl NetSummary {
    /// Received throughput in Gbit/s.
    pub fn gbits(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes_received as f64 * 8.0 / self.seconds / 1e9
        } else {
            0.0
        }
    }

    /// Received packet rate in Mpps.
    pub fn mpps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.packets_received as f64 / self.seconds / 1e6
        } else {
            0.0
        }
    }
}

impl fmt::Display for NetSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<(String, String)> = [
            (
                "throughput".to_string(),
                format!("{:.2} Gbit/s", self.gbits()),
            ),
            (
                "packet rate".to_string(),
                format!("{:.3} Mpps", self.mpps()),
            ),
            ("packets sent".to_string(), self.packets_sent.to_string()),
            (
                "packets received".to_string(),
                self.packets_received.to_string(),
            ),
            ("tx errors".to_string(), self.tx_errors.to_string()),
            ("rx dropped".to_string(), self.rx_dropped.to_string()),
            (
                "backend errors".to_string(),
                self.backend_errors.to_string(),
            ),
        ]
        .into_iter()
        .chain(self.features.iter().cloned())
        .chain(
            self.failure
                .iter()
                .map(|e| ("failure".to_string(), e.clone())),
        )
        .collect();
        let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let v = rows.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
        writeln!(f, "+-{}-+-{}-+", "-".repeat(w), "-".repeat(v))?;
        for (k, val) in &rows {
            writeln!(f, "| {k:<w$} | {val:>v$} |")?;
        }
        write!(f, "+-{}-+-{}-+", "-".repeat(w), "-".repeat(v))
    }
}

type Pkt = OwnedPacket<Arc<[u8]>>;

/// A TCP/IPv4 frame of `size` bytes from source port `port`.
fn tcp_frame(size: usize, port: u16) -> Arc<[u8]> {
    let mut f = vec![0u8; size.max(54)];
    f[0..6].copy_from_slice(&[0x00, 0x16, 0x3e, 0, 0, 1]);
    f[6..12].copy_from_slice(&[0x00, 0x16, 0x3e, 0, 0, 2]);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f[14] = 0x45;
    f[23] = 6;
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&[10, 0, 0, 2]);
    f[34..36].copy_from_slice(&port.to_be_bytes());
    f[36..38].copy_from_slice(&80u16.to_be_bytes());
    f.into()
}

/// Runs the demo, calling `progress` about every 100 ms of traffic.
pub fn run(options: NetOptions, mut progress: impl FnMut(&Progress)) -> NetSummary {
    let mut summary = NetSummary::default();
    if let Err(e) = run_inner(&options, &mut progress, &mut summary) {
        summary.failure = Some(e);
    }
    summary
}

fn run_inner(
    options: &NetOptions,
    progress: &mut impl FnMut(&Progress),
    s: &mut NetSummary,
) -> Result<(), String> {
    let sim = Sim::new(HostConfig::default());
    let guest = sim.create_guest(1).map_err(|e| format!("guest: {e:?}"))?;
    let dom0 = sim.xenstored.connect(0);
    let spec = DeviceSpec {
        class: "vif",
        id: 0,
        frontend: 1,
        backend: 0,
        frontend_keys: &[("mac", "00:16:3e:00:00:01")],
        backend_keys: &[],
    };
    let dev = create_device(&dom0, &spec).map_err(|e| format!("toolstack: {e:?}"))?;
    let mut back = NetbackDevice::attach(&sim.host, &sim.xenstored, &dev, 1, linux_netback(4))
        .map_err(|e| format!("netback: {e:?}"))?;
    let mut client = guest.store().map_err(|e| format!("store: {e:?}"))?;
    let platform = Arc::new(SimPlatform::new(sim.host.clone(), 1));
    let wishes = VifWishes {
        queues: options.queues.max(1),
        ..VifWishes::default()
    };
    let mut drv = FrontendDriver::attach(
        &mut client,
        &dev.frontend,
        VifFrontend::<Pkt, _>::new(platform.clone(), wishes),
    )
    .map_err(|e| format!("frontend: {e:?}"))?;
    drv.connect(&mut client)
        .map_err(|e| format!("connect: {e:?}"))?;
    let timeout = Duration::from_secs(30);
    handshake(&mut client, &mut drv, &mut back, timeout, |d, b| {
        d.machine().is_connected() && b.state() == XenbusState::Connected
    })
    .map_err(|e| format!("handshake: {e:?}"))?;

    let n = drv
        .device()
        .negotiated()
        .cloned()
        .ok_or("connected without negotiation")?;
    let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
    s.features = vec![
        ("queues".into(), n.config.queues.to_string()),
        (
            "split event channels".into(),
            yes(n.config.split_event_channels),
        ),
        ("scatter-gather".into(), yes(n.config.tx.sg)),
        (
            "gso tcpv4 / tcpv6".into(),
            format!(
                "{} / {}",
                yes(n.config.tx.gso_tcpv4),
                yes(n.config.tx.gso_tcpv6)
            ),
        ),
        ("large receive".into(), yes(n.config.rx.gso)),
        ("ctrl ring (RSS)".into(), yes(n.config.ctrl_ring)),
        ("rx-copy".into(), yes(n.backend.rx_copy)),
    ];

    let size = options.frame_size.clamp(60, 65535);
    let offload = if size > 1514 {
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
    let queues = usize::from(n.config.queues);
    let frames: Vec<Arc<[u8]>> = (0..queues)
        .map(|q| tcp_frame(size, 1000 + q as u16))
        .collect();
    let mut held: Vec<Option<Pkt>> = (0..queues).map(|_| None).collect();
    let start = Instant::now();
    let mut last = start;
    let (mut received, mut bytes, mut tx_errors) = (0u64, 0u64, 0u64);
    while start.elapsed() < options.duration {
        let front = drv.device_mut().netfront().ok_or("the device went away")?;
        let sent = step(
            front,
            &platform,
            &mut held,
            &mut || back.poll().map(|_| ()),
            &mut |q| {
                Some(OwnedPacket {
                    frame: frames[q].clone(),
                    offload,
                })
            },
            &mut |d| {
                if !matches!(
                    d,
                    TxDone::Packet {
                        status: TxStatus::Ok,
                        ..
                    }
                ) {
                    tx_errors += 1;
                }
            },
            &mut |_, _, data| {
                received += 1;
                bytes += data.len() as u64;
            },
        )
        .map_err(|e| format!("traffic: {e:?}"))?;
        s.packets_sent += sent;
        if last.elapsed() >= Duration::from_millis(100) {
            last = Instant::now();
            progress(&Progress {
                fraction: (start.elapsed().as_secs_f64() / options.duration.as_secs_f64()).min(1.0),
                packets: received,
                bytes,
            });
        }
    }
    s.seconds = start.elapsed().as_secs_f64();
    // Let what is in flight finish before closing, as an orderly shutdown does.
    for _ in 0..1000 {
        let front = drv.device_mut().netfront().ok_or("the device went away")?;
        if front.queues().iter().all(|q| q.pending_packets() == 0) {
            break;
        }
        s.packets_sent += step(
            front,
            &platform,
            &mut held,
            &mut || back.poll().map(|_| ()),
            &mut |_| None,
            &mut |d| {
                if !matches!(
                    d,
                    TxDone::Packet {
                        status: TxStatus::Ok,
                        ..
                    }
                ) {
                    tx_errors += 1;
                }
            },
            &mut |_, _, data| {
                received += 1;
                bytes += data.len() as u64;
            },
        )
        .map_err(|e| format!("draining: {e:?}"))?;
    }
    s.packets_received = received;
    s.bytes_received = bytes;
    s.tx_errors = tx_errors;
    if let Some(front) = drv.device_mut().netfront() {
        s.rx_dropped = front.queues().iter().map(|q| q.stats().rx_dropped).sum();
    }
    if let Some(vif) = back.vif() {
        let st = vif.stats();
        s.backend_errors = st.tx_errors + st.rx_dropped;
    }
    progress(&Progress {
        fraction: 1.0,
        packets: received,
        bytes,
    });

    drv.close(&mut client)
        .map_err(|e| format!("close: {e:?}"))?;
    handshake(&mut client, &mut drv, &mut back, timeout, |d, _| {
        d.machine().state() == XenbusState::Closed
    })
    .map_err(|e| format!("closing: {e:?}"))?;
    // Anything still in flight at the close was never answered.
    s.tx_errors += drv.device_mut().take_aborted().len() as u64;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_moves_traffic_and_reports_it() {
        let mut calls = 0;
        let summary = run(
            NetOptions {
                duration: Duration::from_millis(300),
                queues: 2,
                frame_size: 9000,
            },
            |p| {
                calls += 1;
                assert!((0.0..=1.0).contains(&p.fraction));
            },
        );
        assert_eq!(summary.failure, None);
        assert!(summary.packets_received > 0);
        assert_eq!(
            summary.packets_received, summary.packets_sent,
            "a loopback returns everything"
        );
        assert_eq!(summary.tx_errors, 0);
        assert_eq!(summary.bytes_received, summary.packets_received * 9000);
        assert_eq!(summary.rx_dropped, 0);
        assert_eq!(summary.backend_errors, 0);
        assert!(calls >= 2, "progress is reported");
        let table = summary.to_string();
        assert!(table.contains("throughput"));
        assert!(table.contains("| queues"));
        assert!(summary
            .features
            .contains(&("queues".to_string(), "2".to_string())));
    }
}
