//! xenstore: typed errors, permissions, path rules, the wire codec, the shared ring and the client.

pub mod client;
pub mod error;
pub mod path;
pub mod perm;
pub mod ring;
pub mod wire;

pub use error::XsError;
pub use perm::{Access, Perm};
