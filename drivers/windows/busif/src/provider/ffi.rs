//! The table's functions: each checks its raw arguments (null pointers, sizes, alignment), turns
//! them into typed values, calls the provider and turns the result into a [`BusStatus`]. None of
//! them panics on any input.

use core::ffi::c_void;
use core::sync::atomic::Ordering;

use xenpv_control::xs::client::Transport;
use xenpv_datapath::platform::Access;

use super::store::{Notify, MAX_MESSAGE};
use super::{BusHost, Provider, SuspendOutcome};
use crate::abi::*;
use crate::error::BusError;

/// The most pages one region may have (16 MiB): a larger request is a caller's bug, refused before
/// anything is allocated.
pub const MAX_REGION_PAGES: u32 = 4096;

pub(super) fn table<H: BusHost, T: Transport>(p: &Provider<H, T>) -> BusInterface {
    BusInterface {
        header: InterfaceHeader {
            size: XENBUS_INTERFACE_SIZE,
            version: XENBUS_INTERFACE_VERSION,
            context: p as *const Provider<H, T> as *mut c_void,
            interface_reference: Some(reference::<H, T>),
            interface_dereference: Some(dereference::<H, T>),
        },
        store_open: Some(store_open::<H, T>),
        store_close: Some(store_close::<H, T>),
        store_send: Some(store_send::<H, T>),
        store_recv: Some(store_recv::<H, T>),
        grant_region: Some(grant_region::<H, T>),
        end_region: Some(end_region::<H, T>),
        grant_frame: Some(grant_frame::<H, T>),
        end_frame: Some(end_frame::<H, T>),
        evtchn_alloc_unbound: Some(alloc_unbound::<H, T>),
        evtchn_bind_interdomain: Some(bind_interdomain::<H, T>),
        evtchn_notify: Some(notify::<H, T>),
        evtchn_unmask: Some(unmask::<H, T>),
        evtchn_close: Some(close::<H, T>),
        evtchn_set_callback: Some(set_callback::<H, T>),
        wall_clock: Some(wall_clock::<H, T>),
        suspend_register: Some(suspend_register::<H, T>),
        suspend_unregister: Some(suspend_unregister::<H, T>),
        request_suspend: Some(request_suspend::<H, T>),
    }
}

/// Runs `f` on the provider behind `ctx`.
///
/// # Safety
/// `ctx` is null or the context of a table from [`Provider::interface`] whose provider is alive.
unsafe fn with<H: BusHost, T: Transport>(
    ctx: *mut c_void,
    f: impl FnOnce(&Provider<H, T>) -> Result<(), BusError>,
) -> BusStatus {
    // SAFETY: the caller's contract.
    match unsafe { (ctx as *const Provider<H, T>).as_ref() } {
        Some(p) => f(p).into(),
        None => BusError::InvalidParameter.into(),
    }
}

/// Writes an out-parameter.
///
/// # Safety
/// `out` is null or valid for a write of a `V` (alignment is not required).
unsafe fn put<V>(out: *mut V, v: V) -> Result<(), BusError> {
    if out.is_null() {
        return Err(BusError::InvalidParameter);
    }
    // SAFETY: the caller's contract; unaligned, as C callers may pack their out-parameters.
    unsafe { out.write_unaligned(v) };
    Ok(())
}

fn access(writable: u8) -> Access {
    if writable != 0 {
        Access::ReadWrite
    } else {
        Access::ReadOnly
    }
}

unsafe extern "C" fn reference<H: BusHost, T: Transport>(ctx: *mut c_void) {
    // SAFETY: the table's contract (see `with`).
    if let Some(p) = unsafe { (ctx as *const Provider<H, T>).as_ref() } {
        p.references.fetch_add(1, Ordering::AcqRel);
    }
}

unsafe extern "C" fn dereference<H: BusHost, T: Transport>(ctx: *mut c_void) {
    // SAFETY: the table's contract (see `with`).
    if let Some(p) = unsafe { (ctx as *const Provider<H, T>).as_ref() } {
        // One dereference too many is a child's bug; it must not wrap the count to "in use forever".
        let _ = p
            .references
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

unsafe extern "C" fn store_open<H: BusHost, T: Transport>(
    ctx: *mut c_void,
    notify: Option<StoreNotifyFn>,
    notify_ctx: *mut c_void,
    session: *mut u64,
) -> BusStatus {
    // SAFETY: the table's contract; `session` is the caller's out-parameter.
    unsafe {
        with::<H, T>(ctx, |p| {
            if session.is_null() {
                return Err(BusError::InvalidParameter);
            }
            let id = p.open_session(notify.map(|n| Notify::new(n, notify_ctx)));
            put(session, id)
        })
    }
}

unsafe extern "C" fn store_close<H: BusHost, T: Transport>(
    ctx: *mut c_void,
    session: u64,
) -> BusStatus {
    // SAFETY: the table's contract.
    unsafe { with::<H, T>(ctx, |p| p.store.lock().close(session)) }
}

unsafe extern "C" fn store_send<H: BusHost, T: Transport>(
    ctx: *mut c_void,
    session: u64,
    msg: *const u8,
    len: usize,
) -> BusStatus {
    // SAFETY: the table's contract; `msg` is valid for `len` bytes when not null.
    unsafe {
        with::<H, T>(ctx, |p| {
            if msg.is_null() || len > MAX_MESSAGE {
                return Err(BusError::InvalidParameter);
            }
            let bytes = core::slice::from_raw_parts(msg, len);
            let notify = p.store.lock().send(session, bytes)?;
            notify.into_iter().for_each(Notify::call);
            Ok(())
        })
    }
}

unsafe extern "C" fn store_recv<H: BusHost, T: Transport>(
    ctx: *mut c_void,
    session: u64,
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
) -> BusStatus {
    // SAFETY: the table's contract; `buf` is valid for `cap` bytes when not null.
    unsafe {
        with::<H, T>(ctx, |p| {
            if len.is_null() || buf.is_null() || cap > isize::MAX as usize {
                return Err(BusError::InvalidParameter);
            }
            let out = core::slice::from_raw_parts_mut(buf, cap);
            match p.store.lock().recv(session, out) {
                Ok(n) => put(len, n),
                Err(BusError::BufferTooSmall(n)) => {
                    put(len, n)?;
                    Err(BusError::BufferTooSmall(n))
                }
                Err(e) => Err(e),
            }
        })
    }
}

unsafe extern "C" fn grant_region<H: BusHost, T: Transport>(
    ctx: *mut c_void,
    domid: u16,
    pages: u32,
    writable: u8,
    grefs: *mut u32,
    region: *mut BusRegion,
) -> BusStatus {
    // SAFETY: the table's contract; `grefs` is valid for `pages` entries when not null.
    unsafe {
        with::<H, T>(ctx, |p| {
            if pages == 0 || pages > MAX_REGION_PAGES || region.is_null() || grefs.is_null() {
                return Err(BusError::InvalidParameter);
            }
            if !grefs.is_aligned() {
                return Err(BusError::InvalidParameter);
            }
            let refs = core::slice::from_raw_parts_mut(grefs, pages as usize);
            let (handle, va) = p.grant_region(domid, access(writable), refs)?;
            put(
                region,
                BusRegion {
                    va,
                    pages,
                    reserved: 0,
                    handle,
                },
            )
        })
    }
}

unsafe extern "C" fn end_region<H: BusHost, T: Transport>(
    ctx: *mut c_void,
    handle: u64,
) -> BusStatus {
    // SAFETY: the table's contract.
    unsafe { with::<H, T>(ctx, |p| p.end_region(handle)) }
}

unsafe extern "C" fn grant_frame<H: BusHost, T: Transport>(
    ctx: *mut c_void,
    domid: u16,
    gfn: u64,
    writable: u8,
    gref: *mut u32,
) -> BusStatus {
    // SAFETY: the table's contract.
    unsafe {
        with::<H, T>(ctx, |p| {
            if gref.is_null() {
                return Err(BusError::InvalidParameter);
            }
            let g = p.host.grant_frame(domid, gfn, access(writable))?;
            put(gref, g)
        })
    }
}

unsafe extern "C" fn end_frame<H: BusHost, T: Transport>(ctx: *mut c_void, gref: u32) -> BusStatus {
    // SAFETY: the table's contract.
    unsafe { with::<H, T>(ctx, |p| p.host.end_frame(gref)) }
}

unsafe extern "C" fn alloc_unbound<H: BusHost, T: Transport>(
    ctx: *mut c_void,
    remote: u16,
    port: *mut u32,
) -> BusStatus {
    // SAFETY: the table's contract.
    unsafe {
        with::<H, T>(ctx, |p| {
            if port.is_null() {
                return Err(BusError::InvalidParameter);
            }
            let local = p.open_port(|| p.host.alloc_unbound(remote))?;
            put(port, local)
        })
    }
}

unsafe extern "C" fn bind_interdomain<H: BusHost, T: Transport>(
    ctx: *mut c_void,
    remote: u16,
    remote_port: u32,
    port: *mut u32,
) -> BusStatus {
    // SAFETY: the table's contract.
    unsafe {
        with::<H, T>(ctx, |p| {
            if port.is_null() {
                return Err(BusError::InvalidParameter);
            }
            let local = p.open_port(|| p.host.bind_interdomain(remote, remote_port))?;
            put(port, local)
        })
    }
}

unsafe extern "C" fn notify<H: BusHost, T: Transport>(ctx: *mut c_void, port: u32) -> BusStatus {
    // SAFETY: the table's contract.
    unsafe {
        with::<H, T>(ctx, |p| {
            p.host.notify(port);
            Ok(())
        })
    }
}

unsafe extern "C" fn unmask<H: BusHost, T: Transport>(ctx: *mut c_void, port: u32) -> BusStatus {
    // SAFETY: the table's contract.
    unsafe {
        with::<H, T>(ctx, |p| {
            p.host.unmask(port);
            Ok(())
        })
    }
}

unsafe extern "C" fn close<H: BusHost, T: Transport>(ctx: *mut c_void, port: u32) -> BusStatus {
    // SAFETY: the table's contract.
    unsafe {
        with::<H, T>(ctx, |p| {
            p.close_port(port);
            Ok(())
        })
    }
}

unsafe extern "C" fn set_callback<H: BusHost, T: Transport>(
    ctx: *mut c_void,
    port: u32,
    callback: Option<EventFn>,
    callback_ctx: *mut c_void,
) -> BusStatus {
    // SAFETY: the table's contract.
    unsafe { with::<H, T>(ctx, |p| p.set_event_callback(port, callback, callback_ctx)) }
}

unsafe extern "C" fn wall_clock<H: BusHost, T: Transport>(
    ctx: *mut c_void,
    clock: *mut BusWallClock,
) -> BusStatus {
    // SAFETY: the table's contract.
    unsafe {
        with::<H, T>(ctx, |p| {
            if clock.is_null() {
                return Err(BusError::InvalidParameter);
            }
            let c = p.host.wall_clock()?;
            put(clock, c)
        })
    }
}

unsafe extern "C" fn suspend_register<H: BusHost, T: Transport>(
    ctx: *mut c_void,
    callback: Option<SuspendFn>,
    callback_ctx: *mut c_void,
    handle: *mut u64,
) -> BusStatus {
    // SAFETY: the table's contract.
    unsafe {
        with::<H, T>(ctx, |p| {
            let (Some(cb), false) = (callback, handle.is_null()) else {
                return Err(BusError::InvalidParameter);
            };
            put(handle, p.register_suspend(cb, callback_ctx))
        })
    }
}

unsafe extern "C" fn suspend_unregister<H: BusHost, T: Transport>(
    ctx: *mut c_void,
    handle: u64,
) -> BusStatus {
    // SAFETY: the table's contract.
    unsafe { with::<H, T>(ctx, |p| p.unregister_suspend(handle)) }
}

unsafe extern "C" fn request_suspend<H: BusHost, T: Transport>(
    ctx: *mut c_void,
    outcome: *mut u32,
) -> BusStatus {
    // SAFETY: the table's contract.
    unsafe {
        with::<H, T>(ctx, |p| {
            if outcome.is_null() {
                return Err(BusError::InvalidParameter);
            }
            let code = match p.request_suspend()? {
                SuspendOutcome::Resumed => SUSPEND_RESUMED,
                SuspendOutcome::Cancelled => SUSPEND_CANCELLED,
            };
            put(outcome, code)
        })
    }
}
