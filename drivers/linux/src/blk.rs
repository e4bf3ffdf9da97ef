//! `xenpv-blk`: a vbd served by the blkif core and exposed as the kernel's nbd block device.
//!
//! One thread does everything but NBD_DO_IT: it polls the shutdown pipe, the store, the event
//! channel device and our ends of the nbd sockets, and after each wake-up lets the store and the
//! queues process what is pending. Each blkif queue has its own nbd connection (the kernel makes
//! one hardware queue per connection). NBD requests become `BlockRequest`s tagged with the NBD
//! handle; completions become replies, a whole batch per `writev`. While the backend is away
//! (closed, restarting) requests wait in the queues and are replayed on the next connection.
//!
//! Why the kernel's nbd device and not ublk: with nbd's ioctl interface (NBD_SET_SOCK + NBD_DO_IT
//! on a socket pair) the kernel speaks the NBD transmission phase to us, a 28-byte request / 16-byte
//! reply protocol over a byte stream that is small enough to frame and test completely here
//! ([`crate::nbd`]), needs no handshake, no netlink and no io_uring, and plugs into the same poll()
//! loop as the store and the event channels. The domU's kernel has ublk_drv, and ublk would save
//! the two copies through the socket (a read's data: granted page -> our buffer -> socket -> bio,
//! against blkfront's granted page -> bio) and most system calls; but it needs io_uring with
//! URING_CMD, a per-tag buffer protocol and a second ring of our own, and no ublk or io_uring
//! crate is available here. What the nbd path does instead: read buffers come from a pool (no
//! allocation or zeroing per request), replies of a batch go out in one `writev`, socket buffers
//! hold a whole 1 MiB reply, and the persistent pool holds eight 1 MiB requests.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use xenpv_abi::blkif::{BlkifRequestSegment, BLKIF_SECTOR_SIZE};
use xenpv_abi::xenbus::XenbusState;
use xenpv_abi::PAGE_SIZE;
use xenpv_control::vbd::{FrontWishes, VbdDeviceError, VbdFrontend};
use xenpv_control::xenbus::{DriverError, FrontendDriver};
use xenpv_datapath::blkif::{BlockRequest, Completion, IoError, QueueConfig, QueueHandle};

use crate::fd::poll_readable;
use crate::front::{online_cpus, pump_store, queue_wish, DeviceArgs, LinkChange, LinkWatch};
use crate::nbd::{self, Command, Decoder, Incoming};
use crate::nbd_dev::{Geometry, NbdDevice};
use crate::platform::LinuxPlatform;
use crate::signals::ShutdownSignal;
use crate::xenbus::{open_store, Store};

type Vbd = VbdFrontend<LinuxPlatform, Vec<u8>>;
type Driver = FrontendDriver<Vbd>;

/// Why `xenpv-blk` stopped.
#[derive(Debug)]
pub enum BlkError {
    Os(&'static str, io::Error),
    Driver(DriverError<VbdDeviceError>),
    Nbd(nbd::NbdError),
    /// The device did not connect in time.
    Timeout(&'static str),
}

impl fmt::Display for BlkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlkError::Os(what, e) => write!(f, "{what}: {e}"),
            BlkError::Driver(e) => write!(f, "vbd: {e:?}"),
            BlkError::Nbd(e) => write!(f, "nbd: {e}"),
            BlkError::Timeout(what) => write!(f, "timed out waiting for {what}"),
        }
    }
}

fn os(what: &'static str) -> impl FnOnce(io::Error) -> BlkError {
    move |e| BlkError::Os(what, e)
}

/// The errno an NBD reply carries for a failed request (the kernel turns any into an I/O error;
/// the values follow the NBD protocol's list).
pub fn nbd_errno(e: IoError) -> u32 {
    (match e {
        IoError::Io | IoError::Disconnected => libc::EIO,
        IoError::NotSupported => libc::EOPNOTSUPP,
        IoError::ReadOnly => libc::EPERM,
        IoError::OutOfRange => libc::ENOSPC,
        IoError::Misaligned => libc::EINVAL,
        IoError::NoResources => libc::ENOMEM,
    }) as u32
}

/// The block request for an NBD request, or the errno to answer at once.
pub fn to_block_request(
    inc: Incoming,
    read_buf: impl FnOnce(usize) -> Vec<u8>,
) -> Result<BlockRequest<Vec<u8>>, (u64, u32)> {
    let Incoming { req, data } = inc;
    let sector_size = BLKIF_SECTOR_SIZE as u64;
    if req.offset % sector_size != 0 || u64::from(req.len) % sector_size != 0 {
        return Err((req.handle, libc::EINVAL as u32));
    }
    let sector = req.offset / sector_size;
    Ok(match req.command {
        Command::Read => BlockRequest::read(req.handle, sector, read_buf(req.len as usize)),
        Command::Write if req.flags & nbd::CMD_FLAG_FUA != 0 => {
            BlockRequest::write_fua(req.handle, sector, data)
        }
        Command::Write => BlockRequest::write(req.handle, sector, data),
        Command::Flush => BlockRequest::flush(req.handle, Vec::new()),
        Command::Trim => BlockRequest::discard(
            req.handle,
            sector,
            u64::from(req.len) / sector_size,
            false,
            Vec::new(),
        ),
        // Not a request: the caller handles it before.
        Command::Disconnect => return Err((req.handle, libc::EINVAL as u32)),
    })
}

/// The reply to a completion: its header, then the data of a successful read (written as they
/// are, so that a read's data is not copied once more).
pub fn reply_parts(c: &Completion<Vec<u8>>, is_read: bool) -> ([u8; nbd::REPLY_LEN], &[u8]) {
    let error = c.result.map_or_else(nbd_errno, |()| 0);
    let data: &[u8] = if error == 0 && is_read { &c.buf } else { &[] };
    (nbd::reply(c.tag, error), data)
}

/// Most iovecs one `writev` takes (Linux's UIO_MAXIOV).
const MAX_IOV: usize = 1024;

/// Writes `parts` in order as one stream with as few `writev` calls as the socket allows (one per
/// 1024 parts when it has room), resuming after short writes. Replies of a whole batch of
/// completions go out together: a system call per batch instead of one per reply, which in a PV
/// guest is a round trip through Xen each.
fn send_all(fd: RawFd, parts: &[&[u8]]) -> io::Result<()> {
    let mut iov: Vec<libc::iovec> = Vec::with_capacity(parts.len().min(MAX_IOV));
    // The first part not fully written, and how much of it is.
    let (mut first, mut offset) = (0, 0);
    while first < parts.len() {
        iov.clear();
        iov.extend(
            parts[first..]
                .iter()
                .take(MAX_IOV)
                .enumerate()
                .map(|(i, p)| {
                    let p = if i == 0 { &p[offset..] } else { p };
                    libc::iovec {
                        iov_base: p.as_ptr() as *mut libc::c_void,
                        iov_len: p.len(),
                    }
                }),
        );
        // SAFETY: every iovec points into a live slice of `parts` of its length; writev only
        // reads them.
        let n = unsafe { libc::writev(fd, iov.as_ptr(), iov.len() as libc::c_int) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let mut n = n as usize;
        while first < parts.len() && n >= parts[first].len() - offset {
            n -= parts[first].len() - offset;
            first += 1;
            offset = 0;
        }
        offset += n;
    }
    Ok(())
}

/// Read buffers handed back by completions, reused for the next reads: no allocation and no
/// zeroing per request once the pool is warm. The data path overwrites a read buffer completely
/// before it is sent, so stale bytes never reach the client.
#[derive(Debug, Default)]
pub struct BufPool {
    free: Vec<Vec<u8>>,
}

impl BufPool {
    /// More than a full queue depth of each connection; extra buffers are freed.
    const KEEP: usize = 256;

    /// A buffer of `len` bytes.
    pub fn take(&mut self, len: usize) -> Vec<u8> {
        match self.free.pop() {
            Some(mut v) => {
                // Shrinking keeps the bytes; growing zeroes only the new part.
                v.resize(len, 0);
                v
            }
            None => vec![0; len],
        }
    }

    /// Keeps `v` for a later [`BufPool::take`].
    pub fn give(&mut self, v: Vec<u8>) {
        if self.free.len() < Self::KEEP && v.capacity() > 0 {
            self.free.push(v);
        }
    }

    pub fn len(&self) -> usize {
        self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }
}

/// One NBD connection (one of the kernel's hardware queues), served by one blkif queue.
struct Conn {
    sock: OwnedFd,
    decoder: Decoder,
    handle: QueueHandle<Vec<u8>>,
    /// Requests the queue had no room for yet, oldest first.
    backlog: VecDeque<BlockRequest<Vec<u8>>>,
    /// NBD handles of reads in flight (a completion does not say its operation).
    reads: HashSet<u64>,
}

/// What reading a connection's socket found.
enum Input {
    More,
    /// The client went away (disconnect request or closed socket).
    Closed,
}

impl Conn {
    /// Reads what the socket has, frames requests and queues them (or answers at once).
    fn read(&mut self, buf: &mut [u8], pool: &mut BufPool) -> Result<Input, BlkError> {
        // SAFETY: reading into a live buffer of the given length.
        let n = unsafe {
            libc::read(
                self.sock.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => Ok(Input::More),
                _ => Err(BlkError::Os("nbd read", e)),
            };
        }
        if n == 0 {
            eprintln!("xenpv-blk: the nbd device closed its socket");
            return Ok(Input::Closed);
        }
        let mut input = &buf[..n as usize];
        while !input.is_empty() {
            let Some(inc) = self.decoder.feed(&mut input).map_err(BlkError::Nbd)? else {
                continue;
            };
            if inc.req.command == Command::Disconnect {
                eprintln!("xenpv-blk: the nbd client disconnects");
                return Ok(Input::Closed);
            }
            let is_read = inc.req.command == Command::Read;
            match to_block_request(inc, |len| pool.take(len)) {
                Ok(req) => {
                    if is_read {
                        self.reads.insert(req.tag);
                    }
                    self.backlog.push_back(req);
                }
                Err((handle, errno)) => {
                    send_all(self.sock.as_raw_fd(), &[&nbd::reply(handle, errno)])
                        .map_err(os("nbd reply"))?
                }
            }
        }
        Ok(Input::More)
    }

    fn submit_backlog(&mut self) {
        while let Some(req) = self.backlog.pop_front() {
            if let Err(req) = self.handle.submit(req) {
                self.backlog.push_front(req);
                break;
            }
        }
    }

    /// Answers every finished request, all in one write; returns how many.
    fn completions(&mut self, pool: &mut BufPool) -> io::Result<usize> {
        let mut done = Vec::new();
        while let Some(c) = self.handle.completion() {
            let is_read = self.reads.remove(&c.tag);
            done.push((c, is_read));
        }
        if done.is_empty() {
            return Ok(0);
        }
        let replies: Vec<_> = done.iter().map(|(c, r)| reply_parts(c, *r)).collect();
        let parts: Vec<&[u8]> = replies
            .iter()
            .flat_map(|(header, data)| [&header[..], data])
            .filter(|p| !p.is_empty())
            .collect();
        send_all(self.sock.as_raw_fd(), &parts)?;
        let n = done.len();
        for (c, _) in done {
            pool.give(c.buf);
        }
        Ok(n)
    }
}

/// The running front.
struct Home {
    platform: Arc<LinuxPlatform>,
    xs: Store,
    xs_fd: RawFd,
    driver: Driver,
    /// One per blkif queue, once the nbd device is set up.
    conns: Vec<Conn>,
    pool: BufPool,
    /// A queue hit a protocol error: closed, to be connected again once Closed.
    reconnect: bool,
    link: LinkWatch,
}

impl Home {
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
        let waiting: usize = self.conns.iter().map(|c| c.backlog.len()).sum();
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
    fn drain(&mut self) -> Result<(), BlkError> {
        loop {
            self.conns.iter_mut().for_each(Conn::submit_backlog);
            self.service()?;
            let mut done = 0;
            for c in &mut self.conns {
                done += c.completions(&mut self.pool).map_err(os("nbd reply"))?;
            }
            if done == 0 {
                return Ok(());
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

    /// Steps until `done` holds or `limit` passes, waking on the store and event channels.
    fn until(
        &mut self,
        limit: Duration,
        what: &'static str,
        done: impl Fn(&Home) -> bool,
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
}

/// Runs `xenpv-blk` until SIGTERM.
pub fn run(args: &DeviceArgs) -> Result<(), BlkError> {
    let signal = ShutdownSignal::install().map_err(os("signals"))?;
    let platform = Arc::new(LinuxPlatform::open().map_err(os("/dev/xen/{gntalloc,evtchn}"))?);
    let frontend = format!("device/vbd/{}", args.id);
    let t0 = Instant::now();
    let queues = queue_wish(args.max_queues, online_cpus());
    let mut home = connect(platform, &frontend, args.id, queues)?;
    let negotiated = home.driver.device().negotiated();
    let disk = home
        .driver
        .device()
        .disk()
        .cloned()
        .ok_or(BlkError::Timeout("the disk description"))?;
    let handles = home.driver.device_mut().take_handles();
    eprintln!(
        "xenpv-blk: {frontend} connected in {:.2}s: {} sectors of {} bytes, {negotiated:?}",
        t0.elapsed().as_secs_f64(),
        disk.sectors(),
        disk.sector_size
    );
    let features = negotiated.map(|n| n.features);
    let mut flags = nbd::FLAG_HAS_FLAGS;
    if disk.read_only {
        flags |= nbd::FLAG_READ_ONLY;
    }
    if features.is_some_and(|f| f.flush || f.barrier) {
        flags |= nbd::FLAG_SEND_FLUSH | nbd::FLAG_SEND_FUA;
    }
    if features.is_some_and(|f| f.discard.is_some()) {
        flags |= nbd::FLAG_SEND_TRIM;
    }
    if handles.len() > 1 {
        // Every connection reaches the same disk through the same backend.
        flags |= nbd::FLAG_CAN_MULTI_CONN;
    }
    let geometry = Geometry {
        block_size: disk.sector_size,
        blocks: disk.bytes() / u64::from(disk.sector_size),
        flags,
    };
    let (nbd_dev, socks) =
        NbdDevice::connect(&args.dev, geometry, handles.len()).map_err(os("nbd connect"))?;
    home.conns = socks
        .into_iter()
        .zip(handles)
        .map(|(sock, handle)| Conn {
            sock,
            decoder: Decoder::default(),
            handle,
            backlog: VecDeque::new(),
            reads: HashSet::new(),
        })
        .collect();
    eprintln!(
        "xenpv-blk: serving {} as {} over {} nbd connections",
        frontend,
        args.dev,
        home.conns.len()
    );
    let served = serve(&mut home, &signal);
    shutdown(&mut home, nbd_dev)?;
    served
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

/// Attaches `frontend` and waits until it is connected. We ask for persistent grants; whether they
/// are used is decided once blkback has connected and published its own `feature-persistent`.
fn connect(
    platform: Arc<LinuxPlatform>,
    frontend: &str,
    vdev: u16,
    queues: u16,
) -> Result<Home, BlkError> {
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
        conns: Vec::new(),
        pool: BufPool::default(),
        reconnect: false,
        link: LinkWatch::default(),
    };
    home.until(Duration::from_secs(30), "the backend to connect", |h| {
        h.driver.machine().is_connected()
    })?;
    Ok(home)
}

/// The main loop: until a shutdown signal or the client disconnects.
fn serve(home: &mut Home, signal: &ShutdownSignal) -> Result<(), BlkError> {
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let mut fds = vec![
            signal.fd(),
            home.xs_fd,
            home.platform.evtchn.as_fd().as_raw_fd(),
        ];
        fds.extend(home.conns.iter().map(|c| c.sock.as_raw_fd()));
        let ready = poll_readable(&fds, 1000).map_err(os("poll"))?;
        if ready[0] {
            eprintln!("xenpv-blk: shutting down");
            return Ok(());
        }
        if ready[1] {
            home.pump_store()?;
        }
        if ready[2] {
            home.wait_fired()?;
        }
        for (i, c) in home.conns.iter_mut().enumerate() {
            if ready[3 + i] {
                if let Input::Closed = c.read(&mut buf, &mut home.pool)? {
                    return Ok(());
                }
            }
        }
        home.drain()?;
    }
}

/// Closes the device towards the backend (frontend Closed), fails what is left and disconnects nbd.
fn shutdown(home: &mut Home, nbd_dev: NbdDevice) -> Result<(), BlkError> {
    home.link.stop();
    let closed = home.driver.close(&mut home.xs).map_err(BlkError::Driver);
    let waited = home.until(Duration::from_secs(10), "the backend to close", |h| {
        h.driver.machine().state() == XenbusState::Closed
    });
    for q in home.driver.device_mut().queues_mut() {
        q.fail_all(IoError::Disconnected);
    }
    let mut socks = Vec::new();
    for mut c in std::mem::take(&mut home.conns) {
        c.backlog.clear();
        let _ = c.completions(&mut home.pool);
        socks.push(c.sock);
    }
    let r = nbd_dev.disconnect(socks).map_err(os("nbd disconnect"));
    eprintln!(
        "xenpv-blk: frontend state {:?}",
        home.driver.machine().state()
    );
    closed.and(waited).and(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nbd::Request;
    use std::os::fd::FromRawFd;
    use xenpv_datapath::blkif::BlockOp;

    fn incoming(command: Command, flags: u16, offset: u64, len: u32, data: Vec<u8>) -> Incoming {
        Incoming {
            req: Request {
                command,
                flags,
                handle: 0xfeed,
                offset,
                len,
            },
            data,
        }
    }

    fn zeroed(inc: Incoming) -> Result<BlockRequest<Vec<u8>>, (u64, u32)> {
        to_block_request(inc, |n| vec![0; n])
    }

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
    fn reads_take_their_buffer_from_the_caller_at_the_request_length() {
        let mut asked = None;
        let r = to_block_request(incoming(Command::Read, 0, 0, 4096, vec![]), |n| {
            asked = Some(n);
            vec![5; n]
        })
        .unwrap();
        assert_eq!(asked, Some(4096));
        assert_eq!(r.buf, vec![5; 4096]);
        let mut asked = false;
        to_block_request(incoming(Command::Write, 0, 0, 512, vec![1; 512]), |n| {
            asked = true;
            vec![0; n]
        })
        .unwrap();
        assert!(!asked, "a write brings its own data");
    }

    #[test]
    fn the_pool_reuses_buffers_at_any_length_and_stays_bounded() {
        let mut pool = BufPool::default();
        let a = pool.take(4096);
        assert_eq!(a.len(), 4096);
        let ptr = a.as_ptr();
        pool.give(a);
        assert_eq!(pool.len(), 1);
        let b = pool.take(512);
        assert_eq!(
            (b.len(), b.as_ptr()),
            (512, ptr),
            "the same allocation, shorter"
        );
        pool.give(b);
        let c = pool.take(8192);
        assert_eq!(c.len(), 8192);
        assert!(pool.is_empty());
        pool.give(Vec::new());
        assert!(pool.is_empty(), "an empty vector is not worth keeping");
        for _ in 0..BufPool::KEEP + 10 {
            pool.give(vec![0; 16]);
        }
        assert_eq!(pool.len(), BufPool::KEEP);
    }

    #[test]
    fn replies_go_out_whole_and_in_order_through_short_writes() {
        let mut pair = [0; 2];
        // SAFETY: `pair` has room for the two descriptors.
        assert_eq!(
            unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, pair.as_mut_ptr()) },
            0
        );
        // SAFETY: both descriptors are new and owned here.
        let (a, b) = unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) };
        // 3 MiB is more than a socket buffer, and 3000 parts more than one writev takes.
        let big: Vec<u8> = (0..3 << 20).map(|i| (i % 251) as u8).collect();
        let headers: Vec<[u8; nbd::REPLY_LEN]> = (0..1500).map(|i| nbd::reply(i, 0)).collect();
        let mut parts: Vec<&[u8]> = vec![&big];
        for (i, h) in headers.iter().enumerate() {
            parts.push(h);
            parts.push(&big[i..i + 7]);
        }
        let want: Vec<u8> = parts.concat();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 64 << 10];
            loop {
                // SAFETY: reading into a live buffer of its length.
                let n = unsafe {
                    libc::read(
                        b.as_raw_fd(),
                        buf.as_mut_ptr() as *mut libc::c_void,
                        buf.len(),
                    )
                };
                if n <= 0 {
                    return got;
                }
                got.extend_from_slice(&buf[..n as usize]);
            }
        });
        send_all(a.as_raw_fd(), &parts).unwrap();
        drop(a);
        let got = reader.join().unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got == want);
    }

    #[test]
    fn nbd_requests_map_to_block_requests_in_512_byte_sectors() {
        let r = zeroed(incoming(Command::Read, 0, 8192, 4096, vec![])).unwrap();
        assert_eq!(
            (r.tag, r.op, r.sector, r.buf.len()),
            (0xfeed, BlockOp::Read, 16, 4096)
        );
        let w = zeroed(incoming(Command::Write, 0, 512, 512, vec![7; 512])).unwrap();
        assert_eq!((w.op, w.sector, w.buf), (BlockOp::Write, 1, vec![7; 512]));
        let fua = zeroed(incoming(
            Command::Write,
            nbd::CMD_FLAG_FUA,
            0,
            512,
            vec![0; 512],
        ))
        .unwrap();
        assert_eq!(fua.op, BlockOp::WriteFua);
        let f = zeroed(incoming(Command::Flush, 0, 0, 0, vec![])).unwrap();
        assert_eq!(f.op, BlockOp::Flush);
        let t = zeroed(incoming(Command::Trim, 0, 1024, 2048, vec![])).unwrap();
        assert_eq!(
            (t.op, t.sector),
            (
                BlockOp::Discard {
                    sectors: 4,
                    secure: false
                },
                2
            )
        );
    }

    #[test]
    fn misaligned_requests_are_refused_with_einval() {
        let e = zeroed(incoming(Command::Read, 0, 100, 512, vec![])).unwrap_err();
        assert_eq!(e, (0xfeed, libc::EINVAL as u32));
        let e = zeroed(incoming(Command::Write, 0, 0, 100, vec![0; 100])).unwrap_err();
        assert_eq!(e, (0xfeed, libc::EINVAL as u32));
    }

    #[test]
    fn replies_carry_read_data_only_on_success() {
        let ok = Completion {
            tag: 5,
            buf: vec![9u8; 512],
            result: Ok(()),
        };
        assert_eq!(reply_parts(&ok, true), (nbd::reply(5, 0), &[9u8; 512][..]));
        assert_eq!(reply_parts(&ok, false), (nbd::reply(5, 0), &[][..]));
        let failed = Completion {
            tag: 5,
            buf: vec![0u8; 512],
            result: Err(IoError::OutOfRange),
        };
        assert_eq!(
            reply_parts(&failed, true),
            (nbd::reply(5, libc::ENOSPC as u32), &[][..])
        );
    }

    #[test]
    fn every_io_error_has_a_nonzero_errno() {
        for e in [
            IoError::Io,
            IoError::NotSupported,
            IoError::ReadOnly,
            IoError::OutOfRange,
            IoError::Misaligned,
            IoError::Disconnected,
            IoError::NoResources,
        ] {
            assert_ne!(nbd_errno(e), 0, "{e:?}");
        }
    }
}
