//! `cargo xtask windows`: build the Windows drivers on this (Linux) host, package each image with
//! its INF file under `<target>/windows/package/<driver>/`, and check every image and INF.
//!
//! The drivers are a workspace of their own in drivers/windows, whose .cargo/config.toml sets the
//! target (x86_64-pc-windows-msvc), the linker (rust-lld, shipped with the toolchain) and the
//! driver link flags; cargo reads that file only when run from that directory, so the build runs
//! there. The checks are xenpv-windows-check's: images against drivers/windows/imports.txt, INF
//! files against the image they install.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use xenpv_windows_check::{check_image, check_inf, mutate, AllowedImports};

use crate::requirements::{self, Requirement};
use crate::test::{target_dir, workspace_root};

/// The Rust target of the driver images.
pub const TARGET: &str = "x86_64-pc-windows-msvc";

/// The standard library of [`TARGET`] (`rustup target add x86_64-pc-windows-msvc`); only its
/// `core`, `alloc` and `compiler_builtins` end up in a driver.
pub const WINDOWS_TARGET: Requirement = Requirement::Component {
    toolchain: None,
    name: "rust-std-x86_64-pc-windows-msvc",
};

/// The driver crates of the drivers/windows workspace, by directory; each builds `<name>.dll`
/// (packaged as `<name>.sys`) and has `<name>/<name>.inf`.
const DRIVERS: &[&str] = &["xenbus", "xeniface", "xennet", "xenvbd"];

/// The portable crates with code that compiles only for Windows (their FFI, allocator and panic
/// handler): linted for the Windows target from the root workspace, where they are members.
const PORTABLE_CRATES: &[&str] = &["xenpv-ddk", "xenpv-wdm"];

const USAGE: &str = "usage: cargo xtask windows";

pub fn run(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(USAGE.to_string());
    }
    let started = Instant::now();
    let root = workspace_root();
    let target = target_dir(&root);
    let drivers_dir = root.join("drivers/windows");
    let cargo_target = target.join("windows/cargo");
    let package_dir = target.join("windows/package");

    requirements::ensure(&[WINDOWS_TARGET])?;

    let mut portable_clippy = vec!["clippy", "--target", TARGET];
    for name in PORTABLE_CRATES {
        portable_clippy.extend(["-p", name]);
    }
    portable_clippy.extend(["--", "-D", "warnings"]);
    cargo(&root, &target, &portable_clippy)?;
    // Formatting of the driver crates only (`--all` would also reach the root workspace through
    // the path dependencies).
    for driver in DRIVERS {
        cargo(
            &drivers_dir,
            &cargo_target,
            &["fmt", "--check", "-p", &format!("xenpv-{driver}")],
        )?;
    }
    cargo(
        &drivers_dir,
        &cargo_target,
        &["clippy", "--release", "--", "-D", "warnings"],
    )?;
    cargo(&drivers_dir, &cargo_target, &["build", "--release"])?;

    let built = cargo_target.join(TARGET).join("release");
    let imports_txt = drivers_dir.join("imports.txt");
    let list = std::fs::read_to_string(&imports_txt)
        .map_err(|e| format!("{}: {e}", imports_txt.display()))?;
    let allowed =
        AllowedImports::parse(&list).map_err(|e| format!("{}: {e}", imports_txt.display()))?;
    let mut failures = Vec::new();
    for driver in DRIVERS {
        let image = package(driver, &built, &drivers_dir, &package_dir)?;
        let bytes = std::fs::read(&image).map_err(|e| format!("{}: {e}", image.display()))?;
        match check_image(&bytes, &allowed) {
            Ok(summary) => {
                println!(
                    "{driver}.sys: {} bytes, entry DriverEntry at {:#x}, {} imports, all allowed: {}",
                    bytes.len(),
                    summary.entry,
                    summary.imports.len(),
                    summary.imports.join(" ")
                );
                if let Err(e) = rejects_broken_copies(&bytes, &allowed) {
                    println!("{driver}.sys: {e}");
                    failures.push(*driver);
                }
            }
            Err(problems) => {
                for problem in &problems {
                    println!("{driver}.sys: {problem}");
                }
                failures.push(*driver);
            }
        }
        let inf = image.with_extension("inf");
        let text = std::fs::read_to_string(&inf).map_err(|e| format!("{}: {e}", inf.display()))?;
        match check_inf(&text, &format!("{driver}.sys")) {
            Ok(summary) => println!(
                "{driver}.inf: service {}, hardware ids {}",
                summary.service,
                summary.hardware_ids.join(" ")
            ),
            Err(problems) => {
                for problem in &problems {
                    println!("{driver}.inf: {problem}");
                }
                failures.push(*driver);
            }
        }
    }
    println!(
        "xtask windows: {} in {:.1}s",
        package_dir.display(),
        started.elapsed().as_secs_f64()
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("package check failed: {}", failures.join(", ")))
    }
}

/// The check must reject broken copies of the real image, so a checker that passes everything
/// cannot hide behind a good image.
fn rejects_broken_copies(image: &[u8], allowed: &AllowedImports) -> Result<(), String> {
    let mutants = [
        ("kernel32.dll imports", mutate::import_from_kernel32(image)),
        ("console subsystem", mutate::console_subsystem(image)),
    ];
    for (what, mutant) in mutants {
        let mutant = mutant.ok_or_else(|| format!("cannot make a copy with {what}"))?;
        if check_image(&mutant, allowed).is_ok() {
            return Err(format!("the check accepted a copy with {what}"));
        }
    }
    Ok(())
}

/// Runs cargo in `dir` with its own target directory. Flags set for other builds (RUSTFLAGS
/// would replace the driver link flags of .cargo/config.toml) are removed.
fn cargo(dir: &Path, target: &Path, args: &[&str]) -> Result<(), String> {
    println!("$ (cd {}) cargo {}", dir.display(), args.join(" "));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}

/// Copies `<driver>.dll` (as `.sys`), its PDB and its INF into `package/<driver>/`; returns the
/// image's path.
fn package(
    driver: &str,
    built: &Path,
    drivers_dir: &Path,
    package_dir: &Path,
) -> Result<PathBuf, String> {
    let dir = package_dir.join(driver);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let copies = [
        (built.join(format!("{driver}.dll")), format!("{driver}.sys")),
        (built.join(format!("{driver}.pdb")), format!("{driver}.pdb")),
        (
            drivers_dir.join(driver).join(format!("{driver}.inf")),
            format!("{driver}.inf"),
        ),
    ];
    for (from, name) in copies {
        let to = dir.join(name);
        std::fs::copy(&from, &to)
            .map_err(|e| format!("{} -> {}: {e}", from.display(), to.display()))?;
    }
    Ok(dir.join(format!("{driver}.sys")))
}
