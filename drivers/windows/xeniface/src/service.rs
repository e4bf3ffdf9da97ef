//! The running XENIFACE: XENBUS's interface, one xenstore session shared by every handle and
//! the agent, the handles' sessions, and the work item that handles what xenstore sends on its
//! own (watch events) and what the kernel hands back (cancelled grants).

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr::{null, null_mut};
use core::sync::atomic::{AtomicU32, Ordering};

use xenpv_busif::{open_store, Bus, BusStore, StoreWaker, SuspendRegistration};
use xenpv_busif::{
    SUSPEND_PHASE_CANCELLED, SUSPEND_PHASE_RESUME, XENBUS_INTERFACE_GUID, XENBUS_INTERFACE_SIZE,
    XENBUS_INTERFACE_VERSION,
};
use xenpv_ddk::debug::{print, DPFLTR_ERROR_LEVEL, DPFLTR_INFO_LEVEL};
use xenpv_ddk::irp::{current_stack_location, Irp};
use xenpv_ddk::kernel::{KeInitializeEvent, KeSetEvent, KeWaitForSingleObject};
use xenpv_ddk::lower::{query_interface, LowerError};
use xenpv_ddk::object::DeviceObject;
use xenpv_ddk::status::*;
use xenpv_ddk::sync::{KEvent, EXECUTIVE, KERNEL_MODE, SYNCHRONIZATION_EVENT};
use xenpv_ddk::userio::forward::complete;
use xenpv_ddk::userio::imports::{
    IoAllocateWorkItem, IoFreeWorkItem, IoQueueWorkItem, KeDelayExecutionThread,
    KeQuerySystemTimePrecise, ZwSetSystemTime,
};
use xenpv_ddk::userio::DELAYED_WORK_QUEUE;
use xenpv_winiface::agent::{
    Action, Agent, Features, Outcome, Performer, AGENT_TOKEN, SHUTDOWN_PATH,
};
use xenpv_winiface::lease::{LeaseQueue, Leases};
use xenpv_winiface::reply::Reply;
use xenpv_winiface::session::{parse_token, Answer, Fired, Session};
use xenpv_winiface::time::{resync, Resync};

use crate::home::{KernelHome, UserEvent};
use crate::mutex::PassiveMutex;
use crate::pending::{Filter, Kind, Pending};

/// A `GrantAccess` request: the lease on its pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease(pub *mut Irp);

pub type HandleSession = Session<UserEvent, Lease>;

/// Actions kept for `AgentWaitAction` when nobody waits (the newest are dropped past this).
const MAX_ACTIONS: usize = 8;

/// What this guest advertises: the OS actions user mode carries out. Sleep and hibernation are
/// left out until the user-mode side says it can do them.
const FEATURES: Features = Features {
    poweroff: true,
    reboot: true,
    suspend: true,
    s3: false,
    s4: false,
};

/// Everything the sessions and the agent share, under one mutex (taken before the store's).
pub struct State {
    pub sessions: BTreeMap<u32, HandleSession>,
    pub home: KernelHome,
    pub agent: Agent,
    /// Actions no `AgentWaitAction` has collected yet.
    pub actions: VecDeque<Action>,
    /// The requests behind grants of closed handles or cancelled while still granted.
    pub leases: Leases<Lease>,
    next_session: u32,
}

/// The session's wake-ups: `reply` for a request waiting inside the client (one at a time, under
/// the store mutex), and the work item for everything else.
pub struct Waker {
    reply: UnsafeCell<KEvent>,
    service: *const Service,
}

// SAFETY: a kernel event may be set and waited on from any thread; the service outlives the
// store session that calls us.
unsafe impl Send for Waker {}
// SAFETY: as above.
unsafe impl Sync for Waker {}

impl StoreWaker for Waker {
    fn wake(&self) {
        // SAFETY: initialised in `Service::start`; the service is alive while the session is.
        unsafe {
            KeSetEvent(self.reply.get(), 0, 0);
            (*self.service).kick();
        }
    }

    fn wait(&self) {
        // SAFETY: as above.
        unsafe {
            KeWaitForSingleObject(self.reply.get().cast(), EXECUTIVE, KERNEL_MODE, 0, null())
        };
    }
}

const IDLE: u32 = 0;
const QUEUED: u32 = 1;
const RUNNING: u32 = 2;
const STOPPED: u32 = 3;

pub struct Service {
    bus: Arc<Bus>,
    pub state: PassiveMutex<State>,
    pub store: PassiveMutex<Option<BusStore<Waker>>>,
    pub pending: Pending,
    work_item: *mut c_void,
    work: AtomicU32,
    suspend: Option<SuspendRegistration>,
    /// Resumes since start (`SuspendCount`).
    resumes: AtomicU32,
}

// SAFETY: shared between dispatch routines, the work item and bus callbacks; every mutable part
// is behind a mutex, an atomic or the queue's spin lock.
unsafe impl Send for Service {}
// SAFETY: as above.
unsafe impl Sync for Service {}

/// Asks the bus below for its interface (IRP_MN_QUERY_INTERFACE), at PASSIVE_LEVEL.
///
/// # Safety
/// `lower` is the next device of this driver's stack.
unsafe fn query_bus(lower: *mut DeviceObject) -> Result<Bus, NtStatus> {
    // SAFETY: the caller's promise; a successful request means XENBUS filled in the table and
    // took a reference for us.
    unsafe {
        query_interface(
            lower,
            (&XENBUS_INTERFACE_GUID as *const xenpv_busif::Guid).cast(),
            XENBUS_INTERFACE_SIZE,
            XENBUS_INTERFACE_VERSION,
            Bus::request(),
            |table| Bus::from_interface(table),
        )
    }
    .map_err(|e| match e {
        LowerError::Status(status) => status,
        LowerError::Interface(_) | LowerError::InstanceId => STATUS_DEVICE_CONFIGURATION_ERROR,
    })
}

impl Service {
    /// Connects to the bus below `lower`, opens the store session, advertises the agent's
    /// features and watches control/shutdown.
    ///
    /// # Safety
    /// `device` is this driver's FDO and `lower` the next device of its stack; PASSIVE_LEVEL.
    pub unsafe fn start(
        device: *mut DeviceObject,
        lower: *mut DeviceObject,
    ) -> Result<Box<Service>, NtStatus> {
        // SAFETY: the caller's promise.
        let bus = Arc::new(unsafe { query_bus(lower)? });
        // SAFETY: our own device object.
        let work_item = unsafe { IoAllocateWorkItem(device) };
        if work_item.is_null() {
            return Err(STATUS_INSUFFICIENT_RESOURCES);
        }
        let service = Box::new(Service {
            bus: bus.clone(),
            state: PassiveMutex::new(State {
                sessions: BTreeMap::new(),
                home: KernelHome::new(bus.clone()),
                agent: Agent::new(FEATURES),
                actions: VecDeque::new(),
                leases: Leases::default(),
                next_session: 1,
            }),
            store: PassiveMutex::new(None),
            pending: Pending::new(lease_cancelled, null()),
            work_item,
            work: AtomicU32::new(IDLE),
            suspend: None,
            resumes: AtomicU32::new(0),
        });
        let raw: *mut Service = Box::into_raw(service);
        // SAFETY: `raw` is the boxed service, at its final address from here on; nothing else
        // refers to it yet.
        let mut service = unsafe {
            (*raw).state.init();
            (*raw).store.init();
            (*raw).pending = Pending::new(lease_cancelled, raw as *const c_void);
            Box::from_raw(raw)
        };
        if let Err(status) = service.connect(&bus) {
            service.stop();
            return Err(status);
        }
        // The watch fired when it was set: handle that (and anything since).
        service.kick();
        Ok(service)
    }

    /// Registers the queue, opens the store session, advertises and watches; then the suspend
    /// handler.
    fn connect(&mut self, bus: &Arc<Bus>) -> Result<(), NtStatus> {
        let status = self.pending.init();
        if !nt_success(status) {
            return Err(status);
        }
        let waker = Arc::new(Waker {
            // SAFETY: zero bytes until KeInitializeEvent just below.
            reply: UnsafeCell::new(unsafe { core::mem::zeroed() }),
            service: self,
        });
        // SAFETY: the Arc keeps the event at a stable address.
        unsafe { KeInitializeEvent(waker.reply.get(), SYNCHRONIZATION_EVENT, 0) };
        let mut store = open_store(bus, waker).map_err(|_| STATUS_DEVICE_NOT_READY)?;
        if let Err(e) = self.state.lock().agent.advertise(&mut store) {
            print(
                DPFLTR_ERROR_LEVEL,
                format_args!("xeniface: cannot advertise features: {e:?}"),
            );
        }
        if let Err(e) = store.watch(SHUTDOWN_PATH, AGENT_TOKEN) {
            print(
                DPFLTR_ERROR_LEVEL,
                format_args!("xeniface: cannot watch {SHUTDOWN_PATH}: {e:?}"),
            );
            return Err(STATUS_DEVICE_NOT_READY);
        }
        *self.store.lock() = Some(store);
        let me = self as *const Service as usize;
        self.suspend = bus
            .on_suspend(move |phase| {
                // SAFETY: the registration is dropped (and waited out) before the service.
                let me = unsafe { &*(me as *const Service) };
                match phase {
                    SUSPEND_PHASE_RESUME => me.resumed(),
                    // Nothing was lost: only a new suspend request is accepted again.
                    SUSPEND_PHASE_CANCELLED => me.state.lock().agent.suspend_cancelled(),
                    _ => {}
                }
            })
            .ok();
        Ok(())
    }

    /// Stops everything: no bus callback, store session or work item runs after this returns.
    ///
    /// Grants a remote domain still maps (of handles closed meanwhile) cannot end, and their
    /// requests must stay pending with their pages locked; their queue must then stay valid for
    /// a later cancellation, so the service is left allocated (and logged) instead of freed.
    pub fn stop(mut self: Box<Self>) {
        drop(self.suspend.take());
        // Closing the session stops the bus's wake-ups; then the work item finishes, and no kick
        // queues it again.
        drop(self.store.lock().take());
        while self
            .work
            .compare_exchange(IDLE, STOPPED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            let ten_ms: i64 = -100_000;
            // SAFETY: PASSIVE_LEVEL; a relative interval.
            unsafe { KeDelayExecutionThread(KERNEL_MODE, 0, &ten_ms) };
        }
        let stuck = self.state.lock().leases.stuck();
        if stuck != 0 {
            print(
                DPFLTR_ERROR_LEVEL,
                format_args!("xeniface: {stuck} grant(s) still mapped remotely at removal: their pages stay locked"),
            );
            Box::leak(self);
            return;
        }
        // SAFETY: allocated in `start`; never queued again (the work state is stopped).
        unsafe { IoFreeWorkItem(self.work_item) };
    }

    /// Runs the work item (from any IRQL up to DISPATCH_LEVEL): queues it when idle, or makes a
    /// running one go round again; nothing once stopped.
    pub fn kick(&self) {
        let mut now = self.work.load(Ordering::Acquire);
        loop {
            if now == STOPPED {
                return;
            }
            match self
                .work
                .compare_exchange(now, QUEUED, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(before) => {
                    if before != IDLE {
                        return;
                    }
                    break;
                }
                Err(changed) => now = changed,
            }
        }
        // SAFETY: the work item is ours until `stop`, which waits for it to be idle and then
        // keeps it from being queued again.
        unsafe {
            IoQueueWorkItem(
                self.work_item,
                work_routine,
                DELAYED_WORK_QUEUE,
                self as *const Service as *mut c_void,
            )
        };
    }

    /// How many times the domain has resumed since the service started.
    pub fn resumes(&self) -> u32 {
        self.resumes.load(Ordering::Acquire)
    }

    /// A new handle's session id.
    pub fn open(&self) -> u32 {
        let mut state = self.state.lock();
        let mut id = state.next_session;
        while id == 0 || state.sessions.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        state.next_session = id.wrapping_add(1);
        state.sessions.insert(id, Session::new(id));
        id
    }

    /// Releases everything handle `id` owned (IRP_MJ_CLEANUP).
    pub fn cleanup(&self, id: u32) {
        let mut state = self.state.lock();
        for kind in [Kind::WatchWait, Kind::AgentWait] {
            while let Some(irp) = self.pending.take(Filter {
                session: Some(id),
                kind: Some(kind),
                irp: null_mut(),
            }) {
                // SAFETY: taken out of the queue: ours to complete.
                unsafe { complete(irp.as_ptr(), STATUS_CANCELLED, 0) };
            }
        }
        let Some(session) = state.sessions.remove(&id) else {
            return;
        };
        let mut store = self.store.lock();
        let closed = match store.as_mut() {
            Some(store) => session.close(store, &mut state.home),
            None => return,
        };
        drop(store);
        for lease in closed.released {
            self.finish_lease(&mut state, lease, STATUS_CANCELLED);
        }
        state.leases.keep(closed.stuck);
    }

    /// Completes a lease whose grants have ended, unless a cancellation holds it (then the work
    /// item completes it).
    pub fn finish_lease(&self, state: &mut State, lease: Lease, status: NtStatus) {
        let mut queue = &self.pending;
        if let Some(lease) = state.leases.ended(lease, &mut queue) {
            // SAFETY: out of the queue (or handed to us by its cancellation): ours to complete.
            unsafe { complete(lease.0, status, 0) };
        }
    }

    /// Completes `irp` with `answer` written into its buffered output; returns the status it
    /// completed with (the IRP itself may be gone by then).
    ///
    /// # Safety
    /// `irp` is a METHOD_BUFFERED device control request this driver owns.
    pub unsafe fn answer(irp: *mut Irp, answer: &Answer) -> NtStatus {
        // SAFETY: the caller's promise: the system buffer holds the output length.
        unsafe {
            let location = current_stack_location(irp);
            let len = (*location).device_io_control().output_buffer_length as usize;
            let buffer = (*irp).associated_irp.cast::<u8>();
            let out: &mut [u8] = if buffer.is_null() || len == 0 {
                &mut []
            } else {
                core::slice::from_raw_parts_mut(buffer, len)
            };
            let done = answer.reply().unwrap_or(Reply::Empty).encode(out);
            complete(irp, done.status, done.information)
        }
    }

    /// Hands `action` to a waiting `AgentWaitAction`, or keeps it for the next one.
    fn deliver(&self, state: &mut State, action: Action) {
        let waiting = self.pending.take(Filter {
            session: None,
            kind: Some(Kind::AgentWait),
            irp: null_mut(),
        });
        match waiting {
            Some(irp) => {
                // SAFETY: taken out of the queue: ours to complete.
                unsafe { Service::answer(irp.as_ptr(), &Answer::U32(action as u32)) };
            }
            None if state.actions.len() < MAX_ACTIONS => state.actions.push_back(action),
            None => print(
                DPFLTR_ERROR_LEVEL,
                format_args!("xeniface: action {action:?} dropped, nobody collects"),
            ),
        }
    }

    /// The work item: watch events, cancelled leases, stuck grants.
    fn work(&self) {
        // Asked of the bus once both locks are dropped: this service's RESUME callback takes them.
        let mut suspend = false;
        let mut state = self.state.lock();
        let mut store_guard = self.store.lock();
        let Some(store) = store_guard.as_mut() else {
            return;
        };
        if let Err(e) = store.process_pending() {
            print(
                DPFLTR_ERROR_LEVEL,
                format_args!("xeniface: store session failed: {e:?}"),
            );
        }
        while let Some(event) = store.try_event() {
            if event.token == AGENT_TOKEN {
                match state.agent.on_shutdown_watch(store) {
                    Ok(Outcome::Act(action)) => {
                        print(
                            DPFLTR_INFO_LEVEL,
                            format_args!("xeniface: toolstack asks for {action:?}"),
                        );
                        match action.performer() {
                            Performer::Bus => suspend = true,
                            Performer::UserMode => self.deliver(&mut state, action),
                        }
                    }
                    Ok(Outcome::Ignored(value)) => print(
                        DPFLTR_ERROR_LEVEL,
                        format_args!(
                            "xeniface: ignoring control/shutdown = {:?}",
                            core::str::from_utf8(&value)
                        ),
                    ),
                    Ok(Outcome::Nothing | Outcome::Repeated(_)) => {}
                    Err(e) => print(
                        DPFLTR_ERROR_LEVEL,
                        format_args!("xeniface: control/shutdown: {e:?}"),
                    ),
                }
                continue;
            }
            let Some((id, _)) = parse_token(&event.token) else {
                continue;
            };
            let State { sessions, home, .. } = &mut *state;
            let Some(session) = sessions.get_mut(&id) else {
                continue;
            };
            if session.on_watch_event(&event.token, &event.path, home) == Fired::Queued {
                if let Some(irp) = self.pending.take(Filter {
                    session: Some(id),
                    kind: Some(Kind::WatchWait),
                    irp: null_mut(),
                }) {
                    let answer = session.next_fired().unwrap_or(Answer::Wait);
                    // SAFETY: taken out of the queue: ours to complete.
                    unsafe { Service::answer(irp.as_ptr(), &answer) };
                }
            }
        }
        drop(store_guard);
        let State {
            sessions,
            home,
            leases,
            ..
        } = &mut *state;
        for irp in self.pending.take_cancelled_leases() {
            if let Some(lease) = leases.cancelled(Lease(irp), sessions.values_mut(), home) {
                // SAFETY: cancelled and handed to us by the queue, its grants ended: ours.
                unsafe { complete(lease.0, STATUS_CANCELLED, 0) };
            }
        }
        let mut queue = &self.pending;
        for lease in leases.retry(home, &mut queue) {
            // SAFETY: grants ended; out of the queue or handed over by its cancellation.
            unsafe { complete(lease.0, STATUS_CANCELLED, 0) };
        }
        drop(state);
        if suspend {
            self.suspend_domain();
        }
    }

    /// The toolstack's suspend, acknowledged: XENBUS suspends the domain and tells every child
    /// (this service's RESUME callback re-arms the agent, re-advertises and resyncs the clock).
    fn suspend_domain(&self) {
        match self.bus.request_suspend() {
            Ok(outcome) => print(
                DPFLTR_INFO_LEVEL,
                format_args!("xeniface: suspend ended: {outcome:?}"),
            ),
            Err(e) => print(
                DPFLTR_ERROR_LEVEL,
                format_args!("xeniface: the bus could not suspend: {e}"),
            ),
        }
    }

    /// After a resume: re-advertise, accept a new suspend request, and set the clock from Xen's.
    fn resumed(&self) {
        self.resumes.fetch_add(1, Ordering::AcqRel);
        let mut state = self.state.lock();
        let mut store = self.store.lock();
        if let Some(store) = store.as_mut() {
            if let Err(e) = state.agent.resumed(store) {
                print(
                    DPFLTR_ERROR_LEVEL,
                    format_args!("xeniface: re-advertising after resume: {e:?}"),
                );
            }
        }
        drop(store);
        drop(state);
        let clock = match self.bus.wall_clock() {
            Ok(c) => c,
            Err(e) => {
                print(
                    DPFLTR_ERROR_LEVEL,
                    format_args!("xeniface: no wall clock after resume: {e}"),
                );
                return;
            }
        };
        let mut now = 0i64;
        // SAFETY: writes one LARGE_INTEGER.
        unsafe { KeQuerySystemTimePrecise(&mut now) };
        match resync(now, clock.sec, clock.nsec) {
            Ok(Resync::Set(time)) => {
                // SAFETY: kernel-mode caller (no privilege check), a valid LARGE_INTEGER.
                let status = unsafe { ZwSetSystemTime(&time, null_mut()) };
                print(
                    DPFLTR_INFO_LEVEL,
                    format_args!("xeniface: clock set from Xen after resume ({:+} ms): {status:#x}", (time - now) / 10_000),
                );
            }
            Ok(Resync::Refused { behind }) => print(
                DPFLTR_ERROR_LEVEL,
                format_args!("xeniface: Xen's clock is {} s behind Windows': not a current time, clock left alone", behind / 10_000_000),
            ),
            Err(e) => print(DPFLTR_ERROR_LEVEL, format_args!("xeniface: bad wall clock {clock:?}: {e:?}")),
        }
    }
}

/// `IO_WORKITEM_ROUTINE`: runs [`Service::work`] until no kick came in meanwhile.
unsafe extern "system" fn work_routine(_device: *mut DeviceObject, context: *mut c_void) {
    // SAFETY: the service that queued us; `stop` waits for the idle state before freeing it.
    let service = unsafe { &*(context as *const Service) };
    loop {
        service.work.store(RUNNING, Ordering::Release);
        service.work();
        if service
            .work
            .compare_exchange(RUNNING, IDLE, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            break;
        }
    }
}

/// The queue's callback for a cancelled lease: the work item ends its grants.
///
/// # Safety
/// `context` is the live service.
unsafe fn lease_cancelled(context: *const c_void) {
    // SAFETY: the caller's promise.
    unsafe { (*(context as *const Service)).kick() };
}

/// The lease requests of the cancel-safe queue.
impl LeaseQueue<Lease> for &Pending {
    fn take(&mut self, lease: Lease) -> bool {
        Pending::take(
            self,
            Filter {
                session: None,
                kind: Some(Kind::Lease),
                irp: lease.0,
            },
        )
        .is_some()
    }
}
