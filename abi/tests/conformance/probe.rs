//! The C side of the conformance test: a program, generated from the same table as the Rust values,
//! that includes Xen's own headers and prints every size, offset and constant.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::compare::Value;

/// Rust values and the C statements that print the same keys, built side by side from one table.
#[derive(Default)]
pub struct Table {
    pub rust: Vec<(String, Value)>,
    pub c_statements: Vec<String>,
}

impl Table {
    /// An integer: `rust` must equal the C expression `c_expr`.
    pub fn int(&mut self, key: String, rust: i128, c_expr: &str) {
        self.c_statements
            .push(format!("P({}, {c_expr});", c_string(&key)));
        self.rust.push((key, Value::Int(rust)));
    }

    /// A string: `rust` must equal the C string expression `c_expr`.
    pub fn string(&mut self, key: String, rust: &str, c_expr: &str) {
        self.c_statements
            .push(format!("S({}, {c_expr});", c_string(&key)));
        self.rust.push((key, Value::Str(rust.to_string())));
    }

    /// A table of `struct xsd_errors { int errnum; const char *errstring; }`: every row and the
    /// length. The C side loops over its own array, so rows only one side has are reported too.
    pub fn errno_table(&mut self, key: &str, rust: &[(i32, &str)], c_array: &str) {
        self.c_statements.push(format!(
            "{{ size_t i; char k[256]; for (i = 0; i < sizeof({c_array}) / sizeof({c_array}[0]); i++) {{ \
             snprintf(k, sizeof k, \"%s[%zu].0\", {key}, i); P(k, {c_array}[i].errnum); \
             snprintf(k, sizeof k, \"%s[%zu].1\", {key}, i); S(k, {c_array}[i].errstring); }} }}",
            key = c_string(key)
        ));
        for (i, (errnum, name)) in rust.iter().enumerate() {
            self.rust
                .push((format!("{key}[{i}].0"), Value::Int(i128::from(*errnum))));
            self.rust
                .push((format!("{key}[{i}].1"), Value::Str(name.to_string())));
        }
    }

    /// A list of strings that C declares as an array initialiser macro.
    pub fn str_list(&mut self, key: &str, rust: &[&str], c_initialiser: &str) {
        self.c_statements.push(format!(
            "{{ static const char *const a[] = {c_initialiser}; size_t i; char k[256]; \
             for (i = 0; i < sizeof(a) / sizeof(a[0]); i++) {{ \
             snprintf(k, sizeof k, \"%s[%zu]\", {key}, i); S(k, a[i]); }} }}",
            key = c_string(key)
        ));
        for (i, s) in rust.iter().enumerate() {
            self.rust
                .push((format!("{key}[{i}]"), Value::Str(s.to_string())));
        }
    }
}

fn c_string(s: &str) -> String {
    assert!(
        !s.contains(['"', '\\', '\n', '\t']),
        "table key {s:?} needs C escaping"
    );
    format!("\"{s}\"")
}

/// Headers the probe includes; errno.h first, so that xs_wire.h defines its `xsd_errors` table.
const HEADERS: &[&str] = &[
    "stdio.h",
    "stddef.h",
    "stdint.h",
    "errno.h",
    "xen/xen.h",
    "xen/io/ring.h",
    "xen/io/netif.h",
    "xen/io/blkif.h",
    "xen/io/xs_wire.h",
    "xen/io/xenbus.h",
    "xen/io/console.h",
    "xen/grant_table.h",
    "xen/event_channel.h",
    "xen/version.h",
    "xen/features.h",
    "xen/sched.h",
    "xen/vcpu.h",
    "xen/memory.h",
    "xen/hvm/hvm_op.h",
    "xen/hvm/params.h",
    "xen/elfnote.h",
];

/// The complete C program.
pub fn c_source(statements: &[String]) -> String {
    let mut src = String::new();
    for h in HEADERS {
        src.push_str(&format!("#include <{h}>\n"));
    }
    // P prints any integer expression exactly, whatever its C type and sign; S prints a string.
    src.push_str(
        "#define P(k, v) do { __typeof__((v) + 0) v_ = (v); \
         if (v_ < 0) printf(\"%s\\ti\\t-%llu\\n\", (k), (unsigned long long)-(long long)v_); \
         else printf(\"%s\\ti\\t%llu\\n\", (k), (unsigned long long)v_); } while (0)\n\
         #define S(k, v) printf(\"%s\\ts\\t%s\\n\", (k), (v))\n\
         int main(void) {\n",
    );
    for s in statements {
        src.push_str("    ");
        src.push_str(s);
        src.push('\n');
    }
    src.push_str("    return 0;\n}\n");
    src
}

/// Why the probe could not be measured.
#[derive(Debug)]
pub enum ProbeError {
    /// The Xen headers are not installed.
    HeadersMissing(String),
    /// The compiler failed for another reason (e.g. a table entry names something the headers lack).
    Compile(String),
    /// The program compiled but did not run cleanly.
    Run(String),
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeError::HeadersMissing(stderr) => write!(
                f,
                "Xen's public headers are missing (/usr/include/xen): install the Debian package \
                 libxen-dev (apt-get install libxen-dev).\n{stderr}"
            ),
            ProbeError::Compile(stderr) => {
                write!(f, "the conformance probe did not compile:\n{stderr}")
            }
            ProbeError::Run(why) => write!(f, "the conformance probe failed: {why}"),
        }
    }
}

/// Compiles and runs the probe in `dir`, returning its output.
pub fn run_probe(source: &str, dir: &Path) -> Result<String, ProbeError> {
    std::fs::create_dir_all(dir).expect("create probe directory");
    let src_path = dir.join("xen_abi_probe.c");
    let exe_path: PathBuf = dir.join("xen_abi_probe");
    std::fs::write(&src_path, source).expect("write probe source");

    let host = "x86_64-unknown-linux-gnu";
    let compiler = cc::Build::new()
        .cargo_metadata(false)
        .cargo_warnings(false)
        .host(host)
        .target(host)
        .opt_level(0)
        // The headers and the generic P macro trip -Wextra; the probe is generated, not read.
        .warnings(false)
        .try_get_compiler()
        .map_err(|e| ProbeError::Compile(format!("no C compiler: {e}")))?;
    let output = compiler
        .to_command()
        .arg("-std=gnu11")
        // Probe the newest interface the installed headers describe, as a current guest would.
        .arg("-D__XEN_INTERFACE_VERSION__=__XEN_LATEST_INTERFACE_VERSION__")
        .arg("-o")
        .arg(&exe_path)
        .arg(&src_path)
        .output()
        .map_err(|e| ProbeError::Compile(format!("cannot run the C compiler: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let missing_header = stderr
            .lines()
            .any(|l| l.contains("fatal error: xen/") && l.contains("No such file"));
        return Err(if missing_header {
            ProbeError::HeadersMissing(stderr)
        } else {
            ProbeError::Compile(format!("{}:\n{stderr}", src_path.display()))
        });
    }
    let run = Command::new(&exe_path)
        .output()
        .map_err(|e| ProbeError::Run(e.to_string()))?;
    if !run.status.success() {
        return Err(ProbeError::Run(format!("{:?}", run.status)));
    }
    String::from_utf8(run.stdout).map_err(|e| ProbeError::Run(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
    }

    #[test]
    fn a_missing_xen_header_names_the_package_to_install() {
        let src = "#include <xen/no_such_header_for_xenpv.h>\nint main(void) { return 0; }\n";
        let err = run_probe(src, &scratch("probe-missing-header")).unwrap_err();
        assert!(matches!(err, ProbeError::HeadersMissing(_)), "{err}");
        assert!(err.to_string().contains("libxen-dev"), "{err}");
    }

    #[test]
    fn a_table_entry_the_headers_lack_is_a_compile_error_not_a_pass() {
        let mut t = Table::default();
        t.int("k".into(), 1, "XEN_NO_SUCH_CONSTANT_FOR_XENPV");
        let err = run_probe(&c_source(&t.c_statements), &scratch("probe-bad-entry")).unwrap_err();
        assert!(matches!(err, ProbeError::Compile(_)), "{err}");
        assert!(
            err.to_string().contains("XEN_NO_SUCH_CONSTANT_FOR_XENPV"),
            "{err}"
        );
    }

    #[test]
    fn the_probe_prints_signed_unsigned_and_string_values_exactly() {
        let mut t = Table::default();
        t.int("neg".into(), -13, "GNTST_no_space");
        t.int(
            "big".into(),
            0xFF00_0000_0000_0000,
            "HVM_PARAM_CALLBACK_IRQ_TYPE_MASK",
        );
        t.int("mask".into(), 0xFFFF_0000, "GNTMAP_guest_avail_mask");
        t.string("s".into(), "CREATE|EXCL", "XS_WRITE_CREATE_EXCL");
        let out = run_probe(&c_source(&t.c_statements), &scratch("probe-values")).unwrap();
        assert_eq!(crate::compare::compare(&out, &t.rust), vec![]);
    }
}
