//! Unit-level commands, refusals of unknown or malformed CDBs, the sense data encoding and the
//! mapping of blkif results back to SCSI.

mod scsi_common;
use scsi_common::*;
use xenpv_datapath::blkif::IoError;
use xenpv_datapath::scsi::{
    complete, translate, Action, BlockCommand, Data, DiscardRange, DiscardRanges, Sense,
    FIXED_SENSE_LEN, STATUS_CHECK_CONDITION, STATUS_GOOD,
};

#[test]
fn report_luns_lists_lun_0() {
    let d = disk(params());
    let cdb = [
        0xa0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
    ];
    let r = data_in(&d, &cdb, 4096);
    assert_eq!(r.len(), 16);
    assert_eq!(be32(&r[0..4]), 8, "LUN LIST LENGTH: one LUN");
    assert_eq!(be64(&r[8..16]), 0, "LUN 0");
    // Well-known LUNs only: an empty list.
    let r = data_in(&d, &[0xa0, 0, 0x01, 0, 0, 0, 0, 0, 0x10, 0, 0, 0], 4096);
    assert_eq!(r, [0; 8]);
    // Truncation by a short allocation length (SPC-4 allows it).
    assert_eq!(
        data_in(&d, &[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0], 4096),
        [0, 0, 0, 8]
    );
    let s = sense(no_data(&d, &[0xa0, 0, 0x03, 0, 0, 0, 0, 0, 0x10, 0, 0, 0]));
    assert_eq!(s, Sense::invalid_field_in_cdb(2, None), "SELECT REPORT 03h");
}

#[test]
fn trivial_unit_commands_succeed() {
    let d = disk(params());
    let good = Ok(Action::Complete { data_len: 0 });
    assert_eq!(no_data(&d, &[0x00, 0, 0, 0, 0, 0]), good, "TEST UNIT READY");
    assert_eq!(
        no_data(&d, &[0x1b, 0, 0, 0, 0x01, 0]),
        good,
        "START STOP UNIT start"
    );
    assert_eq!(
        no_data(&d, &[0x1b, 0x01, 0, 0, 0x00, 0]),
        good,
        "stop, IMMED"
    );
    assert_eq!(
        no_data(&d, &[0x1e, 0, 0, 0, 0x01, 0]),
        good,
        "PREVENT MEDIUM REMOVAL"
    );
}

#[test]
fn request_sense_reports_the_current_condition() {
    let d = disk(params());
    let r = data_in(&d, &[0x03, 0, 0, 0, 0xFC, 0], 252);
    assert_eq!(r.len(), FIXED_SENSE_LEN);
    assert_eq!(r[0], 0x70);
    assert_eq!((r[2], r[12], r[13]), (0, 0, 0), "NO SENSE");
    let empty = disk(Spec {
        sectors: 0,
        ..params()
    });
    let r = data_in(&empty, &[0x03, 0, 0, 0, 18, 0], 252);
    assert_eq!((r[2], r[12], r[13]), MEDIUM_NOT_PRESENT);
    let s = sense(no_data(&d, &[0x03, 0x01, 0, 0, 18, 0]));
    assert_eq!(
        s,
        Sense::invalid_field_in_cdb(1, Some(0)),
        "DESC format is not produced"
    );
}

#[test]
fn unknown_opcodes_are_invalid_command_operation_code() {
    let d = disk(params());
    for cdb in [
        &[0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..],
        &[0x15, 0x10, 0, 0, 0x18, 0][..], // MODE SELECT (6)
        &[0x55, 0x10, 0, 0, 0, 0, 0, 0, 0x18, 0][..], // MODE SELECT (10)
        &[0x4d, 0, 0x40, 0, 0, 0, 0, 0, 0xff, 0][..], // LOG SENSE
        &[0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0][..], // REPORT SUPPORTED OP CODES
        &[0x5e, 0, 0, 0, 0, 0, 0, 0, 0x18, 0][..], // PERSISTENT RESERVE IN
        &[0x04, 0, 0, 0, 0, 0][..],       // FORMAT UNIT
        &[0x7f, 0, 0, 0, 0, 0, 0, 0x18, 0, 0][..], // variable length
    ] {
        let s = sense(no_data(&d, cdb));
        assert_eq!(key_asc(&s), INVALID_OPCODE, "{cdb:02x?}");
        let f = s.to_fixed();
        assert_eq!(
            (f[15], be16(&f[16..18])),
            (0xC0, 0),
            "points at the operation code"
        );
    }
}

#[test]
fn malformed_cdbs() {
    let d = disk(params());
    assert_eq!(key_asc(&sense(no_data(&d, &[]))), INVALID_OPCODE);
    // READ (10) cut after 6 bytes.
    let mut buf = [0u8; 512];
    let s = sense(translate(&d, &[0x28, 0, 0, 0, 0, 0], Data::In(&mut buf)));
    assert_eq!(s, Sense::invalid_field_in_cdb(6, None));
    // NACA in the CONTROL byte of an INQUIRY.
    let s = sense(no_data(&d, &[0x12, 0, 0, 0, 0x24, 0x04]));
    assert_eq!(s, Sense::invalid_field_in_cdb(5, Some(2)));
}

#[test]
fn fixed_sense_layout() {
    let f = Sense::invalid_field_in_cdb(0x0102, Some(5)).to_fixed();
    assert_eq!(f[0], 0x70, "current error, fixed format");
    assert_eq!(f[2], 0x05, "ILLEGAL REQUEST");
    assert_eq!(f[7], 10, "additional sense length");
    assert_eq!((f[12], f[13]), (0x24, 0x00));
    assert_eq!(f[15], 0x80 | 0x40 | 0x08 | 5, "SKSV, C/D, BPV, bit 5");
    assert_eq!(&f[16..18], &[0x01, 0x02]);
    let f = Sense::write_protected().to_fixed();
    assert_eq!(
        (f[2], f[12], f[13], f[15]),
        (0x07, 0x27, 0x00, 0),
        "no sense-key specific"
    );
    // Into a short autosense buffer.
    let mut small = [0xAAu8; 14];
    assert_eq!(Sense::lba_out_of_range().write_fixed(&mut small), 14);
    assert_eq!((small[2], small[12], small[13]), (0x05, 0x21, 0x00));
    assert_eq!((STATUS_GOOD, STATUS_CHECK_CONDITION), (0x00, 0x02));
}

#[test]
fn block_results_become_status_and_sense() {
    let read = BlockCommand::Read {
        lba_512: 0,
        sectors: 8,
    };
    let write = BlockCommand::Write {
        lba_512: 0,
        sectors: 8,
        fua: true,
    };
    let mut ranges = DiscardRanges::new();
    ranges.push(DiscardRange {
        lba_512: 0,
        sectors: 8,
    });
    let discard = BlockCommand::Discard { ranges };
    for cmd in [&read, &write, &BlockCommand::Flush, &discard] {
        assert_eq!(complete(cmd, Ok(())), Ok(()));
        let gone = complete(cmd, Err(IoError::Disconnected)).unwrap_err();
        assert_eq!(key_asc(&gone), (0x02, 0x04, 0x00), "NOT READY");
        let eop = complete(cmd, Err(IoError::NotSupported)).unwrap_err();
        assert_eq!(key_asc(&eop), INVALID_OPCODE);
        let busy = complete(cmd, Err(IoError::NoResources)).unwrap_err();
        assert_eq!(
            key_asc(&busy),
            (0x0B, 0x55, 0x03),
            "ABORTED COMMAND, retried"
        );
    }
    let e = complete(&read, Err(IoError::Io)).unwrap_err();
    assert_eq!(key_asc(&e), (0x03, 0x11, 0x00), "UNRECOVERED READ ERROR");
    for cmd in [&write, &BlockCommand::Flush, &discard] {
        let e = complete(cmd, Err(IoError::Io)).unwrap_err();
        assert_eq!(key_asc(&e), (0x03, 0x0C, 0x00), "WRITE ERROR");
    }
    // The disk changed under an already translated command.
    assert_eq!(
        key_asc(&complete(&read, Err(IoError::OutOfRange)).unwrap_err()),
        LBA_OUT_OF_RANGE
    );
    assert_eq!(
        key_asc(&complete(&write, Err(IoError::ReadOnly)).unwrap_err()),
        WRITE_PROTECTED
    );
    let misaligned = complete(&read, Err(IoError::Misaligned)).unwrap_err();
    assert_eq!(key_asc(&misaligned), (0x02, 0x04, 0x00));
}
