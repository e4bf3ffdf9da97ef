//! The crash-dump interface: a second interface XENBUS gives a disk's child, for the one thing
//! the main table cannot do — run with the machine stopping (crash dump, hibernation), when no
//! interrupt, DPC, work item or pool allocation may be relied on and any lock may be held by a
//! processor that will never release it.
//!
//! Why a second GUID rather than entries appended to [`crate::BusInterface`]: the main table's
//! version check is exact, so growing it would make every child ask for a new version at once;
//! a separate interface is asked for only by the child that uses it (XENVBD), in normal mode,
//! and its table is then handed to the dump instance through storport's `MiniportDumpData`
//! (the dump instance cannot send PnP requests).
//!
//! What it offers, every function callable at any IRQL, without locks or allocation:
//! - grants through the references drivers/xen keeps aside for the dump path (8–31 on a real
//!   bus; [`DumpInterface::reserved_refs`] says which): `grant_reserved` rewrites one of those
//!   entries and refuses any other reference ([`STATUS_NOT_RESERVED`]); `end_reserved` takes
//!   the backend's access away again (when the normal instance that prepared the dump path goes
//!   and frees the pages), refusing while the backend still maps the page;
//! - event channels (allocation, notify, close): hypercalls, nothing queued;
//! - the store, polled: `store_exchange` writes one request into the store ring and polls the
//!   ring for its reply, taking the ring over from XENBUS's own client (stopped by then). Replies
//!   and watch events for that client are skipped.

mod child;
mod provider;
mod query;

use core::ffi::c_void;
use core::mem::{offset_of, size_of};

use crate::abi::{BusStatus, Guid, InterfaceHeader};

pub use child::{DumpBus, DumpBusError};
pub use provider::{DumpHost, DumpProvider};
pub use query::answer_dump_query_interface;

/// `{6b3d2a41-0f5c-4c1e-9a57-3d81c0e6b2d4}`: the interface type of [`DumpInterface`].
pub const XENBUS_DUMP_INTERFACE_GUID: Guid = Guid {
    data1: 0x6b3d_2a41,
    data2: 0x0f5c,
    data3: 0x4c1e,
    data4: [0x9a, 0x57, 0x3d, 0x81, 0xc0, 0xe6, 0xb2, 0xd4],
};

/// The version of [`DumpInterface`] this crate provides and understands.
pub const XENBUS_DUMP_INTERFACE_VERSION: u16 = 1;

/// `grant_reserved` was given a reference outside the reserved range.
pub const STATUS_NOT_RESERVED: u32 = 64;
/// No reply came within the polls allowed (the ring may now be mid-message: the store is
/// unusable for the rest of the dump).
pub const STATUS_TIMEOUT: u32 = 65;
/// Another store exchange is running (the dump path makes one at a time).
pub const STATUS_BUSY: u32 = 66;

type Ctx = *mut c_void;

/// The XENBUS dump interface, version 1. Every function takes the header's `context` first
/// and may be called at any IRQL.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DumpInterface {
    pub header: InterfaceHeader,
    /// The reserved references: `*first .. *first + *count`.
    pub reserved_refs:
        Option<unsafe extern "C" fn(Ctx, first: *mut u32, count: *mut u32) -> BusStatus>,
    /// Lets `domid` access guest frame `gfn` through reserved reference `gref`.
    pub grant_reserved: Option<
        unsafe extern "C" fn(Ctx, gref: u32, domid: u16, gfn: u64, writable: u8) -> BusStatus,
    >,
    /// Takes the access of `grant_reserved` away (STILL_IN_USE while the grantee maps it).
    pub end_reserved: Option<unsafe extern "C" fn(Ctx, gref: u32) -> BusStatus>,
    pub evtchn_alloc_unbound:
        Option<unsafe extern "C" fn(Ctx, remote: u16, port: *mut u32) -> BusStatus>,
    pub evtchn_notify: Option<unsafe extern "C" fn(Ctx, port: u32) -> BusStatus>,
    pub evtchn_close: Option<unsafe extern "C" fn(Ctx, port: u32) -> BusStatus>,
    /// Sends the whole xenstore request `msg[..len]` and polls for the reply with its request
    /// id, at most `polls` times (stalling between polls); the reply (header and payload) goes to
    /// `reply[..cap]` and its size to `*reply_len`.
    pub store_exchange: Option<
        unsafe extern "C" fn(
            Ctx,
            msg: *const u8,
            len: usize,
            reply: *mut u8,
            cap: usize,
            reply_len: *mut usize,
            polls: u32,
        ) -> BusStatus,
    >,
}

const _: () = assert!(offset_of!(DumpInterface, reserved_refs) == 32);
const _: () = assert!(offset_of!(DumpInterface, store_exchange) == 80);
const _: () = assert!(size_of::<DumpInterface>() == 32 + 7 * 8);

/// The interface's size as the header's `Size` states it.
pub const XENBUS_DUMP_INTERFACE_SIZE: u16 = size_of::<DumpInterface>() as u16;

// SAFETY: function pointers and the provider's context; the provider's functions may be called
// from any thread (the contract of the interface).
unsafe impl Send for DumpInterface {}
// SAFETY: as above; the table is not written after it is built.
unsafe impl Sync for DumpInterface {}
