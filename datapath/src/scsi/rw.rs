//! READ / WRITE (6, 10, 12, 16), VERIFY (10, 12, 16) and SYNCHRONIZE CACHE (10, 16) (SBC-3 5).

use super::block::BlockCommand;
use super::cdb::*;
use super::disk::Disk;
use super::sense::Sense;
use super::{Action, Data};

/// Address and length fields of a READ / WRITE / VERIFY CDB.
struct Extent {
    lba: u64,
    blocks: u64,
    /// Offset of the length field (for sense field pointers).
    len_byte: u16,
}

fn extent(cdb: &Cdb) -> Extent {
    match cdb.len() {
        6 => {
            // READ (6) / WRITE (6): 21-bit LBA, and a TRANSFER LENGTH of 0 means 256 blocks.
            let lba = (u64::from(cdb.u8(1) & 0x1F) << 16) | u64::from(cdb.be16(2));
            let n = cdb.u8(4);
            Extent {
                lba,
                blocks: if n == 0 { 256 } else { u64::from(n) },
                len_byte: 4,
            }
        }
        10 => Extent {
            lba: u64::from(cdb.be32(2)),
            blocks: u64::from(cdb.be16(7)),
            len_byte: 7,
        },
        12 => Extent {
            lba: u64::from(cdb.be32(2)),
            blocks: u64::from(cdb.be32(6)),
            len_byte: 6,
        },
        _ => Extent {
            lba: cdb.be64(2),
            blocks: u64::from(cdb.be32(10)),
            len_byte: 10,
        },
    }
}

/// RDPROTECT / WRPROTECT / VRPROTECT must be 0: the disk has no protection information.
fn check_no_protection(cdb: &Cdb) -> Result<(), Sense> {
    if cdb.len() > 6 && cdb.u8(1) >> 5 != 0 {
        return Err(Sense::invalid_field_in_cdb(1, Some(7)));
    }
    Ok(())
}

pub(crate) fn read_write(disk: &Disk, cdb: &Cdb, data: Data) -> Result<Action, Sense> {
    let write = matches!(cdb.opcode(), WRITE_6 | WRITE_10 | WRITE_12 | WRITE_16);
    check_no_protection(cdb)?;
    disk.ready()?;
    let e = extent(cdb);
    // SBC-3: a transfer longer than the Block Limits page's MAXIMUM TRANSFER LENGTH is refused.
    if e.blocks > u64::from(disk.max_transfer_blocks()) {
        return Err(Sense::invalid_field_in_cdb(e.len_byte, None));
    }
    disk.check_range(e.lba, e.blocks)?;
    if write && disk.read_only() {
        return Err(Sense::write_protected());
    }
    if e.blocks == 0 {
        return Ok(Action::Complete { data_len: 0 });
    }
    // The SRB's buffer must hold the whole transfer in the right direction; a shorter one would
    // be overrun (Linux's target core refuses such writes the same way).
    let bytes = e.blocks * u64::from(disk.block_size());
    let fits = match data {
        Data::In(b) => !write && b.len() as u64 >= bytes,
        Data::Out(b) => write && b.len() as u64 >= bytes,
        Data::None => false,
    };
    if !fits {
        return Err(Sense::invalid_field_in_cdb(e.len_byte, None));
    }
    let lba_512 = disk.to_sectors(e.lba);
    let sectors = disk.to_sectors(e.blocks);
    Ok(Action::Block(if write {
        // FUA only matters where the backend caches writes; a write-through backend's writes
        // are durable when they complete.
        let fua = cdb.len() > 6 && cdb.bit(1, 3) && disk.has_write_cache();
        BlockCommand::Write {
            lba_512,
            sectors,
            fua,
        }
    } else {
        // FUA on a read asks for data from the medium; the guest keeps no cache below us, so a
        // plain read is that.
        BlockCommand::Read { lba_512, sectors }
    }))
}

/// VERIFY with BYTCHK 0 checks that the blocks are readable. A virtual disk has no medium to
/// scan (blkback reports unreadable sectors on the read itself), so once the range is valid
/// this succeeds, as in Linux's target core. Windows sends it for IOCTL_DISK_VERIFY (format,
/// chkdsk /r); refusing it would make those fail. BYTCHK (compare with data-out) is refused.
pub(crate) fn verify(disk: &Disk, cdb: &Cdb) -> Result<Action, Sense> {
    check_no_protection(cdb)?;
    if cdb.u8(1) & 0x06 != 0 {
        return Err(Sense::invalid_field_in_cdb(1, Some(2)));
    }
    disk.ready()?;
    let e = extent(cdb);
    disk.check_range(e.lba, e.blocks)?;
    Ok(Action::Complete { data_len: 0 })
}

/// SYNCHRONIZE CACHE flushes the whole cache whatever the range (blkif's flush has no range).
/// IMMED is not honoured early: status comes once the flush is done, which is what an
/// initiator waiting for durability needs anyway.
pub(crate) fn synchronize_cache(disk: &Disk, cdb: &Cdb) -> Result<Action, Sense> {
    disk.ready()?;
    let (lba, blocks) = if cdb.opcode() == SYNCHRONIZE_CACHE_10 {
        (u64::from(cdb.be32(2)), u64::from(cdb.be16(7)))
    } else {
        (cdb.be64(2), u64::from(cdb.be32(10)))
    };
    // NUMBER OF LOGICAL BLOCKS 0 means "to the end": the LBA itself must still exist.
    disk.check_range(lba, blocks.max(1))?;
    if disk.read_only() || !disk.has_write_cache() {
        // Nothing can be dirty.
        return Ok(Action::Complete { data_len: 0 });
    }
    Ok(Action::Block(BlockCommand::Flush))
}
