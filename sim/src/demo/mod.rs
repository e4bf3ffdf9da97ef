//! Demonstrations the sim binary runs.

pub mod net;
pub mod disk;
