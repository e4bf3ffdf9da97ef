//! The parts of the proof kernel that are plain logic over bytes, in a library so that they are
//! tested on the host: `cargo test --lib --target x86_64-unknown-linux-gnu` in drivers/metal (the
//! kernel binary itself only runs under Xen).
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod ether;
