//! The Xen platform device's hardware side: what START_DEVICE brings up and STOP / SURPRISE /
//! REMOVE tear down.
//!
//! This is where drivers/xen (issue 7) plugs in. On start it will find the hypercall page through
//! CPUID, map shared_info, bind event channels to the platform device's interrupt (from the
//! translated resources below), place the grant table frames in its memory BAR and connect the
//! store; on stop it undoes that in reverse. Until then a start acquires nothing, and stop has
//! nothing to release: the device is owned but no Xen service is offered, and the driver says so
//! in the debug log rather than pretending otherwise.

use core::ffi::c_void;

use xenpv_ddk::debug::DPFLTR_INFO_LEVEL;
use xenpv_ddk::status::NtStatus;

/// The resource lists of IRP_MN_START_DEVICE (`CM_RESOURCE_LIST`s, raw and translated), valid
/// for the duration of the start.
pub struct StartResources {
    pub raw: *const c_void,
    pub translated: *const c_void,
}

/// The platform device's hardware state, one per function device.
pub struct Hardware;

impl Hardware {
    pub const fn new() -> Self {
        Hardware
    }

    pub fn start(&mut self, resources: &StartResources) -> Result<(), NtStatus> {
        xenpv_ddk::debug::print(
            DPFLTR_INFO_LEVEL,
            format_args!(
                "xenbus: platform device started (resources {:p}, translated {:p}); \
                 Xen services are not part of this build",
                resources.raw, resources.translated
            ),
        );
        Ok(())
    }

    pub fn stop(&mut self) {
        xenpv_ddk::debug::print(
            DPFLTR_INFO_LEVEL,
            format_args!("xenbus: platform device stopped"),
        );
    }
}
