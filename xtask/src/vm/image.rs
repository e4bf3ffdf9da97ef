//! The initramfs images. Each image is a concatenation of cpio layers (the kernel unpacks them in
//! turn), so that editing a guest script or rebuilding a payload binary rewrites a small layer and
//! not the hundred megabytes of libraries:
//!
//! - `base`: busybox, the kernel modules, xenstore-* tools, iperf3, and their libraries (both roles);
//! - `dom0`: xl, xenstored, xenconsoled, xen-init-dom0 and the Xen libraries;
//! - `bench`: fio and its libraries (80 MiB of them: only the bench image carries them, which keeps
//!   the smoke run's domU quicker to load and boot);
//! - `scripts`: perf/guest (init, role scripts, hotplug scripts, xl.conf, steps.d);
//! - `payload`: the binaries of perf/payload.list in /opt/xenpv/bin.
//!
//! dom0.img = base + dom0 + scripts; domU-smoke.img = base + scripts + payload; domU-bench.img =
//! base + bench + scripts + payload. One init serves both roles; the kernel command line says which
//! (`xrole=dom0|domU`).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::cache::{self, Fingerprint};
use super::cpio;
use super::kernel::BootFiles;
use super::layout::Layout;
use super::ldd;
use super::modules;
use super::payload;
use super::progress::{self, Step};
use super::sh;

enum Source {
    Dir,
    Host(PathBuf),
    Data(Vec<u8>),
    Symlink(String),
}

struct Entry {
    perm: u32,
    source: Source,
}

/// The contents of one cpio layer, by path in the image (sorted, so parents come first).
pub struct Layer {
    name: &'static str,
    entries: BTreeMap<String, Entry>,
}

impl Layer {
    fn new(name: &'static str) -> Layer {
        Layer {
            name,
            entries: BTreeMap::new(),
        }
    }

    fn insert(&mut self, path: &str, perm: u32, source: Source) {
        let path = path.trim_start_matches('/').to_string();
        // Every ancestor directory is an entry of its own: the kernel creates no missing parents.
        let mut parent = Path::new(&path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            self.entries
                .entry(p.to_string_lossy().into_owned())
                .or_insert(Entry {
                    perm: 0o755,
                    source: Source::Dir,
                });
            parent = p.parent();
        }
        self.entries.insert(path, Entry { perm, source });
    }

    fn dir(&mut self, path: &str) {
        self.insert(path, 0o755, Source::Dir);
    }
    fn host(&mut self, path: &str, perm: u32, src: &Path) {
        self.insert(path, perm, Source::Host(src.to_path_buf()));
    }
    fn data(&mut self, path: &str, perm: u32, data: &str) {
        self.insert(path, perm, Source::Data(data.as_bytes().to_vec()));
    }
    fn symlink(&mut self, path: &str, target: &str) {
        self.insert(path, 0o777, Source::Symlink(target.to_string()));
    }

    /// A tree from the host, keeping relative paths and executable bits.
    fn tree(&mut self, dest: &str, src: &Path) -> Result<(), String> {
        for e in fs::read_dir(src).map_err(|e| format!("{}: {e}", src.display()))? {
            let p = e.map_err(|e| e.to_string())?.path();
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let to = format!("{dest}/{name}");
            if p.is_dir() {
                self.dir(&to);
                self.tree(&to, &p)?;
            } else {
                use std::os::unix::fs::PermissionsExt;
                let mode = fs::metadata(&p)
                    .map_err(|e| e.to_string())?
                    .permissions()
                    .mode();
                self.host(&to, if mode & 0o111 != 0 { 0o755 } else { 0o644 }, &p);
            }
        }
        Ok(())
    }

    /// A dynamically linked program and every library it loads. Libraries found in `xen_root` go to
    /// the same place in the image as in the package; host libraries keep their host path.
    fn program(&mut self, dest: &str, src: &Path, xen_root: Option<&Path>) -> Result<(), String> {
        self.host(dest, 0o755, src);
        let lib_dir = xen_root.map(|r| r.join("usr/lib/x86_64-linux-gnu"));
        for lib in ldd::libraries(src, lib_dir.as_deref())? {
            let in_image = match xen_root.and_then(|r| lib.strip_prefix(r).ok()) {
                Some(rel) => Path::new("/").join(rel),
                None => lib.clone(),
            };
            self.host(&in_image.to_string_lossy(), 0o755, &lib);
        }
        Ok(())
    }

    fn fingerprint(&self) -> Result<Fingerprint, String> {
        let mut key = Fingerprint::new();
        key.str(self.name);
        for (path, e) in &self.entries {
            key.str(path).bytes(&e.perm.to_le_bytes());
            match &e.source {
                Source::Dir => key.str("dir"),
                Source::Host(p) => key.file_meta(p)?,
                Source::Data(d) => key.str("data").bytes(d),
                Source::Symlink(t) => key.str("link").str(t),
            };
        }
        Ok(key)
    }

    /// Writes the layer to `dir/<name>.cpio` unless it is already there from the same inputs.
    /// Returns the path and whether it was rebuilt.
    fn write(&self, dir: &Path) -> Result<(PathBuf, bool), String> {
        let out = dir.join(format!("{}.cpio", self.name));
        let key = self.fingerprint()?;
        if cache::fresh(&out, &key) {
            return Ok((out, false));
        }
        let err = |e: std::io::Error| format!("{}: {e}", out.display());
        let mut w = cpio::Writer::new(BufWriter::new(File::create(&out).map_err(err)?));
        for (path, e) in &self.entries {
            match &e.source {
                Source::Dir => w.dir(path, e.perm),
                Source::Host(src) => w.file(path, e.perm, src),
                Source::Data(d) => w.data(path, e.perm, d),
                Source::Symlink(t) => w.symlink(path, t),
            }
            .map_err(err)?;
        }
        w.finish().map_err(err)?;
        cache::record(&out, &key)?;
        Ok((out, true))
    }
}

/// Host programs both roles run (from Debian packages installed by `vm setup`).
const XENSTORE_TOOLS: &[&str] = &[
    "xenstore-read",
    "xenstore-write",
    "xenstore-ls",
    "xenstore-list",
    "xenstore-rm",
    "xenstore-exists",
    "xenstore-watch",
    "xenstore-chmod",
];

fn base_layer(modroot: &Path) -> Result<Layer, String> {
    let mut l = Layer::new("base");
    for d in [
        "dev", "proc", "sys", "tmp", "run", "root", "mnt", "data", "var/run", "var/log", "var/lib",
    ] {
        l.dir(d);
    }
    // busybox-static, with a link for each applet where busybox would install it.
    l.host("bin/busybox", 0o755, Path::new("/bin/busybox"));
    for applet in sh::output(Command::new("/bin/busybox").arg("--list-full"))?.lines() {
        let applet = applet.trim();
        if !applet.is_empty() && applet != "bin/busybox" {
            l.symlink(applet, "/bin/busybox");
        }
    }
    l.data("etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\n");
    l.data("etc/group", 0o644, "root:x:0:\n");
    l.data("etc/hosts", 0o644, "127.0.0.1 localhost\n");
    l.tree("lib/modules", &modroot.join("lib/modules"))?;
    for t in XENSTORE_TOOLS {
        l.program(
            &format!("usr/bin/{t}"),
            &Path::new("/usr/bin").join(t),
            None,
        )?;
    }
    l.program("usr/bin/iperf3", Path::new("/usr/bin/iperf3"), None)?;
    // glibc loads libgcc_s at run time (thread cancellation), so ldd does not list it; xl needs it.
    let libgcc = "/lib/x86_64-linux-gnu/libgcc_s.so.1";
    l.host(libgcc, 0o755, Path::new(libgcc));
    Ok(l)
}

fn dom0_layer(boot: &BootFiles) -> Result<Layer, String> {
    let mut l = Layer::new("dom0");
    let xen_bin = "usr/lib/xen-4.17/bin";
    for prog in [
        "xl",
        "xenstored",
        "xenconsoled",
        "xen-init-dom0",
        "libxl-save-helper",
    ] {
        let src = boot.xen_root.join(xen_bin).join(prog);
        l.program(&format!("{xen_bin}/{prog}"), &src, Some(&boot.xen_root))?;
        l.symlink(&format!("usr/sbin/{prog}"), &format!("/{xen_bin}/{prog}"));
    }
    for d in [
        "var/lib/xen",
        "var/lib/xenstored",
        "var/log/xen/console",
        "var/run/xen",
        "var/run/xenstored",
    ] {
        l.dir(d);
    }
    Ok(l)
}

fn bench_layer() -> Result<Layer, String> {
    let mut l = Layer::new("bench");
    l.program("usr/bin/fio", Path::new("/usr/bin/fio"), None)?;
    Ok(l)
}

fn scripts_layer(layout: &Layout) -> Result<Layer, String> {
    let guest = layout.guest();
    let mut l = Layer::new("scripts");
    l.host("init", 0o755, &guest.join("init"));
    for s in ["lib.sh", "dom0.sh", "domU.sh", "backend-agent.sh"] {
        l.host(&format!("etc/xenpv/{s}"), 0o755, &guest.join(s));
    }
    l.host("etc/xen/xl.conf", 0o644, &guest.join("xl.conf"));
    l.dir("etc/xen/scripts");
    l.tree("etc/xen/scripts", &guest.join("hotplug"))?;
    l.dir("etc/xenpv/steps.d");
    l.tree("etc/xenpv/steps.d", &guest.join("steps.d"))?;
    Ok(l)
}

fn payload_layer(bins: &[(String, PathBuf)]) -> Layer {
    let mut l = Layer::new("payload");
    l.dir("opt/xenpv/bin");
    for (name, path) in bins {
        l.host(&format!("opt/xenpv/bin/{name}"), 0o755, path);
    }
    l
}

/// What a boot needs: the images plus the kernel and hypervisor they go with.
pub struct Images {
    pub dom0: PathBuf,
    pub domu_smoke: PathBuf,
    pub domu_bench: PathBuf,
    pub vmlinux: PathBuf,
    pub xen: PathBuf,
}

/// Concatenates `layers` into `out` unless it already holds them in this version.
fn concat(out: &Path, layers: &[&Path]) -> Result<bool, String> {
    let mut key = Fingerprint::new();
    for l in layers {
        key.file_meta(l)?;
    }
    if cache::fresh(out, &key) {
        return Ok(false);
    }
    let err = |e: std::io::Error| format!("{}: {e}", out.display());
    let mut w = BufWriter::new(File::create(out).map_err(err)?);
    for l in layers {
        std::io::copy(&mut File::open(l).map_err(err)?, &mut w).map_err(err)?;
    }
    w.flush().map_err(err)?;
    cache::record(out, &key)?;
    Ok(true)
}

fn size(p: &Path) -> u64 {
    fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

pub fn build(layout: &Layout, boot: &BootFiles) -> Result<Images, String> {
    let step = Step::start("initramfs images");
    let dir = layout.images();
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let modroot = modules::stage(layout, boot)?;
    let bins = payload::build(layout)?;
    let layers = [
        base_layer(&modroot)?,
        dom0_layer(boot)?,
        bench_layer()?,
        scripts_layer(layout)?,
        payload_layer(&bins),
    ];
    let mut paths = Vec::new();
    let mut report = Vec::new();
    for l in &layers {
        let (p, rebuilt) = l.write(&dir)?;
        report.push(format!(
            "{} {}{}",
            l.name,
            progress::mib(size(&p)),
            if rebuilt { " (rebuilt)" } else { "" }
        ));
        paths.push(p);
    }
    let [base, dom0, bench, scripts, payload] = [0, 1, 2, 3, 4].map(|i| paths[i].as_path());
    let images = Images {
        dom0: dir.join("dom0.img"),
        domu_smoke: dir.join("domU-smoke.img"),
        domu_bench: dir.join("domU-bench.img"),
        vmlinux: boot.vmlinux.clone(),
        xen: boot.xen.clone(),
    };
    concat(&images.dom0, &[base, dom0, scripts])?;
    concat(&images.domu_smoke, &[base, scripts, payload])?;
    concat(&images.domu_bench, &[base, bench, scripts, payload])?;
    step.done(&format!(
        "{}; payload: {} binaries; dom0.img {}, domU-smoke.img {}, domU-bench.img {}",
        report.join(", "),
        bins.len(),
        progress::mib(size(&images.dom0)),
        progress::mib(size(&images.domu_smoke)),
        progress::mib(size(&images.domu_bench))
    ));
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_bring_their_parent_directories_in_order() {
        let mut l = Layer::new("t");
        l.data("/etc/xenpv/lib.sh", 0o755, "x");
        l.symlink("usr/sbin/xl", "/usr/lib/xen-4.17/bin/xl");
        let paths: Vec<&str> = l.entries.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            vec![
                "etc",
                "etc/xenpv",
                "etc/xenpv/lib.sh",
                "usr",
                "usr/sbin",
                "usr/sbin/xl"
            ]
        );
        assert!(matches!(l.entries["etc/xenpv"].source, Source::Dir));
    }

    #[test]
    fn a_layer_is_rewritten_only_when_an_input_changes() {
        let dir = std::env::temp_dir().join(format!("xtask-image-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let src = dir.join("tool");
        fs::write(&src, b"v1").unwrap();
        let layer = |script: &str| {
            let mut l = Layer::new("t");
            l.data("etc/script", 0o755, script);
            l.host("bin/tool", 0o755, &src);
            l
        };
        assert!(layer("a").write(&dir).unwrap().1, "first build");
        assert!(!layer("a").write(&dir).unwrap().1, "same inputs");
        assert!(layer("b").write(&dir).unwrap().1, "generated file changed");
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&src, b"v2 longer").unwrap();
        let (path, rebuilt) = layer("b").write(&dir).unwrap();
        assert!(rebuilt, "host file changed");
        let bytes = fs::read(path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("bin/tool") && text.contains("v2 longer"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
