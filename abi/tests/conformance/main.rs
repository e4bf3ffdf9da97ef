//! Conformance of xenpv-abi with Xen's own public headers (/usr/include/xen, Debian libxen-dev).
//!
//! One table (table.rs) lists every struct, field, constant and list the crate defines together
//! with its C spelling. From it come both the Rust values (sizes, alignments, offsets, field sizes,
//! constant values) and a C program that includes the headers and prints the same keys; the test
//! compiles and runs that program and reports every disagreement by name.

mod compare;
mod probe;
mod table;
mod table_macro;

use std::collections::BTreeSet;

use compare::compare;

/// The crate as the table names it: its modules, and `root` for the items at its top level.
mod abi {
    pub use xenpv_abi::*;
    pub mod root {
        pub use xenpv_abi::*;
    }
}

#[test]
fn every_size_offset_and_constant_matches_the_xen_headers() {
    let table = table::build();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("xen-abi-conformance");
    let output = probe::run_probe(&probe::c_source(&table.c_statements), &dir)
        .unwrap_or_else(|e| panic!("{e}"));
    let problems = compare(&output, &table.rust);
    assert!(
        problems.is_empty(),
        "{} disagreement(s) between xenpv-abi and /usr/include/xen:\n{}",
        problems.len(),
        problems
            .iter()
            .map(|p| format!("  {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The comparison is only as good as its coverage: make sure it really compared something of
    // every kind (a table that silently produced no C lines would pass the check above).
    assert!(table.rust.len() > 700, "only {} probes", table.rust.len());
}

#[test]
fn table_keys_are_unique() {
    let table = table::build();
    let mut seen = BTreeSet::new();
    let dups: Vec<&str> = table
        .rust
        .iter()
        .filter(|(k, _)| !seen.insert(k.as_str()))
        .map(|(k, _)| k.as_str())
        .collect();
    assert!(dups.is_empty(), "keys probed twice: {dups:?}");
}

/// Items that no header defines as a macro, so there is nothing to measure them against.
const NOT_IN_HEADERS: &[(&str, &str)] = &[(
    "blkif::BLKIF_SECTOR_SIZE",
    "blkif.h fixes the 512-byte sector unit in prose only",
)];

/// Every `pub const`, `pub struct`, `pub enum` and `pub type` in abi/src must appear in the table
/// (or in NOT_IN_HEADERS with a reason), so nothing the crate defines escapes measurement.
#[test]
fn every_public_item_of_the_crate_is_in_the_table() {
    let table = table::build();
    let keys: Vec<&str> = table.rust.iter().map(|(k, _)| k.as_str()).collect();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut unmeasured = Vec::new();
    let mut items = 0;
    for entry in std::fs::read_dir(&src).expect("read abi/src") {
        let path = entry.expect("dir entry").path();
        let module = match path.file_stem().and_then(|s| s.to_str()) {
            Some("lib") => "root".to_string(),
            Some(m) => m.to_string(),
            None => continue,
        };
        let text = std::fs::read_to_string(&path).expect("read source");
        for line in text.lines() {
            let line = line.trim_start();
            let (kind, rest) = match ["pub const ", "pub struct ", "pub enum ", "pub type "]
                .iter()
                .find_map(|p| line.strip_prefix(p).map(|rest| (*p, rest)))
            {
                Some(found) => found,
                None => continue,
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if kind == "pub const " && rest[name.len()..].starts_with(" fn") || name == "fn" {
                continue; // `pub const fn`: logic, tested by unit tests.
            }
            items += 1;
            let item = format!("{module}::{name}");
            if NOT_IN_HEADERS.iter().any(|(n, _)| *n == item) {
                continue;
            }
            let measured = keys.iter().any(|k| {
                k.strip_prefix(&item).is_some_and(|rest| {
                    rest.is_empty() || rest.starts_with(['@', '[', '.', ':', '('])
                }) || (kind == "pub type "
                    && k.starts_with(&format!("{module}::"))
                    && k.contains(&format!("size_of::<{name}>()")))
            });
            if !measured {
                unmeasured.push(item);
            }
        }
    }
    assert!(items > 300, "found only {items} public items in {src:?}");
    assert!(
        unmeasured.is_empty(),
        "public items not in the conformance table: {unmeasured:?}"
    );
}
