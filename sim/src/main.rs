//! The main job: xenpv's frontends against the embedded software Xen host.
//!
//! Starts a simulated machine, connects a netfront to the sim netback (loopback sink) and moves
//! traffic, then connects a blkfront to the sim blkback and runs a verify workload across a
//! suspend/resume and a backend restart. Prints what was negotiated and measured; exits non-zero
//! if either device failed.

use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use xenpv_sim::demo::disk::{self, DiskOptions, Verify};
use xenpv_sim::demo::net::{self, NetOptions};

const USAGE: &str =
    "usage: xenpv-sim [--net-seconds S] [--queues N] [--frame BYTES] [--disk-ios N]";

fn main() -> ExitCode {
    let (net_options, disk_options) = match parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("xenpv-sim: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    println!(
        "xenpv-sim: a software Xen host (grant table, event channels, xenstored, netback, blkback)"
    );
    println!();

    let bar = progress_bar(1000, "net ");
    let net = net::run(net_options, |p| {
        bar.set_position((p.fraction * 1000.0) as u64);
        bar.set_message(format!("{} packets", p.packets));
    });
    bar.finish_and_clear();
    println!(
        "vif 0 (netfront over sim netback, loopback; {} queue(s), {}-byte frames)",
        net_options.queues, net_options.frame_size
    );
    println!("{net}");
    println!();

    let bar = progress_bar(disk_options.ios, "disk");
    let disk = disk::run(&disk_options, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    println!("{disk}");

    let net_ok = net.failure.is_none() && net.packets_received > 0;
    let disk_ok = matches!(disk.verify, Verify::Passed { .. });
    if net_ok && disk_ok {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "xenpv-sim: FAILED (net {}, disk {})",
            ok(net_ok),
            ok(disk_ok)
        );
        ExitCode::FAILURE
    }
}

fn ok(b: bool) -> &'static str {
    if b {
        "ok"
    } else {
        "failed"
    }
}

fn progress_bar(len: u64, prefix: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(len).with_prefix(prefix);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:40}] {percent:>3}% {msg}")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar
}

fn parse(args: impl Iterator<Item = String>) -> Result<(NetOptions, DiskOptions), String> {
    let mut net = NetOptions::default();
    let mut disk = DiskOptions::default();
    let mut args = args;
    while let Some(flag) = args.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            let v = args.next().ok_or_else(|| format!("{name} needs a value"))?;
            v.parse()
                .map_err(|_| format!("{name}: not a number: {v:?}"))
        };
        match flag.as_str() {
            "--net-seconds" => net.duration = Duration::from_secs(value("--net-seconds")?),
            "--queues" => {
                net.queues = u16::try_from(value("--queues")?)
                    .map_err(|_| "--queues: too large".to_string())?
            }
            "--frame" => net.frame_size = value("--frame")? as usize,
            "--disk-ios" => disk.ios = value("--disk-ios")?,
            "-h" | "--help" => return Err("help".into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if net.queues == 0 || disk.ios == 0 {
        return Err("--queues and --disk-ios must be at least 1".into());
    }
    Ok((net, disk))
}
