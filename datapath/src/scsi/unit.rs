//! Commands about the logical unit rather than its blocks: TEST UNIT READY, START STOP UNIT,
//! PREVENT ALLOW MEDIUM REMOVAL, REQUEST SENSE and REPORT LUNS.

use super::cdb::Cdb;
use super::disk::Disk;
use super::reply::Reply;
use super::sense::Sense;

/// TEST UNIT READY: GOOD unless there is no medium.
pub(crate) fn test_unit_ready(disk: &Disk) -> Result<usize, Sense> {
    disk.ready().map(|_| 0)
}

/// START STOP UNIT and PREVENT ALLOW MEDIUM REMOVAL succeed without effect: a virtual disk has
/// no spindle or power state, and its medium is changed by the toolstack, not by the guest.
/// Windows sends both (power transitions, removable media locking); failing them would only
/// produce error log entries.
pub(crate) fn no_effect() -> Result<usize, Sense> {
    Ok(0)
}

/// REQUEST SENSE returns the unit's current condition: sense is delivered with each CHECK
/// CONDITION (autosense), so no deferred sense is kept. A pending UNIT ATTENTION is reported
/// (and cleared) here as SPC-4 requires; "no medium" is a standing condition.
pub(crate) fn request_sense(disk: &Disk, cdb: &Cdb, buf: &mut [u8]) -> Result<usize, Sense> {
    if cdb.bit(1, 0) {
        // DESC: descriptor-format sense is not produced.
        return Err(Sense::invalid_field_in_cdb(1, Some(0)));
    }
    let sense = disk
        .take_attention()
        .or(disk.ready().err())
        .unwrap_or(Sense::none());
    let mut r = Reply::new(buf, usize::from(cdb.u8(4)));
    r.bytes(&sense.to_fixed());
    Ok(r.finish())
}

/// REPORT LUNS: each vbd is its own target with the single LUN 0.
pub(crate) fn report_luns(cdb: &Cdb, buf: &mut [u8]) -> Result<usize, Sense> {
    let luns: u32 = match cdb.u8(2) {
        // All logical units / all of them including well-known ones: LUN 0.
        0x00 | 0x02 => 1,
        // Well-known logical units only: there are none.
        0x01 => 0,
        _ => return Err(Sense::invalid_field_in_cdb(2, None)),
    };
    // SPC-4 allows any allocation length (earlier versions required at least 16) and truncates.
    let mut r = Reply::new(buf, cdb.be32(6) as usize);
    r.be32(luns * 8); // LUN LIST LENGTH
    r.be32(0);
    for _ in 0..luns {
        r.be64(0); // LUN 0, peripheral addressing.
    }
    Ok(r.finish())
}
