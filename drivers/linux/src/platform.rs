//! The Linux guest's user-space platform: grants from gntalloc, event channels from evtchn.

use xenpv_abi::{DomId, EvtchnPort};
use xenpv_datapath::platform::{
    Access, EventChannels, GrantedRegion, Grants, PlatformError, StillInUse,
};

use crate::evtchn::Evtchn;
use crate::gntalloc::Gntalloc;

/// Both device files, as the one `Platform` a core is given.
#[derive(Debug)]
pub struct LinuxPlatform {
    pub grants: Gntalloc,
    pub evtchn: Evtchn,
}

impl LinuxPlatform {
    pub fn open() -> std::io::Result<Self> {
        Ok(LinuxPlatform {
            grants: Gntalloc::open()?,
            evtchn: Evtchn::open()?,
        })
    }
}

impl Grants for LinuxPlatform {
    fn grant_region(
        &self,
        domid: DomId,
        pages: usize,
        access: Access,
    ) -> Result<GrantedRegion, PlatformError> {
        self.grants.grant_region(domid, pages, access)
    }

    fn end_region(&self, region: GrantedRegion) -> Result<(), StillInUse> {
        self.grants.end_region(region)
    }
}

impl EventChannels for LinuxPlatform {
    fn alloc_unbound(&self, remote: DomId) -> Result<EvtchnPort, PlatformError> {
        self.evtchn.alloc_unbound(remote)
    }

    fn notify(&self, port: EvtchnPort) {
        self.evtchn.notify(port)
    }

    fn unmask(&self, port: EvtchnPort) {
        self.evtchn.unmask(port)
    }

    fn close(&self, port: EvtchnPort) {
        self.evtchn.close(port)
    }
}
