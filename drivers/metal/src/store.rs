//! xenstore from the bare-metal guest: the ring page the domain builder set up (start_info
//! store_mfn / store_evtchn) driven by the control crate's client, unchanged.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ptr::NonNull;

use xenpv_abi::shared_info::StartInfo;
use xenpv_abi::PAGE_SIZE;
use xenpv_control::xs::client::{Client, Error, RingSignal, RingTransport, Store};
use xenpv_datapath::shmem::SharedMem;
use xenpv_xen::hypercall::Page;
use xenpv_xen::{pv, Xen};

use crate::boot;

/// The store's event channel. No event delivery is set up, so waiting is a yield to dom0 and a
/// fresh look at the ring — which cannot lose a kick, as it never sleeps on one.
pub struct Signal {
    xen: Xen<Page>,
    port: u32,
}

impl RingSignal for Signal {
    fn notify(&self) {
        let _ = self.xen.send(self.port);
    }

    fn wait(&self) {
        let _ = self.xen.sched_yield();
    }
}

pub type StoreClient = Client<RingTransport<Signal>>;

/// Why the store could not be used.
#[derive(Debug)]
pub enum StoreError {
    Start(pv::StartError),
    Xs(Error),
}

impl core::fmt::Display for StoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StoreError::Start(e) => write!(f, "store ring page: {e:?}"),
            StoreError::Xs(e) => write!(f, "store ring: {e:?}"),
        }
    }
}

/// A client on the domain's xenstore ring.
pub fn connect(si: &StartInfo) -> Result<StoreClient, StoreError> {
    let pfn = pv::pfn_of(crate::steps::p2m(si), si.store_mfn).map_err(StoreError::Start)?;
    let page = pv::virt_of(boot::VIRT_BASE, pfn) as *mut u8;
    // SAFETY: the store ring page is in the boot mapping at VIRT_BASE + pfn * 4096 (xen.h start of
    // day), stays mapped for good, and is used through this one client only.
    let mem = unsafe {
        SharedMem::new(
            NonNull::new(page)
                .ok_or(StoreError::Start(pv::StartError::NotOurFrame(si.store_mfn)))?,
            PAGE_SIZE,
        )
    };
    let signal = Signal {
        xen: Xen::new(boot::hypercalls()),
        port: si.store_evtchn,
    };
    let transport = RingTransport::new(mem, signal).map_err(StoreError::Xs)?;
    Ok(Client::new(transport))
}

/// One front device as the toolstack described it.
pub struct Device {
    pub path: String,
    pub backend: String,
    pub backend_id: String,
    pub state: String,
}

/// The devices of `kind` (vif, vbd) under our `device/` directory.
pub fn devices(c: &mut StoreClient, kind: &str) -> Result<Vec<Device>, Error> {
    let mut out = Vec::new();
    for id in c.directory(&format!("device/{kind}"))? {
        let path = format!("device/{kind}/{id}");
        out.push(Device {
            backend: c.read_string(&format!("{path}/backend"))?,
            backend_id: c.read_string(&format!("{path}/backend-id"))?,
            state: c.read_string(&format!("{path}/state"))?,
            path,
        });
    }
    Ok(out)
}
