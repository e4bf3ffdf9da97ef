//! The Xen platform device's hardware side: what START_DEVICE brings up and STOP / SURPRISE /
//! REMOVE tear down.
//!
//! This is where drivers/xen (issue 7) plugs in. On start it will find the hypercall page through
//! CPUID, map shared_info, connect the platform device's line interrupt (the translated
//! `Resource::Interrupt`, with `IoConnectInterruptEx`) as the event channel upcall, place the grant
//! table frames in its memory BAR (`Resource::Memory`), unplug the emulated devices through its
//! I/O ports (`Resource::Port`) and connect the store; on stop it undoes that in reverse. Until
//! then a start decodes and logs the resources and acquires nothing, and stop has nothing to
//! release: the device is owned but offers no Xen service, and the driver says so in the debug log
//! rather than pretending otherwise.

use alloc::vec::Vec;
use core::ffi::c_void;

use xenpv_ddk::debug::{DPFLTR_ERROR_LEVEL, DPFLTR_INFO_LEVEL};
use xenpv_ddk::status::{NtStatus, STATUS_DEVICE_CONFIGURATION_ERROR};
use xenpv_wdm::resources::{encoded_len, parse, Resource, ResourceListError};

/// The decoded resources of IRP_MN_START_DEVICE: as the bus sees them (raw) and as the processor
/// sees them (translated: interrupt vectors and affinities, mapped addresses).
pub struct PlatformResources {
    pub raw: Vec<Resource>,
    pub translated: Vec<Resource>,
}

impl PlatformResources {
    /// Decodes the two lists of a start request (either pointer may be null: no resources).
    ///
    /// # Safety
    /// Each non-null pointer is a `CM_RESOURCE_LIST` valid for the duration of the call.
    pub unsafe fn decode(raw: *const c_void, translated: *const c_void) -> Result<Self, NtStatus> {
        // SAFETY: the caller's promise.
        let lists = unsafe { (read_list(raw), read_list(translated)) };
        match lists {
            (Ok(raw), Ok(translated)) => Ok(PlatformResources { raw, translated }),
            (Err(e), _) | (_, Err(e)) => {
                xenpv_ddk::debug::print(
                    DPFLTR_ERROR_LEVEL,
                    format_args!("xenbus: bad resource list: {e}"),
                );
                Err(STATUS_DEVICE_CONFIGURATION_ERROR)
            }
        }
    }
}

/// Decodes one list: its length from the count fields, then its bytes.
///
/// # Safety
/// As for [`PlatformResources::decode`].
unsafe fn read_list(list: *const c_void) -> Result<Vec<Resource>, ResourceListError> {
    if list.is_null() {
        return Ok(Vec::new());
    }
    let base = list.cast::<u8>();
    // SAFETY: encoded_len reads each count only after the counts before it said the list extends
    // that far; the lists are 4-byte packed, so the reads are unaligned.
    let len = encoded_len(|at| unsafe { base.add(at).cast::<u32>().read_unaligned() })?;
    // SAFETY: the list spans `len` bytes, as its own counts say.
    parse(unsafe { core::slice::from_raw_parts(base, len) })
}

/// The platform device's hardware state, one per function device.
pub struct Hardware;

impl Hardware {
    pub const fn new() -> Self {
        Hardware
    }

    pub fn start(&mut self, resources: &PlatformResources) -> Result<(), NtStatus> {
        for (raw, translated) in resources.raw.iter().zip(&resources.translated) {
            xenpv_ddk::debug::print(
                DPFLTR_INFO_LEVEL,
                format_args!("xenbus: resource {raw:x?} -> {translated:x?}"),
            );
        }
        xenpv_ddk::debug::print(
            DPFLTR_INFO_LEVEL,
            format_args!(
                "xenbus: platform device started; Xen services are not part of this build"
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
