//! `cargo xtask test`: install what is missing, then run every check, one step after another.
//!
//! The steps are the table [`STEPS`]; a new check is one more entry there, with the requirements it
//! needs (they are installed by the setup step before anything runs). Every step runs even when an
//! earlier one failed; the command fails if any did.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::requirements::{self, Requirement};

const LIBXEN_DEV: Requirement = Requirement::Apt("libxen-dev");
const XENSTORE_UTILS: Requirement = Requirement::Apt("xenstore-utils");
const RUSTFMT: Requirement = Requirement::Component {
    toolchain: None,
    name: "rustfmt",
};
const CLIPPY: Requirement = Requirement::Component {
    toolchain: None,
    name: "clippy",
};
// The Windows ddk's conformance test compiles mingw-w64's DDK headers for x64 Windows.
const MINGW_GCC: Requirement = Requirement::Apt("gcc-mingw-w64-x86-64");
const MINGW_HEADERS: Requirement = Requirement::Apt("mingw-w64-x86-64-dev");
const NIGHTLY: Requirement = Requirement::Toolchain("nightly");
const MIRI: Requirement = Requirement::Component {
    toolchain: Some("nightly"),
    name: "miri",
};
const RUST_SRC: Requirement = Requirement::Component {
    toolchain: Some("nightly"),
    name: "rust-src",
};

/// Every check, in the order it runs.
const STEPS: &[Step] = &[
    Step::new("fmt", "cargo fmt --all --check").needs(&[RUSTFMT]),
    // libxen-dev: the abi crate's build checks its layouts against Xen's own C headers.
    Step::new(
        "clippy",
        "cargo clippy --workspace --all-targets -- -D warnings",
    )
    .needs(&[CLIPPY, LIBXEN_DEV]),
    // xenstore-utils: the xenstore client is tested against Debian's xenstore-read/-write.
    Step::new("tests", "cargo test --workspace --no-fail-fast").needs(&[
        LIBXEN_DEV,
        XENSTORE_UTILS,
        MINGW_GCC,
        MINGW_HEADERS,
    ]),
    // The bare-metal kernel's portable library (its frame codec) on the host; the kernel itself is
    // a workspace of its own for x86_64-unknown-none, built and run by vm-metal.
    Step::new(
        "metal-lib",
        "cargo test --manifest-path drivers/metal/Cargo.toml --lib --target x86_64-unknown-linux-gnu",
    )
    .target_subdir("metal-lib"),
    // Builds the Windows driver images and checks each one (PE32+ native driver, imports).
    Step::new("windows", "cargo xtask windows").needs(&[crate::windows::WINDOWS_TARGET]),
    Step::new("loom", "cargo test -p xenpv-loom-tests --release")
        .env(&[("RUSTFLAGS", "--cfg loom")])
        .target_subdir("loom"),
    // The filters select the test modules of datapath's shmem, ring and queue modules.
    Step::new(
        "miri",
        "cargo +nightly miri test -p xenpv-datapath -- shmem ring queue",
    )
    .target_subdir("miri")
    .needs(&[NIGHTLY, MIRI, RUST_SRC]),
    // drivers/xen's grant free list (threads granting and ending at once) and FIFO queue consumer.
    Step::new(
        "miri-xen",
        "cargo +nightly miri test -p xenpv-xen -- gnttab:: fifo::",
    )
    .target_subdir("miri")
    .needs(&[NIGHTLY, MIRI, RUST_SRC]),
    // The Windows ddk's stack-location pointer arithmetic and the PnP / resource-list logic.
    Step::new(
        "miri-ddk",
        "cargo +nightly miri test -p xenpv-ddk -p xenpv-wdm --lib",
    )
    .target_subdir("miri")
    .needs(&[NIGHTLY, MIRI, RUST_SRC]),
    // Real Xen under QEMU (perf/): setup installs QEMU and fetches Xen and the kernel into
    // perf/cache (a no-op when warm); smoke boots Xen, a Linux dom0 with the real netback and
    // blkback, and a domU in which the kernel's fronts and ours move and verify data.
    Step::new("vm-setup", "cargo xtask vm setup"),
    Step::new("vm-smoke", "cargo xtask vm smoke"),
    // The same Xen boots our bare-metal PV guest (drivers/metal over drivers/xen): hypercalls,
    // event channels, grant table, shared_info and the xenstore ring without any OS underneath.
    Step::new("vm-metal", "cargo xtask vm metal"),
];

const USAGE: &str = "usage: cargo xtask test [--list] [STEP...]   (default: every step)";

/// One check: a command run from the workspace root.
struct Step {
    name: &'static str,
    /// Program and arguments, separated by spaces (no argument contains one).
    command: &'static str,
    env: &'static [(&'static str, &'static str)],
    /// A target directory of its own (under the normal one) for builds with other flags or another
    /// toolchain, so they do not invalidate the normal build.
    target_subdir: Option<&'static str>,
    needs: &'static [Requirement],
}

impl Step {
    const fn new(name: &'static str, command: &'static str) -> Self {
        Step {
            name,
            command,
            env: &[],
            target_subdir: None,
            needs: &[],
        }
    }

    const fn env(mut self, env: &'static [(&'static str, &'static str)]) -> Self {
        self.env = env;
        self
    }

    const fn target_subdir(mut self, subdir: &'static str) -> Self {
        self.target_subdir = Some(subdir);
        self
    }

    const fn needs(mut self, needs: &'static [Requirement]) -> Self {
        self.needs = needs;
        self
    }

    /// The command line as a reader would type it, environment first.
    fn describe(&self) -> String {
        let mut words: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        if let Some(subdir) = self.target_subdir {
            words.push(format!("CARGO_TARGET_DIR=<target>/{subdir}"));
        }
        words.push(self.command.to_string());
        words.join(" ")
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "--list") {
        for step in STEPS {
            println!("{:<10} {}", step.name, step.describe());
        }
        return Ok(());
    }
    let steps = select(STEPS, args)?;
    let root = workspace_root();
    let target = target_dir(&root);
    let total = Instant::now();
    let names: Vec<&str> = steps.iter().map(|s| s.name).collect();
    println!(
        "xtask test: setup, then {} ({} steps)",
        names.join(", "),
        steps.len() + 1
    );

    let mut outcomes = Vec::new();
    let mut counts = TestCounts::default();
    let count = steps.len() + 1;

    header(
        1,
        count,
        "setup",
        "install missing packages, toolchains and components",
    );
    let needed: Vec<Requirement> = steps.iter().flat_map(|s| s.needs.iter().copied()).collect();
    let started = Instant::now();
    let setup_failed = finish(
        "setup",
        &mut outcomes,
        started,
        requirements::ensure(&needed),
    );

    // After a failed step the others still run: a formatting slip should not hide test results.
    // Without the setup nothing can run.
    let mut failed: Vec<&str> = setup_failed.into_iter().collect();
    for (index, step) in steps.iter().enumerate() {
        if setup_failed.is_some() {
            outcomes.push(Outcome {
                name: step.name,
                result: StepResult::NotRun,
            });
            continue;
        }
        header(index + 2, count, step.name, &step.describe());
        let started = Instant::now();
        let result = run_step(step, &root, &target, &mut counts);
        failed.extend(finish(step.name, &mut outcomes, started, result));
    }

    print!("{}", summary(&outcomes, total.elapsed(), &counts));
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "failed: {} (see the output above)",
            failed.join(", ")
        ))
    }
}

fn header(number: usize, count: usize, name: &str, what: &str) {
    println!("\n==> [{number}/{count}] {name}: {what}");
    // Keep our lines in order with the child's, which writes to the same terminal.
    let _ = std::io::stdout().flush();
}

/// Records a step's outcome and prints its closing line; returns the name if it failed.
fn finish(
    name: &'static str,
    outcomes: &mut Vec<Outcome>,
    started: Instant,
    result: Result<(), String>,
) -> Option<&'static str> {
    let elapsed = started.elapsed();
    let failed = match result {
        Ok(()) => {
            println!("<== {name}: ok in {}", format_duration(elapsed));
            outcomes.push(Outcome {
                name,
                result: StepResult::Passed(elapsed),
            });
            None
        }
        Err(error) => {
            println!(
                "<== {name}: FAILED after {}: {error}",
                format_duration(elapsed)
            );
            outcomes.push(Outcome {
                name,
                result: StepResult::Failed(elapsed),
            });
            Some(name)
        }
    };
    let _ = std::io::stdout().flush();
    failed
}

/// The steps named in `args`, in table order; all of them if none is named.
fn select<'a>(steps: &'a [Step], args: &[String]) -> Result<Vec<&'a Step>, String> {
    for arg in args {
        if !steps.iter().any(|s| s.name == arg) {
            let names: Vec<&str> = steps.iter().map(|s| s.name).collect();
            return Err(format!(
                "unknown step {arg:?}; steps are: {}\n{USAGE}",
                names.join(", ")
            ));
        }
    }
    Ok(steps
        .iter()
        .filter(|s| args.is_empty() || args.iter().any(|a| a == s.name))
        .collect())
}

pub(crate) fn workspace_root() -> PathBuf {
    // xtask/ sits in the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent directory")
        .to_path_buf()
}

/// The normal target directory: `CARGO_TARGET_DIR` if set, else `<root>/target`.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// Runs one step, echoing its output and adding up the `test result:` lines it prints.
fn run_step(
    step: &Step,
    root: &Path,
    target: &Path,
    counts: &mut TestCounts,
) -> Result<(), String> {
    let mut words = step.command.split_whitespace();
    let program = words.next().expect("every step has a command");
    let args: Vec<&str> = words.collect();
    let mut command = Command::new(program);
    command.args(&args).current_dir(root).stdout(Stdio::piped());
    command.envs(step.env.iter().copied());
    if let Some(subdir) = step.target_subdir {
        command.env("CARGO_TARGET_DIR", target.join(subdir));
    }
    if args.first().is_some_and(|a| a.starts_with('+')) {
        // `cargo xtask` runs under rustup with RUSTUP_TOOLCHAIN set to the default toolchain; a step
        // that names its own must not inherit it.
        command.env_remove("RUSTUP_TOOLCHAIN");
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut line = Vec::new();
    let mut out = std::io::stdout().lock();
    loop {
        line.clear();
        let read = stdout
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("reading {program}'s output: {e}"))?;
        if read == 0 {
            break;
        }
        let _ = out.write_all(&line);
        let _ = out.flush();
        counts.add_line(&String::from_utf8_lossy(&line));
    }
    drop(out);
    let status = child
        .wait()
        .map_err(|e| format!("waiting for {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` exited with {status}", step.describe()))
    }
}

/// Tests counted from the libtest summary lines of every step.
#[derive(Debug, Default, PartialEq, Eq)]
struct TestCounts {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl TestCounts {
    /// Adds a line like "test result: ok. 18 passed; 0 failed; 1 ignored; 0 measured; …".
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        let Some((_status, fields)) = rest.split_once(". ") else {
            return;
        };
        for field in fields.split("; ") {
            let Some((number, what)) = field.trim().split_once(' ') else {
                continue;
            };
            let Ok(number) = number.parse::<u64>() else {
                continue;
            };
            match what {
                "passed" => self.passed += number,
                "failed" => self.failed += number,
                "ignored" => self.ignored += number,
                _ => {}
            }
        }
    }
}

enum StepResult {
    Passed(Duration),
    Failed(Duration),
    NotRun,
}

struct Outcome {
    name: &'static str,
    result: StepResult,
}

/// The closing table: one row per step, the total time, then the test count as the last line.
const TOTAL: &str = "total";

fn summary(outcomes: &[Outcome], total: Duration, counts: &TestCounts) -> String {
    let mut text = String::from("\n==> summary\n");
    // The names' column is as wide as the longest name, so the results line up.
    let width = outcomes
        .iter()
        .map(|o| o.name.len())
        .chain([TOTAL.len()])
        .max()
        .unwrap_or(0);
    for outcome in outcomes {
        let (result, time) = match outcome.result {
            StepResult::Passed(time) => ("ok", format_duration(time)),
            StepResult::Failed(time) => ("FAILED", format_duration(time)),
            StepResult::NotRun => ("not run", String::new()),
        };
        text += &format!("  {:<width$} {:<8} {:>8}\n", outcome.name, result, time);
    }
    text += &format!(
        "  {:<width$} {:<8} {:>8}\n",
        TOTAL,
        "",
        format_duration(total)
    );
    let passed_steps = outcomes
        .iter()
        .filter(|o| matches!(o.result, StepResult::Passed(_)))
        .count();
    text += &format!(
        "{passed_steps} of {} steps passed; the tests of all steps add up to:\n",
        outcomes.len()
    );
    text += &format!("tests: {} passed, {} failed", counts.passed, counts.failed);
    if counts.ignored > 0 {
        text += &format!(", {} skipped", counts.ignored);
    }
    text.push('\n');
    text
}

fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds < 60.0 {
        format!("{seconds:.1}s")
    } else {
        let whole = duration.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn step_names_are_unique() {
        for (i, step) in STEPS.iter().enumerate() {
            assert!(
                STEPS[i + 1..].iter().all(|other| other.name != step.name),
                "{} twice",
                step.name
            );
        }
    }

    #[test]
    fn builds_with_other_flags_or_toolchains_have_their_own_target_dir() {
        for step in STEPS {
            let other_toolchain = step.command.split(' ').any(|w| w.starts_with('+'));
            let other_flags = step.env.iter().any(|(k, _)| *k == "RUSTFLAGS");
            if other_toolchain || other_flags {
                assert!(step.target_subdir.is_some(), "{} shares target/", step.name);
            }
        }
    }

    #[test]
    fn a_step_on_another_toolchain_needs_that_toolchain() {
        for step in STEPS {
            if let Some(toolchain) = step.command.split(' ').find_map(|w| w.strip_prefix('+')) {
                assert!(
                    step.needs.contains(&Requirement::Toolchain(toolchain)),
                    "{} runs on {toolchain} without requiring it",
                    step.name
                );
            }
        }
    }

    #[test]
    fn selection_keeps_table_order_and_rejects_unknown_names() {
        let all: Vec<&str> = select(STEPS, &[]).unwrap().iter().map(|s| s.name).collect();
        assert_eq!(all, STEPS.iter().map(|s| s.name).collect::<Vec<_>>());
        let some: Vec<&str> = select(STEPS, &strings(&["miri", "fmt"]))
            .unwrap()
            .iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(some, ["fmt", "miri"]);
        let error = select(STEPS, &strings(&["lint"])).err().unwrap();
        assert!(
            error.starts_with("unknown step \"lint\"; steps are: fmt, clippy"),
            "{error}"
        );
    }

    #[test]
    fn describe_shows_environment_and_target_dir() {
        let step = Step::new("loom", "cargo test")
            .env(&[("RUSTFLAGS", "--cfg loom")])
            .target_subdir("loom");
        assert_eq!(
            step.describe(),
            "RUSTFLAGS=\"--cfg loom\" CARGO_TARGET_DIR=<target>/loom cargo test"
        );
    }

    #[test]
    fn libtest_summary_lines_are_added_up() {
        let mut counts = TestCounts::default();
        counts.add_line("test result: ok. 18 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.61s\n");
        counts.add_line("test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 5 filtered out; finished in 0.01s");
        counts.add_line("test queue::tests::result ... ok");
        counts.add_line("running 18 tests");
        assert_eq!(
            counts,
            TestCounts {
                passed: 21,
                failed: 1,
                ignored: 2
            }
        );
    }

    #[test]
    fn summary_ends_with_the_plain_count_line() {
        let outcomes = [
            Outcome {
                name: "setup",
                result: StepResult::Passed(Duration::from_millis(300)),
            },
            Outcome {
                name: "clippy",
                result: StepResult::Failed(Duration::from_secs(75)),
            },
            Outcome {
                name: "tests",
                result: StepResult::NotRun,
            },
        ];
        let counts = TestCounts {
            passed: 7,
            failed: 0,
            ignored: 0,
        };
        let text = summary(&outcomes, Duration::from_secs(76), &counts);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.last(), Some(&"tests: 7 passed, 0 failed"));
        assert!(lines.contains(&"  clippy FAILED      1m15s"), "{text}");
        assert!(lines.contains(&"  tests  not run          "), "{text}");
        assert!(lines.contains(&"  total              1m16s"), "{text}");
        assert!(text.contains("1 of 3 steps passed"), "{text}");
        let with_skipped = summary(
            &outcomes,
            Duration::ZERO,
            &TestCounts {
                ignored: 2,
                ..counts
            },
        );
        assert!(with_skipped.ends_with("tests: 7 passed, 0 failed, 2 skipped\n"));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(Duration::from_millis(1234)), "1.2s");
        assert_eq!(format_duration(Duration::from_secs(59)), "59.0s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m05s");
    }
}
