//! The event upcall: Xen raises the platform device's interrupt line while vCPU 0 has events
//! pending (HVM_PARAM_CALLBACK_IRQ, GSI type). The ISR acknowledges (clears the upcall flag, which
//! lowers the line) and queues the DPC; the DPC walks the 2-level bitmaps and hands each port to
//! its owner: the store port wakes the store client and queues the store work item, every other
//! port is masked and delivered to the child that registered it through the bus interface.

use alloc::boxed::Box;
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr::{addr_of, null_mut};
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};

use xenpv_abi::shared_info::SharedInfo;
use xenpv_abi::EvtchnPort;
use xenpv_ddk::interrupt::KInterrupt;
use xenpv_ddk::kernel::{KeInitializeDpc, KeInsertQueueDpc, KeSetEvent};
use xenpv_ddk::object::DeviceObject;
use xenpv_ddk::sync::{KDpc, KEvent};
use xenpv_xen::evtchn::{Bitmaps, TwoLevel, VcpuEvents};

use crate::hardware::BusProvider;
use crate::kobj::Work;

/// What the ISR, the DPC and the store work item share. Lives in non-paged memory (a Box) from
/// before the interrupt is connected until after it is disconnected and the DPCs flushed.
pub struct Upcall {
    shared_info: *const SharedInfo,
    dpc: UnsafeCell<KDpc>,
    /// The store's port: set at start, and again by a resume (the old domain's ports are gone).
    /// The store signal notifies it too.
    pub store_port: AtomicU32,
    store_event: *mut KEvent,
    /// Set once the provider exists, cleared before it goes.
    pub provider: AtomicPtr<BusProvider>,
    store_work: Option<Box<Work>>,
}

// SAFETY: shared between the ISR, the DPC and work items by design; every field is either
// immutable after construction, atomic, or a kernel object used through kernel calls.
unsafe impl Send for Upcall {}
// SAFETY: as above.
unsafe impl Sync for Upcall {}

impl Upcall {
    /// # Safety
    /// `shared_info` and `store_event` stay valid until the returned Upcall is dropped, after the
    /// interrupt was disconnected and the DPCs flushed; `device` is this driver's FDO.
    pub unsafe fn new(
        device: *mut DeviceObject,
        shared_info: *const SharedInfo,
        store_port: EvtchnPort,
        store_event: *mut KEvent,
    ) -> Option<Box<Upcall>> {
        let mut u = Box::new(Upcall {
            shared_info,
            // SAFETY: initialised by KeInitializeDpc below, before use.
            dpc: UnsafeCell::new(unsafe { core::mem::zeroed() }),
            store_port: AtomicU32::new(store_port),
            store_event,
            provider: AtomicPtr::new(null_mut()),
            store_work: None,
        });
        let ctx = &*u as *const Upcall as *const c_void;
        // SAFETY: the work routine gets this Upcall, which drains the work before it is dropped.
        u.store_work = Some(unsafe { Work::new(device, poll_store, ctx) }?);
        // SAFETY: the DPC object is ours, in non-paged memory, and `dpc` gets this Upcall.
        unsafe { KeInitializeDpc(u.dpc.get(), dpc, ctx as *mut c_void) };
        Some(u)
    }

    /// The ISR's context.
    pub fn context(&self) -> *mut c_void {
        self as *const Upcall as *mut c_void
    }

    /// Waits until no store poll is queued or running (before the provider goes).
    pub fn drain_store_work(&self) {
        if let Some(w) = &self.store_work {
            w.drain();
        }
    }

    fn vcpu0(&self) -> VcpuEvents<'_> {
        // SAFETY: `new`'s contract; Xen writes these fields concurrently, which is why they are
        // accessed as atomics of the same size and alignment as the u8/u64 fields.
        unsafe {
            let v = addr_of!((*self.shared_info).vcpu_info[0]);
            VcpuEvents {
                upcall_pending: &*(addr_of!((*v).evtchn_upcall_pending) as *const AtomicU8),
                upcall_mask: &*(addr_of!((*v).evtchn_upcall_mask) as *const AtomicU8),
                pending_sel: &*(addr_of!((*v).evtchn_pending_sel) as *const AtomicU64),
            }
        }
    }

    fn two_level(&self) -> TwoLevel<'_> {
        // SAFETY: as in `vcpu0`; the bitmaps are 64 aligned u64 words each.
        let bits = unsafe {
            Bitmaps {
                pending: &*(addr_of!((*self.shared_info).evtchn_pending) as *const [AtomicU64; 64]),
                mask: &*(addr_of!((*self.shared_info).evtchn_mask) as *const [AtomicU64; 64]),
            }
        };
        TwoLevel::new(bits, self.vcpu0())
    }
}

/// `KSERVICE_ROUTINE`. The line is shared (PCI INTx): claim it only when Xen has something.
pub unsafe extern "system" fn isr(_interrupt: *mut KInterrupt, context: *mut c_void) -> u8 {
    // SAFETY: connected with a live Upcall as context.
    let u = unsafe { &*(context as *const Upcall) };
    let v = u.vcpu0();
    if v.upcall_pending.swap(0, Ordering::SeqCst) == 0 {
        return 0;
    }
    // SAFETY: the DPC was initialised with this Upcall.
    unsafe { KeInsertQueueDpc(u.dpc.get(), null_mut(), null_mut()) };
    1
}

unsafe extern "system" fn dpc(
    _dpc: *mut KDpc,
    context: *mut c_void,
    _a: *mut c_void,
    _b: *mut c_void,
) {
    // SAFETY: queued only by `isr` with the live Upcall (flushed before it goes).
    let u = unsafe { &*(context as *const Upcall) };
    let provider = u.provider.load(Ordering::Acquire);
    let events = u.two_level();
    events.dispatch(|port| {
        if port == u.store_port.load(Ordering::Acquire) {
            // SAFETY: the store event outlives the Upcall (`new`'s contract).
            unsafe { KeSetEvent(u.store_event, 0, 0) };
            if let Some(w) = &u.store_work {
                w.queue();
            }
            return;
        }
        // Level semantics for the child: masked until it unmasks through the bus.
        let _ = events.mask(port);
        // SAFETY: the provider is unpublished, and the DPCs flushed, before it is dropped.
        if let Some(p) = unsafe { provider.as_ref() } {
            p.deliver_event(port);
        }
    });
}

/// The store work item: routes watch events to the children's sessions.
unsafe fn poll_store(context: *const c_void) {
    // SAFETY: the Upcall drains this work before it is dropped.
    let u = unsafe { &*(context as *const Upcall) };
    // SAFETY: unpublished, and this work drained, before the provider is dropped.
    if let Some(p) = unsafe { u.provider.load(Ordering::Acquire).as_ref() } {
        if let Err(e) = p.poll_store() {
            xenpv_ddk::debug::print(
                xenpv_ddk::debug::DPFLTR_ERROR_LEVEL,
                format_args!("xenbus: store: {e}"),
            );
        }
    }
}
