//! INQUIRY (SPC-4 6.6): standard data and the VPD pages of [`super::vpd`].

use super::cdb::Cdb;
use super::disk::Disk;
use super::reply::Reply;
use super::sense::Sense;
use super::vpd;

/// PERIPHERAL DEVICE TYPE of a direct access block device. A Xen cdrom vbd is presented as a
/// removable disk too: answering as a CD/DVD device (05h) would bring in Windows' cdrom class
/// driver and its MMC commands, which this module does not translate.
pub(crate) const DEVICE_TYPE_DISK: u8 = 0x00;

/// VERSION: SPC-4. Claiming at least SPC-3 is what makes Windows and Linux ask for READ
/// CAPACITY (16) and the Block Limits / provisioning VPD pages.
const VERSION_SPC4: u8 = 0x06;
/// RESPONSE DATA FORMAT required by SPC-4.
const RESPONSE_DATA_FORMAT: u8 = 0x02;
/// CMDQUE: the unit takes many commands at once (blkif rings do).
const CMDQUE: u8 = 0x02;
/// Bytes of standard INQUIRY data returned (through PRODUCT REVISION LEVEL).
const STANDARD_LEN: usize = 36;

pub(crate) fn inquiry(disk: &Disk, cdb: &Cdb, buf: &mut [u8]) -> Result<usize, Sense> {
    let evpd = cdb.bit(1, 0);
    let page = cdb.u8(2);
    let mut r = Reply::new(buf, usize::from(cdb.be16(3)));
    if evpd {
        vpd::page(disk, page, &mut r)?;
    } else {
        if page != 0 {
            return Err(Sense::invalid_field_in_cdb(2, None));
        }
        standard(disk, &mut r);
    }
    Ok(r.finish())
}

fn standard(disk: &Disk, r: &mut Reply) {
    let id = disk.identity();
    r.u8(DEVICE_TYPE_DISK); // PERIPHERAL QUALIFIER 0: connected.
    r.u8(if disk.removable() { 0x80 } else { 0 }); // RMB
    r.u8(VERSION_SPC4);
    r.u8(RESPONSE_DATA_FORMAT); // NORMACA 0, HISUP 0
    r.u8((STANDARD_LEN - 5) as u8); // ADDITIONAL LENGTH
    r.u8(0); // SCCS ACC TPGS 3PC PROTECT
    r.u8(0); // ENCSERV MULTIP
    r.u8(CMDQUE);
    r.bytes(id.vendor());
    r.bytes(id.product());
    r.bytes(id.revision());
    debug_assert_eq!(r.produced(), STANDARD_LEN);
}
