//! The interface XENBUS gives its child devices (XENNET, XENVBD, XENIFACE): xenstore, grants,
//! event channels, the wall clock and suspend notifications, as one C-ABI table handed over
//! through IRP_MN_QUERY_INTERFACE.
//!
//! # Obtaining it (a child driver)
//!
//! Children are enumerated by XENBUS with the hardware IDs [`HARDWARE_ID_VIF`] (`XENPV\VIF`, one
//! per `device/vif/N`), [`HARDWARE_ID_VBD`] (`XENPV\VBD`, per `device/vbd/N`) and
//! [`HARDWARE_ID_IFACE`] (`XENPV\IFACE`, one per bus); the instance ID is the xenstore device id
//! `N` (`0` for XENIFACE). The child sends IRP_MN_QUERY_INTERFACE down its stack with
//! `InterfaceType = &`[`XENBUS_INTERFACE_GUID`], `Size = `[`XENBUS_INTERFACE_SIZE`],
//! `Version = `[`XENBUS_INTERFACE_VERSION`] and `Interface` pointing at a [`BusInterface`]
//! (start from [`Bus::request`]). On success the table holds a reference on XENBUS; the child
//! wraps it with `unsafe { Bus::from_interface(table) }` (validated: size, version, context,
//! every function present), puts it in an `Arc`, and from then on uses only safe calls. Dropping
//! the last `Arc<Bus>` calls `InterfaceDereference`.
//!
//! # Using it
//!
//! - Data path: [`BusPlatform::new`]`(bus)` implements `xenpv_datapath::platform::{Grants,
//!   EventChannels}` (so `Platform`): the netif and blkif cores run on it unchanged. Granted
//!   regions are allocated by XENBUS (contiguous, zeroed, granted page by page) and released with
//!   still-in-use reporting, exactly as the trait says.
//! - Events: [`Bus::on_event`]`(port, |port| ..)` runs a handler from XENBUS's event DPC
//!   (DISPATCH_LEVEL); the port stays masked until [`Bus::unmask`]. Dropping the returned
//!   [`EventRegistration`] clears it (waiting for a call in progress). Also
//!   [`Bus::alloc_unbound`], [`Bus::bind_interdomain`], [`Bus::notify`], [`Bus::close`].
//! - Grants of the child's own frames (zero copy): [`Bus::grant_frame`] / [`Bus::end_frame`]
//!   ([`BusError::StillInUse`] while the backend maps the frame).
//! - Store: [`open_store`]`(&bus, waker)` gives a [`BusStore`], which *is* the control plane's
//!   `Client` over a [`BusTransport`]: `Store` (read, write, directory, rm, mkdir, perms),
//!   watches (`watch`, `wait_event_for`, `take_event`), transactions (`transaction` with retry),
//!   and the vif/vbd device machines all run on it. The [`StoreWaker`] is how the session waits
//!   (an auto-reset KEVENT in a driver). Each session is its own connection as far as the child
//!   can tell: own request ids, watch tokens and transactions.
//! - Clock and suspend: [`Bus::wall_clock`]; [`Bus::on_suspend`] calls a handler with
//!   [`SUSPEND_PHASE_SUSPEND`] before and [`SUSPEND_PHASE_RESUME`] (or, cancelled,
//!   [`SUSPEND_PHASE_CANCELLED`]) after a suspend, which a child asks for with
//!   [`Bus::request_suspend`].
//!
//! Every function of the table returns a [`BusStatus`], typed on the child side as
//! [`BusError`]; null pointers, bad lengths, unknown sessions/handles/ports, oversized or
//! malformed store messages are errors, never panics.
//!
//! # Providing it (XENBUS)
//!
//! [`Provider::new`]`(host, client)` over any [`BusHost`] (the cores' `Platform` plus binding,
//! frame grants, the clock and the number of ports) and XENBUS's xenstore `Client`; the PDO's
//! QUERY_INTERFACE calls [`answer_query_interface`]. The home drives it with
//! [`Provider::deliver_event`] (event DPC), [`Provider::poll_store`] (store event, at
//! PASSIVE_LEVEL) and [`Provider::suspend`].
//!
//! # The dump interface
//!
//! [`dump`]: a second interface (its own GUID) for XENVBD's crash-dump / hibernation instance —
//! reserved grant references, event channels and a polled store, all callable at any IRQL
//! without locks or allocation. With feature `sim`, [`sim_dump`] serves it over the sim.
//!
//! # Testing on the host
//!
//! Feature `sim` adds [`sim`]: a provider over the simulated Xen host (a guest's platform and
//! store ring, with dom0's xenstored and backends), so that a child driver's logic can be tested
//! over a real bus interface: `SimBus::new()`, `.child()`, `Poller::start(&bus.provider)`.
#![no_std]
extern crate alloc;
#[cfg(any(test, feature = "sim"))]
extern crate std;

mod abi;
mod child;
pub mod dump;
mod error;
mod lock;
mod provider;
mod query;
#[cfg(feature = "sim")]
pub mod sim;
#[cfg(feature = "sim")]
pub mod sim_dump;

pub use abi::*;
pub use child::{
    open_store, Bus, BusPlatform, BusStore, BusTransport, EventRegistration, StoreWaker,
    SuspendRegistration,
};
pub use error::BusError;
pub use provider::{
    BusHost, Provider, SuspendOutcome, MAX_MESSAGE, MAX_QUEUED_EVENTS, MAX_QUEUED_REPLIES,
    MAX_REGION_PAGES,
};
pub use query::{answer_query_interface, QueryAnswer};
