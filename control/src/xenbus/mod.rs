//! Frontend devices on xenbus: the XenbusState machine, the driver that runs it over xenstore,
//! feature negotiation, and device enumeration.

pub mod driver;
pub mod enumerate;
pub mod features;
pub mod machine;

pub use driver::{switch_state, DevicePaths, DriverError, FrontendDevice, FrontendDriver};
pub use enumerate::{DeviceChange, DeviceEnumerator};
pub use machine::{Action, Announce, Event, Frontend};
