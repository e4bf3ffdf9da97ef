//! What the translation hands the blkif core, and how the core's answer becomes SCSI status.

use arrayvec::ArrayVec;

use super::sense::Sense;
use crate::blkif::IoError;

/// Most UNMAP block descriptors one command may carry; reported as MAXIMUM UNMAP BLOCK
/// DESCRIPTOR COUNT in the Block Limits page so that initiators never send more. It bounds the
/// operation's size (16 bytes a range) without allocating.
pub const MAX_UNMAP_DESCRIPTORS: usize = 32;

/// A run of 512-byte sectors to discard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiscardRange {
    pub lba_512: u64,
    pub sectors: u64,
}

/// The ranges of one UNMAP or WRITE SAME, in the order given, none empty.
pub type DiscardRanges = ArrayVec<DiscardRange, MAX_UNMAP_DESCRIPTORS>;

/// A block operation for the blkif core. Addresses and counts are 512-byte sectors, already
/// checked against the disk's size; counts are never zero.
// The discard variant carries its ranges inline (512 bytes) on purpose: boxing them would
// allocate per command.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockCommand {
    /// Read into the first `sectors * 512` bytes of the data-in buffer.
    Read { lba_512: u64, sectors: u64 },
    /// Write the first `sectors * 512` bytes of the data-out buffer; `fua`: durable before
    /// completion (a barrier, or a write followed by a flush), only set when the backend can
    /// make writes durable at all.
    Write {
        lba_512: u64,
        sectors: u64,
        fua: bool,
    },
    /// Make completed writes durable (FLUSH_DISKCACHE, else WRITE_BARRIER).
    Flush,
    /// Discard these ranges (one BLKIF_OP_DISCARD each). SCSI's UNMAP and WRITE SAME never ask
    /// for a secure erase, so `discard-secure` is not used here.
    Discard { ranges: DiscardRanges },
}

impl BlockCommand {
    /// Bytes of the SRB's data buffer the command moves (0 for flush and discard, whose
    /// parameter list was consumed by the translation).
    pub fn data_bytes(&self) -> u64 {
        match self {
            BlockCommand::Read { sectors, .. } | BlockCommand::Write { sectors, .. } => {
                sectors * xenpv_abi::blkif::BLKIF_SECTOR_SIZE as u64
            }
            BlockCommand::Flush | BlockCommand::Discard { .. } => 0,
        }
    }
}

/// SCSI outcome of a block command as the blkif core finished it (for a command split into
/// several blkif requests, the core reports the first failure): `Ok` is status GOOD, `Err` is
/// CHECK CONDITION with the sense.
///
/// - [`IoError::Io`] (BLKIF_RSP_ERROR, or a status blkif does not define) is a MEDIUM ERROR:
///   UNRECOVERED READ ERROR for reads, WRITE ERROR for anything that changes the medium (write,
///   flush, discard). Windows' class driver does not retry medium errors, which is right:
///   blkback has already given up.
/// - [`IoError::NotSupported`] (BLKIF_RSP_EOPNOTSUPP: the backend refused an operation it
///   advertised, as Linux blkback does for a barrier or discard its device stopped supporting)
///   is INVALID COMMAND OPERATION CODE, the answer for a command this device does not do.
/// - [`IoError::Disconnected`] (the device went away) is NOT READY, LOGICAL UNIT NOT READY: the
///   class driver retries for a while, and the port driver learns of the removal through its
///   own bus notification.
/// - The core's own checks fail only if the disk changed between translation and submission
///   (online resize, a reconnect to a backend with other values): a shrunk disk gives LBA OUT OF
///   RANGE, a now read-only one WRITE PROTECTED, a new sector size NOT READY (a retry is
///   translated again against the new geometry).
/// - [`IoError::NoResources`] is ABORTED COMMAND, INSUFFICIENT RESOURCES: transient, retried.
pub fn complete(cmd: &BlockCommand, result: Result<(), IoError>) -> Result<(), Sense> {
    let Err(e) = result else {
        return Ok(());
    };
    Err(match e {
        IoError::Io => match cmd {
            BlockCommand::Read { .. } => Sense::unrecovered_read_error(),
            _ => Sense::write_error(),
        },
        IoError::NotSupported => Sense::invalid_opcode(),
        IoError::ReadOnly => Sense::write_protected(),
        IoError::OutOfRange => Sense::lba_out_of_range(),
        IoError::Misaligned | IoError::Disconnected => Sense::not_ready(),
        IoError::NoResources => Sense::insufficient_resources(),
    })
}
