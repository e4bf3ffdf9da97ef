//! READ / WRITE / VERIFY / SYNCHRONIZE CACHE to blkif operations, with real CDB bytes.

mod scsi_common;
use scsi_common::*;
use xenpv_datapath::scsi::{translate, Action, BlockCommand, Data};

fn read(d: &xenpv_datapath::scsi::Disk, cdb: &[u8], buf_len: usize) -> BlockCommand {
    let mut buf = vec![0u8; buf_len];
    block(translate(d, cdb, Data::In(&mut buf)))
}

fn write(d: &xenpv_datapath::scsi::Disk, cdb: &[u8], buf_len: usize) -> BlockCommand {
    let buf = vec![0u8; buf_len];
    block(translate(d, cdb, Data::Out(&buf)))
}

#[test]
fn read_10_as_windows_sends_it() {
    // READ (10) LBA 0x00012345, 8 blocks.
    let cmd = read(
        &disk(params()),
        &[0x28, 0x00, 0x00, 0x01, 0x23, 0x45, 0x00, 0x00, 0x08, 0x00],
        4096,
    );
    assert_eq!(
        cmd,
        BlockCommand::Read {
            lba_512: 0x12345,
            sectors: 8
        }
    );
    assert_eq!(cmd.data_bytes(), 4096);
}

#[test]
fn write_10_with_fua() {
    let cdb = [0x2a, 0x08, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00];
    assert_eq!(
        write(&disk(params()), &cdb, 512),
        BlockCommand::Write {
            lba_512: 0x1000,
            sectors: 1,
            fua: true
        }
    );
    let mut no_fua = cdb;
    no_fua[1] = 0x00;
    assert_eq!(
        write(&disk(params()), &no_fua, 512),
        BlockCommand::Write {
            lba_512: 0x1000,
            sectors: 1,
            fua: false
        }
    );
    // A write-through backend (no flush, no barrier): FUA has nothing to add.
    let through = disk(Spec {
        flush_cache: false,
        ..params()
    });
    assert_eq!(
        write(&through, &cdb, 512),
        BlockCommand::Write {
            lba_512: 0x1000,
            sectors: 1,
            fua: false
        }
    );
}

#[test]
fn six_byte_cdbs_use_21_bits_and_0_means_256() {
    let d = disk(Spec {
        sectors: 1 << 24,
        indirect_segments: 64,
        ..params()
    });
    // READ (6): LBA 0x1F_FFFF (the top 3 bits of byte 1 are not address), 0 blocks = 256.
    let cmd = read(&d, &[0x08, 0xFF, 0xFF, 0xFF, 0x00, 0x00], 256 * 512);
    assert_eq!(
        cmd,
        BlockCommand::Read {
            lba_512: 0x1F_FFFF,
            sectors: 256
        }
    );
    let cmd = write(&d, &[0x0a, 0x00, 0x00, 0x10, 0x02, 0x00], 1024);
    assert_eq!(
        cmd,
        BlockCommand::Write {
            lba_512: 0x10,
            sectors: 2,
            fua: false
        }
    );
}

#[test]
fn twelve_and_sixteen_byte_cdbs() {
    let d = disk(Spec {
        sectors: 1 << 40,
        indirect_segments: 256,
        ..params()
    });
    let cmd = read(
        &d,
        &[0xa8, 0, 0xDE, 0xAD, 0xBE, 0xEF, 0, 0, 0, 0x10, 0, 0],
        8192,
    );
    assert_eq!(
        cmd,
        BlockCommand::Read {
            lba_512: 0xDEAD_BEEF,
            sectors: 16
        }
    );
    let cmd = write(&d, &[0xaa, 0x08, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0], 1024);
    assert_eq!(
        cmd,
        BlockCommand::Write {
            lba_512: 1,
            sectors: 2,
            fua: true
        }
    );
    let lba: u64 = (1 << 40) - 8;
    let mut cdb = [0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0];
    cdb[2..10].copy_from_slice(&lba.to_be_bytes());
    assert_eq!(
        read(&d, &cdb, 4096),
        BlockCommand::Read {
            lba_512: lba,
            sectors: 8
        }
    );
    cdb[0] = 0x8a;
    cdb[1] = 0x08;
    assert_eq!(
        write(&d, &cdb, 4096),
        BlockCommand::Write {
            lba_512: lba,
            sectors: 8,
            fua: true
        }
    );
}

#[test]
fn logical_blocks_of_4k_disks_become_512_byte_sectors() {
    let d = disk(Spec {
        sector_size: 4096,
        physical_sector_size: 4096,
        ..params()
    });
    let cmd = read(&d, &[0x28, 0, 0, 0, 0, 100, 0, 0, 2, 0], 8192);
    assert_eq!(
        cmd,
        BlockCommand::Read {
            lba_512: 800,
            sectors: 16
        }
    );
    assert_eq!(cmd.data_bytes(), 8192);
}

#[test]
fn out_of_range_is_lba_out_of_range() {
    let d = disk(params());
    let last = 2 * 1024 * 1024 - 1u32;
    let mut cdb = [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0];
    cdb[2..6].copy_from_slice(&last.to_be_bytes());
    assert_eq!(
        read(&d, &cdb, 512),
        BlockCommand::Read {
            lba_512: u64::from(last),
            sectors: 1
        }
    );
    cdb[8] = 2; // one block past the end
    let mut buf = [0u8; 1024];
    assert_eq!(
        key_asc(&sense(translate(&d, &cdb, Data::In(&mut buf)))),
        LBA_OUT_OF_RANGE
    );
    // An LBA + length that overflows 64 bits.
    let mut cdb16 = [
        0x88, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 2, 0, 0,
    ];
    assert_eq!(
        key_asc(&sense(translate(&d, &cdb16, Data::In(&mut buf)))),
        LBA_OUT_OF_RANGE
    );
    cdb16[13] = 0; // transfer length 0 at a bad LBA is still out of range
    assert_eq!(key_asc(&sense(no_data(&d, &cdb16))), LBA_OUT_OF_RANGE);
}

#[test]
fn zero_length_transfers_complete_at_once() {
    let d = disk(params());
    assert_eq!(
        no_data(&d, &[0x28, 0, 0, 0, 0, 9, 0, 0, 0, 0]),
        Ok(Action::Complete { data_len: 0 })
    );
    assert_eq!(
        no_data(&d, &[0x2a, 0, 0, 0, 0, 9, 0, 0, 0, 0]),
        Ok(Action::Complete { data_len: 0 })
    );
}

#[test]
fn writes_to_a_read_only_disk_are_data_protect() {
    let d = disk(Spec {
        read_only: true,
        ..params()
    });
    let buf = [0u8; 512];
    for cdb in [
        &[0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0][..],
        &[0x0a, 0, 0, 0, 1, 0][..],
        &[0xaa, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0][..],
        &[0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0][..],
    ] {
        assert_eq!(
            key_asc(&sense(translate(&d, cdb, Data::Out(&buf)))),
            WRITE_PROTECTED
        );
    }
    // Reads still work.
    assert_eq!(
        read(&d, &[0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0], 512),
        BlockCommand::Read {
            lba_512: 0,
            sectors: 1
        }
    );
}

#[test]
fn transfers_beyond_the_maximum_transfer_length_are_refused() {
    let d = disk(params()); // 11 segments = 88 blocks of 512 bytes
    let mut buf = vec![0u8; 89 * 512];
    let s = sense(translate(
        &d,
        &[0x28, 0, 0, 0, 0, 0, 0, 0, 89, 0],
        Data::In(&mut buf),
    ));
    assert_eq!(key_asc(&s), INVALID_FIELD_IN_CDB);
    assert_eq!(be16(&s.to_fixed()[16..18]), 7, "points at TRANSFER LENGTH");
    assert!(translate(&d, &[0x28, 0, 0, 0, 0, 0, 0, 0, 88, 0], Data::In(&mut buf)).is_ok());
    // READ (6) of 256 blocks exceeds it too.
    let s = sense(translate(&d, &[0x08, 0, 0, 0, 0, 0], Data::In(&mut buf)));
    assert_eq!(be16(&s.to_fixed()[16..18]), 4);
}

#[test]
fn buffer_must_hold_the_transfer_in_the_right_direction() {
    let d = disk(params());
    let cdb = [0x28, 0, 0, 0, 0, 0, 0, 0, 2, 0];
    let mut short = [0u8; 1023];
    assert_eq!(
        key_asc(&sense(translate(&d, &cdb, Data::In(&mut short)))),
        INVALID_FIELD_IN_CDB
    );
    let out = [0u8; 1024];
    assert_eq!(
        key_asc(&sense(translate(&d, &cdb, Data::Out(&out)))),
        INVALID_FIELD_IN_CDB
    );
    assert_eq!(key_asc(&sense(no_data(&d, &cdb))), INVALID_FIELD_IN_CDB);
    // A larger buffer is fine: the rest is residual.
    let mut big = [0u8; 4096];
    assert!(matches!(
        translate(&d, &cdb, Data::In(&mut big)),
        Ok(Action::Block(_))
    ));
    let wcdb = [0x2a, 0, 0, 0, 0, 0, 0, 0, 2, 0];
    assert_eq!(
        key_asc(&sense(translate(&d, &wcdb, Data::Out(&out[..1000])))),
        INVALID_FIELD_IN_CDB
    );
    assert_eq!(
        key_asc(&sense(translate(&d, &wcdb, Data::In(&mut big)))),
        INVALID_FIELD_IN_CDB
    );
}

#[test]
fn protection_information_is_refused() {
    let d = disk(params());
    let mut buf = [0u8; 512];
    let s = sense(translate(
        &d,
        &[0x28, 0x20, 0, 0, 0, 0, 0, 0, 1, 0],
        Data::In(&mut buf),
    ));
    assert_eq!(key_asc(&s), INVALID_FIELD_IN_CDB);
    assert_eq!(s.to_fixed()[15], 0xC8 | 7, "bit pointer at RDPROTECT");
}

#[test]
fn synchronize_cache_flushes_when_there_is_a_cache() {
    let cdb10 = [0x35, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];
    let cdb16 = [0x91, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let d = disk(params());
    assert_eq!(block(no_data(&d, &cdb10)), BlockCommand::Flush);
    assert_eq!(
        block(no_data(&d, &cdb16)),
        BlockCommand::Flush,
        "IMMED still flushes"
    );
    let barrier = disk(Spec {
        flush_cache: false,
        barrier: true,
        ..params()
    });
    assert_eq!(block(no_data(&barrier, &cdb10)), BlockCommand::Flush);
    for nothing_to_flush in [
        disk(Spec {
            flush_cache: false,
            ..params()
        }),
        disk(Spec {
            read_only: true,
            ..params()
        }),
    ] {
        assert_eq!(
            no_data(&nothing_to_flush, &cdb10),
            Ok(Action::Complete { data_len: 0 })
        );
    }
    // A range past the end is refused; 0 blocks means "to the end" from a valid LBA.
    let mut bad = cdb10;
    bad[2..6].copy_from_slice(&(2u32 * 1024 * 1024).to_be_bytes());
    assert_eq!(key_asc(&sense(no_data(&d, &bad))), LBA_OUT_OF_RANGE);
}

#[test]
fn verify_checks_the_range_only() {
    let d = disk(params());
    assert_eq!(
        no_data(&d, &[0x2f, 0x00, 0, 0, 0, 0, 0, 0, 0x80, 0]),
        Ok(Action::Complete { data_len: 0 })
    );
    assert_eq!(
        no_data(&d, &[0x8f, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]),
        Ok(Action::Complete { data_len: 0 })
    );
    let s = sense(no_data(&d, &[0x2f, 0x02, 0, 0, 0, 0, 0, 0, 1, 0]));
    assert_eq!(
        key_asc(&s),
        INVALID_FIELD_IN_CDB,
        "BYTCHK needs data compare"
    );
    let s = sense(no_data(&d, &[0xaf, 0x00, 0, 0x20, 0, 0, 0, 0, 0, 1, 0, 0]));
    assert_eq!(key_asc(&s), LBA_OUT_OF_RANGE);
}
