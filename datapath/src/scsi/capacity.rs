//! READ CAPACITY (10) and (16) (SBC-3 5.15, 5.16).

use super::cdb::{Cdb, READ_CAPACITY_10, SA_READ_CAPACITY_16};
use super::disk::Disk;
use super::reply::Reply;
use super::sense::Sense;

const RC10_LEN: usize = 8;
const RC16_LEN: usize = 32;

/// READ CAPACITY (10), or SERVICE ACTION IN (16) whose only service action implemented is READ
/// CAPACITY (16).
pub(crate) fn read_capacity(disk: &Disk, cdb: &Cdb, buf: &mut [u8]) -> Result<usize, Sense> {
    let ten = cdb.opcode() == READ_CAPACITY_10;
    if !ten && cdb.u8(1) & 0x1F != SA_READ_CAPACITY_16 {
        return Err(Sense::invalid_field_in_cdb(1, Some(4)));
    }
    // PMI 0 with a nonzero LOGICAL BLOCK ADDRESS is invalid (SBC-3); with PMI 1 the answer is the
    // last LBA anyway, as no address is followed by a "substantial delay" here.
    let (lba, pmi_byte) = if ten {
        (u64::from(cdb.be32(2)), 8)
    } else {
        (cdb.be64(2), 14)
    };
    if !cdb.bit(pmi_byte, 0) && lba != 0 {
        return Err(Sense::invalid_field_in_cdb(2, None));
    }
    // One reading of the size: it may change concurrently.
    let last = disk.ready()? - 1;
    if ten {
        let mut r = Reply::new(buf, RC10_LEN);
        // A disk of 2^32 blocks or more reads as FFFFFFFFh: use READ CAPACITY (16).
        r.be32(u32::try_from(last).unwrap_or(u32::MAX));
        r.be32(disk.block_size());
        return Ok(r.finish());
    }
    let mut r = Reply::new(buf, cdb.be32(10) as usize);
    r.be64(last);
    r.be32(disk.block_size());
    // P_TYPE / PROT_EN: no protection information.
    r.u8(0);
    // P_I_EXPONENT 0 | LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT.
    r.u8(disk.physical_exponent());
    // LBPME when discard is offered, LBPRZ 0 (see the provisioning VPD page), LOWEST ALIGNED
    // LOGICAL BLOCK ADDRESS 0.
    r.u8(if disk.discard().is_some() { 0x80 } else { 0 });
    r.u8(0);
    r.zeros(RC16_LEN - 16);
    Ok(r.finish())
}
