//! Demonstrations the sim binary runs.

pub mod disk;
pub mod net;
