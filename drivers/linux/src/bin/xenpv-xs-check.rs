//! `xenpv-xs-check <read|write|directory|watch|transaction|all>`: the control crate's xenstore
//! client against the real xenstored through /dev/xen/xenbus. Prints one line per check; exits 1 if
//! any failed, 2 on bad usage.

use std::process::ExitCode;

use xenpv_control::xs::client::Error;
use xenpv_linux::xenbus::open_store;
use xenpv_linux::xscheck::{run, Check};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let checks: Vec<Check> = match args.as_slice() {
        [a] if a == "all" => Check::ALL.to_vec(),
        [a] => match Check::parse(a) {
            Some(c) => vec![c],
            None => return usage(),
        },
        _ => return usage(),
    };
    let mut open = || {
        open_store()
            .map(|(store, _)| store)
            .map_err(|e| Error::Io(e.raw_os_error().unwrap_or(-1)))
    };
    let mut failed = false;
    for check in checks {
        match run(check, &mut open) {
            Ok(line) => println!("xs-check {}: ok: {line}", check.name()),
            Err(e) => {
                println!("xs-check {}: FAILED: {e}", check.name());
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: xenpv-xs-check <read|write|directory|watch|transaction|all>");
    ExitCode::from(2)
}
