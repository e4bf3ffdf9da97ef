//! Kernel modules for the guests: the Xen front and back ends (modules in Debian's kernel, which is what
//! lets the domU keep the kernel fronts off the devices our user-space fronts will drive), with every
//! dependency, decompressed (busybox's modprobe loads plain .ko files) and indexed by depmod.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::cache::{self, Fingerprint};
use super::kernel::BootFiles;
use super::layout::Layout;
use super::sh;

/// Loaded by the guest scripts with modprobe. Dom0: back ends, toolstack devices, brd for the ram
/// disks, bridge for the vifs, virtio_blk for the host's data/results disks. DomU: front ends, the
/// evtchn/gntalloc/gntdev/xenbus devices for user-space fronts, and tun / ublk_drv / nbd that those
/// fronts expose their devices through.
pub const WANTED: &[&str] = &[
    "xen-evtchn",
    "xen-gntdev",
    "xen-gntalloc",
    "xen-privcmd",
    "xenfs",
    "xen-netback",
    "xen-blkback",
    "xen-netfront",
    "xen-blkfront",
    "virtio_blk",
    "brd",
    "bridge",
    "loop",
    "tun",
    "ublk_drv",
    "nbd",
];

/// Module names use '-' and '_' interchangeably; files may be compressed.
pub fn module_key(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let stem = [".ko.xz", ".ko.zst", ".ko.gz", ".ko"]
        .iter()
        .find_map(|ext| base.strip_suffix(ext))
        .unwrap_or(base);
    stem.replace('-', "_")
}

/// Every module needed to load `wanted`, dependencies first.
/// `deps_of` names a module's direct dependencies; a name missing from `available` is built in.
pub fn closure<F>(
    wanted: &[&str],
    available: &BTreeMap<String, PathBuf>,
    mut deps_of: F,
) -> Result<Vec<String>, String>
where
    F: FnMut(&Path) -> Result<Vec<String>, String>,
{
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<String> = wanted.iter().map(|w| module_key(w)).collect();
    let mut order = Vec::new();
    while let Some(m) = queue.pop_front() {
        if !seen.insert(m.clone()) {
            continue;
        }
        let Some(path) = available.get(&m) else {
            continue; // built into the kernel
        };
        for d in deps_of(path)? {
            queue.push_back(module_key(&d));
        }
        order.push(m);
    }
    // Dependencies were discovered after their users; reversing puts them first.
    order.reverse();
    Ok(order)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    for e in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// Builds perf/cache/unpacked/modroot/lib/modules/<release> with the needed modules and returns the
/// modroot (its lib/ goes into the images as is).
pub fn stage(layout: &Layout, boot: &BootFiles) -> Result<PathBuf, String> {
    let src = boot.kernel_root.join("lib/modules").join(&boot.release);
    let root = layout.unpacked().join("modroot");
    let mut key = Fingerprint::new();
    key.file_meta(&src.join("modules.order"))?;
    for w in WANTED {
        key.str(w);
    }
    if cache::fresh(&root, &key) {
        return Ok(root);
    }
    let mut files = Vec::new();
    walk(&src.join("kernel"), &mut files)?;
    let available: BTreeMap<String, PathBuf> = files
        .into_iter()
        .map(|p| (module_key(&p.to_string_lossy()), p))
        .collect();
    let needed = closure(WANTED, &available, |path| {
        let deps = sh::output(Command::new("modinfo").args(["-F", "depends"]).arg(path))?;
        Ok(deps
            .split([',', '\n'])
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect())
    })?;

    let _ = fs::remove_dir_all(&root);
    let dst = root.join("lib/modules").join(&boot.release);
    for m in &needed {
        let from = &available[m];
        let rel = from.strip_prefix(&src).map_err(|e| e.to_string())?;
        let rel_name = rel.to_string_lossy();
        let to = dst.join(rel_name.strip_suffix(".xz").unwrap_or(&rel_name));
        fs::create_dir_all(to.parent().expect("module path has a parent"))
            .map_err(|e| e.to_string())?;
        let ko = sh::output_bytes(Command::new("xz").arg("-dc").arg(from))?;
        fs::write(&to, ko).map_err(|e| format!("{}: {e}", to.display()))?;
    }
    // modprobe treats modules listed as built in as loaded; depmod wants modules.order.
    for f in [
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
    ] {
        fs::copy(src.join(f), dst.join(f)).map_err(|e| format!("{f}: {e}"))?;
    }
    sh::output(
        Command::new("depmod")
            .arg("-b")
            .arg(&root)
            .arg(&boot.release),
    )?;
    cache::record(&root, &key)?;
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_ignore_dashes_and_compression() {
        assert_eq!(module_key("xen-netfront"), "xen_netfront");
        assert_eq!(
            module_key("kernel/drivers/net/xen-netback/xen-netback.ko.xz"),
            "xen_netback"
        );
        assert_eq!(module_key("ublk_drv.ko"), "ublk_drv");
    }

    #[test]
    fn closure_puts_dependencies_first_and_skips_builtins() {
        let available: BTreeMap<String, PathBuf> = ["bridge", "stp", "llc", "xen_netback"]
            .iter()
            .map(|m| (m.to_string(), PathBuf::from(format!("{m}.ko.xz"))))
            .collect();
        let deps = |p: &Path| -> Result<Vec<String>, String> {
            Ok(match p.to_str().unwrap() {
                "bridge.ko.xz" => vec!["stp".into(), "llc".into()],
                "stp.ko.xz" => vec!["llc".into()],
                _ => vec![],
            })
        };
        let order = closure(&["bridge", "xen-netback", "virtio_pci"], &available, deps).unwrap();
        assert_eq!(order.len(), 4, "virtio_pci is built in: {order:?}");
        let pos = |m: &str| order.iter().position(|x| x == m).unwrap();
        assert!(pos("llc") < pos("stp") && pos("stp") < pos("bridge"));
    }

    #[test]
    fn closure_reports_a_failing_dependency_lookup() {
        let available = BTreeMap::from([("a".to_string(), PathBuf::from("a.ko"))]);
        let err = closure(&["a"], &available, |_| Err("modinfo failed".into())).unwrap_err();
        assert_eq!(err, "modinfo failed");
    }
}
