//! The Xen platform device's hardware side: what START_DEVICE brings up and STOP / SURPRISE /
//! REMOVE tear down, in the order and with the rollback of `xenpv_xenbus_core::bringup`.
//!
//! Start finds Xen (CPUID, direct VMCALL/VMMCALL), unplugs the emulated disks and NICs through
//! the platform device's fixed ports 0x10/0x12 (as `UnplugDisks` / `UnplugNics` under the
//! service's `Parameters` say, both by default), maps the memory BAR and has Xen place shared_info
//! and the grant table frames in it, allocates the page arena for granted regions, maps the
//! store ring from HVM_PARAM_STORE_PFN, connects the platform device's line interrupt as the
//! event upcall and points HVM_PARAM_CALLBACK_IRQ at its GSI, and finally builds the bus
//! interface's provider (store client on the ring, grants, event channels, clock) that the
//! children get through IRP_MN_QUERY_INTERFACE.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::ptr::{null_mut, NonNull};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use xenpv_abi::shared_info::SharedInfo;
use xenpv_abi::PAGE_SIZE;
use xenpv_busif::Provider;
use xenpv_control::xs::client::{Client, Error as ClientError, RingSignal, RingTransport};
use xenpv_control::xs::ring::RingError;
use xenpv_datapath::shmem::SharedMem;
use xenpv_ddk::bus::{KeFlushQueuedDpcs, MmMapIoSpace, MmUnmapIoSpace};
use xenpv_ddk::debug::{DPFLTR_ERROR_LEVEL, DPFLTR_INFO_LEVEL};
use xenpv_ddk::interrupt::{
    IoConnectInterruptParameters, IoDisconnectInterruptParameters, KInterrupt, CONNECT_LINE_BASED,
};
use xenpv_ddk::kernel::{
    IoConnectInterruptEx, IoDisconnectInterruptEx, MmAllocateContiguousMemorySpecifyCache,
    MmFreeContiguousMemory, MmGetPhysicalAddress,
};
use xenpv_ddk::memory::MM_CACHED;
use xenpv_ddk::object::DeviceObject;
use xenpv_ddk::status::{
    nt_success, NtStatus, STATUS_DEVICE_CONFIGURATION_ERROR, STATUS_INSUFFICIENT_RESOURCES,
    STATUS_NO_SUCH_DEVICE, STATUS_UNSUCCESSFUL,
};
use xenpv_wdm::resources::{encoded_len, parse, Resource, ResourceListError};
use xenpv_xen::gnttab::{Entry, GrantTable, ENTRIES_PER_FRAME};
use xenpv_xen::hvm;
use xenpv_xen::hypercall::Direct;
use xenpv_xen::pages::PageArena;
use xenpv_xen::platform::{XenGrants, XenPlatform};
use xenpv_xen::unplug;
use xenpv_xen::Xen;
use xenpv_xenbus_core::bar::{platform_device, BarPlan, PlatformDevice};
use xenpv_xenbus_core::bringup::{self, xen as steps, Started, Step, Steps};
use xenpv_xenbus_core::home::{SuspendContext, XenHome};
use xenpv_xenbus_core::suspend::ResumePlan;

use crate::dump::{self, XenDumpProvider, CRASH_DUMP_REFS};
use crate::events::{isr, Upcall};
use crate::kobj::Event;
use crate::park;

/// The decoded resources of IRP_MN_START_DEVICE: as the bus sees them (raw) and as the processor
/// sees them (translated: interrupt vectors and affinities, mapped addresses).
pub struct PlatformResources {
    pub raw: Vec<Resource>,
    pub translated: Vec<Resource>,
}

impl PlatformResources {
    /// Decodes the two lists of a start request (either pointer may be null: no resources).
    ///
    /// # Safety
    /// Each non-null pointer is a `CM_RESOURCE_LIST` valid for the duration of the call.
    pub unsafe fn decode(raw: *const c_void, translated: *const c_void) -> Result<Self, NtStatus> {
        // SAFETY: the caller's promise.
        let lists = unsafe { (read_list(raw), read_list(translated)) };
        match lists {
            (Ok(raw), Ok(translated)) => Ok(PlatformResources { raw, translated }),
            (Err(e), _) | (_, Err(e)) => {
                xenpv_ddk::debug::print(
                    DPFLTR_ERROR_LEVEL,
                    format_args!("xenbus: bad resource list: {e}"),
                );
                Err(STATUS_DEVICE_CONFIGURATION_ERROR)
            }
        }
    }
}

/// Decodes one list: its length from the count fields, then its bytes.
///
/// # Safety
/// As for [`PlatformResources::decode`].
unsafe fn read_list(list: *const c_void) -> Result<Vec<Resource>, ResourceListError> {
    if list.is_null() {
        return Ok(Vec::new());
    }
    let base = list.cast::<u8>();
    // SAFETY: encoded_len reads each count only after the counts before it said the list extends
    // that far; the lists are 4-byte packed, so the reads are unaligned.
    let len = encoded_len(|at| unsafe { base.add(at).cast::<u32>().read_unaligned() })?;
    // SAFETY: the list spans `len` bytes, as its own counts say.
    parse(unsafe { core::slice::from_raw_parts(base, len) })
}

/// The bus interface's provider on this home.
pub type BusProvider = Provider<XenHome<'static, Direct>, RingTransport<StoreSignal>>;

/// Grant table frames wanted (each holds 512 references); fewer if the BAR or Xen says so.
const GRANT_FRAMES: u32 = 32;
/// Pages of the arena granted regions come from (8 MiB: rings and buffer pools of the children).
const ARENA_PAGES: usize = 2048;
/// The store's fallback poll interval: 50 ms in 100 ns units.
const STORE_POLL_100NS: i64 = 500_000;
/// The build number the unplug protocol reports (this crate's version, as major << 16 | minor).
const BUILD: u32 = 0x0001;

/// The CPU's time-stamp counter, for the wall clock's system time.
fn read_tsc() -> u64 {
    // SAFETY: RDTSC has no preconditions on x86-64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

fn log(level: u32, args: core::fmt::Arguments<'_>) {
    xenpv_ddk::debug::print(level, args);
}

/// The store ring's event channel: notify with a hypercall, wait for the DPC's wake-up.
pub struct StoreSignal {
    xen: Xen<Direct>,
    /// The upcall's store port (a resume changes it).
    port: *const AtomicU32,
    event: *mut xenpv_ddk::sync::KEvent,
}

// SAFETY: the event is a kernel object used through kernel calls; it outlives the provider.
unsafe impl Send for StoreSignal {}

impl RingSignal for StoreSignal {
    fn notify(&self) {
        // SAFETY: the Upcall outlives the provider (the Interrupt step is released after it).
        let port = unsafe { &*self.port }.load(Ordering::Acquire);
        let _ = self.xen.send(port);
    }

    fn wait(&self) {
        // Bounded, so that the ring is looked at again even if an upcall went missing (the
        // transport re-checks the ring after every wait): a lost interrupt slows the store down
        // instead of hanging the boot.
        let timeout: i64 = -STORE_POLL_100NS;
        // SAFETY: the store's event, alive while the provider is (see Running's release order).
        unsafe {
            xenpv_ddk::kernel::KeWaitForSingleObject(
                self.event.cast(),
                xenpv_ddk::sync::EXECUTIVE,
                xenpv_ddk::sync::KERNEL_MODE,
                0,
                &timeout,
            )
        };
    }
}

/// A contiguous run of pages for the arena, with its frame numbers and bitmap.
struct Arena {
    mem: *mut c_void,
    frames: *mut [u64],
    used: *mut [AtomicU64],
    arena: *mut PageArena<'static>,
}

/// Everything a started device holds; each field is one step's acquisition.
struct Running {
    fdo: *mut DeviceObject,
    pdo: *mut DeviceObject,
    direct: Direct,
    found: PlatformDevice,
    plan: Option<BarPlan>,
    bar: Option<NonNull<u8>>,
    table: Option<(*mut GrantTable<'static>, *mut [AtomicU32])>,
    arena: Option<Arena>,
    store: Option<(NonNull<u8>, hvm::Ring, Event)>,
    upcall: Option<(Box<Upcall>, *mut KInterrupt)>,
    provider: Option<*mut BusProvider>,
    /// The dump interface's provider, made and released with `provider`.
    dump: Option<*mut XenDumpProvider>,
    /// The provider outlived its stop (a child still held the interface): everything it uses
    /// stays mapped and allocated for good rather than be freed under it.
    leaked: bool,
}

#[derive(Clone, Copy, Debug)]
enum StepError {
    Status(NtStatus),
    Xen(steps::XenStepError),
}

impl Running {
    fn xen(&self) -> Xen<Direct> {
        Xen::new(self.direct)
    }

    fn shared_info(&self) -> *const SharedInfo {
        self.bar
            .map_or(core::ptr::null(), |b| b.as_ptr() as *const SharedInfo)
    }

    fn map_bar(&mut self) -> Result<(), StepError> {
        let plan = steps::plan_bar(
            &self.xen(),
            self.found.bar_start,
            self.found.bar_length,
            GRANT_FRAMES,
        )
        .map_err(StepError::Xen)?;
        // SAFETY: the device's own BAR, translated; the range is inside it (the plan fits it).
        let va = unsafe {
            MmMapIoSpace(
                plan.base_gfn as i64 * PAGE_SIZE as i64,
                plan.used_bytes(),
                MM_CACHED,
            )
        };
        self.bar =
            Some(NonNull::new(va.cast()).ok_or(StepError::Status(STATUS_INSUFFICIENT_RESOURCES))?);
        self.plan = Some(plan);
        Ok(())
    }

    fn grant_table(&mut self) -> Result<(), StepError> {
        let (plan, bar) = (
            self.plan.ok_or(StepError::Status(STATUS_UNSUCCESSFUL))?,
            self.bar.ok_or(StepError::Status(STATUS_UNSUCCESSFUL))?,
        );
        steps::place_grant_frames(&self.xen(), &plan).map_err(|e| StepError::Xen(e.into()))?;
        let n = plan.grant_frames as usize * ENTRIES_PER_FRAME;
        // SAFETY: the frames Xen just placed at these BAR pages, mapped by `map_bar`, used only
        // through this table until it is dropped (before the BAR is unmapped).
        let entries: &'static [Entry] = unsafe {
            core::slice::from_raw_parts(
                bar.as_ptr().add(plan.grant_frame_offset(0)) as *const Entry,
                n,
            )
        };
        let links: *mut [AtomicU32] = Box::into_raw(
            (0..n)
                .map(|_| AtomicU32::new(0))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        // SAFETY: leaked just above, freed by the release of this step after the table.
        let links_ref: &'static [AtomicU32] = unsafe { &*links };
        match GrantTable::new(
            entries,
            links_ref,
            plan.grant_frames as usize,
            CRASH_DUMP_REFS,
        ) {
            Ok(t) => {
                self.table = Some((Box::into_raw(Box::new(t)), links));
                Ok(())
            }
            Err(_) => {
                // SAFETY: nothing borrowed it.
                drop(unsafe { Box::from_raw(links) });
                Err(StepError::Status(STATUS_DEVICE_CONFIGURATION_ERROR))
            }
        }
    }

    fn arena(&mut self) -> Result<(), StepError> {
        let bytes = ARENA_PAGES * PAGE_SIZE;
        // SAFETY: a plain allocation. Grant table v1 entries hold 32-bit frame numbers, so the
        // pages must lie below 2^44.
        let mem = unsafe {
            MmAllocateContiguousMemorySpecifyCache(bytes, 0, (1i64 << 44) - 1, 0, MM_CACHED)
        };
        if mem.is_null() {
            return Err(StepError::Status(STATUS_INSUFFICIENT_RESOURCES));
        }
        // SAFETY: the allocation just made; regions are promised zeroed.
        unsafe { core::ptr::write_bytes(mem.cast::<u8>(), 0, bytes) };
        let frames: Vec<u64> = (0..ARENA_PAGES)
            // SAFETY: addresses inside the allocation.
            .map(|i| unsafe { MmGetPhysicalAddress(mem.cast::<u8>().add(i * PAGE_SIZE).cast()) } as u64 / PAGE_SIZE as u64)
            .collect();
        let frames: *mut [u64] = Box::into_raw(frames.into_boxed_slice());
        let used: *mut [AtomicU64] = Box::into_raw(
            (0..ARENA_PAGES.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        // SAFETY: the allocation is mapped, ours alone, and page i is frames[i]; frames and used
        // are leaked until this step's release, which drops the arena first.
        let arena = unsafe { PageArena::new(NonNull::new_unchecked(mem.cast()), &*frames, &*used) };
        match arena {
            Ok(a) => {
                self.arena = Some(Arena {
                    mem,
                    frames,
                    used,
                    arena: Box::into_raw(Box::new(a)),
                });
                Ok(())
            }
            Err(_) => {
                // SAFETY: nothing borrows them.
                unsafe {
                    drop(Box::from_raw(frames));
                    drop(Box::from_raw(used));
                    MmFreeContiguousMemory(mem);
                }
                Err(StepError::Status(STATUS_INSUFFICIENT_RESOURCES))
            }
        }
    }

    fn store_ring(&mut self) -> Result<(), StepError> {
        let ring = hvm::store(&self.xen()).map_err(|e| StepError::Xen(e.into()))?;
        // SAFETY: the store page Xen set aside for this domain (reserved in the memory map).
        let va =
            unsafe { MmMapIoSpace((ring.pfn * PAGE_SIZE as u64) as i64, PAGE_SIZE, MM_CACHED) };
        let va = NonNull::new(va.cast()).ok_or(StepError::Status(STATUS_INSUFFICIENT_RESOURCES))?;
        self.store = Some((va, ring, Event::new(false)));
        Ok(())
    }

    fn interrupt(&mut self) -> Result<(), StepError> {
        let (_, ring, event) = self
            .store
            .as_ref()
            .ok_or(StepError::Status(STATUS_UNSUCCESSFUL))?;
        // SAFETY: shared_info and the store event live until after this step's release.
        let upcall = unsafe { Upcall::new(self.fdo, self.shared_info(), ring.port, event.raw()) }
            .ok_or(StepError::Status(STATUS_INSUFFICIENT_RESOURCES))?;
        let mut object: *mut KInterrupt = null_mut();
        let mut params =
            IoConnectInterruptParameters::line_based(self.pdo, &mut object, isr, upcall.context());
        // SAFETY: parameters as documented; the context outlives the connection.
        let status = unsafe { IoConnectInterruptEx(&mut params) };
        if !nt_success(status) {
            return Err(StepError::Status(status));
        }
        self.upcall = Some((upcall, object));
        Ok(())
    }

    fn provider(&mut self) -> Result<(), StepError> {
        let fail = StepError::Status(STATUS_UNSUCCESSFUL);
        let (table, _) = self.table.ok_or(fail)?;
        let arena = self.arena.as_ref().ok_or(fail)?.arena;
        let (va, ring, event) = self.store.as_ref().ok_or(fail)?;
        // SAFETY: all three live until after this step's release (the steps before it).
        let (table, arena) = unsafe { (&*table, &*arena) };
        let platform = XenPlatform {
            xen: self.xen(),
            grants: XenGrants::new(table, arena),
        };
        let (upcall, _) = self.upcall.as_ref().ok_or(fail)?;
        // SAFETY: the Upcall (a Box) outlives the provider: the Interrupt step is released after.
        let store_port: &'static AtomicU32 = unsafe { &*(&upcall.store_port as *const AtomicU32) };
        let suspend = SuspendContext {
            plan: ResumePlan {
                bar: self.plan.ok_or(fail)?,
                gsi: self.found.gsi,
                store_pfn: ring.pfn,
            },
            alone: &park::alone,
            store_port,
        };
        // SAFETY: shared_info stays mapped until after the provider is dropped.
        let home = unsafe { XenHome::new(platform, table, self.shared_info(), read_tsc) }
            .with_suspend(suspend);
        // SAFETY: the store page, mapped by the StoreRing step until after this one's release.
        let mem = unsafe { SharedMem::new(*va, PAGE_SIZE) };
        let signal = StoreSignal {
            xen: self.xen(),
            port: store_port,
            event: event.raw(),
        };
        let transport = RingTransport::new(mem, signal)
            .map_err(|_| StepError::Status(STATUS_DEVICE_CONFIGURATION_ERROR))?;
        let mut client = Client::new(transport);
        // Whoever used the ring before us (the firmware's xenstore driver, our own previous
        // start) may have left requests, replies or watches on it: start from a clean
        // connection where xenstored offers the reset (xenstore-ring.txt), as-is otherwise.
        match client.reconnect() {
            Ok(()) | Err(ClientError::Ring(RingError::ReconnectUnsupported)) => {}
            Err(e) => {
                log(
                    DPFLTR_ERROR_LEVEL,
                    format_args!("xenbus: store reconnect: {e:?}"),
                );
                return Err(StepError::Status(STATUS_DEVICE_CONFIGURATION_ERROR));
            }
        }
        let provider = Box::into_raw(Box::new(Provider::new(home, client)));
        // SAFETY: the table and the store page outlive this step's release, as for `provider`.
        self.dump = Some(unsafe { dump::provider(self.xen(), table, *va, ring.port) });
        if let Some((u, _)) = &self.upcall {
            u.provider.store(provider, Ordering::Release);
        }
        self.provider = Some(provider);
        Ok(())
    }
}

impl Steps for Running {
    type Error = StepError;

    fn acquire(&mut self, step: Step) -> Result<(), StepError> {
        match step {
            Step::Unplug => {
                match unplug::unplug(
                    &mut crate::xen::Ports,
                    unplug::PRODUCT_EXPERIMENTAL,
                    BUILD,
                    crate::registry::unplug(),
                ) {
                    Ok(u) => log(
                        DPFLTR_INFO_LEVEL,
                        format_args!(
                            "xenbus: unplugged emulated devices {:#x} (protocol {})",
                            u.mask, u.version
                        ),
                    ),
                    // A blacklisted driver must not take over from the emulated devices.
                    Err(unplug::UnplugError::Blacklisted) => {
                        return Err(StepError::Status(STATUS_NO_SUCH_DEVICE))
                    }
                    // Without the protocol the emulated devices stay; the PV devices still work.
                    Err(e) => log(
                        DPFLTR_ERROR_LEVEL,
                        format_args!("xenbus: no emulated-device unplug: {e:?}"),
                    ),
                }
                Ok(())
            }
            Step::MapBar => self.map_bar(),
            Step::SharedInfo => {
                let plan = self.plan.ok_or(StepError::Status(STATUS_UNSUCCESSFUL))?;
                steps::place_shared_info(&self.xen(), &plan).map_err(|e| StepError::Xen(e.into()))
            }
            Step::GrantTable => self.grant_table(),
            Step::Arena => self.arena(),
            Step::StoreRing => self.store_ring(),
            Step::Interrupt => self.interrupt(),
            Step::CallbackIrq => steps::set_callback_gsi(&self.xen(), self.found.gsi)
                .map_err(|e| StepError::Xen(e.into())),
            Step::Provider => self.provider(),
        }
    }

    fn release(&mut self, step: Step) {
        let provider_memory = matches!(
            step,
            Step::MapBar | Step::GrantTable | Step::Arena | Step::StoreRing
        );
        if self.leaked && provider_memory {
            return;
        }
        match step {
            // Unplugged devices stay unplugged until the next boot; shared_info stays placed.
            Step::Unplug | Step::SharedInfo => {}
            Step::MapBar => {
                if let (Some(bar), Some(plan)) = (self.bar.take(), self.plan.take()) {
                    // SAFETY: mapped by this step with this size; nothing uses it any more.
                    unsafe { MmUnmapIoSpace(bar.as_ptr().cast(), plan.used_bytes()) };
                }
            }
            Step::GrantTable => {
                if let Some((table, links)) = self.table.take() {
                    // SAFETY: leaked by this step; the provider (its only borrower) is gone.
                    unsafe {
                        drop(Box::from_raw(table));
                        drop(Box::from_raw(links));
                    }
                }
            }
            Step::Arena => {
                if let Some(a) = self.arena.take() {
                    // SAFETY: leaked by this step; the provider (the arena's only user) is gone.
                    unsafe {
                        drop(Box::from_raw(a.arena));
                        drop(Box::from_raw(a.frames));
                        drop(Box::from_raw(a.used));
                        MmFreeContiguousMemory(a.mem);
                    }
                }
            }
            Step::StoreRing => {
                if let Some((va, _, _event)) = self.store.take() {
                    // SAFETY: mapped by this step; its users (transport, upcall) are gone.
                    unsafe { MmUnmapIoSpace(va.as_ptr().cast(), PAGE_SIZE) };
                }
            }
            Step::Interrupt => {
                if let Some((upcall, object)) = self.upcall.take() {
                    let mut params = IoDisconnectInterruptParameters {
                        version: CONNECT_LINE_BASED,
                        connection_context: object.cast(),
                    };
                    // SAFETY: connected by this step; after the flush no DPC of ours runs, and
                    // the store work was drained with the provider.
                    unsafe {
                        IoDisconnectInterruptEx(&mut params);
                        KeFlushQueuedDpcs();
                    }
                    upcall.drain_store_work();
                    drop(upcall);
                }
            }
            Step::CallbackIrq => {
                let _ = steps::clear_callback(&self.xen());
            }
            Step::Provider => {
                if let Some(d) = self.dump.take() {
                    // SAFETY: made by this step; only the PDOs' QUERY_INTERFACE reaches it,
                    // and the children are gone before the bus stops.
                    let dump = unsafe { Box::from_raw(d) };
                    if dump.references() != 0 {
                        // A disk still holds it (its dump path's grants and block): it and what
                        // it uses stay, as for the bus interface below.
                        self.leaked = true;
                        Box::leak(dump);
                    }
                }
                if let Some(p) = self.provider.take() {
                    if let Some((u, _)) = &self.upcall {
                        u.provider.store(null_mut(), Ordering::Release);
                        // SAFETY: no new DPC can see the provider; wait for those that did.
                        unsafe { KeFlushQueuedDpcs() };
                        u.drain_store_work();
                    }
                    // SAFETY: leaked by this step, unpublished and no longer reachable above.
                    let provider = unsafe { Box::from_raw(p) };
                    if provider.references() != 0 {
                        // A child still holds the interface: leaking it, and what it uses, is
                        // the only safe choice.
                        self.leaked = true;
                        log(
                            DPFLTR_ERROR_LEVEL,
                            format_args!(
                                "xenbus: {} interface references outstanding at stop",
                                provider.references()
                            ),
                        );
                        Box::leak(provider);
                    }
                }
            }
        }
    }
}

/// The platform device's hardware state, one per function device.
pub struct Hardware {
    running: Option<(Box<Running>, Started)>,
}

impl Hardware {
    pub const fn new() -> Self {
        Hardware { running: None }
    }

    /// References children hold on the bus interface (0 while stopped).
    pub fn references(&self) -> usize {
        self.provider().map_or(0, |p| p.references())
    }

    /// The bus interface's provider, while started.
    pub fn provider(&self) -> Option<&BusProvider> {
        let (r, _) = self.running.as_ref()?;
        // SAFETY: valid until `stop` releases the Provider step.
        r.provider.map(|p| unsafe { &*p })
    }

    /// The dump interface's provider while the bus runs.
    pub fn dump_provider(&self) -> Option<&XenDumpProvider> {
        let (r, _) = self.running.as_ref()?;
        // SAFETY: valid until `stop` releases the Provider step.
        r.dump.map(|p| unsafe { &*p })
    }

    /// Brings Xen up for the device `fdo` on top of the PCI device `pdo`.
    pub fn start(
        &mut self,
        fdo: *mut DeviceObject,
        pdo: *mut DeviceObject,
        resources: &PlatformResources,
    ) -> Result<(), NtStatus> {
        for (raw, translated) in resources.raw.iter().zip(&resources.translated) {
            log(
                DPFLTR_INFO_LEVEL,
                format_args!("xenbus: resource {raw:x?} -> {translated:x?}"),
            );
        }
        let Some(found) = platform_device(&resources.raw, &resources.translated) else {
            log(
                DPFLTR_ERROR_LEVEL,
                format_args!("xenbus: no memory BAR or line interrupt"),
            );
            return Err(STATUS_DEVICE_CONFIGURATION_ERROR);
        };
        let Some((cpuid, direct)) = crate::xen::detect() else {
            log(
                DPFLTR_ERROR_LEVEL,
                format_args!("xenbus: not running on Xen"),
            );
            return Err(STATUS_NO_SUCH_DEVICE);
        };
        log(
            DPFLTR_INFO_LEVEL,
            format_args!(
                "xenbus: Xen {}.{} at CPUID {:#x}",
                cpuid.major, cpuid.minor, cpuid.base
            ),
        );
        let mut running = Box::new(Running {
            fdo,
            pdo,
            direct,
            found,
            plan: None,
            bar: None,
            table: None,
            arena: None,
            store: None,
            upcall: None,
            provider: None,
            dump: None,
            leaked: false,
        });
        match bringup::bring_up(&mut *running) {
            Ok(started) => {
                log(
                    DPFLTR_INFO_LEVEL,
                    format_args!("xenbus: started ({:?})", running.plan),
                );
                self.running = Some((running, started));
                Ok(())
            }
            Err((step, e)) => {
                let status = match e {
                    StepError::Status(s) => s,
                    StepError::Xen(x) => {
                        log(
                            DPFLTR_ERROR_LEVEL,
                            format_args!("xenbus: Xen refused: {x:?}"),
                        );
                        STATUS_DEVICE_CONFIGURATION_ERROR
                    }
                };
                log(
                    DPFLTR_ERROR_LEVEL,
                    format_args!("xenbus: start failed at {step:?}: {status:#x}"),
                );
                Err(status)
            }
        }
    }

    pub fn stop(&mut self) {
        if let Some((mut running, mut started)) = self.running.take() {
            started.tear_down(&mut *running);
            log(
                DPFLTR_INFO_LEVEL,
                format_args!("xenbus: platform device stopped"),
            );
        }
    }
}
