//! The provider's answer to IRP_MN_QUERY_INTERFACE for the dump interface (portable, so that
//! its checks are tested here; XENBUS's PDO tries it when the request is not for the main one).

use crate::abi::Guid;
use crate::query::QueryAnswer;

use super::{
    DumpHost, DumpInterface, DumpProvider, XENBUS_DUMP_INTERFACE_GUID, XENBUS_DUMP_INTERFACE_SIZE,
    XENBUS_DUMP_INTERFACE_VERSION,
};

/// Answers a QUERY_INTERFACE whose stack location asks for `guid`, `version`, `size` bytes at
/// `dest`.
///
/// # Safety
/// `guid` is null or readable; `dest` is null or writable for `size` bytes. The provider must
/// outlive the reference taken (see [`DumpProvider::interface`]).
pub unsafe fn answer_dump_query_interface<H: DumpHost>(
    provider: &DumpProvider<H>,
    guid: *const Guid,
    size: u16,
    version: u16,
    dest: *mut DumpInterface,
) -> QueryAnswer {
    // SAFETY: the caller's contract; unaligned, as it is the requester's memory.
    let Some(g) = (unsafe { guid.as_ref().map(|_| guid.read_unaligned()) }) else {
        return QueryAnswer::NotOurs;
    };
    if g != XENBUS_DUMP_INTERFACE_GUID {
        return QueryAnswer::NotOurs;
    }
    if version != XENBUS_DUMP_INTERFACE_VERSION
        || size < XENBUS_DUMP_INTERFACE_SIZE
        || dest.is_null()
    {
        return QueryAnswer::Unsupported;
    }
    // SAFETY: `dest` is writable for `size` >= the table's size.
    unsafe { dest.write_unaligned(provider.interface()) };
    QueryAnswer::Answered
}
