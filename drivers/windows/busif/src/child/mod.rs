//! The child's side: [`Bus`] (the validated table, one safe method per function),
//! [`BusPlatform`] (the cores' platform traits over it) and [`BusTransport`] / [`BusStore`]
//! (a xenstore client over a store session).

mod platform;
mod store;

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::ffi::c_void;
use core::ptr::null_mut;

use xenpv_abi::{DomId, EvtchnPort, GrantRef};
use xenpv_datapath::platform::Access;

use crate::abi::*;
use crate::error::BusError;
use crate::provider::SuspendOutcome;

pub use platform::BusPlatform;
pub use store::{open_store, BusStore, BusTransport, StoreWaker};

/// Calls a function of the table; a missing one is [`BusError::BadInterface`] (never the case
/// after [`Bus::from_interface`], but kept total).
macro_rules! call {
    ($bus:expr, $f:ident $(, $arg:expr)*) => {
        match $bus.table.$f {
            // SAFETY: `from_interface`'s contract: the table's functions may be called with its
            // context until the reference is dropped, which only `Drop for Bus` does.
            Some(f) => unsafe { f($bus.table.header.context $(, $arg)*) }.result(),
            None => Err(BusError::BadInterface),
        }
    };
}
pub(crate) use call;

/// A child's reference to its bus.
#[derive(Debug)]
pub struct Bus {
    table: BusInterface,
}

impl Bus {
    /// Takes over the table (and the reference on the provider that comes with it) that
    /// IRP_MN_QUERY_INTERFACE filled in, after checking it: the size and version of this crate,
    /// a context, and every function present. A table that fails is [`BusError::BadInterface`]
    /// and nothing of it is called.
    ///
    /// # Safety
    /// `table` comes from a XENBUS provider (a QUERY_INTERFACE for [`XENBUS_INTERFACE_GUID`] that
    /// succeeded); its functions may be called until its `interface_dereference` is.
    pub unsafe fn from_interface(table: BusInterface) -> Result<Bus, BusError> {
        let h = &table.header;
        let complete = table.store_open.is_some()
            && table.store_close.is_some()
            && table.store_send.is_some()
            && table.store_recv.is_some()
            && table.grant_region.is_some()
            && table.end_region.is_some()
            && table.grant_frame.is_some()
            && table.end_frame.is_some()
            && table.evtchn_alloc_unbound.is_some()
            && table.evtchn_bind_interdomain.is_some()
            && table.evtchn_notify.is_some()
            && table.evtchn_unmask.is_some()
            && table.evtchn_close.is_some()
            && table.evtchn_set_callback.is_some()
            && table.wall_clock.is_some()
            && table.suspend_register.is_some()
            && table.suspend_unregister.is_some()
            && table.request_suspend.is_some();
        if h.size < XENBUS_INTERFACE_SIZE
            || h.version != XENBUS_INTERFACE_VERSION
            || h.context.is_null()
            || h.interface_reference.is_none()
            || h.interface_dereference.is_none()
            || !complete
        {
            return Err(BusError::BadInterface);
        }
        Ok(Bus { table })
    }

    /// An empty table for a QUERY_INTERFACE request to fill (`Size` and `Version` set, the rest
    /// null).
    pub const fn request() -> BusInterface {
        BusInterface {
            header: InterfaceHeader {
                size: XENBUS_INTERFACE_SIZE,
                version: XENBUS_INTERFACE_VERSION,
                context: null_mut(),
                interface_reference: None,
                interface_dereference: None,
            },
            store_open: None,
            store_close: None,
            store_send: None,
            store_recv: None,
            grant_region: None,
            end_region: None,
            grant_frame: None,
            end_frame: None,
            evtchn_alloc_unbound: None,
            evtchn_bind_interdomain: None,
            evtchn_notify: None,
            evtchn_unmask: None,
            evtchn_close: None,
            evtchn_set_callback: None,
            wall_clock: None,
            suspend_register: None,
            suspend_unregister: None,
            request_suspend: None,
        }
    }

    /// Allocates `pages` zeroed pages mapped contiguously, each granted to `domid`; the references
    /// go to `grefs` (whose length is the page count).
    pub fn grant_region(
        &self,
        domid: DomId,
        access: Access,
        grefs: &mut [GrantRef],
    ) -> Result<BusRegion, BusError> {
        let pages = u32::try_from(grefs.len()).map_err(|_| BusError::InvalidParameter)?;
        let mut region = BusRegion {
            va: null_mut(),
            pages: 0,
            reserved: 0,
            handle: 0,
        };
        call!(
            self,
            grant_region,
            domid,
            pages,
            u8::from(access == Access::ReadWrite),
            grefs.as_mut_ptr(),
            &mut region
        )?;
        Ok(region)
    }

    /// Ends a region's grants and frees it ([`BusError::StillInUse`]: kept, try again later).
    pub fn end_region(&self, handle: u64) -> Result<(), BusError> {
        call!(self, end_region, handle)
    }

    /// Grants the guest frame `gfn` (memory the child owns, e.g. an MDL's page) to `domid`.
    pub fn grant_frame(
        &self,
        domid: DomId,
        gfn: u64,
        access: Access,
    ) -> Result<GrantRef, BusError> {
        let mut gref = 0;
        call!(
            self,
            grant_frame,
            domid,
            gfn,
            u8::from(access == Access::ReadWrite),
            &mut gref
        )?;
        Ok(gref)
    }

    /// Ends a grant of [`Bus::grant_frame`] ([`BusError::StillInUse`] while the backend maps it).
    pub fn end_frame(&self, gref: GrantRef) -> Result<(), BusError> {
        call!(self, end_frame, gref)
    }

    pub fn alloc_unbound(&self, remote: DomId) -> Result<EvtchnPort, BusError> {
        let mut port = 0;
        call!(self, evtchn_alloc_unbound, remote, &mut port)?;
        Ok(port)
    }

    pub fn bind_interdomain(
        &self,
        remote: DomId,
        remote_port: EvtchnPort,
    ) -> Result<EvtchnPort, BusError> {
        let mut port = 0;
        call!(
            self,
            evtchn_bind_interdomain,
            remote,
            remote_port,
            &mut port
        )?;
        Ok(port)
    }

    pub fn notify(&self, port: EvtchnPort) -> Result<(), BusError> {
        call!(self, evtchn_notify, port)
    }

    pub fn unmask(&self, port: EvtchnPort) -> Result<(), BusError> {
        call!(self, evtchn_unmask, port)
    }

    /// Closes `port` and drops its callback.
    pub fn close(&self, port: EvtchnPort) -> Result<(), BusError> {
        call!(self, evtchn_close, port)
    }

    /// Calls `handler(port)` from the bus's event DPC (DISPATCH_LEVEL) whenever `port` fires,
    /// until the returned registration is dropped (which waits for a call in progress). The port
    /// stays masked after each event until [`Bus::unmask`].
    pub fn on_event<F>(
        self: &Arc<Self>,
        port: EvtchnPort,
        handler: F,
    ) -> Result<EventRegistration, BusError>
    where
        F: Fn(EvtchnPort) + Send + Sync + 'static,
    {
        unsafe extern "C" fn trampoline<F: Fn(EvtchnPort)>(ctx: *mut c_void, port: u32) {
            // SAFETY: `ctx` is the Box<F> leaked by `on_event`, freed only after the callback
            // is cleared.
            unsafe { (*(ctx as *const F))(port) }
        }
        let ctx = Box::into_raw(Box::new(handler)) as *mut c_void;
        let r = call!(self, evtchn_set_callback, port, Some(trampoline::<F>), ctx);
        let registration = Registration {
            bus: self.clone(),
            context: ctx,
            free: free_box::<F>,
        };
        match r {
            Ok(()) => Ok(EventRegistration {
                inner: registration,
                port,
            }),
            Err(e) => {
                // Never registered: free the handler without unregistering.
                registration.free_now();
                Err(e)
            }
        }
    }

    /// The current wall-clock time (seconds and nanoseconds since the Unix epoch).
    pub fn wall_clock(&self) -> Result<BusWallClock, BusError> {
        let mut c = BusWallClock::default();
        call!(self, wall_clock, &mut c)?;
        Ok(c)
    }

    /// Asks the bus to suspend the domain (see `BusInterface::request_suspend`); returns how it
    /// ended. Every `on_suspend` handler, this child's too, runs inside this call: the caller holds
    /// nothing its handler takes.
    pub fn request_suspend(&self) -> Result<SuspendOutcome, BusError> {
        let mut outcome = u32::MAX;
        call!(self, request_suspend, &mut outcome)?;
        match outcome {
            SUSPEND_RESUMED => Ok(SuspendOutcome::Resumed),
            SUSPEND_CANCELLED => Ok(SuspendOutcome::Cancelled),
            other => Err(BusError::Unknown(other)),
        }
    }

    /// Calls `handler(phase)` (`SUSPEND_PHASE_*`) at PASSIVE_LEVEL around each suspend, until the
    /// returned registration is dropped.
    pub fn on_suspend<F>(self: &Arc<Self>, handler: F) -> Result<SuspendRegistration, BusError>
    where
        F: Fn(u32) + Send + Sync + 'static,
    {
        unsafe extern "C" fn trampoline<F: Fn(u32)>(ctx: *mut c_void, phase: u32) {
            // SAFETY: as in `on_event`.
            unsafe { (*(ctx as *const F))(phase) }
        }
        let ctx = Box::into_raw(Box::new(handler)) as *mut c_void;
        let mut handle = 0;
        let r = call!(
            self,
            suspend_register,
            Some(trampoline::<F>),
            ctx,
            &mut handle
        );
        let registration = Registration {
            bus: self.clone(),
            context: ctx,
            free: free_box::<F>,
        };
        match r {
            Ok(()) => Ok(SuspendRegistration {
                inner: registration,
                handle,
            }),
            Err(e) => {
                registration.free_now();
                Err(e)
            }
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        if let Some(deref) = self.table.header.interface_dereference {
            // SAFETY: drops the reference `from_interface` took over; nothing calls the table after.
            unsafe { deref(self.table.header.context) };
        }
    }
}

/// # Safety
/// `ctx` is a `Box<F>` leaked with `Box::into_raw`, no longer used by anyone.
unsafe fn free_box<F>(ctx: *mut c_void) {
    // SAFETY: the caller's contract.
    drop(unsafe { Box::from_raw(ctx as *mut F) });
}

/// A leaked handler and how to free it.
struct Registration {
    bus: Arc<Bus>,
    context: *mut c_void,
    free: unsafe fn(*mut c_void),
}

impl Registration {
    fn free_now(self) {
        // SAFETY: the handler was never registered, or is no longer (see the Drops below).
        unsafe { (self.free)(self.context) };
    }
}

// SAFETY: the handler behind `context` is Send + Sync (required by on_event/on_suspend).
unsafe impl Send for Registration {}
// SAFETY: as above.
unsafe impl Sync for Registration {}

/// A handler of [`Bus::on_event`]; dropping it clears the callback, then frees the handler.
pub struct EventRegistration {
    inner: Registration,
    port: EvtchnPort,
}

impl EventRegistration {
    pub fn port(&self) -> EvtchnPort {
        self.port
    }
}

impl Drop for EventRegistration {
    fn drop(&mut self) {
        let bus = &self.inner.bus;
        // The provider returns once no call is running; if it refuses (a port beyond its table
        // could not have been registered), the handler was never reachable either.
        let _ = call!(bus, evtchn_set_callback, self.port, None, null_mut());
        // SAFETY: cleared above; nothing calls the handler any more.
        unsafe { (self.inner.free)(self.inner.context) };
    }
}

/// A handler of [`Bus::on_suspend`]; dropping it unregisters, then frees the handler.
pub struct SuspendRegistration {
    inner: Registration,
    handle: u64,
}

impl Drop for SuspendRegistration {
    fn drop(&mut self) {
        let bus = &self.inner.bus;
        if call!(bus, suspend_unregister, self.handle).is_ok() {
            // SAFETY: unregistered; the provider calls suspend handlers only under its list.
            unsafe { (self.inner.free)(self.inner.context) };
        }
        // Otherwise the provider may still know the handler: leaking it is the safe choice.
    }
}
