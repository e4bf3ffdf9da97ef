//! A block backend that behaves like Linux's xen-blkback, strict about what it accepts.
//!
//! One [`BackQueue`] per ring, each of which can run on its own thread (as blkback runs one kthread
//! per ring). It validates every request as blkback does — segment counts, `first_sect` /
//! `last_sect`, alignment to the logical sector size, sector ranges against the disk size, the
//! contents of indirect pages, access to every grant — and answers what it refuses with
//! BLKIF_RSP_ERROR, or BLKIF_RSP_EOPNOTSUPP for operations it does not offer.
//!
//! Grants: with persistent grants negotiated, each data or indirect page is mapped once (writable,
//! blkif.h note 8) and kept, up to `max_pgrants` mappings per ring (blkback's
//! `max_persistent_grants`, 1056 by default); past that, pages are mapped for the request only,
//! and a periodic purge unmaps kept mappings no request used lately (blkback's LRU), so the kept
//! set follows the pages the frontend uses.
//! Without persistent grants every page is mapped for one request, with the access that request
//! needs, and unmapped when it is answered. The host counts every map and unmap.

mod mapped_ring;
pub mod pair;
mod queue;
mod storage;
pub mod verify;
pub mod xenstore;
pub mod xs_disk;

pub use mapped_ring::MappedRing;
pub use queue::{BackError, BackQueue, BackStats, PURGE_INTERVAL};
pub use storage::{FileDisk, MemDisk, Storage};

use std::fmt;
use std::sync::{Arc, Mutex};

use xenpv_abi::blkif::{VDISK_CDROM, VDISK_READONLY, VDISK_REMOVABLE};
use xenpv_abi::{DomId, EvtchnPort, GrantRef};
use xenpv_control::vbd::{BackendOffer, DiskProps, FrontendVbd};
use xenpv_datapath::blkif::DiscardInfo;

use crate::host::{EvtchnError, GrantError, Host};

/// What the backend offers, and the disk it serves. Defaults follow Linux blkback.
#[derive(Clone, Debug)]
pub struct BackendConfig {
    /// The backend's domain.
    pub backend_dom: DomId,
    /// The frontend's domain.
    pub front_dom: DomId,
    /// `max-ring-page-order` (Linux: `xen_blkif_max_ring_order`, 4).
    pub max_ring_page_order: u32,
    /// `multi-queue-max-queues` (Linux: the number of online CPUs).
    pub max_queues: u32,
    /// `feature-persistent`.
    pub persistent: bool,
    /// Persistent mappings kept per ring.
    pub max_pgrants: usize,
    /// `feature-max-indirect-segments` (0: indirect requests are not offered).
    pub max_indirect_segments: u32,
    /// `feature-flush-cache`.
    pub flush: bool,
    /// `feature-barrier`.
    pub barrier: bool,
    /// `feature-discard` with its parameters.
    pub discard: Option<DiscardInfo>,
    /// `sector-size`.
    pub sector_size: u32,
    /// `physical-sector-size`.
    pub physical_sector_size: u32,
    /// `mode = "r"`: writes are refused.
    pub read_only: bool,
    /// VDISK_CDROM in `info`.
    pub cdrom: bool,
    /// VDISK_REMOVABLE in `info`.
    pub removable: bool,
}

impl Default for BackendConfig {
    fn default() -> Self {
        Self {
            backend_dom: 0,
            front_dom: 1,
            max_ring_page_order: 4,
            max_queues: 4,
            persistent: true,
            max_pgrants: 1056,
            max_indirect_segments: 256,
            flush: true,
            barrier: true,
            discard: Some(DiscardInfo {
                granularity: 4096,
                alignment: 0,
                secure: true,
            }),
            sector_size: 512,
            physical_sector_size: 4096,
            read_only: false,
            cdrom: false,
            removable: false,
        }
    }
}

impl BackendConfig {
    /// The features and transport limits this backend advertises.
    pub fn offer(&self) -> BackendOffer {
        BackendOffer {
            max_ring_page_order: self.max_ring_page_order,
            max_queues: self.max_queues,
            persistent: self.persistent,
            max_indirect_segments: self.max_indirect_segments,
            flush: self.flush,
            barrier: self.barrier,
            discard: self.discard,
        }
    }

    /// The disk properties it publishes once connected, for a disk of `sectors` sectors.
    pub fn disk_props(&self, sectors: u64) -> DiskProps {
        let info = [
            (self.read_only, VDISK_READONLY),
            (self.cdrom, VDISK_CDROM),
            (self.removable, VDISK_REMOVABLE),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |acc, (_, bit)| acc | bit);
        DiskProps {
            sectors,
            sector_size: self.sector_size,
            physical_sector_size: self.physical_sector_size,
            info,
        }
    }
}

/// Why the backend could not connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// `ring-page-order` above what we offered.
    RingOrder(u32),
    /// Zero queues or more than offered.
    Queues(usize),
    /// A queue's number of ring references does not match the ring order.
    RingRefs { queue: usize, refs: usize },
    /// A ring page could not be mapped.
    Map(GrantRef, GrantError),
    /// The event channel could not be bound.
    Evtchn(EvtchnPort, EvtchnError),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::RingOrder(o) => write!(f, "ring-page-order {o} above the maximum"),
            ConnectError::Queues(n) => write!(f, "{n} queues requested"),
            ConnectError::RingRefs { queue, refs } => {
                write!(
                    f,
                    "queue {queue}: {refs} ring references for the ring order"
                )
            }
            ConnectError::Map(g, e) => write!(f, "cannot map ring grant {g}: {e:?}"),
            ConnectError::Evtchn(p, e) => write!(f, "cannot bind event channel {p}: {e:?}"),
        }
    }
}

/// The storage shared by every ring of a disk.
pub type SharedStorage = Arc<Mutex<dyn Storage>>;

/// Wraps a storage for sharing between rings.
pub fn shared(storage: impl Storage + 'static) -> SharedStorage {
    Arc::new(Mutex::new(storage))
}

/// A connected backend: one queue per frontend ring.
pub struct BlkBack {
    pub queues: Vec<BackQueue>,
}

impl BlkBack {
    /// Maps the frontend's rings and binds its event channels, as blkback's `connect_ring` does.
    pub fn connect(
        host: &Arc<Host>,
        config: &BackendConfig,
        storage: SharedStorage,
        front: &FrontendVbd,
    ) -> Result<Self, ConnectError> {
        if front.ring_order > config.max_ring_page_order {
            return Err(ConnectError::RingOrder(front.ring_order));
        }
        let n = front.queues.len();
        if n == 0 || n > config.max_queues as usize {
            return Err(ConnectError::Queues(n));
        }
        let config = Arc::new(config.clone());
        let queues = front
            .queues
            .iter()
            .enumerate()
            .map(|(i, (refs, port))| {
                if refs.len() != 1 << front.ring_order {
                    return Err(ConnectError::RingRefs {
                        queue: i,
                        refs: refs.len(),
                    });
                }
                BackQueue::connect(
                    host,
                    config.clone(),
                    storage.clone(),
                    refs,
                    *port,
                    front.persistent && config.persistent,
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { queues })
    }

    /// Serves every queue until none has a request left.
    pub fn service(&mut self) -> Result<usize, BackError> {
        let mut n = 0;
        for q in &mut self.queues {
            n += q.service()?;
        }
        Ok(n)
    }

    /// Persistent mappings held over all rings.
    pub fn persistent_grants(&self) -> usize {
        self.queues.iter().map(|q| q.persistent_grants()).sum()
    }
}
