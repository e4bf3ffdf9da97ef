//! SCSI to blkif translation: what a STORPORT miniport (XENVBD) does with each SRB's CDB.
//!
//! [`translate`] takes the CDB, the SRB's data buffer with its direction, and the [`Disk`] (the
//! blkif core's disk description with the negotiated features and the identity) and returns
//! either an immediate completion (status GOOD with data already written into the data-in
//! buffer) or a [`BlockCommand`] for the blkif core, or `Err(Sense)`: status CHECK CONDITION
//! with that sense. When the core finishes a block command, [`complete`] turns its result into
//! status and sense.
//!
//! Portable and nearly pure: the only state between commands is the UNIT ATTENTION that an
//! online resize raises (see [`Disk`]); no allocation per command; any CDB bytes and buffer
//! lengths give an answer, never a panic. Units: the SCSI side addresses logical blocks of the
//! disk's `sector-size`; block commands are in blkif's 512-byte sectors.
//!
//! ```
//! use std::sync::Arc;
//! use xenpv_datapath::blkif::{self, Features, QueueConfig};
//! use xenpv_datapath::scsi::{self, Action, BlockCommand, Data, Identity};
//!
//! // At connect: the core's disk (1 GiB of 512-byte sectors) and the negotiated features.
//! let blk = Arc::new(blkif::Disk::new(1 << 21, 512, 4096, false).unwrap());
//! let features = Features { flush: true, ..Features::default() };
//! let disk = scsi::Disk::new(blk, &features, &QueueConfig::default(), Identity::derived(51712))
//!     .unwrap();
//!
//! // INQUIRY is answered at once, into the SRB's buffer.
//! let mut buf = [0u8; 36];
//! let r = scsi::translate(&disk, &[0x12, 0, 0, 0, 36, 0], Data::In(&mut buf));
//! assert_eq!(r, Ok(Action::Complete { data_len: 36 }));
//! assert_eq!(&buf[8..14], b"XENSRC");
//!
//! // WRITE (10) with FUA of 8 blocks at LBA 16 becomes a blkif write for the core...
//! let data = [0u8; 4096];
//! let cdb = [0x2a, 0x08, 0, 0, 0, 16, 0, 0, 8, 0];
//! let Ok(Action::Block(cmd)) = scsi::translate(&disk, &cdb, Data::Out(&data)) else { panic!() };
//! assert_eq!(cmd, BlockCommand::Write { lba_512: 16, sectors: 8, fua: true });
//!
//! // ...and the core's answer becomes status and sense.
//! let sense = scsi::complete(&cmd, Err(blkif::IoError::Io)).unwrap_err();
//! assert_eq!(sense.to_fixed()[2] & 0x0F, 0x03); // MEDIUM ERROR
//! ```
//!
//! Not implemented, so refused as unknown operation codes (ILLEGAL REQUEST, INVALID COMMAND
//! OPERATION CODE), which Windows and Linux both handle by not using the feature:
//! - MODE SELECT (6/10): every mode page field is reported as not changeable. Accepting a
//!   MODE SELECT silently would make e.g. "disable write caching" in Windows look successful
//!   while the backend still caches.
//! - Plain WRITE SAME (without UNMAP), COMPARE AND WRITE, persistent reservations, LOG SENSE,
//!   REPORT SUPPORTED OPERATION CODES, GET LBA STATUS, SECURITY PROTOCOL, FORMAT UNIT, and the
//!   MMC commands of CD/DVD devices.

mod base64;
mod block;
mod capacity;
mod cdb;
mod disk;
mod identity;
mod inquiry;
mod mode;
mod reply;
mod rw;
mod sense;
mod unit;
mod unmap;
mod vpd;

pub use block::{complete, BlockCommand, DiscardRange, DiscardRanges, MAX_UNMAP_DESCRIPTORS};
pub use disk::{Disk, DiskError};
pub use identity::{Identity, IdentityError};
pub use sense::{
    FieldPointer, Sense, SenseKey, FIXED_SENSE_LEN, STATUS_CHECK_CONDITION, STATUS_GOOD,
};

use cdb::*;

/// The SRB's data buffer (`DataBuffer`, `DataTransferLength`) and its direction
/// (`SRB_FLAGS_DATA_IN` / `_OUT`).
#[derive(Debug)]
pub enum Data<'a> {
    None,
    /// Data-in: the translation or the core fills it.
    In(&'a mut [u8]),
    /// Data-out: what the initiator sends (write data, an UNMAP parameter list).
    Out(&'a [u8]),
}

impl<'a> Data<'a> {
    /// The buffer a data-in command may fill: empty unless the direction is in, so that a
    /// mismatched SRB transfers nothing rather than writing where it should read.
    fn into_in(self) -> &'a mut [u8] {
        match self {
            Data::In(b) => b,
            Data::None | Data::Out(_) => &mut [],
        }
    }
}

/// What to do with a command that is not refused.
#[allow(clippy::large_enum_variant)] // see BlockCommand: no allocation per command
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Status GOOD now: `data_len` bytes were written at the start of the data-in buffer (the
    /// SRB's transfer length becomes this, the rest is residual).
    Complete { data_len: usize },
    /// Hand this to the blkif core; finish the SRB with [`complete`] of its result.
    Block(BlockCommand),
}

/// Translates one command. `cdb` is the SRB's CDB (`CdbLength` bytes).
pub fn translate(disk: &Disk, cdb: &[u8], data: Data<'_>) -> Result<Action, Sense> {
    let cdb = Cdb::parse(cdb)?;
    // SAM-5 5.14: a pending UNIT ATTENTION ends any command but INQUIRY and REPORT LUNS (and
    // REQUEST SENSE, which returns it as data). It is the only state between commands.
    if !matches!(cdb.opcode(), INQUIRY | REPORT_LUNS | REQUEST_SENSE) {
        if let Some(attention) = disk.take_attention() {
            return Err(attention);
        }
    }
    let done = |n: usize| Action::Complete { data_len: n };
    match cdb.opcode() {
        TEST_UNIT_READY => unit::test_unit_ready(disk).map(done),
        REQUEST_SENSE => unit::request_sense(disk, &cdb, data.into_in()).map(done),
        INQUIRY => inquiry::inquiry(disk, &cdb, data.into_in()).map(done),
        MODE_SENSE_6 | MODE_SENSE_10 => mode::mode_sense(disk, &cdb, data.into_in()).map(done),
        START_STOP_UNIT | PREVENT_ALLOW_MEDIUM_REMOVAL => unit::no_effect().map(done),
        READ_CAPACITY_10 | SERVICE_ACTION_IN_16 => {
            capacity::read_capacity(disk, &cdb, data.into_in()).map(done)
        }
        READ_6 | READ_10 | READ_12 | READ_16 | WRITE_6 | WRITE_10 | WRITE_12 | WRITE_16 => {
            rw::read_write(disk, &cdb, data)
        }
        VERIFY_10 | VERIFY_12 | VERIFY_16 => rw::verify(disk, &cdb),
        SYNCHRONIZE_CACHE_10 | SYNCHRONIZE_CACHE_16 => rw::synchronize_cache(disk, &cdb),
        UNMAP => unmap::unmap(disk, &cdb, data),
        WRITE_SAME_10 | WRITE_SAME_16 => unmap::write_same(disk, &cdb),
        REPORT_LUNS => unit::report_luns(&cdb, data.into_in()).map(done),
        _ => Err(Sense::invalid_opcode()),
    }
}
