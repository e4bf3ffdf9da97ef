//! The dump interface over the simulated host (feature `sim`): the sim guest as XENBUS's home
//! for the dump path. References are set aside at start of day as drivers/xen does (the sim's
//! allocator hands out the lowest free ones first, so on a fresh guest they are 8 and up), and
//! the store ring is polled directly.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use xenpv_abi::{DomId, EvtchnPort, GrantRef, DOMID_SELF};
use xenpv_datapath::platform::{EventChannels, PlatformError};
use xenpv_datapath::shmem::SharedMem;
use xenpv_sim::guest::SimPlatform;
use xenpv_sim::host::{GrantError, GrantTable};

use crate::dump::{DumpBus, DumpHost, DumpProvider};
use crate::error::BusError;
use crate::sim::SimBus;

/// The sim guest's dump services.
pub struct SimDumpHome {
    platform: Arc<SimPlatform>,
    table: Arc<GrantTable>,
    reserved: Range<GrantRef>,
    store: SharedMem,
    store_port: EvtchnPort,
}

/// Why the references could not be set aside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReserveError {
    Grant(GrantError),
    /// The guest had already granted something: the range would not be contiguous.
    NotFresh(GrantRef),
}

impl SimDumpHome {
    /// Sets aside `count` references of `bus`'s guest, which must not have granted anything yet.
    pub fn new(bus: &SimBus, count: u32) -> Result<SimDumpHome, ReserveError> {
        let platform = bus.guest.platform().clone();
        let table = platform.host().grant_table(platform.domid());
        let mut reserved: Option<Range<GrantRef>> = None;
        for _ in 0..count {
            // Held by the guest itself until the dump path points it somewhere.
            let r = table
                .grant(DOMID_SELF, 0, true)
                .map_err(ReserveError::Grant)?;
            reserved = match reserved {
                None => Some(r..r + 1),
                Some(range) if range.end == r => Some(range.start..r + 1),
                Some(_) => return Err(ReserveError::NotFresh(r)),
            };
        }
        let (store, store_port) = bus.guest.store_ring();
        Ok(SimDumpHome {
            platform,
            table,
            reserved: reserved.unwrap_or(0..0),
            store,
            store_port,
        })
    }

    /// The guest's grant table (to watch what the dump path grants).
    pub fn grant_table(&self) -> &Arc<GrantTable> {
        &self.table
    }
}

impl DumpHost for SimDumpHome {
    fn reserved_refs(&self) -> Range<GrantRef> {
        self.reserved.clone()
    }

    fn grant_reserved(
        &self,
        gref: GrantRef,
        domid: DomId,
        gfn: u64,
        readonly: bool,
    ) -> Result<(), BusError> {
        self.table
            .rewrite(gref, domid, gfn, readonly)
            .map_err(|e| match e {
                GrantError::NotPermitted => BusError::StillInUse,
                _ => BusError::InvalidParameter,
            })
    }

    /// Back to the placeholder the reference was set aside with: the guest's own, read-only.
    fn end_reserved(&self, gref: GrantRef) -> Result<(), BusError> {
        self.grant_reserved(gref, DOMID_SELF, 0, true)
    }

    fn alloc_unbound(&self, remote: DomId) -> Result<EvtchnPort, PlatformError> {
        self.platform.alloc_unbound(remote)
    }

    fn notify(&self, port: EvtchnPort) {
        self.platform.notify(port)
    }

    fn close(&self, port: EvtchnPort) {
        self.platform.close(port)
    }

    fn store_page(&self) -> &SharedMem {
        &self.store
    }

    fn store_kick(&self) {
        self.platform.notify(self.store_port)
    }

    fn stall(&self) {
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// The dump provider over the sim.
pub type SimDumpProvider = DumpProvider<SimDumpHome>;

/// What a child gets from the dump provider (the provider must outlive it).
pub fn dump_child(provider: &Arc<SimDumpProvider>) -> DumpBus {
    // SAFETY: the provider is in an Arc the caller keeps for the child's life.
    unsafe { DumpBus::from_interface(provider.interface()) }.unwrap()
}
