//! READ CAPACITY (10) / (16) and MODE SENSE (6) / (10) against the SBC-3 / SPC-4 layouts.

mod scsi_common;
use scsi_common::*;
use xenpv_datapath::scsi::Sense;

const RC10: [u8; 10] = [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const RC16: [u8; 16] = [0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0];

#[test]
fn read_capacity_10_of_a_small_disk() {
    let r = data_in(&disk(params()), &RC10, 8);
    assert_eq!(be32(&r[0..4]), 2 * 1024 * 1024 - 1, "last LBA");
    assert_eq!(be32(&r[4..8]), 512);
}

#[test]
fn read_capacity_counts_logical_blocks_of_4k_disks() {
    // 1 GiB in 512-byte sectors, 4 KiB logical blocks.
    let d = disk(Spec {
        sector_size: 4096,
        physical_sector_size: 4096,
        ..params()
    });
    let r = data_in(&d, &RC10, 8);
    assert_eq!(be32(&r[0..4]), 262_144 - 1);
    assert_eq!(be32(&r[4..8]), 4096);
    let r = data_in(&d, &RC16, 32);
    assert_eq!(be64(&r[0..8]), 262_144 - 1);
    assert_eq!(be32(&r[8..12]), 4096);
    assert_eq!(r[13] & 0x0F, 0, "one logical block per physical block");
}

#[test]
fn large_disks_read_ffffffff_in_read_capacity_10() {
    // 2^32 blocks of 512 bytes: the last LBA does not fit in 32 bits.
    let d = disk(Spec {
        sectors: 1 << 32,
        ..params()
    });
    assert_eq!(be32(&data_in(&d, &RC10, 8)[0..4]), 0xFFFF_FFFF);
    assert_eq!(be64(&data_in(&d, &RC16, 32)[0..8]), (1 << 32) - 1);
    // One block less: the last LBA is FFFFFFFEh and is reported as such.
    let d = disk(Spec {
        sectors: (1 << 32) - 1,
        ..params()
    });
    assert_eq!(be32(&data_in(&d, &RC10, 8)[0..4]), 0xFFFF_FFFE);
}

#[test]
fn read_capacity_16_fields() {
    let r = data_in(&disk(params()), &RC16, 255);
    assert_eq!(r.len(), 32, "allocation length 0x20");
    assert_eq!(be64(&r[0..8]), 2 * 1024 * 1024 - 1);
    assert_eq!(be32(&r[8..12]), 512);
    assert_eq!(r[12], 0, "no protection");
    assert_eq!(r[13] & 0x0F, 3, "8 logical blocks per 4 KiB physical block");
    assert_eq!(r[14] & 0xC0, 0, "no LBPME without discard");
    assert_eq!(be16(&r[14..16]) & 0x3FFF, 0, "lowest aligned LBA");
    assert!(r[16..].iter().all(|&b| b == 0));

    let r = data_in(&disk(with_discard(params(), 0, 0)), &RC16, 32);
    assert_eq!(r[14] & 0x80, 0x80, "LBPME with discard");
    assert_eq!(r[14] & 0x40, 0, "LBPRZ 0");

    // Linux asks for 32 bytes; a 12-byte allocation length truncates.
    let mut short = RC16;
    short[13] = 12;
    assert_eq!(data_in(&disk(params()), &short, 255).len(), 12);
}

#[test]
fn read_capacity_pmi_rule_and_bad_service_action() {
    let d = disk(params());
    let mut cdb = RC10;
    cdb[5] = 1; // LBA 1 with PMI 0
    assert_eq!(key_asc(&sense(no_data(&d, &cdb))), INVALID_FIELD_IN_CDB);
    cdb[8] = 1; // PMI 1
    assert_eq!(be32(&data_in(&d, &cdb, 8)[0..4]), 2 * 1024 * 1024 - 1);
    let mut cdb = RC16;
    cdb[9] = 1;
    assert_eq!(key_asc(&sense(no_data(&d, &cdb))), INVALID_FIELD_IN_CDB);
    // SERVICE ACTION IN (16) / GET LBA STATUS (12h) is not implemented.
    let mut cdb = RC16;
    cdb[1] = 0x12;
    let s = sense(no_data(&d, &cdb));
    assert_eq!(key_asc(&s), INVALID_FIELD_IN_CDB);
    assert_eq!(s.to_fixed()[15], 0xC8 | 4, "bit pointer at SERVICE ACTION");
}

#[test]
fn empty_medium_is_not_ready() {
    let d = disk(Spec {
        sectors: 0,
        cdrom: true,
        ..params()
    });
    assert_eq!(key_asc(&sense(no_data(&d, &RC10))), MEDIUM_NOT_PRESENT);
    assert_eq!(key_asc(&sense(no_data(&d, &RC16))), MEDIUM_NOT_PRESENT);
    assert_eq!(
        key_asc(&sense(no_data(&d, &[0; 6]))),
        MEDIUM_NOT_PRESENT,
        "TEST UNIT READY"
    );
    // INQUIRY still answers.
    assert_eq!(data_in(&d, &[0x12, 0, 0, 0, 0x24, 0], 36).len(), 36);
}

#[test]
fn online_resize_raises_a_unit_attention_then_shows_the_new_capacity() {
    // The control plane's watch on `sectors` resizes the core's disk.
    let spec = params();
    let blk = spec.blkif_disk();
    let d = xenpv_datapath::scsi::Disk::new(
        blk.clone(),
        &spec.features(),
        &Default::default(),
        xenpv_datapath::scsi::Identity::derived(1),
    )
    .unwrap();
    blk.resize(4 * 1024 * 1024);
    // INQUIRY and REPORT LUNS neither report nor clear it.
    assert_eq!(data_in(&d, &[0x12, 0, 0, 0, 0x24, 0], 36).len(), 36);
    let luns = [0xa0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0];
    assert_eq!(data_in(&d, &luns, 16).len(), 16);
    // The next other command reports it, once.
    let ua = sense(no_data(&d, &[0x00, 0, 0, 0, 0, 0]));
    assert_eq!(
        key_asc(&ua),
        (0x06, 0x2A, 0x09),
        "CAPACITY DATA HAS CHANGED"
    );
    assert_eq!(be32(&data_in(&d, &RC10, 8)[0..4]), 4 * 1024 * 1024 - 1);
    // Through REQUEST SENSE instead: returned as data, and cleared.
    blk.resize(1024);
    let r = data_in(&d, &[0x03, 0, 0, 0, 18, 0], 18);
    assert_eq!((r[2], r[12], r[13]), (0x06, 0x2A, 0x09));
    assert_eq!(be32(&data_in(&d, &RC10, 8)[0..4]), 1023);
    // The same size again is no change.
    blk.resize(1024);
    assert_eq!(be32(&data_in(&d, &RC10, 8)[0..4]), 1023);
}

// MODE SENSE.

const MODE_SENSE_6_ALL: [u8; 6] = [0x1a, 0x00, 0x3f, 0x00, 0xff, 0x00];

#[test]
fn mode_sense_6_all_pages() {
    let r = data_in(&disk(params()), &MODE_SENSE_6_ALL, 255);
    // Header 4 + short block descriptor 8 + caching 20 + control 12.
    assert_eq!(r.len(), 44);
    assert_eq!(usize::from(r[0]), r.len() - 1, "MODE DATA LENGTH");
    assert_eq!(r[1], 0, "medium type");
    assert_eq!(r[2] & 0x80, 0, "not write protected");
    assert_eq!(r[2] & 0x10, 0x10, "DPOFUA: the backend can flush");
    assert_eq!(r[3], 8, "block descriptor length");
    assert_eq!(be32(&r[4..8]), 2 * 1024 * 1024, "number of blocks");
    assert_eq!(&r[9..12], &[0x00, 0x02, 0x00], "block length 512");
    let caching = &r[12..32];
    assert_eq!(caching[0] & 0x3F, 0x08);
    assert_eq!(caching[1], 0x12);
    assert_eq!(caching[2] & 0x04, 0x04, "WCE: flush-cache offered");
    assert_eq!(caching[2] & 0x01, 0, "RCD 0");
    let control = &r[32..44];
    assert_eq!(control[0] & 0x3F, 0x0A);
    assert_eq!(control[1], 0x0A);
    assert_eq!(control[2] & 0x04, 0, "D_SENSE 0: fixed format sense");
}

#[test]
fn write_cache_and_write_protect_follow_the_backend() {
    let caching = [0x1a, 0x00, 0x08, 0x00, 0xff, 0x00];
    let through = disk(Spec {
        flush_cache: false,
        barrier: false,
        ..params()
    });
    let r = data_in(&through, &caching, 255);
    assert_eq!(r.len(), 4 + 8 + 20);
    assert_eq!(r[2] & 0x10, 0, "no DPOFUA without flush or barrier");
    assert_eq!(r[12 + 2] & 0x04, 0, "WCE 0: write-through backend");

    let barrier = disk(Spec {
        flush_cache: false,
        barrier: true,
        ..params()
    });
    assert_eq!(
        data_in(&barrier, &caching, 255)[12 + 2] & 0x04,
        0x04,
        "barrier flushes too"
    );

    let ro = disk(Spec {
        read_only: true,
        ..params()
    });
    assert_eq!(data_in(&ro, &caching, 255)[2] & 0x80, 0x80, "WP");
}

#[test]
fn mode_sense_dbd_and_changeable_values() {
    let d = disk(params());
    let r = data_in(&d, &[0x1a, 0x08, 0x08, 0x00, 0xff, 0x00], 255);
    assert_eq!(r[3], 0, "DBD: no block descriptor");
    assert_eq!(r.len(), 4 + 20);
    assert_eq!(r[4], 0x08);
    // PC = 01b: changeable values are all zero.
    let r = data_in(&d, &[0x1a, 0x08, 0x48, 0x00, 0xff, 0x00], 255);
    assert_eq!(&r[4..6], &[0x08, 0x12]);
    assert!(r[6..].iter().all(|&b| b == 0));
    // PC = 10b: defaults equal the current values.
    let cur = data_in(&d, &[0x1a, 0x08, 0x08, 0x00, 0xff, 0x00], 255);
    assert_eq!(data_in(&d, &[0x1a, 0x08, 0x88, 0x00, 0xff, 0x00], 255), cur);
}

#[test]
fn mode_sense_10_with_long_lba_descriptor() {
    let d = disk(Spec {
        sectors: 1 << 40,
        ..params()
    });
    let cdb = [0x5a, 0x10, 0x08, 0x00, 0, 0, 0, 0x01, 0x00, 0x00];
    let r = data_in(&d, &cdb, 255);
    assert_eq!(r.len(), 8 + 16 + 20);
    assert_eq!(usize::from(be16(&r[0..2])), r.len() - 2);
    assert_eq!(r[4] & 0x01, 1, "LONGLBA");
    assert_eq!(be16(&r[6..8]), 16);
    assert_eq!(be64(&r[8..16]), 1 << 40);
    assert_eq!(be32(&r[20..24]), 512);
    assert_eq!(r[24] & 0x3F, 0x08);
    // Without LLBAA the short descriptor saturates at FFFFFFFFh.
    let r = data_in(
        &d,
        &[0x5a, 0x00, 0x08, 0x00, 0, 0, 0, 0x01, 0x00, 0x00],
        255,
    );
    assert_eq!(be16(&r[6..8]), 8);
    assert_eq!(be32(&r[8..12]), 0xFFFF_FFFF);
}

#[test]
fn mode_sense_allocation_length_truncates() {
    let r = data_in(&disk(params()), &[0x1a, 0x00, 0x3f, 0x00, 0x04, 0x00], 255);
    assert_eq!(r.len(), 4);
    assert_eq!(r[0], 43, "the length field still describes everything");
}

#[test]
fn mode_sense_refusals() {
    let d = disk(params());
    let saved = sense(no_data(&d, &[0x1a, 0x00, 0xc8, 0x00, 0xff, 0x00]));
    assert_eq!(
        key_asc(&saved),
        (0x05, 0x39, 0x00),
        "SAVING PARAMETERS NOT SUPPORTED"
    );
    for page in [0x01u8, 0x1C, 0x00] {
        let s = sense(no_data(&d, &[0x1a, 0x00, page, 0x00, 0xff, 0x00]));
        assert_eq!(key_asc(&s), INVALID_FIELD_IN_CDB, "page {page:#x}");
    }
    let s = sense(no_data(&d, &[0x1a, 0x00, 0x08, 0x01, 0xff, 0x00]));
    assert_eq!(s, Sense::invalid_field_in_cdb(3, None), "subpage 1");
    assert!(
        no_data(&d, &[0x1a, 0x00, 0x3f, 0xff, 0xff, 0x00]).is_ok(),
        "all subpages"
    );
}
