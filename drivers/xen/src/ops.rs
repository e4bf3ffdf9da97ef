//! Typed hypercalls: each wrapper builds the argument structure of xenpv-abi, makes the call through
//! any [`Hypercall`], and returns Xen's answer or a [`XenError`].

use xenpv_abi::event_channel::{
    EvtchnAllocUnbound, EvtchnBindInterdomain, EvtchnClose, EvtchnExpandArray, EvtchnInitControl,
    EvtchnSend, EvtchnSetPriority, EvtchnUnmask, EVTCHNOP_ALLOC_UNBOUND, EVTCHNOP_BIND_INTERDOMAIN,
    EVTCHNOP_CLOSE, EVTCHNOP_EXPAND_ARRAY, EVTCHNOP_INIT_CONTROL, EVTCHNOP_SEND,
    EVTCHNOP_SET_PRIORITY, EVTCHNOP_UNMASK, EVTCHN_FIFO_PRIORITY_MIN,
};
use xenpv_abi::grant_table::{
    GnttabCopy, GnttabQuerySize, GnttabSetupTable, GNTST_OKAY, GNTTABOP_COPY, GNTTABOP_QUERY_SIZE,
    GNTTABOP_SETUP_TABLE,
};
use xenpv_abi::hvm::{
    XenHvmEvtchnUpcallVector, XenHvmParam, HVMOP_GET_PARAM, HVMOP_SET_EVTCHN_UPCALL_VECTOR,
    HVMOP_SET_PARAM,
};
use xenpv_abi::hypercall::*;
use xenpv_abi::memory::{XenAddToPhysmap, XENMEM_ADD_TO_PHYSMAP};
use xenpv_abi::sched::{
    SchedPoll, SchedShutdown, SCHEDOP_BLOCK, SCHEDOP_POLL, SCHEDOP_SHUTDOWN, SCHEDOP_YIELD,
    SHUTDOWN_CRASH, SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT, SHUTDOWN_SUSPEND,
};
use xenpv_abi::vcpu::{VcpuRegisterVcpuInfo, VCPUOP_REGISTER_VCPU_INFO};
use xenpv_abi::version::{
    XenFeatureInfo, XENVER_EXTRAVERSION, XENVER_GET_FEATURES, XENVER_VERSION, XEN_EXTRAVERSION_LEN,
};
use xenpv_abi::{DomId, EvtchnPort, DOMID_SELF};

use crate::error::{check, XenError};
use crate::hypercall::Hypercall;

/// Why a domain shuts itself down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownReason {
    Poweroff,
    Reboot,
    /// Save or migrate: the call returns when the domain runs again.
    Suspend,
    Crash,
}

impl ShutdownReason {
    fn code(self) -> u32 {
        match self {
            ShutdownReason::Poweroff => SHUTDOWN_POWEROFF,
            ShutdownReason::Reboot => SHUTDOWN_REBOOT,
            ShutdownReason::Suspend => SHUTDOWN_SUSPEND,
            ShutdownReason::Crash => SHUTDOWN_CRASH,
        }
    }
}

/// How a suspend ended, from the guest's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resumed {
    /// The domain was saved and restored (possibly elsewhere): rebuild the shared state.
    New,
    /// The suspend was cancelled; the domain continues where it was.
    Cancelled,
}

/// The Xen version of XENVER_version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    pub major: u16,
    pub minor: u16,
}

/// Hypercalls with typed arguments and results.
#[derive(Clone, Copy, Debug)]
pub struct Xen<H> {
    hc: H,
}

/// An argument structure as the address Xen is given.
fn ptr<T>(arg: &mut T) -> u64 {
    arg as *mut T as u64
}

impl<H: Hypercall> Xen<H> {
    pub fn new(hc: H) -> Self {
        Self { hc }
    }

    pub fn hypercall(&self) -> &H {
        &self.hc
    }

    /// One hypercall whose pointer arguments are all `&mut` structures or slices of this call.
    fn call(&self, nr: u32, args: [u64; 5]) -> Result<i64, XenError> {
        // SAFETY: every caller in this module passes only plain values and pointers to locals or
        // borrowed slices that outlive the call and are sized as the operation expects.
        check(unsafe { self.hc.hypercall(nr, args) })
    }

    pub fn version(&self) -> Result<Version, XenError> {
        let v = self.call(HYPERVISOR_XEN_VERSION, [XENVER_VERSION.into(), 0, 0, 0, 0])?;
        let v = u32::try_from(v).map_err(|_| XenError::BadAnswer(v))?;
        Ok(Version {
            major: (v >> 16) as u16,
            minor: v as u16,
        })
    }

    /// The version's suffix (e.g. ".5"), NUL-padded.
    pub fn extraversion(&self) -> Result<[u8; XEN_EXTRAVERSION_LEN], XenError> {
        let mut buf = [0u8; XEN_EXTRAVERSION_LEN];
        self.call(
            HYPERVISOR_XEN_VERSION,
            [XENVER_EXTRAVERSION.into(), buf.as_mut_ptr() as u64, 0, 0, 0],
        )?;
        Ok(buf)
    }

    /// Block `submap` of the `XENFEAT_*` bits.
    pub fn features(&self, submap: u32) -> Result<u32, XenError> {
        let mut f = XenFeatureInfo {
            submap_idx: submap,
            submap: 0,
        };
        self.call(
            HYPERVISOR_XEN_VERSION,
            [XENVER_GET_FEATURES.into(), ptr(&mut f), 0, 0, 0],
        )?;
        Ok(f.submap)
    }

    /// Writes to the hypervisor console. Xen release builds refuse this to unprivileged domains
    /// (NotPermitted); they must use their PV console ring.
    pub fn console_write(&self, text: &[u8]) -> Result<(), XenError> {
        self.call(
            HYPERVISOR_CONSOLE_IO,
            [
                CONSOLEIO_WRITE.into(),
                text.len() as u64,
                text.as_ptr() as u64,
                0,
                0,
            ],
        )
        .map(drop)
    }

    /// Shuts the domain down. Poweroff, reboot and crash do not come back on real Xen; a suspend
    /// returns how it ended (a PV guest suspends with [`Self::suspend`], which names its
    /// start_info for the toolstack).
    pub fn shutdown(&self, reason: ShutdownReason) -> Result<Resumed, XenError> {
        self.shutdown_with(reason, 0)
    }

    /// PV suspend for save or migration: SCHEDOP_shutdown(suspend) with the machine frame of the
    /// start_info page in the third argument register, where the toolstack's save code looks for
    /// it (and the restore code rewrites start_info's store and console fields for the new
    /// domain). Returns when the domain runs again: [`Resumed::New`] in a new domain,
    /// [`Resumed::Cancelled`] if the save was abandoned and the old domain goes on.
    pub fn suspend(&self, start_info_mfn: u64) -> Result<Resumed, XenError> {
        self.shutdown_with(ShutdownReason::Suspend, start_info_mfn)
    }

    fn shutdown_with(&self, reason: ShutdownReason, record: u64) -> Result<Resumed, XenError> {
        let mut s = SchedShutdown {
            reason: reason.code(),
        };
        match self.call(
            HYPERVISOR_SCHED_OP,
            [SCHEDOP_SHUTDOWN.into(), ptr(&mut s), record, 0, 0],
        )? {
            0 => Ok(Resumed::New),
            1 if reason == ShutdownReason::Suspend => Ok(Resumed::Cancelled),
            other => Err(XenError::BadAnswer(other)),
        }
    }

    /// Sleeps until an event is pending for this vCPU. Xen clears `evtchn_upcall_mask` as part of
    /// the call, so a guest that masked upcalls to check its condition cannot miss the event that
    /// arrives between the check and the block; the upcall runs as the call returns.
    pub fn block(&self) -> Result<(), XenError> {
        self.call(HYPERVISOR_SCHED_OP, [SCHEDOP_BLOCK.into(), 0, 0, 0, 0])
            .map(drop)
    }

    /// PV (x86_64 HYPERVISOR_set_callbacks): where Xen enters the guest for an event upcall and
    /// when it fails to load the guest's segment registers on a return (the failsafe callback).
    /// No syscall entry: the caller has no user mode.
    ///
    /// # Safety
    /// Both must be entry code that follows the PV callback conventions (Xen's bounce frame on the
    /// stack, return through HYPERVISOR_iret), mapped executable for the domain's life.
    pub unsafe fn set_callbacks(&self, event: u64, failsafe: u64) -> Result<(), XenError> {
        self.call(HYPERVISOR_SET_CALLBACKS, [event, failsafe, 0, 0, 0])
            .map(drop)
    }

    pub fn sched_yield(&self) -> Result<(), XenError> {
        self.call(HYPERVISOR_SCHED_OP, [SCHEDOP_YIELD.into(), 0, 0, 0, 0])
            .map(drop)
    }

    /// Blocks until one of `ports` is pending or Xen's system time reaches `timeout_ns` (0: none).
    pub fn poll(&self, ports: &[EvtchnPort], timeout_ns: u64) -> Result<(), XenError> {
        let mut p = SchedPoll {
            ports: ports.as_ptr() as u64,
            nr_ports: u32::try_from(ports.len()).map_err(|_| XenError::Invalid)?,
            pad: 0,
            timeout: timeout_ns,
        };
        self.call(
            HYPERVISOR_SCHED_OP,
            [SCHEDOP_POLL.into(), ptr(&mut p), 0, 0, 0],
        )
        .map(drop)
    }

    fn evtchn<T>(&self, cmd: u32, arg: &mut T) -> Result<(), XenError> {
        self.call(HYPERVISOR_EVENT_CHANNEL_OP, [cmd.into(), ptr(arg), 0, 0, 0])
            .map(drop)
    }

    /// A port that `remote` may bind to.
    pub fn alloc_unbound(&self, remote: DomId) -> Result<EvtchnPort, XenError> {
        let mut a = EvtchnAllocUnbound {
            dom: DOMID_SELF,
            remote_dom: remote,
            port: 0,
        };
        self.evtchn(EVTCHNOP_ALLOC_UNBOUND, &mut a)?;
        Ok(a.port)
    }

    /// Binds a local port to `remote_port` of `remote`, which that domain allocated for us.
    pub fn bind_interdomain(
        &self,
        remote: DomId,
        remote_port: EvtchnPort,
    ) -> Result<EvtchnPort, XenError> {
        let mut b = EvtchnBindInterdomain {
            remote_dom: remote,
            pad: 0,
            remote_port,
            local_port: 0,
        };
        self.evtchn(EVTCHNOP_BIND_INTERDOMAIN, &mut b)?;
        Ok(b.local_port)
    }

    pub fn send(&self, port: EvtchnPort) -> Result<(), XenError> {
        self.evtchn(EVTCHNOP_SEND, &mut EvtchnSend { port })
    }

    /// Unmasks through Xen, which re-raises the event if it became pending while masked.
    pub fn unmask(&self, port: EvtchnPort) -> Result<(), XenError> {
        self.evtchn(EVTCHNOP_UNMASK, &mut EvtchnUnmask { port })
    }

    pub fn close(&self, port: EvtchnPort) -> Result<(), XenError> {
        self.evtchn(EVTCHNOP_CLOSE, &mut EvtchnClose { port })
    }

    /// Switches to the FIFO ABI with `vcpu`'s control block at `offset` in frame `gfn`; returns the
    /// number of link bits Xen implements.
    pub fn fifo_init_control(&self, gfn: u64, offset: u32, vcpu: u32) -> Result<u8, XenError> {
        let mut c = EvtchnInitControl {
            control_gfn: gfn,
            offset,
            vcpu,
            link_bits: 0,
            pad: [0; 7],
        };
        self.evtchn(EVTCHNOP_INIT_CONTROL, &mut c)?;
        Ok(c.link_bits)
    }

    /// Adds the FIFO event-word page at frame `gfn`.
    pub fn fifo_expand_array(&self, gfn: u64) -> Result<(), XenError> {
        self.evtchn(
            EVTCHNOP_EXPAND_ARRAY,
            &mut EvtchnExpandArray { array_gfn: gfn },
        )
    }

    /// FIFO priority of `port` (0 highest … 15 lowest).
    pub fn fifo_set_priority(&self, port: EvtchnPort, priority: u32) -> Result<(), XenError> {
        if priority > EVTCHN_FIFO_PRIORITY_MIN {
            return Err(XenError::Invalid);
        }
        self.evtchn(
            EVTCHNOP_SET_PRIORITY,
            &mut EvtchnSetPriority { port, priority },
        )
    }

    /// Frames in our grant table now, and the most it may have.
    pub fn gnttab_query_size(&self) -> Result<(u32, u32), XenError> {
        let mut q = GnttabQuerySize {
            dom: DOMID_SELF,
            pad0: 0,
            nr_frames: 0,
            max_nr_frames: 0,
            status: 0,
            pad1: 0,
        };
        self.call(
            HYPERVISOR_GRANT_TABLE_OP,
            [GNTTABOP_QUERY_SIZE.into(), ptr(&mut q), 1, 0, 0],
        )?;
        grant_status(q.status)?;
        Ok((q.nr_frames, q.max_nr_frames))
    }

    /// Grows the grant table to `frames.len()` frames and fills `frames` with their frame numbers
    /// (machine frames for a PV guest, which maps them itself).
    pub fn gnttab_setup_table(&self, frames: &mut [u64]) -> Result<(), XenError> {
        let mut s = GnttabSetupTable {
            dom: DOMID_SELF,
            pad0: 0,
            nr_frames: u32::try_from(frames.len()).map_err(|_| XenError::Invalid)?,
            status: 0,
            pad1: [0; 6],
            frame_list: frames.as_mut_ptr() as u64,
        };
        self.call(
            HYPERVISOR_GRANT_TABLE_OP,
            [GNTTABOP_SETUP_TABLE.into(), ptr(&mut s), 1, 0, 0],
        )?;
        grant_status(s.status)
    }

    /// Copies through grants (GNTTABOP_copy), one operation per element; the first failed element's
    /// status is the error.
    ///
    /// # Safety
    /// Frame-number operands (not grant references) name memory Xen will write: it must be ours to
    /// overwrite.
    pub unsafe fn grant_copy(&self, ops: &mut [GnttabCopy]) -> Result<(), XenError> {
        self.call(
            HYPERVISOR_GRANT_TABLE_OP,
            [
                GNTTABOP_COPY.into(),
                ops.as_mut_ptr() as u64,
                ops.len() as u64,
                0,
                0,
            ],
        )?;
        ops.iter().try_for_each(|op| grant_status(op.status))
    }

    /// Places item `idx` of `space` (`XENMAPSPACE_*`) at guest frame `gpfn` (HVM).
    pub fn add_to_physmap(&self, space: u32, idx: u64, gpfn: u64) -> Result<(), XenError> {
        let mut a = XenAddToPhysmap {
            domid: DOMID_SELF,
            size: 0,
            space,
            idx,
            gpfn,
        };
        self.call(
            HYPERVISOR_MEMORY_OP,
            [XENMEM_ADD_TO_PHYSMAP.into(), ptr(&mut a), 0, 0, 0],
        )
        .map(drop)
    }

    pub fn hvm_get_param(&self, index: u32) -> Result<u64, XenError> {
        let mut p = XenHvmParam {
            domid: DOMID_SELF,
            pad: 0,
            index,
            value: 0,
        };
        self.call(
            HYPERVISOR_HVM_OP,
            [HVMOP_GET_PARAM.into(), ptr(&mut p), 0, 0, 0],
        )?;
        Ok(p.value)
    }

    pub fn hvm_set_param(&self, index: u32, value: u64) -> Result<(), XenError> {
        let mut p = XenHvmParam {
            domid: DOMID_SELF,
            pad: 0,
            index,
            value,
        };
        self.call(
            HYPERVISOR_HVM_OP,
            [HVMOP_SET_PARAM.into(), ptr(&mut p), 0, 0, 0],
        )
        .map(drop)
    }

    /// Delivers `vcpu`'s event upcalls on IDT vector `vector` (HVM, per vCPU).
    pub fn set_upcall_vector(&self, vcpu: u32, vector: u8) -> Result<(), XenError> {
        let mut v = XenHvmEvtchnUpcallVector {
            vcpu,
            vector,
            pad: [0; 3],
        };
        self.call(
            HYPERVISOR_HVM_OP,
            [HVMOP_SET_EVTCHN_UPCALL_VECTOR.into(), ptr(&mut v), 0, 0, 0],
        )
        .map(drop)
    }

    /// PV: points the page-table entry of `va` at machine frame `mfn` (present, writable) and flushes
    /// that entry from this vCPU's TLB.
    ///
    /// # Safety
    /// `va` must be a page of the boot mapping whose old contents nothing uses any more; afterwards it
    /// is the frame's memory (e.g. shared_info, which Xen writes concurrently).
    pub unsafe fn update_va_mapping(&self, va: u64, mfn: u64) -> Result<(), XenError> {
        // x86 PTE bits: present, writable, accessed, dirty (Xen adds the user bit a 64-bit PV kernel
        // needs itself).
        const PTE_FLAGS: u64 = 0x1 | 0x2 | 0x20 | 0x40;
        // xen.h UVMF_INVLPG | UVMF_LOCAL.
        const UVMF_INVLPG: u64 = 2;
        self.call(
            HYPERVISOR_UPDATE_VA_MAPPING,
            [va, mfn << 12 | PTE_FLAGS, UVMF_INVLPG, 0, 0],
        )
        .map(drop)
    }

    /// Moves `vcpu`'s vcpu_info to `offset` in frame `mfn`.
    ///
    /// # Safety
    /// Xen writes that memory from now on, for as long as the domain lives: it must stay reserved.
    pub unsafe fn register_vcpu_info(
        &self,
        vcpu: u32,
        mfn: u64,
        offset: u32,
    ) -> Result<(), XenError> {
        let mut r = VcpuRegisterVcpuInfo {
            mfn,
            offset,
            rsvd: 0,
        };
        self.call(
            HYPERVISOR_VCPU_OP,
            [
                VCPUOP_REGISTER_VCPU_INFO.into(),
                vcpu.into(),
                ptr(&mut r),
                0,
                0,
            ],
        )
        .map(drop)
    }
}

fn grant_status(status: i16) -> Result<(), XenError> {
    if status == GNTST_OKAY {
        Ok(())
    } else {
        Err(XenError::Grant(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Port, XenModel};
    use xenpv_abi::hvm::HVM_PARAM_STORE_EVTCHN;
    use xenpv_abi::memory::{XENMAPSPACE_GRANT_TABLE, XENMAPSPACE_SHARED_INFO};

    fn xen() -> Xen<XenModel> {
        Xen::new(XenModel::new())
    }

    #[test]
    fn version_and_extraversion() {
        let x = xen();
        assert_eq!(
            x.version(),
            Ok(Version {
                major: 4,
                minor: 17
            })
        );
        assert_eq!(&x.extraversion().unwrap()[..3], b".5\0");
        assert_eq!(x.features(0).unwrap(), 1 << 8);
        assert_eq!(x.features(1), Err(XenError::Invalid));
    }

    #[test]
    fn console_io_is_refused_to_an_unprivileged_domain() {
        let x = xen();
        assert_eq!(x.console_write(b"hi"), Err(XenError::NotPermitted));
        x.hypercall().state.lock().unwrap().console_allowed = true;
        x.console_write(b"metal: hi\n").unwrap();
        assert_eq!(x.hypercall().state.lock().unwrap().console, b"metal: hi\n");
    }

    #[test]
    fn event_channel_lifecycle() {
        let x = xen();
        let a = x.alloc_unbound(0).unwrap();
        let b = x.bind_interdomain(0, 7).unwrap();
        assert_ne!(a, 0);
        assert_ne!(a, b);
        x.send(b).unwrap();
        x.unmask(b).unwrap();
        x.close(a).unwrap();
        assert_eq!(x.send(a), Err(XenError::Invalid));
        assert_eq!(x.close(a), Err(XenError::Invalid));
        let s = x.hypercall().state.lock().unwrap();
        assert_eq!(s.sent, [b]);
        assert_eq!(s.unmasked, [b]);
        assert_eq!(s.ports[b as usize], Port::Interdomain(0, 7));
    }

    #[test]
    fn running_out_of_ports_is_no_space() {
        let x = xen();
        let mut n = 0;
        while x.alloc_unbound(0).is_ok() {
            n += 1;
        }
        assert_eq!(n, 63);
        assert_eq!(x.alloc_unbound(0), Err(XenError::NoSpace));
    }

    #[test]
    fn fifo_setup() {
        let x = xen();
        assert_eq!(x.fifo_expand_array(0x100), Err(XenError::Invalid));
        assert_eq!(x.fifo_init_control(0x100, 4090, 0), Err(XenError::Invalid));
        assert_eq!(x.fifo_init_control(0x100, 0, 0), Ok(17));
        assert_eq!(x.fifo_init_control(0x100, 0, 0), Err(XenError::Exists));
        x.fifo_expand_array(0x101).unwrap();
        let p = x.alloc_unbound(0).unwrap();
        x.fifo_set_priority(p, 0).unwrap();
        assert_eq!(x.fifo_set_priority(p, 16), Err(XenError::Invalid));
    }

    #[test]
    fn grant_table_size_and_setup() {
        let x = xen();
        assert_eq!(x.gnttab_query_size(), Ok((1, 32)));
        let mut frames = [0u64; 4];
        x.gnttab_setup_table(&mut frames).unwrap();
        assert_eq!(frames, [0x8000, 0x8001, 0x8002, 0x8003]);
        assert_eq!(x.gnttab_query_size(), Ok((4, 32)));
        let mut too_many = [0u64; 33];
        assert_eq!(
            x.gnttab_setup_table(&mut too_many),
            Err(XenError::Grant(xenpv_abi::grant_table::GNTST_GENERAL_ERROR))
        );
    }

    #[test]
    fn grant_copy_reports_the_failed_element() {
        use xenpv_abi::grant_table::{GnttabCopyPtr, GNTCOPY_SOURCE_GREF, GNTST_BAD_GNTREF};
        use zerocopy::FromZeros;
        let x = xen();
        let op = |gref: u64| GnttabCopy {
            source: GnttabCopyPtr {
                u: gref,
                ..GnttabCopyPtr::new_zeroed()
            },
            flags: GNTCOPY_SOURCE_GREF,
            len: 16,
            ..GnttabCopy::new_zeroed()
        };
        let mut ops = [op(8), op(9)];
        // SAFETY: the model writes only the status fields.
        unsafe {
            x.grant_copy(&mut ops).unwrap();
            let mut ops = [op(8), op(3)];
            assert_eq!(
                x.grant_copy(&mut ops),
                Err(XenError::Grant(GNTST_BAD_GNTREF))
            );
        }
    }

    #[test]
    fn physmap_shared_info_and_grant_frames() {
        let x = xen();
        x.add_to_physmap(XENMAPSPACE_SHARED_INFO, 0, 0xF0000)
            .unwrap();
        x.add_to_physmap(XENMAPSPACE_GRANT_TABLE, 2, 0xF0001)
            .unwrap();
        assert_eq!(
            x.add_to_physmap(XENMAPSPACE_GRANT_TABLE, 32, 0xF0002),
            Err(XenError::Invalid)
        );
        assert_eq!(x.gnttab_query_size(), Ok((3, 32)));
        assert_eq!(
            x.hypercall().state.lock().unwrap().physmap,
            [
                (XENMAPSPACE_SHARED_INFO, 0, 0xF0000),
                (XENMAPSPACE_GRANT_TABLE, 2, 0xF0001)
            ]
        );
    }

    #[test]
    fn hvm_params_and_upcall_vector() {
        let x = xen();
        x.hvm_set_param(HVM_PARAM_STORE_EVTCHN, 3).unwrap();
        assert_eq!(x.hvm_get_param(HVM_PARAM_STORE_EVTCHN), Ok(3));
        assert_eq!(x.hvm_get_param(1000), Err(XenError::Invalid));
        x.set_upcall_vector(0, 0xF3).unwrap();
        assert_eq!(x.set_upcall_vector(0, 3), Err(XenError::Invalid));
    }

    #[test]
    fn vcpu_info_registers_once_and_must_fit() {
        let x = xen();
        // SAFETY: the model keeps only the numbers; no memory is written.
        unsafe {
            assert_eq!(x.register_vcpu_info(0, 0x10, 4090), Err(XenError::Invalid));
            x.register_vcpu_info(0, 0x10, 64).unwrap();
            assert_eq!(x.register_vcpu_info(0, 0x10, 64), Err(XenError::Invalid));
        }
        assert_eq!(
            x.hypercall().state.lock().unwrap().vcpu_info,
            Some((0x10, 64))
        );
    }

    #[test]
    fn update_va_mapping_builds_the_pte() {
        let x = xen();
        // SAFETY: the model only records the numbers.
        unsafe {
            x.update_va_mapping(0xFFFF_FFFF_8010_0000, 0x7d02b).unwrap();
            assert_eq!(x.update_va_mapping(0x1234, 1), Err(XenError::Invalid));
        }
        assert_eq!(
            x.hypercall().state.lock().unwrap().va_mappings,
            [(0xFFFF_FFFF_8010_0000, 0x7d02b << 12 | 0x63)]
        );
    }

    #[test]
    fn shutdown_reasons_and_suspend_results() {
        let x = xen();
        assert_eq!(x.shutdown(ShutdownReason::Poweroff), Ok(Resumed::New));
        assert_eq!(x.shutdown(ShutdownReason::Suspend), Ok(Resumed::New));
        x.hypercall().state.lock().unwrap().suspend_result = 1;
        assert_eq!(x.shutdown(ShutdownReason::Suspend), Ok(Resumed::Cancelled));
        assert_eq!(x.shutdown(ShutdownReason::Reboot), Ok(Resumed::New));
        assert_eq!(x.hypercall().state.lock().unwrap().shutdowns, [0, 2, 2, 1]);
        x.sched_yield().unwrap();
        x.block().unwrap();
        assert_eq!(x.hypercall().state.lock().unwrap().blocks, 1);
        x.poll(&[3], 0).unwrap();
        assert_eq!(x.poll(&[], 0), Err(XenError::Invalid));
    }

    #[test]
    fn suspend_names_the_start_info_frame_and_reports_how_it_ended() {
        let x = xen();
        assert_eq!(x.suspend(0x7b001), Ok(Resumed::New));
        x.hypercall().state.lock().unwrap().suspend_result = 1;
        assert_eq!(x.suspend(0x7b001), Ok(Resumed::Cancelled));
        // Any other answer is not a suspend result.
        x.hypercall().state.lock().unwrap().suspend_result = 7;
        assert_eq!(x.suspend(0x7b001), Err(XenError::BadAnswer(7)));
        let s = x.hypercall().state.lock().unwrap();
        assert_eq!(s.shutdowns, [2, 2, 2]);
        assert_eq!(s.suspend_records, [0x7b001, 0x7b001, 0x7b001]);
    }

    #[test]
    fn callbacks_are_registered_as_given_and_must_be_canonical() {
        let x = xen();
        // SAFETY: the model only records the addresses.
        unsafe {
            x.set_callbacks(0xFFFF_FFFF_8000_1000, 0xFFFF_FFFF_8000_1040)
                .unwrap();
            assert_eq!(
                x.set_callbacks(0x0000_8000_0000_0000, 0),
                Err(XenError::Invalid)
            );
        }
        assert_eq!(
            x.hypercall().state.lock().unwrap().callbacks,
            Some((0xFFFF_FFFF_8000_1000, 0xFFFF_FFFF_8000_1040))
        );
    }
}
