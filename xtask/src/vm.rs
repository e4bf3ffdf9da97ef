//! `cargo xtask vm …`: the real-Xen testbed (perf/README.md).
//!
//! Real Xen 4.17 runs under QEMU TCG with a Linux PV dom0 (netback, blkback, xenstored, xl) that starts a
//! PV domU; the domU runs the test steps of perf/guest/domU.sh against its Xen devices. The host side
//! here prepares everything (packages, kernel, images), runs QEMU under a hard timeout and reads what the
//! guests reported: step markers on the serial console, result blobs in a tar that dom0 writes to a disk.

mod cache;
mod chart;
mod cpio;
mod image;
mod kernel;
mod layout;
mod ldd;
mod markers;
mod metal;
mod modules;
mod packages;
mod payload;
mod progress;
mod qemu;
mod results;
mod run;
mod sh;

use layout::Layout;
use run::Mode;

const USAGE: &str = "usage: cargo xtask vm <setup | boot [smoke|bench] | smoke | bench | metal> [--vcpus N]
  setup   install QEMU and host tools (Debian 12, as root), fetch the kernel and Xen packages, build images
  boot    build what changed, boot Xen + dom0 + domU once and print the guest's step markers
  smoke   boot and check every functional step, the kernel's fronts' and ours (exit 1 naming the failed)
  bench   boot, run iperf3 and fio through the fronts, write perf/results/bench.{md,json,svg}
          and print `vm ratio net-tx=A net-rx=B blk-rand=C blk-seq=D` (ours / kernel)
  metal   boot the bare-metal PV kernel (drivers/metal) as the domU and print its metal: lines
  --vcpus N   the test domU's vCPUs (default 1: TCG runs a 2-vCPU domU 2-10x slower)";

/// `--vcpus N` taken out of `args`: the test domU's vCPUs, 1 when not given.
fn take_vcpus(args: &mut Vec<String>) -> Result<u32, String> {
    let Some(i) = args.iter().position(|a| a == "--vcpus") else {
        return Ok(1);
    };
    let n = args
        .get(i + 1)
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=8).contains(n))
        .ok_or_else(|| format!("--vcpus needs a count from 1 to 8\n{USAGE}"))?;
    args.drain(i..i + 2);
    Ok(n)
}

pub fn run(args: &[String]) -> Result<(), String> {
    let mut args = args.to_vec();
    let vcpus = take_vcpus(&mut args)?;
    let layout = Layout::from_repo();
    let _exclusive = exclusive(&layout)?;
    match args.first().map(String::as_str) {
        Some("setup") => setup(&layout).map(|_| ()),
        Some("boot") => {
            let mode = match args.get(1).map(String::as_str) {
                None | Some("smoke") => Mode::Smoke,
                Some("bench") => Mode::Bench,
                Some(other) => return Err(format!("unknown boot mode {other:?}\n{USAGE}")),
            };
            let images = prepare(&layout)?;
            run::boot(&layout, &images, mode, vcpus).map(|r| run::print_steps(&r))
        }
        Some("smoke") => run::smoke(&layout, &prepare(&layout)?, vcpus),
        Some("bench") => run::bench(&layout, &prepare(&layout)?, vcpus),
        Some("metal") => metal::run(&layout, &prepare(&layout)?),
        _ => Err(USAGE.into()),
    }
}

/// Holds the testbed for one `cargo xtask vm` at a time: runs share perf/work and perf/cache/images,
/// and two TCG machines at once would each run at half speed into their timeouts. A second run
/// waits, saying so, until the first one's lock goes away with its process.
fn exclusive(layout: &Layout) -> Result<std::fs::File, String> {
    let path = layout.perf.join("cache/vm.lock");
    let lock = std::fs::create_dir_all(layout.perf.join("cache"))
        .and_then(|()| std::fs::File::create(&path))
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    match lock.try_lock() {
        Ok(()) => return Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!(
                "vm: waiting for another vm run to finish ({})",
                path.display()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(format!("cannot lock {}: {e}", path.display()))
        }
    }
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
    Ok(lock)
}

/// Everything `setup` does: host packages, downloads, unpacking, images. Idempotent: a second run
/// verifies the cache and rebuilds only what changed.
fn setup(layout: &Layout) -> Result<image::Images, String> {
    let total = progress::Step::start("vm setup");
    packages::ensure_host()?;
    let debs = packages::fetch_debs(layout)?;
    let boot = kernel::prepare(layout, &debs)?;
    let images = image::build(layout, &boot)?;
    total.done("ready");
    Ok(images)
}

/// What boot/smoke/bench need before starting QEMU: the packages `setup` installed and fetched
/// (no apt and no network here), and images rebuilt when an input changed.
fn prepare(layout: &Layout) -> Result<image::Images, String> {
    packages::require_host()?;
    let debs = packages::fetched_debs(layout)?;
    let boot = kernel::prepare(layout, &debs)?;
    image::build(layout, &boot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn vcpus_default_to_one_and_leave_the_other_arguments() {
        let mut a = strings(&["boot", "bench"]);
        assert_eq!(take_vcpus(&mut a), Ok(1));
        assert_eq!(a, strings(&["boot", "bench"]));
        let mut a = strings(&["smoke", "--vcpus", "2"]);
        assert_eq!(take_vcpus(&mut a), Ok(2));
        assert_eq!(a, strings(&["smoke"]));
        let mut a = strings(&["--vcpus", "4", "boot", "smoke"]);
        assert_eq!(take_vcpus(&mut a), Ok(4));
        assert_eq!(a, strings(&["boot", "smoke"]));
        for bad in [
            &["smoke", "--vcpus"][..],
            &["smoke", "--vcpus", "0"],
            &["smoke", "--vcpus", "x"],
        ] {
            assert!(take_vcpus(&mut strings(bad)).is_err(), "{bad:?}");
        }
    }
}
