//! `xenpv-net <vif-id> [--tap NAME] [--queues N]`: attaches `device/vif/<vif-id>` with the netif core and exposes
//! it as the TAP interface NAME (default xenpv0) until SIGTERM, then leaves the vif Closed.

use std::process::ExitCode;

use xenpv_linux::front::DeviceArgs;
use xenpv_linux::net::run;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match DeviceArgs::parse(&args, "--vif", "--tap", "xenpv0") {
        Ok(a) => a,
        Err(u) => {
            eprintln!(
                "xenpv-net: {}\nusage: xenpv-net <vif-id> [--tap NAME] [--queues N]",
                u.0
            );
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xenpv-net: {e}");
            ExitCode::FAILURE
        }
    }
}
