//! Progress lines on stderr: each step says when it starts and how long it took.

use std::time::Instant;

pub struct Step {
    name: String,
    started: Instant,
}

impl Step {
    pub fn start(name: &str) -> Step {
        eprintln!("==> {name}");
        Step {
            name: name.to_string(),
            started: Instant::now(),
        }
    }

    pub fn done(self, detail: &str) {
        eprintln!(
            "    {} done in {:.1} s: {detail}",
            self.name,
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// A byte count for humans, in MiB with one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
