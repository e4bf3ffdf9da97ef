//! The HVM suspend, as Xen's Windows XENBUS does it: with every other CPU parked (the driver's
//! job), SCHEDOP_shutdown(SHUTDOWN_suspend); Xen answers 1 if the toolstack cancelled (the domain
//! goes on with everything it had: nothing is restored, the event channels are the same) or 0
//! after a save/restore or migration, when the domain runs on a host that knows nothing of what it
//! set up: shared_info and the grant table frames are placed in the BAR again
//! (XENMEM_add_to_physmap), the upcall is routed again (HVM_PARAM_CALLBACK_IRQ), and the store's
//! event channel is read again (every old port is gone; the ring page stays where it was).
//!
//! The steps run in that order, each only if the ones before it succeeded: without shared_info no
//! event is seen, without the grant frames no backend maps anything, and the store cannot be
//! reached before its port is known. A failing step is named in the error; the platform is then
//! unusable, which the driver reports (there is nothing older to go back to).

use xenpv_abi::EvtchnPort;
use xenpv_xen::error::XenError;
use xenpv_xen::ops::{Resumed, ShutdownReason};
use xenpv_xen::{hvm, Hypercall, Xen};

use crate::bar::BarPlan;
use crate::bringup::xen::{place_grant_frames, place_shared_info, set_callback_gsi};

/// What a resume puts back: the BAR layout and the upcall's GSI the start used, and the store
/// ring's frame (which must not have moved: its mapping is the driver's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResumePlan {
    pub bar: BarPlan,
    pub gsi: u32,
    pub store_pfn: u64,
}

/// The steps after the hypercall, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResumeStep {
    /// SCHEDOP_shutdown(suspend) itself.
    Suspend,
    SharedInfo,
    GrantFrames,
    CallbackIrq,
    /// The store ring's HVM params.
    Store,
}

/// How a suspend ended, from the platform's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suspended {
    /// Cancelled: nothing was lost or restored.
    Cancelled,
    /// Resumed and restored; the store's event channel is now `store_port`.
    Resumed { store_port: EvtchnPort },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResumeError {
    /// Xen failed the step.
    Xen(ResumeStep, XenError),
    /// The store ring is at another frame after the resume than before.
    StoreMoved { was: u64, now: u64 },
}

/// Suspends the domain and, after a real resume, restores the platform. The caller runs it with
/// every other CPU parked and interrupts off, so nothing uses shared_info, the grant table or an
/// event channel between the hypercall and the restore.
pub fn suspend_and_restore<H: Hypercall>(
    xen: &Xen<H>,
    plan: &ResumePlan,
) -> Result<Suspended, ResumeError> {
    let at = |step| move |e| ResumeError::Xen(step, e);
    match xen
        .shutdown(ShutdownReason::Suspend)
        .map_err(at(ResumeStep::Suspend))?
    {
        Resumed::Cancelled => return Ok(Suspended::Cancelled),
        Resumed::New => {}
    }
    place_shared_info(xen, &plan.bar).map_err(at(ResumeStep::SharedInfo))?;
    place_grant_frames(xen, &plan.bar).map_err(at(ResumeStep::GrantFrames))?;
    set_callback_gsi(xen, plan.gsi).map_err(at(ResumeStep::CallbackIrq))?;
    let store = hvm::store(xen).map_err(at(ResumeStep::Store))?;
    if store.pfn != plan.store_pfn {
        return Err(ResumeError::StoreMoved {
            was: plan.store_pfn,
            now: store.pfn,
        });
    }
    Ok(Suspended::Resumed {
        store_port: store.port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bringup::xen::plan_bar;
    use std::vec;
    use std::vec::Vec;
    use xenpv_abi::hvm::{HVM_PARAM_CALLBACK_IRQ, HVM_PARAM_STORE_EVTCHN, HVM_PARAM_STORE_PFN};
    use xenpv_abi::memory::{XENMAPSPACE_GRANT_TABLE, XENMAPSPACE_SHARED_INFO};
    use xenpv_abi::sched::SHUTDOWN_SUSPEND;
    use xenpv_xen::model::XenModel;

    const STORE_PFN: u64 = 0xFEFFC;

    /// A started platform: planned BAR, the store params the toolstack set, the upcall routed;
    /// the model's record of what start did is then cleared.
    fn started() -> (Xen<XenModel>, ResumePlan) {
        let x = Xen::new(XenModel::new());
        let bar = plan_bar(&x, 0xF100_0000, 16 << 20, 2).unwrap();
        {
            let mut s = x.hypercall().state.lock().unwrap();
            s.params[HVM_PARAM_STORE_PFN as usize] = STORE_PFN;
            s.params[HVM_PARAM_STORE_EVTCHN as usize] = 3;
            s.params[HVM_PARAM_CALLBACK_IRQ as usize] = 28;
        }
        let plan = ResumePlan {
            bar,
            gsi: 28,
            store_pfn: STORE_PFN,
        };
        (x, plan)
    }

    /// What the new host's Xen looks like: no upcall route, the store on another port.
    fn migrate(x: &Xen<XenModel>, store_port: u64) {
        let mut s = x.hypercall().state.lock().unwrap();
        s.params[HVM_PARAM_CALLBACK_IRQ as usize] = 0;
        s.params[HVM_PARAM_STORE_EVTCHN as usize] = store_port;
        s.suspend_result = 0;
    }

    #[test]
    fn a_resume_places_shared_info_and_grant_frames_again_and_reroutes_the_upcall() {
        let (x, plan) = started();
        migrate(&x, 9);
        assert_eq!(
            suspend_and_restore(&x, &plan),
            Ok(Suspended::Resumed { store_port: 9 })
        );
        let s = x.hypercall().state.lock().unwrap();
        assert_eq!(s.shutdowns, [SHUTDOWN_SUSPEND]);
        assert_eq!(
            s.physmap,
            vec![
                (XENMAPSPACE_SHARED_INFO, 0, plan.bar.shared_info_gfn),
                (XENMAPSPACE_GRANT_TABLE, 0, plan.bar.grant_frame_gfn(0)),
                (XENMAPSPACE_GRANT_TABLE, 1, plan.bar.grant_frame_gfn(1)),
            ]
        );
        assert_eq!(s.params[HVM_PARAM_CALLBACK_IRQ as usize], 28);
    }

    #[test]
    fn a_cancelled_suspend_restores_nothing_and_keeps_the_ports() {
        let (x, plan) = started();
        let port = x.alloc_unbound(0).unwrap();
        x.hypercall().state.lock().unwrap().suspend_result = 1;
        assert_eq!(suspend_and_restore(&x, &plan), Ok(Suspended::Cancelled));
        {
            let s = x.hypercall().state.lock().unwrap();
            assert!(s.physmap.is_empty(), "nothing placed again");
            assert_eq!(s.shutdowns, [SHUTDOWN_SUSPEND]);
        }
        // The port from before is still bound: sending on it works.
        x.send(port).unwrap();
    }

    #[test]
    fn each_failing_step_is_named_and_stops_the_ones_after_it() {
        // Xen refusing the suspend itself (an answer that is no suspend result).
        let (x, plan) = started();
        x.hypercall().state.lock().unwrap().suspend_result = 7;
        assert_eq!(
            suspend_and_restore(&x, &plan),
            Err(ResumeError::Xen(
                ResumeStep::Suspend,
                XenError::BadAnswer(7)
            ))
        );
        assert!(x.hypercall().state.lock().unwrap().physmap.is_empty());

        // Grant frames the new host does not allow: shared_info placed, the upcall not routed.
        let (x, plan) = started();
        migrate(&x, 9);
        x.hypercall().state.lock().unwrap().gnttab_max = 1;
        assert_eq!(
            suspend_and_restore(&x, &plan),
            Err(ResumeError::Xen(ResumeStep::GrantFrames, XenError::Invalid))
        );
        {
            let s = x.hypercall().state.lock().unwrap();
            let spaces: Vec<u32> = s.physmap.iter().map(|m| m.0).collect();
            assert_eq!(spaces, [XENMAPSPACE_SHARED_INFO, XENMAPSPACE_GRANT_TABLE]);
            assert_eq!(s.params[HVM_PARAM_CALLBACK_IRQ as usize], 0);
        }

        // No store port on the new host (param 0), or the ring elsewhere.
        let (x, plan) = started();
        migrate(&x, 0);
        assert_eq!(
            suspend_and_restore(&x, &plan),
            Err(ResumeError::Xen(ResumeStep::Store, XenError::BadAnswer(0)))
        );
        let (x, plan) = started();
        migrate(&x, 9);
        x.hypercall().state.lock().unwrap().params[HVM_PARAM_STORE_PFN as usize] = 0xFEFF0;
        assert_eq!(
            suspend_and_restore(&x, &plan),
            Err(ResumeError::StoreMoved {
                was: STORE_PFN,
                now: 0xFEFF0
            })
        );
    }
}
