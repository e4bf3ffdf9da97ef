//! UNMAP parameter lists and WRITE SAME with UNMAP to blkif discards.

mod scsi_common;
use scsi_common::*;
use xenpv_datapath::scsi::{
    translate, Action, BlockCommand, Data, DiscardRange, Disk, Sense, MAX_UNMAP_DESCRIPTORS,
};

/// UNMAP CDB with PARAMETER LIST LENGTH `len`.
fn unmap_cdb(len: u16) -> [u8; 10] {
    let l = len.to_be_bytes();
    [0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, l[0], l[1], 0x00]
}

/// An UNMAP parameter list: header (UNMAP DATA LENGTH, BLOCK DESCRIPTOR DATA LENGTH, reserved)
/// then 16-byte descriptors (LBA, NUMBER OF LOGICAL BLOCKS, reserved).
fn param_list(descriptors: &[(u64, u32)]) -> Vec<u8> {
    let bd_len = (descriptors.len() * 16) as u16;
    let mut v = Vec::new();
    v.extend_from_slice(&(bd_len + 6).to_be_bytes());
    v.extend_from_slice(&bd_len.to_be_bytes());
    v.extend_from_slice(&[0; 4]);
    for &(lba, n) in descriptors {
        v.extend_from_slice(&lba.to_be_bytes());
        v.extend_from_slice(&n.to_be_bytes());
        v.extend_from_slice(&[0; 4]);
    }
    v
}

fn run_unmap(d: &Disk, list: &[u8]) -> Result<Action, Sense> {
    translate(d, &unmap_cdb(list.len() as u16), Data::Out(list))
}

fn discard(r: Result<Action, Sense>) -> Vec<DiscardRange> {
    match block(r) {
        BlockCommand::Discard { ranges } => ranges.to_vec(),
        other => panic!("expected discard, got {other:?}"),
    }
}

fn r(lba_512: u64, sectors: u64) -> DiscardRange {
    DiscardRange { lba_512, sectors }
}

#[test]
fn unmap_as_windows_sends_it() {
    let d = disk(with_discard(params(), 0, 0));
    // The exact bytes of one-descriptor UNMAP: 42 00 00 00 00 00 00 00 18 00.
    let list = [
        0x00, 0x16, 0x00, 0x10, 0, 0, 0, 0, // header
        0, 0, 0, 0, 0, 0, 0x08, 0x00, 0x00, 0x00, 0x10, 0x00, 0, 0, 0,
        0, // LBA 0x800, 0x1000 blocks
    ];
    let cdb = [0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x18, 0x00];
    assert_eq!(
        discard(translate(&d, &cdb, Data::Out(&list))),
        [r(0x800, 0x1000)]
    );
}

#[test]
fn several_descriptors_in_order_and_empty_ones_skipped() {
    let d = disk(with_discard(params(), 0, 0));
    let list = param_list(&[(100, 8), (0, 0), (5000, 1), (2_097_151, 1)]);
    assert_eq!(
        discard(run_unmap(&d, &list)),
        [r(100, 8), r(5000, 1), r(2_097_151, 1)]
    );
    let only_empty = param_list(&[(7, 0), (9, 0)]);
    assert_eq!(
        run_unmap(&d, &only_empty),
        Ok(Action::Complete { data_len: 0 })
    );
}

#[test]
fn unmap_of_4k_blocks_in_512_byte_sectors() {
    let p = Spec {
        sector_size: 4096,
        physical_sector_size: 4096,
        ..params()
    };
    let d = disk(with_discard(p, 1 << 20, 0));
    assert_eq!(discard(run_unmap(&d, &param_list(&[(3, 2)]))), [r(24, 16)]);
}

#[test]
fn parameter_list_length_rules() {
    let d = disk(with_discard(params(), 0, 0));
    // Length 0: nothing transferred, not an error.
    assert_eq!(
        no_data(&d, &unmap_cdb(0)),
        Ok(Action::Complete { data_len: 0 })
    );
    // Shorter than the 8-byte header.
    let list = param_list(&[(1, 1)]);
    let s = sense(translate(&d, &unmap_cdb(7), Data::Out(&list)));
    assert_eq!(
        key_asc(&s),
        (0x05, 0x1A, 0x00),
        "PARAMETER LIST LENGTH ERROR"
    );
    // The SRB carries less than the CDB announces: same.
    let s = sense(translate(&d, &unmap_cdb(24), Data::Out(&list[..6])));
    assert_eq!(key_asc(&s), (0x05, 0x1A, 0x00));
    // A parameter list length that cuts a descriptor: only whole ones count.
    let list = param_list(&[(1, 1), (2, 2)]);
    assert_eq!(
        discard(translate(&d, &unmap_cdb(39), Data::Out(&list))),
        [r(1, 1)]
    );
    // BLOCK DESCRIPTOR DATA LENGTH smaller than the list: it decides.
    let mut list = param_list(&[(1, 1), (2, 2)]);
    list[3] = 16;
    assert_eq!(discard(run_unmap(&d, &list)), [r(1, 1)]);
}

#[test]
fn too_many_descriptors() {
    let d = disk(with_discard(params(), 0, 0));
    let max: Vec<(u64, u32)> = (0..MAX_UNMAP_DESCRIPTORS as u64)
        .map(|i| (i * 10, 1))
        .collect();
    assert_eq!(
        discard(run_unmap(&d, &param_list(&max))).len(),
        MAX_UNMAP_DESCRIPTORS
    );
    let over: Vec<(u64, u32)> = (0..=MAX_UNMAP_DESCRIPTORS as u64)
        .map(|i| (i * 10, 1))
        .collect();
    let s = sense(run_unmap(&d, &param_list(&over)));
    assert_eq!(
        key_asc(&s),
        (0x05, 0x26, 0x00),
        "INVALID FIELD IN PARAMETER LIST"
    );
    let f = s.to_fixed();
    assert_eq!(f[15] & 0x40, 0, "C/D = 0: the parameter list");
    assert_eq!(be16(&f[16..18]), 2);
}

#[test]
fn unmap_range_and_protection_checks() {
    let d = disk(with_discard(params(), 0, 0));
    let s = sense(run_unmap(&d, &param_list(&[(1, 1), (2_097_151, 2)])));
    assert_eq!(key_asc(&s), LBA_OUT_OF_RANGE);
    let s = sense(run_unmap(&d, &param_list(&[(u64::MAX, 2)])));
    assert_eq!(key_asc(&s), LBA_OUT_OF_RANGE);
    let ro = disk(with_discard(
        Spec {
            read_only: true,
            ..params()
        },
        0,
        0,
    ));
    assert_eq!(
        key_asc(&sense(run_unmap(&ro, &param_list(&[(1, 1)])))),
        WRITE_PROTECTED
    );
    // ANCHOR is not supported.
    let mut cdb = unmap_cdb(24);
    cdb[1] = 0x01;
    let list = param_list(&[(1, 1)]);
    assert_eq!(
        key_asc(&sense(translate(&d, &cdb, Data::Out(&list)))),
        INVALID_FIELD_IN_CDB
    );
}

#[test]
fn without_discard_unmap_and_write_same_are_unknown() {
    let d = disk(params());
    let list = param_list(&[(1, 1)]);
    assert_eq!(key_asc(&sense(run_unmap(&d, &list))), INVALID_OPCODE);
    let ws16 = [0x93, 0x08, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0];
    assert_eq!(
        key_asc(&sense(translate(&d, &ws16, Data::Out(&[0; 512])))),
        INVALID_OPCODE
    );
}

#[test]
fn write_same_with_unmap_discards() {
    let d = disk(with_discard(params(), 0, 0));
    // Linux sd's discard through WRITE SAME (16): UNMAP bit, LBA 0x100, 0x800 blocks.
    let ws16 = [
        0x93, 0x08, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0, 0, 0x08, 0x00, 0, 0,
    ];
    assert_eq!(
        discard(translate(&d, &ws16, Data::Out(&[0; 512]))),
        [r(0x100, 0x800)]
    );
    // NDOB: no data block at all.
    let mut ndob = ws16;
    ndob[1] = 0x09;
    assert_eq!(discard(no_data(&d, &ndob)), [r(0x100, 0x800)]);
    let ws10 = [0x41, 0x08, 0, 0, 0, 0x10, 0, 0, 0x20, 0];
    assert_eq!(
        discard(translate(&d, &ws10, Data::Out(&[0; 512]))),
        [r(0x10, 0x20)]
    );
}

#[test]
fn write_same_refusals() {
    let d = disk(with_discard(params(), 0, 0));
    let ws16 = [0x93, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0];
    let field = |cdb: &[u8]| sense(translate(&d, cdb, Data::Out(&[0; 512])));
    let mut plain = ws16;
    plain[1] = 0x00;
    assert_eq!(
        field(&plain),
        Sense::invalid_field_in_cdb(1, Some(3)),
        "UNMAP = 0"
    );
    let mut zero = ws16;
    zero[13] = 0;
    assert_eq!(field(&zero), Sense::invalid_field_in_cdb(10, None), "WSNZ");
    let mut anchor = ws16;
    anchor[1] |= 0x10;
    assert_eq!(field(&anchor), Sense::invalid_field_in_cdb(1, Some(4)));
    let mut lbdata = ws16;
    lbdata[1] |= 0x02;
    assert_eq!(field(&lbdata), Sense::invalid_field_in_cdb(1, Some(2)));
    let mut wrprotect = ws16;
    wrprotect[1] |= 0x20;
    assert_eq!(field(&wrprotect), Sense::invalid_field_in_cdb(1, Some(7)));
    let mut past = ws16;
    past[2..10].copy_from_slice(&2_097_150u64.to_be_bytes());
    assert_eq!(key_asc(&field(&past)), LBA_OUT_OF_RANGE);
    let ro = disk(with_discard(
        Spec {
            read_only: true,
            ..params()
        },
        0,
        0,
    ));
    assert_eq!(
        key_asc(&sense(translate(&ro, &ws16, Data::Out(&[0; 512])))),
        WRITE_PROTECTED
    );
}
