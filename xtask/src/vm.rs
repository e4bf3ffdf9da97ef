//! `cargo xtask vm …`: the real-Xen testbed (perf/).

pub fn run(_args: &[String]) -> Result<(), String> {
    Err("not yet".into())
}
