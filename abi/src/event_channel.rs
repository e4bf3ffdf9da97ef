//! Event channels of event_channel.h: EVTCHNOP_* arguments, the FIFO ABI, and the VIRQ numbers of xen.h.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::{DomId, EvtchnPort};

pub use crate::{
    DOMID_COW, DOMID_FIRST_RESERVED, DOMID_IDLE, DOMID_INVALID, DOMID_IO, DOMID_MASK, DOMID_SELF,
    DOMID_XEN,
};

pub const EVTCHNOP_BIND_INTERDOMAIN: u32 = 0;
pub const EVTCHNOP_BIND_VIRQ: u32 = 1;
pub const EVTCHNOP_BIND_PIRQ: u32 = 2;
pub const EVTCHNOP_CLOSE: u32 = 3;
pub const EVTCHNOP_SEND: u32 = 4;
pub const EVTCHNOP_STATUS: u32 = 5;
pub const EVTCHNOP_ALLOC_UNBOUND: u32 = 6;
pub const EVTCHNOP_BIND_IPI: u32 = 7;
pub const EVTCHNOP_BIND_VCPU: u32 = 8;
pub const EVTCHNOP_UNMASK: u32 = 9;
pub const EVTCHNOP_RESET: u32 = 10;
pub const EVTCHNOP_INIT_CONTROL: u32 = 11;
pub const EVTCHNOP_EXPAND_ARRAY: u32 = 12;
pub const EVTCHNOP_SET_PRIORITY: u32 = 13;

/// EVTCHNOP_alloc_unbound argument (C `struct evtchn_alloc_unbound`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct EvtchnAllocUnbound {
    /// In: the domain allocating (`DOMID_SELF`).
    pub dom: DomId,
    /// In: the domain allowed to bind to the port.
    pub remote_dom: DomId,
    /// Out: the new port.
    pub port: EvtchnPort,
}

/// EVTCHNOP_bind_interdomain argument (C `struct evtchn_bind_interdomain`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct EvtchnBindInterdomain {
    pub remote_dom: DomId,
    /// Implicit C padding.
    pub pad: u16,
    pub remote_port: EvtchnPort,
    /// Out: the local end.
    pub local_port: EvtchnPort,
}

/// EVTCHNOP_bind_virq argument (C `struct evtchn_bind_virq`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct EvtchnBindVirq {
    /// `VIRQ_*`.
    pub virq: u32,
    pub vcpu: u32,
    /// Out.
    pub port: EvtchnPort,
}

/// EVTCHNOP_bind_ipi argument (C `struct evtchn_bind_ipi`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct EvtchnBindIpi {
    pub vcpu: u32,
    /// Out.
    pub port: EvtchnPort,
}

/// EVTCHNOP_close argument (C `struct evtchn_close`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct EvtchnClose {
    pub port: EvtchnPort,
}

/// EVTCHNOP_send argument (C `struct evtchn_send`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct EvtchnSend {
    pub port: EvtchnPort,
}

pub const EVTCHNSTAT_CLOSED: u32 = 0;
pub const EVTCHNSTAT_UNBOUND: u32 = 1;
pub const EVTCHNSTAT_INTERDOMAIN: u32 = 2;
pub const EVTCHNSTAT_PIRQ: u32 = 3;
pub const EVTCHNSTAT_VIRQ: u32 = 4;
pub const EVTCHNSTAT_IPI: u32 = 5;

/// EVTCHNOP_status argument (C `struct evtchn_status`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct EvtchnStatus {
    pub dom: DomId,
    /// Implicit C padding.
    pub pad: u16,
    pub port: EvtchnPort,
    /// Out: `EVTCHNSTAT_*`.
    pub status: u32,
    /// Out: the vCPU notified.
    pub vcpu: u32,
    /// Out: C union `u`, by `status`: unbound `{dom: u16}`, interdomain `{dom: u16, pad, port: u32}`,
    /// pirq `u32`, virq `u32`.
    pub u: [u32; 2],
}

/// EVTCHNOP_bind_vcpu argument (C `struct evtchn_bind_vcpu`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct EvtchnBindVcpu {
    pub port: EvtchnPort,
    pub vcpu: u32,
}

/// EVTCHNOP_unmask argument (C `struct evtchn_unmask`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct EvtchnUnmask {
    pub port: EvtchnPort,
}

/// EVTCHNOP_reset argument (C `struct evtchn_reset`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct EvtchnReset {
    pub dom: DomId,
}

/// EVTCHNOP_init_control argument: registers a vCPU's FIFO control block
/// (C `struct evtchn_init_control`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct EvtchnInitControl {
    /// In: frame holding the control block.
    pub control_gfn: u64,
    /// In: byte offset of the control block in that frame.
    pub offset: u32,
    pub vcpu: u32,
    /// Out: `EVTCHN_FIFO_LINK_BITS` as Xen implements it.
    pub link_bits: u8,
    /// C `_pad`.
    pub pad: [u8; 7],
}

/// EVTCHNOP_expand_array argument: adds one page of FIFO event words (C `struct evtchn_expand_array`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct EvtchnExpandArray {
    pub array_gfn: u64,
}

/// EVTCHNOP_set_priority argument (C `struct evtchn_set_priority`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct EvtchnSetPriority {
    pub port: EvtchnPort,
    /// `EVTCHN_FIFO_PRIORITY_*`.
    pub priority: u32,
}

/// Ports of the 2-level ABI: one bit per port in `shared_info.evtchn_pending` (64 × 64).
pub const EVTCHN_2L_NR_CHANNELS: u32 = 4096;

pub const EVTCHN_FIFO_PRIORITY_MAX: u32 = 0;
pub const EVTCHN_FIFO_PRIORITY_DEFAULT: u32 = 7;
pub const EVTCHN_FIFO_PRIORITY_MIN: u32 = 15;
pub const EVTCHN_FIFO_MAX_QUEUES: usize = EVTCHN_FIFO_PRIORITY_MIN as usize + 1;

/// Bit numbers in a FIFO event word (`event_word_t`, a `u32`).
pub const EVTCHN_FIFO_PENDING: u32 = 31;
pub const EVTCHN_FIFO_MASKED: u32 = 30;
pub const EVTCHN_FIFO_LINKED: u32 = 29;
pub const EVTCHN_FIFO_BUSY: u32 = 28;
/// Low bits of an event word: the next port in the queue.
pub const EVTCHN_FIFO_LINK_BITS: u32 = 17;
pub const EVTCHN_FIFO_LINK_MASK: u32 = (1 << EVTCHN_FIFO_LINK_BITS) - 1;
pub const EVTCHN_FIFO_NR_CHANNELS: u32 = 1 << EVTCHN_FIFO_LINK_BITS;

/// Per-vCPU FIFO control block (C `struct evtchn_fifo_control_block`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct EvtchnFifoControlBlock {
    /// Bit per priority queue that has events.
    pub ready: u32,
    /// C `_rsvd`.
    pub rsvd: u32,
    /// Head port of each priority queue.
    pub head: [u32; EVTCHN_FIFO_MAX_QUEUES],
}

// Virtual IRQs (xen.h).
pub const VIRQ_TIMER: u32 = 0;
pub const VIRQ_DEBUG: u32 = 1;
pub const VIRQ_CONSOLE: u32 = 2;
pub const VIRQ_DOM_EXC: u32 = 3;
pub const VIRQ_TBUF: u32 = 4;
pub const VIRQ_DEBUGGER: u32 = 6;
pub const VIRQ_XENOPROF: u32 = 7;
pub const VIRQ_CON_RING: u32 = 8;
pub const VIRQ_PCPU_STATE: u32 = 9;
pub const VIRQ_MEM_EVENT: u32 = 10;
pub const VIRQ_ARGO: u32 = 11;
pub const VIRQ_ENOMEM: u32 = 12;
pub const VIRQ_XENPMU: u32 = 13;
pub const NR_VIRQS: u32 = 24;
