//! The vbd as the kernel's nbd device: the kernel speaks the NBD transmission phase to us over one
//! socket pair per lane (NBD_SET_SOCK + NBD_DO_IT, [`crate::nbd_dev`]), a 28-byte request / 16-byte
//! reply protocol ([`crate::nbd`]) that needs no handshake, no netlink and no io_uring. It is the
//! fallback for kernels without ublk_drv. To cut its cost: read buffers come from a pool (no
//! allocation or zeroing per request), replies of a batch go out in one `writev`, and socket
//! buffers hold a whole 1 MiB reply.

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use xenpv_abi::blkif::BLKIF_SECTOR_SIZE;
use xenpv_datapath::blkif::{BlockRequest, Completion};

use super::{connect, errno, os, BlkError, Export, Flow, Lane};
use crate::nbd::{self, Command, Decoder, Incoming};
use crate::nbd_dev::{Geometry, NbdDevice};
use crate::platform::LinuxPlatform;
use crate::signals::ShutdownSignal;

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
    let error = c.result.map_or_else(|e| errno(e) as u32, |()| 0);
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
}

/// One NBD connection (one of the kernel's hardware queues), feeding one lane.
struct Conn {
    sock: OwnedFd,
    decoder: Decoder,
    /// NBD handles of reads in flight (a completion does not say its operation).
    reads: HashSet<u64>,
}

/// The nbd device and its connections.
struct NbdExport {
    conns: Vec<Conn>,
    pool: BufPool,
    /// Where socket reads land before they are framed.
    input: Vec<u8>,
}

impl NbdExport {
    /// Reads what connection `i`'s socket has, frames requests and queues them in `lane` (or
    /// answers at once).
    fn read(&mut self, i: usize, lane: &mut Lane<Vec<u8>>) -> Result<Flow, BlkError> {
        let c = &mut self.conns[i];
        // SAFETY: reading into a live buffer of the given length.
        let n = unsafe {
            libc::read(
                c.sock.as_raw_fd(),
                self.input.as_mut_ptr() as *mut libc::c_void,
                self.input.len(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => Ok(Flow::Go),
                _ => Err(BlkError::Os("nbd read", e)),
            };
        }
        if n == 0 {
            eprintln!("xenpv-blk: the nbd device closed its socket");
            return Ok(Flow::Closed);
        }
        let mut input = &self.input[..n as usize];
        while !input.is_empty() {
            let Some(inc) = c.decoder.feed(&mut input).map_err(BlkError::Nbd)? else {
                continue;
            };
            if inc.req.command == Command::Disconnect {
                eprintln!("xenpv-blk: the nbd client disconnects");
                return Ok(Flow::Closed);
            }
            let is_read = inc.req.command == Command::Read;
            match to_block_request(inc, |len| self.pool.take(len)) {
                Ok(req) => {
                    if is_read {
                        c.reads.insert(req.tag);
                    }
                    lane.backlog.push_back(req);
                }
                Err((handle, errno)) => send_all(c.sock.as_raw_fd(), &[&nbd::reply(handle, errno)])
                    .map_err(os("nbd reply"))?,
            }
        }
        Ok(Flow::Go)
    }
}

impl Export for NbdExport {
    type Buf = Vec<u8>;

    fn fds(&self) -> Vec<RawFd> {
        self.conns.iter().map(|c| c.sock.as_raw_fd()).collect()
    }

    fn take_requests(
        &mut self,
        ready: &[bool],
        lanes: &mut [Lane<Vec<u8>>],
    ) -> Result<Flow, BlkError> {
        for (i, lane) in lanes.iter_mut().enumerate() {
            if ready[i] && self.read(i, lane)? == Flow::Closed {
                return Ok(Flow::Closed);
            }
        }
        Ok(Flow::Go)
    }

    /// Answers every finished request of the lane, all in one write.
    fn answer(&mut self, lane: usize, done: Vec<Completion<Vec<u8>>>) -> Result<(), BlkError> {
        let c = &mut self.conns[lane];
        let reads: Vec<bool> = done.iter().map(|d| c.reads.remove(&d.tag)).collect();
        let replies: Vec<_> = done
            .iter()
            .zip(&reads)
            .map(|(d, &r)| reply_parts(d, r))
            .collect();
        let parts: Vec<&[u8]> = replies
            .iter()
            .flat_map(|(header, data)| [&header[..], data])
            .filter(|p| !p.is_empty())
            .collect();
        send_all(c.sock.as_raw_fd(), &parts).map_err(os("nbd reply"))?;
        for d in done {
            self.pool.give(d.buf);
        }
        Ok(())
    }
}

/// Serves the vbd as `dev` until SIGTERM or until the nbd device disconnects, then leaves the vbd
/// Closed and the nbd device disconnected.
pub(super) fn run(
    platform: Arc<LinuxPlatform>,
    frontend: &str,
    vdev: u16,
    queues: u16,
    dev: &str,
    signal: &ShutdownSignal,
) -> Result<(), BlkError> {
    let (mut home, disk) = connect::<Vec<u8>>(platform, frontend, vdev, queues)?;
    let features = home.driver.device().negotiated().map(|n| n.features);
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
    if home.lanes.len() > 1 {
        // Every connection reaches the same disk through the same backend.
        flags |= nbd::FLAG_CAN_MULTI_CONN;
    }
    let geometry = Geometry {
        block_size: disk.sector_size,
        blocks: disk.bytes() / u64::from(disk.sector_size),
        flags,
    };
    let nbd = NbdDevice::connect(dev, geometry, home.lanes.len()).map_err(os("nbd connect"));
    let (nbd_dev, socks) = home.or_close(nbd)?;
    let mut export = NbdExport {
        conns: socks
            .into_iter()
            .map(|sock| Conn {
                sock,
                decoder: Decoder::default(),
                reads: HashSet::new(),
            })
            .collect(),
        pool: BufPool::default(),
        input: vec![0u8; 256 << 10],
    };
    eprintln!(
        "xenpv-blk: serving {frontend} as {dev} over {} nbd connections",
        export.conns.len()
    );
    let served = super::serve(&mut home, &mut export, signal);
    // The backend goes first: nbd then gets an answer (an error) for every request left.
    let closed = home.close();
    for i in 0..home.lanes.len() {
        let done = home.lanes[i].completions();
        let _ = export.answer(i, done);
    }
    let socks = export.conns.into_iter().map(|c| c.sock).collect();
    let disconnected = nbd_dev.disconnect(socks).map_err(os("nbd disconnect"));
    served.and(closed).and(disconnected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nbd::Request;
    use std::os::fd::FromRawFd;
    use xenpv_datapath::blkif::{BlockOp, IoError};

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
        assert_eq!(pool.free.len(), 1);
        let b = pool.take(512);
        assert_eq!(
            (b.len(), b.as_ptr()),
            (512, ptr),
            "the same allocation, shorter"
        );
        pool.give(b);
        let c = pool.take(8192);
        assert_eq!(c.len(), 8192);
        assert!(pool.free.is_empty());
        pool.give(Vec::new());
        assert!(pool.free.is_empty(), "an empty vector is not worth keeping");
        for _ in 0..BufPool::KEEP + 10 {
            pool.give(vec![0; 16]);
        }
        assert_eq!(pool.free.len(), BufPool::KEEP);
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
}
