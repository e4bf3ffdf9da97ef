//! XENVBD: the STORPORT miniport of a Xen PV disk, the child `XENPV\VBD` that XENBUS enumerates
//! for each `device/vbd/N` (see xenvbd.inf). All decisions live in xenpv-winvbd, tested on the
//! host; this crate only carries storport's calls there and back.
//!
//! - DriverEntry registers a physical miniport on the `Internal` bus (xenpv-winvbd `adapter`
//!   says why: storport loads only physical miniports in the dump stack).
//! - HwFindAdapter (PASSIVE_LEVEL) finds XENBUS below: storport's own
//!   `StorPortGetDeviceObjects` gives the device under its FDO, and the miniport sends it
//!   IRP_MN_QUERY_INTERFACE (the bus interface of xenpv-busif) and IRP_MN_QUERY_ID (the instance
//!   id, which is the vbd number) itself (xenpv-ddk's `lower`). This replaces the usual trick of wrapping the
//!   IRP_MJ_PNP dispatch routine that StorPortInitialize installs: HwFindAdapter of a physical
//!   miniport runs at PASSIVE_LEVEL during the device's start, after the drivers below started,
//!   which is exactly when the interface is there, and nothing of storport's dispatch is touched.
//!   It then connects the vbd through the control plane over the bus's store and builds the
//!   miniport over the negotiated queues ([`disk`]).
//! - HwBuildIo reads the SRB and answers what needs no backend; HwStartIo submits the rest to the
//!   queue of the current processor; each queue's event channel (delivered by XENBUS's DPC)
//!   issues a storport DPC that services that queue and completes its SRBs ([`hw`]).
//! - Crash dump and hibernation ([`dump`]): in normal mode HwFindAdapter also prepares the dump
//!   path over XENBUS's dump interface (reserved grant references, one ring, queue and miniport
//!   allocated then) and leaves it in `MiniportDumpData`; the dump instance's HwFindAdapter takes
//!   the vbd over from that block through the polled store, and its HwStartIo carries each SRB
//!   to the end by polling — no allocation, lock, interrupt or DPC in dump mode.

#![no_std]

extern crate alloc;

mod disk;
mod dump;
mod hw;
mod srb;

use core::ffi::c_void;
use core::ptr::null_mut;

use xenpv_ddk::debug::DPFLTR_INFO_LEVEL;
use xenpv_ddk::object::DriverObject;
use xenpv_ddk::status::NtStatus;
use xenpv_ddk::storport::config::HwInitializationData;
use xenpv_ddk::storport::imports::StorPortInitialize;
use xenpv_ddk::string::UnicodeString;

/// The image's entry point (`/ENTRY:DriverEntry`). In dump mode storport's crash dump driver
/// calls it too, with other arguments; StorPortInitialize tells the two apart.
///
/// # Safety
/// Called by the I/O manager (or the crash dump stack) with its arguments.
#[no_mangle]
pub unsafe extern "system" fn DriverEntry(
    driver: *mut DriverObject,
    registry_path: *mut UnicodeString,
) -> NtStatus {
    let mut data = HwInitializationData::new();
    hw::register(&mut data);
    // SAFETY: DriverEntry's arguments passed on as StorPortInitialize wants them; `data` lives
    // across the call (storport copies it).
    let status = unsafe {
        StorPortInitialize(
            driver.cast::<c_void>(),
            registry_path.cast::<c_void>(),
            &mut data,
            null_mut(),
        )
    } as NtStatus;
    xenpv_ddk::debug::print(
        DPFLTR_INFO_LEVEL,
        format_args!("xenvbd: loaded ({status:#x})"),
    );
    status
}
