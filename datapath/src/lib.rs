//! xenpv data plane: Xen shared rings, netif and blkif queue engines, lock-free per-CPU queues.
#![no_std]
extern crate alloc;
