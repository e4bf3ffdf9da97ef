//! The disk as SCSI presents it, built from the vbd's negotiated xenstore values.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use xenpv_abi::blkif::BLKIF_SECTOR_SIZE;
use xenpv_abi::PAGE_SIZE;

use super::identity::Identity;
use super::sense::Sense;

const SECTOR: u32 = BLKIF_SECTOR_SIZE as u32;

/// `feature-discard = 1` and its companions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiscardParams {
    /// `discard-granularity` in bytes; 0 when the key is absent (blkif.h: the sector size then).
    pub granularity: u32,
    /// `discard-alignment` in bytes (0 when absent).
    pub alignment: u32,
}

/// What the backend's directory and the negotiation said, before validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskParams {
    /// `sectors`: size in 512-byte units, whatever the logical block size.
    pub sectors: u64,
    /// `sector-size`: the logical block size SCSI addresses.
    pub sector_size: u32,
    /// `physical-sector-size` (the caller substitutes `sector-size` when the key is absent).
    pub physical_sector_size: u32,
    /// `info` has VDISK_READONLY or `mode` is "r".
    pub read_only: bool,
    /// `info` has VDISK_REMOVABLE.
    pub removable: bool,
    /// `info` has VDISK_CDROM. Reported as removable media; MMC commands are not translated.
    pub cdrom: bool,
    /// `feature-flush-cache`.
    pub flush_cache: bool,
    /// `feature-barrier`.
    pub barrier: bool,
    /// `feature-discard`.
    pub discard: Option<DiscardParams>,
    /// Data segments one request may carry (11 direct, or the negotiated indirect count): a
    /// transfer is at most this many pages.
    pub max_segments: u32,
}

/// Values the translation cannot present consistently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskError {
    /// `sector-size` is not a power of two in 512..=4096.
    SectorSize(u32),
    /// `physical-sector-size` is not a power-of-two multiple (at most 2^15) of the sector size.
    PhysicalSectorSize(u32),
    /// `discard-granularity` is not a multiple of the sector size.
    DiscardGranularity(u32),
    /// `discard-alignment` is not a multiple of the sector size below the granularity.
    DiscardAlignment(u32),
    /// No segment per request.
    MaxSegments(u32),
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskError::SectorSize(v) => {
                write!(f, "sector-size {v} is not a power of two in 512..=4096")
            }
            DiskError::PhysicalSectorSize(v) => write!(
                f,
                "physical-sector-size {v} is not a power-of-two multiple of sector-size"
            ),
            DiskError::DiscardGranularity(v) => {
                write!(
                    f,
                    "discard-granularity {v} is not a multiple of sector-size"
                )
            }
            DiskError::DiscardAlignment(v) => write!(
                f,
                "discard-alignment {v} is not a sector-size multiple below the granularity"
            ),
            DiskError::MaxSegments(v) => write!(f, "{v} segments per request"),
        }
    }
}

/// A validated disk description and its identity. Every SCSI answer about the disk is derived
/// from it, so the answers agree with each other (e.g. B2h's LBPU with READ CAPACITY (16)'s
/// LBPME, and both with whether UNMAP is accepted).
///
/// Shared by all queues (STORPORT may start commands on several CPUs at once); the size is the
/// only value that changes, through [`Disk::set_sectors`], and that raises the one UNIT
/// ATTENTION condition the translation keeps.
#[derive(Debug)]
pub struct Disk {
    /// As validated; its `sectors` is the size at creation, [`Disk::sectors`] the current one.
    params: DiskParams,
    sectors: AtomicU64,
    /// CAPACITY DATA HAS CHANGED is pending for the initiator.
    capacity_changed: AtomicBool,
    /// Discard granularity in bytes after defaulting.
    discard_granularity: u32,
    identity: Identity,
}

impl Disk {
    pub fn new(params: DiskParams, identity: Identity) -> Result<Self, DiskError> {
        let lbs = params.sector_size;
        if !lbs.is_power_of_two() || !(SECTOR..=PAGE_SIZE as u32).contains(&lbs) {
            return Err(DiskError::SectorSize(lbs));
        }
        let pbs = params.physical_sector_size;
        // READ CAPACITY (16) carries log2(physical / logical) in four bits.
        if !pbs.is_multiple_of(lbs)
            || !(pbs / lbs).is_power_of_two()
            || (pbs / lbs).trailing_zeros() > 15
        {
            return Err(DiskError::PhysicalSectorSize(pbs));
        }
        let mut discard_granularity = 0;
        if let Some(d) = params.discard {
            discard_granularity = if d.granularity == 0 {
                lbs
            } else {
                d.granularity
            };
            if !discard_granularity.is_multiple_of(lbs) {
                return Err(DiskError::DiscardGranularity(d.granularity));
            }
            if !d.alignment.is_multiple_of(lbs) || d.alignment >= discard_granularity {
                return Err(DiskError::DiscardAlignment(d.alignment));
            }
        }
        if params.max_segments == 0 {
            return Err(DiskError::MaxSegments(0));
        }
        Ok(Self {
            params,
            sectors: AtomicU64::new(params.sectors),
            capacity_changed: AtomicBool::new(false),
            discard_granularity,
            identity,
        })
    }

    /// Online resize: the backend's `sectors` changed (the control plane's watch fired). A new
    /// value makes the next command (other than INQUIRY and REPORT LUNS) end in UNIT
    /// ATTENTION, CAPACITY DATA HAS CHANGED, which is how Windows' class driver learns that it
    /// must read the capacity again.
    pub fn set_sectors(&self, sectors: u64) {
        if self.sectors.swap(sectors, Ordering::AcqRel) != sectors {
            self.capacity_changed.store(true, Ordering::Release);
        }
    }

    /// Current size in 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors.load(Ordering::Acquire)
    }

    /// The validated values; `sectors` there is the size at creation.
    pub fn params(&self) -> &DiskParams {
        &self.params
    }

    /// Takes the pending UNIT ATTENTION condition, if any: reported once.
    pub(crate) fn take_attention(&self) -> Option<Sense> {
        self.capacity_changed
            .swap(false, Ordering::AcqRel)
            .then(Sense::capacity_data_changed)
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Logical block size in bytes.
    pub(crate) fn block_size(&self) -> u32 {
        self.params.sector_size
    }

    /// 512-byte blkif sectors per logical block.
    pub(crate) fn sectors_per_block(&self) -> u64 {
        u64::from(self.params.sector_size / SECTOR)
    }

    /// Capacity in logical blocks (a partial trailing block is not addressable).
    pub(crate) fn blocks(&self) -> u64 {
        self.sectors() / self.sectors_per_block()
    }

    /// log2(physical / logical block size).
    pub(crate) fn physical_exponent(&self) -> u8 {
        (self.params.physical_sector_size / self.params.sector_size).trailing_zeros() as u8
    }

    /// Physical blocks per logical block as a count of logical blocks.
    pub(crate) fn blocks_per_physical(&self) -> u32 {
        self.params.physical_sector_size / self.params.sector_size
    }

    /// The backend can make writes durable: by FLUSH_DISKCACHE, or by WRITE_BARRIER which
    /// upstream XenVbd uses for SYNCHRONIZE CACHE when flush is missing. Without either the
    /// backend is write-through and there is nothing to flush.
    pub(crate) fn has_write_cache(&self) -> bool {
        self.params.flush_cache || self.params.barrier
    }

    /// Discard granularity and alignment in logical blocks, when discard is offered.
    pub(crate) fn discard_blocks(&self) -> Option<(u32, u32)> {
        let d = self.params.discard?;
        let lbs = self.params.sector_size;
        Some((self.discard_granularity / lbs, d.alignment / lbs))
    }

    /// Largest transfer in logical blocks: segments are whole pages.
    pub(crate) fn max_transfer_blocks(&self) -> u32 {
        let bytes = u64::from(self.params.max_segments) * PAGE_SIZE as u64;
        (bytes / u64::from(self.params.sector_size)).min(u64::from(u32::MAX)) as u32
    }

    /// NOT READY, MEDIUM NOT PRESENT when the backend reports no addressable block (an empty
    /// virtual CD drive); SCSI cannot describe a zero-capacity medium any other way.
    pub(crate) fn ready(&self) -> Result<(), Sense> {
        if self.blocks() == 0 {
            Err(Sense::medium_not_present())
        } else {
            Ok(())
        }
    }

    /// LOGICAL BLOCK ADDRESS OUT OF RANGE unless `count` blocks from `lba` lie on the disk.
    pub(crate) fn check_range(&self, lba: u64, count: u64) -> Result<(), Sense> {
        match lba.checked_add(count) {
            Some(end) if end <= self.blocks() => Ok(()),
            _ => Err(Sense::lba_out_of_range()),
        }
    }

    /// `blocks` logical blocks (an address or a count) in 512-byte units; callers pass values
    /// bounded by [`Disk::check_range`], so the product cannot overflow.
    pub(crate) fn to_sectors(&self, blocks: u64) -> u64 {
        blocks * self.sectors_per_block()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> DiskParams {
        DiskParams {
            sectors: 1 << 20,
            sector_size: 512,
            physical_sector_size: 4096,
            read_only: false,
            removable: false,
            cdrom: false,
            flush_cache: true,
            barrier: false,
            discard: None,
            max_segments: 11,
        }
    }

    fn disk(p: DiskParams) -> Result<Disk, DiskError> {
        Disk::new(p, Identity::derived(51712))
    }

    #[test]
    fn sizes_are_validated() {
        for bad in [0, 256, 1000, 8192] {
            let p = DiskParams {
                sector_size: bad,
                physical_sector_size: 8192,
                ..params()
            };
            assert_eq!(disk(p).unwrap_err(), DiskError::SectorSize(bad));
        }
        for bad in [0, 512 * 3, 2048] {
            let p = DiskParams {
                sector_size: 4096,
                physical_sector_size: bad,
                ..params()
            };
            assert_eq!(disk(p).unwrap_err(), DiskError::PhysicalSectorSize(bad));
        }
        let p = DiskParams {
            physical_sector_size: 512 << 16,
            ..params()
        };
        assert_eq!(
            disk(p).unwrap_err(),
            DiskError::PhysicalSectorSize(512 << 16)
        );
        let p = DiskParams {
            max_segments: 0,
            ..params()
        };
        assert_eq!(disk(p).unwrap_err(), DiskError::MaxSegments(0));
    }

    #[test]
    fn discard_values_are_validated_and_defaulted() {
        let with = |granularity, alignment| DiskParams {
            sector_size: 4096,
            sectors: 8 * 100,
            discard: Some(DiscardParams {
                granularity,
                alignment,
            }),
            ..params()
        };
        assert_eq!(disk(with(0, 0)).unwrap().discard_blocks(), Some((1, 0)));
        assert_eq!(
            disk(with(1 << 20, 8192)).unwrap().discard_blocks(),
            Some((256, 2))
        );
        assert_eq!(
            disk(with(6000, 0)).unwrap_err(),
            DiskError::DiscardGranularity(6000)
        );
        assert_eq!(
            disk(with(8192, 512)).unwrap_err(),
            DiskError::DiscardAlignment(512)
        );
        assert_eq!(
            disk(with(8192, 8192)).unwrap_err(),
            DiskError::DiscardAlignment(8192)
        );
    }

    #[test]
    fn geometry_in_logical_blocks() {
        let d = disk(DiskParams {
            sector_size: 4096,
            sectors: 8 * 10 + 7,
            ..params()
        })
        .unwrap();
        assert_eq!(
            d.blocks(),
            10,
            "the partial trailing block is not addressable"
        );
        assert_eq!(d.to_sectors(3), 24);
        assert_eq!(d.physical_exponent(), 0);
        assert!(d.check_range(9, 1).is_ok());
        assert_eq!(d.check_range(10, 1).unwrap_err(), Sense::lba_out_of_range());
        assert_eq!(
            d.check_range(u64::MAX, 2).unwrap_err(),
            Sense::lba_out_of_range()
        );
        assert_eq!(d.max_transfer_blocks(), 11);
        let d = disk(params()).unwrap();
        assert_eq!(d.physical_exponent(), 3);
        assert_eq!(d.max_transfer_blocks(), 11 * 8);
        let d = disk(DiskParams {
            sectors: 7,
            sector_size: 4096,
            ..params()
        })
        .unwrap();
        assert_eq!(d.ready().unwrap_err(), Sense::medium_not_present());
        assert_eq!(d.take_attention(), None);
        d.set_sectors(8);
        assert!(d.ready().is_ok());
        assert_eq!(d.take_attention(), Some(Sense::capacity_data_changed()));
        assert_eq!(d.take_attention(), None, "reported once");
        d.set_sectors(8);
        assert_eq!(d.take_attention(), None, "same size: nothing changed");
    }
}
