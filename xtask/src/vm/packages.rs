//! Debian packages: the host tools the testbed runs (installed with apt), and the guest's kernel and
//! Xen (downloaded with `apt-get download` into perf/cache/debs, verified against apt's SHA256, and
//! reused while the archive's candidate version stays the same).

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::layout::Layout;
use super::progress::{self, Step};
use super::sh;

/// QEMU 10 runs Xen under TCG; bookworm's own QEMU (7.2) was not tried, backports has 10.
pub const BACKPORTS: &str = "bookworm-backports";
const MIN_QEMU_MAJOR: u32 = 10;
const QEMU_PACKAGE: &str = "qemu-system-x86";

/// Host tools: busybox and the user-space programs copied into the images (with their libraries),
/// the archivers and depmod the image build uses, libc6-dev for static payload binaries.
const HOST_PACKAGES: &[&str] = &[
    "busybox-static",
    "xz-utils",
    "zstd",
    "kmod",
    "iperf3",
    "fio",
    "xenstore-utils",
    "libc6-dev",
];

/// The kernel comes from backports (6.12: xen-netfront/-blkfront/netback/blkback as modules); apt
/// resolves this meta package to the concrete linux-image-<version> package.
const KERNEL_META: &str = "linux-image-amd64";

/// Xen 4.17: the hypervisor, the toolstack (xl, xenstored, xenconsoled) and the libraries they link.
const XEN_PACKAGES: &[&str] = &[
    "xen-hypervisor-4.17-amd64",
    "xen-utils-4.17",
    "libxentoollog1",
    "libxencall1",
    "libxendevicemodel1",
    "libxenevtchn1",
    "libxenforeignmemory1",
    "libxengnttab1",
    "libxenhypfs1",
    "libyajl2",
    "libxenmisc4.17",
    "libxenstore4",
    "libxentoolcore1",
];

#[derive(Debug, PartialEq)]
pub enum PackageError {
    /// `apt-cache show` gave a record without this field.
    MissingField(&'static str),
    /// The field is there but not in the expected form.
    BadField(&'static str, String),
    /// `apt-cache depends linux-image-amd64` named no concrete kernel package.
    NoKernelDependency,
    /// apt has no record of this package.
    NotInArchive(String),
}

impl fmt::Display for PackageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackageError::MissingField(k) => write!(f, "apt record has no {k} field"),
            PackageError::BadField(k, v) => write!(f, "apt record field {k} is malformed: {v:?}"),
            PackageError::NoKernelDependency => {
                write!(
                    f,
                    "{KERNEL_META} depends on no linux-image-<version> package"
                )
            }
            PackageError::NotInArchive(p) => write!(f, "apt knows no package {p}"),
        }
    }
}

/// One candidate package version as apt describes it.
#[derive(Debug, PartialEq, Clone)]
pub struct DebRecord {
    pub package: String,
    pub version: String,
    pub architecture: String,
    pub sha256: String,
}

impl DebRecord {
    /// The file name `apt-get download` gives it (an epoch's colon is written %3a).
    pub fn file_name(&self) -> String {
        format!(
            "{}_{}_{}.deb",
            self.package,
            self.version.replace(':', "%3a"),
            self.architecture
        )
    }
}

/// Parses one paragraph of `apt-cache show` output.
pub fn parse_apt_record(paragraph: &str) -> Result<DebRecord, PackageError> {
    let mut fields = BTreeMap::new();
    for line in paragraph.lines() {
        // Continuation lines of multi-line fields start with a space.
        if let Some((k, v)) = line.split_once(':').filter(|(k, _)| !k.starts_with(' ')) {
            fields.insert(k, v.trim());
        }
    }
    let get = |k: &'static str| {
        fields
            .get(k)
            .map(|v| v.to_string())
            .ok_or(PackageError::MissingField(k))
    };
    let rec = DebRecord {
        package: get("Package")?,
        version: get("Version")?,
        architecture: get("Architecture")?,
        sha256: get("SHA256")?,
    };
    if rec.sha256.len() != 64 || !rec.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PackageError::BadField("SHA256", rec.sha256));
    }
    if rec.package.contains('/') || rec.version.contains('/') {
        return Err(PackageError::BadField("Package/Version", rec.file_name()));
    }
    Ok(rec)
}

/// Picks the record of each of `packages` out of `apt-cache show --no-all-versions` output (one
/// paragraph per package, in any order), in the order asked.
pub fn pick_records(text: &str, packages: &[&str]) -> Result<Vec<DebRecord>, PackageError> {
    let records = text
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(parse_apt_record)
        .collect::<Result<Vec<_>, _>>()?;
    packages
        .iter()
        .map(|p| {
            records
                .iter()
                .find(|r| r.package == *p)
                .cloned()
                .ok_or_else(|| PackageError::NotInArchive(p.to_string()))
        })
        .collect()
}

/// Picks the concrete kernel package out of `apt-cache depends linux-image-amd64`.
pub fn parse_kernel_package(depends: &str) -> Result<String, PackageError> {
    depends
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|p| {
            p.strip_prefix("linux-image-")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .map(str::to_string)
        .ok_or(PackageError::NoKernelDependency)
}

/// Whether an APT sources file (one-line or deb822 format) enables `suite`.
pub fn sources_enable_suite(text: &str, suite: &str) -> bool {
    let mut enabled = true; // deb822 paragraphs may say "Enabled: no"
    let mut found = false;
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            if found && enabled {
                return true;
            }
            (enabled, found) = (true, false);
        } else if line.starts_with('#') {
            continue;
        } else if let Some(v) = line.strip_prefix("Enabled:") {
            enabled = v.trim() != "no";
        } else if let Some(v) = line.strip_prefix("Suites:") {
            found |= v.split_whitespace().any(|s| s == suite);
        } else if line.starts_with("deb ") && line.split_whitespace().any(|w| w == suite) {
            return true;
        }
    }
    found && enabled
}

/// Parses `dpkg-query -W -f '${Package}\t${db:Status-Status}\t${Version}\n'` into the installed
/// packages and their versions.
pub fn parse_installed(query: &str) -> BTreeMap<String, String> {
    query
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (name, status, version) = (f.next()?, f.next()?, f.next()?);
            (status == "installed").then(|| (name.to_string(), version.to_string()))
        })
        .collect()
}

/// Whether a Debian version of QEMU ("1:10.0.2+ds-2~bpo12+1") is at least `MIN_QEMU_MAJOR`.
pub fn qemu_new_enough(version: &str) -> bool {
    let upstream = version.split_once(':').map_or(version, |(_, v)| v);
    upstream
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .is_some_and(|m| m >= MIN_QEMU_MAJOR)
}

/// Host packages missing or too old, given what is installed.
pub fn missing_host_packages(installed: &BTreeMap<String, String>) -> (Vec<&'static str>, bool) {
    let missing = HOST_PACKAGES
        .iter()
        .copied()
        .filter(|p| !installed.contains_key(*p))
        .collect();
    let qemu_ok = installed
        .get(QEMU_PACKAGE)
        .is_some_and(|v| qemu_new_enough(v));
    (missing, !qemu_ok)
}

fn installed_packages() -> Result<BTreeMap<String, String>, String> {
    // dpkg-query exits 1 when a name is unknown but still lists the others: read stdout regardless.
    let out = Command::new("dpkg-query")
        .args([
            "-W",
            "-f",
            "${Package}\t${db:Status-Status}\t${Version}\n",
            QEMU_PACKAGE,
        ])
        .args(HOST_PACKAGES)
        .output()
        .map_err(|e| format!("cannot run dpkg-query: {e}"))?;
    Ok(parse_installed(&String::from_utf8_lossy(&out.stdout)))
}

const BACKPORTS_SOURCE: &str = "/etc/apt/sources.list.d/bookworm-backports.sources";

fn backports_configured() -> bool {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        files.extend(
            dir.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "list" || x == "sources")),
        );
    }
    files
        .iter()
        .any(|f| fs::read_to_string(f).is_ok_and(|t| sources_enable_suite(&t, BACKPORTS)))
}

fn apt_get() -> Command {
    let mut c = Command::new("apt-get");
    c.env("DEBIAN_FRONTEND", "noninteractive").arg("-q");
    c
}

/// Adds bookworm-backports if missing and installs the host tools and QEMU (setup, as root).
pub fn ensure_host() -> Result<(), String> {
    let step = Step::start("host packages");
    let mut updated = false;
    if !backports_configured() {
        fs::write(
            BACKPORTS_SOURCE,
            format!(
                "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: {BACKPORTS}\nComponents: main\n\
                 Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
            ),
        )
        .map_err(|e| format!("adding {BACKPORTS} ({BACKPORTS_SOURCE}; setup runs as root): {e}"))?;
        eprintln!("    added {BACKPORTS_SOURCE}");
        sh::output(apt_get().arg("update"))?;
        updated = true;
    }
    let (missing, qemu_needed) = missing_host_packages(&installed_packages()?);
    if !missing.is_empty() || qemu_needed {
        if !updated {
            sh::output(apt_get().arg("update"))?;
        }
        if qemu_needed {
            sh::output(apt_get().args(["install", "-y", "-t", BACKPORTS, QEMU_PACKAGE]))?;
        }
        if !missing.is_empty() {
            sh::output(apt_get().args(["install", "-y"]).args(&missing))?;
        }
        step.done(&format!(
            "installed {}{}",
            missing.join(" "),
            if qemu_needed {
                " qemu-system-x86 (backports)"
            } else {
                ""
            }
        ));
    } else {
        step.done("all present");
    }
    Ok(())
}

/// For boot/smoke/bench: the host tools must be there already (installing needs root and time).
pub fn require_host() -> Result<(), String> {
    let (missing, qemu_needed) = missing_host_packages(&installed_packages()?);
    if missing.is_empty() && !qemu_needed {
        Ok(())
    } else {
        Err(format!(
            "host packages missing ({}{}): run `cargo xtask vm setup` first",
            missing.join(" "),
            if qemu_needed {
                " qemu-system-x86>=10"
            } else {
                ""
            }
        ))
    }
}

/// The downloaded packages, by role.
pub struct Debs {
    pub kernel: PathBuf,
    pub xen: Vec<PathBuf>,
}

/// The candidate versions of `packages`, in one apt-cache call (each call reads all package lists).
fn candidates(packages: &[&str]) -> Result<Vec<DebRecord>, String> {
    let text = sh::output(
        Command::new("apt-cache")
            .args(["show", "--no-all-versions"])
            .args(packages),
    )?;
    pick_records(&text, packages).map_err(|e| e.to_string())
}

fn sha256(path: &Path) -> Result<String, String> {
    let out = sh::output(Command::new("sha256sum").arg(path))?;
    Ok(out
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// Whether `dir` holds `rec`'s file with the archive's checksum.
fn cached(dir: &Path, rec: &DebRecord) -> Result<bool, String> {
    let path = dir.join(rec.file_name());
    Ok(path.exists() && sha256(&path)? == rec.sha256)
}

/// Downloads `recs` into `dir` in one apt-get call and checks every file against the archive.
fn download(dir: &Path, recs: &[DebRecord]) -> Result<(), String> {
    for r in recs {
        let _ = fs::remove_file(dir.join(r.file_name()));
    }
    let specs: Vec<String> = recs
        .iter()
        .map(|r| format!("{}={}", r.package, r.version))
        .collect();
    sh::output(apt_get().current_dir(dir).arg("download").args(&specs))?;
    for r in recs {
        if !cached(dir, r)? {
            return Err(format!(
                "{}: missing after download or checksum differs from the archive's {}",
                r.file_name(),
                r.sha256
            ));
        }
    }
    Ok(())
}

/// The candidate records (kernel first) and those that had to be downloaded into `dir`.
type Resolved = (String, Vec<DebRecord>, Vec<DebRecord>);

fn resolve_and_download(dir: &Path) -> Result<Resolved, String> {
    let depends =
        sh::output(Command::new("apt-cache").args(["depends", "-t", BACKPORTS, KERNEL_META]))?;
    let kernel_pkg = parse_kernel_package(&depends).map_err(|e| e.to_string())?;
    let wanted: Vec<&str> = std::iter::once(kernel_pkg.as_str())
        .chain(XEN_PACKAGES.iter().copied())
        .collect();
    let records = candidates(&wanted)?;
    let mut missing = Vec::new();
    for rec in &records {
        if !cached(dir, rec)? {
            missing.push(rec.clone());
        }
    }
    if !missing.is_empty() {
        download(dir, &missing)?;
    }
    Ok((kernel_pkg, records, missing))
}

/// Resolves the candidate versions and brings perf/cache/debs up to date with them.
pub fn fetch_debs(layout: &Layout) -> Result<Debs, String> {
    let step = Step::start("kernel and Xen packages");
    let dir = layout.debs();
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut resolved = resolve_and_download(&dir);
    if let Err(e) = &resolved {
        // Package lists older than the archive name files the mirror no longer has.
        eprintln!("    {e}\n    retrying after apt-get update");
        sh::output(apt_get().arg("update"))?;
        resolved = resolve_and_download(&dir);
    }
    let (kernel_pkg, records, missing) = resolved?;
    let bytes: u64 = missing
        .iter()
        .map(|r| fs::metadata(dir.join(r.file_name())).map_or(0, |m| m.len()))
        .sum();
    let fetched = missing.len();
    let mut paths: Vec<PathBuf> = records.iter().map(|r| dir.join(r.file_name())).collect();
    // Older versions left behind by an archive update would only take space.
    let keep: Vec<String> = records.iter().map(DebRecord::file_name).collect();
    for e in fs::read_dir(&dir).map_err(|e| e.to_string())?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".deb") && !keep.contains(&name) {
            let _ = fs::remove_file(e.path());
        }
    }
    let selection = dir.join(SELECTION);
    fs::write(&selection, keep.join("\n") + "\n")
        .map_err(|e| format!("{}: {e}", selection.display()))?;
    step.done(&format!(
        "{} packages ({kernel_pkg}), {fetched} downloaded ({}), {} reused",
        records.len(),
        progress::mib(bytes),
        records.len() - fetched
    ));
    let kernel = paths.remove(0);
    Ok(Debs { kernel, xen: paths })
}

/// The list of .deb files `fetch_debs` settled on, kernel first: boot/smoke/bench use exactly these
/// without asking apt again (an archive update is picked up by the next `vm setup`).
const SELECTION: &str = "selected.txt";

/// The packages the last `vm setup` fetched.
pub fn fetched_debs(layout: &Layout) -> Result<Debs, String> {
    let dir = layout.debs();
    let text = fs::read_to_string(dir.join(SELECTION)).unwrap_or_default();
    let mut paths: Vec<PathBuf> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| dir.join(l.trim()))
        .collect();
    if paths.is_empty() || paths.iter().any(|p| !p.is_file()) {
        return Err("kernel and Xen packages missing: run `cargo xtask vm setup` first".into());
    }
    let kernel = paths.remove(0);
    Ok(Debs { kernel, xen: paths })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = "Package: xen-utils-4.17\nVersion: 4.17.7+13-g2445b30a44-0+deb12u1\n\
Installed-Size: 4580\nMaintainer: Debian Xen Team <pkg-xen-devel@lists.alioth.debian.org>\n\
Architecture: amd64\nDepends: libc6 (>= 2.35),\n libxenstore4 (>= 4.16.0)\n\
Filename: pool/updates/main/x/xen/xen-utils-4.17_4.17.7+13-g2445b30a44-0+deb12u1_amd64.deb\n\
Size: 1372500\nSHA256: 1c928e408738cab624ee1d0ce2a824b0e9bc8874e91d635208f346940fb6d47c\n\n\
Package: libyajl2\nVersion: 2.1.0-3+deb12u2\nArchitecture: amd64\n\
SHA256: 2e0dc8bf6f08bd655b58ed1150ff97790637b641c79f9c8331ee242d651ae935\n";

    #[test]
    fn records_are_picked_by_package_and_named_like_apt_names_files() {
        let recs = pick_records(RECORD, &["libyajl2", "xen-utils-4.17"]).unwrap();
        assert_eq!(recs[0].package, "libyajl2");
        let r = recs[1].clone();
        assert_eq!(r.version, "4.17.7+13-g2445b30a44-0+deb12u1");
        assert_eq!(
            r.file_name(),
            "xen-utils-4.17_4.17.7+13-g2445b30a44-0+deb12u1_amd64.deb"
        );
        let epoch = DebRecord {
            version: "1:10.0.2+ds-2".into(),
            ..r
        };
        assert_eq!(
            epoch.file_name(),
            "xen-utils-4.17_1%3a10.0.2+ds-2_amd64.deb"
        );
    }

    #[test]
    fn record_errors_are_typed() {
        assert_eq!(
            pick_records(RECORD, &["xen-utils-4.17", "fio"]),
            Err(PackageError::NotInArchive("fio".into()))
        );
        assert_eq!(
            parse_apt_record("Package: x\nVersion: 1\nArchitecture: amd64\n"),
            Err(PackageError::MissingField("SHA256"))
        );
        let bad = "Package: x\nVersion: 1\nArchitecture: amd64\nSHA256: 1234\n";
        assert!(matches!(
            parse_apt_record(bad),
            Err(PackageError::BadField("SHA256", _))
        ));
        let sneaky = format!(
            "Package: ../x\nVersion: 1\nArchitecture: amd64\nSHA256: {}\n",
            "a".repeat(64)
        );
        assert!(matches!(
            parse_apt_record(&sneaky),
            Err(PackageError::BadField(..))
        ));
    }

    #[test]
    fn kernel_package_is_the_versioned_dependency() {
        let out = "linux-image-amd64\n  Depends: linux-image-6.12.95+deb12-amd64\n  Depends: linux-base\n";
        assert_eq!(
            parse_kernel_package(out).unwrap(),
            "linux-image-6.12.95+deb12-amd64"
        );
        assert_eq!(
            parse_kernel_package("linux-image-amd64\n  Depends: linux-image-amd64-signed\n"),
            Err(PackageError::NoKernelDependency)
        );
    }

    #[test]
    fn suite_detection_reads_both_source_formats() {
        let deb822 =
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-backports\n";
        assert!(sources_enable_suite(deb822, BACKPORTS));
        let disabled = format!("{deb822}Enabled: no\n");
        assert!(!sources_enable_suite(&disabled, BACKPORTS));
        assert!(!sources_enable_suite(
            "Types: deb\nSuites: bookworm bookworm-updates\n",
            BACKPORTS
        ));
        assert!(sources_enable_suite(
            "deb http://deb.debian.org/debian bookworm-backports main\n",
            BACKPORTS
        ));
        assert!(!sources_enable_suite(
            "# deb http://deb.debian.org/debian bookworm-backports main\n",
            BACKPORTS
        ));
    }

    #[test]
    fn host_check_wants_every_tool_and_a_new_qemu() {
        let q = "qemu-system-x86\tinstalled\t1:7.2+dfsg-7+deb12u18\nfio\tinstalled\t3.33-3\n\
                 zstd\tnot-installed\t\n";
        let installed = parse_installed(q);
        assert_eq!(installed.get("fio").map(String::as_str), Some("3.33-3"));
        assert!(!installed.contains_key("zstd"));
        let (missing, qemu) = missing_host_packages(&installed);
        assert!(qemu, "QEMU 7.2 is too old");
        assert!(missing.contains(&"zstd") && !missing.contains(&"fio"));

        let mut all: BTreeMap<String, String> = HOST_PACKAGES
            .iter()
            .map(|p| (p.to_string(), "1".to_string()))
            .collect();
        all.insert(QEMU_PACKAGE.into(), "1:10.0.2+ds-2+deb13u1~bpo12+1".into());
        assert_eq!(missing_host_packages(&all), (vec![], false));
        assert!(qemu_new_enough("11.0"));
        assert!(!qemu_new_enough("garbage"));
    }
}
