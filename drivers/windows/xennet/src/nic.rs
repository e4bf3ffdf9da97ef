//! One XENNET adapter: the portable [`Adapter`] behind a lock that no DISPATCH_LEVEL caller ever
//! waits on, the receive buffers NDIS allocated for it, its event registrations and its store
//! work item.
//!
//! The store session blocks (it waits for xenstored), so the store work runs at PASSIVE_LEVEL
//! holding the adapter; the data path runs at DISPATCH_LEVEL (send, return, the event DPC) and
//! must never spin on a lock a preempted PASSIVE_LEVEL holder on the same processor has. So the
//! DISPATCH_LEVEL paths only *try* the lock: when it is taken they leave their work (lists
//! pushed on lock-free stacks, a poll request flag) and the holder does it before it lets go.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, Ordering};

use xenpv_abi::EvtchnPort;
use xenpv_busif::{open_store, Bus, BusPlatform, BusTransport, EventRegistration};
use xenpv_busif::{
    BusError, XENBUS_INTERFACE_GUID, XENBUS_INTERFACE_SIZE, XENBUS_INTERFACE_VERSION,
};
use xenpv_control::vif::VifWishes;
use xenpv_ddk::lower::{query_instance_id, query_interface, LowerError};
use xenpv_ddk::memory::MM_CACHED;
use xenpv_ddk::ndis::imports::*;
use xenpv_ddk::ndis::miniport::*;
use xenpv_ddk::ndis::nbl::{
    Mdl, NetBufferList, MDL_MAPPED_TO_SYSTEM_VA, MDL_SOURCE_IS_NONPAGED_POOL,
};
use xenpv_ddk::ndis::oid::{
    NdisOidRequest, NDIS_REQUEST_QUERY_INFORMATION, NDIS_REQUEST_QUERY_STATISTICS,
    NDIS_REQUEST_SET_INFORMATION,
};
use xenpv_ddk::ndis::*;
use xenpv_ddk::object::DeviceObject;
use xenpv_ddk::sync::KERNEL_MODE;
use xenpv_winnet::adapter::{vif_number, Adapter};
use xenpv_winnet::chain::{self, NblStack};
use xenpv_winnet::oid::{media_connect_state, TABLE};
use xenpv_winnet::recv::{RxBuffer, RxPool};

use crate::waker::KernelWaker;

type NetAdapter = Adapter<BusPlatform, BusTransport<KernelWaker>>;

/// Receive buffers per adapter, each big enough for a coalesced 64 KiB receive.
const RX_BUFFERS: usize = 128;
const RX_BUFFER_SIZE: usize = 65536 + 256;
/// Store waits (100 ms each) MiniportInitializeEx gives the backend to connect; without it the
/// adapter starts with the link down and connects when the backend does.
const CONNECT_WAITS: u32 = 50;
const MTU: u32 = 1500;
const LINK_SPEED: u64 = 10_000_000_000;
/// The pool tag of NDIS allocations ("xnet").
const TAG: u32 = u32::from_le_bytes(*b"xnet");

/// What a pass over the adapter produced, delivered to NDIS once the lock is released.
#[derive(Default)]
struct Outputs {
    completed: (*mut NetBufferList, u32),
    received: (*mut NetBufferList, u32),
    pause_complete: bool,
    link: Option<bool>,
    offload: Option<NdisOffload>,
}

struct Inner {
    adapter: NetAdapter,
    pausing: bool,
}

/// One adapter.
pub struct Nic {
    handle: NdisHandle,
    bus: Arc<Bus>,
    waker: Arc<KernelWaker>,
    locked: AtomicBool,
    inner: UnsafeCell<Option<Inner>>,
    poll_wanted: AtomicBool,
    sends: NblStack,
    returns: NblStack,
    work_item: NdisHandle,
    work_queued: AtomicBool,
    halting: AtomicBool,
    registrations: UnsafeCell<Vec<EventRegistration>>,
    nbl_pool: NdisHandle,
    rx_mdls: Vec<*mut Mdl>,
    rx_memory: Vec<Vec<u8>>,
    oids: Vec<u32>,
}

// SAFETY: `inner` is reached only under `locked`, `registrations` only from PASSIVE_LEVEL
// paths NDIS serialises (initialise, halt, the one store work item), the rest is atomics or
// set once at initialisation.
unsafe impl Send for Nic {}
// SAFETY: as above.
unsafe impl Sync for Nic {}

/// Maps every MDL of a send chain that has no system address yet (`NdisQueryMdl`).
///
/// # Safety
/// `head` is a chain NDIS handed to the miniport.
unsafe fn map_mdls(head: *mut NetBufferList) {
    // SAFETY: lists, NET_BUFFERs and MDLs of a send chain are valid until completed.
    unsafe {
        for nbl in chain::iter(head) {
            let mut nb = (*nbl).first_net_buffer;
            while !nb.is_null() {
                let mut mdl = (*nb).mdl_chain;
                while !mdl.is_null() {
                    if (*mdl).mdl_flags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL)
                        == 0
                    {
                        // Sets MappedSystemVa and MDL_MAPPED_TO_SYSTEM_VA; on failure the MDL stays
                        // unmapped and the packet is refused (SendError::Unmapped).
                        MmMapLockedPagesSpecifyCache(
                            mdl,
                            KERNEL_MODE,
                            MM_CACHED,
                            null_mut(),
                            0,
                            NORMAL_PAGE_PRIORITY | MDL_MAPPING_NO_EXECUTE,
                        );
                    }
                    mdl = (*mdl).next;
                }
                nb = (*nb).next;
            }
        }
    }
}

/// `KeGetCurrentIrql`: wdm.h defines it for x64 as `__readcr8()`, the task priority register.
fn current_irql() -> u8 {
    let irql: u64;
    // SAFETY: reading CR8 has no side effects and is allowed in kernel mode.
    unsafe {
        core::arch::asm!("mov {}, cr8", out(reg) irql, options(nomem, nostack, preserves_flags))
    };
    irql as u8
}

/// `DISPATCH_LEVEL`.
const DISPATCH_LEVEL: u8 = 2;

impl Nic {
    fn try_lock(&self) -> bool {
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }

    fn pending(&self) -> bool {
        self.poll_wanted.load(Ordering::Acquire)
            || !self.sends.is_empty()
            || !self.returns.is_empty()
    }

    /// The deferred work, under the lock: returned lists, queued sends, a poll.
    fn work(&self, inner: &mut Inner, out: &mut Outputs) {
        let a = &mut inner.adapter;
        let returns = self.returns.take_all();
        // SAFETY: lists NDIS returned, all from this adapter's pool.
        unsafe { a.return_nbls(returns) };
        let sends = self.sends.take_all();
        // SAFETY: lists NDIS handed to MiniportSendNetBufferLists, mapped there.
        unsafe { a.send(sends) };
        if self.poll_wanted.swap(false, Ordering::AcqRel) {
            a.poll();
        }
        out.completed = a.take_completed();
        out.received = a.take_received();
        if inner.pausing && a.is_quiet() {
            inner.pausing = false;
            out.pause_complete = true;
        }
    }

    /// Runs `f` on the adapter from PASSIVE_LEVEL (spinning for the lock is allowed there: a
    /// holder at DISPATCH_LEVEL on another processor finishes quickly), then the deferred work.
    fn with<R>(&self, f: impl FnOnce(&mut Inner, &mut Outputs) -> R) -> R {
        while !self.try_lock() {
            core::hint::spin_loop();
        }
        let mut out = Outputs::default();
        // SAFETY: the lock is held; `inner` is Some from initialisation to halt.
        let inner = unsafe { (*self.inner.get()).as_mut() };
        let r = match inner {
            Some(inner) => {
                let r = f(inner, &mut out);
                self.work(inner, &mut out);
                Some(r)
            }
            None => None,
        };
        self.unlock();
        self.deliver(out);
        self.kick();
        r.unwrap_or_else(|| unreachable!("the adapter exists between initialise and halt"))
    }

    /// Does the deferred work if nobody else is (any IRQL up to DISPATCH_LEVEL).
    fn kick(&self) {
        while self.pending() && self.try_lock() {
            let mut out = Outputs::default();
            // SAFETY: the lock is held.
            if let Some(inner) = unsafe { (*self.inner.get()).as_mut() } {
                self.work(inner, &mut out);
            }
            self.unlock();
            self.deliver(out);
        }
    }

    /// Hands results to NDIS (no lock held: NDIS may call back into the miniport).
    fn deliver(&self, out: Outputs) {
        // Both calls must say whether the caller runs at DISPATCH_LEVEL; deliveries happen from
        // the event DPC and from PASSIVE_LEVEL handlers alike.
        let dispatch = current_irql() >= DISPATCH_LEVEL;
        let (completed, n) = out.completed;
        if n > 0 {
            let flags = if dispatch {
                NDIS_SEND_COMPLETE_FLAGS_DISPATCH_LEVEL
            } else {
                0
            };
            // SAFETY: completed send lists, handed back once.
            unsafe { NdisMSendNetBufferListsComplete(self.handle, completed, flags) };
        }
        let (received, n) = out.received;
        if n > 0 {
            let flags = if dispatch {
                NDIS_RECEIVE_FLAGS_DISPATCH_LEVEL
            } else {
                0
            };
            // SAFETY: lists of this adapter's pool, filled and owned until returned.
            unsafe {
                NdisMIndicateReceiveNetBufferLists(
                    self.handle,
                    received,
                    NDIS_DEFAULT_PORT_NUMBER,
                    n,
                    flags,
                )
            };
        }
        if out.pause_complete {
            // SAFETY: a pause this adapter returned NDIS_STATUS_PENDING for.
            unsafe { NdisMPauseComplete(self.handle) };
        }
        if let Some(up) = out.link {
            self.indicate_link(up);
        }
        if let Some(mut offload) = out.offload {
            self.indicate(
                NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG,
                (&mut offload as *mut NdisOffload).cast(),
                core::mem::size_of::<NdisOffload>(),
            );
        }
    }

    fn indicate(&self, code: NdisStatus, buffer: *mut c_void, size: usize) {
        let mut s = NdisStatusIndication {
            header: ObjectHeader::new(
                NDIS_OBJECT_TYPE_STATUS_INDICATION,
                NDIS_STATUS_INDICATION_REVISION_1,
                core::mem::size_of::<NdisStatusIndication>(),
            ),
            source_handle: self.handle,
            port_number: 0,
            status_code: code,
            flags: 0,
            destination_handle: null_mut(),
            request_id: null_mut(),
            status_buffer: buffer,
            status_buffer_size: size as u32,
            guid: [0; 16],
            ndis_reserved: [null_mut(); 4],
        };
        // SAFETY: the indication and its buffer live across the call.
        unsafe { NdisMIndicateStatusEx(self.handle, &mut s) };
    }

    fn indicate_link(&self, up: bool) {
        let speed = if up { LINK_SPEED } else { 0 };
        let mut state = NdisLinkState {
            header: ObjectHeader::new(
                NDIS_OBJECT_TYPE_DEFAULT,
                NDIS_LINK_STATE_REVISION_1,
                core::mem::size_of::<NdisLinkState>(),
            ),
            media_connect_state: media_connect_state(up),
            media_duplex_state: MEDIA_DUPLEX_STATE_FULL,
            xmit_link_speed: speed,
            rcv_link_speed: speed,
            pause_functions: NDIS_PAUSE_FUNCTIONS_UNSUPPORTED,
            auto_negotiation_flags: NDIS_LINK_STATE_SPEEDS_AUTO_NEGOTIATED,
        };
        self.indicate(
            NDIS_STATUS_LINK_STATE,
            (&mut state as *mut NdisLinkState).cast(),
            core::mem::size_of::<NdisLinkState>(),
        );
    }

    /// The event DPC of one of the adapter's ports (DISPATCH_LEVEL).
    fn on_event(&self, port: EvtchnPort) {
        self.poll_wanted.store(true, Ordering::Release);
        self.kick();
        // Unmasked after the poll: an event that arrives from here on fires again.
        let _ = self.bus.unmask(port);
    }

    /// MiniportSendNetBufferLists (any IRQL up to DISPATCH_LEVEL).
    pub fn send(&self, nbls: *mut NetBufferList) {
        // SAFETY: the chain NDIS handed over.
        unsafe { map_mdls(nbls) };
        // SAFETY: the chain NDIS handed over, ours until completed.
        unsafe { self.sends.push_chain(nbls) };
        self.kick();
    }

    /// MiniportReturnNetBufferLists.
    pub fn return_nbls(&self, nbls: *mut NetBufferList) {
        // SAFETY: lists NDIS returns, ours again.
        unsafe { self.returns.push_chain(nbls) };
        self.kick();
    }

    /// Store traffic arrived: have the store work run at PASSIVE_LEVEL (once at a time).
    pub fn schedule_store_work(&self) {
        if self.halting.load(Ordering::Acquire) || self.work_queued.swap(true, Ordering::AcqRel) {
            return;
        }
        // SAFETY: the work item lives until halt, which waits for it to have run.
        unsafe {
            NdisQueueIoWorkItem(
                self.work_item,
                store_work,
                self as *const Nic as *mut c_void,
            )
        };
    }

    /// Watch events, link changes, new event channels after a reconnect (PASSIVE_LEVEL).
    fn store_work(&self) {
        self.work_queued.store(false, Ordering::Release);
        if self.halting.load(Ordering::Acquire) {
            return;
        }
        let ports = self.with(|inner, out| {
            let a = &mut inner.adapter;
            // A failed store session leaves the adapter as it is; the next event retries.
            let _ = a.pump_store();
            out.link = a.link_change();
            out.offload = a.take_offload_change();
            a.event_ports()
        });
        self.register(ports);
    }

    /// Points the bus's event callbacks at this adapter for `ports` (PASSIVE_LEVEL).
    fn register(&self, ports: Vec<EvtchnPort>) {
        // SAFETY: PASSIVE_LEVEL paths NDIS serialises are the only users.
        let regs = unsafe { &mut *self.registrations.get() };
        if regs.iter().map(|r| r.port()).eq(ports.iter().copied()) {
            return;
        }
        // Dropping waits for a callback in progress; callbacks never wait on our lock.
        regs.clear();
        let me = self as *const Nic as usize;
        for port in ports {
            let handler = move |p: EvtchnPort| {
                // SAFETY: registrations are dropped before the adapter is freed.
                unsafe { (*(me as *const Nic)).on_event(p) }
            };
            if let Ok(r) = self.bus.on_event(port, handler) {
                regs.push(r);
                let _ = self.bus.unmask(port);
            }
        }
    }

    /// MiniportOidRequest: answered synchronously.
    pub fn oid_request(&self, request: &mut NdisOidRequest) -> NdisStatus {
        let data = &mut request.data;
        let len = data.information_buffer_length as usize;
        let buf: &mut [u8] = if data.information_buffer.is_null() || len == 0 {
            &mut []
        } else {
            // SAFETY: NDIS gives a buffer of InformationBufferLength bytes.
            unsafe { core::slice::from_raw_parts_mut(data.information_buffer.cast(), len) }
        };
        let kind = request.request_type;
        let oid = data.oid;
        let result = self.with(|inner, out| {
            let a = &mut inner.adapter;
            let r = match kind {
                NDIS_REQUEST_QUERY_INFORMATION | NDIS_REQUEST_QUERY_STATISTICS => {
                    Some(a.oid_query(oid, buf))
                }
                NDIS_REQUEST_SET_INFORMATION => Some(a.oid_set(oid, buf)),
                _ => None,
            };
            out.offload = a.take_offload_change();
            r
        });
        match result {
            Some(r) => {
                data.bytes_written_or_read = r.bytes;
                data.bytes_needed = r.needed;
                r.status
            }
            None => NDIS_STATUS_NOT_SUPPORTED,
        }
    }

    /// MiniportPause: NDIS_STATUS_PENDING until every send completed and receive came back.
    pub fn pause(&self) -> NdisStatus {
        self.with(|inner, _| {
            if inner.adapter.pause() {
                NDIS_STATUS_SUCCESS
            } else {
                inner.pausing = true;
                NDIS_STATUS_PENDING
            }
        })
    }

    /// MiniportRestart.
    pub fn restart(&self) -> NdisStatus {
        self.with(|inner, _| inner.adapter.restart());
        NDIS_STATUS_SUCCESS
    }

    /// MiniportCancelSend.
    pub fn cancel_send(&self, id: *mut c_void) {
        self.with(|inner, _| inner.adapter.cancel_send(id as usize));
    }
}

unsafe extern "system" fn store_work(context: *mut c_void, _work_item: NdisHandle) {
    // SAFETY: queued with the adapter, which outlives its work item.
    unsafe { (*(context as *const Nic)).store_work() }
}

/// Why MiniportInitializeEx failed.
pub enum InitError {
    Bus(LowerError<BusError>),
    Store(xenpv_busif::BusError),
    Adapter(xenpv_winnet::adapter::AdapterError),
    Resources,
    Attributes(NdisStatus),
}

impl core::fmt::Display for InitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            InitError::Bus(e) => write!(f, "XENBUS: {e}"),
            InitError::Store(e) => write!(f, "store session: {e:?}"),
            InitError::Adapter(e) => write!(f, "vif: {e:?}"),
            InitError::Resources => f.write_str("out of memory for receive buffers"),
            InitError::Attributes(s) => write!(f, "NDIS refused the attributes: {s:#x}"),
        }
    }
}

/// MiniportInitializeEx: finds XENBUS, attaches to `device/vif/N`, allocates the receive
/// lists, connects (waiting a while for the backend) and declares the adapter to NDIS.
///
/// # Safety
/// Called by NDIS at PASSIVE_LEVEL with the new adapter's handle.
pub unsafe fn initialize(handle: NdisHandle) -> Result<*mut Nic, InitError> {
    let (mut pdo, mut fdo, mut next): (*mut DeviceObject, *mut DeviceObject, *mut DeviceObject) =
        (null_mut(), null_mut(), null_mut());
    // SAFETY: the handle is the adapter's; the out-pointers are ours.
    unsafe {
        NdisMGetDeviceProperty(
            handle,
            &mut pdo,
            &mut fdo,
            &mut next,
            null_mut(),
            null_mut(),
        )
    };
    // SAFETY: PASSIVE_LEVEL, the device below us in the stack.
    let bus = unsafe {
        query_interface(
            next,
            (&XENBUS_INTERFACE_GUID as *const xenpv_busif::Guid).cast(),
            XENBUS_INTERFACE_SIZE,
            XENBUS_INTERFACE_VERSION,
            Bus::request(),
            // SAFETY: the request succeeded, so XENBUS filled in the table and took a reference.
            |table| Bus::from_interface(table).map(Arc::new),
        )
    }
    .map_err(InitError::Bus)?;
    // SAFETY: as above.
    let vif = unsafe { query_instance_id(next, vif_number) }.map_err(InitError::Bus)?;
    let waker = KernelWaker::new();
    let store = open_store(&bus, waker.clone()).map_err(InitError::Store)?;
    let platform = Arc::new(BusPlatform::new(bus.clone()));

    // SAFETY: the handle is the adapter's.
    let work_item = unsafe { NdisAllocateIoWorkItem(handle) };
    let mut params = NetBufferListPoolParameters {
        header: ObjectHeader::new(
            NDIS_OBJECT_TYPE_DEFAULT,
            NET_BUFFER_LIST_POOL_PARAMETERS_REVISION_1,
            core::mem::size_of::<NetBufferListPoolParameters>(),
        ),
        protocol_id: NDIS_PROTOCOL_ID_DEFAULT,
        f_allocate_net_buffer: 1,
        context_size: 0,
        pool_tag: TAG,
        data_size: 0,
    };
    // SAFETY: as above.
    let nbl_pool = unsafe { NdisAllocateNetBufferListPool(handle, &mut params) };
    let mut nic = Box::new(Nic {
        handle,
        bus,
        waker: waker.clone(),
        locked: AtomicBool::new(false),
        inner: UnsafeCell::new(None),
        poll_wanted: AtomicBool::new(false),
        sends: NblStack::default(),
        returns: NblStack::default(),
        work_item,
        work_queued: AtomicBool::new(false),
        halting: AtomicBool::new(false),
        registrations: UnsafeCell::new(Vec::new()),
        nbl_pool,
        rx_mdls: Vec::with_capacity(RX_BUFFERS),
        rx_memory: Vec::with_capacity(RX_BUFFERS),
        oids: TABLE.iter().map(|e| e.oid).collect(),
    });
    if work_item.is_null() || nbl_pool.is_null() {
        // SAFETY: nothing else refers to the adapter yet.
        unsafe { free(nic) };
        return Err(InitError::Resources);
    }
    let mut buffers = Vec::with_capacity(RX_BUFFERS);
    for _ in 0..RX_BUFFERS {
        let mut memory = alloc::vec![0u8; RX_BUFFER_SIZE];
        let data = memory.as_mut_ptr();
        // SAFETY: non-paged memory (the global allocator's pool) of RX_BUFFER_SIZE bytes.
        let mdl = unsafe { NdisAllocateMdl(handle, data.cast(), RX_BUFFER_SIZE as u32) };
        if mdl.is_null() {
            break;
        }
        nic.rx_mdls.push(mdl);
        // SAFETY: the pool allocates a list with one NET_BUFFER over `mdl`.
        let nbl = unsafe {
            NdisAllocateNetBufferAndNetBufferList(nbl_pool, 0, 0, mdl, 0, RX_BUFFER_SIZE)
        };
        nic.rx_memory.push(memory);
        if nbl.is_null() {
            break;
        }
        buffers.push(RxBuffer {
            nbl,
            data,
            capacity: RX_BUFFER_SIZE,
        });
    }
    if buffers.len() < RX_BUFFERS {
        for b in buffers {
            // SAFETY: allocated just above and never handed out.
            unsafe { NdisFreeNetBufferList(b.nbl) };
        }
        // SAFETY: as above.
        unsafe { free(nic) };
        return Err(InitError::Resources);
    }
    // SAFETY: the lists, MDLs and memory stay with the adapter until halt frees them.
    let pool = unsafe { RxPool::new(buffers) };
    let frontend = alloc::format!("device/vif/{vif}");
    let wishes = VifWishes::default();
    let adapter = match NetAdapter::new(platform, store, &frontend, wishes, pool, MTU) {
        Ok(a) => a,
        Err(e) => {
            // SAFETY: as above (the pool's lists are freed with the adapter's memory).
            unsafe { free(nic) };
            return Err(InitError::Adapter(e));
        }
    };
    *nic.inner.get_mut() = Some(Inner {
        adapter,
        pausing: false,
    });
    let nic = Box::into_raw(nic);
    // SAFETY: from here on the adapter is shared; NDIS calls no handler before we return.
    let n = unsafe { &*nic };
    let mut registration = AdapterRegistrationAttributes {
        header: ObjectHeader::new(
            NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES,
            NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
            NDIS_SIZEOF_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES_REVISION_2,
        ),
        miniport_adapter_context: nic.cast(),
        attribute_flags: NDIS_MINIPORT_ATTRIBUTES_SURPRISE_REMOVE_OK
            | NDIS_MINIPORT_ATTRIBUTES_NO_HALT_ON_SUSPEND,
        check_for_hang_time_in_seconds: 0,
        interface_type: NDIS_INTERFACE_PNP_BUS,
    };
    // SAFETY: a valid attribute block.
    let status = unsafe { NdisMSetMiniportAttributes(handle, &mut registration) };
    if status != NDIS_STATUS_SUCCESS {
        // SAFETY: NDIS refused the adapter; nothing else holds it.
        unsafe { free(Box::from_raw(nic)) };
        return Err(InitError::Attributes(status));
    }
    waker.attach(nic);
    let (mac, connected, caps, ports) = n.with(|inner, _| {
        let a = &mut inner.adapter;
        let _ = a.connect();
        for _ in 0..CONNECT_WAITS {
            let _ = a.pump_store();
            if a.is_connected() {
                break;
            }
            n.waker.wait_briefly();
        }
        let connected = a.is_connected();
        // Indicated through the attributes; later changes through status indications.
        let _ = a.link_change();
        (a.mac(), connected, a.offload_caps(), a.event_ports())
    });
    n.register(ports);
    let status = declare(n, mac, connected, caps);
    if status != NDIS_STATUS_SUCCESS {
        // SAFETY: initialisation fails; NDIS calls no handler of this adapter.
        unsafe { halt(nic) };
        return Err(InitError::Attributes(status));
    }
    Ok(nic)
}

/// The general and offload attributes.
fn declare(
    n: &Nic,
    mac: [u8; 6],
    connected: bool,
    caps: xenpv_winnet::oid::OffloadCaps,
) -> NdisStatus {
    let mut rss = xenpv_ddk::ndis::oid::NdisReceiveScaleCapabilities {
        header: ObjectHeader::new(
            NDIS_OBJECT_TYPE_RSS_CAPABILITIES,
            xenpv_ddk::ndis::oid::NDIS_RECEIVE_SCALE_CAPABILITIES_REVISION_2,
            core::mem::size_of::<xenpv_ddk::ndis::oid::NdisReceiveScaleCapabilities>(),
        ),
        capabilities_flags: xenpv_ddk::ndis::oid::NDIS_RSS_CAPS_CLASSIFICATION_AT_DPC
            | xenpv_ddk::ndis::oid::NDIS_RSS_CAPS_HASH_TYPE_TCP_IPV4
            | xenpv_ddk::ndis::oid::NDIS_RSS_CAPS_HASH_TYPE_TCP_IPV6,
        number_of_interrupt_messages: 1,
        number_of_receive_queues: 8,
        number_of_indirection_table_entries: xenpv_winnet::rss::MAX_TABLE as u16,
    };
    let speed = if connected { LINK_SPEED } else { 0 };
    let mut mac32 = [0u8; 32];
    mac32[..6].copy_from_slice(&mac);
    let mut general = AdapterGeneralAttributes {
        header: ObjectHeader::new(
            NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES,
            NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES_REVISION_2,
            core::mem::size_of::<AdapterGeneralAttributes>(),
        ),
        flags: 0,
        media_type: NDIS_MEDIUM_802_3,
        physical_medium_type: NDIS_PHYSICAL_MEDIUM_UNSPECIFIED,
        mtu_size: MTU,
        max_xmit_link_speed: LINK_SPEED,
        xmit_link_speed: speed,
        max_rcv_link_speed: LINK_SPEED,
        rcv_link_speed: speed,
        media_connect_state: media_connect_state(connected),
        media_duplex_state: MEDIA_DUPLEX_STATE_FULL,
        lookahead_size: MTU + 14,
        power_management_capabilities: null_mut(),
        mac_options: NDIS_MAC_OPTION_COPY_LOOKAHEAD_DATA
            | NDIS_MAC_OPTION_TRANSFERS_NOT_PEND
            | NDIS_MAC_OPTION_NO_LOOPBACK
            | NDIS_MAC_OPTION_FULL_DUPLEX,
        supported_packet_filters: xenpv_winnet::filter::SUPPORTED_PACKET_FILTERS,
        max_multicast_list_size: xenpv_winnet::filter::MAX_MULTICAST as u32,
        mac_address_length: 6,
        permanent_mac_address: mac32,
        current_mac_address: mac32,
        recv_scale_capabilities: &mut rss,
        access_type: NET_IF_ACCESS_BROADCAST,
        direction_type: NET_IF_DIRECTION_SENDRECEIVE,
        connection_type: NET_IF_CONNECTION_DEDICATED,
        if_type: IF_TYPE_ETHERNET_CSMACD,
        if_connector_present: 1,
        supported_statistics: xenpv_ddk::ndis::oid::NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_RCV
            | xenpv_ddk::ndis::oid::NDIS_STATISTICS_FLAGS_VALID_BYTES_RCV
            | xenpv_ddk::ndis::oid::NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_XMIT
            | xenpv_ddk::ndis::oid::NDIS_STATISTICS_FLAGS_VALID_BYTES_XMIT,
        supported_pause_functions: NDIS_PAUSE_FUNCTIONS_UNSUPPORTED,
        data_back_fill_size: 0,
        context_back_fill_size: 0,
        supported_oid_list: n.oids.as_ptr(),
        supported_oid_list_length: (n.oids.len() * 4) as u32,
        auto_negotiation_flags: NDIS_LINK_STATE_SPEEDS_AUTO_NEGOTIATED,
        power_management_capabilities_ex: null_mut(),
    };
    // SAFETY: a valid attribute block (NdisMSetMiniportAttributes takes any of them).
    let status = unsafe {
        NdisMSetMiniportAttributes(
            n.handle,
            (&mut general as *mut AdapterGeneralAttributes).cast(),
        )
    };
    if status != NDIS_STATUS_SUCCESS {
        return status;
    }
    let mut offload = xenpv_winnet::oid::OffloadConfig::all(caps).ndis_offload();
    let mut hardware = offload;
    let mut attributes = AdapterOffloadAttributes {
        header: ObjectHeader::new(
            NDIS_OBJECT_TYPE_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES,
            NDIS_MINIPORT_ADAPTER_OFFLOAD_ATTRIBUTES_REVISION_1,
            core::mem::size_of::<AdapterOffloadAttributes>(),
        ),
        default_offload_configuration: &mut offload,
        hardware_offload_capabilities: &mut hardware,
        default_tcp_connection_offload_configuration: null_mut(),
        tcp_connection_offload_hardware_capabilities: null_mut(),
    };
    // SAFETY: as above.
    unsafe {
        NdisMSetMiniportAttributes(
            n.handle,
            (&mut attributes as *mut AdapterOffloadAttributes).cast(),
        )
    }
}

/// Frees what initialisation allocated (no adapter state yet, or one whose pool is back).
///
/// # Safety
/// Nothing refers to `nic` any more.
unsafe fn free(nic: Box<Nic>) {
    // SAFETY: the MDLs, pool and work item are this adapter's and no longer used.
    unsafe {
        for &mdl in &nic.rx_mdls {
            NdisFreeMdl(mdl);
        }
        if !nic.nbl_pool.is_null() {
            NdisFreeNetBufferListPool(nic.nbl_pool);
        }
        if !nic.work_item.is_null() {
            NdisFreeIoWorkItem(nic.work_item);
        }
    }
}

/// MiniportHaltEx: stops events and store work, closes the device, frees everything.
///
/// # Safety
/// `nic` came from [`initialize`]; NDIS calls nothing else on it afterwards.
pub unsafe fn halt(nic: *mut Nic) {
    // SAFETY: per the contract.
    let n = unsafe { &*nic };
    n.halting.store(true, Ordering::Release);
    n.waker.attach(null_mut());
    // SAFETY: PASSIVE_LEVEL; no other registration user remains.
    unsafe { (*n.registrations.get()).clear() };
    while n.work_queued.load(Ordering::Acquire) {
        n.waker.wait_briefly();
    }
    while !n.try_lock() {
        core::hint::spin_loop();
    }
    // SAFETY: the lock is held and never released: the adapter is going away.
    let inner = unsafe { (*n.inner.get()).take() };
    if let Some(inner) = inner {
        // Lists NDIS already returned but nobody processed yet go back to the pool first.
        let mut a = inner.adapter;
        // SAFETY: returned lists of this pool.
        unsafe { a.return_nbls(n.returns.take_all()) };
        if let Ok(pool) = a.halt() {
            if let Ok(buffers) = pool.into_buffers() {
                for b in buffers {
                    // SAFETY: every list is back and unused.
                    unsafe { NdisFreeNetBufferList(b.nbl) };
                }
            }
        }
    }
    // SAFETY: nothing refers to the adapter any more.
    unsafe { free(Box::from_raw(nic)) };
}
