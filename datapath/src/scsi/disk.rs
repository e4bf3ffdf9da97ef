//! The disk as SCSI presents it: the blkif core's disk description (shared with the queues, and
//! resized in place by the control plane's watch on `sectors`), the negotiated features, the
//! transfer limit, and the identity.

use alloc::sync::Arc;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use xenpv_abi::blkif::BLKIF_SECTOR_SIZE;
use xenpv_abi::PAGE_SIZE;

use super::identity::Identity;
use super::sense::Sense;
use crate::blkif::params::segments_per_request;
use crate::blkif::{Disk as BlkDisk, Features, QueueConfig};

const SECTOR: u32 = BLKIF_SECTOR_SIZE as u32;

/// Values the core accepts but SCSI cannot present consistently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskError {
    /// `physical-sector-size` is not a power-of-two multiple (at most 2^15, what READ CAPACITY
    /// (16) can carry) of the sector size.
    PhysicalSectorSize(u32),
    /// `discard-granularity` is not a multiple of the sector size.
    DiscardGranularity(u32),
    /// `discard-alignment` is not a multiple of the sector size below the granularity.
    DiscardAlignment(u32),
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
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
        }
    }
}

/// Discard as SCSI reports it, in logical blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DiscardBlocks {
    pub granularity: u32,
    pub alignment: u32,
}

/// A validated disk description and its identity. Every SCSI answer about the disk is derived
/// from it, so the answers agree with each other (e.g. B2h's LBPU with READ CAPACITY (16)'s
/// LBPME, and both with whether UNMAP is accepted).
///
/// Shared by all queues (STORPORT may start commands on several CPUs at once). The size is the
/// core's: when the control plane resizes the core's disk, the next command (other than
/// INQUIRY and REPORT LUNS) ends in UNIT ATTENTION, CAPACITY DATA HAS CHANGED, which is how
/// Windows' class driver learns that it must read the capacity again.
#[derive(Debug)]
pub struct Disk {
    blk: Arc<BlkDisk>,
    /// Flush-cache or barrier negotiated.
    write_cache: bool,
    discard: Option<DiscardBlocks>,
    /// Segments of one blkif request: the transfer limit in pages.
    max_segments: u32,
    /// The size (512-byte sectors) the initiator was last told about.
    reported_sectors: AtomicU64,
    identity: Identity,
}

impl Disk {
    /// `disk` is the core's (already checked for sector sizes), `features` and `config` what the
    /// queues use, `identity` from [`Identity::derived`] and the backend's `sm-data`.
    pub fn new(
        disk: Arc<BlkDisk>,
        features: &Features,
        config: &QueueConfig,
        identity: Identity,
    ) -> Result<Self, DiskError> {
        let lbs = disk.sector_size;
        let pbs = disk.physical_sector_size;
        let ratio = pbs / lbs;
        if !ratio.is_power_of_two() || ratio.trailing_zeros() > 15 {
            return Err(DiskError::PhysicalSectorSize(pbs));
        }
        let discard = match features.discard {
            None => None,
            Some(d) => {
                // blkif.h: an absent (0) granularity means the sector size.
                let granularity = if d.granularity == 0 {
                    lbs
                } else {
                    d.granularity
                };
                if !granularity.is_multiple_of(lbs) {
                    return Err(DiskError::DiscardGranularity(d.granularity));
                }
                if !d.alignment.is_multiple_of(lbs) || d.alignment >= granularity {
                    return Err(DiskError::DiscardAlignment(d.alignment));
                }
                Some(DiscardBlocks {
                    granularity: granularity / lbs,
                    alignment: d.alignment / lbs,
                })
            }
        };
        Ok(Self {
            reported_sectors: AtomicU64::new(disk.sectors()),
            write_cache: features.flush || features.barrier,
            discard,
            max_segments: segments_per_request(features, config),
            blk: disk,
            identity,
        })
    }

    /// The core's disk this one presents.
    pub fn blkif_disk(&self) -> &Arc<BlkDisk> {
        &self.blk
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Takes the UNIT ATTENTION condition a resize raised, if any: each size change is
    /// reported to exactly one command.
    pub(crate) fn take_attention(&self) -> Option<Sense> {
        let now = self.blk.sectors();
        (self.reported_sectors.swap(now, Ordering::AcqRel) != now)
            .then(Sense::capacity_data_changed)
    }

    pub(crate) fn read_only(&self) -> bool {
        self.blk.read_only
    }

    /// RMB: a removable or CD vbd. A cdrom is still presented as a disk (see INQUIRY).
    pub(crate) fn removable(&self) -> bool {
        self.blk.removable || self.blk.cdrom
    }

    /// Logical block size in bytes.
    pub(crate) fn block_size(&self) -> u32 {
        self.blk.sector_size
    }

    /// 512-byte blkif sectors per logical block.
    pub(crate) fn sectors_per_block(&self) -> u64 {
        u64::from(self.blk.sector_size / SECTOR)
    }

    /// Capacity in logical blocks (a partial trailing block is not addressable).
    pub(crate) fn blocks(&self) -> u64 {
        self.blk.sectors() / self.sectors_per_block()
    }

    /// log2(physical / logical block size).
    pub(crate) fn physical_exponent(&self) -> u8 {
        self.blocks_per_physical().trailing_zeros() as u8
    }

    /// Logical blocks per physical block.
    pub(crate) fn blocks_per_physical(&self) -> u32 {
        self.blk.physical_sector_size / self.blk.sector_size
    }

    /// The backend can make writes durable: by FLUSH_DISKCACHE, or by WRITE_BARRIER which
    /// upstream XenVbd uses for SYNCHRONIZE CACHE when flush is missing. Without either the
    /// backend is write-through and there is nothing to flush.
    pub(crate) fn has_write_cache(&self) -> bool {
        self.write_cache
    }

    /// Discard granularity and alignment in logical blocks, when discard is offered.
    pub(crate) fn discard(&self) -> Option<DiscardBlocks> {
        self.discard
    }

    /// Largest transfer in logical blocks: what one blkif request carries, whole pages.
    pub(crate) fn max_transfer_blocks(&self) -> u32 {
        let bytes = u64::from(self.max_segments) * PAGE_SIZE as u64;
        (bytes / u64::from(self.blk.sector_size)).min(u64::from(u32::MAX)) as u32
    }

    /// The capacity in logical blocks, or NOT READY, MEDIUM NOT PRESENT when the backend
    /// reports no addressable block (an empty virtual CD drive); SCSI cannot describe a
    /// zero-capacity medium any other way.
    pub(crate) fn ready(&self) -> Result<u64, Sense> {
        match self.blocks() {
            0 => Err(Sense::medium_not_present()),
            blocks => Ok(blocks),
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
    use crate::blkif::DiscardInfo;

    fn blk(sectors: u64, lbs: u32, pbs: u32) -> Arc<BlkDisk> {
        Arc::new(BlkDisk::new(sectors, lbs, pbs, false).unwrap())
    }

    fn disk(blk: Arc<BlkDisk>, features: Features) -> Result<Disk, DiskError> {
        Disk::new(
            blk,
            &features,
            &QueueConfig::default(),
            Identity::derived(51712),
        )
    }

    #[test]
    fn physical_sizes_scsi_cannot_express_are_refused() {
        let f = Features::default();
        assert_eq!(
            disk(blk(8, 512, 1536), f).unwrap_err(),
            DiskError::PhysicalSectorSize(1536)
        );
        assert_eq!(
            disk(blk(8, 512, 512 << 16), f).unwrap_err(),
            DiskError::PhysicalSectorSize(512 << 16)
        );
        assert_eq!(
            disk(blk(8, 512, 512 << 15), f).unwrap().physical_exponent(),
            15
        );
    }

    #[test]
    fn discard_values_are_validated_and_defaulted() {
        let with = |granularity, alignment| Features {
            discard: Some(DiscardInfo {
                granularity,
                alignment,
                secure: false,
            }),
            ..Features::default()
        };
        let d = |f| disk(blk(800, 4096, 4096), f);
        let blocks = |granularity, alignment| {
            Some(DiscardBlocks {
                granularity,
                alignment,
            })
        };
        assert_eq!(d(with(0, 0)).unwrap().discard(), blocks(1, 0));
        assert_eq!(d(with(1 << 20, 8192)).unwrap().discard(), blocks(256, 2));
        assert_eq!(
            d(with(6000, 0)).unwrap_err(),
            DiskError::DiscardGranularity(6000)
        );
        assert_eq!(
            d(with(8192, 512)).unwrap_err(),
            DiskError::DiscardAlignment(512)
        );
        assert_eq!(
            d(with(8192, 8192)).unwrap_err(),
            DiskError::DiscardAlignment(8192)
        );
    }

    #[test]
    fn geometry_in_logical_blocks() {
        let f = Features::default();
        let d = disk(blk(8 * 10 + 7, 4096, 4096), f).unwrap();
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
        assert_eq!(d.max_transfer_blocks(), 11, "11 direct segments");
        let indirect = Features {
            max_indirect_segments: 64,
            ..f
        };
        let d = disk(blk(1 << 20, 512, 4096), indirect).unwrap();
        assert_eq!(d.physical_exponent(), 3);
        assert_eq!(d.max_transfer_blocks(), 64 * 8);
    }

    #[test]
    fn a_resize_is_reported_once() {
        let b = blk(7, 4096, 4096);
        let d = disk(b.clone(), Features::default()).unwrap();
        assert_eq!(d.ready().unwrap_err(), Sense::medium_not_present());
        assert_eq!(d.take_attention(), None);
        b.resize(8);
        assert_eq!(d.ready(), Ok(1));
        assert_eq!(d.take_attention(), Some(Sense::capacity_data_changed()));
        assert_eq!(d.take_attention(), None, "reported once");
        b.resize(8);
        assert_eq!(d.take_attention(), None, "same size: nothing changed");
    }
}
