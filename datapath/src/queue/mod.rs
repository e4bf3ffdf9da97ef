//! Lock-free per-CPU queues: where the upper layer (NDIS send, STORPORT StartIo, a TAP or block
//! device) hands work to a data-plane queue and gets completions and control commands back.
//!
//! - [`spsc`]: one producer, one consumer, batched push and pop with one publishing store each.
//! - [`mpsc`]: many producers (completions, control commands), one consumer.
//!
//! Both are bounded, allocate only when created, never lock and never spin: a full queue hands the
//! value back to the caller, an empty queue returns `None`.

use core::fmt;

pub mod mpsc;
pub mod spsc;

/// Largest capacity either queue accepts. Queues mirror ring sizes (a few hundred entries); the bound
/// turns a nonsensical configured size into an error instead of a huge allocation.
pub const MAX_CAPACITY: usize = 1 << 20;

/// A queue was asked for a capacity it cannot have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapacityError {
    /// The capacity that was asked for.
    pub requested: usize,
    /// The smallest capacity this queue supports.
    pub min: usize,
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "queue capacity {} is not a power of two between {} and {}",
            self.requested, self.min, MAX_CAPACITY
        )
    }
}

impl core::error::Error for CapacityError {}

/// Checks a requested capacity; indices are reduced with `& (capacity - 1)`, hence the power of two.
fn check_capacity(requested: usize, min: usize) -> Result<usize, CapacityError> {
    if requested.is_power_of_two() && (min..=MAX_CAPACITY).contains(&requested) {
        Ok(requested)
    } else {
        Err(CapacityError { requested, min })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_must_be_a_power_of_two_in_range() {
        assert_eq!(check_capacity(8, 1), Ok(8));
        assert_eq!(check_capacity(1, 1), Ok(1));
        assert_eq!(check_capacity(MAX_CAPACITY, 2), Ok(MAX_CAPACITY));
        for bad in [0, 3, 6, MAX_CAPACITY * 2, usize::MAX] {
            assert_eq!(
                check_capacity(bad, 1),
                Err(CapacityError {
                    requested: bad,
                    min: 1
                })
            );
        }
        assert_eq!(
            check_capacity(1, 2),
            Err(CapacityError {
                requested: 1,
                min: 2
            })
        );
    }

    #[test]
    fn capacity_error_names_the_request_and_the_range() {
        let message = std::format!(
            "{}",
            CapacityError {
                requested: 3,
                min: 2
            }
        );
        assert_eq!(
            message,
            std::format!("queue capacity 3 is not a power of two between 2 and {MAX_CAPACITY}")
        );
    }
}

/// Helpers shared by the queues' tests.
#[cfg(test)]
mod test_support {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Values each stress test moves between threads; small under Miri, which is ~1000x slower.
    pub const STRESS_ITEMS: u64 = if cfg!(miri) { 200 } else { 200_000 };
    /// Upper bound on operations in one generated model-test case.
    pub const OPS_PER_CASE: usize = if cfg!(miri) { 24 } else { 200 };

    pub fn proptest_config() -> proptest::test_runner::Config {
        proptest::test_runner::Config {
            cases: if cfg!(miri) { 4 } else { 256 },
            // Miri isolates the file system, and a failure is reproduced from the printed case.
            failure_persistence: None,
            ..proptest::test_runner::Config::default()
        }
    }

    /// Hands out tokens and counts how many have been dropped, to catch leaks and double drops.
    #[derive(Default)]
    pub struct DropCounter(Arc<AtomicUsize>);

    pub struct Token(Arc<AtomicUsize>);

    impl DropCounter {
        pub fn token(&self) -> Token {
            Token(self.0.clone())
        }

        pub fn dropped(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    impl Drop for Token {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}
