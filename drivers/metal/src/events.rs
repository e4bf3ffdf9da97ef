//! shared_info on real Xen: mapped over a page of our own (update_va_mapping), then the wall clock
//! and the 2-level event channel demux of drivers/xen driven by a loopback channel.

use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::mem::offset_of;
use core::sync::atomic::{AtomicU64, AtomicU8};

use xenpv_abi::shared_info::{SharedInfo, StartInfo, VcpuInfo};
use xenpv_abi::{DOMID_SELF, PAGE_SIZE};
use xenpv_xen::evtchn::{Bitmaps, TwoLevel, VcpuEvents};
use xenpv_xen::hypercall::Page;
use xenpv_xen::{wallclock, Xen};

use crate::say;
use crate::steps::{at, Failure};

/// The virtual page that becomes shared_info. Its own frame is given up (never touched again).
#[repr(C, align(4096))]
struct Window(UnsafeCell<[u8; PAGE_SIZE]>);

// SAFETY: only ever accessed through raw pointers after the remap, with atomics or volatile reads.
unsafe impl Sync for Window {}

static WINDOW: Window = Window(UnsafeCell::new([0; PAGE_SIZE]));

fn map_shared_info(xen: &Xen<Page>, si: &StartInfo) -> Result<*const SharedInfo, Failure> {
    let va = WINDOW.0.get() as u64;
    // SAFETY: WINDOW is a page of the boot mapping used for nothing else; from now on it is the
    // shared_info frame, accessed only through `*const SharedInfo` below.
    unsafe { xen.update_va_mapping(va, si.shared_info >> 12) }.map_err(at("map shared_info"))?;
    Ok(va as *const SharedInfo)
}

/// The 2-level view of shared_info and vCPU 0's vcpu_info inside it.
///
/// # Safety
/// `p` must be the mapped shared_info page, mapped for good.
unsafe fn two_level(p: *const SharedInfo) -> TwoLevel<'static> {
    let base = p as usize;
    let vcpu0 = base + offset_of!(SharedInfo, vcpu_info);
    // SAFETY: the fields are in the page at their ABI offsets (tested against Xen's headers in
    // xenpv-abi), aligned for their atomic types, and Xen changes them only atomically.
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

pub fn run(xen: &Xen<Page>, si: &StartInfo) -> Result<(), Failure> {
    let shared = map_shared_info(xen, si)?;
    // SAFETY: `shared` is the mapped shared_info page.
    let clock = unsafe { wallclock::read(shared) }.map_err(|_| at("wall clock")("torn"))?;
    say!(
        "shared_info: wall clock at boot {}.{:09} s since the epoch",
        clock.sec,
        clock.nsec
    );

    // SAFETY: as above.
    let ev = unsafe { two_level(shared) };
    // A loopback channel: `a` is the end events arrive on, `b` the one we send on.
    let a = xen
        .alloc_unbound(DOMID_SELF)
        .map_err(at("evtchn loopback"))?;
    let b = xen
        .bind_interdomain(DOMID_SELF, a)
        .map_err(at("evtchn loopback"))?;
    let bad = |_| at("evtchn demux")("port out of range");
    ev.unmask(a).map_err(bad)?;
    // Whatever was pending before (console, store kicks) is not this test's business.
    ev.dispatch(|_| {});

    let mut got = Vec::new();
    xen.send(b).map_err(at("evtchn send"))?;
    ev.dispatch(|p| got.push(p));
    if !got.contains(&a) {
        return Err(at("evtchn demux")("a sent event was not delivered"));
    }

    ev.mask(a).map_err(bad)?;
    xen.send(b).map_err(at("evtchn send"))?;
    got.clear();
    ev.dispatch(|p| got.push(p));
    if got.contains(&a) || !ev.is_pending(a).map_err(bad)? {
        return Err(at("evtchn mask")("a masked port was delivered or lost"));
    }
    ev.unmask(a).map_err(bad)?;
    ev.dispatch(|p| got.push(p));
    if !got.contains(&a) {
        return Err(at("evtchn unmask")("the pending event was not re-raised"));
    }
    say!("evtchn 2-level: loopback {b} -> {a} delivered; masked it stayed pending; unmask re-raised it");
    xen.close(b).map_err(at("evtchn close"))?;
    xen.close(a).map_err(at("evtchn close"))?;
    Ok(())
}
