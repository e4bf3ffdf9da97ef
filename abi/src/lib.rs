//! Byte-exact Xen public ABI: the wire structures and constants xenpv uses, with no logic.
//!
//! Every type is a plain `#[repr(C)]` struct laid out as on x86_64 (the only target), with explicit
//! padding fields so that zerocopy can prove it has no uninitialised bytes. Where a C header uses a
//! union, the member we use gets its own struct and the union itself is kept as bytes. Names follow the
//! C headers: a C macro spelled in lower case (`GNTTABOP_map_grant_ref`) becomes the upper-case Rust
//! constant (`GNTTABOP_MAP_GRANT_REF`). Sizes, field offsets and constant values are measured against
//! Xen's own headers by `tests/conformance.rs`.
#![no_std]

pub mod blkif;
pub mod console;
pub mod event_channel;
pub mod grant_table;
pub mod hvm;
pub mod hypercall;
pub mod memory;
pub mod netif;
pub mod ring;
pub mod sched;
pub mod shared_info;
pub mod vcpu;
pub mod version;
pub mod xen_elfnote;
pub mod xenbus;
pub mod xs_wire;

/// Size of a Xen page (x86: 4 KiB). Grants, ring pages and frame numbers all count in these.
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// log2 of [`PAGE_SIZE`]: the shift between a byte address and a frame number.
pub const PAGE_SHIFT: u32 = 12;

/// A domain id (C `domid_t`).
pub type DomId = u16;
/// A grant reference: an index into the granting domain's grant table (C `grant_ref_t`).
pub type GrantRef = u32;
/// An event channel port (C `evtchn_port_t`).
pub type EvtchnPort = u32;
/// A grant handle returned by a map operation (C `grant_handle_t`).
pub type GrantHandle = u32;

/// First domain id that names something other than a real domain (xen.h `DOMID_FIRST_RESERVED`).
pub const DOMID_FIRST_RESERVED: DomId = 0x7FF0;
/// The calling domain itself (xen.h `DOMID_SELF`).
pub const DOMID_SELF: DomId = 0x7FF0;
/// The I/O pseudo-domain (xen.h `DOMID_IO`).
pub const DOMID_IO: DomId = 0x7FF1;
/// Xen itself (xen.h `DOMID_XEN`).
pub const DOMID_XEN: DomId = 0x7FF2;
/// The copy-on-write pseudo-domain (xen.h `DOMID_COW`).
pub const DOMID_COW: DomId = 0x7FF3;
/// No domain (xen.h `DOMID_INVALID`).
pub const DOMID_INVALID: DomId = 0x7FF4;
/// The idle domain (xen.h `DOMID_IDLE`).
pub const DOMID_IDLE: DomId = 0x7FFF;
/// Mask of the bits that form a domain id (xen.h `DOMID_MASK`).
pub const DOMID_MASK: DomId = 0x7FFF;
