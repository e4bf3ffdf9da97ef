//! xenpv control plane: xenstore client, XenbusState machines, feature negotiation.
#![no_std]
extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod vif;
pub mod xenbus;
pub mod xs;

#[cfg(test)]
mod test_peer;
