//! XENNET's logic, everything that is not a kernel call, tested on the host: an NDIS 6 miniport
//! over the netif core.
//!
//! - [`send`]: NET_BUFFER_LIST chains (each NET_BUFFER an Ethernet frame in an MDL chain) become
//!   netif packets with their checksum / LSO requests; completions come back per NET_BUFFER_LIST.
//! - [`recv`]: received packets are copied into pre-allocated NET_BUFFER_LISTs with their
//!   checksum, RSC and RSS hash information; returned lists go back to the pool. With RSC turned
//!   off, [`segment`] splits the backend's coalesced receives into MSS-sized frames.
//! - [`oid`]: the OID table (query and set handlers with NDIS's length rules), [`rss`] the
//!   receive-scale parameters, [`filter`] the packet filter and multicast list.
//! - [`announce`]: the gratuitous ARP and IPv6 unsolicited neighbour advertisement sent after a
//!   resume.
//! - [`adapter`]: the miniport state (running / paused, link, backlog) over a vif frontend on any
//!   platform and store transport; the Windows driver (drivers/windows/xennet) calls it from its
//!   NDIS handlers, tests drive it over the sim's netback.
//!
//! NDIS structures are the typed ones of xenpv-ddk; the code that dereferences the pointers NDIS
//! hands over is in [`send`] and [`recv`], each with its safety contract.

#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod adapter;
pub mod announce;
pub mod chain;
pub mod filter;
pub mod frame;
pub mod oid;
pub mod recv;
pub mod rss;
pub mod segment;
pub mod send;

#[cfg(test)]
mod sim_tests;
