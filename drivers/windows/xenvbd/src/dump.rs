//! The crash-dump / hibernation path in the kernel: what the normal instance prepares and leaves
//! in `PORT_CONFIGURATION_INFORMATION.MiniportDumpData`, and how the dump instance serves
//! storport from it (xenpv-winvbd `dump_bus`, over XENBUS's dump interface).
//!
//! - Normal mode, HwFindAdapter (PASSIVE_LEVEL), once the vbd is connected: IRP_MN_QUERY_INTERFACE
//!   for the dump interface, [`DUMP_PAGES`] pages of physically contiguous non-paged memory, and
//!   the dump path built on them (granted through the reserved references, queue and miniport
//!   allocated now). The block stays until HwFreeAdapterResources. A XENBUS without the dump
//!   interface, or any failure here, only means no dump to this disk: the disk itself works.
//! - Dump mode, HwFindAdapter: the block is checked and the vbd taken over by polling the store
//!   ([`TAKE_OVER_ROUNDS`] looks at the backend, [`STALL_US`] apart); HwStartIo then carries each
//!   SRB to the end by polling the ring. Nothing in dump mode allocates or takes a lock.

use alloc::sync::Arc;
use core::ffi::c_void;
use core::ptr::NonNull;

use xenpv_abi::PAGE_SIZE;
use xenpv_busif::dump::{
    DumpBus, XENBUS_DUMP_INTERFACE_GUID, XENBUS_DUMP_INTERFACE_SIZE, XENBUS_DUMP_INTERFACE_VERSION,
};
use xenpv_busif::BusError;
use xenpv_datapath::shmem::SharedMem;
use xenpv_ddk::kernel::{
    MmAllocateContiguousMemorySpecifyCache, MmFreeContiguousMemory, MmGetPhysicalAddress,
};
use xenpv_ddk::lower::{query_interface, LowerError};
use xenpv_ddk::memory::MM_CACHED;
use xenpv_ddk::object::DeviceObject;
use xenpv_ddk::storport::imports::StorPortStallExecution;
use xenpv_winvbd::dump_bus::{prepare, release, start, BusDumpPath, PrepareError, Vbd};
use xenpv_winvbd::miniport::Finished;
use xenpv_winvbd::srb::SrbInfo;

use crate::srb::SrbBuffer;

/// Pages of the dump path: drivers/xen's 24 reserved references, one page each (ring and pool).
pub const DUMP_PAGES: usize = 24;
/// Microseconds between two polls.
pub const STALL_US: u32 = 50;
/// Looks at the backend per handshake step: 10 s at [`STALL_US`] (plus the store's own polls).
pub const TAKE_OVER_ROUNDS: u32 = 200_000;
/// Polls of the ring per request: 30 s, after which the request fails rather than hang the dump.
pub const REQUEST_POLLS: u32 = 600_000;
/// The largest transfer of the dump path: one direct request (11 segments of a page).
pub const DUMP_MAX_TRANSFER: u32 =
    (xenpv_abi::blkif::BLKIF_MAX_SEGMENTS_PER_REQUEST * PAGE_SIZE) as u32;

/// The frames a v1 grant entry can name are 32 bits wide: the pages must lie below 2^44.
const HIGHEST_ADDRESS: i64 = (1 << 44) - 1;

/// Why the normal instance prepared no dump path.
pub enum ReserveError {
    Interface(LowerError<BusError>),
    NoMemory,
    Prepare(PrepareError),
}

impl core::fmt::Display for ReserveError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ReserveError::Interface(e) => write!(f, "no XENBUS dump interface: {e}"),
            ReserveError::NoMemory => f.write_str("no contiguous memory for the dump pages"),
            ReserveError::Prepare(e) => write!(f, "{e}"),
        }
    }
}

fn stall() {
    // SAFETY: a busy wait, callable at any IRQL in normal and dump mode.
    unsafe { StorPortStallExecution(STALL_US) }
}

/// The normal instance's dump block and the pages under it.
pub struct DumpReserve {
    block: *mut c_void,
    pages: *mut c_void,
}

impl DumpReserve {
    /// Prepares the dump path of the connected vbd `vbd`, asking `lower` (XENBUS's PDO) for the
    /// dump interface.
    ///
    /// # Safety
    /// PASSIVE_LEVEL; `lower` is the device below storport's FDO, referenced.
    pub unsafe fn new(lower: *mut DeviceObject, vbd: Vbd<'_>) -> Result<Self, ReserveError> {
        // SAFETY: the caller's promise; a successful query filled in the table with a reference
        // for us.
        let bus = unsafe {
            query_interface(
                lower,
                (&XENBUS_DUMP_INTERFACE_GUID as *const xenpv_busif::Guid).cast(),
                XENBUS_DUMP_INTERFACE_SIZE,
                XENBUS_DUMP_INTERFACE_VERSION,
                DumpBus::request(),
                |table| DumpBus::from_interface(table),
            )
        }
        .map_err(ReserveError::Interface)?;
        let bytes = DUMP_PAGES * PAGE_SIZE;
        // SAFETY: PASSIVE_LEVEL; freed in `release` (or kept for good if the backend holds it).
        let pages = unsafe {
            MmAllocateContiguousMemorySpecifyCache(bytes, 0, HIGHEST_ADDRESS, 0, MM_CACHED)
        };
        let Some(va) = NonNull::new(pages.cast::<u8>()) else {
            return Err(ReserveError::NoMemory);
        };
        let mut frames = [0u64; DUMP_PAGES];
        for (i, frame) in frames.iter_mut().enumerate() {
            // SAFETY: an address inside the allocation.
            let pa = unsafe { MmGetPhysicalAddress(pages.cast::<u8>().add(i * PAGE_SIZE).cast()) };
            *frame = pa as u64 >> xenpv_abi::PAGE_SHIFT;
        }
        // SAFETY: the allocation is non-paged, `bytes` long, and outlives the block (freed
        // only after `release` ended every grant to it).
        let mem = unsafe { SharedMem::new(va, bytes) };
        match prepare::<SrbBuffer>(Arc::new(bus), vbd, mem, &frames) {
            Ok(block) => Ok(DumpReserve { block, pages }),
            Err(e) => {
                // SAFETY: a failed prepare left no grant to the pages, and nothing else has them.
                unsafe { MmFreeContiguousMemory(pages) };
                Err(ReserveError::Prepare(e))
            }
        }
    }

    /// What HwFindAdapter puts in `MiniportDumpData`.
    pub fn block(&self) -> *mut c_void {
        self.block
    }

    /// HwFreeAdapterResources: ends the grants and frees block and pages — or, if the backend
    /// still maps a page (it never should: only a dump connects the dump ring), keeps both for
    /// good, as freeing them would hand the backend someone else's memory.
    ///
    /// # Safety
    /// Nothing uses the block any more.
    pub unsafe fn release(self) {
        // SAFETY: the caller's promise; the block is the one `prepare` made with SrbBuffer.
        if unsafe { release::<SrbBuffer>(self.block) }.is_ok() {
            // SAFETY: no grant reaches the pages any more.
            unsafe { MmFreeContiguousMemory(self.pages) };
        }
    }
}

/// Dump mode, HwFindAdapter: the prepared path behind storport's `MiniportDumpData`, with the
/// vbd taken over.
///
/// # Safety
/// `block` is what storport passed in dump mode (null, or the normal instance's block).
pub unsafe fn take_over<'a>(
    block: *mut c_void,
) -> Result<&'a mut BusDumpPath<SrbBuffer>, PrepareError> {
    // SAFETY: the caller's promise; storport passes the block back unchanged.
    unsafe { start::<SrbBuffer>(block, TAKE_OVER_ROUNDS, stall) }
}

/// Dump mode, HwStartIo: carries the SRB `handle` (its address) described by `info` to the end.
pub fn run(
    path: &mut BusDumpPath<SrbBuffer>,
    handle: u64,
    info: &SrbInfo,
    buf: Option<SrbBuffer>,
) -> Finished<SrbBuffer> {
    path.run(handle, info, buf, REQUEST_POLLS, stall)
}
