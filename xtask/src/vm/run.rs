//! One boot of the testbed and what smoke and bench make of it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::chart;
use super::image::Images;
use super::kernel::{self, Codec};
use super::layout::Layout;
use super::markers::{self, Outcome, Steps};
use super::progress::Step;
use super::qemu::{self, Machine};
use super::results::Table;
use super::sh;

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Mode {
    Smoke,
    Bench,
    /// The bare-metal proof kernel (drivers/metal) instead of the Linux domU.
    Metal,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Smoke => "smoke",
            Mode::Bench => "bench",
            Mode::Metal => "metal",
        }
    }
    /// Hard limit for the whole QEMU run. A smoke run takes under a minute on two cores, a bench
    /// run two to three; the limits leave room for a loaded machine.
    fn deadline(self) -> Duration {
        match self {
            Mode::Smoke => Duration::from_secs(600),
            Mode::Bench => Duration::from_secs(900),
            Mode::Metal => Duration::from_secs(420),
        }
    }
    /// The domU image for this mode (only the bench image carries fio; metal has none).
    fn domu_image(self, images: &Images) -> Option<&Path> {
        match self {
            Mode::Smoke => Some(&images.domu_smoke),
            Mode::Bench => Some(&images.domu_bench),
            Mode::Metal => None,
        }
    }
}

/// Every step a smoke run must pass (the script may have more; these may not go missing).
const SMOKE_STEPS: &[(&str, &str)] = &[
    ("dom0", "modules"),
    ("dom0", "xenfs"),
    ("dom0", "toolstack"),
    ("dom0", "backends"),
    ("dom0", "bridge"),
    ("dom0", "data"),
    ("dom0", "xl-create"),
    ("dom0", "domu-backends"),
    ("dom0", "domu-finished"),
    ("dom0", "collect"),
    ("domU", "xen-detected"),
    ("domU", "devices-enumerated"),
    ("domU", "xenstore-user"),
    ("domU", "user-devices"),
    ("domU", "kernel-fronts"),
    ("domU", "twins-unbound"),
    ("domU", "net-kernel"),
    ("domU", "blk-kernel"),
    // Our user-space fronts (perf/guest/steps.d, drivers/linux).
    ("domU", "xs-read"),
    ("domU", "xs-write"),
    ("domU", "xs-directory"),
    ("domU", "xs-watch"),
    ("domU", "xs-transaction"),
    ("domU", "blk-ours"),
    ("domU", "blk-ours-reconnect"),
    ("domU", "blk-ours-closed"),
    ("domU", "blk-ours-queues-used"),
    ("domU", "blk-ours-stop-away"),
    ("domU", "blk-ours-nbd"),
    ("domU", "blk-ours-nbd-closed"),
    ("domU", "blk-ours-bad-dev"),
    ("domU", "net-ours"),
    ("domU", "net-ours-reconnect"),
    ("domU", "net-ours-flows"),
    ("domU", "net-ours-closed"),
    ("domU", "net-ours-queues-used"),
];

const BENCH_STEPS: &[(&str, &str)] = &[
    ("domU", "bench-net-kernel"),
    ("domU", "bench-blk-kernel"),
    ("domU", "bench-net-ours"),
    ("domU", "bench-blk-ours"),
    ("domU", "bench-blk-ours-nbd"),
];

pub struct Report {
    pub steps: Steps,
    pub blobs: BTreeMap<String, Vec<u8>>,
    pub log: PathBuf,
    pub timed_out: bool,
}

impl Report {
    /// Required steps that did not pass, plus anything else that failed, as one message each.
    pub fn failures(&self, required: &[(&str, &str)]) -> Vec<String> {
        let mut out: Vec<String> = required
            .iter()
            .filter(|(role, step)| self.steps.outcome(role, step).is_none())
            .map(|(role, step)| format!("{role} {step}: never ran"))
            .collect();
        for m in self.steps.problems() {
            let what = match m.outcome {
                Outcome::Begin => "did not finish",
                Outcome::Skip => "skipped",
                _ => "failed",
            };
            out.push(format!("{} {}: {what} {}", m.role, m.step, m.detail));
        }
        for role in ["dom0", "domU"] {
            if !self.steps.finished(role) {
                out.push(format!("{role}: did not finish"));
            }
        }
        if self.timed_out {
            out.push("QEMU killed at the deadline".into());
        }
        out
    }
}

fn write_domu_cfg(
    layout: &Layout,
    dir: &Path,
    mode: Mode,
    vcpus: u32,
    ramdisk: &Path,
) -> Result<(), String> {
    let template = layout.guest().join("domU.cfg");
    let text = fs::read_to_string(&template).map_err(|e| format!("{}: {e}", template.display()))?;
    let name = ramdisk.file_name().unwrap_or_default().to_string_lossy();
    let cfg = text
        .replace("@MODE@", mode.name())
        .replace("@VCPUS@", &vcpus.to_string())
        .replace("@RAMDISK@", &name);
    fs::write(dir.join("domU.cfg"), cfg).map_err(|e| e.to_string())
}

/// The data disk: a tar of `files` (the domU's kernel, image and config), which dom0 unpacks.
fn data_disk(files: &[&Path], dir: &Path) -> Result<PathBuf, String> {
    let tar = dir.join("data.tar");
    let parent = |p: &Path| p.parent().unwrap_or(Path::new("/")).to_path_buf();
    let name = |p: &Path| p.file_name().unwrap_or_default().to_os_string();
    let mut cmd = Command::new("tar");
    cmd.arg("-cf").arg(&tar).arg("--dereference");
    for f in files {
        cmd.arg("-C").arg(parent(f)).arg(name(f));
    }
    sh::output(&mut cmd)?;
    Ok(tar)
}

/// Moves the blobs named log.<name>.gz (the domU's logs, its dmesg, gzipped to spare the slow
/// console) out of `blobs` into `dir`/domU-<name>.log: they are files to read, not results.
fn save_logs(blobs: &mut BTreeMap<String, Vec<u8>>, dir: &Path) -> Result<(), String> {
    let logs: Vec<String> = blobs
        .keys()
        .filter(|k| k.starts_with("log."))
        .cloned()
        .collect();
    for key in logs {
        let name = key["log.".len()..].trim_end_matches(".gz");
        let file = dir.join(format!("domU-{name}.log"));
        let gz = blobs.remove(&key).unwrap_or_default();
        let text = kernel::decompress(Codec::Gzip, &gz)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| format!("domU log {key}: not gzip data"))?;
        fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    Ok(())
}

fn tail(log: &Path, lines: usize) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Boots once in `mode` and gathers the markers and result blobs. Fails only when the run could
/// not happen at all; what the guests report is for the caller to judge.
pub fn boot(layout: &Layout, images: &Images, mode: Mode, vcpus: u32) -> Result<Report, String> {
    let dir = layout.work().join(mode.name());
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("results")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let cfg = dir.join("domU.cfg");
    let data = match mode.domu_image(images) {
        Some(domu) => {
            write_domu_cfg(layout, &dir, mode, vcpus, domu)?;
            data_disk(&[&images.vmlinux, domu, &cfg], &dir)?
        }
        None => {
            let kernel = super::metal::stage(layout, &dir)?;
            data_disk(&[&kernel, &cfg], &dir)?
        }
    };
    let results_disk = dir.join("results.img");
    fs::File::create(&results_disk)
        .and_then(|f| f.set_len(64 << 20))
        .map_err(|e| format!("{}: {e}", results_disk.display()))?;
    let log = dir.join("serial.log");
    // dom0 gives up on the domU a minute before QEMU is killed, so it can still write the results.
    let domu_timeout = mode.deadline().as_secs().saturating_sub(120);
    let machine = Machine {
        xen: images.xen.clone(),
        vmlinux: images.vmlinux.clone(),
        dom0_img: images.dom0.clone(),
        data_disk: data,
        results_disk: results_disk.clone(),
        dom0_args: format!("xdomu_timeout={domu_timeout}"),
    };

    let step = Step::start(&format!("boot Xen + dom0 + domU ({})", mode.name()));
    eprintln!("    serial log: {}", log.display());
    let outcome = qemu::run(machine.command(), &log, mode.deadline(), |t, line| {
        // Live progress: the step markers only.
        if let Some(m) = markers::parse_markers(line).first() {
            if m.outcome != Outcome::Begin {
                eprintln!(
                    "    {:7.1}s {} {:?} {} {}",
                    t.as_secs_f64(),
                    m.role,
                    m.outcome,
                    m.step,
                    m.detail
                );
            }
        }
    })?;
    let timed_out = outcome.status.is_none();
    if timed_out {
        // Say so in the log too, for whoever reads it without this command's output.
        let note = format!(
            "xtask: QEMU killed at the {} s deadline\n",
            mode.deadline().as_secs()
        );
        let _ = fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .and_then(|mut f| std::io::Write::write_all(&mut f, note.as_bytes()));
    }
    step.done(&match outcome.status {
        Some(s) => format!("QEMU exited ({s})"),
        None => format!("QEMU killed after {:.0} s", outcome.elapsed.as_secs_f64()),
    });

    // dom0's results tar: the domU's own console log is the authority on its steps and blobs (the
    // relayed copy on the serial console lacks the blobs and may lose lines if dom0 dies).
    let results = dir.join("results");
    let unpacked = sh::output(
        Command::new("tar")
            .arg("-xf")
            .arg(&results_disk)
            .arg("-C")
            .arg(&results),
    );
    let serial = fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut found = markers::parse_markers(&serial);
    let console = fs::read_to_string(results.join("domU-console.log"));
    let mut blobs = match (&unpacked, &console) {
        (Ok(_), Ok(text)) => {
            found.retain(|m| m.role != "domU");
            found.extend(markers::parse_markers(text));
            markers::parse_blobs(text).map_err(|e| e.to_string())?
        }
        _ => BTreeMap::new(),
    };
    save_logs(&mut blobs, &results)?;
    Ok(Report {
        steps: Steps::from_markers(&found),
        blobs,
        log,
        timed_out,
    })
}

pub fn print_steps(report: &Report) {
    for m in report.steps.all() {
        eprintln!(
            "    {:5} {:22} {:?} {}",
            m.role, m.step, m.outcome, m.detail
        );
    }
}

fn fail_with(report: &Report, failures: &[String]) -> String {
    eprintln!("--- last lines of {}:", report.log.display());
    eprintln!("{}", tail(&report.log, 40));
    format!(
        "{} step(s) failed:\n  {}\n(full log: {})",
        failures.len(),
        failures.join("\n  "),
        report.log.display()
    )
}

pub fn smoke(layout: &Layout, images: &Images, vcpus: u32) -> Result<(), String> {
    let report = boot(layout, images, Mode::Smoke, vcpus)?;
    print_steps(&report);
    let failures = report.failures(SMOKE_STEPS);
    if failures.is_empty() {
        eprintln!("vm smoke: all {} steps passed", report.steps.all().count());
        Ok(())
    } else {
        Err(fail_with(&report, &failures))
    }
}

/// The host's 1-minute load average: other work on the 2 cores skews TCG numbers a lot.
fn host_load() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

pub fn bench(layout: &Layout, images: &Images, vcpus: u32) -> Result<(), String> {
    let load_before = host_load();
    let report = boot(layout, images, Mode::Bench, vcpus)?;
    let load_after = host_load();
    print_steps(&report);
    let required: Vec<(&str, &str)> = SMOKE_STEPS.iter().chain(BENCH_STEPS).copied().collect();
    let failures = report.failures(&required);
    if !failures.is_empty() {
        return Err(fail_with(&report, &failures));
    }
    let table = Table::from_blobs(&report.blobs).map_err(|e| e.to_string())?;
    if table.is_empty() {
        return Err("bench: the domU sent no results".into());
    }
    let when = sh::output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))?;
    let caption = format!(
        "Made by `cargo xtask vm bench` on {}; host load average {load_before:.1} before, \
         {load_after:.1} after.",
        when.trim()
    );
    // The files are written even when a ratio is missing, so the failed run can be looked at.
    let ratios = table.ratios();
    let headline = match &ratios {
        Ok(r) => format!("`{r}` (ours / kernel)"),
        Err(e) => format!("No headline ratio: {e}."),
    };
    let out = layout.results();
    fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let md = format!(
        "# Testbed benchmark: the kernel's fronts and ours (xenpv)\n\n\
         Xen 4.17 under QEMU TCG (2 emulated CPUs on a 2-core host), PV dom0 and domU with Debian's \
         Linux 6.12, back ends on brd ram disks and a dom0 bridge. Absolute numbers measure the \
         emulator more than the drivers, and move a lot with other load on the host: compare the \
         columns of one run only. Columns: `kernel` is xen-netfront / xen-blkfront, `xenpv` is \
         xenpv-net and xenpv-blk as a ublk device, `xenpv-nbd` is xenpv-blk on the same vbd as an \
         nbd device (its fallback where the kernel has no ublk_drv).\n\n{caption}\n\n{headline}\n\n{}\n![ours vs the kernel's](bench.svg)\n",
        table.markdown()
    );
    let mut json = table.json();
    json["date"] = when.trim().into();
    json["host_load"] = serde_json::json!([load_before, load_after]);
    if let Ok(r) = &ratios {
        json["ratio"] = serde_json::json!({
            "net_tx": r.net_tx, "net_rx": r.net_rx, "blk_rand": r.blk_rand, "blk_seq": r.blk_seq
        });
    }
    let json = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
    let svg = chart::svg(&table, &caption.replace('`', ""));
    for (name, text) in [
        ("bench.md", md.as_str()),
        ("bench.json", json.as_str()),
        ("bench.svg", svg.as_str()),
    ] {
        fs::write(out.join(name), text).map_err(|e| format!("{name}: {e}"))?;
    }
    println!("{}", table.markdown());
    eprintln!("vm bench: wrote {}/bench.{{md,json,svg}}", out.display());
    // The headline is the command's last line; a lost measurement fails the bench.
    let ratios = ratios.map_err(|e| format!("bench: {e}"))?;
    println!("{ratios}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(log: &str, timed_out: bool) -> Report {
        Report {
            steps: Steps::from_markers(&markers::parse_markers(log)),
            blobs: BTreeMap::new(),
            log: PathBuf::from("/nowhere"),
            timed_out,
        }
    }

    #[test]
    fn log_blobs_become_files_and_leave_the_results() {
        let dir = std::env::temp_dir().join(format!("xtask-run-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let plain = dir.join("dmesg");
        fs::write(&plain, "[    0.000000] Linux version 6.12\n").unwrap();
        sh::output(Command::new("gzip").arg("-k").arg(&plain)).unwrap();
        let gz = fs::read(dir.join("dmesg.gz")).unwrap();
        let mut blobs = BTreeMap::from([
            ("log.dmesg.gz".to_string(), gz),
            ("iperf3-tx.kernel".to_string(), b"{}".to_vec()),
        ]);
        save_logs(&mut blobs, &dir).unwrap();
        assert_eq!(blobs.keys().collect::<Vec<_>>(), vec!["iperf3-tx.kernel"]);
        assert_eq!(
            fs::read_to_string(dir.join("domU-dmesg.log")).unwrap(),
            "[    0.000000] Linux version 6.12\n"
        );
        let mut bad = BTreeMap::from([("log.x.gz".to_string(), b"plain text".to_vec())]);
        assert!(save_logs(&mut bad, &dir).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_complete_run_has_no_failures() {
        let mut log = String::new();
        for (role, step) in SMOKE_STEPS {
            log.push_str(&format!(
                "@@XENPV {role} begin {step}\n@@XENPV {role} ok {step} 0.1s\n"
            ));
        }
        log.push_str("@@XENPV domU done all\n@@XENPV dom0 done all\n");
        assert_eq!(
            report(&log, false).failures(SMOKE_STEPS),
            Vec::<String>::new()
        );
        // Judged as a bench, the same log lacks exactly the bench-only steps.
        let bench_only: Vec<String> = BENCH_STEPS
            .iter()
            .filter(|s| !SMOKE_STEPS.contains(s))
            .map(|(role, step)| format!("{role} {step}: never ran"))
            .collect();
        assert!(bench_only.contains(&"domU bench-blk-ours: never ran".to_string()));
        assert_eq!(report(&log, false).failures(BENCH_STEPS), bench_only);
    }

    #[test]
    fn failures_name_the_step_and_the_hang() {
        let log = "@@XENPV dom0 ok modules\n@@XENPV domU fail net-kernel rc=1 after 9s: no reply\n\
                   @@XENPV domU begin blk-kernel\n";
        let f = report(log, true).failures(&[("dom0", "modules"), ("domU", "net-kernel")]);
        assert_eq!(
            f,
            vec![
                "domU net-kernel: failed rc=1 after 9s: no reply",
                "domU blk-kernel: did not finish ",
                "dom0: did not finish",
                "domU: did not finish",
                "QEMU killed at the deadline",
            ]
        );
    }
}
