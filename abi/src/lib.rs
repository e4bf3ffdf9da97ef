//! Byte-exact Xen public ABI: the wire structures and constants xenpv uses, with no logic.
#![no_std]
