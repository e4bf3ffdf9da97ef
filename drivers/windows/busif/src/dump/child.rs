//! The child's side of the dump interface: the validated table and safe calls.

use core::fmt;
use core::ops::Range;
use core::ptr::null_mut;

use xenpv_abi::{DomId, EvtchnPort, GrantRef};

use super::{
    DumpInterface, STATUS_BUSY, STATUS_NOT_RESERVED, STATUS_TIMEOUT, XENBUS_DUMP_INTERFACE_SIZE,
    XENBUS_DUMP_INTERFACE_VERSION,
};
use crate::abi::{BusStatus, InterfaceHeader};
use crate::error::BusError;

/// Why a call through the dump interface failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpBusError {
    /// The reference is not one of the reserved range; nothing was written.
    NotReserved(GrantRef),
    /// No store reply within the polls allowed.
    Timeout,
    /// Another store exchange is running.
    Busy,
    Bus(BusError),
}

impl fmt::Display for DumpBusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpBusError::NotReserved(r) => {
                write!(f, "grant reference {r} is not reserved for the dump path")
            }
            DumpBusError::Timeout => f.write_str("no store reply within the polls allowed"),
            DumpBusError::Busy => f.write_str("another store exchange is running"),
            DumpBusError::Bus(e) => write!(f, "{e}"),
        }
    }
}

fn check(status: BusStatus) -> Result<(), DumpBusError> {
    match status.code {
        STATUS_TIMEOUT => Err(DumpBusError::Timeout),
        STATUS_BUSY => Err(DumpBusError::Busy),
        _ => status.result().map_err(DumpBusError::Bus),
    }
}

/// A validated dump interface. It holds the reference the query took and drops it when
/// dropped.
#[derive(Debug)]
pub struct DumpBus {
    table: DumpInterface,
}

impl DumpBus {
    /// An empty table for a QUERY_INTERFACE request to fill.
    pub const fn request() -> DumpInterface {
        DumpInterface {
            header: InterfaceHeader {
                size: XENBUS_DUMP_INTERFACE_SIZE,
                version: XENBUS_DUMP_INTERFACE_VERSION,
                context: null_mut(),
                interface_reference: None,
                interface_dereference: None,
            },
            reserved_refs: None,
            grant_reserved: None,
            end_reserved: None,
            evtchn_alloc_unbound: None,
            evtchn_notify: None,
            evtchn_close: None,
            store_exchange: None,
        }
    }

    /// Checks a table a provider filled in (size, version, context, every function present).
    ///
    /// # Safety
    /// `table` came from a provider (with a reference taken for the caller) that stays alive
    /// until the returned value is dropped.
    pub unsafe fn from_interface(table: DumpInterface) -> Result<DumpBus, BusError> {
        let h = &table.header;
        let complete = table.reserved_refs.is_some()
            && table.grant_reserved.is_some()
            && table.end_reserved.is_some()
            && table.evtchn_alloc_unbound.is_some()
            && table.evtchn_notify.is_some()
            && table.evtchn_close.is_some()
            && table.store_exchange.is_some();
        if h.size < XENBUS_DUMP_INTERFACE_SIZE
            || h.version != XENBUS_DUMP_INTERFACE_VERSION
            || h.context.is_null()
            || h.interface_reference.is_none()
            || h.interface_dereference.is_none()
            || !complete
        {
            return Err(BusError::BadInterface);
        }
        Ok(DumpBus { table })
    }

    /// The references `grant_reserved` accepts (empty if the provider cannot say).
    pub fn reserved(&self) -> Range<GrantRef> {
        let (mut first, mut count) = (0u32, 0u32);
        // SAFETY: validated table, live provider; out-parameters on this stack.
        let status = unsafe {
            (self.table.reserved_refs.unwrap())(self.table.header.context, &mut first, &mut count)
        };
        match status.result() {
            Ok(()) => first..first.saturating_add(count),
            Err(_) => 0..0,
        }
    }

    /// Lets `domid` access frame `gfn` through reserved reference `gref`.
    pub fn grant_reserved(
        &self,
        gref: GrantRef,
        domid: DomId,
        gfn: u64,
        readonly: bool,
    ) -> Result<(), DumpBusError> {
        // SAFETY: validated table, live provider.
        let status = unsafe {
            (self.table.grant_reserved.unwrap())(
                self.table.header.context,
                gref,
                domid,
                gfn,
                u8::from(!readonly),
            )
        };
        if status.code == STATUS_NOT_RESERVED {
            return Err(DumpBusError::NotReserved(gref));
        }
        check(status)
    }

    /// Takes the access [`Self::grant_reserved`] gave away again
    /// ([`BusError::StillInUse`] while the grantee maps the page).
    pub fn end_reserved(&self, gref: GrantRef) -> Result<(), DumpBusError> {
        // SAFETY: validated table, live provider.
        let status = unsafe { (self.table.end_reserved.unwrap())(self.table.header.context, gref) };
        if status.code == STATUS_NOT_RESERVED {
            return Err(DumpBusError::NotReserved(gref));
        }
        check(status)
    }

    pub fn alloc_unbound(&self, remote: DomId) -> Result<EvtchnPort, DumpBusError> {
        let mut port = 0;
        // SAFETY: validated table, live provider; the out-parameter is on this stack.
        check(unsafe {
            (self.table.evtchn_alloc_unbound.unwrap())(self.table.header.context, remote, &mut port)
        })?;
        Ok(port)
    }

    pub fn notify(&self, port: EvtchnPort) -> Result<(), DumpBusError> {
        // SAFETY: validated table, live provider.
        check(unsafe { (self.table.evtchn_notify.unwrap())(self.table.header.context, port) })
    }

    pub fn close(&self, port: EvtchnPort) -> Result<(), DumpBusError> {
        // SAFETY: validated table, live provider.
        check(unsafe { (self.table.evtchn_close.unwrap())(self.table.header.context, port) })
    }

    /// Sends the request `msg` (a whole xenstore message, request id not 0) and polls for its
    /// reply, at most `polls` times; returns the reply's size in `reply`.
    pub fn exchange(
        &self,
        msg: &[u8],
        reply: &mut [u8],
        polls: u32,
    ) -> Result<usize, DumpBusError> {
        let mut len = 0;
        // SAFETY: validated table, live provider; the slices are valid for their lengths.
        check(unsafe {
            (self.table.store_exchange.unwrap())(
                self.table.header.context,
                msg.as_ptr(),
                msg.len(),
                reply.as_mut_ptr(),
                reply.len(),
                &mut len,
                polls,
            )
        })?;
        Ok(len)
    }
}

impl Drop for DumpBus {
    fn drop(&mut self) {
        // SAFETY: validated table; this drops the reference the query took.
        unsafe { (self.table.header.interface_dereference.unwrap())(self.table.header.context) }
    }
}

// SAFETY: the table is thread-safe by the interface's contract.
unsafe impl Send for DumpBus {}
// SAFETY: as above.
unsafe impl Sync for DumpBus {}
