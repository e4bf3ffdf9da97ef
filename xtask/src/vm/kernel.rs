//! The boot files: the packages unpacked into perf/cache/unpacked, an uncompressed vmlinux (Xen loads
//! its ELF PVH entry directly, so the guest skips the in-kernel decompressor, which is slow under TCG)
//! and the Xen hypervisor as an ELF that QEMU's multiboot loader takes with `-kernel`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::cache::{self, Fingerprint};
use super::layout::Layout;
use super::packages::Debs;
use super::progress::{self, Step};
use super::sh;

pub struct BootFiles {
    /// The kernel release, e.g. 6.12.95+deb12-amd64 (the directory name under lib/modules).
    pub release: String,
    /// Uncompressed kernel image (ELF).
    pub vmlinux: PathBuf,
    /// Xen hypervisor, uncompressed multiboot ELF.
    pub xen: PathBuf,
    /// Unpacked kernel package (lib/modules/<release>/kernel/...).
    pub kernel_root: PathBuf,
    /// Unpacked Xen packages merged into one tree (usr/lib/xen-4.17/bin, usr/lib/x86_64-linux-gnu).
    pub xen_root: PathBuf,
}

/// Unpacks `debs` into a fresh `dest` unless it already holds exactly these files.
fn unpack(debs: &[PathBuf], dest: &Path) -> Result<bool, String> {
    let mut key = Fingerprint::new();
    for d in debs {
        key.file_meta(d)?;
    }
    if cache::fresh(dest, &key) {
        return Ok(false);
    }
    let _ = fs::remove_dir_all(dest);
    fs::create_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    for d in debs {
        sh::output(Command::new("dpkg-deb").arg("-x").arg(d).arg(dest))?;
    }
    cache::record(dest, &key)?;
    Ok(true)
}

/// A compression format that a bzImage's payload may be in, with its magic and its decompressor.
#[derive(Debug, PartialEq, Clone, Copy)]
pub enum Codec {
    Zstd,
    Xz,
    Gzip,
}

impl Codec {
    const ALL: [(Codec, &'static [u8]); 3] = [
        (Codec::Zstd, &[0x28, 0xb5, 0x2f, 0xfd]),
        (Codec::Xz, &[0xfd, b'7', b'z', b'X', b'Z', 0]),
        (Codec::Gzip, &[0x1f, 0x8b, 0x08]),
    ];

    fn tool(self) -> &'static str {
        match self {
            Codec::Zstd => "zstd",
            Codec::Xz => "xz",
            Codec::Gzip => "gzip",
        }
    }
}

/// Every place in `image` where a compressed stream may start, in file order. Magic bytes can also
/// occur by chance, so the caller tries them in turn until one decompresses to an ELF file.
pub fn compressed_candidates(image: &[u8]) -> Vec<(usize, Codec)> {
    let mut found: Vec<(usize, Codec)> = Codec::ALL
        .iter()
        .flat_map(|(codec, magic)| {
            image
                .windows(magic.len())
                .enumerate()
                .filter(move |(_, w)| w == magic)
                .map(move |(i, _)| (i, *codec))
        })
        .collect();
    found.sort_by_key(|(i, _)| *i);
    found
}

/// Runs the codec's decompressor over `data`. Its exit status is ignored on purpose: a stream found
/// inside a bzImage has trailing bytes, which the tools complain about after writing everything.
pub fn decompress(codec: Codec, data: &[u8]) -> Option<Vec<u8>> {
    let mut child = Command::new(codec.tool())
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let data = data.to_vec();
    // Feed stdin from a thread: the decompressor blocks on a full stdout pipe otherwise.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().ok()?;
    let _ = feeder.join();
    Some(out.stdout)
}

fn extract_vmlinux(vmlinuz: &Path, out: &Path) -> Result<u64, String> {
    let image = fs::read(vmlinuz).map_err(|e| format!("{}: {e}", vmlinuz.display()))?;
    for (offset, codec) in compressed_candidates(&image) {
        if let Some(elf) = decompress(codec, &image[offset..]) {
            if elf.starts_with(b"\x7fELF") {
                fs::write(out, &elf).map_err(|e| format!("{}: {e}", out.display()))?;
                return Ok(elf.len() as u64);
            }
        }
    }
    Err(format!(
        "{}: no compressed ELF kernel found inside",
        vmlinuz.display()
    ))
}

fn only_entry(dir: &Path, what: &str) -> Result<PathBuf, String> {
    let entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    match entries.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "{}: expected exactly one {what}, found {}",
            dir.display(),
            entries.len()
        )),
    }
}

/// Unpacks the packages and produces vmlinux and xen.elf, each step skipped when its inputs are
/// unchanged.
pub fn prepare(layout: &Layout, debs: &Debs) -> Result<BootFiles, String> {
    let step = Step::start("unpack kernel and Xen");
    let base = layout.unpacked();
    let kernel_root = base.join("kernel");
    let xen_root = base.join("xen");
    let k = unpack(std::slice::from_ref(&debs.kernel), &kernel_root)?;
    let x = unpack(&debs.xen, &xen_root)?;
    let release = only_entry(&kernel_root.join("lib/modules"), "kernel release")?
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();

    let vmlinuz = kernel_root.join(format!("boot/vmlinuz-{release}"));
    let vmlinux = base.join("vmlinux");
    let mut key = Fingerprint::new();
    key.file_meta(&vmlinuz)?;
    let mut made = Vec::new();
    if !cache::fresh(&vmlinux, &key) {
        let size = extract_vmlinux(&vmlinuz, &vmlinux)?;
        cache::record(&vmlinux, &key)?;
        made.push(format!("vmlinux {}", progress::mib(size)));
    }

    let xen_gz = fs::read_dir(xen_root.join("boot"))
        .map_err(|e| format!("unpacked Xen has no boot/: {e}"))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "gz"))
        .ok_or("unpacked Xen has no boot/xen-*.gz")?;
    let xen = base.join("xen.elf");
    let mut key = Fingerprint::new();
    key.file_meta(&xen_gz)?;
    if !cache::fresh(&xen, &key) {
        let gz = fs::read(&xen_gz).map_err(|e| format!("{}: {e}", xen_gz.display()))?;
        let elf = decompress(Codec::Gzip, &gz)
            .ok_or_else(|| format!("{}: gunzip failed", xen_gz.display()))?;
        if !elf.starts_with(b"\x7fELF") {
            return Err(format!("{}: not a gzipped ELF", xen_gz.display()));
        }
        fs::write(&xen, &elf).map_err(|e| format!("{}: {e}", xen.display()))?;
        cache::record(&xen, &key)?;
        made.push(format!("xen.elf {}", progress::mib(elf.len() as u64)));
    }
    step.done(&format!(
        "kernel {release}; unpacked: {}; made: {}",
        match (k, x) {
            (false, false) => "nothing (cached)",
            (true, false) => "kernel",
            (false, true) => "xen",
            (true, true) => "kernel, xen",
        },
        if made.is_empty() {
            "nothing (cached)".into()
        } else {
            made.join(", ")
        }
    ));
    Ok(BootFiles {
        release,
        vmlinux,
        xen,
        kernel_root,
        xen_root,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_found_in_file_order_for_every_codec() {
        let mut img = vec![0u8; 64];
        img[40..44].copy_from_slice(&[0x28, 0xb5, 0x2f, 0xfd]);
        img[10..16].copy_from_slice(&[0xfd, b'7', b'z', b'X', b'Z', 0]);
        img[50..53].copy_from_slice(&[0x1f, 0x8b, 0x08]);
        assert_eq!(
            compressed_candidates(&img),
            vec![(10, Codec::Xz), (40, Codec::Zstd), (50, Codec::Gzip)]
        );
        assert!(compressed_candidates(&[0u8; 16]).is_empty());
    }

    #[test]
    fn extraction_skips_false_magic_and_finds_the_elf() {
        // A fake bzImage: a stray gzip magic, then a real gzip stream of an "ELF".
        let dir = std::env::temp_dir().join(format!("xtask-kernel-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let payload = dir.join("payload");
        fs::write(&payload, b"\x7fELF and the rest of a kernel").unwrap();
        sh::output(Command::new("gzip").arg("-kf").arg(&payload)).unwrap();
        let mut image = b"boot sector \x1f\x8b\x08 junk ".to_vec();
        image.extend(fs::read(dir.join("payload.gz")).unwrap());
        let vmlinuz = dir.join("vmlinuz");
        fs::write(&vmlinuz, &image).unwrap();
        let out = dir.join("vmlinux");
        let n = extract_vmlinux(&vmlinuz, &out).unwrap();
        assert_eq!(fs::read(&out).unwrap(), fs::read(&payload).unwrap());
        assert_eq!(n, fs::metadata(&payload).unwrap().len());

        fs::write(&vmlinuz, b"no kernel in here").unwrap();
        assert!(extract_vmlinux(&vmlinuz, &out).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
