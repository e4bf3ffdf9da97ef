//! blkfront on real blkback: control's vbd machine and datapath's blkif queue on this home, one
//! queue with persistent grants and indirect descriptors, writing a pattern over a range of the
//! disk, reading it back and checking every sector, carrying writes in flight across a save and
//! restore (the queue replays what was unanswered), then closing the device cleanly.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use xenpv_abi::blkif::BLKIF_SECTOR_SIZE;
use xenpv_abi::xenbus::XenbusState;
use xenpv_control::vbd::{FrontWishes, VbdFrontend};
use xenpv_control::xenbus::{FrontendDevice, FrontendDriver};
use xenpv_control::xs::client::{Error, RingTransport, Store};
use xenpv_control::xs::XsError;
use xenpv_datapath::blkif::{verify, BlockOp, BlockRequest, QueueConfig, QueueHandle};

use crate::front::{detach, ms, pump, rejoin, Fronts, Metal, Waited};
use crate::say;
use crate::steps::{at, detail, Failure};
use crate::store::{Device, Signal, StoreClient};

/// Bytes written and read back.
const SPAN: usize = 4 << 20;
/// Bytes per request: 64 pages, more than a direct request's 11 segments, so each request goes
/// out as indirect requests (split to the backend's segment limit if it is lower).
const REQUEST: usize = 256 << 10;
/// Requests the queue holds at once.
const IN_FLIGHT: usize = 8;
/// Where the range starts (sectors): not at 0, so that an offset error shows.
const FIRST_SECTOR: u64 = 2048;
type Vbd = VbdFrontend<Metal, Vec<u8>>;

const WISHES: FrontWishes = FrontWishes {
    persistent: true,
    indirect: true,
    ring_order: 0,
    queues: 1,
};
const CONFIG: QueueConfig = QueueConfig {
    max_requests: IN_FLIGHT,
    max_indirect_segments: (REQUEST / 4096) as u32,
    pool_pages: 256,
};

/// A pass over the range.
struct Transfer {
    op: BlockOp,
    /// The pattern written or expected.
    seed: u64,
    issued: u64,
    done: u64,
}

/// The connected vbd of the proof: its driver (machine + queue), the upper layer's handle and the
/// buffers the requests travel in. The phases are separate so that other steps (a suspend and
/// resume) can come between them; every wait pumps the store, so a backend that leaves and comes
/// back meanwhile is followed, and the queue replays what was unanswered.
pub struct Blk {
    path: String,
    vdev: u16,
    driver: FrontendDriver<Vbd>,
    handle: QueueHandle<Vec<u8>>,
    buffers: Vec<Vec<u8>>,
    io: Option<Transfer>,
    /// The device between [`Blk::leave`] and [`Blk::rejoin`].
    left: Option<Vbd>,
}

impl Blk {
    /// Attaches to `dev`, connects to its backend and checks what was negotiated.
    pub fn connect(fronts: &Fronts, xs: &mut StoreClient, dev: &Device) -> Result<Self, Failure> {
        let vdev: u16 = dev
            .path
            .rsplit('/')
            .next()
            .and_then(|id| id.parse().ok())
            .ok_or(at("blk")("the vbd id is not a number"))?;
        let vbd: Vbd = VbdFrontend::new(fronts.platform.clone(), vdev, WISHES, CONFIG);
        let mut driver =
            FrontendDriver::attach(xs, &dev.path, vbd).map_err(detail("blk attach"))?;
        driver.connect(xs).map_err(detail("blk connect"))?;
        let took = fronts.wait("blk connect", 15_000, fronts.store_port(), || {
            pump("blk connect", xs, &mut driver)?;
            Ok(driver.machine().is_connected())
        })?;
        let backend = &driver.paths().backend;
        let key = |xs: &mut StoreClient, k: &str| -> Result<String, Failure> {
            Ok(xs
                .try_read(&alloc::format!("{backend}/{k}"))
                .map_err(at("blk keys"))?
                .map(|v| v.into_iter().map(char::from).collect())
                .unwrap_or_else(|| "(absent)".into()))
        };
        let persistent = key(xs, "feature-persistent")?;
        let indirect = key(xs, "feature-max-indirect-segments")?;
        let n = driver
            .device()
            .negotiated()
            .ok_or(at("blk connect")("connected without a negotiation"))?;
        let disk = driver
            .device()
            .disk()
            .cloned()
            .ok_or(at("blk connect")("connected without a disk"))?;
        let segments = driver.device_mut().queues_mut()[0]
            .segments_per_request()
            .unwrap_or(0);
        say!(
            "blk {} connected in {} ms: {} sectors of {} bytes; backend \
             feature-persistent={persistent} feature-max-indirect-segments={indirect}; using \
             persistent={} indirect segments={} ({segments} per request), ring order {}",
            dev.path,
            ms(took.ns),
            disk.sectors(),
            disk.sector_size,
            n.features.persistent,
            n.features.max_indirect_segments,
            n.ring_order
        );
        if !n.features.persistent || n.features.max_indirect_segments == 0 {
            return Err(at("blk connect")(
                "blkback offers persistent grants and indirect descriptors; we did not agree on \
                 both",
            ));
        }
        if disk.sectors() < FIRST_SECTOR + (SPAN / BLKIF_SECTOR_SIZE) as u64 {
            return Err(at("blk connect")("the disk is smaller than the test range"));
        }
        let handle = driver
            .device_mut()
            .take_handles()
            .pop()
            .ok_or(at("blk connect")("no queue handle"))?;
        Ok(Self {
            path: dev.path.clone(),
            vdev,
            driver,
            handle,
            buffers: (0..IN_FLIGHT).map(|_| vec![0u8; REQUEST]).collect(),
            io: None,
            left: None,
        })
    }

    /// Says how a write pass and the read pass after it went; every request must have gone out
    /// indirect.
    pub fn report(&mut self, what: &str, wrote: Waited, read: Waited) -> Result<(), Failure> {
        let stats = self.driver.device_mut().queues_mut()[0].stats();
        say!(
            "blk {}: {what}: wrote {} KiB in {} ms, read it back in {} ms ({} + {} ring events), \
             all {} sectors verified; so far {} requests of {} KiB, {} ring requests ({} \
             indirect, {} replayed)",
            self.path,
            SPAN / 1024,
            ms(wrote.ns),
            ms(read.ns),
            wrote.events,
            read.events,
            SPAN / BLKIF_SECTOR_SIZE,
            stats.completed,
            REQUEST / 1024,
            stats.ring_requests,
            stats.indirect_requests,
            stats.replayed,
        );
        if stats.indirect_requests < stats.ring_requests {
            return Err(at("blk io")("a request went out direct"));
        }
        Ok(())
    }

    /// Ring requests issued again on a new connection so far.
    pub fn replayed(&mut self) -> u64 {
        self.driver.device_mut().queues_mut()[0].stats().replayed
    }

    /// Writes the pattern of `seed` over the range.
    pub fn write(
        &mut self,
        fronts: &Fronts,
        xs: &mut StoreClient,
        seed: u64,
    ) -> Result<Waited, Failure> {
        self.start(xs, BlockOp::Write, seed)?;
        self.finish(fronts, xs)
    }

    /// Reads the range back and checks every sector against the pattern of `seed`.
    pub fn read_back(
        &mut self,
        fronts: &Fronts,
        xs: &mut StoreClient,
        seed: u64,
    ) -> Result<Waited, Failure> {
        self.start(xs, BlockOp::Read, seed)?;
        self.finish(fronts, xs)
    }

    /// Starts a pass of `op` over the range and puts its first requests on the ring, without
    /// waiting for them.
    pub fn start(&mut self, xs: &mut StoreClient, op: BlockOp, seed: u64) -> Result<(), Failure> {
        self.io = Some(Transfer {
            op,
            seed,
            issued: 0,
            done: 0,
        });
        self.round(xs).map(drop)
    }

    /// Waits until the pass [`Self::start`] began is complete.
    pub fn finish(&mut self, fronts: &Fronts, xs: &mut StoreClient) -> Result<Waited, Failure> {
        let port = self.driver.device_mut().queues_mut()[0]
            .port()
            .ok_or(at("blk io")("the queue has no event channel"))?;
        let waited = fronts.wait("blk io", 30_000, port, || self.round(xs))?;
        self.io = None;
        Ok(waited)
    }

    /// After a restore into a new domain (new store connection, new grant table, no event
    /// channels): the device leaves its old driver, whose backend is gone, and drops what that
    /// connection held (the requests in flight go back to the queue). Every front leaves before
    /// any rejoins: leaving closes the old domain's port numbers, which must not hit a port a
    /// rejoined front has just been given under the same number.
    pub fn leave(&mut self, fronts: &Fronts, xs: &mut StoreClient) -> Result<(), Failure> {
        let old_paths = self.driver.paths().clone();
        let fresh: Vbd = VbdFrontend::new(fronts.platform.clone(), self.vdev, WISHES, CONFIG);
        let mut device = core::mem::replace(self.driver.device_mut(), fresh);
        FrontendDevice::<RingTransport<Signal>>::tear_down(&mut device);
        // The device's own watch (the disk size) died with the old store connection: the device
        // forgets it here, and the new xenstored, which never had it, answers ENOENT. The new
        // driver's connection registers it again.
        match FrontendDevice::<RingTransport<Signal>>::release(&mut device, xs, &old_paths) {
            Ok(()) | Err(Error::Xs(XsError::ENOENT)) => {}
            Err(e) => return Err(at("blk leave")(e)),
        }
        self.left = Some(device);
        Ok(())
    }

    /// Connects the device that [`Self::leave`] took out through a new driver to the new
    /// backend, which gets the unanswered requests again.
    pub fn rejoin(&mut self, fronts: &Fronts, xs: &mut StoreClient) -> Result<Waited, Failure> {
        let device = self
            .left
            .take()
            .ok_or(at("blk rejoin")("the device has not left its old driver"))?;
        let (driver, took) = rejoin("blk rejoin", &self.path, device, fronts, xs)?;
        self.driver = driver;
        Ok(took)
    }

    /// Closes the device and waits until the backend has let go of every grant.
    pub fn close(mut self, fronts: &Fronts, xs: &mut StoreClient) -> Result<(), Failure> {
        let driver = &mut self.driver;
        // blkback unmaps the ring and the pool only once we are Closed and then says Closed
        // itself; until then the queue keeps what the backend maps and retries at every service.
        driver.close(xs).map_err(detail("blk close"))?;
        let took = fronts.wait("blk close", 10_000, fronts.store_port(), || {
            pump("blk close", xs, driver)?;
            let q = &mut driver.device_mut().queues_mut()[0];
            q.service().map_err(detail("blk close"))?;
            let held = q.quarantined();
            Ok(driver.machine().state() == XenbusState::Closed
                && driver.machine().backend() == Some(XenbusState::Closed)
                && held == 0)
        })?;
        say!(
            "blk {}: closed in {} ms, backend Closed, every grant ended ({} of {} pages free)",
            self.path,
            ms(took.ns),
            fronts.free_pages(),
            crate::pages::PAGES
        );
        detach("blk close", &self.path, self.driver, xs)
    }

    /// One round of the pass: store events, new requests while buffers are free, the ring, and
    /// completions (reads checked against the pattern). True once the pass is complete.
    fn round(&mut self, xs: &mut StoreClient) -> Result<bool, Failure> {
        let Self {
            driver,
            handle,
            buffers: free,
            io,
            ..
        } = self;
        let io = io.as_mut().ok_or(at("blk io")("no pass started"))?;
        let per_request = (REQUEST / BLKIF_SECTOR_SIZE) as u64;
        let total = (SPAN / REQUEST) as u64;
        pump("blk io", xs, driver)?;
        while io.issued < total {
            let Some(mut buf) = free.pop() else { break };
            let sector = FIRST_SECTOR + io.issued * per_request;
            let req = if io.op == BlockOp::Write {
                verify::fill(&mut buf, sector, io.seed);
                BlockRequest::write(sector, sector, buf)
            } else {
                // Whatever the buffer held (the pattern it wrote) must not pass for read data.
                buf.fill(0);
                BlockRequest::read(sector, sector, buf)
            };
            if let Err(req) = handle.submit(req) {
                free.push(req.buf);
                break;
            }
            io.issued += 1;
        }
        driver.device_mut().queues_mut()[0]
            .service()
            .map_err(detail("blk io"))?;
        while let Some(c) = handle.completion() {
            c.result.map_err(detail("blk io"))?;
            if io.op == BlockOp::Read {
                verify::check(&c.buf, c.tag, io.seed).map_err(detail("blk verify"))?;
            }
            free.push(c.buf);
            io.done += 1;
        }
        Ok(io.done == total)
    }
}
