//! Any CDB bytes, buffer lengths and disk descriptions: the translation never panics, and it
//! answers with a completion inside the buffer, a block operation inside the disk, or CHECK
//! CONDITION with a sense key that fits the situation.

mod scsi_common;
use proptest::prelude::*;
use scsi_common::Spec;
use xenpv_datapath::blkif::params::segments_per_request;
use xenpv_datapath::blkif::{DiscardInfo, QueueConfig};
use xenpv_datapath::scsi::{
    translate, Action, BlockCommand, Data, Identity, SenseKey, MAX_UNMAP_DESCRIPTORS,
};

/// Operation codes the module implements (and a few it refuses), so that random CDBs reach the
/// deep paths often; any other byte is drawn too.
const OPCODES: [u8; 30] = [
    0x00, 0x03, 0x08, 0x0A, 0x12, 0x15, 0x1A, 0x1B, 0x1E, 0x25, 0x28, 0x2A, 0x2F, 0x35, 0x41, 0x42,
    0x55, 0x5A, 0x88, 0x8A, 0x8F, 0x91, 0x93, 0x9E, 0xA0, 0xA8, 0xAA, 0xAF, 0x4D, 0xFF,
];

fn disk_params() -> impl Strategy<Value = Spec> {
    (
        0u32..4,
        0u32..4,
        prop_oneof![0u64..64, 0u64..(1 << 24), any::<u64>()],
        any::<[bool; 5]>(),
        proptest::option::of((0u32..5, 0u32..4)),
        0u32..600,
    )
        .prop_map(
            |(lbs_log, pbs_log, sectors, f, discard, indirect_segments)| {
                let sector_size = 512 << lbs_log;
                Spec {
                    sectors,
                    sector_size,
                    physical_sector_size: sector_size << pbs_log,
                    read_only: f[0],
                    removable: f[1],
                    cdrom: f[2],
                    flush_cache: f[3],
                    barrier: f[4],
                    discard: discard.map(|(g, a)| DiscardInfo {
                        granularity: (sector_size << g) * u32::from(g != 0),
                        alignment: if g > 0 {
                            sector_size * (a % (1 << g))
                        } else {
                            0
                        },
                        secure: false,
                    }),
                    indirect_segments,
                }
            },
        )
}

/// CDB length of an operation code's group, to find the CONTROL byte.
fn group_len(op: u8) -> usize {
    match op >> 5 {
        0 => 6,
        1 | 2 => 10,
        4 => 16,
        5 => 12,
        _ => 16,
    }
}

fn cdb() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![proptest::sample::select(OPCODES.to_vec()), any::<u8>()],
        proptest::collection::vec(any::<u8>(), 0..20),
        any::<bool>(),
    )
        .prop_map(|(op, rest, tame)| {
            let mut v = vec![op];
            v.extend(rest);
            if tame {
                // Mostly-zero addresses and lengths, no protection bits, no NACA: such CDBs
                // get past the field checks and reach the block operations.
                let len = group_len(op);
                if v.len() < len {
                    v.resize(len, 0);
                }
                if len > 1 {
                    v[1] &= 0x1F;
                }
                for b in v.iter_mut().take(len.saturating_sub(1)).skip(2) {
                    *b = if *b & 0xE0 == 0 { *b & 0x07 } else { 0 };
                }
                if len >= 2 {
                    v[len - 1] &= !0x04;
                }
            }
            v
        })
}

/// Well-formed CDBs of the block commands with addresses and lengths around the disks' sizes.
fn block_cdb() -> impl Strategy<Value = Vec<u8>> {
    const OPS: [u8; 16] = [
        0x08, 0x0A, 0x28, 0x2A, 0xA8, 0xAA, 0x88, 0x8A, 0x2F, 0xAF, 0x8F, 0x35, 0x91, 0x41, 0x93,
        0x42,
    ];
    (
        proptest::sample::select(OPS.to_vec()),
        0u64..(1 << 22),
        0u32..300,
        0u8..0x20,
    )
        .prop_map(|(op, lba, n, flags)| {
            let mut v = vec![0u8; group_len(op)];
            v[0] = op;
            match v.len() {
                6 => {
                    v[1..4].copy_from_slice(&(lba as u32 & 0x1F_FFFF).to_be_bytes()[1..]);
                    v[4] = n as u8;
                }
                10 => {
                    v[1] = flags;
                    v[2..6].copy_from_slice(&(lba as u32).to_be_bytes());
                    v[7..9].copy_from_slice(&(n as u16).to_be_bytes());
                }
                12 => {
                    v[1] = flags;
                    v[2..6].copy_from_slice(&(lba as u32).to_be_bytes());
                    v[6..10].copy_from_slice(&n.to_be_bytes());
                }
                _ => {
                    v[1] = flags;
                    v[2..10].copy_from_slice(&lba.to_be_bytes());
                    v[10..14].copy_from_slice(&n.to_be_bytes());
                }
            }
            v
        })
}

/// Data-out contents: a repeated byte, or an UNMAP parameter list of small descriptors.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (
            any::<u8>(),
            prop_oneof![0usize..64, 0usize..(1 << 17), Just(1 << 16)]
        )
            .prop_map(|(b, n)| vec![b; n]),
        (
            proptest::collection::vec((0u64..70, 0u32..9), 0..40),
            0usize..40
        )
            .prop_map(|(descs, extra)| {
                let bd = (descs.len() * 16) as u16;
                let mut v = Vec::new();
                v.extend_from_slice(&(bd + 6).to_be_bytes());
                v.extend_from_slice(&bd.to_be_bytes());
                v.extend_from_slice(&[0; 4]);
                for (lba, n) in descs {
                    v.extend_from_slice(&lba.to_be_bytes());
                    v.extend_from_slice(&n.to_be_bytes());
                    v.extend_from_slice(&[0; 4]);
                }
                v.extend(std::iter::repeat_n(0, extra));
                v
            }),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Dir {
    None,
    In,
    Out,
}

fn direction() -> impl Strategy<Value = Dir> {
    prop_oneof![Just(Dir::None), Just(Dir::In), Just(Dir::Out)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn any_cdb_gets_a_sound_answer(
        p in disk_params(),
        cdb in prop_oneof![cdb(), block_cdb()],
        dir in direction(),
        mut buf in payload(),
        coherent in any::<bool>(),
        resize in proptest::option::weighted(0.1, prop_oneof![0u64..(1 << 24), any::<u64>()]),
    ) {
        let blk = p.blkif_disk();
        let disk = xenpv_datapath::scsi::Disk::new(
            blk.clone(),
            &p.features(),
            &QueueConfig::default(),
            Identity::derived(5),
        )
        .expect("the strategy builds valid disks");
        // The control plane's watch may resize the core's disk at any time.
        let resized = resize.is_some_and(|s| s != p.sectors);
        if let Some(s) = resize {
            blk.resize(s);
        }
        // Half the time, the SRB's direction and buffer fit the command, as STORPORT's would,
        // so that the block operations are reached often.
        let dir = match (coherent, cdb.first()) {
            (true, Some(0x08 | 0x28 | 0xA8 | 0x88)) => Dir::In,
            (true, Some(0x0A | 0x2A | 0xAA | 0x8A)) => Dir::Out,
            _ => dir,
        };
        if coherent && buf.len() < 1 << 16 {
            buf.resize(1 << 16, 0);
        }
        let buf_len = buf.len();
        let data = match dir {
            Dir::None => Data::None,
            Dir::In => Data::In(&mut buf),
            Dir::Out => Data::Out(&buf),
        };
        let spb = u64::from(p.sector_size / 512);
        let disk_sectors = blk.sectors() / spb * spb;
        let max_bytes =
            u64::from(segments_per_request(&p.features(), &QueueConfig::default())) * 4096;
        match translate(&disk, &cdb, data) {
            Ok(Action::Complete { data_len }) => {
                let room = if matches!(dir, Dir::In) { buf_len } else { 0 };
                prop_assert!(data_len <= room);
            }
            Ok(Action::Block(cmd)) => {
                let in_disk = |lba: u64, n: u64| {
                    n > 0 && lba.is_multiple_of(spb) && n.is_multiple_of(spb) && lba + n <= disk_sectors
                };
                match cmd {
                    BlockCommand::Read { lba_512, sectors } => {
                        prop_assert!(in_disk(lba_512, sectors));
                        prop_assert!(matches!(dir, Dir::In));
                        prop_assert!(sectors * 512 <= buf_len as u64);
                        prop_assert!(sectors * 512 <= max_bytes);
                    }
                    BlockCommand::Write { lba_512, sectors, fua } => {
                        prop_assert!(in_disk(lba_512, sectors));
                        prop_assert!(matches!(dir, Dir::Out));
                        prop_assert!(sectors * 512 <= buf_len as u64);
                        prop_assert!(sectors * 512 <= max_bytes);
                        prop_assert!(!p.read_only);
                        prop_assert!(!fua || p.flush_cache || p.barrier);
                    }
                    BlockCommand::Flush => {
                        prop_assert!(!p.read_only && (p.flush_cache || p.barrier));
                    }
                    BlockCommand::Discard { ranges } => {
                        prop_assert!(p.discard.is_some() && !p.read_only);
                        prop_assert!(!ranges.is_empty() && ranges.len() <= MAX_UNMAP_DESCRIPTORS);
                        for r in ranges {
                            prop_assert!(in_disk(r.lba_512, r.sectors));
                        }
                    }
                }
            }
            Err(sense) => {
                match sense.key {
                    SenseKey::IllegalRequest => {}
                    SenseKey::NotReady => prop_assert_eq!(disk_sectors, 0),
                    SenseKey::DataProtect => prop_assert!(p.read_only),
                    SenseKey::UnitAttention => prop_assert!(resized),
                    other => prop_assert!(false, "unexpected sense key {:?}", other),
                }
                let f = sense.to_fixed();
                prop_assert_eq!(f[0], 0x70);
                prop_assert_eq!(f[7], 10);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn any_sm_data_text_is_checked(text in "[A-Za-z0-9+/=]{0,40}|\\PC{0,40}") {
        let mut id = Identity::derived(1);
        if id.set_sm_data_page(&text).is_err() {
            prop_assert!(id == Identity::derived(1));
        }
        if id.set_vdi_uuid(&text).is_ok() {
            prop_assert_eq!(id.vdi_designator().map(|(_, t)| t), Some(text.as_bytes()));
        }
    }

    #[test]
    fn any_vpd_page_from_the_backend_is_checked(page in proptest::collection::vec(any::<u8>(), 0..80)) {
        let mut id = Identity::derived(1);
        if id.set_vpd_page(&page).is_ok() {
            let len = usize::from(u16::from_be_bytes([page[2], page[3]]));
            let body = &page[4..4 + len];
            prop_assert!(body == id.serial() || body == id.designators());
        } else {
            prop_assert_eq!(id, Identity::derived(1));
        }
    }
}
