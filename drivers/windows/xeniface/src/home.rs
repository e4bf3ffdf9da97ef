//! The kernel's part of a session ([`xenpv_winiface::session::Home`]): user event objects, event
//! channels and grants of user pages, over XENBUS's interface.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::ffi::c_void;
use core::ptr::null_mut;

use xenpv_abi::{DomId, EvtchnPort, GrantRef};
use xenpv_busif::{Bus, BusError, EventRegistration};
use xenpv_datapath::platform::{Access, PlatformError};
use xenpv_ddk::kernel::KeSetEvent;
use xenpv_ddk::status::nt_success;
use xenpv_ddk::sync::KEvent;
use xenpv_ddk::userio::imports::{
    ExEventObjectType, ObReferenceObjectByHandle, ObfDereferenceObject,
};
use xenpv_ddk::userio::{EVENT_MODIFY_STATE, USER_MODE};
use xenpv_winiface::error::OpError;
use xenpv_winiface::session::{GrantInUse, Home};

/// A user's event object, referenced while a watch or port uses it.
pub struct UserEvent(*mut KEvent);

// SAFETY: a referenced kernel object may be set and dereferenced from any thread.
unsafe impl Send for UserEvent {}

/// Sets `event` (callable at up to DISPATCH_LEVEL).
///
/// # Safety
/// `event` is a referenced event object.
unsafe fn set(event: *mut KEvent) {
    // SAFETY: the caller's promise.
    unsafe { KeSetEvent(event, 0, 0) };
}

pub struct KernelHome {
    bus: Arc<Bus>,
    /// The handler of each bound port (dropping it stops the handler).
    handlers: BTreeMap<EvtchnPort, EventRegistration>,
}

impl KernelHome {
    pub fn new(bus: Arc<Bus>) -> Self {
        KernelHome {
            bus,
            handlers: BTreeMap::new(),
        }
    }

    /// Sets `event` on every event of `port`, then lets the port raise the next one.
    fn handle(&mut self, port: EvtchnPort, event: &UserEvent) -> Result<EvtchnPort, PlatformError> {
        let bus = self.bus.clone();
        let target = event.0 as usize;
        let registration = self
            .bus
            .on_event(port, move |port| {
                // SAFETY: the event stays referenced until after this handler is dropped
                // (`close` drops it before the session releases the event).
                unsafe { set(target as *mut KEvent) };
                let _ = bus.unmask(port);
            })
            .map_err(PlatformError::from)?;
        self.handlers.insert(port, registration);
        // Events may have arrived before the handler: let them through.
        let _ = self.bus.unmask(port);
        Ok(port)
    }
}

impl Home for KernelHome {
    type Event = UserEvent;

    fn reference_event(&mut self, handle: u64) -> Result<UserEvent, OpError> {
        let mut object: *mut c_void = null_mut();
        // SAFETY: runs in the caller's process (the top of the stack gets IOCTLs in the calling
        // thread), so the handle is resolved in the caller's handle table, with the caller's
        // access checked (UserMode) and the object type checked against events.
        let status = unsafe {
            ObReferenceObjectByHandle(
                handle as usize as *mut c_void,
                EVENT_MODIFY_STATE,
                core::ptr::addr_of!(ExEventObjectType).read(),
                USER_MODE,
                &mut object,
                null_mut(),
            )
        };
        if nt_success(status) && !object.is_null() {
            Ok(UserEvent(object.cast()))
        } else {
            Err(OpError::BadHandle)
        }
    }

    fn release_event(&mut self, event: UserEvent) {
        // SAFETY: drops the reference `reference_event` took.
        unsafe { ObfDereferenceObject(event.0.cast()) };
    }

    fn signal(&mut self, event: &UserEvent) {
        // SAFETY: referenced by the session that owns `event`.
        unsafe { set(event.0) };
    }

    fn alloc_unbound(
        &mut self,
        remote: DomId,
        event: &UserEvent,
    ) -> Result<EvtchnPort, PlatformError> {
        let port = self
            .bus
            .alloc_unbound(remote)
            .map_err(PlatformError::from)?;
        self.handle(port, event).inspect_err(|_| {
            let _ = self.bus.close(port);
        })
    }

    fn bind_interdomain(
        &mut self,
        remote: DomId,
        remote_port: EvtchnPort,
        event: &UserEvent,
    ) -> Result<EvtchnPort, PlatformError> {
        let port = self
            .bus
            .bind_interdomain(remote, remote_port)
            .map_err(PlatformError::from)?;
        self.handle(port, event).inspect_err(|_| {
            let _ = self.bus.close(port);
        })
    }

    fn notify(&mut self, port: EvtchnPort) -> Result<(), PlatformError> {
        self.bus.notify(port).map_err(PlatformError::from)
    }

    fn close(&mut self, port: EvtchnPort) {
        // The handler first (waits for a call in progress), then the port.
        drop(self.handlers.remove(&port));
        let _ = self.bus.close(port);
    }

    fn grant_frame(
        &mut self,
        domid: DomId,
        gfn: u64,
        read_only: bool,
    ) -> Result<GrantRef, PlatformError> {
        let access = if read_only {
            Access::ReadOnly
        } else {
            Access::ReadWrite
        };
        self.bus
            .grant_frame(domid, gfn, access)
            .map_err(PlatformError::from)
    }

    fn end_grant(&mut self, gref: GrantRef) -> Result<(), GrantInUse> {
        match self.bus.end_frame(gref) {
            Err(BusError::StillInUse) => Err(GrantInUse),
            // Ended, or not a grant the bus knows (nothing left to end).
            _ => Ok(()),
        }
    }
}
