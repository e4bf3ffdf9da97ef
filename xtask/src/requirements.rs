//! What the checks need from the machine (Debian packages, rustup toolchains and components), how to
//! tell whether it is there, and how to install what is missing — apt work only when something is.

use std::fmt;
use std::process::Command;

/// One thing a step needs installed. Steps list theirs in `test::STEPS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// A Debian package, installed with `apt-get` (root only).
    Apt(&'static str),
    /// A rustup toolchain, e.g. `nightly`.
    Toolchain(&'static str),
    /// A rustup component; `toolchain: None` means the toolchain that runs `cargo` here.
    Component {
        toolchain: Option<&'static str>,
        name: &'static str,
    },
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Apt(package) => write!(f, "Debian package {package}"),
            Requirement::Toolchain(name) => write!(f, "rustup toolchain {name}"),
            Requirement::Component {
                toolchain: Some(toolchain),
                name,
            } => write!(f, "rustup component {name} ({toolchain})"),
            Requirement::Component {
                toolchain: None,
                name,
            } => write!(f, "rustup component {name}"),
        }
    }
}

/// Answers "is it installed?" — the real machine, or a fake in tests.
pub trait Probe {
    fn installed(&self, requirement: &Requirement) -> Result<bool, String>;
}

/// One install command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub program: &'static str,
    pub args: Vec<String>,
    pub needs_root: bool,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.program, self.args.join(" "))
    }
}

/// The requirements from `needed` that are missing, each once, in the order first listed.
pub fn missing(needed: &[Requirement], probe: &impl Probe) -> Result<Vec<Requirement>, String> {
    let mut missing = Vec::new();
    for requirement in needed {
        if !missing.contains(requirement) && !probe.installed(requirement)? {
            missing.push(*requirement);
        }
    }
    Ok(missing)
}

/// Commands that install `missing`: one `apt-get update` and one `apt-get install` for all packages,
/// toolchains before their components, one `rustup component add` per toolchain.
pub fn plan(missing: &[Requirement]) -> Vec<Action> {
    let mut actions = Vec::new();
    let packages: Vec<String> = missing
        .iter()
        .filter_map(|r| match r {
            Requirement::Apt(package) => Some(package.to_string()),
            _ => None,
        })
        .collect();
    if !packages.is_empty() {
        actions.push(Action {
            program: "apt-get",
            args: vec!["update".into()],
            needs_root: true,
        });
        let mut args = vec![
            "install".into(),
            "-y".into(),
            "--no-install-recommends".into(),
        ];
        args.extend(packages);
        actions.push(Action {
            program: "apt-get",
            args,
            needs_root: true,
        });
    }
    for requirement in missing {
        if let Requirement::Toolchain(name) = requirement {
            actions.push(Action {
                program: "rustup",
                args: vec![
                    "toolchain".into(),
                    "install".into(),
                    name.to_string(),
                    "--profile".into(),
                    "minimal".into(),
                ],
                needs_root: false,
            });
        }
    }
    let mut toolchains: Vec<Option<&'static str>> = Vec::new();
    for requirement in missing {
        if let Requirement::Component { toolchain, .. } = requirement {
            if !toolchains.contains(toolchain) {
                toolchains.push(*toolchain);
            }
        }
    }
    for toolchain in toolchains {
        let mut args = vec!["component".into(), "add".into()];
        args.extend(missing.iter().filter_map(|r| match r {
            Requirement::Component { toolchain: t, name } if *t == toolchain => {
                Some(name.to_string())
            }
            _ => None,
        }));
        if let Some(toolchain) = toolchain {
            args.extend(["--toolchain".into(), toolchain.to_string()]);
        }
        actions.push(Action {
            program: "rustup",
            args,
            needs_root: false,
        });
    }
    actions
}

/// Refuses, naming every package, when apt work is needed and we are not root.
pub fn check_privileges(actions: &[Action], is_root: bool) -> Result<(), String> {
    if is_root {
        return Ok(());
    }
    let packages: Vec<&str> = actions
        .iter()
        .filter(|a| a.needs_root && a.args.first().is_some_and(|verb| verb == "install"))
        .flat_map(|a| a.args[3..].iter().map(String::as_str))
        .collect();
    if packages.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "missing Debian package(s) {p}; run as root, or first: sudo apt-get install -y {p}",
            p = packages.join(" ")
        ))
    }
}

/// Installs whatever in `needed` is missing, saying what it does.
pub fn ensure(needed: &[Requirement]) -> Result<(), String> {
    let missing = missing(needed, &Machine)?;
    if missing.is_empty() {
        println!("all {} requirements present", dedup_count(needed));
        return Ok(());
    }
    for requirement in &missing {
        println!("missing: {requirement}");
    }
    let actions = plan(&missing);
    check_privileges(&actions, is_root()?)?;
    for action in &actions {
        println!("$ {action}");
        let mut command = Command::new(action.program);
        command.args(&action.args);
        if action.program == "apt-get" {
            command.env("DEBIAN_FRONTEND", "noninteractive");
        }
        let status = command
            .status()
            .map_err(|e| format!("cannot run {}: {e}", action.program))?;
        if !status.success() {
            return Err(format!("`{action}` failed ({status})"));
        }
    }
    let still_missing = self::missing(&missing, &Machine)?;
    if let Some(first) = still_missing.first() {
        return Err(format!("{first} is still missing after installing it"));
    }
    Ok(())
}

fn dedup_count(needed: &[Requirement]) -> usize {
    let mut seen: Vec<&Requirement> = Vec::new();
    for requirement in needed {
        if !seen.contains(&requirement) {
            seen.push(requirement);
        }
    }
    seen.len()
}

fn is_root() -> Result<bool, String> {
    let output = run_for_output("id", &["-u"])?;
    Ok(output.trim() == "0")
}

/// The real machine, asked through dpkg-query and rustup.
struct Machine;

impl Probe for Machine {
    fn installed(&self, requirement: &Requirement) -> Result<bool, String> {
        match requirement {
            Requirement::Apt(package) => {
                // Exit status 1 means "no such package known", which is also "not installed".
                let output = Command::new("dpkg-query")
                    .args(["-W", "-f=${Status}", package])
                    .output()
                    .map_err(|e| format!("cannot run dpkg-query (is this Debian?): {e}"))?;
                Ok(dpkg_says_installed(&String::from_utf8_lossy(
                    &output.stdout,
                )))
            }
            Requirement::Toolchain(name) => {
                let list = run_for_output("rustup", &["toolchain", "list"])?;
                Ok(list_has_toolchain(&list, name))
            }
            Requirement::Component { toolchain, name } => {
                let mut args = vec!["component", "list", "--installed"];
                if let Some(toolchain) = toolchain {
                    args.extend(["--toolchain", toolchain]);
                }
                let list = run_for_output("rustup", &args)?;
                Ok(list_has_component(&list, name, &host_triple()?))
            }
        }
    }
}

fn run_for_output(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `dpkg-query -f '${Status}'` prints "install ok installed" for an installed package; removed
/// packages whose configuration remains print "deinstall ok config-files".
fn dpkg_says_installed(status: &str) -> bool {
    status.trim() == "install ok installed"
}

/// `rustup toolchain list` lines look like "nightly-x86_64-unknown-linux-gnu (default)".
fn list_has_toolchain(list: &str, name: &str) -> bool {
    list.lines()
        .filter_map(|line| line.split_whitespace().next())
        .any(|toolchain| toolchain == name || toolchain.starts_with(&format!("{name}-")))
}

/// `rustup component list --installed` prints "miri-x86_64-unknown-linux-gnu" (name and host), or
/// "rust-src" for components that are the same on every host.
fn list_has_component(list: &str, name: &str, host: &str) -> bool {
    let host_specific = format!("{name}-{host}");
    list.lines()
        .map(str::trim)
        .any(|component| component == name || component == host_specific)
}

/// The host triple, from `rustc -vV`'s "host: x86_64-unknown-linux-gnu" line.
fn host_triple() -> Result<String, String> {
    let version = run_for_output("rustc", &["-vV"])?;
    version
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(|host| host.trim().to_string())
        .ok_or_else(|| format!("no host line in `rustc -vV`: {version}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIRI: Requirement = Requirement::Component {
        toolchain: Some("nightly"),
        name: "miri",
    };
    const RUST_SRC: Requirement = Requirement::Component {
        toolchain: Some("nightly"),
        name: "rust-src",
    };
    const CLIPPY: Requirement = Requirement::Component {
        toolchain: None,
        name: "clippy",
    };

    /// A machine with a fixed set of things installed.
    struct Installed(Vec<Requirement>);

    impl Probe for Installed {
        fn installed(&self, requirement: &Requirement) -> Result<bool, String> {
            Ok(self.0.contains(requirement))
        }
    }

    fn commands(actions: &[Action]) -> Vec<String> {
        actions.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_warm_machine_needs_no_action() {
        let needed = [Requirement::Apt("libxen-dev"), CLIPPY, MIRI];
        let machine = Installed(needed.to_vec());
        let missing = missing(&needed, &machine).unwrap();
        assert!(missing.is_empty());
        assert!(plan(&missing).is_empty());
    }

    #[test]
    fn missing_packages_are_updated_once_and_installed_together() {
        let needed = [
            Requirement::Apt("libxen-dev"),
            Requirement::Apt("xenstore-utils"),
            Requirement::Apt("gcc"),
            Requirement::Apt("libxen-dev"),
        ];
        let machine = Installed(vec![Requirement::Apt("gcc")]);
        let missing = missing(&needed, &machine).unwrap();
        assert_eq!(
            missing,
            [
                Requirement::Apt("libxen-dev"),
                Requirement::Apt("xenstore-utils")
            ]
        );
        assert_eq!(
            commands(&plan(&missing)),
            [
                "apt-get update",
                "apt-get install -y --no-install-recommends libxen-dev xenstore-utils"
            ]
        );
    }

    #[test]
    fn components_are_added_per_toolchain_after_the_toolchain_itself() {
        let missing = [MIRI, CLIPPY, Requirement::Toolchain("nightly"), RUST_SRC];
        assert_eq!(
            commands(&plan(&missing)),
            [
                "rustup toolchain install nightly --profile minimal",
                "rustup component add miri rust-src --toolchain nightly",
                "rustup component add clippy",
            ]
        );
    }

    #[test]
    fn without_root_missing_packages_are_named_and_refused() {
        let actions = plan(&[Requirement::Apt("libxen-dev"), MIRI]);
        let error = check_privileges(&actions, false).unwrap_err();
        assert!(
            error.contains("missing Debian package(s) libxen-dev;"),
            "{error}"
        );
        assert_eq!(check_privileges(&actions, true), Ok(()));
        // rustup work needs no root.
        assert_eq!(check_privileges(&plan(&[MIRI]), false), Ok(()));
    }

    #[test]
    fn dpkg_status_is_installed_only_when_fully_installed() {
        assert!(dpkg_says_installed("install ok installed"));
        assert!(!dpkg_says_installed("deinstall ok config-files"));
        assert!(!dpkg_says_installed("install ok half-configured"));
        assert!(!dpkg_says_installed(""));
    }

    #[test]
    fn rustup_lists_are_matched_by_name_not_by_prefix() {
        let toolchains = "stable-x86_64-unknown-linux-gnu (active, default)\n\
                          nightly-x86_64-unknown-linux-gnu\n1.95.0-x86_64-unknown-linux-gnu\n";
        assert!(list_has_toolchain(toolchains, "nightly"));
        assert!(list_has_toolchain(toolchains, "stable"));
        assert!(!list_has_toolchain(toolchains, "beta"));
        assert!(!list_has_toolchain(toolchains, "night"));

        let components = "cargo-x86_64-unknown-linux-gnu\nmiri-x86_64-unknown-linux-gnu\n\
                          rust-src\nrust-std-x86_64-unknown-linux-gnu\n";
        let host = "x86_64-unknown-linux-gnu";
        assert!(list_has_component(components, "miri", host));
        assert!(list_has_component(components, "rust-src", host));
        assert!(list_has_component(components, "rust-std", host));
        assert!(!list_has_component(components, "rust", host));
        assert!(!list_has_component(components, "clippy", host));
        assert!(!list_has_component(
            components,
            "miri",
            "aarch64-unknown-linux-gnu"
        ));
    }
}
