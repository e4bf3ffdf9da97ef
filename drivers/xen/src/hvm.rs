//! Start of day of an HVM guest (what XENBUS does on Windows): where the toolstack put the xenstore
//! and console rings (HVM params), shared_info and grant table frames placed into the guest's
//! physical address space with XENMEM_add_to_physmap, and how event upcalls arrive.

use xenpv_abi::hvm::{
    HVM_PARAM_CALLBACK_IRQ, HVM_PARAM_CALLBACK_TYPE_VECTOR, HVM_PARAM_CONSOLE_EVTCHN,
    HVM_PARAM_CONSOLE_PFN, HVM_PARAM_STORE_EVTCHN, HVM_PARAM_STORE_PFN,
};
use xenpv_abi::memory::{XENMAPSPACE_GRANT_TABLE, XENMAPSPACE_SHARED_INFO};
use xenpv_abi::EvtchnPort;

use crate::error::XenError;
use crate::hypercall::Hypercall;
use crate::ops::Xen;

/// A ring page the toolstack set up, and its event channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ring {
    pub pfn: u64,
    pub port: EvtchnPort,
}

fn ring<H: Hypercall>(xen: &Xen<H>, pfn: u32, port: u32) -> Result<Ring, XenError> {
    let p = xen.hvm_get_param(pfn)?;
    let e = xen.hvm_get_param(port)?;
    // Frame 0 is the real-mode IVT, never a ring; ports are 32-bit and 0 is never bound.
    if p == 0 {
        return Err(XenError::BadAnswer(0));
    }
    let port = u32::try_from(e)
        .ok()
        .filter(|&e| e != 0)
        .ok_or(XenError::BadAnswer(e as i64))?;
    Ok(Ring { pfn: p, port })
}

/// The xenstore ring.
pub fn store<H: Hypercall>(xen: &Xen<H>) -> Result<Ring, XenError> {
    ring(xen, HVM_PARAM_STORE_PFN, HVM_PARAM_STORE_EVTCHN)
}

/// The PV console ring.
pub fn console<H: Hypercall>(xen: &Xen<H>) -> Result<Ring, XenError> {
    ring(xen, HVM_PARAM_CONSOLE_PFN, HVM_PARAM_CONSOLE_EVTCHN)
}

/// Places shared_info at guest frame `gpfn` (a page the guest set aside, e.g. in a PCI BAR).
pub fn map_shared_info<H: Hypercall>(xen: &Xen<H>, gpfn: u64) -> Result<(), XenError> {
    xen.add_to_physmap(XENMAPSPACE_SHARED_INFO, 0, gpfn)
}

/// Places grant table frames `first..first + gpfns.len()` at `gpfns` (growing the table: Xen
/// allocates a frame when the guest first maps it).
pub fn map_grant_frames<H: Hypercall>(
    xen: &Xen<H>,
    first: u32,
    gpfns: &[u64],
) -> Result<(), XenError> {
    for (i, &gpfn) in gpfns.iter().enumerate() {
        xen.add_to_physmap(XENMAPSPACE_GRANT_TABLE, u64::from(first) + i as u64, gpfn)?;
    }
    Ok(())
}

/// Delivers event upcalls for all vCPUs on IDT vector `vector` (needs XENFEAT_hvm_callback_vector;
/// [`Xen::set_upcall_vector`] is the per-vCPU alternative).
pub fn set_callback_vector<H: Hypercall>(xen: &Xen<H>, vector: u8) -> Result<(), XenError> {
    xen.hvm_set_param(
        HVM_PARAM_CALLBACK_IRQ,
        HVM_PARAM_CALLBACK_TYPE_VECTOR << 56 | u64::from(vector),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::XenModel;

    fn xen() -> Xen<XenModel> {
        Xen::new(XenModel::new())
    }

    #[test]
    fn rings_come_from_the_params() {
        let x = xen();
        x.hvm_set_param(HVM_PARAM_STORE_PFN, 0xFEFFF).unwrap();
        x.hvm_set_param(HVM_PARAM_STORE_EVTCHN, 1).unwrap();
        x.hvm_set_param(HVM_PARAM_CONSOLE_PFN, 0xFEFFE).unwrap();
        x.hvm_set_param(HVM_PARAM_CONSOLE_EVTCHN, 2).unwrap();
        assert_eq!(
            store(&x),
            Ok(Ring {
                pfn: 0xFEFFF,
                port: 1
            })
        );
        assert_eq!(
            console(&x),
            Ok(Ring {
                pfn: 0xFEFFE,
                port: 2
            })
        );
    }

    #[test]
    fn unset_or_absurd_params_are_errors() {
        let x = xen();
        assert_eq!(store(&x), Err(XenError::BadAnswer(0)));
        x.hvm_set_param(HVM_PARAM_STORE_PFN, 0xFEFFF).unwrap();
        assert_eq!(store(&x), Err(XenError::BadAnswer(0)));
        x.hvm_set_param(HVM_PARAM_STORE_EVTCHN, 1 << 40).unwrap();
        assert_eq!(store(&x), Err(XenError::BadAnswer(1 << 40)));
    }

    #[test]
    fn shared_info_grant_frames_and_callback() {
        let x = xen();
        map_shared_info(&x, 0xF0000).unwrap();
        map_grant_frames(&x, 0, &[0xF0001, 0xF0002]).unwrap();
        assert_eq!(
            map_grant_frames(&x, 31, &[0xF0003, 0xF0004]),
            Err(XenError::Invalid)
        );
        set_callback_vector(&x, 0xF3).unwrap();
        let s = x.hypercall().state.lock().unwrap();
        assert_eq!(
            s.physmap,
            [
                (XENMAPSPACE_SHARED_INFO, 0, 0xF0000),
                (XENMAPSPACE_GRANT_TABLE, 0, 0xF0001),
                (XENMAPSPACE_GRANT_TABLE, 1, 0xF0002),
                (XENMAPSPACE_GRANT_TABLE, 31, 0xF0003),
            ]
        );
        assert_eq!(s.params[HVM_PARAM_CALLBACK_IRQ as usize], 2 << 56 | 0xF3);
    }
}
