//! The provider's answer to IRP_MN_QUERY_INTERFACE, portable so that its checks are tested here.

use xenpv_control::xs::client::Transport;

use crate::abi::{
    BusInterface, Guid, XENBUS_INTERFACE_GUID, XENBUS_INTERFACE_SIZE, XENBUS_INTERFACE_VERSION,
};
use crate::provider::{BusHost, Provider};

/// What a bus PDO does with a QUERY_INTERFACE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryAnswer {
    /// Another interface: complete the IRP with the status it already has.
    NotOurs,
    /// The table was written (and a reference taken): STATUS_SUCCESS.
    Answered,
    /// Ours, but a version this bus does not provide, a buffer too small, or no buffer:
    /// STATUS_NOT_SUPPORTED (nothing written).
    Unsupported,
}

/// Answers a QUERY_INTERFACE whose stack location asks for `guid`, `version`, `size` bytes at
/// `dest`.
///
/// # Safety
/// `guid` is null or readable; `dest` is null or writable for `size` bytes. The provider must
/// outlive the reference taken (see [`Provider::interface`]).
pub unsafe fn answer_query_interface<H: BusHost, T: Transport>(
    provider: &Provider<H, T>,
    guid: *const Guid,
    size: u16,
    version: u16,
    dest: *mut BusInterface,
) -> QueryAnswer {
    // SAFETY: the caller's contract; read unaligned, as it is the requester's memory.
    let Some(g) = (unsafe { guid.as_ref().map(|_| guid.read_unaligned()) }) else {
        return QueryAnswer::NotOurs;
    };
    if g != XENBUS_INTERFACE_GUID {
        return QueryAnswer::NotOurs;
    }
    if version != XENBUS_INTERFACE_VERSION || size < XENBUS_INTERFACE_SIZE || dest.is_null() {
        return QueryAnswer::Unsupported;
    }
    // SAFETY: `dest` is writable for `size` >= the table's size; unaligned for the same reason.
    unsafe { dest.write_unaligned(provider.interface()) };
    QueryAnswer::Answered
}
