//! The start sequence of the platform device and its reverse.
//!
//! Each step acquires one thing; a failure releases what the steps before it acquired, newest
//! first, and nothing else; stop releases everything, newest first. The driver supplies the
//! acquire/release of each step ([`Steps`]); this module owns the order and the bookkeeping, and
//! [`xen`] the hypervisor side of the Xen steps.

use alloc::vec::Vec;

/// The steps, in start order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// Unplug the emulated disks and NICs (cannot be undone; its release does nothing).
    Unplug,
    /// Map the memory BAR into kernel space.
    MapBar,
    /// Place shared_info in the BAR.
    SharedInfo,
    /// Place the grant table frames and build the grant table.
    GrantTable,
    /// Allocate the page arena for granted regions.
    Arena,
    /// Map the store ring page.
    StoreRing,
    /// Connect the platform device's interrupt (ISR and DPC).
    Interrupt,
    /// Point Xen's event upcall at that interrupt (HVM_PARAM_CALLBACK_IRQ).
    CallbackIrq,
    /// Build the bus interface's provider over all of it.
    Provider,
}

/// Every step, in order.
pub const SEQUENCE: [Step; 9] = [
    Step::Unplug,
    Step::MapBar,
    Step::SharedInfo,
    Step::GrantTable,
    Step::Arena,
    Step::StoreRing,
    Step::Interrupt,
    Step::CallbackIrq,
    Step::Provider,
];

/// What each step does on this home.
pub trait Steps {
    type Error;
    fn acquire(&mut self, step: Step) -> Result<(), Self::Error>;
    fn release(&mut self, step: Step);
}

/// The steps done so far.
#[derive(Debug, Default)]
pub struct Started {
    done: Vec<Step>,
}

impl Started {
    pub fn steps(&self) -> &[Step] {
        &self.done
    }

    /// Releases every acquired step, newest first.
    pub fn tear_down<S: Steps>(&mut self, steps: &mut S) {
        while let Some(step) = self.done.pop() {
            steps.release(step);
        }
    }
}

/// Runs the sequence. On failure the steps already done are released (newest first) and the
/// failed step is named with its error.
pub fn bring_up<S: Steps>(steps: &mut S) -> Result<Started, (Step, S::Error)> {
    let mut started = Started::default();
    for step in SEQUENCE {
        if let Err(e) = steps.acquire(step) {
            started.tear_down(steps);
            return Err((step, e));
        }
        started.done.push(step);
    }
    Ok(started)
}

/// The hypervisor side of the Xen steps.
pub mod xen {
    use xenpv_abi::hvm::{HVM_PARAM_CALLBACK_IRQ, HVM_PARAM_CALLBACK_TYPE_GSI};
    use xenpv_xen::error::XenError;
    use xenpv_xen::hvm;
    use xenpv_xen::{Hypercall, Xen};

    use crate::bar::{plan, BarError, BarPlan};

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum XenStepError {
        Xen(XenError),
        Bar(BarError),
    }

    impl From<XenError> for XenStepError {
        fn from(e: XenError) -> Self {
            XenStepError::Xen(e)
        }
    }

    /// Plans the BAR for as many grant frames as Xen allows, up to `wanted`.
    pub fn plan_bar<H: Hypercall>(
        xen: &Xen<H>,
        start: u64,
        length: u64,
        wanted: u32,
    ) -> Result<BarPlan, XenStepError> {
        let (_, max) = xen.gnttab_query_size()?;
        plan(start, length, wanted, max).map_err(XenStepError::Bar)
    }

    /// Step [`super::Step::SharedInfo`].
    pub fn place_shared_info<H: Hypercall>(xen: &Xen<H>, p: &BarPlan) -> Result<(), XenError> {
        hvm::map_shared_info(xen, p.shared_info_gfn)
    }

    /// Step [`super::Step::GrantTable`] (Xen's part): every planned frame, in order.
    pub fn place_grant_frames<H: Hypercall>(xen: &Xen<H>, p: &BarPlan) -> Result<(), XenError> {
        for i in 0..p.grant_frames {
            hvm::map_grant_frames(xen, i, &[p.grant_frame_gfn(i)])?;
        }
        Ok(())
    }

    /// Step [`super::Step::CallbackIrq`]: upcalls arrive as the platform device's interrupt line,
    /// named by its GSI (the raw, bus-relative interrupt of the start resources).
    pub fn set_callback_gsi<H: Hypercall>(xen: &Xen<H>, gsi: u32) -> Result<(), XenError> {
        xen.hvm_set_param(
            HVM_PARAM_CALLBACK_IRQ,
            HVM_PARAM_CALLBACK_TYPE_GSI << 56 | u64::from(gsi),
        )
    }

    /// Its release: no more upcalls (0 switches the callback off).
    pub fn clear_callback<H: Hypercall>(xen: &Xen<H>) -> Result<(), XenError> {
        xen.hvm_set_param(HVM_PARAM_CALLBACK_IRQ, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::xen::*;
    use super::*;
    use std::vec;
    use xenpv_abi::hvm::HVM_PARAM_CALLBACK_IRQ;
    use xenpv_abi::memory::{XENMAPSPACE_GRANT_TABLE, XENMAPSPACE_SHARED_INFO};
    use xenpv_xen::error::XenError;
    use xenpv_xen::model::XenModel;
    use xenpv_xen::Xen;

    #[derive(Default)]
    struct Recorder {
        fail_at: Option<Step>,
        log: Vec<(bool, Step)>,
    }

    impl Steps for Recorder {
        type Error = &'static str;
        fn acquire(&mut self, step: Step) -> Result<(), &'static str> {
            if self.fail_at == Some(step) {
                return Err("injected");
            }
            self.log.push((true, step));
            Ok(())
        }
        fn release(&mut self, step: Step) {
            self.log.push((false, step));
        }
    }

    #[test]
    fn a_failure_at_each_step_undoes_exactly_the_steps_before_it_newest_first() {
        for (k, &failing) in SEQUENCE.iter().enumerate() {
            let mut r = Recorder {
                fail_at: Some(failing),
                ..Recorder::default()
            };
            assert_eq!(bring_up(&mut r).err().map(|e| e.0), Some(failing));
            let mut expected: Vec<(bool, Step)> =
                SEQUENCE[..k].iter().map(|&s| (true, s)).collect();
            expected.extend(SEQUENCE[..k].iter().rev().map(|&s| (false, s)));
            assert_eq!(r.log, expected, "failing at {failing:?}");
        }
    }

    #[test]
    fn stop_releases_everything_in_reverse() {
        let mut r = Recorder::default();
        let mut started = bring_up(&mut r).unwrap();
        assert_eq!(started.steps(), SEQUENCE);
        r.log.clear();
        started.tear_down(&mut r);
        let expected: Vec<(bool, Step)> = SEQUENCE.iter().rev().map(|&s| (false, s)).collect();
        assert_eq!(r.log, expected);
        assert!(started.steps().is_empty());
        r.log.clear();
        started.tear_down(&mut r);
        assert!(r.log.is_empty(), "a second stop releases nothing");
    }

    #[test]
    fn the_xen_steps_place_pages_in_the_bar_and_route_the_upcall() {
        let x = Xen::new(XenModel::new());
        let p = plan_bar(&x, 0xF100_0000, 16 << 20, 4).unwrap();
        place_shared_info(&x, &p).unwrap();
        place_grant_frames(&x, &p).unwrap();
        set_callback_gsi(&x, 28).unwrap();
        {
            let s = x.hypercall().state.lock().unwrap();
            assert_eq!(
                s.physmap,
                vec![
                    (XENMAPSPACE_SHARED_INFO, 0, 0xF1000),
                    (XENMAPSPACE_GRANT_TABLE, 0, 0xF1001),
                    (XENMAPSPACE_GRANT_TABLE, 1, 0xF1002),
                    (XENMAPSPACE_GRANT_TABLE, 2, 0xF1003),
                    (XENMAPSPACE_GRANT_TABLE, 3, 0xF1004),
                ]
            );
            assert_eq!(
                s.params[HVM_PARAM_CALLBACK_IRQ as usize], 28,
                "type GSI (0)"
            );
        }
        clear_callback(&x).unwrap();
        assert_eq!(
            x.hypercall().state.lock().unwrap().params[HVM_PARAM_CALLBACK_IRQ as usize],
            0
        );
    }

    #[test]
    fn xen_refusing_a_grant_frame_is_a_typed_error() {
        let x = Xen::new(XenModel::new());
        // The model allows 32 frames; a plan that pretends otherwise hits Xen's EINVAL.
        let mut p = plan_bar(&x, 0xF100_0000, 16 << 20, 64).unwrap();
        assert_eq!(p.grant_frames, 32);
        p.grant_frames = 33;
        assert_eq!(place_grant_frames(&x, &p), Err(XenError::Invalid));
        assert_eq!(
            plan_bar(&x, 0xF100_0000, 4096, 8),
            Err(XenStepError::Bar(crate::bar::BarError::TooSmall(4096)))
        );
    }
}
