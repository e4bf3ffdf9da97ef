//! Which shared libraries a program needs, from `ldd`'s output: the images carry glibc programs
//! (xl, xenstored, iperf3, fio, xenstore-*) with exactly the libraries they load.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::sh;

#[derive(Debug, PartialEq)]
pub enum LddError {
    /// A library the program needs was not found on the search path.
    NotFound(String),
    /// A line in a form `ldd` does not print.
    Unrecognised(String),
}

impl fmt::Display for LddError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LddError::NotFound(l) => write!(f, "library {l} not found"),
            LddError::Unrecognised(l) => write!(f, "unrecognised ldd line {l:?}"),
        }
    }
}

/// The library files (absolute paths, including the dynamic loader) named in `ldd` output.
/// The vDSO has no file and is skipped; a static program needs nothing.
pub fn parse(output: &str) -> Result<Vec<PathBuf>, LddError> {
    let mut libs = Vec::new();
    for line in output.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.contains("statically linked") || line.contains("not a dynamic executable") {
            continue;
        }
        let path = match line.split_once(" => ") {
            Some((name, rest)) if rest.trim() == "not found" => {
                return Err(LddError::NotFound(name.to_string()))
            }
            Some((_, rest)) => rest.split(" (").next().unwrap_or(""),
            None => line.split(" (").next().unwrap_or(""),
        };
        if path.starts_with('/') {
            libs.push(PathBuf::from(path));
        } else if !path.starts_with("linux-vdso") {
            return Err(LddError::Unrecognised(line.to_string()));
        }
    }
    Ok(libs)
}

/// Runs `ldd` on `program`, searching `extra_lib_dir` first (the unpacked Xen libraries).
pub fn libraries(program: &Path, extra_lib_dir: Option<&Path>) -> Result<Vec<PathBuf>, String> {
    let mut cmd = Command::new("ldd");
    cmd.arg(program);
    if let Some(dir) = extra_lib_dir {
        cmd.env("LD_LIBRARY_PATH", dir);
    }
    parse(&sh::output(&mut cmd)?).map_err(|e| format!("{}: {e}", program.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_ldd_prints() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd2b1f7000)\n\
                   \tlibxenlight.so.4.17 => /x/usr/lib/x86_64-linux-gnu/libxenlight.so.4.17 (0x00007f)\n\
                   \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f5)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f6)\n";
        assert_eq!(
            parse(out).unwrap(),
            vec![
                PathBuf::from("/x/usr/lib/x86_64-linux-gnu/libxenlight.so.4.17"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
        assert_eq!(
            parse("\tstatically linked\n").unwrap(),
            Vec::<PathBuf>::new()
        );
    }

    #[test]
    fn missing_and_strange_lines_are_errors() {
        assert_eq!(
            parse("\tlibyajl.so.2 => not found\n"),
            Err(LddError::NotFound("libyajl.so.2".into()))
        );
        assert!(matches!(
            parse("\tsomething odd\n"),
            Err(LddError::Unrecognised(_))
        ));
    }

    #[test]
    fn a_real_program_needs_libc_and_the_loader() {
        let libs = libraries(Path::new("/bin/ls"), None).unwrap();
        assert!(libs.iter().any(|l| l.ends_with("libc.so.6")), "{libs:?}");
        assert!(libs
            .iter()
            .any(|l| l.to_string_lossy().contains("ld-linux")));
    }
}
