//! Shared harness code for the benches.

pub mod ring;
