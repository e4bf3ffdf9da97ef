//! The interface as it crosses the driver boundary: plain `#[repr(C)]` data and `extern "C"`
//! function pointers (on x86-64 Windows that is the one kernel calling convention), laid out so that
//! a child can also be written against it in C.

use core::ffi::c_void;
use core::mem::{offset_of, size_of};

/// A Windows `GUID` (`guiddef.h`): 16 bytes, the first three fields little-endian integers.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Guid {
    pub data1: u32,
    pub data2: u16,
    pub data3: u16,
    pub data4: [u8; 8],
}

/// `{0020ce22-a697-4d50-89fb-a135afc53779}`: the interface type a child asks XENBUS for in
/// IRP_MN_QUERY_INTERFACE (`InterfaceType`).
pub const XENBUS_INTERFACE_GUID: Guid = Guid {
    data1: 0x0020_ce22,
    data2: 0xa697,
    data3: 0x4d50,
    data4: [0x89, 0xfb, 0xa1, 0x35, 0xaf, 0xc5, 0x37, 0x79],
};

/// The version of [`BusInterface`] this crate provides and understands. A later version only
/// appends fields, so a provider answers any request for a version it knows at most its own size.
pub const XENBUS_INTERFACE_VERSION: u16 = 2;

/// `InterfaceReference` / `InterfaceDereference` (`PINTERFACE_REFERENCE`): take or drop one
/// reference on the provider.
pub type ReferenceFn = unsafe extern "C" fn(context: *mut c_void);

/// wdm.h's `INTERFACE`, the header every PnP query-interface structure starts with.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct InterfaceHeader {
    /// Size of the whole structure in bytes.
    pub size: u16,
    pub version: u16,
    /// The provider; the first argument of every function of the interface.
    pub context: *mut c_void,
    pub interface_reference: Option<ReferenceFn>,
    pub interface_dereference: Option<ReferenceFn>,
}

// wdm.h on x64: USHORT Size, USHORT Version, PVOID Context (8-aligned), two function pointers.
const _: () = assert!(size_of::<InterfaceHeader>() == 32);
const _: () = assert!(offset_of!(InterfaceHeader, size) == 0);
const _: () = assert!(offset_of!(InterfaceHeader, version) == 2);
const _: () = assert!(offset_of!(InterfaceHeader, context) == 8);
const _: () = assert!(offset_of!(InterfaceHeader, interface_reference) == 16);
const _: () = assert!(offset_of!(InterfaceHeader, interface_dereference) == 24);

/// What every function of the table returns: `code` is one of the `STATUS_*` constants below,
/// `detail` qualifies it (the size needed for [`STATUS_BUFFER_TOO_SMALL`], the OS error number for
/// [`STATUS_OS`]). Eight bytes, so it comes back in a register on both x86-64 ABIs.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusStatus {
    pub code: u32,
    pub detail: i32,
}

const _: () = assert!(size_of::<BusStatus>() == 8);

pub const STATUS_SUCCESS: u32 = 0;
/// A null pointer, a length out of range, an unknown session or handle, text that is not UTF-8.
pub const STATUS_INVALID_PARAMETER: u32 = 1;
/// The caller's buffer is too small; `detail` is the size needed. Nothing was consumed.
pub const STATUS_BUFFER_TOO_SMALL: u32 = 2;
/// No store message is waiting for the session.
pub const STATUS_EMPTY: u32 = 3;
/// The session's queue of unread messages is full: read before sending more.
pub const STATUS_QUEUE_FULL: u32 = 4;
pub const STATUS_NO_MEMORY: u32 = 5;
pub const STATUS_NO_GRANT_REFS: u32 = 6;
pub const STATUS_NO_PORTS: u32 = 7;
/// A port, grant or region that is not one the bus handed out.
pub const STATUS_NOT_OURS: u32 = 8;
/// The backend still maps or copies the granted memory; it was not released. Try again later.
pub const STATUS_STILL_IN_USE: u32 = 9;
/// A store message that is not a well-formed xenstore request.
pub const STATUS_BAD_MESSAGE: u32 = 10;
/// XENBUS's own connection to xenstored failed; no store service until it reconnects.
pub const STATUS_STORE_FAILED: u32 = 11;
/// The hypervisor or OS failed with the error number in `detail`.
pub const STATUS_OS: u32 = 12;
/// The bus has no such service on this machine (e.g. no wall clock yet).
pub const STATUS_UNSUPPORTED: u32 = 13;

/// Called when a session has a message to read (a reply or a watch event). May run on any thread,
/// at any IRQL up to DISPATCH_LEVEL: it should only wake whoever reads the session.
pub type StoreNotifyFn = unsafe extern "C" fn(notify_context: *mut c_void);

/// Called from XENBUS's event DPC (DISPATCH_LEVEL) when `port` fired. The port stays masked until
/// the child unmasks it.
pub type EventFn = unsafe extern "C" fn(callback_context: *mut c_void, port: u32);

/// Called at PASSIVE_LEVEL around a suspend: [`SUSPEND_PHASE_SUSPEND`] before the domain is
/// suspended, then [`SUSPEND_PHASE_RESUME`] after it resumed (possibly on another host:
/// reconnect) or [`SUSPEND_PHASE_CANCELLED`] when it went on where it was.
pub type SuspendFn = unsafe extern "C" fn(callback_context: *mut c_void, phase: u32);

pub const SUSPEND_PHASE_SUSPEND: u32 = 0;
pub const SUSPEND_PHASE_RESUME: u32 = 1;
/// The toolstack cancelled the suspend (interface version 2): nothing was lost, so there is
/// nothing to reconnect and no resume to count.
pub const SUSPEND_PHASE_CANCELLED: u32 = 2;

/// What `request_suspend` reports (SCHEDOP_shutdown(suspend)'s answer): the domain was saved or
/// migrated and resumed (new event channels, a reset store connection) ...
pub const SUSPEND_RESUMED: u32 = 0;
/// ... or the toolstack cancelled the suspend and the domain went on where it was (same ports).
pub const SUSPEND_CANCELLED: u32 = 1;

/// The wall clock: seconds and nanoseconds since the Unix epoch at Xen system time 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BusWallClock {
    pub sec: u64,
    pub nsec: u32,
    pub reserved: u32,
}

const _: () = assert!(size_of::<BusWallClock>() == 16);

/// Memory the bus allocated and granted: `pages` pages mapped contiguously at `va`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BusRegion {
    pub va: *mut u8,
    pub pages: u32,
    pub reserved: u32,
    /// The provider's token, for `end_region`.
    pub handle: u64,
}

const _: () = assert!(size_of::<BusRegion>() == 24);

type Ctx = *mut c_void;

/// The XENBUS interface version 2: the table a child receives through IRP_MN_QUERY_INTERFACE.
/// Version 2 appended `request_suspend` to version 1's table.
///
/// Every function takes the header's `context` first. Threading and IRQL: store, region and
/// suspend functions at PASSIVE_LEVEL; `grant_frame`, `end_frame`, `evtchn_notify`,
/// `evtchn_unmask` and `wall_clock` at IRQL <= DISPATCH_LEVEL; the rest at PASSIVE_LEVEL.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BusInterface {
    pub header: InterfaceHeader,

    // -- The store, as xenstore messages (xs_wire.h framing: 16-byte header, payload) ----------
    /// Opens a session: the child's own connection to xenstored, with its own request ids,
    /// transactions and watch tokens. `notify` is called when the session has a message to read.
    pub store_open: Option<
        unsafe extern "C" fn(
            Ctx,
            notify: Option<StoreNotifyFn>,
            notify_ctx: Ctx,
            session: *mut u64,
        ) -> BusStatus,
    >,
    /// Ends the session: its watches are removed and its open transactions aborted.
    pub store_close: Option<unsafe extern "C" fn(Ctx, session: u64) -> BusStatus>,
    /// Sends one complete request message of `len` bytes. The reply is queued before this returns.
    pub store_send:
        Option<unsafe extern "C" fn(Ctx, session: u64, msg: *const u8, len: usize) -> BusStatus>,
    /// Takes the oldest queued message (reply or WATCH_EVENT) into `buf`; `*len` receives its size.
    pub store_recv: Option<
        unsafe extern "C" fn(
            Ctx,
            session: u64,
            buf: *mut u8,
            cap: usize,
            len: *mut usize,
        ) -> BusStatus,
    >,

    // -- Grants ------------------------------------------------------------------------------
    /// Allocates `pages` zeroed pages mapped contiguously and grants each to `domid`
    /// (`writable` 0: read-only); the references go to `grefs[0..pages]`.
    pub grant_region: Option<
        unsafe extern "C" fn(
            Ctx,
            domid: u16,
            pages: u32,
            writable: u8,
            grefs: *mut u32,
            region: *mut BusRegion,
        ) -> BusStatus,
    >,
    /// Ends the region's grants and frees it, or answers [`STATUS_STILL_IN_USE`] and keeps it.
    pub end_region: Option<unsafe extern "C" fn(Ctx, handle: u64) -> BusStatus>,
    /// Grants the guest frame `gfn` (memory the child owns) to `domid`.
    pub grant_frame: Option<
        unsafe extern "C" fn(Ctx, domid: u16, gfn: u64, writable: u8, gref: *mut u32) -> BusStatus,
    >,
    /// Ends a grant of `grant_frame`, or answers [`STATUS_STILL_IN_USE`].
    pub end_frame: Option<unsafe extern "C" fn(Ctx, gref: u32) -> BusStatus>,

    // -- Event channels ------------------------------------------------------------------------
    pub evtchn_alloc_unbound:
        Option<unsafe extern "C" fn(Ctx, remote: u16, port: *mut u32) -> BusStatus>,
    pub evtchn_bind_interdomain: Option<
        unsafe extern "C" fn(Ctx, remote: u16, remote_port: u32, port: *mut u32) -> BusStatus,
    >,
    pub evtchn_notify: Option<unsafe extern "C" fn(Ctx, port: u32) -> BusStatus>,
    pub evtchn_unmask: Option<unsafe extern "C" fn(Ctx, port: u32) -> BusStatus>,
    /// Closes the port (and drops its callback, waiting for a call in progress).
    pub evtchn_close: Option<unsafe extern "C" fn(Ctx, port: u32) -> BusStatus>,
    /// Sets (or with `callback` null, clears) the function called when `port` fires. Clearing
    /// returns only once no call of the old callback is running.
    pub evtchn_set_callback: Option<
        unsafe extern "C" fn(
            Ctx,
            port: u32,
            callback: Option<EventFn>,
            callback_ctx: Ctx,
        ) -> BusStatus,
    >,

    // -- Clock and suspend ---------------------------------------------------------------------
    pub wall_clock: Option<unsafe extern "C" fn(Ctx, clock: *mut BusWallClock) -> BusStatus>,
    pub suspend_register: Option<
        unsafe extern "C" fn(
            Ctx,
            callback: Option<SuspendFn>,
            callback_ctx: Ctx,
            handle: *mut u64,
        ) -> BusStatus,
    >,
    pub suspend_unregister: Option<unsafe extern "C" fn(Ctx, handle: u64) -> BusStatus>,

    // -- Version 2 -----------------------------------------------------------------------------
    /// Suspends the domain for a save or migration (the child that acknowledged the toolstack's
    /// `control/shutdown` = `suspend`): every registered child is told SUSPEND, XENBUS suspends
    /// the domain and, after a resume, restores the platform and its store connection, then every
    /// child is told RESUME (after a cancelled suspend too). `*outcome` receives
    /// [`SUSPEND_RESUMED`] or [`SUSPEND_CANCELLED`]. PASSIVE_LEVEL; the caller must hold no lock
    /// its own suspend callback takes.
    pub request_suspend: Option<unsafe extern "C" fn(Ctx, outcome: *mut u32) -> BusStatus>,
}

// The header, then 17 function pointers of version 1 and one of version 2.
const _: () = assert!(offset_of!(BusInterface, store_open) == 32);
const _: () = assert!(offset_of!(BusInterface, grant_region) == 64);
const _: () = assert!(offset_of!(BusInterface, evtchn_alloc_unbound) == 96);
const _: () = assert!(offset_of!(BusInterface, wall_clock) == 144);
const _: () = assert!(offset_of!(BusInterface, request_suspend) == 32 + 17 * 8);
const _: () = assert!(size_of::<BusInterface>() == 32 + 18 * 8);

/// The interface's size as the header's `Size` states it.
pub const XENBUS_INTERFACE_SIZE: u16 = size_of::<BusInterface>() as u16;

// SAFETY: the table is a set of function pointers and an opaque provider pointer; the provider is
// thread-safe (every function may be called from any thread), which is the contract of a PnP
// interface.
unsafe impl Send for BusInterface {}
// SAFETY: as above; the table is never written after it is built.
unsafe impl Sync for BusInterface {}

/// Hardware ID of a network device (`device/vif/N`); its instance ID is `N`.
pub const HARDWARE_ID_VIF: &str = "XENPV\\VIF";
/// Hardware ID of a disk (`device/vbd/N`); its instance ID is `N`.
pub const HARDWARE_ID_VBD: &str = "XENPV\\VBD";
/// Hardware ID of the one XENIFACE device of each bus; its instance ID is `0`.
pub const HARDWARE_ID_IFACE: &str = "XENPV\\IFACE";
