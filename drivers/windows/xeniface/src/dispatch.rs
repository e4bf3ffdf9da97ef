//! The dispatch routines: PnP through xenpv-wdm's state machine, power and anything unknown
//! passed down, and the requests of user handles (create, device control, cleanup, close), each
//! under the remove lock.

use alloc::vec::Vec;
use core::ffi::c_void;
use core::ptr::{addr_of_mut, null_mut};
use core::sync::atomic::Ordering;

use xenpv_ddk::irp::{current_stack_location, mark_pending, skip_current_stack_location, Irp};
use xenpv_ddk::kernel::{IoDeleteDevice, IoDetachDevice, PoCallDriver, PoStartNextPowerIrp};
use xenpv_ddk::ndis::nbl::Mdl;
use xenpv_ddk::object::DeviceObject;
use xenpv_ddk::status::*;
use xenpv_ddk::sync::IoRemoveLock;
use xenpv_ddk::userio::file::FileObject;
use xenpv_ddk::userio::forward::{complete, forward_and_wait, pass_down};
use xenpv_ddk::userio::imports::{IoSetDeviceInterfaceState, RtlFreeUnicodeString};
use xenpv_ddk::userio::mdl;
use xenpv_wdm::pnp::{Action, AfterLower, PnpRequest};
use xenpv_winiface::request::{decode, grant_pages, Request};
use xenpv_winiface::session::{Answer, GrantFailed, MAX_GRANT_PAGES};

use crate::fdo::{extension, Fdo};
use crate::pending::Kind;
use crate::service::{Lease, Service};

/// Runs `f` under the remove lock, or completes `irp` with the lock's refusal.
///
/// # Safety
/// `device` is one of our FDOs and `irp` an IRP we now own.
unsafe fn locked(
    device: *mut DeviceObject,
    irp: *mut Irp,
    f: impl FnOnce(*mut Fdo) -> NtStatus,
) -> NtStatus {
    // SAFETY: the caller's promise.
    unsafe {
        let fdo = extension(device);
        let lock = addr_of_mut!((*fdo).remove_lock);
        let tag = irp.cast::<c_void>();
        let status = IoRemoveLock::acquire(lock, tag);
        if !nt_success(status) {
            return complete(irp, status, 0);
        }
        let status = f(fdo);
        IoRemoveLock::release(lock, tag);
        status
    }
}

/// `DRIVER_DISPATCH` for what this driver does not handle: down the stack unchanged.
pub unsafe extern "system" fn pass_through(device: *mut DeviceObject, irp: *mut Irp) -> NtStatus {
    // SAFETY: the I/O manager calls us with our FDO and an IRP we now own.
    unsafe { locked(device, irp, |fdo| pass_down((*fdo).lower, irp)) }
}

/// `DRIVER_DISPATCH` for IRP_MJ_POWER: no power policy of its own.
pub unsafe extern "system" fn power(device: *mut DeviceObject, irp: *mut Irp) -> NtStatus {
    // SAFETY: as for pass_through; PoStartNextPowerIrp is harmless after Windows Vista.
    unsafe {
        PoStartNextPowerIrp(irp);
        locked(device, irp, |fdo| {
            skip_current_stack_location(irp);
            PoCallDriver((*fdo).lower, irp)
        })
    }
}

/// Starts the service (once) and enables the interface.
///
/// # Safety
/// PnP dispatch context of `device` (PASSIVE_LEVEL, one request at a time).
unsafe fn start(device: *mut DeviceObject, fdo: *mut Fdo) -> Result<(), NtStatus> {
    // SAFETY: the caller's promise.
    unsafe {
        if (*fdo).service.load(Ordering::Acquire).is_null() {
            let service = Service::start(device, (*fdo).lower)?;
            (*fdo)
                .service
                .store(alloc::boxed::Box::into_raw(service), Ordering::Release);
        }
        let status = IoSetDeviceInterfaceState(addr_of_mut!((*fdo).interface), 1);
        if nt_success(status) {
            Ok(())
        } else {
            Err(status)
        }
    }
}

/// Hides the interface from new opens (open handles keep working).
///
/// # Safety
/// As for [`start`].
unsafe fn stop(fdo: *mut Fdo) {
    // SAFETY: the caller's promise; disabling an interface that is not enabled is harmless.
    unsafe { IoSetDeviceInterfaceState(addr_of_mut!((*fdo).interface), 0) };
}

/// `DRIVER_DISPATCH` for IRP_MJ_PNP: xenpv-wdm decides, this routine carries it out.
pub unsafe extern "system" fn pnp(device: *mut DeviceObject, irp: *mut Irp) -> NtStatus {
    // SAFETY: as for pass_through; PnP IRPs for one device arrive one at a time at PASSIVE_LEVEL,
    // so this routine is the only user of the extension's `pnp`.
    unsafe {
        let fdo = extension(device);
        let lock = addr_of_mut!((*fdo).remove_lock);
        let lower = (*fdo).lower;
        let pnp = &mut *addr_of_mut!((*fdo).pnp);
        let tag = irp.cast::<c_void>();
        let status = IoRemoveLock::acquire(lock, tag);
        if !nt_success(status) {
            return complete(irp, status, 0);
        }
        let request = PnpRequest::from_minor((*current_stack_location(irp)).minor_function);
        match pnp.dispatch(request) {
            Action::PassDown {
                status,
                stop_hardware,
            } => {
                if stop_hardware {
                    stop(fdo);
                }
                if let Some(status) = status {
                    (*irp).io_status.status = status;
                }
                let status = pass_down(lower, irp);
                IoRemoveLock::release(lock, tag);
                status
            }
            Action::ForwardAndWait => {
                let below = forward_and_wait(lower, irp);
                let status = match pnp.completed_below(request, below) {
                    AfterLower::StartHardware => pnp.hardware_started(start(device, fdo)),
                    AfterLower::Complete(status) => status,
                };
                complete(irp, status, 0);
                IoRemoveLock::release(lock, tag);
                status
            }
            Action::Complete(status) => {
                complete(irp, status, 0);
                IoRemoveLock::release(lock, tag);
                status
            }
            Action::Remove { .. } => {
                stop(fdo);
                // Waits for every other request holding the lock; later ones fail to acquire it.
                IoRemoveLock::release_and_wait(lock, tag);
                let service = (*fdo).service.swap(null_mut(), Ordering::AcqRel);
                if !service.is_null() {
                    alloc::boxed::Box::from_raw(service).stop();
                }
                RtlFreeUnicodeString(addr_of_mut!((*fdo).interface));
                (*irp).io_status.status = STATUS_SUCCESS;
                let status = pass_down(lower, irp);
                IoDetachDevice(lower);
                IoDeleteDevice(device);
                status
            }
        }
    }
}

/// The running service of `fdo`, if it has started.
///
/// # Safety
/// The caller holds the remove lock (so the service is not freed under it).
unsafe fn service<'a>(fdo: *mut Fdo) -> Option<&'a Service> {
    // SAFETY: set once by start, freed only by remove after the remove lock drained.
    unsafe { (*fdo).service.load(Ordering::Acquire).as_ref() }
}

/// The handle's file object.
///
/// # Safety
/// `irp` is a request on one of our devices.
unsafe fn file(irp: *mut Irp) -> *mut FileObject {
    // SAFETY: the caller's promise.
    unsafe { (*current_stack_location(irp)).file_object.cast() }
}

/// `DRIVER_DISPATCH` for IRP_MJ_CREATE: a new handle gets its session.
pub unsafe extern "system" fn create(device: *mut DeviceObject, irp: *mut Irp) -> NtStatus {
    // SAFETY: as for pass_through; the file object is the new handle's.
    unsafe {
        locked(device, irp, |fdo| match service(fdo) {
            Some(service) => {
                let id = service.open();
                (*file(irp)).fs_context = id as usize as *mut c_void;
                complete(irp, STATUS_SUCCESS, 0)
            }
            None => complete(irp, STATUS_DEVICE_NOT_READY, 0),
        })
    }
}

/// The session id the handle of `irp` got at create.
///
/// # Safety
/// `irp` is a request on a handle of one of our devices.
unsafe fn session_id(irp: *mut Irp) -> u32 {
    // SAFETY: the caller's promise; `create` stored the id.
    unsafe { (*file(irp)).fs_context as usize as u32 }
}

/// `DRIVER_DISPATCH` for IRP_MJ_CLEANUP: the last user handle is gone; release what it owned.
pub unsafe extern "system" fn cleanup(device: *mut DeviceObject, irp: *mut Irp) -> NtStatus {
    // SAFETY: as for pass_through.
    unsafe {
        locked(device, irp, |fdo| {
            if let Some(service) = service(fdo) {
                service.cleanup(session_id(irp));
            }
            complete(irp, STATUS_SUCCESS, 0)
        })
    }
}

/// `DRIVER_DISPATCH` for IRP_MJ_CLOSE: nothing is left after cleanup.
pub unsafe extern "system" fn close(device: *mut DeviceObject, irp: *mut Irp) -> NtStatus {
    // SAFETY: as for pass_through.
    unsafe { locked(device, irp, |_| complete(irp, STATUS_SUCCESS, 0)) }
}

/// `DRIVER_DISPATCH` for IRP_MJ_DEVICE_CONTROL: decode, run, answer (or pend).
pub unsafe extern "system" fn device_control(device: *mut DeviceObject, irp: *mut Irp) -> NtStatus {
    // SAFETY: as for pass_through; the system buffer holds the input (METHOD_BUFFERED and the
    // input of METHOD_OUT_DIRECT) of the length the stack location states.
    unsafe {
        locked(device, irp, |fdo| {
            let Some(service) = service(fdo) else {
                return complete(irp, STATUS_DEVICE_NOT_READY, 0);
            };
            let parameters = (*current_stack_location(irp)).device_io_control();
            let buffer = (*irp).associated_irp.cast::<u8>();
            let len = parameters.input_buffer_length as usize;
            // A copy: the reply is written over the same system buffer.
            let input: Vec<u8> = if buffer.is_null() || len == 0 {
                Vec::new()
            } else {
                core::slice::from_raw_parts(buffer, len).to_vec()
            };
            match decode(parameters.io_control_code, &input) {
                Err(e) => complete(irp, e.status(), 0),
                Ok(request) => run(service, irp, session_id(irp), request),
            }
        })
    }
}

/// Runs a decoded request of handle `id`.
///
/// # Safety
/// `irp` is the device control request being dispatched, owned by this driver.
unsafe fn run(service: &Service, irp: *mut Irp, id: u32, request: Request<'_>) -> NtStatus {
    let mut state = service.state.lock();
    // SAFETY (all blocks below): `irp` is ours; a request marked pending is either queued (then
    // completed by whoever takes it out) or completed here, and STATUS_PENDING is returned.
    match request {
        Request::GrantAccess {
            remote_domain,
            read_only,
            id: grant,
        } => unsafe {
            let mdl = (*irp).mdl_address.cast::<Mdl>();
            if mdl.is_null() {
                return complete(irp, STATUS_INVALID_PARAMETER, 0);
            }
            if let Err(e) = grant_pages(
                (*mdl).byte_offset as usize,
                (*mdl).byte_count as usize,
                MAX_GRANT_PAGES,
            ) {
                return complete(irp, e.status(), 0);
            }
            let gfns: Vec<u64> = mdl::frames(mdl).iter().map(|&f| f as u64).collect();
            mark_pending(irp);
            let crate::service::State { sessions, home, .. } = &mut *state;
            let Some(session) = sessions.get_mut(&id) else {
                complete(irp, STATUS_INVALID_HANDLE, 0);
                return STATUS_PENDING;
            };
            match session.grant(home, grant, remote_domain, read_only, &gfns, Lease(irp)) {
                // Granted (or partly granted and stuck): the request is the lease on the pages.
                Ok(()) | Err(GrantFailed { lease: None, .. }) => {
                    service.pending.insert(irp, id, Kind::Lease)
                }
                Err(GrantFailed {
                    error,
                    lease: Some(_),
                }) => {
                    complete(irp, error.status(), 0);
                }
            }
            STATUS_PENDING
        },
        Request::GrantRevoke { id: grant } => {
            let crate::service::State { sessions, home, .. } = &mut *state;
            let revoked = match sessions.get_mut(&id) {
                Some(session) => session.revoke(home, grant),
                None => return unsafe { complete(irp, STATUS_INVALID_HANDLE, 0) },
            };
            match revoked {
                Ok(lease) => {
                    service.finish_lease(&mut state, lease, STATUS_SUCCESS);
                    unsafe { complete(irp, STATUS_SUCCESS, 0) }
                }
                Err(e) => unsafe { complete(irp, e.status(), 0) },
            }
        }
        Request::SuspendCount => unsafe { Service::answer(irp, &Answer::U32(service.resumes())) },
        Request::AgentWaitAction => match state.actions.pop_front() {
            Some(action) => unsafe { Service::answer(irp, &Answer::U32(action as u32)) },
            None => unsafe {
                mark_pending(irp);
                service.pending.insert(irp, id, Kind::AgentWait);
                STATUS_PENDING
            },
        },
        request => {
            let mut store = service.store.lock();
            let crate::service::State { sessions, home, .. } = &mut *state;
            let (Some(session), Some(store)) = (sessions.get_mut(&id), store.as_mut()) else {
                return unsafe { complete(irp, STATUS_DEVICE_NOT_READY, 0) };
            };
            match session.execute(request, store, home) {
                Ok(Answer::Wait) => unsafe {
                    mark_pending(irp);
                    service.pending.insert(irp, id, Kind::WatchWait);
                    STATUS_PENDING
                },
                Ok(answer) => unsafe { Service::answer(irp, &answer) },
                Err(e) => unsafe { complete(irp, e.status(), 0) },
            }
        }
    }
}
