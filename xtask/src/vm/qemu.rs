//! Running the machine: QEMU (TCG, no hardware virtualisation needed) with Xen as its multiboot
//! kernel and dom0's kernel and initramfs as multiboot modules; the serial console goes to a log with
//! a timestamp on every line, and the whole run has a hard deadline.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Memory of the emulated machine and dom0's share; the domU's (512 MiB) is in perf/guest/domU.cfg.
const MACHINE_MIB: u32 = 2048;
const DOM0_MIB: u32 = 1024;

pub struct Machine {
    pub xen: PathBuf,
    pub vmlinux: PathBuf,
    pub dom0_img: PathBuf,
    /// Read-only disk with what dom0 needs to start the domU (/dev/vda in dom0).
    pub data_disk: PathBuf,
    /// Disk dom0 writes its results tar to (/dev/vdb in dom0).
    pub results_disk: PathBuf,
    /// Extra dom0 kernel arguments (no commas: QEMU splits multiboot modules at commas).
    pub dom0_args: String,
}

impl Machine {
    pub fn command(&self) -> Command {
        let xen_args = format!(
            "console=com1 com1=115200,8n1 dom0_mem={DOM0_MIB}M,max:{DOM0_MIB}M dom0_max_vcpus=1 \
             loglvl=all guest_loglvl=all noreboot console_timestamps=boot"
        );
        // noxsave: FPU state saved with FXSAVE, as in the domU (perf/guest/domU.cfg says why).
        let dom0 = format!(
            "{} console=hvc0 earlyprintk=xen xrole=dom0 panic=-1 noxsave {},{}",
            self.vmlinux.display(),
            self.dom0_args,
            self.dom0_img.display()
        );
        let mut c = Command::new("qemu-system-x86_64");
        c.args(["-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "2"])
            .args(["-m", &MACHINE_MIB.to_string()])
            .args([
                "-nographic",
                "-no-reboot",
                "-monitor",
                "none",
                "-serial",
                "stdio",
            ])
            .arg("-kernel")
            .arg(&self.xen)
            .args(["-append", &xen_args, "-initrd", &dom0])
            .arg("-drive")
            .arg(format!(
                "file={},if=virtio,format=raw,readonly=on",
                self.data_disk.display()
            ))
            .arg("-drive")
            .arg(format!(
                "file={},if=virtio,format=raw",
                self.results_disk.display()
            ))
            .args(["-nic", "none"]);
        c
    }
}

pub struct Outcome {
    /// QEMU's exit status, or None when it was killed at the deadline.
    pub status: Option<ExitStatus>,
    pub elapsed: Duration,
}

/// "  12.34| text": seconds since the start, then the line as the console printed it.
pub fn stamp(elapsed: Duration, line: &str) -> String {
    format!("{:8.2}| {line}", elapsed.as_secs_f64())
}

/// Runs `cmd`, writing its timestamped output to `log` and handing each line to `on_line`; kills it
/// at `deadline`.
pub fn run(
    mut cmd: Command,
    log: &Path,
    deadline: Duration,
    mut on_line: impl FnMut(Duration, &str) + Send + 'static,
) -> Result<Outcome, String> {
    let logf = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let stderr = logf.try_clone().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr) // QEMU's own complaints land in the same log, unstamped
        .spawn()
        .map_err(|e| format!("cannot start qemu-system-x86_64: {e}"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut w = BufWriter::new(logf);
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        while r.read_until(b'\n', &mut buf).unwrap_or(0) > 0 {
            let text = String::from_utf8_lossy(&buf);
            let line = text.trim_end_matches(['\n', '\r']);
            let t = start.elapsed();
            let _ = writeln!(w, "{}", stamp(t, line));
            on_line(t, line);
            buf.clear();
        }
        let _ = w.flush();
    });
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(s);
        }
        if start.elapsed() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = reader.join();
    Ok(Outcome {
        status,
        elapsed: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_passes_dom0_as_a_module_and_both_disks() {
        let m = Machine {
            xen: "/c/xen.elf".into(),
            vmlinux: "/c/vmlinux".into(),
            dom0_img: "/c/dom0.img".into(),
            data_disk: "/w/data.tar".into(),
            results_disk: "/w/results.img".into(),
            dom0_args: "xdomu_timeout=500".into(),
        };
        let args: Vec<String> = m
            .command()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let after = |flag: &str| {
            let i = args.iter().position(|a| a == flag).unwrap();
            args[i + 1].clone()
        };
        assert_eq!(after("-kernel"), "/c/xen.elf");
        assert_eq!(
            after("-initrd"),
            "/c/vmlinux console=hvc0 earlyprintk=xen xrole=dom0 panic=-1 noxsave xdomu_timeout=500,/c/dom0.img"
        );
        assert!(after("-append").contains("dom0_mem=1024M,max:1024M"));
        assert_eq!(after("-accel"), "tcg,thread=multi");
        let drives: Vec<&String> = args.iter().filter(|a| a.starts_with("file=")).collect();
        assert_eq!(drives.len(), 2);
        assert!(drives[0].starts_with("file=/w/data.tar,") && drives[0].ends_with("readonly=on"));
    }

    #[test]
    fn run_stamps_lines_and_enforces_the_deadline() {
        let dir = std::env::temp_dir().join(format!("xtask-qemu-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo one; printf 'two\\r\\n'; exec sleep 30"]);
        let out = run(cmd, &log, Duration::from_millis(600), move |_, l| {
            s.lock().unwrap().push(l.to_string())
        })
        .unwrap();
        assert!(out.status.is_none(), "killed at the deadline");
        assert!(out.elapsed < Duration::from_secs(10));
        assert_eq!(*seen.lock().unwrap(), vec!["one", "two"]);
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.lines().all(|l| l.contains("| ")), "{text}");
        assert!(text.contains("| one\n"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
