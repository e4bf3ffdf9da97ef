//! A model of Xen for tests: it reads and writes the argument structures through the pointers it is
//! given, as Xen does, and answers with Xen's rules and errors for the operations xenpv uses.

use std::sync::Mutex;
use std::vec::Vec;

use xenpv_abi::event_channel::*;
use xenpv_abi::grant_table::*;
use xenpv_abi::hvm::*;
use xenpv_abi::hypercall::*;
use xenpv_abi::memory::*;
use xenpv_abi::sched::*;
use xenpv_abi::vcpu::*;
use xenpv_abi::version::*;
use xenpv_abi::{DomId, DOMID_SELF};

use crate::error::XenError;
use crate::hypercall::Hypercall;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    Free,
    Unbound(DomId),
    Interdomain(DomId, u32),
}

#[derive(Default)]
pub struct State {
    /// Whether console_io writes are allowed (a privileged domain or a debug build).
    pub console_allowed: bool,
    pub console: Vec<u8>,
    /// Port 0 is never handed out.
    pub ports: Vec<Port>,
    pub sent: Vec<u32>,
    pub unmasked: Vec<u32>,
    pub gnttab_frames: u32,
    pub gnttab_max: u32,
    pub physmap: Vec<(u32, u64, u64)>,
    pub params: Vec<u64>,
    pub vcpu_info: Option<(u64, u32)>,
    pub shutdowns: Vec<u32>,
    /// What SCHEDOP_shutdown(suspend) returns: 0 resumed, 1 cancelled.
    pub suspend_result: i64,
    /// The third argument of each suspend: the start_info frame the toolstack looks for.
    pub suspend_records: Vec<u64>,
    /// SCHEDOP_block calls.
    pub blocks: u32,
    /// (event, failsafe) entry points of the last HYPERVISOR_set_callbacks.
    pub callbacks: Option<(u64, u64)>,
    pub fifo_control: Option<u64>,
    /// (va, pte) of each update_va_mapping.
    pub va_mappings: Vec<(u64, u64)>,
}

pub struct XenModel {
    pub state: Mutex<State>,
}

const EINVAL: i64 = -22;

impl Default for XenModel {
    fn default() -> Self {
        Self::new()
    }
}

impl XenModel {
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                ports: Vec::from([Port::Free; 64]),
                gnttab_frames: 1,
                gnttab_max: 32,
                params: Vec::from([0; HVM_NR_PARAMS as usize]),
                ..State::default()
            }),
        }
    }

    fn err(e: XenError) -> i64 {
        -e.errno()
    }

    /// # Safety
    /// `arg` must point to a valid `T`.
    unsafe fn arg<'a, T>(arg: u64) -> &'a mut T {
        // SAFETY: the caller's contract.
        unsafe { &mut *(arg as *mut T) }
    }

    fn free_port(s: &mut State) -> Option<usize> {
        (1..s.ports.len()).find(|&p| s.ports[p] == Port::Free)
    }

    fn port(s: &State, port: u32) -> Option<Port> {
        s.ports
            .get(port as usize)
            .copied()
            .filter(|p| *p != Port::Free)
    }

    unsafe fn evtchn(&self, cmd: u32, a: u64) -> i64 {
        let mut s = self.state.lock().unwrap();
        // SAFETY (whole match): the wrappers pass a valid structure of the type the command takes.
        unsafe {
            match cmd {
                EVTCHNOP_ALLOC_UNBOUND => {
                    let a = Self::arg::<EvtchnAllocUnbound>(a);
                    if a.dom != DOMID_SELF {
                        return -1;
                    }
                    let Some(p) = Self::free_port(&mut s) else {
                        return Self::err(XenError::NoSpace);
                    };
                    s.ports[p] = Port::Unbound(a.remote_dom);
                    a.port = p as u32;
                    0
                }
                EVTCHNOP_BIND_INTERDOMAIN => {
                    let b = Self::arg::<EvtchnBindInterdomain>(a);
                    let Some(p) = Self::free_port(&mut s) else {
                        return Self::err(XenError::NoSpace);
                    };
                    s.ports[p] = Port::Interdomain(b.remote_dom, b.remote_port);
                    b.local_port = p as u32;
                    0
                }
                EVTCHNOP_SEND => {
                    let port = Self::arg::<EvtchnSend>(a).port;
                    match Self::port(&s, port) {
                        Some(Port::Interdomain(..)) | Some(Port::Unbound(_)) => {
                            s.sent.push(port);
                            0
                        }
                        _ => EINVAL,
                    }
                }
                EVTCHNOP_UNMASK => {
                    let port = Self::arg::<EvtchnUnmask>(a).port;
                    if port as usize >= s.ports.len() {
                        return EINVAL;
                    }
                    s.unmasked.push(port);
                    0
                }
                EVTCHNOP_CLOSE => {
                    let port = Self::arg::<EvtchnClose>(a).port;
                    if Self::port(&s, port).is_none() {
                        return EINVAL;
                    }
                    s.ports[port as usize] = Port::Free;
                    0
                }
                EVTCHNOP_INIT_CONTROL => {
                    let c = Self::arg::<EvtchnInitControl>(a);
                    if c.offset as usize + 64 > xenpv_abi::PAGE_SIZE || c.offset % 8 != 0 {
                        return EINVAL;
                    }
                    if s.fifo_control.is_some() {
                        return Self::err(XenError::Exists);
                    }
                    s.fifo_control = Some(c.control_gfn);
                    c.link_bits = EVTCHN_FIFO_LINK_BITS as u8;
                    0
                }
                EVTCHNOP_EXPAND_ARRAY => {
                    if s.fifo_control.is_none() {
                        return EINVAL;
                    }
                    0
                }
                EVTCHNOP_SET_PRIORITY => {
                    let p = Self::arg::<EvtchnSetPriority>(a);
                    if Self::port(&s, p.port).is_none() {
                        return EINVAL;
                    }
                    0
                }
                _ => Self::err(XenError::NotImplemented),
            }
        }
    }
}

impl Hypercall for XenModel {
    unsafe fn hypercall(&self, nr: u32, a: [u64; 5]) -> i64 {
        let cmd = a[0] as u32;
        // SAFETY (whole match): as in `evtchn`.
        unsafe {
            match nr {
                HYPERVISOR_XEN_VERSION => match cmd {
                    XENVER_VERSION => 4 << 16 | 17,
                    XENVER_EXTRAVERSION => {
                        let buf = Self::arg::<[u8; XEN_EXTRAVERSION_LEN]>(a[1]);
                        buf[..3].copy_from_slice(b".5\0");
                        0
                    }
                    XENVER_GET_FEATURES => {
                        let f = Self::arg::<XenFeatureInfo>(a[1]);
                        if f.submap_idx >= XENFEAT_NR_SUBMAPS {
                            return EINVAL;
                        }
                        f.submap = 1 << XENFEAT_HVM_CALLBACK_VECTOR;
                        0
                    }
                    _ => Self::err(XenError::NotImplemented),
                },
                HYPERVISOR_UPDATE_VA_MAPPING => {
                    if a[0] % xenpv_abi::PAGE_SIZE as u64 != 0 || a[1] & 1 == 0 {
                        return EINVAL;
                    }
                    self.state.lock().unwrap().va_mappings.push((a[0], a[1]));
                    0
                }
                HYPERVISOR_SET_CALLBACKS => {
                    // Xen's register_guest_callback: any canonical address.
                    let canonical = |a: u64| (a as i64) << 16 >> 16 == a as i64;
                    if !canonical(a[0]) || !canonical(a[1]) {
                        return EINVAL;
                    }
                    self.state.lock().unwrap().callbacks = Some((a[0], a[1]));
                    0
                }
                HYPERVISOR_CONSOLE_IO => {
                    let mut s = self.state.lock().unwrap();
                    if cmd != CONSOLEIO_WRITE || !s.console_allowed {
                        return Self::err(XenError::NotPermitted);
                    }
                    let text = core::slice::from_raw_parts(a[2] as *const u8, a[1] as usize);
                    s.console.extend_from_slice(text);
                    0
                }
                HYPERVISOR_EVENT_CHANNEL_OP => self.evtchn(cmd, a[1]),
                HYPERVISOR_GRANT_TABLE_OP => {
                    let mut s = self.state.lock().unwrap();
                    if cmd == GNTTABOP_COPY {
                        // Only the status logic: references below the first free one are refused.
                        let ops =
                            core::slice::from_raw_parts_mut(a[1] as *mut GnttabCopy, a[2] as usize);
                        for op in ops {
                            let bad = op.flags & GNTCOPY_SOURCE_GREF != 0
                                && (op.source.u as u32) < GNTTAB_NR_RESERVED_ENTRIES;
                            op.status = if bad { GNTST_BAD_GNTREF } else { GNTST_OKAY };
                        }
                        return 0;
                    }
                    if a[2] != 1 {
                        return EINVAL;
                    }
                    match cmd {
                        GNTTABOP_QUERY_SIZE => {
                            let q = Self::arg::<GnttabQuerySize>(a[1]);
                            q.nr_frames = s.gnttab_frames;
                            q.max_nr_frames = s.gnttab_max;
                            q.status = if q.dom == DOMID_SELF {
                                GNTST_OKAY
                            } else {
                                GNTST_PERMISSION_DENIED
                            };
                            0
                        }
                        GNTTABOP_SETUP_TABLE => {
                            let t = Self::arg::<GnttabSetupTable>(a[1]);
                            if t.nr_frames > s.gnttab_max {
                                t.status = GNTST_GENERAL_ERROR;
                                return 0;
                            }
                            s.gnttab_frames = s.gnttab_frames.max(t.nr_frames);
                            let frames = core::slice::from_raw_parts_mut(
                                t.frame_list as *mut u64,
                                t.nr_frames as usize,
                            );
                            for (i, f) in frames.iter_mut().enumerate() {
                                *f = 0x8000 + i as u64;
                            }
                            t.status = GNTST_OKAY;
                            0
                        }
                        _ => Self::err(XenError::NotImplemented),
                    }
                }
                HYPERVISOR_MEMORY_OP => {
                    if cmd != XENMEM_ADD_TO_PHYSMAP {
                        return Self::err(XenError::NotImplemented);
                    }
                    let mut s = self.state.lock().unwrap();
                    let m = Self::arg::<XenAddToPhysmap>(a[1]);
                    let ok = match m.space {
                        XENMAPSPACE_SHARED_INFO => m.idx == 0,
                        XENMAPSPACE_GRANT_TABLE => m.idx < u64::from(s.gnttab_max),
                        _ => false,
                    };
                    if !ok {
                        return EINVAL;
                    }
                    if m.space == XENMAPSPACE_GRANT_TABLE {
                        s.gnttab_frames = s.gnttab_frames.max(m.idx as u32 + 1);
                    }
                    s.physmap.push((m.space, m.idx, m.gpfn));
                    0
                }
                HYPERVISOR_HVM_OP => {
                    let mut s = self.state.lock().unwrap();
                    match cmd {
                        HVMOP_GET_PARAM | HVMOP_SET_PARAM => {
                            let p = Self::arg::<XenHvmParam>(a[1]);
                            if p.index >= HVM_NR_PARAMS || p.domid != DOMID_SELF {
                                return EINVAL;
                            }
                            if cmd == HVMOP_GET_PARAM {
                                p.value = s.params[p.index as usize];
                            } else {
                                s.params[p.index as usize] = p.value;
                            }
                            0
                        }
                        HVMOP_SET_EVTCHN_UPCALL_VECTOR => {
                            let v = Self::arg::<XenHvmEvtchnUpcallVector>(a[1]);
                            // Xen refuses the vectors reserved for exceptions.
                            if v.vector < 0x10 {
                                EINVAL
                            } else {
                                0
                            }
                        }
                        _ => Self::err(XenError::NotImplemented),
                    }
                }
                HYPERVISOR_VCPU_OP => {
                    let mut s = self.state.lock().unwrap();
                    if cmd != VCPUOP_REGISTER_VCPU_INFO {
                        return Self::err(XenError::NotImplemented);
                    }
                    if a[1] != 0 {
                        return Self::err(XenError::NoEntry);
                    }
                    let r = Self::arg::<VcpuRegisterVcpuInfo>(a[2]);
                    let size = core::mem::size_of::<xenpv_abi::shared_info::VcpuInfo>();
                    if r.offset as usize + size > xenpv_abi::PAGE_SIZE || s.vcpu_info.is_some() {
                        return EINVAL;
                    }
                    s.vcpu_info = Some((r.mfn, r.offset));
                    0
                }
                HYPERVISOR_SCHED_OP => {
                    let mut s = self.state.lock().unwrap();
                    match cmd {
                        SCHEDOP_YIELD => 0,
                        SCHEDOP_BLOCK => {
                            s.blocks += 1;
                            0
                        }
                        SCHEDOP_POLL => {
                            let p = Self::arg::<SchedPoll>(a[1]);
                            if p.nr_ports == 0 {
                                EINVAL
                            } else {
                                0
                            }
                        }
                        SCHEDOP_SHUTDOWN => {
                            let r = Self::arg::<SchedShutdown>(a[1]).reason;
                            if r > SHUTDOWN_MAX {
                                return EINVAL;
                            }
                            s.shutdowns.push(r);
                            if r == SHUTDOWN_SUSPEND {
                                s.suspend_records.push(a[2]);
                                s.suspend_result
                            } else {
                                0
                            }
                        }
                        _ => Self::err(XenError::NotImplemented),
                    }
                }
                _ => Self::err(XenError::NotImplemented),
            }
        }
    }
}

/// Writes the wall clock's base into `si` as Xen does (version odd around the update, then even,
/// one step further than before), so readers see a consistent new value.
pub fn publish_wall_clock(si: &mut xenpv_abi::shared_info::SharedInfo, sec: u64, nsec: u32) {
    si.wc_version = (si.wc_version | 1).wrapping_add(1);
    si.wc_sec = sec as u32;
    si.wc_sec_hi = (sec >> 32) as u32;
    si.wc_nsec = nsec;
}

/// Writes a vCPU time record as Xen does: `system_ns` of system time at TSC `tsc`, ticks scaled
/// by `mul` (32.32) after `shift`, under a version left even and advanced.
pub fn publish_time(
    t: &mut xenpv_abi::shared_info::VcpuTimeInfo,
    tsc: u64,
    system_ns: u64,
    mul: u32,
    shift: i8,
) {
    t.version = (t.version | 1).wrapping_add(1);
    t.tsc_timestamp = tsc;
    t.system_time = system_ns;
    t.tsc_to_system_mul = mul;
    t.tsc_shift = shift;
}
