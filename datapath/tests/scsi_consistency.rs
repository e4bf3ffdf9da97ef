//! What the disk says about itself (VPD pages, READ CAPACITY, MODE SENSE) agrees with what the
//! translation then accepts, for any disk description: an initiator that believes the reports
//! never gets a surprise.

mod scsi_common;
use proptest::prelude::*;
use scsi_common::*;
use xenpv_datapath::blkif::DiscardInfo;
use xenpv_datapath::scsi::{translate, Action, BlockCommand, Data};

fn spec() -> impl Strategy<Value = Spec> {
    (
        0u32..4,
        0u32..4,
        1u64..(1 << 26),
        any::<[bool; 4]>(),
        any::<bool>(),
        0u32..600,
    )
        .prop_map(
            |(lbs_log, pbs_log, sectors, f, discard, indirect_segments)| {
                let sector_size = 512 << lbs_log;
                Spec {
                    sectors: sectors * u64::from(sector_size / 512),
                    sector_size,
                    physical_sector_size: sector_size << pbs_log,
                    read_only: f[0],
                    removable: f[1],
                    flush_cache: f[2],
                    barrier: f[3],
                    cdrom: false,
                    discard: discard.then_some(DiscardInfo {
                        granularity: 0,
                        alignment: 0,
                        secure: false,
                    }),
                    indirect_segments,
                }
            },
        )
}

fn read16(lba: u64, blocks: u32) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = 0x88;
    c[2..10].copy_from_slice(&lba.to_be_bytes());
    c[10..14].copy_from_slice(&blocks.to_be_bytes());
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn reports_match_behaviour(s in spec()) {
        let d = disk(s);
        let b0 = data_in(&d, &[0x12, 0x01, 0xB0, 0x00, 0xFF, 0x00], 255);
        let b2 = data_in(&d, &[0x12, 0x01, 0xB2, 0x00, 0xFF, 0x00], 255);
        let rc16 = data_in(&d, &[0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0], 32);
        let caching = data_in(&d, &[0x1a, 0x08, 0x08, 0x00, 0xff, 0x00], 255);

        // Capacity: the last LBA can be read, the next one cannot.
        let last = be64(&rc16[0..8]);
        let block = be32(&rc16[8..12]) as usize;
        prop_assert_eq!(block as u32, s.sector_size);
        prop_assert_eq!(1u32 << (rc16[13] & 0x0F), s.physical_sector_size / s.sector_size);
        let mut buf = vec![0u8; block * 2];
        let read_last = translate(&d, &read16(last, 1), Data::In(&mut buf));
        let is_read = matches!(read_last, Ok(Action::Block(BlockCommand::Read { .. })));
        prop_assert!(is_read, "{:?}", read_last);
        prop_assert_eq!(
            key_asc(&sense(translate(&d, &read16(last, 2), Data::In(&mut buf)))),
            LBA_OUT_OF_RANGE
        );

        // MAXIMUM TRANSFER LENGTH is accepted, one block more is not.
        let max = be32(&b0[8..12]);
        let mut big = vec![0u8; (max as usize + 1) * block];
        if u64::from(max) <= last + 1 {
            prop_assert!(translate(&d, &read16(0, max), Data::In(&mut big)).is_ok());
        }
        prop_assert_eq!(
            key_asc(&sense(translate(&d, &read16(0, max + 1), Data::In(&mut big)))),
            INVALID_FIELD_IN_CDB
        );

        // Provisioning: RC16's LBPME, B2's LBPU and B0's unmap limits all say the same, and
        // UNMAP is accepted exactly then (a write-protected disk refuses it as a write).
        let lbpu = b2[5] & 0x80 != 0;
        prop_assert_eq!(rc16[14] & 0x80 != 0, lbpu);
        prop_assert_eq!(be32(&b0[24..28]) != 0, lbpu);
        let list = [0, 22, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        let unmap = translate(&d, &[0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0], Data::Out(&list));
        match (lbpu, s.read_only) {
            (false, _) => prop_assert_eq!(key_asc(&sense(unmap)), INVALID_OPCODE),
            (true, true) => prop_assert_eq!(key_asc(&sense(unmap)), WRITE_PROTECTED),
            (true, false) => {
                let is_discard = matches!(unmap, Ok(Action::Block(BlockCommand::Discard { .. })));
                prop_assert!(is_discard, "{:?}", unmap);
            }
        }

        // Write cache: WCE set exactly when SYNCHRONIZE CACHE reaches the backend (unless the
        // disk is read-only, where nothing can be dirty), and DPOFUA with it.
        let wce = caching[4 + 2] & 0x04 != 0;
        prop_assert_eq!(caching[2] & 0x10 != 0, wce);
        let sync = translate(&d, &[0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0], Data::None);
        if wce && !s.read_only {
            prop_assert_eq!(sync, Ok(Action::Block(BlockCommand::Flush)));
        } else {
            prop_assert_eq!(sync, Ok(Action::Complete { data_len: 0 }));
        }

        // Write protection: the WP bit and DATA PROTECT agree.
        let wp = caching[2] & 0x80 != 0;
        let w = vec![0u8; block];
        let write = translate(&d, &[0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0], Data::Out(&w));
        prop_assert_eq!(wp, write.is_err());
        if wp {
            prop_assert_eq!(key_asc(&sense(write)), WRITE_PROTECTED);
        }

        // Every page the supported-pages page lists can be read.
        let pages = data_in(&d, &[0x12, 0x01, 0x00, 0x00, 0xFF, 0x00], 255);
        for &p in &pages[4..] {
            let page = data_in(&d, &[0x12, 0x01, p, 0x00, 0xFF, 0x00], 1024);
            prop_assert_eq!(page[1], p);
            prop_assert_eq!(usize::from(be16(&page[2..4])), page.len() - 4);
        }
    }
}
