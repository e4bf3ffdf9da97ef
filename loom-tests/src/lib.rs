//! loom models live in tests/; this crate holds only what they share.

#[cfg(loom)]
pub mod ring_memory;
