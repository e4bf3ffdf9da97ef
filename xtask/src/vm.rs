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

const USAGE: &str = "usage: cargo xtask vm <setup | boot [smoke|bench] | smoke | bench | metal>
  setup   install QEMU and host tools (Debian 12, as root), fetch the kernel and Xen packages, build images
  boot    build what changed, boot Xen + dom0 + domU once and print the guest's step markers
  smoke   boot and check every functional step, the kernel's fronts' and ours (exit 1 naming the failed)
  bench   boot, run iperf3 and fio through the fronts, write perf/results/bench.{md,json,svg}
          and print `vm ratio net-tx=A net-rx=B blk-rand=C blk-seq=D` (ours / kernel)
  metal   boot the bare-metal PV kernel (drivers/metal) as the domU and print its metal: lines";

pub fn run(args: &[String]) -> Result<(), String> {
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
            run::boot(&layout, &images, mode).map(|r| run::print_steps(&r))
        }
        Some("smoke") => run::smoke(&layout, &prepare(&layout)?),
        Some("bench") => run::bench(&layout, &prepare(&layout)?),
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
