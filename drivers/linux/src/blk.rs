//! `xenpv-blk`: a vbd served by the blkif core and exposed as a kernel block device: ublk
//! (`over_ublk`) where the kernel has ublk_drv, otherwise nbd (`over_nbd`).
//!
//! One thread does everything but the blocking control commands: it polls the store, the event
//! channel device and the block device's descriptors, and after each wake-up lets the store and the
//! queues process what is pending. Each blkif queue is a `Lane`: its handle, and the requests it
//! had no room for yet. The kernel device has a hardware queue per lane (ublk: at most one per CPU,
//! each feeding the lane of its number). While the backend is away (closed, restarting) requests
//! wait in the lanes and queues and are replayed on the next connection.
//!
//! Why ublk first: a read through nbd is copied granted page -> our buffer -> socket -> bio, and
//! each request costs socket reads and writes; through ublk it is copied granted page -> the tag's
//! buffer -> bio (the kernel's copy), and requests and answers of a whole batch travel in one
//! io_uring_enter. Every system call of a PV guest is a round trip through Xen, so the count
//! matters as much as the copies (perf/README.md has the measurements).

mod over_nbd;
mod over_ublk;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use xenpv_abi::blkif::BlkifRequestSegment;
use xenpv_abi::xenbus::XenbusState;
use xenpv_abi::PAGE_SIZE;
use xenpv_control::vbd::{FrontWishes, VbdDeviceError, VbdFrontend};
use xenpv_control::xenbus::{DriverError, FrontendDriver};
use xenpv_datapath::blkif::{BlockRequest, Completion, Disk, IoError, QueueConfig, QueueHandle};

use crate::fd::poll_readable;
use crate::front::{online_cpus, pump_store, queue_wish, DeviceArgs, LinkChange, LinkWatch, Usage};
use crate::platform::LinuxPlatform;
use crate::signals::ShutdownSignal;
use crate::ublk::{Control, CtrlError};
use crate::xenbus::{open_store, Store};

/// Why `xenpv-blk` stopped.
#[derive(Debug)]
pub enum BlkError {
    Os(&'static str, io::Error),
    Driver(DriverError<VbdDeviceError>),
    Nbd(crate::nbd::NbdError),
    Ublk(CtrlError),
    /// The device did not connect in time.
    Timeout(&'static str),
}

impl fmt::Display for BlkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlkError::Os(what, e) => write!(f, "{what}: {e}"),
            BlkError::Driver(e) => write!(f, "vbd: {e:?}"),
            BlkError::Nbd(e) => write!(f, "nbd: {e}"),
            BlkError::Ublk(e) => write!(f, "{e}"),
            BlkError::Timeout(what) => write!(f, "timed out waiting for {what}"),
        }
    }
}

/// The errno a failed request is answered with, through nbd or ublk (the kernel turns any into an
/// I/O error; the values follow the NBD protocol's list).
fn errno(e: IoError) -> i32 {
    match e {
        IoError::Io | IoError::Disconnected => libc::EIO,
        IoError::NotSupported => libc::EOPNOTSUPP,
        IoError::ReadOnly => libc::EPERM,
        IoError::OutOfRange => libc::ENOSPC,
        IoError::Misaligned => libc::EINVAL,
        IoError::NoResources => libc::ENOMEM,
    }
}

fn os(what: &'static str) -> impl FnOnce(io::Error) -> BlkError {
    move |e| BlkError::Os(what, e)
}

/// Which kernel device exposes the vbd (`--dev`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exposure {
    /// /dev/ublkbN; `None`: the next free number.
    Ublk(Option<u32>),
    /// /dev/nbdN.
    Nbd(String),
}

impl Exposure {
    /// Whether ublk can be used here: ublk_drv is loaded (/dev/ublk-control opens) and io_uring
    /// is allowed. Says why not, for `--dev auto`'s fallback.
    pub fn ublk_available() -> bool {
        match Control::open() {
            Ok(_) => true,
            Err(e) => {
                eprintln!(
                    "xenpv-blk: no ublk ({}: {e}; `modprobe ublk_drv` adds it): using nbd",
                    Control::PATH
                );
                false
            }
        }
    }

    /// `auto` (ublk if `ublk_available()` says so, else /dev/nbd0), `/dev/ublkbN` or `/dev/nbdN`.
    pub fn parse(dev: &str, ublk_available: impl FnOnce() -> bool) -> Result<Self, Usage> {
        if dev == "auto" {
            return Ok(match ublk_available() {
                true => Exposure::Ublk(None),
                false => Exposure::Nbd("/dev/nbd0".into()),
            });
        }
        if let Some(n) = dev.strip_prefix("/dev/ublkb") {
            return n
                .parse()
                .map(|n| Exposure::Ublk(Some(n)))
                .map_err(|_| Usage(format!("{dev:?}: not /dev/ublkb<number>")));
        }
        match dev.strip_prefix("/dev/nbd") {
            Some(n) if n.parse::<u32>().is_ok() => Ok(Exposure::Nbd(dev.into())),
            _ => Err(Usage(format!(
                "--dev {dev:?}: expected auto, /dev/ublkbN or /dev/nbdN"
            ))),
        }
    }
}

type Vbd<B> = VbdFrontend<LinuxPlatform, B>;

/// One blkif queue as the block device sees it.
struct Lane<B> {
    handle: QueueHandle<B>,
    /// Requests the queue had no room for yet, oldest first.
    backlog: VecDeque<BlockRequest<B>>,
    /// Backlog requests failed at close, to be answered with the queue's own completions.
    failed: Vec<Completion<B>>,
}

impl<B> Lane<B> {
    fn submit_backlog(&mut self) {
        while let Some(req) = self.backlog.pop_front() {
            if let Err(req) = self.handle.submit(req) {
                self.backlog.push_front(req);
                break;
            }
        }
    }

    fn completions(&mut self) -> Vec<Completion<B>> {
        let mut done = std::mem::take(&mut self.failed);
        done.extend(std::iter::from_fn(|| self.handle.completion()));
        done
    }

    /// Fails every request of the backlog: the device is closing and the block device must get an
    /// answer for each.
    fn fail_backlog(&mut self) {
        self.failed
            .extend(self.backlog.drain(..).map(|r| Completion {
                tag: r.tag,
                buf: r.buf,
                result: Err(IoError::Disconnected),
            }));
    }
}

/// The kernel block device in front of the lanes.
trait Export {
    type Buf: AsRef<[u8]> + AsMut<[u8]>;

    /// Descriptors whose readability means requests wait (or the device went away).
    fn fds(&self) -> Vec<RawFd>;

    /// Takes the requests waiting behind the descriptors marked `ready` into the lanes' backlogs.
    /// `Closed`: the device went away.
    fn take_requests(
        &mut self,
        ready: &[bool],
        lanes: &mut [Lane<Self::Buf>],
    ) -> Result<Flow, BlkError>;

    /// Answers finished requests of lane `lane`.
    fn answer(&mut self, lane: usize, done: Vec<Completion<Self::Buf>>) -> Result<(), BlkError>;

    /// After a turn's answers: hands them to the kernel if `answer` only queued them.
    fn flush(&mut self) -> Result<(), BlkError> {
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Go,
    Closed,
}

/// The running front.
struct Home<B> {
    platform: Arc<LinuxPlatform>,
    xs: Store,
    xs_fd: RawFd,
    driver: FrontendDriver<Vbd<B>>,
    lanes: Vec<Lane<B>>,
    /// A queue hit a protocol error: closed, to be connected again once Closed.
    reconnect: bool,
    link: LinkWatch,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Home<B> {
    /// Handles store traffic: watch events go to the driver (state machine) and the device
    /// (online resize).
    fn pump_store(&mut self) -> Result<(), BlkError> {
        pump_store(
            &mut self.xs,
            &mut self.driver,
            "xenpv-blk",
            |xs, driver, ev| {
                let paths = driver.paths().clone();
                if let Err(e) = driver.device_mut().on_watch(xs, &paths, ev) {
                    eprintln!("xenpv-blk: resize: {e:?}");
                }
            },
        )
        .map_err(BlkError::Driver)?;
        self.log_link();
        if self.reconnect && self.driver.machine().state() == XenbusState::Closed {
            self.reconnect = false;
            self.driver
                .connect(&mut self.xs)
                .map_err(BlkError::Driver)?;
        }
        Ok(())
    }

    /// Says when the backend went away and when it came back: unfinished requests stay in the
    /// queues and their ring requests are replayed on the next connection.
    fn log_link(&mut self) {
        let connected = self.driver.machine().is_connected();
        let waiting: usize = self.lanes.iter().map(|l| l.backlog.len()).sum();
        let queues = self.driver.device_mut().queues_mut();
        let held: usize = queues.iter().map(|q| q.active()).sum();
        let replayed: u64 = queues.iter().map(|q| q.stats().replayed).sum();
        match self.link.observe(connected, Instant::now()) {
            Some(LinkChange::Lost) => eprintln!(
                "xenpv-blk: backend gone (backend state {:?}): {held} requests held in the \
                 queues and {waiting} waiting, for the next connection",
                self.driver.machine().backend(),
            ),
            Some(LinkChange::Back { after, drops }) => eprintln!(
                "xenpv-blk: reconnected {:.2}s after drop {drops}, {replayed} ring requests \
                 replayed so far: {:?}",
                after.as_secs_f64(),
                self.driver.device().negotiated()
            ),
            None => {}
        }
    }

    /// Lets every queue process responses and issue submissions; a backend that broke the
    /// protocol gets the device closed (and connected again).
    fn service(&mut self) -> Result<(), BlkError> {
        let mut broken = None;
        for q in self.driver.device_mut().queues_mut() {
            if let Err(e) = q.service() {
                broken = Some(e);
            }
        }
        if let Some(e) = broken {
            if !self.reconnect {
                eprintln!("xenpv-blk: backend protocol error {e:?}: closing the device");
                self.reconnect = true;
                self.driver.close(&mut self.xs).map_err(BlkError::Driver)?;
            }
        }
        Ok(())
    }

    /// Until nothing moves: queue what waits, let the rings work, answer what finished (the ring
    /// may free slots for the backlog).
    fn drain<E: Export<Buf = B>>(&mut self, export: &mut E) -> Result<(), BlkError> {
        loop {
            self.lanes.iter_mut().for_each(Lane::submit_backlog);
            self.service()?;
            let mut done = 0;
            for (i, lane) in self.lanes.iter_mut().enumerate() {
                let finished = lane.completions();
                done += finished.len();
                if !finished.is_empty() {
                    export.answer(i, finished)?;
                }
            }
            if done == 0 {
                return export.flush();
            }
        }
    }

    fn wait_fired(&self) -> Result<(), BlkError> {
        // Which port fired does not matter: every queue is serviced after each wake-up.
        self.platform
            .evtchn
            .take_fired()
            .map(drop)
            .map_err(os("evtchn read"))
    }

    /// One turn: waits up to `timeout_ms` for the store, the event channels, the device or `stop`,
    /// then handles what is ready. Returns whether `stop` was readable, or the device closed.
    fn turn<E: Export<Buf = B>>(
        &mut self,
        export: &mut E,
        stop: Option<RawFd>,
        timeout_ms: i32,
    ) -> Result<Turn, BlkError> {
        let mut fds = vec![self.xs_fd, self.platform.evtchn.as_fd().as_raw_fd()];
        fds.extend(stop);
        let first = fds.len();
        fds.extend(export.fds());
        let ready = poll_readable(&fds, timeout_ms).map_err(os("poll"))?;
        if stop.is_some() && ready[2] {
            return Ok(Turn::Stop);
        }
        if ready[0] {
            self.pump_store()?;
        }
        if ready[1] {
            self.wait_fired()?;
        }
        let flow = export.take_requests(&ready[first..], &mut self.lanes)?;
        self.drain(export)?;
        Ok(match flow {
            Flow::Go => Turn::Served,
            Flow::Closed => Turn::DeviceClosed,
        })
    }

    /// Steps until `done` holds or `limit` passes, waking on the store and event channels.
    fn until(
        &mut self,
        limit: Duration,
        what: &'static str,
        done: impl Fn(&Self) -> bool,
    ) -> Result<(), BlkError> {
        let start = Instant::now();
        while !done(self) {
            if start.elapsed() > limit {
                return Err(BlkError::Timeout(what));
            }
            let fds = [self.xs_fd, self.platform.evtchn.as_fd().as_raw_fd()];
            poll_readable(&fds, 100).map_err(os("poll"))?;
            self.pump_store()?;
            self.wait_fired()?;
            self.service()?;
        }
        Ok(())
    }

    /// `r`, after closing the device if it is an error: a front that cannot go on leaves its vbd
    /// Closed, not half connected.
    fn or_close<T>(&mut self, r: Result<T, BlkError>) -> Result<T, BlkError> {
        if r.is_err() {
            let _ = self.close();
        }
        r
    }

    /// Closes the device towards the backend (frontend Closed) and fails every request left; the
    /// next drain answers them, so that the block device gets an answer for each.
    fn close(&mut self) -> Result<(), BlkError> {
        for (i, q) in self.driver.device_mut().queues_mut().iter().enumerate() {
            let s = q.stats();
            eprintln!(
                "xenpv-blk: queue {i}: {} requests completed in {} ring requests ({} indirect, {} \
                 replayed)",
                s.completed, s.ring_requests, s.indirect_requests, s.replayed
            );
        }
        self.link.stop();
        let closed = self.driver.close(&mut self.xs).map_err(BlkError::Driver);
        let waited = self.until(Duration::from_secs(10), "the backend to close", |h| {
            h.driver.machine().state() == XenbusState::Closed
        });
        for q in self.driver.device_mut().queues_mut() {
            q.fail_all(IoError::Disconnected);
        }
        self.lanes.iter_mut().for_each(Lane::fail_backlog);
        eprintln!(
            "xenpv-blk: frontend state {:?}",
            self.driver.machine().state()
        );
        closed.and(waited)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Turn {
    Served,
    Stop,
    DeviceClosed,
}

/// Serves until a shutdown signal or until the block device goes away.
fn serve<E: Export>(
    home: &mut Home<E::Buf>,
    export: &mut E,
    signal: &ShutdownSignal,
) -> Result<(), BlkError> {
    loop {
        match home.turn(export, Some(signal.fd()), 1000)? {
            Turn::Served => {}
            Turn::Stop => {
                eprintln!("xenpv-blk: shutting down");
                return Ok(());
            }
            Turn::DeviceClosed => return Ok(()),
        }
    }
}

/// Runs `xenpv-blk` until SIGTERM (`args.dev` was parsed into `exposure`).
pub fn run(args: &DeviceArgs, exposure: Exposure) -> Result<(), BlkError> {
    let signal = ShutdownSignal::install().map_err(os("signals"))?;
    let platform = Arc::new(LinuxPlatform::open().map_err(os("/dev/xen/{gntalloc,evtchn}"))?);
    let frontend = format!("device/vbd/{}", args.id);
    let queues = queue_wish(args.max_queues, online_cpus());
    match exposure {
        Exposure::Ublk(id) => over_ublk::run(platform, &frontend, args.id, queues, id, &signal),
        Exposure::Nbd(dev) => over_nbd::run(platform, &frontend, args.id, queues, &dev, &signal),
    }
}

/// 1 MiB requests each queue's persistent pool holds at once: the depth of fio's sequential test,
/// which the kernel's blkfront keeps in flight; the default pool (1024 pages) held three, which
/// cut the sequential queue depth by more than half. blkback keeps 1056 grants mapped
/// persistently and maps the others per request, for either front.
const LARGE_IN_FLIGHT: usize = 8;

/// The queue configuration: the default, with a pool of `LARGE_IN_FLIGHT` (8) full-size indirect
/// requests (256 data pages and the page of segment descriptors each: 2056 pages, ~8 MiB).
pub fn queue_config() -> QueueConfig {
    let default = QueueConfig::default();
    let segments = default.max_indirect_segments as usize;
    let descriptor_pages = (segments * size_of::<BlkifRequestSegment>()).div_ceil(PAGE_SIZE);
    QueueConfig {
        pool_pages: LARGE_IN_FLIGHT * (segments + descriptor_pages),
        ..default
    }
}

/// Attaches `frontend`, waits until it is connected and takes its queues as lanes. We ask for
/// persistent grants; whether they are used is decided once blkback has connected and published
/// its own `feature-persistent`.
fn connect<B: AsRef<[u8]> + AsMut<[u8]>>(
    platform: Arc<LinuxPlatform>,
    frontend: &str,
    vdev: u16,
    queues: u16,
) -> Result<(Home<B>, Arc<Disk>), BlkError> {
    let t0 = Instant::now();
    let (mut xs, xs_fd) = open_store().map_err(os("/dev/xen/xenbus"))?;
    let wishes = FrontWishes {
        persistent: true,
        indirect: true,
        ring_order: 2,
        queues: queues.into(),
    };
    let device = Vbd::new(platform.clone(), vdev, wishes, queue_config());
    let mut driver = FrontendDriver::attach(&mut xs, frontend, device).map_err(BlkError::Driver)?;
    driver.connect(&mut xs).map_err(BlkError::Driver)?;
    let mut home = Home {
        platform,
        xs,
        xs_fd,
        driver,
        lanes: Vec::new(),
        reconnect: false,
        link: LinkWatch::default(),
    };
    let connected = home.until(Duration::from_secs(30), "the backend to connect", |h| {
        h.driver.machine().is_connected()
    });
    home.or_close(connected)?;
    let device = home.driver.device_mut();
    let negotiated = device.negotiated();
    let disk = device
        .disk()
        .cloned()
        .ok_or(BlkError::Timeout("the disk description"))?;
    home.lanes = device
        .take_handles()
        .into_iter()
        .map(|handle| Lane {
            handle,
            backlog: VecDeque::new(),
            failed: Vec::new(),
        })
        .collect();
    eprintln!(
        "xenpv-blk: {frontend} connected in {:.2}s: {} sectors of {} bytes, {negotiated:?}",
        t0.elapsed().as_secs_f64(),
        disk.sectors(),
        disk.sector_size
    );
    Ok((home, disk))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_holds_eight_full_size_requests() {
        let c = queue_config();
        assert_eq!(c.pool_pages, 8 * (256 + 1));
        assert_eq!(c.max_requests, QueueConfig::default().max_requests);
        assert_eq!(
            QueueConfig::default().max_indirect_segments,
            256,
            "1 MiB per request"
        );
    }

    #[test]
    fn closing_answers_the_backlog_and_the_queue_alike_and_only_once() {
        use xenpv_datapath::blkif::BlkQueue;
        use xenpv_sim::guest::SimPlatform;
        use xenpv_sim::host::{Host, HostConfig};

        let host = Host::new(HostConfig::default());
        let guest = Arc::new(SimPlatform::new(host, 1));
        let disk = Arc::new(Disk::new(1024, 512, 512, false).unwrap());
        let (mut queue, handle) =
            BlkQueue::<_, Vec<u8>>::new(guest, disk, 0x300, QueueConfig::default()).unwrap();
        let mut lane = Lane {
            handle,
            backlog: VecDeque::new(),
            failed: Vec::new(),
        };
        // One request the queue took, two it had no room for.
        lane.handle
            .submit(BlockRequest::read(9, 2, vec![0; 512]))
            .unwrap();
        lane.backlog
            .push_back(BlockRequest::read(7, 0, vec![0; 512]));
        lane.backlog
            .push_back(BlockRequest::write(8, 1, vec![5; 512]));
        queue.fail_all(IoError::Disconnected);
        lane.fail_backlog();
        assert!(lane.backlog.is_empty());
        let mut done: Vec<_> = lane
            .completions()
            .into_iter()
            .map(|c| (c.tag, c.result, c.buf))
            .collect();
        done.sort_by_key(|d| d.0);
        assert_eq!(
            done,
            vec![
                (7, Err(IoError::Disconnected), vec![0; 512]),
                (8, Err(IoError::Disconnected), vec![5; 512]),
                (9, Err(IoError::Disconnected), vec![0; 512]),
            ]
        );
        assert!(lane.completions().is_empty(), "each is answered once");
    }

    #[test]
    fn every_io_error_has_a_positive_errno() {
        for e in [
            IoError::Io,
            IoError::NotSupported,
            IoError::ReadOnly,
            IoError::OutOfRange,
            IoError::Misaligned,
            IoError::Disconnected,
            IoError::NoResources,
        ] {
            assert!(errno(e) > 0, "{e:?}");
        }
    }

    #[test]
    fn the_device_path_picks_the_exposure() {
        let yes = || true;
        let no = || false;
        assert_eq!(Exposure::parse("auto", yes), Ok(Exposure::Ublk(None)));
        assert_eq!(
            Exposure::parse("auto", no),
            Ok(Exposure::Nbd("/dev/nbd0".into()))
        );
        let unasked = || -> bool { panic!("only auto asks") };
        assert_eq!(
            Exposure::parse("/dev/ublkb3", unasked),
            Ok(Exposure::Ublk(Some(3)))
        );
        assert_eq!(
            Exposure::parse("/dev/nbd2", unasked),
            Ok(Exposure::Nbd("/dev/nbd2".into()))
        );
        for bad in ["/dev/sda", "/dev/ublkbx", "/dev/nbd", "nbd0", ""] {
            assert!(Exposure::parse(bad, yes).is_err(), "{bad}");
        }
    }
}
