//! Shared harness code for the benches.
