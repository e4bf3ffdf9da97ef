//! The interface end to end: a child over the provider over the sim ([`sim`]), and every kind of
//! bad input at the table ([`hostile`]).

mod common;
mod hostile;
mod sim;
