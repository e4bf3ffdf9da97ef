//! XENBUS's side of the dump interface: the table's functions over a [`DumpHost`], with no lock
//! and no allocation — one atomic flag keeps two store exchanges apart, and refuses rather than
//! waits.

use core::ffi::c_void;
use core::ops::Range;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use xenpv_abi::xs_wire::{XENSTORE_PAYLOAD_MAX, XS_WATCH_EVENT};
use xenpv_abi::{DomId, EvtchnPort, GrantRef};
use xenpv_control::xs::ring::RawGuestRing;
use xenpv_datapath::platform::PlatformError;
use xenpv_datapath::shmem::SharedMem;

use super::{
    DumpInterface, STATUS_BUSY, STATUS_NOT_RESERVED, STATUS_TIMEOUT, XENBUS_DUMP_INTERFACE_SIZE,
    XENBUS_DUMP_INTERFACE_VERSION,
};
use crate::abi::{BusStatus, InterfaceHeader};
use crate::error::BusError;

/// Size of a xenstore message header (xs_wire.h `xsd_sockmsg`).
const HEADER: usize = 16;

/// What XENBUS's home provides for the dump path; every method safe at any IRQL, lock-free.
pub trait DumpHost: Send + Sync {
    /// The grant references kept aside for the dump path (drivers/xen's crash-dump range).
    fn reserved_refs(&self) -> Range<GrantRef>;
    /// Writes grant entry `gref` (always one of [`Self::reserved_refs`]).
    fn grant_reserved(
        &self,
        gref: GrantRef,
        domid: DomId,
        gfn: u64,
        readonly: bool,
    ) -> Result<(), BusError>;
    /// Takes the grantee's access to `gref` (one of [`Self::reserved_refs`]) away:
    /// [`BusError::StillInUse`] while it maps the page.
    fn end_reserved(&self, gref: GrantRef) -> Result<(), BusError>;
    fn alloc_unbound(&self, remote: DomId) -> Result<EvtchnPort, PlatformError>;
    fn notify(&self, port: EvtchnPort);
    fn close(&self, port: EvtchnPort);
    /// The store ring page.
    fn store_page(&self) -> &SharedMem;
    /// Kicks xenstored (the store ring's event channel).
    fn store_kick(&self);
    /// Waits a little between two polls of the store ring (a busy wait in the kernel).
    fn stall(&self);
}

/// The provider of the dump interface over `H`.
pub struct DumpProvider<H: DumpHost> {
    host: H,
    exchanging: AtomicBool,
    references: AtomicUsize,
}

impl<H: DumpHost> DumpProvider<H> {
    pub fn new(host: H) -> Self {
        DumpProvider {
            host,
            exchanging: AtomicBool::new(false),
            references: AtomicUsize::new(0),
        }
    }

    pub fn host(&self) -> &H {
        &self.host
    }

    /// Outstanding references: the provider stays alive and in place until this is 0.
    pub fn references(&self) -> usize {
        self.references.load(Ordering::Acquire)
    }

    /// The table for a child, with one reference taken. It points at `self`, which must not
    /// move or be dropped while [`Self::references`] is not 0.
    pub fn interface(&self) -> DumpInterface {
        self.references.fetch_add(1, Ordering::AcqRel);
        DumpInterface {
            header: InterfaceHeader {
                size: XENBUS_DUMP_INTERFACE_SIZE,
                version: XENBUS_DUMP_INTERFACE_VERSION,
                context: self as *const Self as *mut c_void,
                interface_reference: Some(reference::<H>),
                interface_dereference: Some(dereference::<H>),
            },
            reserved_refs: Some(reserved_refs::<H>),
            grant_reserved: Some(grant_reserved::<H>),
            end_reserved: Some(end_reserved::<H>),
            evtchn_alloc_unbound: Some(alloc_unbound::<H>),
            evtchn_notify: Some(notify::<H>),
            evtchn_close: Some(close::<H>),
            store_exchange: Some(store_exchange::<H>),
        }
    }

    fn grant(&self, gref: GrantRef, domid: DomId, gfn: u64, readonly: bool) -> BusStatus {
        if !self.host.reserved_refs().contains(&gref) {
            return NOT_RESERVED;
        }
        self.host.grant_reserved(gref, domid, gfn, readonly).into()
    }

    fn end(&self, gref: GrantRef) -> BusStatus {
        if !self.host.reserved_refs().contains(&gref) {
            return NOT_RESERVED;
        }
        self.host.end_reserved(gref).into()
    }

    /// One request and its reply, polled; at most one exchange at a time.
    fn exchange(&self, msg: &[u8], reply: &mut [u8], polls: u32) -> Result<usize, Refusal> {
        let id = request_id(msg).ok_or(Refusal::Bus(BusError::BadMessage))?;
        if self
            .exchanging
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(Refusal::Busy);
        }
        let result = Exchange {
            host: &self.host,
            polls,
        }
        .run(msg, id, reply);
        self.exchanging.store(false, Ordering::Release);
        result
    }
}

const NOT_RESERVED: BusStatus = BusStatus {
    code: STATUS_NOT_RESERVED,
    detail: 0,
};

/// The request id of a well-formed request (its length field matches), which must not be 0:
/// watch events carry 0.
fn request_id(msg: &[u8]) -> Option<u32> {
    let header: &[u8; HEADER] = msg.get(..HEADER)?.try_into().ok()?;
    let word =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let (id, len) = (word(4), word(12) as usize);
    (id != 0 && len <= XENSTORE_PAYLOAD_MAX && msg.len() == HEADER + len).then_some(id)
}

/// Why an exchange gave no reply.
enum Refusal {
    Bus(BusError),
    Timeout,
    Busy,
}

impl From<Refusal> for BusStatus {
    fn from(r: Refusal) -> BusStatus {
        let code = match r {
            Refusal::Bus(e) => return e.into(),
            Refusal::Timeout => STATUS_TIMEOUT,
            Refusal::Busy => STATUS_BUSY,
        };
        BusStatus { code, detail: 0 }
    }
}

/// One exchange's poll budget over the ring, which it attaches to afresh (indices from the page).
struct Exchange<'a, H: DumpHost> {
    host: &'a H,
    polls: u32,
}

impl<H: DumpHost> Exchange<'_, H> {
    /// Spends one poll: false once none is left.
    fn wait(&mut self) -> bool {
        if self.polls == 0 {
            return false;
        }
        self.polls -= 1;
        self.host.stall();
        true
    }

    fn run(mut self, msg: &[u8], id: u32, reply: &mut [u8]) -> Result<usize, Refusal> {
        let failed = |_| Refusal::Bus(BusError::StoreFailed);
        let mut ring = RawGuestRing::new(self.host.store_page().clone()).map_err(failed)?;
        let mut sent = 0;
        while sent < msg.len() {
            let n = ring.write(&msg[sent..]).map_err(failed)?;
            sent += n;
            if n > 0 {
                self.host.store_kick();
            } else if !self.wait() {
                return Err(Refusal::Timeout);
            }
        }
        loop {
            let mut header = [0u8; HEADER];
            self.read_exact(&mut ring, &mut header)?;
            let word = |i: usize| {
                u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]])
            };
            let (kind, len) = (word(0), word(12) as usize);
            if len > XENSTORE_PAYLOAD_MAX {
                // xenstored never sends this: the framing is lost.
                return Err(Refusal::Bus(BusError::StoreFailed));
            }
            let ours = kind != XS_WATCH_EVENT && word(4) == id;
            if !ours || reply.len() < HEADER + len {
                self.skip(&mut ring, len)?;
                if ours {
                    return Err(Refusal::Bus(BusError::BufferTooSmall(HEADER + len)));
                }
                continue;
            }
            reply[..HEADER].copy_from_slice(&header);
            self.read_exact(&mut ring, &mut reply[HEADER..HEADER + len])?;
            return Ok(HEADER + len);
        }
    }

    fn read_exact(&mut self, ring: &mut RawGuestRing, dst: &mut [u8]) -> Result<(), Refusal> {
        let mut got = 0;
        while got < dst.len() {
            let n = ring
                .read(&mut dst[got..])
                .map_err(|_| Refusal::Bus(BusError::StoreFailed))?;
            got += n;
            if n > 0 {
                // Room in the response lane: xenstored may have more to write.
                self.host.store_kick();
            } else if !self.wait() {
                return Err(Refusal::Timeout);
            }
        }
        Ok(())
    }

    /// Reads and drops `len` bytes (a message for someone else).
    fn skip(&mut self, ring: &mut RawGuestRing, mut len: usize) -> Result<(), Refusal> {
        let mut scratch = [0u8; 64];
        while len > 0 {
            let n = len.min(scratch.len());
            self.read_exact(ring, &mut scratch[..n])?;
            len -= n;
        }
        Ok(())
    }
}

/// Runs `f` on the provider behind `ctx`.
///
/// # Safety
/// `ctx` is null or the context of a table from [`DumpProvider::interface`], provider alive.
unsafe fn with<H: DumpHost>(
    ctx: *mut c_void,
    f: impl FnOnce(&DumpProvider<H>) -> BusStatus,
) -> BusStatus {
    // SAFETY: the caller's contract.
    match unsafe { (ctx as *const DumpProvider<H>).as_ref() } {
        Some(p) => f(p),
        None => BusError::InvalidParameter.into(),
    }
}

/// Writes an out-parameter (unaligned: C callers may pack them).
///
/// # Safety
/// `out` is null or valid for a write of a `V`.
unsafe fn put<V>(out: *mut V, v: V) -> BusStatus {
    if out.is_null() {
        return BusError::InvalidParameter.into();
    }
    // SAFETY: the caller's contract.
    unsafe { out.write_unaligned(v) };
    BusStatus::OK
}

unsafe extern "C" fn reference<H: DumpHost>(ctx: *mut c_void) {
    // SAFETY: the table's contract.
    if let Some(p) = unsafe { (ctx as *const DumpProvider<H>).as_ref() } {
        p.references.fetch_add(1, Ordering::AcqRel);
    }
}

unsafe extern "C" fn dereference<H: DumpHost>(ctx: *mut c_void) {
    // SAFETY: the table's contract.
    if let Some(p) = unsafe { (ctx as *const DumpProvider<H>).as_ref() } {
        // One dereference too many must not wrap the count to "in use forever".
        let _ = p
            .references
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

unsafe extern "C" fn reserved_refs<H: DumpHost>(
    ctx: *mut c_void,
    first: *mut u32,
    count: *mut u32,
) -> BusStatus {
    // SAFETY: the table's contract; the out-parameters are checked by `put`.
    unsafe {
        with::<H>(ctx, |p| {
            let r = p.host.reserved_refs();
            if first.is_null() || count.is_null() {
                return BusError::InvalidParameter.into();
            }
            put(first, r.start);
            put(count, r.end.saturating_sub(r.start))
        })
    }
}

unsafe extern "C" fn grant_reserved<H: DumpHost>(
    ctx: *mut c_void,
    gref: u32,
    domid: u16,
    gfn: u64,
    writable: u8,
) -> BusStatus {
    // SAFETY: the table's contract.
    unsafe { with::<H>(ctx, |p| p.grant(gref, domid, gfn, writable == 0)) }
}

unsafe extern "C" fn end_reserved<H: DumpHost>(ctx: *mut c_void, gref: u32) -> BusStatus {
    // SAFETY: the table's contract.
    unsafe { with::<H>(ctx, |p| p.end(gref)) }
}

unsafe extern "C" fn alloc_unbound<H: DumpHost>(
    ctx: *mut c_void,
    remote: u16,
    port: *mut u32,
) -> BusStatus {
    // SAFETY: the table's contract; `port` is checked by `put`.
    unsafe {
        with::<H>(ctx, |p| {
            if port.is_null() {
                return BusError::InvalidParameter.into();
            }
            match p.host.alloc_unbound(remote) {
                Ok(local) => put(port, local),
                Err(e) => BusError::from(e).into(),
            }
        })
    }
}

unsafe extern "C" fn notify<H: DumpHost>(ctx: *mut c_void, port: u32) -> BusStatus {
    // SAFETY: the table's contract.
    unsafe {
        with::<H>(ctx, |p| {
            p.host.notify(port);
            BusStatus::OK
        })
    }
}

unsafe extern "C" fn close<H: DumpHost>(ctx: *mut c_void, port: u32) -> BusStatus {
    // SAFETY: the table's contract.
    unsafe {
        with::<H>(ctx, |p| {
            p.host.close(port);
            BusStatus::OK
        })
    }
}

unsafe extern "C" fn store_exchange<H: DumpHost>(
    ctx: *mut c_void,
    msg: *const u8,
    len: usize,
    reply: *mut u8,
    cap: usize,
    reply_len: *mut usize,
    polls: u32,
) -> BusStatus {
    // SAFETY: the table's contract: `msg` readable for `len` bytes, `reply` writable for `cap`
    // (both checked for null; a length beyond one message is refused before any access).
    unsafe {
        with::<H>(ctx, |p| {
            if msg.is_null()
                || reply.is_null()
                || reply_len.is_null()
                || len > HEADER + XENSTORE_PAYLOAD_MAX
            {
                return BusError::InvalidParameter.into();
            }
            let msg = core::slice::from_raw_parts(msg, len);
            let reply = core::slice::from_raw_parts_mut(reply, cap);
            match p.exchange(msg, reply, polls) {
                Ok(n) => put(reply_len, n),
                Err(r) => r.into(),
            }
        })
    }
}
