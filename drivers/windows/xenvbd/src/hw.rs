//! The miniport callbacks storport calls, and the device extension they share.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::ffi::c_void;
use core::mem::size_of;
use core::ptr::null_mut;

use xenpv_busif::{
    Bus, BusError, XENBUS_INTERFACE_GUID, XENBUS_INTERFACE_SIZE, XENBUS_INTERFACE_VERSION,
};
use xenpv_datapath::scsi::BlockCommand;
use xenpv_ddk::debug::{print, DPFLTR_ERROR_LEVEL, DPFLTR_INFO_LEVEL};
use xenpv_ddk::kernel::KeGetCurrentProcessorNumberEx;
use xenpv_ddk::lower::{query_instance_id, query_interface, LowerError};
use xenpv_ddk::storport::config::*;
use xenpv_ddk::storport::imports::{
    enable_passive_initialization, get_device_objects, initialize_dpc,
};
use xenpv_ddk::storport::sgl::StorDpc;
use xenpv_ddk::storport::srb::{SRB_STATUS_BUSY, SRB_STATUS_INVALID_REQUEST, SRB_STATUS_NO_DEVICE};
use xenpv_winvbd::adapter::{self, Control};
use xenpv_winvbd::dump_bus::BusDumpPath;
use xenpv_winvbd::miniport::{prepare, Prepared, Submitted};
use xenpv_winvbd::srb::{Outcome, SrbInfo};

use crate::disk::{State, MAX_QUEUES};
use crate::dump::{self, DumpReserve, DUMP_MAX_TRANSFER};
use crate::srb::{buffer, complete, finish, image, SrbBuffer};

/// The device extension storport allocates for the adapter (zeroed, non-paged, alive until
/// HwFreeAdapterResources).
#[repr(C)]
struct Adapter {
    state: *mut State,
    /// Normal mode: the dump path prepared for the dump instance (null: none).
    reserve: *mut DumpReserve,
    /// Dump mode: the path taken over from the normal instance's block (null: normal mode).
    dump: *mut BusDumpPath<SrbBuffer>,
    /// One storport DPC per queue: the queue's event issues it, it completes the queue's SRBs.
    dpcs: [StorDpc; MAX_QUEUES],
}

/// What HwBuildIo leaves in the SRB extension for HwStartIo.
struct Pending {
    cmd: BlockCommand,
    buf: Option<SrbBuffer>,
}

/// Fills in the callbacks and the sizes of the extensions.
pub fn register(data: &mut HwInitializationData) {
    adapter::init_data(
        data,
        size_of::<Adapter>() as u32,
        size_of::<Pending>() as u32,
    );
    data.hw_find_adapter = Some(find_adapter);
    data.hw_initialize = Some(initialize);
    data.hw_build_io = Some(build_io);
    data.hw_start_io = Some(start_io);
    data.hw_reset_bus = Some(reset_bus);
    data.hw_adapter_control = Some(adapter_control);
    data.hw_free_adapter_resources = Some(free_adapter_resources);
}

/// The connected disk, if HwFindAdapter got that far.
///
/// # Safety
/// `extension` is the adapter's device extension.
unsafe fn state<'a>(extension: *mut c_void) -> Option<&'a State> {
    // SAFETY: the caller's promise; `state` is null or the Box HwFindAdapter made.
    unsafe { (*extension.cast::<Adapter>()).state.as_ref() }
}

unsafe extern "system" fn find_adapter(
    extension: *mut c_void,
    _hw_context: *mut c_void,
    _bus_information: *mut c_void,
    _argument_string: *mut u8,
    config: *mut PortConfigurationInformation,
    again: *mut u8,
) -> u32 {
    // SAFETY: storport's arguments: our extension and its configuration, at PASSIVE_LEVEL.
    unsafe {
        *again = 0;
        let adapter = extension.cast::<Adapter>();
        if adapter::Mode::from_dump_mode((*config).dump_mode).is_dump() {
            return match dump::take_over((*config).miniport_dump_data) {
                Ok(path) => {
                    (*adapter).dump = path;
                    adapter::configure(&mut *config, DUMP_MAX_TRANSFER);
                    SP_RETURN_FOUND
                }
                Err(e) => {
                    print(DPFLTR_ERROR_LEVEL, format_args!("xenvbd: dump: {e}"));
                    SP_RETURN_NOT_FOUND
                }
            };
        }
        let Some((_fdo, _pdo, lower)) = get_device_objects(extension) else {
            return SP_RETURN_ERROR;
        };
        let connected = query_interface(
            lower,
            (&XENBUS_INTERFACE_GUID as *const xenpv_busif::Guid).cast(),
            XENBUS_INTERFACE_SIZE,
            XENBUS_INTERFACE_VERSION,
            Bus::request(),
            // SAFETY: the request succeeded, so XENBUS filled in the table and took a reference.
            |table| Bus::from_interface(table).map(Arc::new),
        )
        .and_then(|bus| {
            let vdev = query_instance_id::<_, BusError>(lower, adapter::vbd_number)?;
            Ok::<_, LowerError<BusError>>((bus, vdev))
        });
        let (bus, vdev) = match connected {
            Ok(found) => found,
            Err(e) => {
                print(
                    DPFLTR_ERROR_LEVEL,
                    format_args!("xenvbd: no XENBUS below: {e}"),
                );
                return SP_RETURN_NOT_FOUND;
            }
        };
        let mut state = match State::connect(bus, vdev) {
            Ok(state) => state,
            Err(e) => {
                print(DPFLTR_ERROR_LEVEL, format_args!("xenvbd: vbd {vdev}: {e}"));
                return SP_RETURN_ERROR;
            }
        };
        adapter::configure(&mut *config, state.max_transfer);
        // The dump instance's block. Without one this disk takes no crash dump, nothing else.
        if let Some(vbd) = state.dump_vbd(vdev) {
            match DumpReserve::new(lower, vbd) {
                Ok(reserve) => {
                    (*config).miniport_dump_data = reserve.block();
                    (*adapter).reserve = Box::into_raw(Box::new(reserve));
                }
                Err(e) => print(
                    DPFLTR_ERROR_LEVEL,
                    format_args!("xenvbd: no dump path: {e}"),
                ),
            }
        }
        print(
            DPFLTR_INFO_LEVEL,
            format_args!(
                "xenvbd: vbd {vdev} connected, {} bytes per request",
                state.max_transfer
            ),
        );
        (*adapter).state = Box::into_raw(state);
        SP_RETURN_FOUND
    }
}

unsafe extern "system" fn initialize(extension: *mut c_void) -> u8 {
    // SAFETY: our extension; its DPCs are initialised before any event can issue them (events
    // are routed only by the passive initialisation requested here).
    unsafe {
        let adapter = extension.cast::<Adapter>();
        if !(*adapter).dump.is_null() {
            // Dump mode: connected in HwFindAdapter, polled; no DPCs, no passive phase.
            return 1;
        }
        for dpc in (*adapter).dpcs.iter_mut() {
            initialize_dpc(extension, dpc, queue_dpc);
        }
        u8::from(enable_passive_initialization(extension, passive_initialize))
    }
}

unsafe extern "system" fn passive_initialize(extension: *mut c_void) -> u8 {
    // SAFETY: our extension, at PASSIVE_LEVEL after HwInitialize.
    unsafe {
        let adapter = extension.cast::<Adapter>();
        let Some(state) = (*adapter).state.as_mut() else {
            return 0;
        };
        let Some((fdo, _, _)) = get_device_objects(extension) else {
            return 0;
        };
        state.start(extension, (*adapter).dpcs.as_mut_ptr(), fdo);
        1
    }
}

unsafe extern "system" fn queue_dpc(
    _dpc: *mut StorDpc,
    extension: *mut c_void,
    queue: *mut c_void,
    _argument2: *mut c_void,
) {
    // SAFETY: storport calls the DPC with our extension; `queue` is what route_events passed.
    unsafe {
        if let Some(state) = state(extension) {
            state.service(queue as usize);
        }
    }
}

unsafe extern "system" fn build_io(extension: *mut c_void, srb: *mut c_void) -> u8 {
    // SAFETY: storport hands us an SRB we own until we complete it.
    unsafe {
        if !(*extension.cast::<Adapter>()).dump.is_null() {
            // Dump mode: HwStartIo carries the SRB from start to end.
            return 1;
        }
        let Some(state) = state(extension) else {
            finish(extension, srb, &Outcome::port(SRB_STATUS_NO_DEVICE));
            return 0;
        };
        let Some(info) = image(srb).and_then(|b| SrbInfo::parse(b).ok()) else {
            finish(extension, srb, &Outcome::port(SRB_STATUS_INVALID_REQUEST));
            return 0;
        };
        match prepare(&state.disk, &info, buffer(&info)) {
            Prepared::Done(outcome, _) => {
                finish(extension, srb, &outcome);
                0
            }
            Prepared::Block(cmd, buf) => {
                let pending = info.srb_extension as *mut Pending;
                if pending.is_null() {
                    finish(extension, srb, &Outcome::port(SRB_STATUS_INVALID_REQUEST));
                    return 0;
                }
                pending.write(Pending { cmd, buf });
                1
            }
        }
    }
}

unsafe extern "system" fn start_io(extension: *mut c_void, srb: *mut c_void) -> u8 {
    // SAFETY: storport hands us an SRB whose HwBuildIo returned TRUE, so its extension holds
    // the Pending written there (read exactly once, here) — in normal mode.
    unsafe {
        if let Some(path) = (*extension.cast::<Adapter>()).dump.as_mut() {
            let Some(info) = image(srb).and_then(|b| SrbInfo::parse(b).ok()) else {
                finish(extension, srb, &Outcome::port(SRB_STATUS_INVALID_REQUEST));
                return 1;
            };
            let done = dump::run(path, srb as u64, &info, buffer(&info));
            complete(extension, done);
            return 1;
        }
        let (Some(state), Some(info)) = (
            state(extension),
            image(srb).and_then(|b| SrbInfo::parse(b).ok()),
        ) else {
            finish(extension, srb, &Outcome::port(SRB_STATUS_NO_DEVICE));
            return 1;
        };
        let Pending { cmd, buf } = (info.srb_extension as *mut Pending).read();
        let cpu = KeGetCurrentProcessorNumberEx(null_mut());
        let submitted = state.with_io(|io| match io.miniport.submit(srb as u64, cpu, cmd, buf) {
            Submitted::Queued { queue } => state.service_queue(io, queue),
            Submitted::Busy(done) => complete(extension, done),
        });
        if submitted.is_none() {
            // Reconnecting: storport sends it again.
            finish(extension, srb, &Outcome::port(SRB_STATUS_BUSY));
        }
        1
    }
}

/// Nothing to reset: requests in the queues finish (or are replayed) on their own.
unsafe extern "system" fn reset_bus(_extension: *mut c_void, _path_id: u32) -> u8 {
    1
}

unsafe extern "system" fn adapter_control(
    _extension: *mut c_void,
    control_type: u32,
    parameters: *mut c_void,
) -> u32 {
    match Control::from_type(control_type) {
        Control::QuerySupported => {
            let list = parameters.cast::<ScsiSupportedControlTypeList>();
            // SAFETY: for this control type storport passes the list with `max_control_type`
            // entries after its header.
            unsafe {
                let entries = core::slice::from_raw_parts_mut(
                    (*list).supported_type_list.as_mut_ptr(),
                    (*list).max_control_type as usize,
                );
                adapter::supported_control_types(entries);
            }
            SCSI_ADAPTER_CONTROL_SUCCESS
        }
        // Storport stops an adapter only with no request outstanding; the rings stay connected
        // across the stop, so restarting needs nothing either.
        Control::Stop | Control::Restart => SCSI_ADAPTER_CONTROL_SUCCESS,
        Control::Unsupported => SCSI_ADAPTER_CONTROL_UNSUCCESSFUL,
    }
}

unsafe extern "system" fn free_adapter_resources(extension: *mut c_void) {
    // SAFETY: our extension, after the last request; the state Box is ours to free.
    unsafe {
        let adapter = extension.cast::<Adapter>();
        let reserve = core::mem::replace(&mut (*adapter).reserve, null_mut());
        if !reserve.is_null() {
            Box::from_raw(reserve).release();
        }
        let state = core::mem::replace(&mut (*adapter).state, null_mut());
        if !state.is_null() {
            let mut state = Box::from_raw(state);
            state.stop_runtime();
            drop(state);
        }
    }
}
