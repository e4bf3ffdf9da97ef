//! xenpv data plane: Xen shared rings, netif and blkif queue engines, lock-free per-CPU queues.
#![no_std]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod blkif;
pub mod netif;
pub mod platform;
pub mod queue;
pub mod ring;
pub mod scsi;
pub mod shmem;
mod sync;
