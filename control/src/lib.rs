//! xenpv control plane: xenstore client, XenbusState machines, feature negotiation.
//!
//! - [`xs`]: xenstore. [`xs::wire`] frames and types every message a guest exchanges with
//!   xenstored (both directions, so a server can use it too); [`xs::ring`] is the shared ring page,
//!   guest and server ends; [`xs::client`] is the client (requests in flight, watches,
//!   transactions) over the ring page or a byte stream.
//! - [`xenbus`]: frontend devices. [`xenbus::machine`] is the pure XenbusState machine,
//!   [`xenbus::driver`] runs it over a client, [`xenbus::features`] reads backend features and
//!   writes frontend keys, [`xenbus::enumerate`] finds devices and their hot-plug and unplug.
//!
//! Everything a peer sends is untrusted: malformed input is a typed error, never a panic.
#![no_std]
extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod vbd;
pub mod vif;
pub mod xenbus;
pub mod xs;

#[cfg(test)]
mod test_peer;
