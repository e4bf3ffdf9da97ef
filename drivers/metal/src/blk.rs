//! blkfront on real blkback: control's vbd machine and datapath's blkif queue on this home, one
//! queue with persistent grants and indirect descriptors, writing a pattern over a range of the
//! disk, reading it back and checking every sector, then closing the device cleanly.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use xenpv_abi::blkif::BLKIF_SECTOR_SIZE;
use xenpv_abi::xenbus::XenbusState;
use xenpv_control::vbd::{FrontWishes, VbdFrontend};
use xenpv_control::xenbus::FrontendDriver;
use xenpv_control::xs::client::Store;
use xenpv_datapath::blkif::{verify, BlockOp, BlockRequest, QueueConfig, QueueHandle};

use crate::front::{ms, pump, Fronts, Metal, Waited};
use crate::say;
use crate::steps::{at, detail, Failure};
use crate::store::{Device, StoreClient};

/// Bytes written and read back.
const SPAN: usize = 4 << 20;
/// Bytes per request: 64 pages, more than a direct request's 11 segments, so each request goes
/// out as indirect requests (split to the backend's segment limit if it is lower).
const REQUEST: usize = 256 << 10;
/// Requests the queue holds at once.
const IN_FLIGHT: usize = 8;
/// Where the range starts (sectors): not at 0, so that an offset error shows.
const FIRST_SECTOR: u64 = 2048;
/// The pattern's seed ("metal").
const SEED: u64 = 0x6d65_74616c;

type Vbd = VbdFrontend<Metal, Vec<u8>>;

/// The connected vbd of the proof: its driver (machine + queue), the upper layer's handle and the
/// buffers the requests travel in. The phases are separate so that other steps (a suspend and
/// resume) can come between them; every wait pumps the store, so a backend that leaves and comes
/// back meanwhile is followed, and the queue replays what was unanswered.
pub struct Blk {
    path: String,
    driver: FrontendDriver<Vbd>,
    handle: QueueHandle<Vec<u8>>,
    buffers: Vec<Vec<u8>>,
}

/// Connects, writes the pattern, reads it back, closes.
pub fn run(fronts: &Fronts, xs: &mut StoreClient, dev: &Device) -> Result<(), Failure> {
    let mut blk = Blk::connect(fronts, xs, dev)?;
    let wrote = blk.write(fronts, xs)?;
    let read = blk.read_back(fronts, xs)?;
    let stats = blk.driver.device_mut().queues_mut()[0].stats();
    say!(
        "blk {}: wrote {} KiB in {} ms and read it back in {} ms ({} + {} ring events): {} \
         requests of {} KiB, {} ring requests ({} indirect); all {} sectors verified",
        blk.path,
        SPAN / 1024,
        ms(wrote.ns),
        ms(read.ns),
        wrote.events,
        read.events,
        stats.completed,
        REQUEST / 1024,
        stats.ring_requests,
        stats.indirect_requests,
        SPAN / BLKIF_SECTOR_SIZE,
    );
    if stats.indirect_requests == 0 {
        return Err(at("blk io")("no request went out indirect"));
    }
    blk.close(fronts, xs)
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
        let wishes = FrontWishes {
            persistent: true,
            indirect: true,
            ring_order: 0,
            queues: 1,
        };
        let config = QueueConfig {
            max_requests: IN_FLIGHT,
            max_indirect_segments: (REQUEST / 4096) as u32,
            pool_pages: 256,
        };
        let vbd: Vbd = VbdFrontend::new(fronts.platform.clone(), vdev, wishes, config);
        let mut driver =
            FrontendDriver::attach(xs, &dev.path, vbd).map_err(detail("blk attach"))?;
        driver.connect(xs).map_err(detail("blk connect"))?;
        let took = fronts.wait("blk connect", 15_000, fronts.store_port, || {
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
            driver,
            handle,
            buffers: (0..IN_FLIGHT).map(|_| vec![0u8; REQUEST]).collect(),
        })
    }

    /// Writes the pattern over the range.
    pub fn write(&mut self, fronts: &Fronts, xs: &mut StoreClient) -> Result<Waited, Failure> {
        self.transfer(fronts, xs, BlockOp::Write)
    }

    /// Reads the range back and checks every sector against the pattern.
    pub fn read_back(&mut self, fronts: &Fronts, xs: &mut StoreClient) -> Result<Waited, Failure> {
        self.transfer(fronts, xs, BlockOp::Read)
    }

    /// Closes the device and waits until the backend has let go of every grant.
    pub fn close(mut self, fronts: &Fronts, xs: &mut StoreClient) -> Result<(), Failure> {
        let driver = &mut self.driver;
        // blkback unmaps the ring and the pool only once we are Closed and then says Closed
        // itself; until then the queue keeps what the backend maps and retries at every service.
        driver.close(xs).map_err(detail("blk close"))?;
        let took = fronts.wait("blk close", 10_000, fronts.store_port, || {
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
        self.driver.detach(xs).map_err(at("blk close")).map(drop)
    }

    /// Runs `op` over the whole range, [`IN_FLIGHT`] requests at a time; reads are checked
    /// against the pattern as they complete.
    fn transfer(
        &mut self,
        fronts: &Fronts,
        xs: &mut StoreClient,
        op: BlockOp,
    ) -> Result<Waited, Failure> {
        let step = if op == BlockOp::Write {
            "blk write"
        } else {
            "blk read"
        };
        let per_request = (REQUEST / BLKIF_SECTOR_SIZE) as u64;
        let total = (SPAN / REQUEST) as u64;
        let (mut issued, mut done) = (0u64, 0u64);
        let Self {
            driver,
            handle,
            buffers: free,
            ..
        } = self;
        let port = driver.device_mut().queues_mut()[0]
            .port()
            .ok_or(at(step)("the queue has no event channel"))?;
        fronts.wait(step, 30_000, port, || {
            pump(step, xs, driver)?;
            while issued < total {
                let Some(mut buf) = free.pop() else { break };
                let sector = FIRST_SECTOR + issued * per_request;
                let req = if op == BlockOp::Write {
                    verify::fill(&mut buf, sector, SEED);
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
                issued += 1;
            }
            driver.device_mut().queues_mut()[0]
                .service()
                .map_err(detail(step))?;
            while let Some(c) = handle.completion() {
                c.result.map_err(detail(step))?;
                if op == BlockOp::Read {
                    verify::check(&c.buf, c.tag, SEED).map_err(detail("blk verify"))?;
                }
                free.push(c.buf);
                done += 1;
            }
            Ok(done == total)
        })
    }
}
