//! `xenpv-blk <vbd-id> [--dev auto|/dev/ublkbN|/dev/nbdN] [--queues N]`: attaches
//! `device/vbd/<vbd-id>` with the blkif core and serves it as a block device until SIGTERM, then
//! removes the device and leaves the vbd Closed. `auto` (the default) is a new ublk device where
//! the kernel has ublk_drv (/dev/ublk-control), /dev/nbd0 otherwise.

use std::process::ExitCode;

use xenpv_linux::blk::{run, Exposure};
use xenpv_linux::front::DeviceArgs;

const USAGE: &str = "usage: xenpv-blk <vbd-id> [--dev auto|/dev/ublkbN|/dev/nbdN] [--queues N]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = DeviceArgs::parse(&args, "--vbd", "--dev", "auto").and_then(|a| {
        let exposure = Exposure::parse(&a.dev, Exposure::ublk_available)?;
        Ok((a, exposure))
    });
    let (args, exposure) = match parsed {
        Ok(a) => a,
        Err(u) => {
            eprintln!("xenpv-blk: {}\n{USAGE}", u.0);
            return ExitCode::from(2);
        }
    };
    match run(&args, exposure) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xenpv-blk: {e}");
            ExitCode::FAILURE
        }
    }
}
