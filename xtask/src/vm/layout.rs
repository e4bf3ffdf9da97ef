//! Where the testbed keeps its files. Sources live in perf/ (git), downloads and unpacked packages in
//! perf/cache (kept between runs), per-run files and logs in perf/work (both git-ignored).

use std::path::{Path, PathBuf};

pub struct Layout {
    /// perf/ in the repository.
    pub perf: PathBuf,
    /// The repository root (the cargo workspace).
    pub repo: PathBuf,
}

impl Layout {
    pub fn from_repo() -> Layout {
        // xtask lives one level below the workspace root; the path is fixed at compile time.
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask has a parent directory")
            .to_path_buf();
        Layout {
            perf: repo.join("perf"),
            repo,
        }
    }

    /// Guest-side scripts copied into the images (perf/guest).
    pub fn guest(&self) -> PathBuf {
        self.perf.join("guest")
    }
    /// Downloaded .deb files.
    pub fn debs(&self) -> PathBuf {
        self.perf.join("cache/debs")
    }
    /// Unpacked packages, decompressed kernel and modules.
    pub fn unpacked(&self) -> PathBuf {
        self.perf.join("cache/unpacked")
    }
    /// Built initramfs layers and images.
    pub fn images(&self) -> PathBuf {
        self.perf.join("cache/images")
    }
    /// Per-run files: data disk, output disk, serial log, extracted results.
    pub fn work(&self) -> PathBuf {
        self.perf.join("work")
    }
    /// Committed benchmark results.
    pub fn results(&self) -> PathBuf {
        self.perf.join("results")
    }
}
