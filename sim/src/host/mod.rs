//! The simulated Xen host: guest memory, grant tables and event channels of every domain, and the
//! hypervisor operations a backend in dom0 uses on them (grant map and copy).

mod evtchn;
mod grant_table;
mod memory;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arrayvec::ArrayVec;
use xenpv_abi::netif::XEN_NETIF_NR_SLOTS_MIN;
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
        match self.frames.page(front, u64::from(pinned.frame)) {
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
        self.copy_one(backend, front, gref, false, |mem| {
            mem.read_data(offset, dst)
        })
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
        self.copy_one(backend, front, gref, true, |mem| {
            mem.write_data(offset, src)
        })
    }

    /// One copy through `gref`, pinned for just that (the common case of one operation needs
    /// none of a batch's bookkeeping).
    fn copy_one(
        &self,
        backend: DomId,
        front: DomId,
        gref: GrantRef,
        write: bool,
        copy: impl FnOnce(&SharedMem),
    ) -> Result<(), GrantError> {
        let (table, pinned, mem) = self.pin(backend, front, gref, write)?;
        copy(&mem);
        table.unpin(pinned);
        self.counters.copies.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// GNTTABOP_copy with an array of operations, each into a page `front` granted writable.
    /// As Xen keeps the last buffer it claimed across the operations of one call, consecutive
    /// operations on the same reference pin it once. Stops at the first operation that fails
    /// (what came before it stays copied) and returns its error.
    pub fn copy_to_grants(
        &self,
        backend: DomId,
        front: DomId,
        ops: &[CopyOp<'_>],
    ) -> Result<(), GrantError> {
        let mut claimed: Option<(&Arc<GrantTable>, Pinned, SharedMem)> = None;
        let mut result = Ok(());
        let mut copied = 0u64;
        for op in ops {
            let len = op.src.len();
            if let Err(e) = check_range(op.offset, len) {
                result = Err(e);
                break;
            }
            if claimed.as_ref().is_none_or(|(_, p, _)| p.gref != op.gref) {
                if let Some((table, pinned, _)) = claimed.take() {
                    table.unpin(pinned);
                }
                match self.pin(backend, front, op.gref, true) {
                    Ok(c) => claimed = Some(c),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            let (_, _, mem) = claimed.as_ref().expect("claimed above");
            match &op.src {
                CopySource::Local(bytes) => mem.write_data(op.offset, bytes),
                CopySource::Held {
                    mem: src,
                    offset,
                    len,
                } => mem.copy_from_shared(op.offset, src, *offset, *len),
            }
            copied += 1;
        }
        if let Some((table, pinned, _)) = claimed {
            table.unpin(pinned);
        }
        self.counters.copies.fetch_add(copied, Ordering::Relaxed);
        result
    }

    /// An empty set of `front`'s pages for `backend` to map with [`HeldPages::hold`]; a backend
    /// keeps these and reuses them, so that mapping costs no allocation.
    pub fn held_pages(self: &Arc<Self>, backend: DomId, front: DomId) -> HeldPages {
        HeldPages {
            host: self.clone(),
            backend,
            front,
            pages: ArrayVec::new(),
        }
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

/// Where the bytes of one grant copy into a frontend's page come from.
#[derive(Clone)]
pub enum CopySource<'a> {
    /// The backend's own memory.
    Local(&'a [u8]),
    /// `len` bytes at `offset` of a page the backend holds (another guest's grant: Xen copies
    /// grant to grant).
    Held {
        mem: SharedMem,
        offset: usize,
        len: usize,
    },
}

impl CopySource<'_> {
    /// Bytes it provides.
    pub fn len(&self) -> usize {
        match *self {
            CopySource::Local(b) => b.len(),
            CopySource::Held { len, .. } => len,
        }
    }

    /// Whether it provides no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `n` bytes, and the rest if there is any.
    pub fn split(self, n: usize) -> (Self, Option<Self>) {
        if n >= self.len() {
            return (self, None);
        }
        match self {
            CopySource::Local(b) => (CopySource::Local(&b[..n]), Some(CopySource::Local(&b[n..]))),
            CopySource::Held { mem, offset, len } => (
                CopySource::Held {
                    mem: mem.clone(),
                    offset,
                    len: n,
                },
                Some(CopySource::Held {
                    mem,
                    offset: offset + n,
                    len: len - n,
                }),
            ),
        }
    }
}

/// One operation of [`Host::copy_to_grants`]: the source's bytes go to `offset` in the page
/// granted by `gref`.
#[derive(Clone)]
pub struct CopyOp<'a> {
    pub src: CopySource<'a>,
    pub gref: GrantRef,
    pub offset: usize,
}

/// Most pages one [`HeldPages`] holds: the data slots of a transmit packet netback accepts (a
/// first slot and XEN_NETIF_NR_SLOTS_MIN more).
pub const MAX_HELD: usize = XEN_NETIF_NR_SLOTS_MIN as usize + 1;

/// Pages of one frontend that a backend holds mapped ([`Host::held_pages`]); releasing or
/// dropping it unmaps them all.
pub struct HeldPages {
    host: Arc<Host>,
    backend: DomId,
    front: DomId,
    /// Only what unpinning needs, kept small because a packet's worth moves through netback.
    pages: ArrayVec<Pinned, MAX_HELD>,
}

impl HeldPages {
    /// GNTTABOP_map_grant_ref with an array: maps every page that `grefs` grant, all or none,
    /// after releasing what was held before. The frontend cannot end these grants until they
    /// are released.
    pub fn hold(
        &mut self,
        grefs: impl IntoIterator<Item = GrantRef>,
        write: bool,
    ) -> Result<(), GrantError> {
        self.release();
        for gref in grefs {
            let pinned = if self.pages.is_full() {
                Err(GrantError::TooManyPins)
            } else {
                self.host.pin(self.backend, self.front, gref, write)
            };
            match pinned {
                Ok((_, pinned, _)) => self.pages.push(pinned),
                Err(e) => {
                    self.unpin_all();
                    return Err(e);
                }
            }
        }
        let n = self.pages.len() as u64;
        self.host.counters.maps.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    /// Unmaps every page held.
    pub fn release(&mut self) {
        let n = self.unpin_all();
        if n > 0 {
            self.host.counters.unmaps.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn unpin_all(&mut self) -> u64 {
        if self.pages.is_empty() {
            return 0;
        }
        let table = self
            .host
            .existing_table(self.front)
            .expect("a table with pinned entries exists");
        let n = self.pages.len() as u64;
        for pinned in self.pages.drain(..) {
            table.unpin(pinned);
        }
        n
    }

    /// Page `i` in the order its reference was given.
    pub fn page(&self, i: usize) -> SharedMem {
        self.host
            .frames
            .page(self.front, u64::from(self.pages[i].frame))
            .expect("a frame stays its owner's while a grant of it is pinned")
    }

    /// Number of pages held.
    pub fn len(&self) -> usize {
        self.pages.len()
    }

    /// Whether no page is held.
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }
}

impl Drop for HeldPages {
    fn drop(&mut self) {
        self.release();
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

    /// A batch of copies pins a run of operations on one reference once, copies grant to grant,
    /// and stops at the first operation that fails.
    #[test]
    fn batched_copies_go_grant_to_grant_and_stop_at_a_bad_operation() {
        let host = small();
        let (src_mem, src_gfns) = host.frames.alloc(1, 1).unwrap();
        src_mem.write_data(0, b"0123456789");
        let src = host.grant_table(1).grant(0, src_gfns[0], true).unwrap();
        let (dst_mem, dst_gfns) = host.frames.alloc(2, 1).unwrap();
        let dst = host.grant_table(2).grant(0, dst_gfns[0], false).unwrap();
        let mut held = host.held_pages(0, 1);
        held.hold([src], false).unwrap();
        let page = held.page(0);
        let ops = [
            CopyOp {
                src: CopySource::Held {
                    mem: page.clone(),
                    offset: 2,
                    len: 5,
                },
                gref: dst,
                offset: 100,
            },
            CopyOp {
                src: CopySource::Local(b"xy"),
                gref: dst,
                offset: 105,
            },
        ];
        host.copy_to_grants(0, 2, &ops).unwrap();
        let mut out = [0u8; 7];
        dst_mem.read_data(100, &mut out);
        assert_eq!(&out, b"23456xy");
        assert_eq!(host.grant_stats().copies, 2);
        let bad = [
            CopyOp {
                src: CopySource::Local(b"ok"),
                gref: dst,
                offset: 0,
            },
            CopyOp {
                src: CopySource::Local(b"no"),
                gref: dst,
                offset: PAGE_SIZE - 1,
            },
            CopyOp {
                src: CopySource::Local(b"never"),
                gref: dst,
                offset: 10,
            },
        ];
        assert_eq!(host.copy_to_grants(0, 2, &bad), Err(GrantError::BadRange));
        let mut out = [0u8; 5];
        dst_mem.read_data(10, &mut out);
        assert_eq!(out, [0; 5], "nothing after the failure is copied");
        assert!(!host.grant_table(2).in_use(dst), "no pin left behind");
        assert_eq!(host.grant_stats().copies, 3);
    }

    /// Holding maps every page or none, keeps the grants from being ended while held, and
    /// releasing (or dropping) unmaps them.
    #[test]
    fn held_pages_are_all_or_none_and_block_ending_until_released() {
        let host = small();
        let (_mem, gfns) = host.frames.alloc(1, 2).unwrap();
        let table = host.grant_table(1);
        let a = table.grant(0, gfns[0], true).unwrap();
        let b = table.grant(0, gfns[1], true).unwrap();
        let mut held = host.held_pages(0, 1);
        assert_eq!(held.hold([a, b], true), Err(GrantError::ReadOnly));
        assert!(
            held.is_empty() && !table.in_use(a),
            "a failed hold keeps nothing"
        );
        assert_eq!(held.hold([a, 9999], false), Err(GrantError::BadRef));
        assert!(!table.in_use(a));
        held.hold([a, b], false).unwrap();
        assert_eq!(held.len(), 2);
        assert_eq!(table.end_access(b), Err(GrantError::NotPermitted));
        held.release();
        assert_eq!(table.end_access(b), Ok(()));
        held.hold([a], false).unwrap();
        drop(held);
        assert_eq!(table.end_access(a), Ok(()));
        let stats = host.grant_stats();
        assert_eq!((stats.maps, stats.unmaps), (3, 3));
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
