//! XENBUS's dump interface (xenpv-busif `dump`) for XENVBD's crash-dump / hibernation instance:
//! the provider over xenpv-xenbus-core's `XenDumpHome` (drivers/xen's crash-dump grant
//! references, event channel hypercalls, the store ring page polled), built by the Provider step
//! beside the bus interface's provider and answered by the PDOs' QUERY_INTERFACE.

use alloc::boxed::Box;
use core::ptr::NonNull;

use xenpv_abi::{EvtchnPort, PAGE_SIZE};
use xenpv_busif::dump::DumpProvider;
use xenpv_datapath::shmem::SharedMem;
use xenpv_ddk::kernel::KeStallExecutionProcessor;
use xenpv_xen::gnttab::GrantTable;
use xenpv_xen::hypercall::Direct;
use xenpv_xen::Xen;
use xenpv_xenbus_core::dump::XenDumpHome;

/// References drivers/xen keeps aside for the dump path: XENVBD's ring and pool pages.
pub const CRASH_DUMP_REFS: u32 = 24;

/// Microseconds between two polls of the store ring.
const STALL_US: u32 = 20;

fn stall() {
    // SAFETY: a busy wait, callable at any IRQL.
    unsafe { KeStallExecutionProcessor(STALL_US) }
}

/// The dump interface's provider on this home.
pub type XenDumpProvider = DumpProvider<XenDumpHome<'static, Direct, fn()>>;

/// The provider over `table` and the store ring page at `store` (event channel `store_port`).
///
/// # Safety
/// `table` and the store page stay valid until the provider is dropped (the Provider step's
/// release, before the steps that own them), or for good if it is leaked.
pub unsafe fn provider(
    xen: Xen<Direct>,
    table: &'static GrantTable<'static>,
    store: NonNull<u8>,
    store_port: EvtchnPort,
) -> *mut XenDumpProvider {
    // SAFETY: the caller's promise: the mapped store page, valid for the provider's life.
    let mem = unsafe { SharedMem::new(store, PAGE_SIZE) };
    let home = XenDumpHome::new(xen, table, mem, store_port, stall as fn());
    Box::into_raw(Box::new(DumpProvider::new(home)))
}
