//! The cores' platform traits on a child: every call goes through the bus.

use alloc::sync::Arc;
use alloc::vec;
use core::ptr::NonNull;

use xenpv_abi::{DomId, EvtchnPort, PAGE_SIZE};
use xenpv_datapath::platform::{
    Access, EventChannels, GrantedRegion, Grants, PlatformError, StillInUse,
};
use xenpv_datapath::shmem::SharedMem;

use super::Bus;
use crate::error::BusError;
use crate::provider::MAX_REGION_PAGES;

/// What a child hands its netif/blkif cores: datapath's [`Grants`] and [`EventChannels`] (hence
/// `Platform`) over the bus. The rest of the bus (frame grants, binding, callbacks, the clock)
/// is on [`BusPlatform::bus`].
#[derive(Clone, Debug)]
pub struct BusPlatform {
    bus: Arc<Bus>,
}

impl BusPlatform {
    pub fn new(bus: Arc<Bus>) -> Self {
        BusPlatform { bus }
    }

    pub fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }
}

impl Grants for BusPlatform {
    fn grant_region(
        &self,
        domid: DomId,
        pages: usize,
        access: Access,
    ) -> Result<GrantedRegion, PlatformError> {
        // Refused before anything is allocated: the provider would refuse it anyway.
        if pages == 0 || pages > MAX_REGION_PAGES as usize {
            return Err(PlatformError::Invalid);
        }
        let mut grefs = vec![0; pages];
        let region = self.bus.grant_region(domid, access, &mut grefs)?;
        let len = pages.checked_mul(PAGE_SIZE).ok_or(PlatformError::Invalid)?;
        // A provider that answers success without memory, or for another size, is broken: give
        // the region back rather than touch it.
        let Some(va) = NonNull::new(region.va).filter(|_| region.pages as usize == pages) else {
            let _ = self.bus.end_region(region.handle);
            return Err(PlatformError::Invalid);
        };
        // SAFETY: the provider mapped `pages` pages at `va` for us until `end_region`, which only
        // `end_region` below calls, consuming the receipt.
        let mem = unsafe { SharedMem::new(va, len) };
        Ok(GrantedRegion::new(mem, grefs, domid, access, region.handle))
    }

    fn end_region(&self, region: GrantedRegion) -> Result<(), StillInUse> {
        match self.bus.end_region(region.handle()) {
            Err(BusError::StillInUse) => Err(StillInUse(region)),
            // Ended and freed; or the provider does not know the region (then it is not ours to
            // free or reuse either, and the receipt is all there is to drop).
            _ => Ok(()),
        }
    }
}

// The trait has no error path for these; a failure means the port is not ours, which the cores
// never do.
impl EventChannels for BusPlatform {
    fn alloc_unbound(&self, remote: DomId) -> Result<EvtchnPort, PlatformError> {
        Ok(self.bus.alloc_unbound(remote)?)
    }

    fn notify(&self, port: EvtchnPort) {
        let _ = self.bus.notify(port);
    }

    fn unmask(&self, port: EvtchnPort) {
        let _ = self.bus.unmask(port);
    }

    fn close(&self, port: EvtchnPort) {
        let _ = self.bus.close(port);
    }
}
