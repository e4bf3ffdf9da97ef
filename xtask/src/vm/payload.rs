//! The domU's payload: workspace binaries (our user-space fronts) listed in perf/payload.list, built
//! as static x86_64 Linux programs (glibc with crt-static: the musl target is not installable here)
//! and copied into the domU image under /opt/xenpv/bin, where perf/guest/steps.d scripts run them.

use std::fmt;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use super::layout::Layout;
use super::sh;

const TARGET: &str = "x86_64-unknown-linux-gnu";

/// One line of perf/payload.list: `<cargo package> <binary name>`.
#[derive(Debug, PartialEq)]
pub struct Item {
    pub package: String,
    pub bin: String,
}

#[derive(Debug, PartialEq)]
pub struct ListError {
    pub line: usize,
    pub text: String,
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "perf/payload.list line {}: expected `<package> <binary>`, got {:?}",
            self.line, self.text
        )
    }
}

pub fn parse_list(text: &str) -> Result<Vec<Item>, ListError> {
    let mut items = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let valid = |w: &str| {
            w.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        match words.as_slice() {
            [package, bin] if valid(package) && valid(bin) => items.push(Item {
                package: package.to_string(),
                bin: bin.to_string(),
            }),
            _ => {
                return Err(ListError {
                    line: i + 1,
                    text: raw.to_string(),
                })
            }
        }
    }
    Ok(items)
}

/// Builds the listed binaries and returns (name, path) for each.
pub fn build(layout: &Layout) -> Result<Vec<(String, PathBuf)>, String> {
    let list = layout.perf.join("payload.list");
    let text = fs::read_to_string(&list).map_err(|e| format!("{}: {e}", list.display()))?;
    let items = parse_list(&text).map_err(|e| e.to_string())?;
    if items.is_empty() {
        return Ok(Vec::new());
    }
    // A target directory of its own: the static RUSTFLAGS would otherwise invalidate the main build.
    let target_dir = layout.repo.join("target/vm-payload");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&layout.repo)
        .args(["build", "--release", "--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static");
    for it in &items {
        cmd.args(["-p", &it.package, "--bin", &it.bin]);
    }
    sh::run(&mut cmd)?;
    Ok(items
        .into_iter()
        .map(|it| {
            let path = target_dir.join(TARGET).join("release").join(&it.bin);
            (it.bin, path)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_has_comments_and_two_words_per_line() {
        let text =
            "# our fronts\n\nxenpv-linux xenpv-net  # the vif front\nxenpv-linux xenpv-blk\n";
        let items = parse_list(text).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[0],
            Item {
                package: "xenpv-linux".into(),
                bin: "xenpv-net".into()
            }
        );
    }

    #[test]
    fn malformed_lines_name_their_number() {
        assert_eq!(
            parse_list("a b\nonly-one\n"),
            Err(ListError {
                line: 2,
                text: "only-one".into()
            })
        );
        assert!(parse_list("pkg ../../etc/passwd\n").is_err());
    }
}
