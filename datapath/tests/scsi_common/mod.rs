//! Shared fixtures of the scsi_* tests: disks as a vbd's xenstore values describe them, and
//! helpers that run one CDB.
#![allow(dead_code)] // each test file uses a different subset

use std::sync::Arc;

use xenpv_datapath::blkif::{self, DiscardInfo, Features, QueueConfig};
use xenpv_datapath::scsi::{
    translate, Action, BlockCommand, Data, Disk, Identity, Sense, SenseKey,
};

/// What the vbd's xenstore directory and the negotiation say, in one place for the tests.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub sectors: u64,
    pub sector_size: u32,
    pub physical_sector_size: u32,
    pub read_only: bool,
    pub removable: bool,
    pub cdrom: bool,
    pub flush_cache: bool,
    pub barrier: bool,
    pub discard: Option<DiscardInfo>,
    /// Negotiated indirect segments (0: direct requests of 11 segments).
    pub indirect_segments: u32,
}

impl Spec {
    pub fn blkif_disk(&self) -> Arc<blkif::Disk> {
        let mut d = blkif::Disk::new(
            self.sectors,
            self.sector_size,
            self.physical_sector_size,
            self.read_only,
        )
        .expect("valid core disk");
        d.cdrom = self.cdrom;
        d.removable = self.removable;
        Arc::new(d)
    }

    pub fn features(&self) -> Features {
        Features {
            persistent: true,
            max_indirect_segments: self.indirect_segments,
            flush: self.flush_cache,
            barrier: self.barrier,
            discard: self.discard,
        }
    }
}

/// 1 GiB, 512-byte logical and 4 KiB physical sectors, flush-cache, no discard, no indirect
/// segments (11 pages a request).
pub fn params() -> Spec {
    Spec {
        sectors: 2 * 1024 * 1024,
        sector_size: 512,
        physical_sector_size: 4096,
        read_only: false,
        removable: false,
        cdrom: false,
        flush_cache: true,
        barrier: false,
        discard: None,
        indirect_segments: 0,
    }
}

pub fn with_discard(p: Spec, granularity: u32, alignment: u32) -> Spec {
    Spec {
        discard: Some(DiscardInfo {
            granularity,
            alignment,
            secure: false,
        }),
        ..p
    }
}

pub fn disk_with(p: Spec, identity: Identity) -> Disk {
    Disk::new(
        p.blkif_disk(),
        &p.features(),
        &QueueConfig::default(),
        identity,
    )
    .expect("valid disk")
}

pub fn disk(p: Spec) -> Disk {
    disk_with(p, Identity::derived(51712))
}

/// Runs a data-in command with a buffer of `buf_len` bytes (pre-filled with 0xEE to show what
/// was not written); returns the bytes transferred.
pub fn data_in(disk: &Disk, cdb: &[u8], buf_len: usize) -> Vec<u8> {
    let mut buf = vec![0xEE; buf_len];
    match translate(disk, cdb, Data::In(&mut buf)) {
        Ok(Action::Complete { data_len }) => {
            assert!(data_len <= buf_len);
            assert!(
                buf[data_len..].iter().all(|&b| b == 0xEE),
                "wrote past data_len"
            );
            buf.truncate(data_len);
            buf
        }
        other => panic!("{cdb:02x?}: expected data, got {other:?}"),
    }
}

pub fn sense(r: Result<Action, Sense>) -> Sense {
    match r {
        Err(s) => s,
        Ok(a) => panic!("expected CHECK CONDITION, got {a:?}"),
    }
}

pub fn block(r: Result<Action, Sense>) -> BlockCommand {
    match r {
        Ok(Action::Block(b)) => b,
        other => panic!("expected a block command, got {other:?}"),
    }
}

pub fn no_data(disk: &Disk, cdb: &[u8]) -> Result<Action, Sense> {
    translate(disk, cdb, Data::None)
}

/// (sense key, ASC, ASCQ) as fixed-format sense bytes carry them.
pub fn key_asc(s: &Sense) -> (u8, u8, u8) {
    let f = s.to_fixed();
    (f[2] & 0x0F, f[12], f[13])
}

pub const ILLEGAL_REQUEST: u8 = SenseKey::IllegalRequest as u8;
pub const INVALID_FIELD_IN_CDB: (u8, u8, u8) = (0x05, 0x24, 0x00);
pub const INVALID_OPCODE: (u8, u8, u8) = (0x05, 0x20, 0x00);
pub const LBA_OUT_OF_RANGE: (u8, u8, u8) = (0x05, 0x21, 0x00);
pub const WRITE_PROTECTED: (u8, u8, u8) = (0x07, 0x27, 0x00);
pub const MEDIUM_NOT_PRESENT: (u8, u8, u8) = (0x02, 0x3A, 0x00);

pub fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes(b.try_into().unwrap())
}
pub fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b.try_into().unwrap())
}
pub fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b.try_into().unwrap())
}
