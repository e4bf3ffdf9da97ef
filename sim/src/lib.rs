//! A software Xen host in one process: guest memory, grant tables and event channels with Xen's
//! semantics, an in-memory xenstored, and backends that behave like Linux's netback and blkback.

pub mod blkback;
pub mod demo;
pub mod domain;
pub mod guest;
pub mod host;
pub mod netback;
pub mod toolstack;
pub mod xenstored;
