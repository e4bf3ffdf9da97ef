//! The blkif frontend engine (XenVbd's data plane): per-queue rings with shadows, persistent grants
//! or per-request grants, indirect descriptors, request splitting and joining, and replay of
//! unfinished requests across reconnects.
//!
//! Units: every sector number and count here is in 512-byte units, as on the blkif ring and in
//! Linux's `sectors` key; the disk's logical sector size only adds alignment rules.

mod grants;
pub mod params;
mod queue;
pub mod request;
mod shadow;
pub mod verify;

pub use params::{DiscardInfo, Disk, DiskError, Features, QueueConfig, MAX_INDIRECT_SEGMENTS};
pub use queue::{
    BlkQueue, QueueError, QueueHandle, QueueStats, RingInfo, SetupError, MAX_RING_ORDER,
};
pub use request::{BlockOp, BlockRequest, Completion, IoError};
pub use shadow::ResponseError;
