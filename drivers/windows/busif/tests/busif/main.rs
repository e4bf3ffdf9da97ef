//! The interface end to end: a child over the provider over the sim ([`sim`]), and every kind of
//! bad input at the table ([`hostile`]), and the vif device machine and netif core running on a child ([`vif`]).

mod common;
mod hostile;
mod sim;
mod suspend;
mod vif;
