//! The sim bus of feature `sim`, and the names the tests use for it.

pub use xenpv_busif::sim::{store, Poller, SimWaker as TestWaker, CLOCK, GUEST, PORTS};

pub type Fixture = xenpv_busif::sim::SimBus;
