//! What the upper layer (STORPORT, a block device, a test) hands a queue, and what it gets back.

use core::fmt;

/// The operations a disk supports. Sectors are 512-byte units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockOp {
    /// Read `buf.len()` bytes at the sector into the buffer.
    Read,
    /// Write the buffer at the sector.
    Write,
    /// Write the buffer and make it durable before completing (SCSI FUA): a write barrier where
    /// the backend offers one, else a write followed by a cache flush.
    WriteFua,
    /// Make every completed write durable (SYNCHRONIZE CACHE).
    Flush,
    /// The sectors' contents are no longer needed (UNMAP / TRIM).
    Discard {
        /// Sectors to discard.
        sectors: u64,
        /// The data must be unrecoverable afterwards (only where `discard-secure` is offered).
        secure: bool,
    },
}

/// One request of the upper layer. The buffer travels with the request and comes back in its
/// [`Completion`]; the queue copies through granted pages and never allocates per request.
#[derive(Debug)]
pub struct BlockRequest<B> {
    /// The caller's cookie, echoed in the completion.
    pub tag: u64,
    /// What to do.
    pub op: BlockOp,
    /// First sector (512-byte units); ignored by [`BlockOp::Flush`].
    pub sector: u64,
    /// Data to write, or room for data read; its length is the transfer size (empty for flush and
    /// discard).
    pub buf: B,
}

impl<B> BlockRequest<B> {
    pub fn read(tag: u64, sector: u64, buf: B) -> Self {
        Self {
            tag,
            op: BlockOp::Read,
            sector,
            buf,
        }
    }

    pub fn write(tag: u64, sector: u64, buf: B) -> Self {
        Self {
            tag,
            op: BlockOp::Write,
            sector,
            buf,
        }
    }

    pub fn write_fua(tag: u64, sector: u64, buf: B) -> Self {
        Self {
            tag,
            op: BlockOp::WriteFua,
            sector,
            buf,
        }
    }

    pub fn flush(tag: u64, buf: B) -> Self {
        Self {
            tag,
            op: BlockOp::Flush,
            sector: 0,
            buf,
        }
    }

    pub fn discard(tag: u64, sector: u64, sectors: u64, secure: bool, buf: B) -> Self {
        Self {
            tag,
            op: BlockOp::Discard { sectors, secure },
            sector,
            buf,
        }
    }
}

/// Why a request failed. The upper layer turns it into its own status (SCSI sense, errno).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoError {
    /// The backend answered BLKIF_RSP_ERROR, or a status blkif does not define.
    Io,
    /// The operation is not offered by this backend (or it answered BLKIF_RSP_EOPNOTSUPP).
    NotSupported,
    /// A write or discard to a read-only disk.
    ReadOnly,
    /// The sectors lie (partly) beyond the end of the disk.
    OutOfRange,
    /// Sector or length not aligned to the disk's logical sector size.
    Misaligned,
    /// The device was torn down with the request unfinished.
    Disconnected,
    /// The home has no grant references or memory left for the request.
    NoResources,
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoError::Io => "I/O error reported by the backend",
            IoError::NotSupported => "operation not supported by the backend",
            IoError::ReadOnly => "the disk is read-only",
            IoError::OutOfRange => "sectors beyond the end of the disk",
            IoError::Misaligned => "not aligned to the logical sector size",
            IoError::Disconnected => "the device was disconnected",
            IoError::NoResources => "no grant references or memory left",
        })
    }
}

/// A finished request, handed back with its buffer.
#[derive(Debug)]
pub struct Completion<B> {
    pub tag: u64,
    pub buf: B,
    pub result: Result<(), IoError>,
}
