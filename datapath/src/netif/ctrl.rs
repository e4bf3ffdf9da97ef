//! The netif control ring: hash algorithm, key, types and mapping table (io/netif.h "Control ring").
//!
//! Requests are rare (setup, an RSS change) and each must be answered before the next one that
//! depends on it, so the ring carries one request at a time. Keys and tables travel through a
//! two-page region granted read-only to the backend: page 0 holds the key, page 1 the table.

use xenpv_abi::netif::{
    NetifCtrlRequest, NetifCtrlResponse, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ,
    XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW, XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
    XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED, XEN_NETIF_CTRL_STATUS_SUCCESS,
    XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE,
    XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS,
    XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING,
    XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE,
};
use xenpv_abi::{GrantRef, PAGE_SIZE};

use super::toeplitz::{MAX_KEY_LEN, MAX_MAPPING_LEN};
use super::NetifError;
use crate::ring::{FrontRing, SharedRing};
use crate::shmem::SharedMem;
use zerocopy::IntoBytes;

/// One control operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtrlOp<'a> {
    /// Select Toeplitz hashing.
    SetToeplitz,
    /// Ask which hash types the backend supports.
    GetHashFlags,
    /// Enable these `XEN_NETIF_CTRL_HASH_TYPE_*` types.
    SetHashFlags(u32),
    /// Set the key.
    SetHashKey(&'a [u8]),
    /// Ask for the largest mapping table the backend supports.
    GetMappingSize,
    /// Set the table size.
    SetMappingSize(u32),
    /// Set the table's entries (all of them, from offset 0).
    SetMapping(&'a [u32]),
}

/// How the backend answered a successful request's status field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtrlStatus {
    /// `XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED`.
    NotSupported,
    /// `XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER`.
    InvalidParameter,
    /// `XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW`.
    BufferOverflow,
}

/// A request that is not sent because it could not be valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtrlRefused {
    /// A request is already waiting for its answer.
    Busy,
    /// The key is longer than [`MAX_KEY_LEN`].
    KeyTooLong,
    /// The table is longer than [`MAX_MAPPING_LEN`].
    MappingTooLong,
}

type CtrlFront = FrontRing<NetifCtrlRequest, NetifCtrlResponse, SharedRing>;

/// The frontend side of the control ring.
pub struct CtrlRing {
    ring: CtrlFront,
    buf: SharedMem,
    buf_grefs: [GrantRef; 2],
    next_id: u16,
    waiting: Option<(u16, u16)>,
}

impl CtrlRing {
    /// Initialises the ring in `ring_mem`; `buf` is two pages granted read-only by `buf_grefs`.
    pub fn new(
        ring_mem: SharedMem,
        buf: SharedMem,
        buf_grefs: [GrantRef; 2],
    ) -> Result<Self, NetifError> {
        let shared = SharedRing::new::<NetifCtrlRequest, NetifCtrlResponse>(ring_mem)
            .map_err(|_| NetifError::RingTooSmall)?;
        if buf.len() < 2 * PAGE_SIZE {
            return Err(NetifError::PoolTooSmall);
        }
        Ok(Self {
            ring: CtrlFront::init(shared),
            buf,
            buf_grefs,
            next_id: 0,
            waiting: None,
        })
    }

    /// Whether a request is waiting for its answer.
    pub fn busy(&self) -> bool {
        self.waiting.is_some()
    }

    /// Sends `op`; `Ok(true)` means the backend must be notified.
    pub fn send(&mut self, op: CtrlOp<'_>) -> Result<bool, CtrlRefused> {
        if self.waiting.is_some() {
            return Err(CtrlRefused::Busy);
        }
        let (kind, data) = match op {
            CtrlOp::SetToeplitz => (
                XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
                [XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ, 0, 0],
            ),
            CtrlOp::GetHashFlags => (XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, [0; 3]),
            CtrlOp::SetHashFlags(flags) => (XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS, [flags, 0, 0]),
            CtrlOp::SetHashKey(key) => {
                if key.len() > MAX_KEY_LEN {
                    return Err(CtrlRefused::KeyTooLong);
                }
                self.buf.write_data(0, key);
                (
                    XEN_NETIF_CTRL_TYPE_SET_HASH_KEY,
                    [self.buf_grefs[0], key.len() as u32, 0],
                )
            }
            CtrlOp::GetMappingSize => (XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE, [0; 3]),
            CtrlOp::SetMappingSize(n) => (XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE, [n, 0, 0]),
            CtrlOp::SetMapping(table) => {
                if table.len() > MAX_MAPPING_LEN {
                    return Err(CtrlRefused::MappingTooLong);
                }
                self.buf.write_data(PAGE_SIZE, table.as_bytes());
                (
                    XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING,
                    [self.buf_grefs[1], table.len() as u32, 0],
                )
            }
        };
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.ring
            .push(&NetifCtrlRequest { id, kind, data })
            .map_err(|_| CtrlRefused::Busy)?;
        self.waiting = Some((id, kind));
        Ok(self.ring.publish())
    }

    /// The answer to the waiting request, if it has arrived: the response's data word, or the
    /// backend's refusal. A response that matches no request is a protocol error.
    pub fn poll(&mut self) -> Result<Option<Result<u32, CtrlStatus>>, NetifError> {
        let Some((id, kind)) = self.waiting else {
            return match self.ring.poll_responses()?.next() {
                Some(_) => Err(NetifError::CtrlUnexpected),
                None => Ok(None),
            };
        };
        let first = self.ring.poll_responses()?.next();
        let rsp = match first {
            Some(rsp) => rsp,
            // Re-arm, and look once more: an answer published in between is not lost.
            None if self.ring.final_check_for_responses()? => {
                let again = self.ring.poll_responses()?.next();
                match again {
                    Some(rsp) => rsp,
                    None => return Ok(None),
                }
            }
            None => return Ok(None),
        };
        if rsp.id != id || rsp.kind != kind {
            return Err(NetifError::CtrlUnexpected);
        }
        self.waiting = None;
        Ok(Some(match rsp.status {
            XEN_NETIF_CTRL_STATUS_SUCCESS => Ok(rsp.data),
            XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED => Err(CtrlStatus::NotSupported),
            XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER => Err(CtrlStatus::InvalidParameter),
            XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW => Err(CtrlStatus::BufferOverflow),
            other => return Err(NetifError::CtrlStatus(other)),
        }))
    }
}
