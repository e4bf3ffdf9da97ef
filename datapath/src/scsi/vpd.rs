//! Vital product data pages (SPC-4 7.8, SBC-3 6.5). Their block-limits and provisioning content
//! follows the disk's features, so that what initiators read here matches what the translation
//! then accepts.

use super::block::MAX_UNMAP_DESCRIPTORS;
use super::disk::Disk;
use super::inquiry::DEVICE_TYPE_DISK;
use super::reply::Reply;
use super::sense::Sense;

pub(crate) const SUPPORTED_PAGES: u8 = 0x00;
pub(crate) const UNIT_SERIAL_NUMBER: u8 = 0x80;
pub(crate) const DEVICE_IDENTIFICATION: u8 = 0x83;
pub(crate) const BLOCK_LIMITS: u8 = 0xB0;
pub(crate) const BLOCK_DEVICE_CHARACTERISTICS: u8 = 0xB1;
pub(crate) const LOGICAL_BLOCK_PROVISIONING: u8 = 0xB2;

const PAGES: [u8; 6] = [
    SUPPORTED_PAGES,
    UNIT_SERIAL_NUMBER,
    DEVICE_IDENTIFICATION,
    BLOCK_LIMITS,
    BLOCK_DEVICE_CHARACTERISTICS,
    LOGICAL_BLOCK_PROVISIONING,
];

/// PAGE LENGTH of the Block Limits and Block Device Characteristics pages (SBC-3).
const LONG_PAGE_LEN: u16 = 0x3C;
/// PAGE LENGTH of the Logical Block Provisioning page without provisioning group descriptor.
const PROVISIONING_PAGE_LEN: u16 = 0x04;

/// "No maximum" in MAXIMUM UNMAP LBA COUNT: blkif's discard takes a 64-bit sector count, and
/// each descriptor's own count is 32 bits anyway.
const UNLIMITED: u32 = 0xFFFF_FFFF;

pub(crate) fn page(disk: &Disk, code: u8, r: &mut Reply) -> Result<(), Sense> {
    let id = disk.identity();
    match code {
        SUPPORTED_PAGES => {
            header(r, code, PAGES.len() as u16);
            r.bytes(&PAGES);
        }
        UNIT_SERIAL_NUMBER => {
            header(r, code, id.serial().len() as u16);
            r.bytes(id.serial());
        }
        DEVICE_IDENTIFICATION => {
            let vdi = id.vdi_designator();
            let len = id.designators().len() + vdi.map_or(0, |(h, t)| h.len() + t.len());
            // Bounded by Identity::set_vpd_page.
            header(r, code, len as u16);
            r.bytes(id.designators());
            if let Some((h, t)) = vdi {
                r.bytes(&h);
                r.bytes(t);
            }
        }
        BLOCK_LIMITS => block_limits(disk, r),
        BLOCK_DEVICE_CHARACTERISTICS => {
            // MEDIUM ROTATION RATE 0 ("not reported"), no form factor, no FUAB / VBULS: the
            // backend's medium is unknown, and guessing "non-rotating" would change how
            // Windows optimises the volume.
            header(r, code, LONG_PAGE_LEN);
            r.zeros(usize::from(LONG_PAGE_LEN));
        }
        LOGICAL_BLOCK_PROVISIONING => provisioning(disk, r),
        _ => return Err(Sense::invalid_field_in_cdb(2, None)),
    }
    Ok(())
}

fn header(r: &mut Reply, code: u8, len: u16) {
    r.u8(DEVICE_TYPE_DISK);
    r.u8(code);
    r.be16(len);
}

fn block_limits(disk: &Disk, r: &mut Reply) {
    let max = disk.max_transfer_blocks();
    header(r, BLOCK_LIMITS, LONG_PAGE_LEN);
    // WSNZ: a WRITE SAME of 0 blocks ("to the end of the medium") is refused.
    r.u8(0x01);
    r.u8(0); // MAXIMUM COMPARE AND WRITE LENGTH: not supported.
    r.be16(disk.blocks_per_physical().min(0xFFFF) as u16); // OPTIMAL TRANSFER LENGTH GRANULARITY
    r.be32(max); // MAXIMUM TRANSFER LENGTH
    r.be32(max); // OPTIMAL TRANSFER LENGTH: anything up to one ring request.
    r.be32(0); // MAXIMUM PREFETCH LENGTH
    match disk.discard() {
        Some(d) => {
            r.be32(UNLIMITED); // MAXIMUM UNMAP LBA COUNT
            r.be32(MAX_UNMAP_DESCRIPTORS as u32); // MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT
            r.be32(d.granularity); // OPTIMAL UNMAP GRANULARITY
            r.be32(0x8000_0000 | d.alignment); // UGAVALID | UNMAP GRANULARITY ALIGNMENT
            r.be64(u64::from(UNLIMITED)); // MAXIMUM WRITE SAME LENGTH (a 32-bit count in WS16)
        }
        None => r.zeros(24),
    }
    r.zeros(20); // atomic-write and later SBC-4 fields: not supported.
}

/// LBPU and LBPWS / LBPWS10 (UNMAP, WRITE SAME (16) and (10) with UNMAP) exactly when the backend
/// offers discard. LBPRZ stays 0: blkif does not say what discarded sectors read back as (a
/// file-backed blkback punches holes that read as zeros, a device may return old data).
fn provisioning(disk: &Disk, r: &mut Reply) {
    let discard = disk.discard().is_some();
    header(r, LOGICAL_BLOCK_PROVISIONING, PROVISIONING_PAGE_LEN);
    r.u8(0); // THRESHOLD EXPONENT: no thresholds.
    r.u8(if discard { 0xE0 } else { 0 }); // LBPU LBPWS LBPWS10 | LBPRZ 0 | ANC_SUP 0 | DP 0
    r.u8(if discard { 0x02 } else { 0 }); // PROVISIONING TYPE: thin, else not reported.
    r.u8(0);
}
