//! shared_info on real Xen: mapped over a page of our own (update_va_mapping), then the wall clock,
//! event upcalls installed (HYPERVISOR_set_callbacks) and the 2-level demux of drivers/xen proven
//! with a loopback channel whose events are counted by the upcall.

use core::cell::UnsafeCell;
use core::mem::offset_of;
use core::sync::atomic::{AtomicU64, AtomicU8};

use xenpv_abi::shared_info::{SharedInfo, StartInfo, VcpuInfo};
use xenpv_abi::{EvtchnPort, DOMID_SELF, PAGE_SIZE};
use xenpv_xen::evtchn::{Bitmaps, TwoLevel, VcpuEvents};
use xenpv_xen::hypercall::Page;
use xenpv_xen::{wallclock, Xen};

use crate::say;
use crate::steps::{at, Failure};
use crate::upcall::{self, Demux};

/// How long a loopback event may take to arrive (it is sent to ourselves: at once, really).
pub const LOOPBACK_TIMEOUT_NS: u64 = 2_000_000_000;

/// The virtual page that becomes shared_info. Its own frame is given up while it is mapped.
#[repr(C, align(4096))]
struct Window(UnsafeCell<[u8; PAGE_SIZE]>);

// SAFETY: only ever accessed through raw pointers after the remap, with atomics or volatile reads.
unsafe impl Sync for Window {}

static WINDOW: Window = Window(UnsafeCell::new([0; PAGE_SIZE]));

/// Where shared_info is mapped (also across suspend and resume: the same address, a new frame).
pub fn shared_info() -> *const SharedInfo {
    WINDOW.0.get() as *const SharedInfo
}

/// Maps the shared_info frame `si.shared_info` names at [`shared_info`].
pub fn map_shared_info(xen: &Xen<Page>, si: &StartInfo) -> Result<(), Failure> {
    // SAFETY: WINDOW is a page of the boot mapping used for nothing else; from now on it is the
    // shared_info frame, accessed only through `*const SharedInfo`.
    unsafe { xen.update_va_mapping(WINDOW.0.get() as u64, si.shared_info >> 12) }
        .map_err(at("map shared_info"))
}

/// vCPU 0's vcpu_info inside the mapped shared_info.
pub fn vcpu0() -> *const VcpuInfo {
    (shared_info() as usize + offset_of!(SharedInfo, vcpu_info)) as *const VcpuInfo
}

/// The 2-level view of the mapped shared_info and vCPU 0's vcpu_info inside it.
pub fn two_level() -> TwoLevel<'static> {
    let base = shared_info() as usize;
    let vcpu0 = vcpu0() as usize;
    // SAFETY: shared_info is mapped at WINDOW for good (map_shared_info ran first: the only caller
    // is after it); the fields are in the page at their ABI offsets (tested against Xen's headers
    // in xenpv-abi), aligned for their atomic types, and Xen changes them only atomically.
    unsafe {
        TwoLevel::new(
            Bitmaps {
                pending: &*((base + offset_of!(SharedInfo, evtchn_pending))
                    as *const [AtomicU64; 64]),
                mask: &*((base + offset_of!(SharedInfo, evtchn_mask)) as *const [AtomicU64; 64]),
            },
            VcpuEvents {
                upcall_pending: &*((vcpu0 + offset_of!(VcpuInfo, evtchn_upcall_pending))
                    as *const AtomicU8),
                upcall_mask: &*((vcpu0 + offset_of!(VcpuInfo, evtchn_upcall_mask))
                    as *const AtomicU8),
                pending_sel: &*((vcpu0 + offset_of!(VcpuInfo, evtchn_pending_sel))
                    as *const AtomicU64),
            },
        )
    }
}

/// Maps shared_info and starts taking events as upcalls through the 2-level ABI.
pub fn start(xen: &Xen<Page>, si: &StartInfo) -> Result<(), Failure> {
    map_shared_info(xen, si)?;
    // SAFETY: vcpu0() is inside the shared_info just mapped, which stays mapped at that address.
    unsafe { upcall::install(xen, vcpu0(), Demux::TwoLevel(two_level())) }
        .map_err(at("set_callbacks"))
}

/// A loopback channel: events sent on `send` arrive on `recv`.
pub struct Loopback {
    pub recv: EvtchnPort,
    pub send: EvtchnPort,
}

impl Loopback {
    pub fn open(xen: &Xen<Page>) -> Result<Self, Failure> {
        let recv = xen
            .alloc_unbound(DOMID_SELF)
            .map_err(at("evtchn loopback"))?;
        let send = xen
            .bind_interdomain(DOMID_SELF, recv)
            .map_err(at("evtchn loopback"))?;
        upcall::unmask_port(xen, recv).map_err(|_| at("evtchn unmask")("refused"))?;
        Ok(Self { recv, send })
    }

    /// Sends one event and waits for the upcall to count it.
    pub fn deliver(&self, xen: &Xen<Page>) -> Result<u32, Failure> {
        let seen = upcall::count(self.recv);
        xen.send(self.send).map_err(at("evtchn send"))?;
        upcall::wait_for(xen, self.recv, seen, LOOPBACK_TIMEOUT_NS)
            .map_err(|e| at("evtchn upcall")(wait_text(e)))
    }

    /// A masked port keeps its event pending and unmasking delivers it.
    pub fn mask_holds_then_unmask_delivers(&self, xen: &Xen<Page>) -> Result<(), Failure> {
        let bad = |_| at("evtchn mask")("port out of range");
        upcall::mask_port(self.recv).map_err(bad)?;
        let seen = upcall::count(self.recv);
        xen.send(self.send).map_err(at("evtchn send"))?;
        // An upcall now (e.g. forced by this hypercall's return) must leave the port alone.
        let _ = xen.version();
        if upcall::count(self.recv) != seen || !upcall::is_pending(self.recv).map_err(bad)? {
            return Err(at("evtchn mask")("a masked port was delivered or lost"));
        }
        upcall::unmask_port(xen, self.recv).map_err(|_| at("evtchn unmask")("refused"))?;
        upcall::wait_for(xen, self.recv, seen, LOOPBACK_TIMEOUT_NS)
            .map_err(|e| at("evtchn unmask")(wait_text(e)))?;
        Ok(())
    }

    pub fn close(self, xen: &Xen<Page>) -> Result<(), Failure> {
        xen.close(self.send).map_err(at("evtchn close"))?;
        xen.close(self.recv).map_err(at("evtchn close"))
    }
}

fn wait_text(e: upcall::WaitError) -> &'static str {
    match e {
        upcall::WaitError::TimedOut => "the event was not delivered by upcall in time",
        upcall::WaitError::Masked => "waited with upcalls masked",
        upcall::WaitError::Port(_) => "port beyond the upcall's table",
        upcall::WaitError::Xen(_) => "SCHEDOP_poll refused",
    }
}

/// The loopback proof on whichever ABI is active: delivery by upcall, masking, unmasking.
pub fn loopback(xen: &Xen<Page>) -> Result<(EvtchnPort, EvtchnPort, u32), Failure> {
    let l = Loopback::open(xen)?;
    let count = l.deliver(xen)?;
    l.mask_holds_then_unmask_delivers(xen)?;
    let ports = (l.send, l.recv, count);
    l.close(xen)?;
    Ok(ports)
}

pub fn run(xen: &Xen<Page>, si: &StartInfo) -> Result<(), Failure> {
    start(xen, si)?;
    // SAFETY: shared_info is mapped.
    let clock = unsafe { wallclock::read(shared_info()) }.map_err(|_| at("wall clock")("torn"))?;
    say!(
        "shared_info: wall clock at boot {}.{:09} s since the epoch",
        clock.sec,
        clock.nsec
    );
    let (send, recv, count) = loopback(xen)?;
    say!(
        "evtchn 2-level: loopback {send} -> {recv} delivered by upcall (handler count {count}, \
         {} upcalls so far, system time {} ms); masked it stayed pending; unmask re-raised it",
        upcall::upcalls(),
        upcall::now_ns() / 1_000_000
    );
    crate::fifo_events::run(xen, si)
}
