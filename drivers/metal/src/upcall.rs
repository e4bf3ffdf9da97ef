//! Event delivery by upcall, the PV way (as MiniOS and Linux PV do it): Xen enters the kernel at
//! the entry registered with HYPERVISOR_set_callbacks whenever an event is pending for the vCPU and
//! `evtchn_upcall_mask` is clear. That byte of vcpu_info is this kernel's interrupt flag: Xen sets
//! it on entry, [`mask_events`] / [`unmask_events`] move it, and the return through
//! HYPERVISOR_iret restores it from the interrupted context's IF.
//!
//! The entry saves the caller-saved registers and calls [`metal_upcall`], which walks the pending
//! state through drivers/xen's demux (2-level bitmaps or FIFO queues, whichever ABI is active),
//! counts every event per port and calls the port's handler if one is routed. Code that waits for
//! an event uses [`wait_for`]: it checks a port's count with upcalls masked and sleeps in
//! SCHEDOP_poll on the port until it is pending, so no event is lost between check and sleep.

use core::arch::global_asm;
use core::cell::UnsafeCell;
use core::mem::offset_of;
use core::sync::atomic::{compiler_fence, AtomicU32, AtomicU8, AtomicUsize, Ordering};

use xenpv_abi::hypercall::HYPERVISOR_IRET;
use xenpv_abi::shared_info::{VcpuInfo, VcpuTimeInfo};
use xenpv_abi::EvtchnPort;
use xenpv_xen::evtchn::{Routes, TwoLevel};
use xenpv_xen::fifo::Fifo;
use xenpv_xen::hypercall::Page;
use xenpv_xen::{systime, Xen, XenError};

use crate::boot;

/// Ports this kernel counts and routes (the FIFO array it gives Xen holds as many).
pub const MAX_PORTS: usize = 1024;

global_asm!(
    r#"
    .section .text.upcall, "ax"
    // Xen's bounce frame: rcx, r11, then an iret frame rip, cs, rflags, rsp, ss (cs with RPL 0
    // for kernel mode, the saved upcall mask in bits 32-39; rflags.IF = upcalls were enabled).
    .global metal_event_entry
metal_event_entry:
    pop %rcx
    pop %r11
    push %rax
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
    push %rbx
    // Only CS's selector goes back to HYPERVISOR_iret.
    movl $0, 92(%rsp)
    mov %rsp, %rbx
    and $-16, %rsp
    cld
    call metal_upcall
    mov %rbx, %rsp
    pop %rbx
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rax
    // HYPERVISOR_iret with flags 0 (not a syscall frame): its stub pushes rcx, r11 and rax itself
    // and Xen restores everything, including evtchn_upcall_mask from the frame's IF. A pending
    // event then enters here again at once.
    push $0
    jmp hypercall_page + {iret} * 32

    // Xen could not load a segment register on a return to us: nothing to repair, report.
    .global metal_failsafe_entry
metal_failsafe_entry:
    and $-16, %rsp
    call metal_failsafe
    ud2
    "#,
    iret = const HYPERVISOR_IRET,
    options(att_syntax)
);

extern "C" {
    fn metal_event_entry();
    fn metal_failsafe_entry();
}

/// Which event channel ABI the upcall walks.
pub enum Demux {
    Off,
    TwoLevel(TwoLevel<'static>),
    Fifo(Fifo<'static>),
}

struct State {
    demux: Demux,
    routes: Option<Routes<fn(EvtchnPort), MAX_PORTS>>,
}

struct Global(UnsafeCell<State>);

// SAFETY: one vCPU; the state is touched only with upcalls masked (by the upcall itself, which Xen
// enters masked, or through `with_state`), so never by two contexts at once.
unsafe impl Sync for Global {}

static STATE: Global = Global(UnsafeCell::new(State {
    demux: Demux::Off,
    routes: None,
}));

/// Events delivered per port since boot.
static COUNTS: [AtomicU32; MAX_PORTS] = [const { AtomicU32::new(0) }; MAX_PORTS];
/// Upcalls taken.
static UPCALLS: AtomicU32 = AtomicU32::new(0);
/// FIFO queue links that pointed nowhere (Xen's words are checked like any peer's).
static BAD_LINKS: AtomicU32 = AtomicU32::new(0);
/// vcpu_info of vCPU 0 (in the mapped shared_info); 0 until [`install`].
static VCPU: AtomicUsize = AtomicUsize::new(0);

fn vcpu_byte(offset: usize) -> Option<&'static AtomicU8> {
    let base = VCPU.load(Ordering::Acquire);
    // SAFETY: a non-zero VCPU is vcpu_info inside the mapped shared_info page (install's
    // contract); its bytes are changed by Xen and us only atomically.
    (base != 0).then(|| unsafe { &*((base + offset) as *const AtomicU8) })
}

fn upcall_mask() -> Option<&'static AtomicU8> {
    vcpu_byte(offset_of!(VcpuInfo, evtchn_upcall_mask))
}

fn upcall_pending() -> Option<&'static AtomicU8> {
    vcpu_byte(offset_of!(VcpuInfo, evtchn_upcall_pending))
}

/// The upcall, entered from `metal_event_entry` with upcalls masked.
#[no_mangle]
extern "C" fn metal_upcall() {
    UPCALLS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: Xen entered with upcalls masked, so nothing else touches STATE until we return.
    let State { demux, routes } = unsafe { &mut *STATE.0.get() };
    let deliver = |port: EvtchnPort| {
        if let Some(c) = COUNTS.get(port as usize) {
            c.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(h) = routes.as_ref().and_then(|r| r.get(port)) {
            h(port);
        }
    };
    match demux {
        // Clears evtchn_upcall_pending itself, before it reads the selector.
        Demux::TwoLevel(ev) => {
            ev.dispatch(deliver);
        }
        Demux::Fifo(f) => {
            // Cleared before the queues are read: Xen sets it again for anything linked later.
            if let Some(p) = upcall_pending() {
                p.store(0, Ordering::SeqCst);
            }
            if f.dispatch(deliver).is_err() {
                BAD_LINKS.fetch_add(1, Ordering::Relaxed);
            }
        }
        Demux::Off => {
            if let Some(p) = upcall_pending() {
                p.store(0, Ordering::SeqCst);
            }
        }
    }
}

#[no_mangle]
extern "C" fn metal_failsafe() -> ! {
    crate::say!("FAIL failsafe callback: Xen could not restore a segment register");
    crate::console::drain();
    let _ = Xen::new(boot::hypercalls()).shutdown(xenpv_xen::ops::ShutdownReason::Crash);
    crate::halt()
}

/// Masks upcalls; returns whether they were masked already.
pub fn mask_events() -> bool {
    let was = upcall_mask().is_none_or(|m| m.swap(1, Ordering::SeqCst) != 0);
    compiler_fence(Ordering::SeqCst);
    was
}

/// Unmasks upcalls and takes any event that became pending meanwhile (Xen only delivers on its way
/// back to the guest, so a hypercall is made to get there).
pub fn unmask_events() {
    compiler_fence(Ordering::SeqCst);
    let (Some(m), Some(p)) = (upcall_mask(), upcall_pending()) else {
        return;
    };
    m.store(0, Ordering::SeqCst);
    if p.load(Ordering::SeqCst) != 0 {
        force_upcall();
    }
}

/// Any cheap hypercall: Xen checks for pending events on every return to the guest.
fn force_upcall() {
    let _ = Xen::new(boot::hypercalls()).version();
}

/// Runs `f` with upcalls masked, then restores the previous state.
pub fn masked<R>(f: impl FnOnce() -> R) -> R {
    let was = mask_events();
    let r = f();
    if !was {
        unmask_events();
    }
    r
}

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    // SAFETY: upcalls are masked for the whole borrow (single vCPU), so the upcall cannot hold
    // another reference to STATE meanwhile; the borrow does not escape `f`.
    masked(|| f(unsafe { &mut *STATE.0.get() }))
}

/// Registers the entry points with Xen and starts delivering through `demux`; upcalls are
/// unmasked on return (Xen starts a PV guest with them masked).
///
/// # Safety
/// `vcpu` must be vCPU 0's vcpu_info in the shared_info page, mapped for good at that address.
pub unsafe fn install(
    xen: &Xen<Page>,
    vcpu: *const VcpuInfo,
    demux: Demux,
) -> Result<(), XenError> {
    VCPU.store(vcpu as usize, Ordering::Release);
    mask_events();
    // SAFETY: both entries follow the PV callback conventions (above) and live in the kernel image.
    unsafe {
        xen.set_callbacks(
            metal_event_entry as *const () as u64,
            metal_failsafe_entry as *const () as u64,
        )?;
    }
    with_state(|s| {
        s.demux = demux;
        s.routes.get_or_insert_with(Routes::default);
    });
    unmask_events();
    Ok(())
}

/// Switches the upcall to another ABI's demux (after EVTCHNOP_init_control, or on resume).
pub fn set_demux(demux: Demux) {
    with_state(|s| s.demux = demux);
}

/// Whether the upcall walks FIFO queues (else the 2-level bitmaps, or nothing yet).
pub fn is_fifo() -> bool {
    with_state(|s| matches!(s.demux, Demux::Fifo(_)))
}

/// Calls `handler` (in the upcall, upcalls masked) for each event on `port`.
pub fn route(port: EvtchnPort, handler: fn(EvtchnPort)) -> Result<(), BadPort> {
    with_state(|s| {
        s.routes
            .get_or_insert_with(Routes::default)
            .bind(port, handler)
            .map_err(|_| BadPort(port))
    })
}

pub fn unroute(port: EvtchnPort) {
    with_state(|s| s.routes.as_mut().and_then(|r| r.unbind(port)));
}

/// Events delivered on `port` so far (0 for ports beyond [`MAX_PORTS`]).
pub fn count(port: EvtchnPort) -> u32 {
    COUNTS
        .get(port as usize)
        .map_or(0, |c| c.load(Ordering::SeqCst))
}

/// Upcalls taken so far.
pub fn upcalls() -> u32 {
    UPCALLS.load(Ordering::Relaxed)
}

/// Bad FIFO links met so far.
pub fn bad_links() -> u32 {
    BAD_LINKS.load(Ordering::Relaxed)
}

/// A port the active ABI (or the routing table) has no room for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadPort(pub EvtchnPort);

/// Stops `port` from raising upcalls; its events stay pending.
pub fn mask_port(port: EvtchnPort) -> Result<(), BadPort> {
    with_state(|s| match &s.demux {
        Demux::TwoLevel(ev) => ev.mask(port).map_err(|_| BadPort(port)),
        Demux::Fifo(f) => f.mask(port).map_err(|_| BadPort(port)),
        Demux::Off => Err(BadPort(port)),
    })
}

/// Lets `port` raise upcalls again; an event that arrived while it was masked is delivered now.
pub fn unmask_port(xen: &Xen<Page>, port: EvtchnPort) -> Result<(), UnmaskError> {
    with_state(|s| match &s.demux {
        // The 2-level ABI re-raises locally (selector and upcall flag); the upcall runs when the
        // mask is restored.
        Demux::TwoLevel(ev) => ev
            .unmask(port)
            .map(drop)
            .map_err(|_| UnmaskError::Port(BadPort(port))),
        // Only Xen may link a word into a queue: a pending port is unmasked through it.
        Demux::Fifo(f) => match f.unmask(port) {
            Ok(true) => xen.unmask(port).map_err(UnmaskError::Xen),
            Ok(false) => Ok(()),
            Err(_) => Err(UnmaskError::Port(BadPort(port))),
        },
        Demux::Off => Err(UnmaskError::Port(BadPort(port))),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnmaskError {
    Port(BadPort),
    Xen(XenError),
}

/// Whether `port` has an event pending (masked ports keep theirs).
pub fn is_pending(port: EvtchnPort) -> Result<bool, BadPort> {
    with_state(|s| match &s.demux {
        Demux::TwoLevel(ev) => ev.is_pending(port).map_err(|_| BadPort(port)),
        Demux::Fifo(f) => f.is_pending(port).map_err(|_| BadPort(port)),
        Demux::Off => Err(BadPort(port)),
    })
}

/// Why [`wait_for`] returned without the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitError {
    /// Nothing arrived before the deadline.
    TimedOut,
    /// Called with upcalls masked (e.g. from a handler): the event could never be counted.
    Masked,
    /// The port is beyond what this kernel counts.
    Port(BadPort),
    /// SCHEDOP_poll refused (e.g. a port that is not ours).
    Xen(XenError),
}

impl core::fmt::Display for WaitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WaitError::TimedOut => f.write_str("no event before the deadline"),
            WaitError::Masked => f.write_str("waited with upcalls masked"),
            WaitError::Port(p) => write!(f, "port {} beyond the table", p.0),
            WaitError::Xen(e) => write!(f, "{e}"),
        }
    }
}

/// Waits until `port`'s event count differs from `seen` (a value [`count`] returned before the
/// action that will raise the event), for at most `timeout_ns`; returns the new count.
///
/// Upcalls are masked while the count is checked, and the vCPU then sleeps in SCHEDOP_poll on the
/// port: an event that arrives after the check leaves the port pending (the upcall cannot run to
/// consume it), so poll returns at once and unmasking delivers it.
pub fn wait_for(
    xen: &Xen<Page>,
    port: EvtchnPort,
    seen: u32,
    timeout_ns: u64,
) -> Result<u32, WaitError> {
    if port as usize >= MAX_PORTS {
        return Err(WaitError::Port(BadPort(port)));
    }
    let deadline = now_ns().saturating_add(timeout_ns);
    loop {
        if mask_events() {
            return Err(WaitError::Masked);
        }
        let c = count(port);
        if c != seen {
            unmask_events();
            return Ok(c);
        }
        if now_ns() >= deadline {
            unmask_events();
            return Err(WaitError::TimedOut);
        }
        let polled = xen.poll(&[port], deadline);
        unmask_events();
        polled.map_err(WaitError::Xen)?;
    }
}

/// Xen system time (ns since boot) from vCPU 0's time record; 0 before [`install`] (or if Xen's
/// record never settles, which a real shared_info cannot do).
pub fn now_ns() -> u64 {
    let base = VCPU.load(Ordering::Acquire);
    if base == 0 {
        return 0;
    }
    let t = (base + offset_of!(VcpuInfo, time)) as *const VcpuTimeInfo;
    // SAFETY: `t` is inside the mapped vcpu_info (install's contract); RDTSC is allowed in a PV
    // kernel.
    unsafe { systime::now(t, || core::arch::x86_64::_rdtsc()) }.unwrap_or(0)
}
