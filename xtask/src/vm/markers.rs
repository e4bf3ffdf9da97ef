//! Reading what the guests report (protocol: perf/guest/lib.sh): step markers and result blobs.

use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, PartialEq, Clone, Copy)]
pub enum Outcome {
    Begin,
    Ok,
    Fail,
    Skip,
    Done,
}

#[derive(Debug, PartialEq, Clone)]
pub struct Marker {
    pub role: String,
    pub outcome: Outcome,
    pub step: String,
    pub detail: String,
}

/// Every marker in `log`, in order. Lines may carry a prefix (the host's timestamp, dom0's
/// "[domU] " relay, the indentation of a step's output); unknown outcomes are not markers.
pub fn parse_markers(log: &str) -> Vec<Marker> {
    log.lines()
        .filter_map(|line| {
            let rest = &line[line.find("@@XENPV ")? + "@@XENPV ".len()..];
            let mut words = rest.splitn(4, ' ');
            let role = words.next()?.to_string();
            let outcome = match words.next()? {
                "begin" => Outcome::Begin,
                "ok" => Outcome::Ok,
                "fail" => Outcome::Fail,
                "skip" => Outcome::Skip,
                "done" => Outcome::Done,
                _ => return None,
            };
            let step = words.next()?.trim().to_string();
            let detail = words.next().unwrap_or("").trim().to_string();
            Some(Marker {
                role,
                outcome,
                step,
                detail,
            })
        })
        .collect()
}

/// The steps of a run as they ended: for each (role, step), its last marker.
#[derive(Debug, Default)]
pub struct Steps {
    order: Vec<(String, String)>,
    last: BTreeMap<(String, String), Marker>,
    finished_roles: Vec<String>,
}

impl Steps {
    pub fn from_markers(markers: &[Marker]) -> Steps {
        let mut s = Steps::default();
        for m in markers {
            if m.outcome == Outcome::Done {
                s.finished_roles.push(m.role.clone());
                continue;
            }
            let key = (m.role.clone(), m.step.clone());
            if !s.last.contains_key(&key) {
                s.order.push(key.clone());
            }
            s.last.insert(key, m.clone());
        }
        s
    }

    pub fn outcome(&self, role: &str, step: &str) -> Option<Outcome> {
        self.last
            .get(&(role.to_string(), step.to_string()))
            .map(|m| m.outcome)
    }

    pub fn finished(&self, role: &str) -> bool {
        self.finished_roles.iter().any(|r| r == role)
    }

    /// Steps that failed, were skipped, or began and never ended (a hang or a crash), in run order.
    pub fn problems(&self) -> Vec<&Marker> {
        self.order
            .iter()
            .map(|k| &self.last[k])
            .filter(|m| m.outcome != Outcome::Ok)
            .collect()
    }

    /// All (role, step, outcome, detail) in run order, for the summary.
    pub fn all(&self) -> impl Iterator<Item = &Marker> {
        self.order.iter().map(|k| &self.last[k])
    }
}

#[derive(Debug, PartialEq)]
pub enum BlobError {
    /// Data lines for this blob were not valid base64.
    BadBase64(String),
    /// The decoded size differs from the size the guest announced (lost or mangled lines).
    SizeMismatch {
        name: String,
        announced: usize,
        got: usize,
    },
    /// Data lines with no closing @@XENPV-BLOB line.
    Unterminated(String),
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobError::BadBase64(n) => write!(f, "result {n}: invalid base64"),
            BlobError::SizeMismatch {
                name,
                announced,
                got,
            } => write!(f, "result {name}: {got} bytes, guest sent {announced}"),
            BlobError::Unterminated(n) => write!(f, "result {n}: no end marker"),
        }
    }
}

/// The result blobs in `log`, by name. A later blob of the same name replaces an earlier one.
pub fn parse_blobs(log: &str) -> Result<BTreeMap<String, Vec<u8>>, BlobError> {
    let mut pending: BTreeMap<String, String> = BTreeMap::new();
    let mut blobs = BTreeMap::new();
    for line in log.lines() {
        if let Some(i) = line.find("@@XENPV-DATA ") {
            let mut w = line[i + "@@XENPV-DATA ".len()..].split_whitespace();
            if let (Some(name), Some(data)) = (w.next(), w.next()) {
                pending.entry(name.to_string()).or_default().push_str(data);
            }
        } else if let Some(i) = line.find("@@XENPV-BLOB ") {
            let mut w = line[i + "@@XENPV-BLOB ".len()..].split_whitespace();
            let (Some(name), Some(size)) = (w.next(), w.next()) else {
                continue;
            };
            let text = pending.remove(name).unwrap_or_default();
            let bytes = base64_decode(&text).ok_or_else(|| BlobError::BadBase64(name.into()))?;
            let announced = size.parse::<usize>().unwrap_or(usize::MAX);
            if announced != bytes.len() {
                return Err(BlobError::SizeMismatch {
                    name: name.into(),
                    announced,
                    got: bytes.len(),
                });
            }
            blobs.insert(name.to_string(), bytes);
        }
    }
    match pending.into_keys().next() {
        Some(name) => Err(BlobError::Unterminated(name)),
        None => Ok(blobs),
    }
}

/// Standard base64 with padding (busybox `base64` output, lines already joined).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = text.as_bytes();
    let chunks = bytes.chunks_exact(4);
    if !chunks.remainder().is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (i, chunk) in chunks.enumerate() {
        let last = i == bytes.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "  12.01| @@XENPV dom0 begin toolstack\n\
  13.50| @@XENPV dom0 ok toolstack 1.49s\n\
  20.00| [domU] @@XENPV domU begin xen-detected\n\
  20.10| [domU] @@XENPV domU ok xen-detected 0.10s\n\
  21.00| [domU] @@XENPV domU fail net-kernel rc=1 after 9.00s: 3 packets transmitted, 0 received\n\
  21.10| [domU] @@XENPV domU skip bench-net-kernel needs net-kernel\n\
  22.00| [domU] @@XENPV domU begin blk-kernel\n\
  22.50| @@XENPV dom0 bogus thing\n\
  23.00| @@XENPV dom0 done all\n";

    #[test]
    fn markers_survive_prefixes_and_keep_details() {
        let m = parse_markers(LOG);
        assert_eq!(m.len(), 8, "the unknown outcome is no marker");
        assert_eq!(m[4].role, "domU");
        assert_eq!(m[4].outcome, Outcome::Fail);
        assert_eq!(m[4].step, "net-kernel");
        assert_eq!(
            m[4].detail,
            "rc=1 after 9.00s: 3 packets transmitted, 0 received"
        );
    }

    #[test]
    fn steps_report_failures_skips_and_hangs_in_order() {
        let s = Steps::from_markers(&parse_markers(LOG));
        assert_eq!(s.outcome("dom0", "toolstack"), Some(Outcome::Ok));
        assert!(s.finished("dom0") && !s.finished("domU"));
        let problems: Vec<(&str, Outcome)> = s
            .problems()
            .iter()
            .map(|m| (m.step.as_str(), m.outcome))
            .collect();
        assert_eq!(
            problems,
            vec![
                ("net-kernel", Outcome::Fail),
                ("bench-net-kernel", Outcome::Skip),
                ("blk-kernel", Outcome::Begin),
            ]
        );
    }

    #[test]
    fn blobs_decode_and_check_their_size() {
        // "{\"a\":1}\n" in base64, split over two lines, interleaved with other output.
        let log = "    @@XENPV-DATA fio-x.kernel eyJhIjox\nkernel noise\n\
                   @@XENPV-DATA fio-x.kernel fQo=\n@@XENPV-BLOB fio-x.kernel 8\n";
        let b = parse_blobs(log).unwrap();
        assert_eq!(b["fio-x.kernel"], b"{\"a\":1}\n");

        let short = "@@XENPV-DATA t eyJhIjox\n@@XENPV-BLOB t 8\n";
        assert_eq!(
            parse_blobs(short),
            Err(BlobError::SizeMismatch {
                name: "t".into(),
                announced: 8,
                got: 6
            })
        );
        assert_eq!(
            parse_blobs("@@XENPV-DATA t ey!x\n@@XENPV-BLOB t 3\n"),
            Err(BlobError::BadBase64("t".into()))
        );
        assert_eq!(
            parse_blobs("@@XENPV-DATA t eyJh\n"),
            Err(BlobError::Unterminated("t".into()))
        );
    }

    #[test]
    fn base64_matches_the_reference_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_decode(enc).unwrap(), plain.as_bytes(), "{enc}");
        }
        assert_eq!(base64_decode("Zg==Zm8="), None, "padding only at the end");
        assert_eq!(base64_decode("Zm8"), None);
    }
}
