//! Comparing what the C headers say (the probe program's output) with what the Rust crate says.

use std::collections::BTreeMap;
use std::fmt;

/// One measured value: an integer (sizes, offsets, constants) or a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i128),
    Str(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// A disagreement between the two sides, named by its table key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Both sides have the key, with different values.
    Mismatch { key: String, c: Value, rust: Value },
    /// The Rust side has a key the C program did not print.
    MissingInC { key: String },
    /// The C program printed a key the Rust side does not have (e.g. a longer table).
    MissingInRust { key: String, c: Value },
    /// A line of the C program's output that is not `key \t kind \t value`.
    BadLine { line: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Mismatch { key, c, rust } => write!(f, "{key}: C says {c}, Rust says {rust}"),
            Problem::MissingInC { key } => write!(f, "{key}: not printed by the C probe"),
            Problem::MissingInRust { key, c } => write!(f, "{key}: C says {c}, absent in Rust"),
            Problem::BadLine { line } => write!(f, "unparsable probe output line {line:?}"),
        }
    }
}

/// Parses the probe program's output: one `key \t i|s \t value` line per measurement.
pub fn parse_c_output(output: &str) -> (BTreeMap<String, Value>, Vec<Problem>) {
    let mut values = BTreeMap::new();
    let mut problems = Vec::new();
    for line in output.lines() {
        let mut parts = line.splitn(3, '\t');
        let parsed = match (parts.next(), parts.next(), parts.next()) {
            (Some(key), Some("i"), Some(v)) => v.parse().ok().map(|v| (key, Value::Int(v))),
            (Some(key), Some("s"), Some(v)) => Some((key, Value::Str(v.to_string()))),
            _ => None,
        };
        match parsed {
            Some((key, value)) => {
                values.insert(key.to_string(), value);
            }
            None => problems.push(Problem::BadLine {
                line: line.to_string(),
            }),
        }
    }
    (values, problems)
}

/// Every disagreement between the C output and the Rust values, in key order.
pub fn compare(c_output: &str, rust: &[(String, Value)]) -> Vec<Problem> {
    let (mut c_values, mut problems) = parse_c_output(c_output);
    for (key, rust_value) in rust {
        match c_values.remove(key) {
            None => problems.push(Problem::MissingInC { key: key.clone() }),
            Some(c) if c != *rust_value => problems.push(Problem::Mismatch {
                key: key.clone(),
                c,
                rust: rust_value.clone(),
            }),
            Some(_) => {}
        }
    }
    problems.extend(
        c_values
            .into_iter()
            .map(|(key, c)| Problem::MissingInRust { key, c }),
    );
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rust(entries: &[(&str, Value)]) -> Vec<(String, Value)> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn agreeing_sides_report_nothing() {
        let c = "a\ti\t-2\nb\ts\tEINVAL\nc\ti\t18446744073709551615\n";
        let r = rust(&[
            ("a", Value::Int(-2)),
            ("b", Value::Str("EINVAL".into())),
            ("c", Value::Int(u64::MAX as i128)),
        ]);
        assert_eq!(compare(c, &r), vec![]);
    }

    #[test]
    fn every_kind_of_disagreement_is_reported_by_name() {
        let c = "size\ti\t112\nname\ts\tEINVAL\nextra[16].0\ti\t1\ngarbage\n";
        let r = rust(&[
            ("size", Value::Int(104)),
            ("name", Value::Str("EACCES".into())),
            ("only_rust", Value::Int(0)),
        ]);
        let problems = compare(c, &r);
        assert_eq!(
            problems,
            vec![
                Problem::BadLine {
                    line: "garbage".into()
                },
                Problem::Mismatch {
                    key: "size".into(),
                    c: Value::Int(112),
                    rust: Value::Int(104)
                },
                Problem::Mismatch {
                    key: "name".into(),
                    c: Value::Str("EINVAL".into()),
                    rust: Value::Str("EACCES".into())
                },
                Problem::MissingInC {
                    key: "only_rust".into()
                },
                Problem::MissingInRust {
                    key: "extra[16].0".into(),
                    c: Value::Int(1)
                },
            ]
        );
        let report: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            report[1].contains("size") && report[1].contains("112") && report[1].contains("104")
        );
    }

    #[test]
    fn an_int_and_a_string_never_agree() {
        let problems = compare("k\ts\t5\n", &rust(&[("k", Value::Int(5))]));
        assert_eq!(problems.len(), 1);
    }
}
