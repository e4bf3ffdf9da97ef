//! One PV disk: its connection through the control plane over the bus's store, its blkif
//! queues and the miniport over them, the lock that serialises the request path, and the work
//! item that runs the control plane while the disk is up (backend restarts, protocol errors,
//! online resize).

use alloc::boxed::Box;
use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::fmt;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use xenpv_busif::{
    open_store, Bus, BusError, BusPlatform, BusStore, EventRegistration, StoreWaker,
};
use xenpv_control::vbd::VbdFrontend;
use xenpv_control::xenbus::FrontendDriver;
use xenpv_datapath::blkif::{BlkQueue, QueueConfig};
use xenpv_datapath::scsi::{Disk, DiskError};
use xenpv_ddk::debug::{print, DPFLTR_ERROR_LEVEL};
use xenpv_ddk::kernel::{
    KeAcquireSpinLockRaiseToDpc, KeInitializeEvent, KeReleaseSpinLock, KeSetEvent,
    KeWaitForSingleObject,
};
use xenpv_ddk::object::DeviceObject;
use xenpv_ddk::storport::imports::issue_dpc;
use xenpv_ddk::storport::sgl::StorDpc;
use xenpv_ddk::sync::{KEvent, KSpinLock, EXECUTIVE, KERNEL_MODE, SYNCHRONIZATION_EVENT};
use xenpv_ddk::userio::imports::{
    IoAllocateWorkItem, IoFreeWorkItem, IoQueueWorkItem, KeDelayExecutionThread,
};
use xenpv_ddk::userio::DELAYED_WORK_QUEUE;
use xenpv_winvbd::frontend::{self, handshake, FrontError, HandshakeError, VbdDriver};
use xenpv_winvbd::miniport::{dispatch_safe, max_transfer, scsi_disk, wishes, Miniport, Window};

use crate::srb::{complete, SrbBuffer};

/// Queues asked for (the backend and XENBUS's vCPUs may give fewer): Linux blkfront's default.
pub const MAX_QUEUES: usize = 4;
/// SRBs held in the queues at once.
const SLOTS: usize = 256;
/// The first handshake waits at most this many times [`HANDSHAKE_WAIT`] for the store.
const HANDSHAKE_ROUNDS: usize = 300;
/// 100 ms, in the relative 100-ns units of KeWaitForSingleObject.
const HANDSHAKE_WAIT: i64 = -1_000_000;

/// The store session's wake-up: an auto-reset event for waits at PASSIVE_LEVEL, and once the
/// disk runs, the work item that handles what arrives.
pub struct KernelWaker {
    event: UnsafeCell<KEvent>,
    runtime: AtomicPtr<Runtime>,
}

// SAFETY: the event is a kernel object operated only through KeSetEvent / KeWait*, which are
// safe from any thread (set up to DISPATCH_LEVEL, wait at PASSIVE_LEVEL); `runtime` is atomic.
unsafe impl Send for KernelWaker {}
// SAFETY: as for Send.
unsafe impl Sync for KernelWaker {}

impl KernelWaker {
    fn new() -> Arc<Self> {
        // SAFETY: a zeroed KEVENT is initialised in place below, before any use, at its final
        // address inside the Arc.
        let waker = Arc::new(KernelWaker {
            event: UnsafeCell::new(unsafe { core::mem::zeroed() }),
            runtime: AtomicPtr::new(null_mut()),
        });
        // SAFETY: the event's memory is the Arc's and never moves.
        unsafe { KeInitializeEvent(waker.event.get(), SYNCHRONIZATION_EVENT, 0) };
        waker
    }

    /// Waits for a wake-up, at most `timeout` (relative, 100 ns units, negative).
    fn wait_for(&self, timeout: i64) {
        // SAFETY: an initialised event, at PASSIVE_LEVEL.
        unsafe {
            KeWaitForSingleObject(self.event.get().cast(), EXECUTIVE, KERNEL_MODE, 0, &timeout)
        };
    }

    /// Queues the work item, if the disk runs.
    fn kick(&self) {
        let runtime = self.runtime.load(Ordering::Acquire);
        // SAFETY: a non-null runtime is alive until `stop_runtime` has cleared it and waited.
        if let Some(runtime) = unsafe { runtime.as_ref() } {
            runtime.queue();
        }
    }
}

impl StoreWaker for KernelWaker {
    fn wake(&self) {
        // SAFETY: an initialised event.
        unsafe { KeSetEvent(self.event.get(), 0, 0) };
        self.kick();
    }

    fn wait(&self) {
        // SAFETY: an initialised event; the store is used at PASSIVE_LEVEL only.
        unsafe {
            KeWaitForSingleObject(
                self.event.get().cast(),
                EXECUTIVE,
                KERNEL_MODE,
                0,
                core::ptr::null(),
            )
        };
    }
}

/// The work item of a running disk and what it needs.
struct Runtime {
    item: *mut c_void,
    state: *const State,
    queued: AtomicBool,
    running: AtomicBool,
}

impl Runtime {
    fn queue(&self) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            // SAFETY: `item` was allocated for the adapter's device; the context is this
            // runtime, alive until `stop_runtime` saw it idle.
            unsafe {
                IoQueueWorkItem(
                    self.item,
                    run_control_plane,
                    DELAYED_WORK_QUEUE,
                    self as *const Runtime as *mut c_void,
                )
            };
        }
    }
}

/// `IO_WORKITEM_ROUTINE`: the control plane's round, at PASSIVE_LEVEL.
unsafe extern "system" fn run_control_plane(_device: *mut DeviceObject, context: *mut c_void) {
    // SAFETY: the context is the Runtime that queued us (see `Runtime::queue`).
    let runtime = unsafe { &*(context as *const Runtime) };
    runtime.running.store(true, Ordering::Release);
    // Wake-ups from now on queue another round.
    runtime.queued.store(false, Ordering::Release);
    // SAFETY: the state outlives its runtime.
    unsafe { (*runtime.state).control_round() };
    runtime.running.store(false, Ordering::Release);
}

/// Why a disk could not be brought up.
pub enum ConnectError {
    Bus(BusError),
    Front(FrontError),
    Handshake(HandshakeError),
    Disk(DiskError),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Bus(e) => write!(f, "bus: {e:?}"),
            ConnectError::Front(e) => write!(f, "frontend: {e:?}"),
            ConnectError::Handshake(e) => write!(f, "handshake: {e:?}"),
            ConnectError::Disk(e) => write!(f, "disk: {e}"),
        }
    }
}

/// What the request path touches, under [`State`]'s lock.
pub struct Io {
    driver: VbdDriver<BusPlatform, SrbBuffer>,
    pub miniport: Miniport<SrbBuffer>,
}

/// Where a queue's event sends us.
struct DpcTarget {
    extension: *mut c_void,
    dpc: *mut StorDpc,
    queue: usize,
}

impl DpcTarget {
    fn issue(&self) {
        // SAFETY: the extension and DPC outlive the registration calling this (see Send).
        unsafe {
            issue_dpc(
                self.extension,
                self.dpc,
                self.queue as *mut c_void,
                null_mut(),
            )
        };
    }
}

// SAFETY: the extension and its DPCs live as long as the adapter, which outlives the event
// registrations (dropped first in State's drop order).
unsafe impl Send for DpcTarget {}
// SAFETY: as for Send; issuing a DPC is safe from any CPU.
unsafe impl Sync for DpcTarget {}

/// A connected disk. Lives in a Box whose pointer is in the device extension.
pub struct State {
    /// Dropped first: no event callback runs once they are gone.
    events: Vec<EventRegistration>,
    lock: UnsafeCell<KSpinLock>,
    /// The control plane has the Io (reconnecting): the request path keeps out.
    offline: UnsafeCell<bool>,
    io: UnsafeCell<Io>,
    /// A queue met a protocol error: the next control round closes the device.
    broken: AtomicBool,
    /// The disk description, read without the lock by HwBuildIo.
    pub disk: Arc<Disk>,
    pub max_transfer: u32,
    bus: Arc<Bus>,
    /// The store session, PASSIVE_LEVEL only: the first handshake, then the work item.
    store: UnsafeCell<BusStore<KernelWaker>>,
    waker: Arc<KernelWaker>,
    runtime: Option<Box<Runtime>>,
    extension: *mut c_void,
    dpcs: *mut StorDpc,
}

impl State {
    /// Connects vbd `vdev` through `bus`: attaches the frontend driver, runs the XenbusState
    /// handshake to Connected, and builds the miniport over the negotiated queues.
    pub fn connect(bus: Arc<Bus>, vdev: u16) -> Result<Box<State>, ConnectError> {
        let platform = Arc::new(BusPlatform::new(bus.clone()));
        let waker = KernelWaker::new();
        let mut store = open_store(&bus, waker.clone()).map_err(ConnectError::Bus)?;
        let config = QueueConfig::default();
        let device = VbdFrontend::new(platform, vdev, wishes(MAX_QUEUES as u32), config);
        let frontend = format!("device/vbd/{vdev}");
        let mut driver =
            FrontendDriver::attach(&mut store, &frontend, device).map_err(ConnectError::Front)?;
        handshake(&mut store, &mut driver, HANDSHAKE_ROUNDS, |_| {
            waker.wait_for(HANDSHAKE_WAIT)
        })
        .map_err(ConnectError::Handshake)?;
        let (Some(negotiated), Some(blk)) = (
            driver.device().negotiated(),
            driver.device().disk().cloned(),
        ) else {
            return Err(ConnectError::Handshake(HandshakeError::Timeout));
        };
        // The transfer limit of the first connection stays (storport keeps what HwFindAdapter
        // said); the core splits requests for a later backend with smaller limits.
        let disk = Arc::new(
            scsi_disk(blk, &negotiated.features, &config, vdev).map_err(ConnectError::Disk)?,
        );
        let handles = driver.device_mut().take_handles();
        let miniport = Miniport::new(disk.clone(), handles, SLOTS);
        Ok(Box::new(State {
            events: Vec::new(),
            lock: UnsafeCell::new(0),
            offline: UnsafeCell::new(false),
            io: UnsafeCell::new(Io { driver, miniport }),
            broken: AtomicBool::new(false),
            disk,
            max_transfer: max_transfer(&negotiated.features, &config),
            bus,
            store: UnsafeCell::new(store),
            waker,
            runtime: None,
            extension: null_mut(),
            dpcs: null_mut(),
        }))
    }

    /// What the dump path needs of this connection (HwFindAdapter, before anything else can
    /// reach the state: exclusive access, no lock).
    pub fn dump_vbd(&mut self, vdev: u16) -> Option<xenpv_winvbd::dump_bus::Vbd<'_>> {
        let driver = &self.io.get_mut().driver;
        let features = driver.device().negotiated()?.features;
        let disk = driver.device().disk()?.clone();
        let paths = driver.paths();
        Some(xenpv_winvbd::dump_bus::Vbd {
            backend_domain: paths.backend_domid,
            vdev,
            frontend: &paths.frontend,
            backend: &paths.backend,
            disk,
            features,
        })
    }

    /// Runs `f` on the request state under the adapter's spin lock (IRQL <= DISPATCH_LEVEL);
    /// `None` while the control plane has it.
    pub fn with_io<R>(&self, f: impl FnOnce(&mut Io) -> R) -> Option<R> {
        // SAFETY: the lock is this state's; while it is held and the disk is not offline,
        // nobody else has the Io.
        unsafe {
            let irql = KeAcquireSpinLockRaiseToDpc(self.lock.get());
            let r = (!*self.offline.get()).then(|| f(&mut *self.io.get()));
            KeReleaseSpinLock(self.lock.get(), irql);
            r
        }
    }

    fn set_offline(&self, offline: bool) {
        // SAFETY: the flag is only touched under the lock.
        unsafe {
            let irql = KeAcquireSpinLockRaiseToDpc(self.lock.get());
            *self.offline.get() = offline;
            KeReleaseSpinLock(self.lock.get(), irql);
        }
    }

    /// Starts the running disk (PASSIVE_LEVEL, once, before I/O): each queue's event channel
    /// issues its storport DPC, and store wake-ups queue the control plane's work item.
    ///
    /// # Safety
    /// `extension` is the adapter's, `dpcs` its MAX_QUEUES initialised DPCs, `device` its device
    /// object; all alive as long as `self`, which does not move (it is boxed).
    pub unsafe fn start(
        &mut self,
        extension: *mut c_void,
        dpcs: *mut StorDpc,
        device: *mut DeviceObject,
    ) {
        self.extension = extension;
        self.dpcs = dpcs;
        // SAFETY: the caller's promise.
        let item = unsafe { IoAllocateWorkItem(device) };
        if !item.is_null() {
            let runtime = Box::new(Runtime {
                item,
                state: self as *const State,
                queued: AtomicBool::new(false),
                running: AtomicBool::new(false),
            });
            self.waker.runtime.store(
                &*runtime as *const Runtime as *mut Runtime,
                Ordering::Release,
            );
            // Store traffic since the handshake (no work item was there to take it).
            runtime.queue();
            self.runtime = Some(runtime);
        }
        let ports: Vec<_> = self
            .with_io(|io| {
                io.driver
                    .device_mut()
                    .queues_mut()
                    .iter()
                    .map(|q| q.port())
                    .collect()
            })
            .unwrap_or_default();
        for (queue, port) in ports.into_iter().enumerate().take(MAX_QUEUES) {
            let Some(port) = port else { continue };
            let target = DpcTarget {
                extension,
                // SAFETY: the caller's promise; `queue` < MAX_QUEUES.
                dpc: unsafe { dpcs.add(queue) },
                queue,
            };
            match self.bus.on_event(port, move |_| target.issue()) {
                Ok(r) => self.events.push(r),
                Err(e) => print(
                    DPFLTR_ERROR_LEVEL,
                    format_args!("xenvbd: queue {queue}: no event routing ({e:?})"),
                ),
            }
        }
        self.kick_all();
    }

    /// Issues the DPC of every queue that may be serviced at DISPATCH_LEVEL (after start, and
    /// after a control round, which has just serviced the others itself).
    fn kick_all(&self) {
        let mut safe = [false; MAX_QUEUES];
        self.with_io(|io| {
            for (queue, q) in io.driver.device_mut().queues_mut().iter().enumerate() {
                if let Some(s) = safe.get_mut(queue) {
                    *s = dispatch_safe(q);
                }
            }
        });
        for (queue, _) in safe.iter().enumerate().filter(|(_, s)| **s) {
            // SAFETY: `start` recorded the adapter's extension and DPCs.
            unsafe {
                issue_dpc(
                    self.extension,
                    self.dpcs.add(queue),
                    queue as *mut c_void,
                    null_mut(),
                )
            };
        }
    }

    /// Lets queue `queue` move requests and completes the SRBs it finished.
    pub fn service(&self, queue: usize) {
        self.with_io(|io| self.service_queue(io, queue));
    }

    /// [`State::service`] with the lock already held, at DISPATCH_LEVEL: a queue whose service
    /// could call XENBUS's region functions (PASSIVE_LEVEL only) is left to the work item — one
    /// granting per request (no persistent pool agreed) or holding regions the backend had not
    /// let go of (quarantined, retried on each service).
    pub fn service_queue(&self, io: &mut Io, queue: usize) {
        if let Some(q) = io.driver.device_mut().queues_mut().get_mut(queue) {
            if dispatch_safe(q) {
                self.service_ring(q, queue);
            } else {
                self.waker.kick();
            }
        }
        self.collect(io, queue);
    }

    /// Services one ring; a protocol error has the control plane close and reconnect the
    /// device (the core replays what was on the ring).
    fn service_ring(&self, q: &mut BlkQueue<BusPlatform, Window<SrbBuffer>>, queue: usize) {
        if let Err(e) = q.service() {
            print(
                DPFLTR_ERROR_LEVEL,
                format_args!("xenvbd: queue {queue}: backend protocol error {e}"),
            );
            if !self.broken.swap(true, Ordering::AcqRel) {
                self.waker.kick();
            }
        }
    }

    /// Completes the SRBs queue `queue` finished.
    fn collect(&self, io: &mut Io, queue: usize) {
        let extension = self.extension;
        // SAFETY: the miniport hands back SRBs this adapter received.
        io.miniport
            .collect(queue, |done| unsafe { complete(extension, done) });
    }

    /// One round of the control plane (the work item, PASSIVE_LEVEL): the request path is kept
    /// out while the frontend driver follows the store, so the queues can be disconnected and
    /// connected again under it.
    fn control_round(&self) {
        self.set_offline(true);
        // SAFETY: offline: neither the DPCs nor StartIo touch the Io now, and the store is only
        // used by this work item (one at a time) after the first handshake.
        let (io, store) = unsafe { (&mut *self.io.get(), &mut *self.store.get()) };
        let mut result = Ok(());
        if self.broken.swap(false, Ordering::AcqRel) {
            result = frontend::close(store, &mut io.driver);
        }
        let result = result.and_then(|()| frontend::recover(store, &mut io.driver));
        if let Err(e) = result {
            print(
                DPFLTR_ERROR_LEVEL,
                format_args!("xenvbd: control plane: {e:?}"),
            );
        }
        // At PASSIVE_LEVEL every queue may be serviced, whatever its grants need.
        let queues = io.driver.device_mut().queues_mut().len();
        for queue in 0..queues {
            if let Some(q) = io.driver.device_mut().queues_mut().get_mut(queue) {
                self.service_ring(q, queue);
            }
            self.collect(io, queue);
        }
        self.set_offline(false);
        self.kick_all();
    }

    /// Stops the work item and waits until it is idle (PASSIVE_LEVEL, before the state goes).
    pub fn stop_runtime(&mut self) {
        self.waker.runtime.store(null_mut(), Ordering::Release);
        if let Some(runtime) = self.runtime.take() {
            while runtime.queued.load(Ordering::Acquire) || runtime.running.load(Ordering::Acquire)
            {
                let ten_ms: i64 = -100_000;
                // SAFETY: a plain delay at PASSIVE_LEVEL.
                unsafe { KeDelayExecutionThread(KERNEL_MODE, 0, &ten_ms) };
            }
            // SAFETY: the item is idle and never queued again.
            unsafe { IoFreeWorkItem(runtime.item) };
        }
    }
}
