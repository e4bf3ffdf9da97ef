//! xenpv control plane: xenstore client, XenbusState machines, feature negotiation.
#![no_std]
extern crate alloc;
