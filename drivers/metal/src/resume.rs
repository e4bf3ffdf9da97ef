//! Suspend and resume of a PV guest (`xl save` / `xl restore`), as the toolstack expects it:
//!
//! - Before any save, shared_info.arch says where the physical-to-machine list is (a frame list
//!   list → frame list → p2m frames tree): the save code reads the guest's memory through it.
//! - The toolstack writes "suspend" to `control/shutdown`; the guest acknowledges by clearing it.
//! - The guest then removes every mapping of a frame that is not its own (shared_info, grant table
//!   frames — the save turns each page-table entry into a guest frame number and refuses the save
//!   at the first one that is not), writes start_info's store and console frames as guest frame
//!   numbers, and makes SCHEDOP_shutdown(suspend) naming start_info's frame.
//! - The call returns 1 if the save was cancelled (the old domain goes on), 0 in a new domain: then
//!   start_info holds the new store and console frames and ports, the domain id may differ, and
//!   everything shared with Xen is new — shared_info is mapped again, the callbacks set again, the
//!   event channel ABI set up again, the store reconnected. Grant tables and device connections
//!   are the owners' to redo (their backends see the old domain gone).

use core::cell::UnsafeCell;
use core::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};

use xenpv_abi::shared_info::{SharedInfo, StartInfo};
use xenpv_abi::xs_wire::XenstoreDomainInterface;
use xenpv_abi::PAGE_SIZE;
use xenpv_control::xs::client::Store;
use xenpv_xen::hypercall::Page;
use xenpv_xen::ops::Resumed;
use xenpv_xen::pv::{self, MACH2PHYS_VIRT_START, PT_ENTRIES};
use xenpv_xen::Xen;

use crate::boot::{self, VIRT_BASE};
use crate::events::{self, shared_info};
use crate::say;
use crate::steps::{at, p2m, Failure};
use crate::store::{self, StoreClient};
use crate::upcall::{self, Demux};

#[repr(C, align(4096))]
struct PageBuf(UnsafeCell<[u64; PT_ENTRIES]>);

// SAFETY: written only by `publish_p2m` (single vCPU, not from the upcall), read by the toolstack.
unsafe impl Sync for PageBuf {}

/// The frame list list: machine frames of the frame list pages (one suffices here).
static FLL: PageBuf = PageBuf(UnsafeCell::new([0; PT_ENTRIES]));
/// The frame list: machine frames of the pages holding the p2m list.
static FL: PageBuf = PageBuf(UnsafeCell::new([0; PT_ENTRIES]));

/// How long the toolstack may take to ask for the suspend.
const REQUEST_TIMEOUT_NS: u64 = 120_000_000_000;

fn start_info_now() -> StartInfo {
    // SAFETY: boot::start_info() is the start_info page Xen handed over, mapped for good; read as a
    // whole and volatile, because a restore rewrites it behind the compiler's back.
    unsafe { read_volatile(boot::start_info()) }
}

/// Tells the save code where the p2m list is (shared_info.arch), for the domain as it is now.
pub fn publish_p2m(si: &StartInfo) -> Result<usize, Failure> {
    let fail = |why| at("publish p2m")(why);
    let nr = si.nr_pages as usize;
    let frames = (nr * 8).div_ceil(PAGE_SIZE);
    if frames > PT_ENTRIES || !si.mfn_list.is_multiple_of(PAGE_SIZE as u64) {
        return Err(fail(
            "the p2m list is not whole pages or too long for one frame list",
        ));
    }
    let fl = FL.0.get() as *mut u64;
    for i in 0..PT_ENTRIES {
        let mfn = if i < frames {
            boot::mfn_of(si, si.mfn_list + (i * PAGE_SIZE) as u64)
                .ok_or(fail("a p2m page outside the boot mapping"))?
        } else {
            0
        };
        // SAFETY: in bounds of FL, which only this function writes.
        unsafe { write_volatile(fl.add(i), mfn) };
    }
    let fl_mfn = boot::mfn_of(si, fl as u64).ok_or(fail("frame list outside the boot mapping"))?;
    // SAFETY: in bounds of FLL, which only this function writes.
    unsafe { write_volatile(FLL.0.get() as *mut u64, fl_mfn) };
    let fll_mfn = boot::mfn_of(si, FLL.0.get() as u64)
        .ok_or(fail("frame list list outside the boot mapping"))?;
    let s = shared_info() as *mut SharedInfo;
    // SAFETY: shared_info is mapped (events::start ran first); the arch fields are the guest's to
    // write, and only the toolstack reads them.
    unsafe {
        write_volatile(addr_of_mut!((*s).arch.max_pfn), nr as u64);
        write_volatile(addr_of_mut!((*s).arch.pfn_to_mfn_frame_list_list), fll_mfn);
    }
    Ok(frames)
}

/// The PFN of `mfn` if it is one of ours: Xen's read-only machine-to-physical table says which PFN
/// it would be, our p2m confirms (for a frame that is not ours the table holds anything).
fn own_pfn(p2m: &[u64], mfn: u64) -> Option<u64> {
    // SAFETY: the M2P table is mapped read-only into every 64-bit PV guest and covers every machine
    // frame; `mfn` comes from a page-table entry Xen validated, so it is a real frame.
    let pfn = unsafe { read_volatile((MACH2PHYS_VIRT_START as *const u64).add(mfn as usize)) };
    (p2m.get(pfn as usize) == Some(&mfn)).then_some(pfn)
}

/// Mappings taken away before a suspend: (virtual address, the foreign frame it showed).
struct Foreign {
    list: [(u64, u64); 16],
    len: usize,
}

impl Foreign {
    fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.list[..self.len].iter().copied()
    }
}

/// Points every mapping of a frame that is not ours back at the page's own frame.
fn unmap_foreign(xen: &Xen<Page>, si: &StartInfo) -> Result<Foreign, Failure> {
    let p2m = p2m(si);
    let table = |mfn: u64| {
        own_pfn(p2m, mfn).map(|pfn| {
            // SAFETY: an own frame holding a page table is mapped (read-only) in the boot area at
            // VIRT_BASE + pfn * 4096, like every page the builder gave us.
            unsafe { &*(pv::virt_of(VIRT_BASE, pfn) as *const [u64; PT_ENTRIES]) }
        })
    };
    // SAFETY: pt_base is the virtual address of our L4 table, in the boot mapping.
    let l4 = unsafe { &*(si.pt_base as *const [u64; PT_ENTRIES]) };
    let mut found = Foreign {
        list: [(0, 0); 16],
        len: 0,
    };
    let mut overflow = false;
    pv::foreign_mappings(
        l4,
        table,
        |mfn| own_pfn(p2m, mfn).is_some(),
        |va, mfn| match found.list.get_mut(found.len) {
            Some(slot) => {
                *slot = (va, mfn);
                found.len += 1;
            }
            None => overflow = true,
        },
    );
    if overflow {
        return Err(at("suspend")(
            "more foreign mappings than this kernel makes",
        ));
    }
    for (va, mfn) in found.iter() {
        let own = boot::mfn_of(si, va).ok_or_else(|| {
            crate::steps::detail("suspend")(alloc::format!(
                "frame {mfn:#x} mapped at {va:#x}, outside the boot area"
            ))
        })?;
        // SAFETY: `va` is a page of the boot mapping that showed a Xen frame; it gets its own
        // frame back, which nothing used while the foreign one was mapped.
        unsafe { xen.update_va_mapping(va, own) }.map_err(at("suspend unmap"))?;
    }
    Ok(found)
}

/// Suspends the domain (the toolstack has asked) and brings the platform back afterwards: in a new
/// domain, shared_info, callbacks, the event channel ABI in use and the console; after a
/// cancelled save, the mappings as they were. Upcalls stay masked throughout.
pub fn suspend(xen: &Xen<Page>) -> Result<Resumed, Failure> {
    let si_ptr = boot::start_info();
    let si = start_info_now();
    let fifo = upcall::is_fifo();
    upcall::mask_events();
    let p2m_list = p2m(&si);
    let pfn = |mfn| pv::pfn_of(p2m_list, mfn).map_err(at("suspend"));
    let (store_pfn, console_pfn) = (pfn(si.store_mfn)?, pfn(si.console.mfn)?);
    let si_mfn = boot::mfn_of(&si, si_ptr as u64).ok_or(at("suspend")("start_info outside"))?;
    let old_shared = si.shared_info >> 12;
    let foreign = unmap_foreign(xen, &si)?;
    for (va, mfn) in foreign.iter() {
        let what = if mfn == old_shared {
            "shared_info"
        } else {
            "a Xen frame"
        };
        say!("suspend: unmapped {what} (mfn {mfn:#x}) at {va:#x}");
    }
    // SAFETY: start_info is ours to write; the restore code reads these two fields as guest frame
    // numbers and writes the new domain's frames back.
    unsafe {
        write_volatile(addr_of_mut!((*si_ptr).store_mfn), store_pfn);
        write_volatile(addr_of_mut!((*si_ptr).console.mfn), console_pfn);
    }
    let outcome = xen.suspend(si_mfn);
    if !matches!(outcome, Ok(Resumed::New)) {
        // Still the old domain: everything as it was.
        // SAFETY: as above.
        unsafe {
            write_volatile(addr_of_mut!((*si_ptr).store_mfn), si.store_mfn);
            write_volatile(addr_of_mut!((*si_ptr).console.mfn), si.console.mfn);
        }
        for (va, mfn) in foreign.iter() {
            // SAFETY: the same frames at the same places as before the attempt.
            unsafe { xen.update_va_mapping(va, mfn) }.map_err(at("suspend remap"))?;
        }
        upcall::unmask_events();
        return outcome.map_err(at("suspend"));
    }

    let si = start_info_now();
    events::map_shared_info(xen, &si)?;
    // Other views of the old shared_info (a clock's) follow it to the new frame; grant frames
    // and anything else stay unmapped for their owners to set up again.
    for (va, mfn) in foreign.iter() {
        if mfn == old_shared && va != shared_info() as u64 {
            // SAFETY: a page that showed shared_info shows shared_info again.
            unsafe { xen.update_va_mapping(va, si.shared_info >> 12) }
                .map_err(at("resume remap"))?;
        }
    }
    let console_pfn = pfn(si.console.mfn).unwrap_or(console_pfn);
    // SAFETY: the console ring is in the boot mapping at its pfn (unchanged by the restore), for
    // good; the port is the new domain's.
    unsafe {
        crate::console::init(
            pv::virt_of(VIRT_BASE, console_pfn) as *const xenpv_xen::console::ConsoleInterface,
            si.console.evtchn,
        )
    };
    publish_p2m(&si)?;
    // SAFETY: vcpu0() is in the shared_info just mapped again at the same address.
    unsafe { upcall::install(xen, events::vcpu0(), Demux::TwoLevel(events::two_level())) }
        .map_err(at("resume set_callbacks"))?;
    if fifo {
        crate::fifo_events::switch(xen, &si)?;
    }
    // The restore masks every 2-level port; the store's is the one this kernel waits on.
    upcall::unmask_port(xen, si.store_evtchn).map_err(|_| at("resume")("store port"))?;
    Ok(Resumed::New)
}

/// Replies left in the store ring by the old connection (xenstored starts afresh with a restored
/// domain): skipped, as Linux's xenbus does on resume. Returns the bytes dropped.
fn discard_stale_replies(si: &StartInfo) -> Result<u32, Failure> {
    let pfn = pv::pfn_of(p2m(si), si.store_mfn).map_err(at("resume store"))?;
    let ring = pv::virt_of(VIRT_BASE, pfn) as *mut XenstoreDomainInterface;
    // SAFETY: the store ring page is in the boot mapping; rsp_cons is ours to move, rsp_prod is
    // read once.
    unsafe {
        let prod = read_volatile(addr_of!((*ring).rsp_prod));
        let cons = read_volatile(addr_of!((*ring).rsp_cons));
        write_volatile(addr_of_mut!((*ring).rsp_cons), prod);
        Ok(prod.wrapping_sub(cons))
    }
}

/// Waits until the toolstack has written "suspend" to control/shutdown.
fn wait_for_request(xen: &Xen<Page>, c: &mut StoreClient, port: u32) -> Result<(), Failure> {
    let deadline = upcall::now_ns().saturating_add(REQUEST_TIMEOUT_NS);
    loop {
        let seen = upcall::count(port);
        c.process_pending().map_err(at("suspend watch"))?;
        while c.take_event("shutdown").is_some() {
            let v = c
                .try_read("control/shutdown")
                .map_err(at("suspend watch"))?;
            if v.as_deref() == Some(b"suspend".as_slice()) {
                return Ok(());
            }
        }
        let now = upcall::now_ns();
        if now >= deadline {
            return Err(at("suspend")("the toolstack did not ask within 120 s"));
        }
        match upcall::wait_for(xen, port, seen, (deadline - now).min(1_000_000_000)) {
            Ok(_) | Err(upcall::WaitError::TimedOut) => {}
            Err(_) => return Err(at("suspend watch")("cannot wait on the store port")),
        }
    }
}

/// The save / restore proof: announce readiness, wait for the toolstack's request, suspend, and
/// after the restore check the store and event channels of the new domain again.
pub fn run(xen: &Xen<Page>) -> Result<(), Failure> {
    let before = start_info_now();
    let frames = publish_p2m(&before)?;
    say!("suspend: p2m list published ({frames} frames)");
    let mut c = store::connect(&before).map_err(at("xenstore ring"))?;
    let domid = c.read_string("domid").map_err(at("xenstore read domid"))?;
    // Requests until one ends in a new domain; a cancelled one (a checkpoint, `xl save -c`)
    // leaves this domain running as it was, which is checked before waiting for the next.
    let mut round = 0;
    let t0 = loop {
        round += 1;
        c.watch("control/shutdown", "shutdown")
            .map_err(at("suspend watch"))?;
        c.write(
            "data/metal-suspend",
            alloc::format!("ready {round}").as_bytes(),
        )
        .map_err(at("suspend ready"))?;
        say!("suspend #{round}: data/metal-suspend = ready {round}, watching control/shutdown");
        wait_for_request(xen, &mut c, before.store_evtchn)?;
        // The acknowledgement libxl waits for: anything but "suspend".
        c.write("control/shutdown", b"")
            .map_err(at("suspend ack"))?;
        c.unwatch("control/shutdown", "shutdown")
            .map_err(at("suspend watch"))?;
        say!("suspend #{round}: control/shutdown asked for it, acknowledged; suspending domain {domid}");
        crate::console::drain();
        let t0 = upcall::now_ns();
        if suspend(xen)? == Resumed::New {
            break t0;
        }
        let again = c.read_string("domid").map_err(at("suspend cancelled"))?;
        let (send, recv, count) = events::loopback(xen)?;
        say!(
            "suspend #{round}: cancelled by the toolstack after {} ms (a checkpoint); still \
             domain {again}, store answers, loopback {send} -> {recv} delivered by upcall \
             (count {count})",
            upcall::now_ns().wrapping_sub(t0) / 1_000_000
        );
    };
    drop(c);
    let after = start_info_now();
    let stale = discard_stale_replies(&after)?;
    let mut c = store::connect(&after).map_err(at("resume store"))?;
    let new_domid = c.read_string("domid").map_err(at("resume store"))?;
    let name = c.read_string("name").map_err(at("resume store"))?;
    say!(
        "resumed in a new domain after {} ms of system time: domid {domid} -> {new_domid} ({name}); \
         store mfn {:#x} port {} -> mfn {:#x} port {} ({stale} stale reply bytes dropped); console \
         port {} -> {}; shared_info re-mapped, callbacks re-set, {} event channels set up again",
        upcall::now_ns().wrapping_sub(t0) / 1_000_000,
        before.store_mfn,
        before.store_evtchn,
        after.store_mfn,
        after.store_evtchn,
        before.console.evtchn,
        after.console.evtchn,
        if upcall::is_fifo() { "FIFO" } else { "2-level" }
    );
    for kind in ["vif", "vbd"] {
        let devs = store::devices(&mut c, kind).map_err(at("resume devices"))?;
        for d in devs {
            let state = c
                .read_string(&alloc::format!("{}/state", d.backend))
                .map_err(at("resume devices"))?;
            say!(
                "resumed: xenstore {} -> {} (domain {}), back state {state}",
                d.path,
                d.backend,
                d.backend_id
            );
        }
    }
    let (send, recv, count) = events::loopback(xen)?;
    say!(
        "resumed: loopback {send} -> {recv} delivered by upcall (count {count}); masked it stayed \
         pending; unmask re-raised it"
    );
    Ok(())
}
