//! Cache keys: a step records a fingerprint of its inputs next to its output and is skipped when the
//! fingerprint is unchanged.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// FNV-1a, 64 bit: stable across Rust versions (unlike `DefaultHasher`), which a key kept on disk needs.
#[derive(Clone)]
pub struct Fingerprint(u64);

impl Fingerprint {
    pub fn new() -> Fingerprint {
        Fingerprint(0xcbf2_9ce4_8422_2325)
    }

    pub fn bytes(&mut self, data: &[u8]) -> &mut Self {
        for &b in data {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator, so that ("ab","c") and ("a","bc") differ.
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        self
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    /// A file stands for its path, size and modification time: hashing the contents of every
    /// library and binary on each run would cost more than rebuilding some layers.
    pub fn file_meta(&mut self, path: &Path) -> Result<&mut Self, String> {
        let m = fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mtime = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        self.str(&path.to_string_lossy());
        self.bytes(&m.len().to_le_bytes());
        Ok(self.bytes(&mtime.to_le_bytes()))
    }

    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// The stamp file that sits next to an output.
fn stamp_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(".stamp");
    output.with_file_name(name)
}

/// True when `output` exists and was made from inputs with this fingerprint.
pub fn fresh(output: &Path, key: &Fingerprint) -> bool {
    output.exists() && fs::read_to_string(stamp_path(output)).is_ok_and(|s| s.trim() == key.hex())
}

pub fn record(output: &Path, key: &Fingerprint) -> Result<(), String> {
    let p = stamp_path(output);
    fs::write(&p, key.hex()).map_err(|e| format!("{}: {e}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_separates_fields_and_depends_on_content() {
        let a = Fingerprint::new().str("ab").str("c").hex();
        let b = Fingerprint::new().str("a").str("bc").hex();
        let c = Fingerprint::new().str("ab").str("c").hex();
        assert_ne!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn stamp_makes_output_fresh_only_for_its_key() {
        let dir = std::env::temp_dir().join(format!("xtask-cache-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let out = dir.join("thing.img");
        let mut key = Fingerprint::new();
        key.str("inputs v1");
        assert!(!fresh(&out, &key), "no output yet");
        fs::write(&out, b"x").unwrap();
        assert!(!fresh(&out, &key), "no stamp yet");
        record(&out, &key).unwrap();
        assert!(fresh(&out, &key));
        let mut other = Fingerprint::new();
        other.str("inputs v2");
        assert!(!fresh(&out, &other));
        fs::remove_dir_all(&dir).unwrap();
    }
}
