//! MODE SENSE (6) and (10) (SPC-4 6.11, 6.12) with the Caching (08h) and Control (0Ah) pages.
//! Nothing is changeable: MODE SELECT is not implemented (see [`super::translate`]).

use super::cdb::{Cdb, MODE_SENSE_6};
use super::disk::Disk;
use super::reply::Reply;
use super::sense::Sense;

const CACHING: u8 = 0x08;
const CONTROL: u8 = 0x0A;
const ALL_PAGES: u8 = 0x3F;
/// SUBPAGE CODE FFh: the page with all its subpages (none here).
const ALL_SUBPAGES: u8 = 0xFF;

const CACHING_LEN: u8 = 0x12;
const CONTROL_LEN: u8 = 0x0A;

/// Device-specific parameter of direct access devices (SBC-3 6.4.2).
const WP: u8 = 0x80;
const DPOFUA: u8 = 0x10;

const SHORT_DESCRIPTOR_LEN: usize = 8;
const LONG_DESCRIPTOR_LEN: usize = 16;

/// PAGE CONTROL field values.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PageControl {
    Current,
    Changeable,
    Default,
}

pub(crate) fn mode_sense(disk: &Disk, cdb: &Cdb, buf: &mut [u8]) -> Result<usize, Sense> {
    let six = cdb.opcode() == MODE_SENSE_6;
    let dbd = cdb.bit(1, 3);
    let llbaa = !six && cdb.bit(1, 4);
    let pc = match cdb.u8(2) >> 6 {
        0 => PageControl::Current,
        1 => PageControl::Changeable,
        2 => PageControl::Default,
        _ => return Err(Sense::saving_parameters_not_supported(2, Some(7))),
    };
    let code = cdb.u8(2) & 0x3F;
    let subpage = cdb.u8(3);
    if subpage != 0 && subpage != ALL_SUBPAGES {
        return Err(Sense::invalid_field_in_cdb(3, None));
    }
    let (caching, control) = match code {
        CACHING => (true, false),
        CONTROL => (false, true),
        ALL_PAGES => (true, true),
        _ => return Err(Sense::invalid_field_in_cdb(2, Some(5))),
    };
    let alloc = if six {
        usize::from(cdb.u8(4))
    } else {
        usize::from(cdb.be16(7))
    };

    let descriptor_len = match (dbd, llbaa) {
        (true, _) => 0,
        (false, false) => SHORT_DESCRIPTOR_LEN,
        (false, true) => LONG_DESCRIPTOR_LEN,
    };
    let header_len = if six { 4 } else { 8 };
    let pages_len = usize::from(caching) * (2 + usize::from(CACHING_LEN))
        + usize::from(control) * (2 + usize::from(CONTROL_LEN));
    let total = header_len + descriptor_len + pages_len;

    let mut device_specific = 0;
    if disk.read_only() {
        device_specific |= WP;
    }
    if disk.has_write_cache() {
        device_specific |= DPOFUA;
    }

    let mut r = Reply::new(buf, alloc);
    // MODE DATA LENGTH excludes itself.
    if six {
        r.u8((total - 1) as u8);
        r.u8(0); // MEDIUM TYPE
        r.u8(device_specific);
        r.u8(descriptor_len as u8);
    } else {
        r.be16((total - 2) as u16);
        r.u8(0);
        r.u8(device_specific);
        r.u8(u8::from(llbaa && !dbd)); // LONGLBA
        r.u8(0);
        r.be16(descriptor_len as u16);
    }
    let blocks = disk.blocks();
    match descriptor_len {
        SHORT_DESCRIPTOR_LEN => {
            // SBC-3 6.4.4.2: a capacity that does not fit reads as FFFFFFFFh.
            r.be32(u32::try_from(blocks).unwrap_or(u32::MAX));
            r.u8(0);
            r.bytes(&disk.block_size().to_be_bytes()[1..]);
        }
        LONG_DESCRIPTOR_LEN => {
            r.be64(blocks);
            r.be32(0);
            r.be32(disk.block_size());
        }
        _ => {}
    }
    // Pages in ascending order of page code.
    if caching {
        caching_page(disk, pc, &mut r);
    }
    if control {
        control_page(pc, &mut r);
    }
    debug_assert_eq!(r.produced(), total);
    Ok(r.finish())
}

/// WCE tells the initiator whether it must send SYNCHRONIZE CACHE (or FUA) for durability: on
/// exactly when the backend has a cache to flush.
fn caching_page(disk: &Disk, pc: PageControl, r: &mut Reply) {
    r.u8(CACHING); // PS 0: nothing can be saved.
    r.u8(CACHING_LEN);
    let wce = pc != PageControl::Changeable && disk.has_write_cache();
    r.u8(if wce { 0x04 } else { 0 }); // WCE; RCD 0 (reads may be cached).
    r.zeros(usize::from(CACHING_LEN) - 1);
}

fn control_page(pc: PageControl, r: &mut Reply) {
    r.u8(CONTROL);
    r.u8(CONTROL_LEN);
    r.u8(0); // TST 0, D_SENSE 0: fixed-format sense.
             // QUEUE ALGORITHM MODIFIER 1: commands may be reordered, as blkif requests are.
    r.u8(if pc == PageControl::Changeable {
        0
    } else {
        0x10
    });
    r.zeros(usize::from(CONTROL_LEN) - 2);
}
