//! FIFO event channels on real Xen: the domain switches from the 2-level ABI (EVTCHNOP_init_control
//! with a control block page, EVTCHNOP_expand_array with one page of event words, enough for every
//! port this kernel routes), after which the upcall consumes drivers/xen's FIFO queues. Xen allows
//! the switch with ports already bound (it moves their pending state over), so it happens after the
//! 2-level proof; a restored domain starts 2-level again, so resume runs [`switch`] too.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use xenpv_abi::shared_info::StartInfo;
use xenpv_abi::{EvtchnPort, PAGE_SIZE};
use xenpv_xen::fifo::{ControlBlock, Fifo};
use xenpv_xen::hypercall::Page;
use xenpv_xen::Xen;

use crate::events::{self, Loopback, LOOPBACK_TIMEOUT_NS};
use crate::say;
use crate::steps::{at, Failure};
use crate::upcall::{self, Demux, MAX_PORTS};

#[repr(C, align(4096))]
struct PageBuf(UnsafeCell<[u8; PAGE_SIZE]>);

// SAFETY: Xen and the upcall share these pages through atomics only (ControlBlock, AtomicU32 words).
unsafe impl Sync for PageBuf {}

static CONTROL: PageBuf = PageBuf(UnsafeCell::new([0; PAGE_SIZE]));
static ARRAY: PageBuf = PageBuf(UnsafeCell::new([0; PAGE_SIZE]));

const _: () = assert!(PAGE_SIZE / 4 == MAX_PORTS);

fn words() -> &'static [AtomicU32] {
    // SAFETY: ARRAY is a page-aligned static of MAX_PORTS 32-bit words, used only through atomics.
    unsafe { core::slice::from_raw_parts(ARRAY.0.get() as *const AtomicU32, MAX_PORTS) }
}

fn control() -> &'static ControlBlock {
    // SAFETY: the control block is at offset 0 of CONTROL (init_control's offset), all atomics.
    unsafe { &*(CONTROL.0.get() as *const ControlBlock) }
}

/// Switches to the FIFO ABI; returns the link bits Xen implements.
pub fn switch(xen: &Xen<Page>, si: &StartInfo) -> Result<u8, Failure> {
    let mfn = |p: &PageBuf| {
        crate::boot::mfn_of(si, p.0.get() as u64).ok_or(at("fifo")("page outside the p2m"))
    };
    let (control_mfn, array_mfn) = (mfn(&CONTROL)?, mfn(&ARRAY)?);
    upcall::masked(|| {
        // Fresh pages: heads or links left from before a resume would send the upcall down queues
        // that no longer exist. Zero words are unmasked ports, as on the 2-level ABI here.
        for w in words() {
            w.store(0, Ordering::SeqCst);
        }
        let c = control();
        c.ready.store(0, Ordering::SeqCst);
        for h in &c.head {
            h.store(0, Ordering::SeqCst);
        }
        let bits = xen
            .fifo_init_control(control_mfn, 0, 0)
            .map_err(at("fifo init_control"))?;
        xen.fifo_expand_array(array_mfn)
            .map_err(at("fifo expand_array"))?;
        upcall::set_demux(Demux::Fifo(Fifo::new(words(), c)));
        Ok(bits)
    })
}

/// Ports in the order their upcall handler saw them.
static ORDER: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];
static ORDER_LEN: AtomicUsize = AtomicUsize::new(0);

fn record(port: EvtchnPort) {
    let i = ORDER_LEN.fetch_add(1, Ordering::SeqCst);
    if let Some(slot) = ORDER.get(i) {
        slot.store(port, Ordering::SeqCst);
    }
}

/// High and low priority of the proof (0 is the highest, 15 the lowest, 7 the default).
const HIGH: u32 = 2;
const LOW: u32 = 12;

pub fn run(xen: &Xen<Page>, si: &StartInfo) -> Result<(), Failure> {
    let bits = switch(xen, si)?;
    let (send, recv, _) = events::loopback(xen)?;

    let hi = Loopback::open(xen)?;
    let lo = Loopback::open(xen)?;
    xen.fifo_set_priority(hi.recv, HIGH)
        .map_err(at("fifo set_priority"))?;
    xen.fifo_set_priority(lo.recv, LOW)
        .map_err(at("fifo set_priority"))?;
    let bad = |_| at("fifo route")("port beyond the table");
    upcall::route(hi.recv, record).map_err(bad)?;
    upcall::route(lo.recv, record).map_err(bad)?;
    ORDER_LEN.store(0, Ordering::SeqCst);
    let seen = upcall::count(lo.recv);
    // Low priority first, with upcalls masked: both are queued before the upcall looks.
    upcall::masked(|| {
        xen.send(lo.send)?;
        xen.send(hi.send)
    })
    .map_err(at("evtchn send"))?;
    upcall::wait_for(xen, lo.recv, seen, LOOPBACK_TIMEOUT_NS)
        .map_err(|_| at("fifo priority")("the low-priority event was not delivered"))?;
    let order = [0, 1].map(|i| ORDER[i].load(Ordering::SeqCst));
    upcall::unroute(hi.recv);
    upcall::unroute(lo.recv);
    if ORDER_LEN.load(Ordering::SeqCst) != 2 || order != [hi.recv, lo.recv] {
        return Err(at("fifo priority")(
            "the upcall did not take the higher priority queue first",
        ));
    }
    if upcall::bad_links() != 0 {
        return Err(at("fifo")("a queue link pointed outside the event array"));
    }
    say!(
        "fifo: {bits} link bits; loopback {send} -> {recv} delivered by upcall from its queue; \
         masked it stayed pending, unmask had Xen link it again; sent priority {LOW} (port {}) \
         then priority {HIGH} (port {}) with upcalls masked: the upcall took {} then {}",
        lo.recv,
        hi.recv,
        order[0],
        order[1]
    );
    hi.close(xen)?;
    lo.close(xen)
}
