//! `xenpv-blk <vbd-id> [--nbd /dev/nbdN] [--queues N]`: attaches `device/vbd/<vbd-id>` with the blkif core and
//! serves it as the kernel's nbd device until SIGTERM, then leaves the vbd Closed.

use std::process::ExitCode;

use xenpv_linux::blk::run;
use xenpv_linux::front::DeviceArgs;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match DeviceArgs::parse(&args, "--vbd", "--nbd", "/dev/nbd0") {
        Ok(a) => a,
        Err(u) => {
            eprintln!(
                "xenpv-blk: {}\nusage: xenpv-blk <vbd-id> [--nbd /dev/nbdN] [--queues N]",
                u.0
            );
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xenpv-blk: {e}");
            ExitCode::FAILURE
        }
    }
}
