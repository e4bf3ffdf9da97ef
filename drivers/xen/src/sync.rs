//! The atomics the lock-free parts (grant free list, FIFO queue unlink) are built from: loom's
//! model-checked ones under `cfg(loom)`, so loom-tests explore the real code, `core`'s otherwise.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering};
