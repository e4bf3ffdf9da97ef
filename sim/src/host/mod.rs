//! The simulated Xen host: guest memory, grant tables and event channels of every domain, and the
//! hypervisor operations a backend in dom0 uses on them (grant map and copy).

mod evtchn;
mod grant_table;
mod memory;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use xenpv_abi::{DomId, GrantRef, PAGE_SIZE};
use xenpv_datapath::shmem::SharedMem;

pub use evtchn::{EventChannels, EvtchnError, Signal};
pub use grant_table::{GrantError, GrantTable, RESERVED_REFS};
pub use memory::FrameTable;

use grant_table::Pinned;

/// Sizes of the simulated host.
#[derive(Clone, Copy, Debug)]
pub struct HostConfig {
    /// Guest frames in the whole host.
    pub frames: usize,
    /// Grant table entries per domain (Xen's default max_grant_frames 64 × 512 v1 entries = 32768).
    pub grant_entries: u32,
    /// Event channel ports per domain.
    pub ports: u32,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            frames: 1 << 18,
            grant_entries: 32768,
            ports: 1024,
        }
    }
}

/// Grant operations done by backends, the numbers blkback's persistent grants exist to cut.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantStats {
    pub maps: u64,
    pub unmaps: u64,
    pub copies: u64,
}

#[derive(Default)]
struct Counters {
    maps: AtomicU64,
    unmaps: AtomicU64,
    copies: AtomicU64,
}

/// One simulated machine.
pub struct Host {
    pub frames: FrameTable,
    pub evtchn: EventChannels,
    /// Indexed by domain id: a grant operation finds its table with one load, no lock and no
    /// hashing (it happens for every page a backend maps or copies).
    grant_tables: Box<[OnceLock<Arc<GrantTable>>]>,
    config: HostConfig,
    counters: Counters,
}

impl Host {
    pub fn new(config: HostConfig) -> Arc<Self> {
        let host = Arc::new(Self {
            frames: FrameTable::new(config.frames),
            evtchn: EventChannels::new(config.ports),
            grant_tables: (0..=DomId::MAX).map(|_| OnceLock::new()).collect(),
            config,
            counters: Counters::default(),
        });
        host.grant_table(0);
        host
    }

    /// The grant table of `dom`, created on first use (a domain's table exists from its creation).
    pub fn grant_table(&self, dom: DomId) -> Arc<GrantTable> {
        self.grant_tables[usize::from(dom)]
            .get_or_init(|| Arc::new(GrantTable::new(self.config.grant_entries)))
            .clone()
    }

    /// The grant table of `front` if it has one (a grant operation on any other is GNTST_bad_gntref).
    fn existing_table(&self, front: DomId) -> Result<&Arc<GrantTable>, GrantError> {
        self.grant_tables[usize::from(front)]
            .get()
            .ok_or(GrantError::BadRef)
    }

    fn pin(
        &self,
        backend: DomId,
        front: DomId,
        gref: GrantRef,
        write: bool,
    ) -> Result<(&Arc<GrantTable>, Pinned, SharedMem), GrantError> {
        let table = self.existing_table(front)?;
        let pinned = table.pin(gref, backend, write)?;
        match self.frames.page(front, pinned.frame) {
            Some(page) => Ok((table, pinned, page)),
            None => {
                table.unpin(pinned);
                Err(GrantError::BadFrame)
            }
        }
    }

    /// GNTTABOP_map_grant_ref: `backend` maps `front`'s page granted by `gref`. The mapping keeps the
    /// grant busy (the front cannot end it) until it is dropped, which is the unmap.
    pub fn map(
        self: &Arc<Self>,
        backend: DomId,
        front: DomId,
        gref: GrantRef,
        write: bool,
    ) -> Result<Mapping, GrantError> {
        let (table, pinned, mem) = self.pin(backend, front, gref, write)?;
        self.counters.maps.fetch_add(1, Ordering::Relaxed);
        Ok(Mapping {
            host: self.clone(),
            table: table.clone(),
            pinned,
            mem,
        })
    }

    /// GNTTABOP_copy from `front`'s granted page into `dst`.
    pub fn copy_from_grant(
        &self,
        backend: DomId,
        front: DomId,
        gref: GrantRef,
        offset: usize,
        dst: &mut [u8],
    ) -> Result<(), GrantError> {
        check_range(offset, dst.len())?;
        let (table, pinned, mem) = self.pin(backend, front, gref, false)?;
        mem.read_data(offset, dst);
        table.unpin(pinned);
        self.counters.copies.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// GNTTABOP_copy from `src` into `front`'s page granted writable by `gref`.
    pub fn copy_to_grant(
        &self,
        backend: DomId,
        front: DomId,
        gref: GrantRef,
        offset: usize,
        src: &[u8],
    ) -> Result<(), GrantError> {
        check_range(offset, src.len())?;
        let (table, pinned, mem) = self.pin(backend, front, gref, true)?;
        mem.write_data(offset, src);
        table.unpin(pinned);
        self.counters.copies.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Grant operations done so far.
    pub fn grant_stats(&self) -> GrantStats {
        GrantStats {
            maps: self.counters.maps.load(Ordering::Relaxed),
            unmaps: self.counters.unmaps.load(Ordering::Relaxed),
            copies: self.counters.copies.load(Ordering::Relaxed),
        }
    }
}

fn check_range(offset: usize, len: usize) -> Result<(), GrantError> {
    match offset.checked_add(len) {
        Some(end) if end <= PAGE_SIZE => Ok(()),
        _ => Err(GrantError::BadRange),
    }
}

/// A backend's mapping of a frontend page; dropping it unmaps.
pub struct Mapping {
    host: Arc<Host>,
    table: Arc<GrantTable>,
    pinned: Pinned,
    mem: SharedMem,
}

impl Mapping {
    /// The mapped page.
    pub fn mem(&self) -> &SharedMem {
        &self.mem
    }

    /// The reference this mapping came from.
    pub fn gref(&self) -> GrantRef {
        self.pinned.gref
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        self.table.unpin(self.pinned);
        self.host.counters.unmaps.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Arc<Host> {
        Host::new(HostConfig {
            frames: 64,
            grant_entries: 64,
            ports: 16,
        })
    }

    #[test]
    fn backend_reaches_only_granted_pages_with_granted_access() {
        let host = small();
        let (mem, gfns) = host.frames.alloc(1, 1).unwrap();
        mem.write_bytes(10, b"hello");
        let ro = host.grant_table(1).grant(0, gfns[0], true).unwrap();
        let mut buf = [0u8; 5];
        host.copy_from_grant(0, 1, ro, 10, &mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        assert_eq!(
            host.copy_to_grant(0, 1, ro, 0, b"x"),
            Err(GrantError::ReadOnly)
        );
        assert_eq!(
            host.copy_from_grant(2, 1, ro, 0, &mut buf),
            Err(GrantError::NotPermitted)
        );
        assert_eq!(
            host.copy_from_grant(0, 1, ro, 4093, &mut buf),
            Err(GrantError::BadRange)
        );
        assert_eq!(host.grant_stats().copies, 1);
    }

    #[test]
    fn a_grant_of_a_foreign_or_freed_frame_is_refused() {
        let host = small();
        let (_mem, theirs) = host.frames.alloc(2, 1).unwrap();
        let stolen = host.grant_table(1).grant(0, theirs[0], false).unwrap();
        assert!(matches!(
            host.map(0, 1, stolen, false),
            Err(GrantError::BadFrame)
        ));
        assert!(
            !host.grant_table(1).in_use(stolen),
            "a refused map leaves no pin behind"
        );
    }

    #[test]
    fn a_mapped_page_cannot_be_ungranted_until_unmapped() {
        let host = small();
        let (mem, gfns) = host.frames.alloc(1, 1).unwrap();
        let table = host.grant_table(1);
        let g = table.grant(0, gfns[0], false).unwrap();
        let map = host.map(0, 1, g, true).unwrap();
        map.mem().write_bytes(0, b"from dom0");
        let mut buf = [0u8; 9];
        mem.read_bytes(0, &mut buf);
        assert_eq!(&buf, b"from dom0");
        assert_eq!(table.end_access(g), Err(GrantError::NotPermitted));
        drop(map);
        assert_eq!(table.end_access(g), Ok(()));
        assert_eq!(
            host.grant_stats(),
            GrantStats {
                maps: 1,
                unmaps: 1,
                copies: 0
            }
        );
    }
}
