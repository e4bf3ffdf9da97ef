//! The dump path on XENBUS's dump interface: the reserved grants and event channels of
//! [`crate::dump`] served by [`DumpBus`], the path prepared in normal mode (everything that
//! allocates) and started in dump mode (the polled take-over, which does not).

use alloc::sync::Arc;
use core::ffi::c_void;
use core::fmt;
use core::ops::Range;

use xenpv_abi::{DomId, EvtchnPort, GrantRef};
use xenpv_busif::dump::{DumpBus, DumpBusError};
use xenpv_datapath::blkif::{Disk as BlkDisk, Features, RingInfo};
use xenpv_datapath::platform::{EventChannels, PlatformError};
use xenpv_datapath::shmem::SharedMem;

use crate::dump::{DumpError, DumpPath, DumpPlatform, ReservedGrants};
use crate::dump_data::{DumpData, DumpDataError, Handshake, StorePath};
use crate::dump_store::{take_over, DumpStoreError};

/// The dump interface as the dump platform's grants and event channels.
#[derive(Clone)]
pub struct DumpServices(pub Arc<DumpBus>);

fn platform_error(e: DumpBusError) -> PlatformError {
    match e {
        DumpBusError::Bus(b) => b.into(),
        DumpBusError::NotReserved(_) | DumpBusError::Timeout | DumpBusError::Busy => {
            PlatformError::Invalid
        }
    }
}

impl ReservedGrants for DumpServices {
    fn reserved(&self) -> Range<GrantRef> {
        self.0.reserved()
    }

    fn grant_at(
        &self,
        r: GrantRef,
        domid: DomId,
        frame: u64,
        readonly: bool,
    ) -> Result<(), PlatformError> {
        self.0
            .grant_reserved(r, domid, frame, readonly)
            .map_err(platform_error)
    }
}

impl EventChannels for DumpServices {
    fn alloc_unbound(&self, remote: DomId) -> Result<EvtchnPort, PlatformError> {
        self.0.alloc_unbound(remote).map_err(platform_error)
    }

    fn notify(&self, port: EvtchnPort) {
        // A failed notify only delays the backend; the dump path polls and gives up in time.
        let _ = self.0.notify(port);
    }

    /// Nothing waits for events in dump mode.
    fn unmask(&self, _port: EvtchnPort) {}

    fn close(&self, port: EvtchnPort) {
        let _ = self.0.close(port);
    }
}

/// The dump path over the dump interface, with buffers `B`.
pub type BusDumpPath<B> = DumpPath<DumpServices, DumpServices, B>;

/// What the normal instance prepares: the interface, the path built on it, and the reserved
/// references its pages are granted through.
pub struct Prepared<B> {
    pub bus: Arc<DumpBus>,
    pub path: BusDumpPath<B>,
    pub refs: Range<GrantRef>,
}

/// The block type of `MiniportDumpData`.
pub type BusDumpData<B> = DumpData<Prepared<B>>;

/// Why the dump path could not be prepared or started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrepareError {
    Path(DumpError),
    /// A store path too long for the block.
    StorePath,
    Data(DumpDataError),
    Store(DumpStoreError),
}

impl fmt::Display for PrepareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrepareError::Path(e) => write!(f, "dump path: {e}"),
            PrepareError::StorePath => f.write_str("store path too long for the dump data"),
            PrepareError::Data(e) => write!(f, "{e}"),
            PrepareError::Store(e) => write!(f, "{e}"),
        }
    }
}

/// What the normal instance knows of its vbd, for the dump path.
pub struct Vbd<'a> {
    pub backend_domain: DomId,
    pub vdev: u16,
    pub frontend: &'a str,
    pub backend: &'a str,
    pub disk: Arc<BlkDisk>,
    /// What the backend offers (flush, barrier, discard).
    pub features: Features,
}

/// Normal mode: grants `mem` (pages `frames`) through the reserved references, builds the
/// dump queue and miniport over them and returns the block for `MiniportDumpData`. On failure
/// no reserved reference is left granted, so the caller may free the pages.
pub fn prepare<B>(
    bus: Arc<DumpBus>,
    vbd: Vbd<'_>,
    mem: SharedMem,
    frames: &[u64],
) -> Result<*mut c_void, PrepareError>
where
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    let frontend = StorePath::new(vbd.frontend).ok_or(PrepareError::StorePath)?;
    let backend = StorePath::new(vbd.backend).ok_or(PrepareError::StorePath)?;
    let first = bus.reserved().start;
    let built = build::<B>(&bus, vbd, mem, frames);
    let (path, ring, refs) = match built {
        Ok(built) => built,
        Err(e) => {
            // Whatever was granted before the failure goes back (a reference the range does
            // not have was never granted, hence the ignored refusals).
            for r in first..first.saturating_add(frames.len() as GrantRef) {
                let _ = bus.end_reserved(r);
            }
            return Err(PrepareError::Path(e));
        }
    };
    let handshake = Handshake {
        frontend,
        backend,
        ring_ref: ring.grefs[0],
        port: ring.port,
    };
    Ok(DumpData::into_raw(handshake, Prepared { bus, path, refs }))
}

type Built<B> = (BusDumpPath<B>, RingInfo, Range<GrantRef>);

fn build<B>(
    bus: &Arc<DumpBus>,
    vbd: Vbd<'_>,
    mem: SharedMem,
    frames: &[u64],
) -> Result<Built<B>, DumpError>
where
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    let services = DumpServices(bus.clone());
    let platform = DumpPlatform::new(services.clone(), services, vbd.backend_domain, mem, frames)?;
    let refs = platform.refs();
    let (path, ring) =
        BusDumpPath::<B>::connect(Arc::new(platform), vbd.disk, vbd.vdev, vbd.features)?;
    Ok((path, ring, refs))
}

/// Dump mode: the block storport passed, checked, with the vbd taken over by the prepared ring
/// (`between` and `rounds` as [`take_over`]'s). Allocates nothing.
///
/// # Safety
/// As [`DumpData::from_raw`].
pub unsafe fn start<'a, B>(
    ptr: *mut c_void,
    rounds: u32,
    between: impl FnMut(),
) -> Result<&'a mut BusDumpPath<B>, PrepareError>
where
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    // SAFETY: the caller's promise.
    let data = unsafe { BusDumpData::<B>::from_raw(ptr) }.map_err(PrepareError::Data)?;
    take_over(&data.path.bus, &data.handshake, rounds, between).map_err(PrepareError::Store)?;
    Ok(&mut data.path.path)
}

/// Normal mode, when the adapter goes: takes the backend's access to the dump pages away and
/// frees the block. While the backend still maps a page the block is kept (`Err`): the caller
/// must then keep the pages too.
///
/// # Safety
/// `ptr` came from [`prepare`] with this `B`, and nothing else uses the block.
pub unsafe fn release<B>(ptr: *mut c_void) -> Result<(), DumpBusError>
where
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    // SAFETY: the caller's promise.
    let data = unsafe { BusDumpData::<B>::from_raw(ptr) }
        .map_err(|_| DumpBusError::Bus(xenpv_busif::BusError::InvalidParameter))?;
    let prepared = &data.path;
    // Every reference is tried, so that one still mapped does not keep the others granted.
    let ended = prepared
        .refs
        .clone()
        .map(|r| prepared.bus.end_reserved(r))
        .fold(Ok(()), Result::and);
    ended?;
    // SAFETY: the caller's promise; no reference into the block is used after this.
    unsafe { BusDumpData::<B>::free(ptr) };
    Ok(())
}
