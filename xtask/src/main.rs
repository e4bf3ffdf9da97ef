//! xenpv's task runner. `cargo xtask test` is the one test command; `cargo xtask vm …` drives the
//! real-Xen testbed in perf/.

mod requirements;
mod test;
mod vm;
mod windows;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::run(&args[1..]),
        Some("vm") => vm::run(&args[1..]),
        Some("windows") => windows::run(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <test | vm smoke | vm bench | windows>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
