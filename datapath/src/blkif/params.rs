//! What a connection to a block backend works with: the disk as the backend describes it, the
//! features both sides agreed on, and the frontend's own limits.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use xenpv_abi::blkif::{
    BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST, BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_SECTOR_SIZE,
    BLKIF_SEGS_PER_INDIRECT_FRAME,
};
use xenpv_abi::PAGE_SIZE;

/// Most segments an indirect request can carry: 8 indirect pages of 512 descriptors.
pub const MAX_INDIRECT_SEGMENTS: u32 =
    (BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * BLKIF_SEGS_PER_INDIRECT_FRAME) as u32;

/// Discard as the backend offers it (`feature-discard` and its companions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiscardInfo {
    /// `discard-granularity` in bytes (blkif.h: defaults to the sector size).
    pub granularity: u32,
    /// `discard-alignment` in bytes.
    pub alignment: u32,
    /// `discard-secure`: BLKIF_DISCARD_SECURE is honoured.
    pub secure: bool,
}

/// Optional operations and transport features, as negotiated: each is on only if the backend offers
/// it and the frontend wants it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Features {
    /// Both sides wrote `feature-persistent = 1`: data goes through a pool of pages granted once.
    pub persistent: bool,
    /// Segments per indirect request (0: indirect descriptors are not used).
    pub max_indirect_segments: u32,
    /// `feature-flush-cache`.
    pub flush: bool,
    /// `feature-barrier`.
    pub barrier: bool,
    /// `feature-discard`.
    pub discard: Option<DiscardInfo>,
}

/// The disk as the backend describes it. All sector counts are in 512-byte units, as blkif's ring
/// quantities are and as Linux blkback writes `sectors`.
#[derive(Debug)]
pub struct Disk {
    sectors: AtomicU64,
    /// `sector-size`: the logical block size; requests must be aligned to it.
    pub sector_size: u32,
    /// `physical-sector-size`.
    pub physical_sector_size: u32,
    /// `info` has VDISK_READONLY (or `mode` is "r").
    pub read_only: bool,
    /// `info` has VDISK_CDROM.
    pub cdrom: bool,
    /// `info` has VDISK_REMOVABLE.
    pub removable: bool,
}

/// A disk description the data plane cannot work with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskError {
    /// The sector size is not a power of two between 512 and a page.
    SectorSize(u32),
    /// The physical sector size is not a multiple of the logical one.
    PhysicalSectorSize(u32),
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskError::SectorSize(s) => {
                write!(f, "sector size {s} is not a power of two in 512..=4096")
            }
            DiskError::PhysicalSectorSize(s) => {
                write!(
                    f,
                    "physical sector size {s} is not a multiple of the sector size"
                )
            }
        }
    }
}

impl Disk {
    /// Checks the sizes: segments are pages, so a logical sector larger than a page cannot be
    /// carried.
    pub fn new(
        sectors: u64,
        sector_size: u32,
        physical_sector_size: u32,
        read_only: bool,
    ) -> Result<Self, DiskError> {
        if !sector_size.is_power_of_two()
            || !(BLKIF_SECTOR_SIZE as u32..=PAGE_SIZE as u32).contains(&sector_size)
        {
            return Err(DiskError::SectorSize(sector_size));
        }
        if physical_sector_size == 0 || !physical_sector_size.is_multiple_of(sector_size) {
            return Err(DiskError::PhysicalSectorSize(physical_sector_size));
        }
        Ok(Self {
            sectors: AtomicU64::new(sectors),
            sector_size,
            physical_sector_size,
            read_only,
            cdrom: false,
            removable: false,
        })
    }

    /// Size in 512-byte sectors. It can change at any time (online resize).
    pub fn sectors(&self) -> u64 {
        self.sectors.load(Ordering::Acquire)
    }

    /// Online resize: the control plane saw `sectors` change in the backend's directory.
    pub fn resize(&self, sectors: u64) {
        self.sectors.store(sectors, Ordering::Release)
    }

    /// Size in bytes.
    pub fn bytes(&self) -> u64 {
        self.sectors().saturating_mul(BLKIF_SECTOR_SIZE as u64)
    }
}

/// The frontend's own choices for a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// OS requests a queue holds at once (in flight, waiting for the ring, or completed and not yet
    /// collected); a power of two, at least 2.
    pub max_requests: usize,
    /// Upper bound on segments per indirect request the frontend uses (Linux's
    /// `max_indirect_segments`); 0 turns indirect descriptors off whatever the backend offers.
    pub max_indirect_segments: u32,
    /// Pages in the persistent grant pool of one queue. It bounds how many grants the backend
    /// keeps mapped; Linux blkback keeps at most 1056 (`max_persistent_grants`).
    pub pool_pages: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_requests: 64,
            max_indirect_segments: 256,
            pool_pages: 1024,
        }
    }
}

/// Segments one ring request may carry under `features` and `config`.
pub fn segments_per_request(features: &Features, config: &QueueConfig) -> u32 {
    let indirect = features
        .max_indirect_segments
        .min(config.max_indirect_segments)
        .min(MAX_INDIRECT_SEGMENTS);
    indirect.max(BLKIF_MAX_SEGMENTS_PER_REQUEST as u32)
}

/// Indirect pages needed for `segments` segments (0 when they fit in a direct request).
pub fn indirect_pages(segments: u32) -> u32 {
    if segments as usize <= BLKIF_MAX_SEGMENTS_PER_REQUEST {
        0
    } else {
        segments.div_ceil(BLKIF_SEGS_PER_INDIRECT_FRAME as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_sizes_are_checked() {
        assert_eq!(
            Disk::new(8, 256, 256, false).unwrap_err(),
            DiskError::SectorSize(256)
        );
        assert_eq!(
            Disk::new(8, 8192, 8192, false).unwrap_err(),
            DiskError::SectorSize(8192)
        );
        assert_eq!(
            Disk::new(8, 1000, 1000, false).unwrap_err(),
            DiskError::SectorSize(1000)
        );
        assert_eq!(
            Disk::new(8, 4096, 512, false).unwrap_err(),
            DiskError::PhysicalSectorSize(512)
        );
        let d = Disk::new(8, 512, 4096, false).unwrap();
        assert_eq!(d.bytes(), 4096);
        d.resize(16);
        assert_eq!(d.sectors(), 16);
    }

    #[test]
    fn segment_limits_follow_both_sides() {
        let mut f = Features::default();
        let c = QueueConfig::default();
        assert_eq!(
            segments_per_request(&f, &c),
            11,
            "no indirect: direct segments only"
        );
        f.max_indirect_segments = 32;
        assert_eq!(segments_per_request(&f, &c), 32);
        f.max_indirect_segments = 100_000;
        assert_eq!(segments_per_request(&f, &c), 256, "the frontend's cap");
        let off = QueueConfig {
            max_indirect_segments: 0,
            ..c
        };
        assert_eq!(segments_per_request(&f, &off), 11);
        let big = QueueConfig {
            max_indirect_segments: u32::MAX,
            ..c
        };
        assert_eq!(segments_per_request(&f, &big), MAX_INDIRECT_SEGMENTS);
        assert_eq!(indirect_pages(11), 0);
        assert_eq!(indirect_pages(12), 1);
        assert_eq!(indirect_pages(512), 1);
        assert_eq!(indirect_pages(513), 2);
    }
}
