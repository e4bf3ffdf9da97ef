//! The netfront engine: the data plane of a Xen virtual network interface (what XenVif does).
//!
//! - [`tx`]: packets (fragment lists plus offload requests) become slots with GSO extras, copied
//!   through a pool of pages granted once at setup, or, for large fragments in the caller's own
//!   frames where the home can grant them, granted per packet; completions report per-packet status.
//! - [`rx`]: rx-copy into pre-posted, pre-granted pages refilled in batches; multi-slot packets
//!   reassembled and lent to the upper layer as views of those pages; GSO, checksum and hash
//!   extras become receive metadata.
//! - [`ctrl`]: the control ring (Toeplitz key, hash types, mapping table).
//! - [`toeplitz`]: the hash and the queue steering the ctrl ring configures.
//! - [`queue`]: one queue's rings, pools, event channels and statistics, driven by its owner
//!   without locks; [`Netfront`] holds the queues of a device and its ctrl ring.
//!
//! Everything a backend writes is read once, validated, then used: a response that breaks the
//! protocol is a [`NetifError`] and the queue must be torn down; a malformed received packet is
//! dropped and counted.

pub mod ctrl;
mod netfront;
pub mod packet;
pub mod queue;
pub mod rx;
pub mod toeplitz;
pub mod tx;

use core::fmt;

pub use netfront::{CtrlChannel, Netfront, NetfrontConfig, Quarantine};
pub use packet::{
    FragmentFrames, Gso, GsoKind, HashKind, OwnedPacket, RssHash, RxChecksum, RxMeta, TxChecksum,
    TxDone, TxOffload, TxPacket, TxStatus,
};
pub use queue::{EventPorts, NetQueue, QueueKeys, QueueSetup, QueueStats};
pub use rx::{RxAccept, RxDrop, RxPacket};
pub use tx::{TxCaps, TxRefused};

use crate::platform::PlatformError;
use crate::ring::RingError;

/// The backend broke the protocol (or setup failed); the queue cannot go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetifError {
    /// A ring index out of range.
    Ring(RingError),
    /// A transmit response names an id beyond the ring.
    TxId(u16),
    /// A transmit response names an id that is not waiting for one (a duplicate).
    TxNotInFlight(u16),
    /// A transmit response with a status the protocol does not define.
    TxStatus {
        /// The id it answered.
        id: u16,
        /// What the backend wrote.
        status: i16,
    },
    /// A NETIF_RSP_NULL response with no extra-info slot left to answer.
    TxUnexpectedNull,
    /// The backend answered the request with this id while still using the caller's frame granted
    /// for it: the packet is kept back, never handed back as free (XSA-396).
    TxGrantInUse(u16),
    /// A control response that answers no request.
    CtrlUnexpected,
    /// A control response with an undefined status.
    CtrlStatus(u32),
    /// A ring page cannot hold a ring.
    RingTooSmall,
    /// A buffer pool has fewer pages than the ring has slots.
    PoolTooSmall,
    /// The home could not provide memory, grants or ports.
    Platform(PlatformError),
}

impl From<RingError> for NetifError {
    fn from(e: RingError) -> Self {
        NetifError::Ring(e)
    }
}

impl From<PlatformError> for NetifError {
    fn from(e: PlatformError) -> Self {
        NetifError::Platform(e)
    }
}

impl fmt::Display for NetifError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetifError::Ring(e) => write!(f, "ring: {e}"),
            NetifError::TxId(id) => write!(f, "tx response for id {id}, beyond the ring"),
            NetifError::TxNotInFlight(id) => write!(f, "tx response for id {id}, not in flight"),
            NetifError::TxStatus { id, status } => {
                write!(f, "tx response for id {id} with undefined status {status}")
            }
            NetifError::TxUnexpectedNull => f.write_str("tx NULL response with no extra to answer"),
            NetifError::TxGrantInUse(id) => {
                write!(
                    f,
                    "tx response for id {id} while its granted frame is in use"
                )
            }
            NetifError::CtrlUnexpected => f.write_str("ctrl response that answers no request"),
            NetifError::CtrlStatus(s) => write!(f, "ctrl response with undefined status {s}"),
            NetifError::RingTooSmall => f.write_str("ring memory too small"),
            NetifError::PoolTooSmall => f.write_str("buffer pool smaller than the ring"),
            NetifError::Platform(e) => write!(f, "platform: {e}"),
        }
    }
}
