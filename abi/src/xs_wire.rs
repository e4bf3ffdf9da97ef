//! The xenstore wire protocol of io/xs_wire.h: message header, message types, error names, and the
//! shared ring page of a domain's xenstore connection.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

// Message types (C enum xsd_sockmsg_type).
pub const XS_CONTROL: u32 = 0;
/// Old name of [`XS_CONTROL`].
pub const XS_DEBUG: u32 = XS_CONTROL;
pub const XS_DIRECTORY: u32 = 1;
pub const XS_READ: u32 = 2;
pub const XS_GET_PERMS: u32 = 3;
pub const XS_WATCH: u32 = 4;
pub const XS_UNWATCH: u32 = 5;
pub const XS_TRANSACTION_START: u32 = 6;
pub const XS_TRANSACTION_END: u32 = 7;
pub const XS_INTRODUCE: u32 = 8;
pub const XS_RELEASE: u32 = 9;
pub const XS_GET_DOMAIN_PATH: u32 = 10;
pub const XS_WRITE: u32 = 11;
pub const XS_MKDIR: u32 = 12;
pub const XS_RM: u32 = 13;
pub const XS_SET_PERMS: u32 = 14;
pub const XS_WATCH_EVENT: u32 = 15;
pub const XS_ERROR: u32 = 16;
pub const XS_IS_DOMAIN_INTRODUCED: u32 = 17;
pub const XS_RESUME: u32 = 18;
pub const XS_SET_TARGET: u32 = 19;
/// 20 is unused (it was XS_RESTRICT).
pub const XS_RESET_WATCHES: u32 = XS_SET_TARGET + 2;
pub const XS_DIRECTORY_PART: u32 = 22;
/// One past the last defined type.
pub const XS_TYPE_COUNT: u32 = 23;
/// Guaranteed to remain an invalid type.
pub const XS_INVALID: u32 = 0xffff;

// Legacy XS_WRITE flag strings.
pub const XS_WRITE_NONE: &str = "NONE";
pub const XS_WRITE_CREATE: &str = "CREATE";
pub const XS_WRITE_CREATE_EXCL: &str = "CREATE|EXCL";

/// The errors xenstored reports in an `XS_ERROR` reply, as (Linux errno value, name), in the order of
/// the header's `xsd_errors` table. The name is what travels on the wire.
pub const XSD_ERRORS: &[(i32, &str)] = &[
    (22, "EINVAL"),
    (13, "EACCES"),
    (17, "EEXIST"),
    (21, "EISDIR"),
    (2, "ENOENT"),
    (12, "ENOMEM"),
    (28, "ENOSPC"),
    (5, "EIO"),
    (39, "ENOTEMPTY"),
    (38, "ENOSYS"),
    (30, "EROFS"),
    (16, "EBUSY"),
    (11, "EAGAIN"),
    (106, "EISCONN"),
    (7, "E2BIG"),
    (1, "EPERM"),
];

/// Header of every xenstore message; `len` payload bytes follow (C `struct xsd_sockmsg`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct XsdSockmsg {
    /// `XS_*` (C `type`).
    pub msg_type: u32,
    /// Echoed in the reply.
    pub req_id: u32,
    /// Transaction id, 0 for none.
    pub tx_id: u32,
    /// Payload length.
    pub len: u32,
}

// Parts of an XS_WATCH_EVENT payload (C enum xs_watch_type).
pub const XS_WATCH_PATH: u32 = 0;
pub const XS_WATCH_TOKEN: u32 = 1;

/// Bytes in each direction of the shared ring; a power of two, indices are masked with it.
pub const XENSTORE_RING_SIZE: usize = 1024;
/// C `XENSTORE_RING_IDX`.
pub type XenstoreRingIdx = u32;

/// The xenstore ring page shared with xenstored (C `struct xenstore_domain_interface`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct XenstoreDomainInterface {
    /// Requests to xenstored.
    pub req: [u8; XENSTORE_RING_SIZE],
    /// Replies and watch events from xenstored.
    pub rsp: [u8; XENSTORE_RING_SIZE],
    pub req_cons: XenstoreRingIdx,
    pub req_prod: XenstoreRingIdx,
    pub rsp_cons: XenstoreRingIdx,
    pub rsp_prod: XenstoreRingIdx,
    /// `XENSTORE_SERVER_FEATURE_*`, written by the server.
    pub server_features: u32,
    /// `XENSTORE_CONNECTED` or `XENSTORE_RECONNECT`.
    pub connection: u32,
    /// `XENSTORE_ERROR_*`, written by the server.
    pub error: u32,
}

/// Largest message payload.
pub const XENSTORE_PAYLOAD_MAX: usize = 4096;
/// Longest absolute path, excluding the terminating NUL.
pub const XENSTORE_ABS_PATH_MAX: usize = 3072;
/// Longest relative path, excluding the terminating NUL.
pub const XENSTORE_REL_PATH_MAX: usize = 2048;

/// The server supports the `connection` reconnect handshake.
pub const XENSTORE_SERVER_FEATURE_RECONNECTION: u32 = 1;
/// The server reports errors in `error`.
pub const XENSTORE_SERVER_FEATURE_ERROR: u32 = 2;

pub const XENSTORE_CONNECTED: u32 = 0;
pub const XENSTORE_RECONNECT: u32 = 1;

pub const XENSTORE_ERROR_NONE: u32 = 0;
pub const XENSTORE_ERROR_COMM: u32 = 1;
pub const XENSTORE_ERROR_RINGIDX: u32 = 2;
pub const XENSTORE_ERROR_PROTO: u32 = 3;
