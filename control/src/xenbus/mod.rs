//! Frontend devices on xenbus: the XenbusState machine, the driver that runs it over xenstore,
//! feature negotiation, and device enumeration.

pub mod machine;

pub use machine::{Action, Event, Frontend};
