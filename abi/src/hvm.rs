//! HVM guest interface of hvm/hvm_op.h and hvm/params.h: HVMOP_* numbers, their arguments, and the
//! HVM_PARAM_* indices (store ring, console, event callback).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::DomId;

pub const HVMOP_SET_PARAM: u32 = 0;
pub const HVMOP_GET_PARAM: u32 = 1;
pub const HVMOP_FLUSH_TLBS: u32 = 5;
pub const HVMOP_PAGETABLE_DYING: u32 = 9;
pub const HVMOP_GET_TIME: u32 = 10;
pub const HVMOP_XENTRACE: u32 = 11;
pub const HVMOP_GET_MEM_TYPE: u32 = 15;
pub const HVMOP_SET_EVTCHN_UPCALL_VECTOR: u32 = 23;
pub const HVMOP_GUEST_REQUEST_VM_EVENT: u32 = 24;
pub const HVMOP_ALTP2M: u32 = 25;

/// HVMOP_set_param / HVMOP_get_param argument (C `struct xen_hvm_param`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct XenHvmParam {
    /// `DOMID_SELF` for the caller.
    pub domid: DomId,
    /// C `pad`.
    pub pad: u16,
    /// `HVM_PARAM_*`.
    pub index: u32,
    pub value: u64,
}

/// HVMOP_set_evtchn_upcall_vector argument: deliver this vCPU's event upcalls on an IDT vector
/// (C `struct xen_hvm_evtchn_upcall_vector`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct XenHvmEvtchnUpcallVector {
    pub vcpu: u32,
    pub vector: u8,
    /// Implicit C tail padding.
    pub pad: [u8; 3],
}

/// HVMOP_get_time argument (C `struct xen_hvm_get_time`).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct XenHvmGetTime {
    /// Out: system time in nanoseconds.
    pub now: u64,
}

/// How the guest wants event upcalls: `type << 56 | value`; type in the top byte.
pub const HVM_PARAM_CALLBACK_IRQ: u32 = 0;
pub const HVM_PARAM_CALLBACK_IRQ_TYPE_MASK: u64 = 0xFF00_0000_0000_0000;
/// Callback type: value is a GSI.
pub const HVM_PARAM_CALLBACK_TYPE_GSI: u64 = 0;
/// Callback type: value is PCI domain/bus/device/INTx.
pub const HVM_PARAM_CALLBACK_TYPE_PCI_INTX: u64 = 1;
/// Callback type: value is an IDT vector.
pub const HVM_PARAM_CALLBACK_TYPE_VECTOR: u64 = 2;
/// Frame of the xenstore ring page.
pub const HVM_PARAM_STORE_PFN: u32 = 1;
/// Event channel of the xenstore ring.
pub const HVM_PARAM_STORE_EVTCHN: u32 = 2;
pub const HVM_PARAM_IOREQ_PFN: u32 = 5;
pub const HVM_PARAM_BUFIOREQ_PFN: u32 = 6;
pub const HVM_PARAM_VIRIDIAN: u32 = 9;
pub const HVM_PARAM_TIMER_MODE: u32 = 10;
pub const HVM_PARAM_HPET_ENABLED: u32 = 11;
pub const HVM_PARAM_IDENT_PT: u32 = 12;
pub const HVM_PARAM_ACPI_S_STATE: u32 = 14;
pub const HVM_PARAM_VM86_TSS: u32 = 15;
pub const HVM_PARAM_VPT_ALIGN: u32 = 16;
/// Frame of the PV console ring page.
pub const HVM_PARAM_CONSOLE_PFN: u32 = 17;
/// Event channel of the PV console.
pub const HVM_PARAM_CONSOLE_EVTCHN: u32 = 18;
pub const HVM_PARAM_ACPI_IOPORTS_LOCATION: u32 = 19;
pub const HVM_PARAM_PAGING_RING_PFN: u32 = 27;
pub const HVM_PARAM_MONITOR_RING_PFN: u32 = 28;
pub const HVM_PARAM_SHARING_RING_PFN: u32 = 29;
pub const HVM_PARAM_TRIPLE_FAULT_REASON: u32 = 31;
pub const HVM_PARAM_IOREQ_SERVER_PFN: u32 = 32;
pub const HVM_PARAM_NR_IOREQ_SERVER_PAGES: u32 = 33;
pub const HVM_PARAM_VM_GENERATION_ID_ADDR: u32 = 34;
pub const HVM_PARAM_ALTP2M: u32 = 35;
pub const HVM_PARAM_X87_FIP_WIDTH: u32 = 36;
pub const HVM_PARAM_VM86_TSS_SIZED: u32 = 37;
pub const HVM_PARAM_MCA_CAP: u32 = 38;
pub const HVM_NR_PARAMS: u32 = 39;
