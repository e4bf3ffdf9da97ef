//! UNMAP and WRITE SAME (10, 16) with the UNMAP bit (SBC-3 5.28, 5.43, 5.44), both as blkif
//! discards. Only offered when the backend offers `feature-discard`; otherwise they are unknown
//! commands, as the provisioning VPD page (LBPU = LBPWS = 0) says.

use super::block::{BlockCommand, DiscardRange, DiscardRanges, MAX_UNMAP_DESCRIPTORS};
use super::cdb::{be, Cdb, WRITE_SAME_10};
use super::disk::Disk;
use super::sense::Sense;
use super::{Action, Data};

/// UNMAP parameter list header and block descriptor sizes.
const HEADER_LEN: usize = 8;
const DESCRIPTOR_LEN: usize = 16;

fn discard_offered(disk: &Disk) -> Result<(), Sense> {
    disk.discard().map(|_| ()).ok_or(Sense::invalid_opcode())
}

fn range(disk: &Disk, lba: u64, blocks: u64) -> DiscardRange {
    DiscardRange {
        lba_512: disk.to_sectors(lba),
        sectors: disk.to_sectors(blocks),
    }
}

pub(crate) fn unmap(disk: &Disk, cdb: &Cdb, data: Data) -> Result<Action, Sense> {
    discard_offered(disk)?;
    if cdb.bit(1, 0) {
        // ANCHOR needs ANC_SUP, which the provisioning page leaves 0.
        return Err(Sense::invalid_field_in_cdb(1, Some(0)));
    }
    disk.ready()?;
    if disk.read_only() {
        return Err(Sense::write_protected());
    }
    let list_len = usize::from(cdb.be16(7));
    if list_len == 0 {
        // No parameter list: nothing to unmap, not an error.
        return Ok(Action::Complete { data_len: 0 });
    }
    let list = match data {
        Data::Out(b) => &b[..list_len.min(b.len())],
        _ => &[][..],
    };
    if list.len() < HEADER_LEN {
        return Err(Sense::parameter_list_length_error());
    }
    // UNMAP BLOCK DESCRIPTOR DATA LENGTH; only whole descriptors inside the list count (a
    // trailing partial one is ignored, as SBC-3 allows and Linux's target core does).
    let declared = be(list[2..4].iter().copied()) as usize;
    let body = &list[HEADER_LEN..];
    let count = declared.min(body.len()) / DESCRIPTOR_LEN;
    if count > MAX_UNMAP_DESCRIPTORS {
        return Err(Sense::invalid_field_in_parameter_list(2, None));
    }
    let mut ranges = DiscardRanges::new();
    for d in body.chunks_exact(DESCRIPTOR_LEN).take(count) {
        let lba = be(d[0..8].iter().copied());
        let blocks = be(d[8..12].iter().copied());
        disk.check_range(lba, blocks)?;
        // A descriptor of 0 blocks unmaps nothing.
        if blocks != 0 {
            ranges.push(range(disk, lba, blocks));
        }
    }
    if ranges.is_empty() {
        return Ok(Action::Complete { data_len: 0 });
    }
    Ok(Action::Block(BlockCommand::Discard { ranges }))
}

/// WRITE SAME is only accepted with UNMAP set, and then discards: writing one block many times
/// is not a blkif operation, and would need a buffer as large as the whole extent. The
/// data-out block is not compared with what an unmapped block reads back as: LBPRZ is 0, so
/// the initiator was told that reads of unmapped blocks return unspecified data, the same
/// choice as Linux's target core.
pub(crate) fn write_same(disk: &Disk, cdb: &Cdb) -> Result<Action, Sense> {
    discard_offered(disk)?;
    let flags = cdb.u8(1);
    if flags >> 5 != 0 {
        return Err(Sense::invalid_field_in_cdb(1, Some(7))); // WRPROTECT
    }
    if flags & 0x10 != 0 {
        return Err(Sense::invalid_field_in_cdb(1, Some(4))); // ANCHOR
    }
    if flags & 0x08 == 0 {
        return Err(Sense::invalid_field_in_cdb(1, Some(3))); // UNMAP required
    }
    if flags & 0x06 != 0 {
        return Err(Sense::invalid_field_in_cdb(1, Some(2))); // PBDATA / LBDATA
    }
    // NDOB (bit 0 of WRITE SAME (16)) is fine: the data block is not used.
    disk.ready()?;
    let (lba, blocks, len_byte) = if cdb.opcode() == WRITE_SAME_10 {
        (u64::from(cdb.be32(2)), u64::from(cdb.be16(7)), 7)
    } else {
        (cdb.be64(2), u64::from(cdb.be32(10)), 10)
    };
    if blocks == 0 {
        // WSNZ is 1 in the Block Limits page.
        return Err(Sense::invalid_field_in_cdb(len_byte, None));
    }
    disk.check_range(lba, blocks)?;
    if disk.read_only() {
        return Err(Sense::write_protected());
    }
    let mut ranges = DiscardRanges::new();
    ranges.push(range(disk, lba, blocks));
    Ok(Action::Block(BlockCommand::Discard { ranges }))
}
