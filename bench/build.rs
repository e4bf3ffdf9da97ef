//! Builds the C baselines against Xen's own headers (/usr/include/xen from libxen-dev).

fn main() {
    println!("cargo:rerun-if-changed=csrc/ringh.c");
    cc::Build::new()
        .file("csrc/ringh.c")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("xenpv_bench_ringh");
}
