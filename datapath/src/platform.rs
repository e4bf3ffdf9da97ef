//! What the cores need from the home they run in: granted memory and event channels.
//!
//! The homes differ (see DESIGN.md), and these traits are shaped to fit all of them:
//! - A Linux guest's user space cannot grant memory by frame number: /dev/xen/gntalloc hands out pages
//!   that are already granted and mapped contiguously, and frees them only once the backend has let
//!   go. Windows and bare metal can grant any frame. So the cores ask for *granted regions* — memory the
//!   home allocates, maps and grants page by page — and copy data through them. A home that can grant
//!   any frame also offers [`FrameGrants`] (see [`Grants::frame_grants`]), through which a core grants
//!   the caller's own pages where that beats copying (large transmit fragments).
//! - Waiting differs even more (a file descriptor, a DPC, a callback), so the cores never wait: they
//!   notify, unmask, and expose "process what is pending"; the home decides when to call that.
//!
//! Every method takes `&self`: a queue owner on any CPU may notify, and homes synchronise internally
//! (setup-time calls may lock; `notify` and `unmask` are a hypercall or an ioctl).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use xenpv_abi::{DomId, EvtchnPort, GrantRef, PAGE_SIZE};

use crate::shmem::SharedMem;

/// How a backend may use a granted page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The backend may read the page (transmit buffers, requests to write to disk).
    ReadOnly,
    /// The backend may read and write the page (rings, receive buffers, reads from disk).
    ReadWrite,
}

/// Why the home could not do what a core asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformError {
    /// No free grant references are left.
    NoGrantRefs,
    /// The home could not allocate memory.
    NoMemory,
    /// No free event channel ports are left.
    NoPorts,
    /// The port or reference is not one this home handed out.
    Invalid,
    /// The operating system or hypervisor failed with this error number.
    Os(i32),
}

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlatformError::NoGrantRefs => f.write_str("no free grant references"),
            PlatformError::NoMemory => f.write_str("out of memory"),
            PlatformError::NoPorts => f.write_str("no free event channel ports"),
            PlatformError::Invalid => f.write_str("not a port or grant of this home"),
            PlatformError::Os(e) => write!(f, "platform error {e}"),
        }
    }
}

/// Contiguous memory of one or more pages, each page granted to one backend domain.
///
/// The home owns the memory; the region is its receipt. It is not `Clone`: ending the grants consumes
/// it, and a region whose grants could not be ended comes back so that it is neither reused nor freed.
#[derive(Debug)]
pub struct GrantedRegion {
    mem: SharedMem,
    grefs: Vec<GrantRef>,
    domid: DomId,
    access: Access,
    handle: u64,
}

impl GrantedRegion {
    /// Called by a home: `mem` must span exactly one page per reference, page `i` granted by
    /// `grefs[i]`; `handle` is the home's own token for ending the grants later.
    pub fn new(
        mem: SharedMem,
        grefs: Vec<GrantRef>,
        domid: DomId,
        access: Access,
        handle: u64,
    ) -> Self {
        assert_eq!(
            mem.len(),
            grefs.len() * PAGE_SIZE,
            "one grant reference per page"
        );
        Self {
            mem,
            grefs,
            domid,
            access,
            handle,
        }
    }

    /// The region's memory, shared with the backend.
    pub fn mem(&self) -> &SharedMem {
        &self.mem
    }

    /// The grant reference of each page, in order.
    pub fn grefs(&self) -> &[GrantRef] {
        &self.grefs
    }

    /// Number of pages.
    pub fn pages(&self) -> usize {
        self.grefs.len()
    }

    /// The domain the pages are granted to.
    pub fn domid(&self) -> DomId {
        self.domid
    }

    /// What that domain may do with them.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The home's token for this region.
    pub fn handle(&self) -> u64 {
        self.handle
    }
}

/// The backend still has (some of) the region's pages mapped or is copying from them, so the grants
/// were not ended. The region must not be reused or freed; try again later (Xen's XSA-396 class of
/// bugs is exactly a frontend that ignores this).
#[derive(Debug)]
pub struct StillInUse(pub GrantedRegion);

/// A guest frame number: one page of the caller's own memory.
pub type Gfn = u64;

/// A frame grant that could not be ended because the backend still maps or copies through it: the
/// frame must not be reused or freed until a later end succeeds (XSA-396).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameInUse(pub GrantRef);

/// Grant references set aside for one user (a queue) to grant the caller's own frames, one page
/// at a time, to one backend domain. Granting and ending through a reserve takes no shared lock,
/// which is what makes a grant per transmitted page affordable (Linux's
/// `gnttab_alloc_grant_references` / `gnttab_grant_foreign_access_ref` /
/// `gnttab_end_foreign_access_ref`). Dropping the reserve gives its unused references back; a
/// reference still in use is never given back.
pub trait FrameGrants: Send + Sync {
    /// The reserved references; each is either unused or grants one frame.
    fn refs(&self) -> &[GrantRef];
    /// Grant `gfn`, a frame of the caller's, through the unused reserved reference `gref`.
    fn grant(&self, gref: GrantRef, gfn: Gfn, access: Access) -> Result<(), PlatformError>;
    /// End the grant through `gref`, leaving the reference unused; refused while the backend uses it.
    fn end(&self, gref: GrantRef) -> Result<(), FrameInUse>;
}

/// Memory granted to a backend.
pub trait Grants: Send + Sync {
    /// Allocate `pages` zeroed pages, mapped contiguously, each granted to `domid` with `access`.
    fn grant_region(
        &self,
        domid: DomId,
        pages: usize,
        access: Access,
    ) -> Result<GrantedRegion, PlatformError>;

    /// End every grant of the region and free it, or give it back untouched if the backend still uses it.
    fn end_region(&self, region: GrantedRegion) -> Result<(), StillInUse>;

    /// Reserve `count` references for granting the caller's own frames to `domid`. `None` means
    /// this home cannot grant arbitrary frames (a Linux user-space home, which only has granted
    /// regions): callers then copy through regions instead.
    fn frame_grants(
        &self,
        domid: DomId,
        count: usize,
    ) -> Result<Option<Box<dyn FrameGrants>>, PlatformError> {
        let _ = (domid, count);
        Ok(None)
    }
}

/// Interdomain event channels.
pub trait EventChannels: Send + Sync {
    /// Allocate a port that `remote` can bind to.
    fn alloc_unbound(&self, remote: DomId) -> Result<EvtchnPort, PlatformError>;
    /// Kick the remote end of `port`.
    fn notify(&self, port: EvtchnPort);
    /// Let `port` raise events again after the home has delivered one.
    fn unmask(&self, port: EvtchnPort);
    /// Close `port`; events for it stop.
    fn close(&self, port: EvtchnPort);
}

/// Everything a frontend core needs from its home.
pub trait Platform: Grants + EventChannels {}

impl<T: Grants + EventChannels> Platform for T {}
