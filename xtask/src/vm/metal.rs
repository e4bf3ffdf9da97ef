//! `cargo xtask vm metal`: the bare-metal proof. Builds drivers/metal (a Xen PV kernel with no OS),
//! boots the testbed with it as the domU, and judges the `metal: …` lines it printed on its PV
//! console: the run passes when the last one is `metal: PASS`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::image::Images;
use super::layout::Layout;
use super::progress::Step;
use super::run::{self, Mode};
use super::sh;

const TARGET: &str = "x86_64-unknown-none";

/// Builds the kernel and writes the data disk's files into `dir`: the kernel as `metal` and the
/// xl config as `domU.cfg` (dom0.sh starts whatever domU.cfg says). Returns the kernel's path.
pub fn stage(layout: &Layout, dir: &Path) -> Result<PathBuf, String> {
    let step = Step::start("build drivers/metal");
    let target_dir = layout.repo.join("target/metal");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Its own workspace and target (drivers/metal/.cargo/config.toml); flags meant for the host
    // build must not leak into the kernel's.
    sh::run(
        Command::new(cargo)
            .current_dir(layout.repo.join("drivers/metal"))
            .args(["build", "--release", "--target", TARGET])
            .arg("--target-dir")
            .arg(&target_dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET"),
    )?;
    let built = target_dir.join(TARGET).join("release/metal");
    let kernel = dir.join("metal");
    fs::copy(&built, &kernel).map_err(|e| format!("{}: {e}", built.display()))?;
    let cfg = layout.guest().join("metal.cfg");
    fs::copy(&cfg, dir.join("domU.cfg")).map_err(|e| format!("{}: {e}", cfg.display()))?;
    step.done(&format!(
        "{} KiB",
        fs::metadata(&kernel).map(|m| m.len() / 1024).unwrap_or(0)
    ));
    Ok(kernel)
}

/// The `metal: …` lines of a console log, or of the serial log where dom0 relayed them as
/// `[domU] metal: …`.
fn metal_lines(log: &str) -> Vec<String> {
    log.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter_map(|l| {
            let l = l.strip_prefix("[domU] ").unwrap_or(l);
            l.starts_with("metal: ").then(|| l.to_string())
        })
        .collect()
}

/// Passed when the guest's last word is `metal: PASS`; otherwise what went wrong.
fn judge(lines: &[String]) -> Result<(), String> {
    match lines.last().map(String::as_str) {
        Some("metal: PASS") => Ok(()),
        Some(l) if l.starts_with("metal: FAIL") => Err(l["metal: ".len()..].to_string()),
        Some(l) => Err(format!("the guest stopped after {l:?}")),
        None => Err("the guest printed no metal: line".into()),
    }
}

pub fn run(layout: &Layout, images: &Images) -> Result<(), String> {
    let start = Instant::now();
    let report = run::boot(layout, images, Mode::Metal, 1)?;
    let console = report
        .log
        .parent()
        .map(|d| d.join("results/domU-console.log"))
        .and_then(|p| fs::read_to_string(p).ok());
    // The console log dom0 saved is complete; the serial relay is the fallback if dom0 failed.
    let lines = match console.as_deref().map(metal_lines) {
        Some(l) if !l.is_empty() => l,
        _ => metal_lines(&fs::read_to_string(&report.log).unwrap_or_default()),
    };
    for l in &lines {
        println!("{l}");
    }
    let took = start.elapsed().as_secs_f64();
    match judge(&lines) {
        Ok(()) => {
            eprintln!("vm metal: PASS in {took:.0} s");
            Ok(())
        }
        Err(why) => {
            run::print_steps(&report);
            Err(format!(
                "vm metal: {why} (after {took:.0} s; serial log {})",
                report.log.display()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_from_the_console_or_the_relay() {
        let log = "booting\r\nmetal: hello\r\n[domU] metal: Xen 4.17\n[domU] other\nxmetal: no\n";
        assert_eq!(metal_lines(log), ["metal: hello", "metal: Xen 4.17"]);
    }

    #[test]
    fn only_a_final_pass_passes() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(judge(&l(&["metal: hello", "metal: PASS"])), Ok(()));
        assert_eq!(
            judge(&l(&["metal: hello", "metal: FAIL cpuid: no Xen leaves"])),
            Err("FAIL cpuid: no Xen leaves".into())
        );
        assert_eq!(
            judge(&l(&["metal: hello"])),
            Err("the guest stopped after \"metal: hello\"".into())
        );
        assert_eq!(judge(&[]), Err("the guest printed no metal: line".into()));
    }
}
