//! The vbd as a ublk device ([`crate::ublk`]): each tag of each queue owns a buffer in our memory,
//! which the blkif core fills or empties through the granted pages, and the kernel copies to or
//! from the bio. Fetches and commits of a whole turn go to the kernel in one io_uring_enter.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use xenpv_control::vbd::Negotiated;
use xenpv_datapath::blkif::{BlockRequest, Completion, Disk};
use zerocopy::IntoBytes;

use super::{connect, errno, os, BlkError, Export, Flow, Home, Lane};
use crate::mapping::Mapping;
use crate::platform::LinuxPlatform;
use crate::signals::ShutdownSignal;
use crate::ublk::{
    CharDev, Control, CtrlError, DevInfo, IoCmd, IoDesc, ParamBasic, ParamDiscard, Params,
    UBLK_ATTR_FUA, UBLK_ATTR_READ_ONLY, UBLK_ATTR_VOLATILE_CACHE, UBLK_F_CMD_IOCTL_ENCODE,
    UBLK_IO_F_FUA, UBLK_IO_OP_DISCARD, UBLK_IO_OP_FLUSH, UBLK_IO_OP_READ, UBLK_IO_OP_WRITE,
    UBLK_IO_RES_ABORT, UBLK_IO_RES_OK, UBLK_PARAM_TYPE_BASIC, UBLK_PARAM_TYPE_DISCARD,
    UBLK_U_IO_COMMIT_AND_FETCH_REQ, UBLK_U_IO_FETCH_REQ,
};
use crate::uring::{Sqe, Uring};

/// Tags per queue: fio's random test keeps 32 in flight, and blkfront's ring (order 2) takes 128.
pub const DEPTH: u16 = 64;
/// The largest request, and each tag's buffer: 512 KiB keeps a queue's buffers at 32 MiB even
/// when every tag has been used once (the memory is touched lazily); a 1 MiB read is split in two.
pub const BUF_BYTES: usize = 512 << 10;

/// A tag's buffer, the length of its current request. The buffer lives in [`UblkExport::bufs`],
/// which outlives every request (the export is dropped after the queues failed all of theirs).
#[derive(Debug)]
pub struct TagBuf {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: a TagBuf is the only handle to its tag's buffer while its request is in flight (a tag
// carries one request at a time), so moving it to another thread moves exclusive access.
unsafe impl Send for TagBuf {}

impl AsRef<[u8]> for TagBuf {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr..ptr+len` lies in a live buffer that nothing else accesses meanwhile.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl AsMut<[u8]> for TagBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `as_ref`, and `&mut self` is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

/// The request's cookie: the queue and the tag.
fn cookie(q: u16, tag: u16) -> u64 {
    u64::from(q) << 16 | u64::from(tag)
}

fn split(cookie: u64) -> (u16, u16) {
    ((cookie >> 16) as u16, cookie as u16)
}

/// The block request for a ublk descriptor, or the errno to answer at once. `buf` gives the tag's
/// buffer at the transfer length; a length beyond `max_bytes` is refused, whatever the kernel says.
pub fn to_block_request<B>(
    tag: u64,
    desc: &IoDesc,
    max_bytes: usize,
    buf: impl FnOnce(usize) -> B,
) -> Result<BlockRequest<B>, i32> {
    let bytes = desc.nr_sectors as usize * 512;
    let op = desc.op_flags as u8;
    let sector = desc.start_sector;
    match op {
        UBLK_IO_OP_READ | UBLK_IO_OP_WRITE if bytes == 0 || bytes > max_bytes => Err(libc::EINVAL),
        UBLK_IO_OP_READ => Ok(BlockRequest::read(tag, sector, buf(bytes))),
        UBLK_IO_OP_WRITE if desc.op_flags & UBLK_IO_F_FUA != 0 => {
            Ok(BlockRequest::write_fua(tag, sector, buf(bytes)))
        }
        UBLK_IO_OP_WRITE => Ok(BlockRequest::write(tag, sector, buf(bytes))),
        UBLK_IO_OP_FLUSH => Ok(BlockRequest::flush(tag, buf(0))),
        UBLK_IO_OP_DISCARD => Ok(BlockRequest::discard(
            tag,
            sector,
            u64::from(desc.nr_sectors),
            false,
            buf(0),
        )),
        _ => Err(libc::EOPNOTSUPP),
    }
}

/// What a commit reports for a finished request: the bytes moved, or -errno.
pub fn commit_result<B: AsRef<[u8]>>(c: &Completion<B>) -> i32 {
    match c.result {
        Ok(()) => c.buf.as_ref().len() as i32,
        Err(e) => -errno(e),
    }
}

/// The device parameters for the disk and what the backend offers.
pub fn params(disk: &Disk, negotiated: Option<Negotiated>) -> Params {
    let features = negotiated.map(|n| n.features).unwrap_or_default();
    let shift = |bytes: u32| bytes.max(512).trailing_zeros() as u8;
    let mut attrs = 0;
    if disk.read_only {
        attrs |= UBLK_ATTR_READ_ONLY;
    }
    if features.flush || features.barrier {
        attrs |= UBLK_ATTR_VOLATILE_CACHE | UBLK_ATTR_FUA;
    }
    let mut p = Params {
        len: size_of::<Params>() as u32,
        types: UBLK_PARAM_TYPE_BASIC,
        basic: ParamBasic {
            attrs,
            logical_bs_shift: shift(disk.sector_size),
            physical_bs_shift: shift(disk.physical_sector_size.max(disk.sector_size)),
            io_opt_shift: 12,
            io_min_shift: shift(disk.sector_size),
            max_sectors: (BUF_BYTES / 512) as u32,
            dev_sectors: disk.sectors(),
            ..ParamBasic::default()
        },
        ..Params::default()
    };
    if let Some(d) = features.discard {
        p.types |= UBLK_PARAM_TYPE_DISCARD;
        p.discard = ParamDiscard {
            discard_alignment: d.alignment,
            discard_granularity: d.granularity.max(disk.sector_size),
            max_discard_sectors: u32::MAX >> 9,
            max_discard_segments: 1,
            ..ParamDiscard::default()
        };
    }
    p
}

/// The ublk device and its queues.
struct UblkExport {
    ring: Uring,
    cdev: CharDev,
    /// Per queue: DEPTH buffers of BUF_BYTES, tag by tag.
    bufs: Vec<Mapping>,
    /// Tags whose fetch the kernel aborted: the device is going away.
    aborted: usize,
    tags: usize,
}

impl UblkExport {
    fn buf(&self, q: u16, tag: u16) -> *mut u8 {
        // SAFETY: tag < DEPTH, so the offset stays inside the queue's mapping.
        unsafe {
            self.bufs[usize::from(q)]
                .as_ptr()
                .add(usize::from(tag) * BUF_BYTES)
        }
    }

    /// Queues a FETCH (first) or COMMIT_AND_FETCH of `tag`.
    fn push(&mut self, op: u32, q: u16, tag: u16, result: i32) -> Result<(), BlkError> {
        let cmd = IoCmd {
            q_id: q,
            tag,
            result,
            addr: self.buf(q, tag) as u64,
        };
        let sqe = Sqe::uring_cmd(self.cdev.as_raw_fd(), op, cookie(q, tag));
        if self.ring.push(&sqe, cmd.as_bytes()).is_err() {
            // The ring holds every tag, so it is full only of what this turn queued.
            self.ring.submit(0).map_err(os("io_uring_enter"))?;
            self.ring
                .push(&sqe, cmd.as_bytes())
                .map_err(|e| BlkError::Os("io_uring", std::io::Error::other(format!("{e:?}"))))?;
        }
        Ok(())
    }
}

impl Export for UblkExport {
    type Buf = TagBuf;

    fn fds(&self) -> Vec<RawFd> {
        vec![self.ring.as_raw_fd()]
    }

    fn take_requests(
        &mut self,
        _ready: &[bool],
        lanes: &mut [Lane<TagBuf>],
    ) -> Result<Flow, BlkError> {
        while let Some(cqe) = self.ring.pop() {
            let (q, tag) = split(cqe.user_data);
            match cqe.res {
                UBLK_IO_RES_OK => {
                    let desc = self.cdev.desc(q, tag);
                    let ptr = self.buf(q, tag);
                    match to_block_request(cqe.user_data, &desc, BUF_BYTES, |len| TagBuf {
                        ptr,
                        len,
                    }) {
                        Ok(req) => lanes[usize::from(q)].backlog.push_back(req),
                        Err(errno) => self.push(UBLK_U_IO_COMMIT_AND_FETCH_REQ, q, tag, -errno)?,
                    }
                }
                UBLK_IO_RES_ABORT => self.aborted += 1,
                res => {
                    return Err(BlkError::Os(
                        "ublk fetch",
                        std::io::Error::from_raw_os_error(-res),
                    ))
                }
            }
        }
        Ok(if self.aborted == self.tags {
            Flow::Closed
        } else {
            Flow::Go
        })
    }

    fn answer(&mut self, _lane: usize, done: Vec<Completion<TagBuf>>) -> Result<(), BlkError> {
        for c in done {
            let (q, tag) = split(c.tag);
            self.push(UBLK_U_IO_COMMIT_AND_FETCH_REQ, q, tag, commit_result(&c))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlkError> {
        if self.ring.pending() > 0 {
            self.ring.submit(0).map_err(os("io_uring_enter"))?;
        }
        Ok(())
    }
}

/// Runs a control command on a thread of its own: START_DEV and STOP_DEV wait for I/O that this
/// thread must serve meanwhile.
fn in_background(
    f: impl FnOnce(&mut Control) -> Result<(), CtrlError> + Send + 'static,
) -> JoinHandle<Result<(), BlkError>> {
    std::thread::spawn(move || {
        let mut ctrl = Control::open().map_err(os("/dev/ublk-control"))?;
        f(&mut ctrl).map_err(BlkError::Ublk)
    })
}

/// Sets up the device: added with a queue per lane, its parameters set, the descriptor arrays
/// mapped and every tag fetched. The kernel gives a device at most a queue per CPU: ublk queue i
/// feeds lane i, and lanes beyond the device's queues stay idle (only an explicit `--queues`
/// above the vCPU count makes them). Undone (deleted) if a step fails.
fn create(
    ctrl: &mut Control,
    want_id: Option<u32>,
    lanes: u16,
    params: &Params,
) -> Result<(u32, UblkExport), BlkError> {
    let info = ctrl
        .add(DevInfo {
            nr_hw_queues: lanes,
            queue_depth: DEPTH,
            max_io_buf_bytes: BUF_BYTES as u32,
            dev_id: want_id.unwrap_or(u32::MAX),
            ublksrv_pid: std::process::id() as i32,
            flags: UBLK_F_CMD_IOCTL_ENCODE,
            ..DevInfo::default()
        })
        .map_err(BlkError::Ublk)?;
    let id = info.dev_id;
    let queues = info.nr_hw_queues;
    let mut setup = || -> Result<UblkExport, BlkError> {
        if info.queue_depth != DEPTH || !(1..=lanes).contains(&queues) {
            return Err(BlkError::Os(
                "ublk ADD_DEV",
                std::io::Error::other(format!(
                    "the kernel made {queues} queues of {} tags, not up to {lanes} of {DEPTH}",
                    info.queue_depth
                )),
            ));
        }
        ctrl.set_params(id, params).map_err(BlkError::Ublk)?;
        let cdev =
            CharDev::open(id, queues, DEPTH, Duration::from_secs(5)).map_err(os("/dev/ublkcN"))?;
        let bufs = (0..queues)
            .map(|_| Mapping::anonymous(usize::from(DEPTH) * BUF_BYTES))
            .collect::<std::io::Result<_>>()
            .map_err(os("tag buffers"))?;
        let tags = usize::from(queues) * usize::from(DEPTH);
        let ring = Uring::new(tags.next_power_of_two() as u32, false).map_err(os("io_uring"))?;
        let mut export = UblkExport {
            ring,
            cdev,
            bufs,
            aborted: 0,
            tags,
        };
        for q in 0..queues {
            for tag in 0..DEPTH {
                export.push(UBLK_U_IO_FETCH_REQ, q, tag, 0)?;
            }
        }
        export.flush()?;
        Ok(export)
    };
    match setup() {
        Ok(export) => Ok((id, export)),
        Err(e) => {
            let _ = ctrl.delete(id);
            Err(e)
        }
    }
}

/// How long a stopping device waits for its outstanding requests to be answered by the backend;
/// after that (or at once if the backend is away) they are failed, so that STOP_DEV returns.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Serves the vbd as /dev/ublkbN until SIGTERM, then removes the device and leaves the vbd Closed.
pub(super) fn run(
    platform: Arc<LinuxPlatform>,
    frontend: &str,
    vdev: u16,
    queues: u16,
    want_id: Option<u32>,
    signal: &ShutdownSignal,
) -> Result<(), BlkError> {
    let (mut home, disk) = connect::<TagBuf>(platform, frontend, vdev, queues)?;
    let params = params(&disk, home.driver.device().negotiated());
    let lanes = home.lanes.len() as u16;
    let created = Control::open()
        .map_err(os("/dev/ublk-control"))
        .and_then(|mut ctrl| {
            let (id, export) = create(&mut ctrl, want_id, lanes, &params)?;
            Ok((ctrl, id, export))
        });
    let (mut ctrl, id, mut export) = home.or_close(created)?;
    let served = start_and_serve(&mut home, &mut export, id, signal);
    let (stopped, closed) = stop(&mut home, &mut export, id);
    // The kernel waits for /dev/ublkcN to be closed before it deletes the device.
    drop(export);
    let deleted = ctrl.delete(id).map_err(BlkError::Ublk);
    eprintln!("xenpv-blk: /dev/ublkb{id} removed");
    served.and(stopped).and(closed).and(deleted)
}

fn start_and_serve(
    home: &mut Home<TagBuf>,
    export: &mut UblkExport,
    id: u32,
    signal: &ShutdownSignal,
) -> Result<(), BlkError> {
    let pid = std::process::id() as i32;
    let starter = in_background(move |c| c.start(id, pid));
    // The kernel reads the partition table through us before START_DEV returns.
    let t0 = Instant::now();
    while !starter.is_finished() {
        home.turn(export, None, 50)?;
    }
    starter.join().expect("the START_DEV thread panicked")?;
    eprintln!(
        "xenpv-blk: serving as /dev/ublkb{id} with {} queues of {DEPTH} tags for {} blkif \
         queues (started in {:.2}s)",
        export.bufs.len(),
        home.lanes.len(),
        t0.elapsed().as_secs_f64()
    );
    super::serve(home, export, signal)
}

/// STOP_DEV, served while it waits for what the kernel still has in flight (and its final
/// flush); then the vbd is closed. A backend that is away, or does not answer within
/// [`STOP_GRACE`], gets the vbd closed early and the requests failed, so that stopping ends.
fn stop(
    home: &mut Home<TagBuf>,
    export: &mut UblkExport,
    id: u32,
) -> (Result<(), BlkError>, Result<(), BlkError>) {
    let stopper = in_background(move |c| c.stop(id));
    let deadline = Instant::now() + STOP_GRACE;
    let mut closed = None;
    while !stopper.is_finished() {
        if closed.is_none() && (Instant::now() > deadline || !home.driver.machine().is_connected())
        {
            eprintln!("xenpv-blk: the backend does not answer: failing what is left");
            closed = Some(home.close());
        }
        if let Err(e) = home.turn(export, None, 50) {
            eprintln!("xenpv-blk: while stopping: {e}");
        }
    }
    let stopped = stopper.join().expect("the STOP_DEV thread panicked");
    (stopped, closed.unwrap_or_else(|| home.close()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use xenpv_datapath::blkif::{BlockOp, DiscardInfo, Features, IoError};

    fn desc(op: u8, flags: u32, sector: u64, sectors: u32) -> IoDesc {
        IoDesc {
            op_flags: u32::from(op) | flags,
            nr_sectors: sectors,
            start_sector: sector,
            addr: 0,
        }
    }

    fn request(d: IoDesc) -> Result<BlockRequest<Vec<u8>>, i32> {
        to_block_request(cookie(1, 7), &d, BUF_BYTES, |n| vec![0; n])
    }

    #[test]
    fn the_cookie_carries_queue_and_tag() {
        assert_eq!(split(cookie(3, 65535)), (3, 65535));
        assert_eq!(split(cookie(0, 0)), (0, 0));
        assert_ne!(cookie(1, 0), cookie(0, 1));
    }

    #[test]
    fn descriptors_map_to_block_requests() {
        let r = request(desc(UBLK_IO_OP_READ, 0, 16, 8)).unwrap();
        assert_eq!(
            (r.tag, r.op, r.sector, r.buf.len()),
            (cookie(1, 7), BlockOp::Read, 16, 4096)
        );
        let w = request(desc(UBLK_IO_OP_WRITE, 0, 1, 1)).unwrap();
        assert_eq!((w.op, w.sector, w.buf.len()), (BlockOp::Write, 1, 512));
        let fua = request(desc(UBLK_IO_OP_WRITE, UBLK_IO_F_FUA, 0, 1)).unwrap();
        assert_eq!(fua.op, BlockOp::WriteFua);
        let f = request(desc(UBLK_IO_OP_FLUSH, 0, 0, 0)).unwrap();
        assert_eq!((f.op, f.buf.len()), (BlockOp::Flush, 0));
        let t = request(desc(UBLK_IO_OP_DISCARD, 0, 2, 4)).unwrap();
        assert_eq!(
            (t.op, t.sector, t.buf.len()),
            (
                BlockOp::Discard {
                    sectors: 4,
                    secure: false
                },
                2,
                0
            )
        );
    }

    #[test]
    fn transfers_beyond_the_tag_buffer_or_empty_are_refused() {
        let max = (BUF_BYTES / 512) as u32;
        assert!(request(desc(UBLK_IO_OP_READ, 0, 0, max)).is_ok());
        assert_eq!(
            request(desc(UBLK_IO_OP_READ, 0, 0, max + 1)).unwrap_err(),
            libc::EINVAL
        );
        assert_eq!(
            request(desc(UBLK_IO_OP_WRITE, 0, 0, u32::MAX)).unwrap_err(),
            libc::EINVAL
        );
        assert_eq!(
            request(desc(UBLK_IO_OP_WRITE, 0, 0, 0)).unwrap_err(),
            libc::EINVAL
        );
        // WRITE_SAME, WRITE_ZEROES and zoned operations are not offered.
        for op in [4, 5, 10, 13, 18] {
            assert_eq!(
                request(desc(op, 0, 0, 1)).unwrap_err(),
                libc::EOPNOTSUPP,
                "{op}"
            );
        }
    }

    #[test]
    fn commits_report_the_bytes_or_a_negative_errno() {
        let ok = Completion {
            tag: 0,
            buf: vec![0u8; 4096],
            result: Ok(()),
        };
        assert_eq!(commit_result(&ok), 4096);
        let failed = Completion {
            tag: 0,
            buf: vec![0u8; 4096],
            result: Err(IoError::ReadOnly),
        };
        assert_eq!(commit_result(&failed), -libc::EPERM);
        let flushed = Completion {
            tag: 0,
            buf: Vec::<u8>::new(),
            result: Ok(()),
        };
        assert_eq!(commit_result(&flushed), 0);
    }

    #[test]
    fn tag_buffers_read_and_write_the_memory_they_point_at() {
        let mut mem = [0u8; 64];
        let mut b = TagBuf {
            ptr: mem[8..].as_mut_ptr(),
            len: 16,
        };
        b.as_mut().copy_from_slice(&[7; 16]);
        assert_eq!(b.as_ref(), &[7; 16]);
        assert_eq!(&mem[..8], &[0; 8]);
        assert_eq!(&mem[8..24], &[7; 16]);
        assert_eq!(&mem[24..], &[0; 40]);
    }

    fn disk(sector_size: u32, read_only: bool) -> Disk {
        Disk::new(1 << 20, sector_size, sector_size, read_only).unwrap()
    }

    fn negotiated(features: Features) -> Option<Negotiated> {
        Some(Negotiated {
            ring_order: 2,
            queues: 1,
            features,
        })
    }

    #[test]
    fn params_follow_the_disk_and_the_negotiated_features() {
        let p = params(&disk(512, false), negotiated(Features::default()));
        assert_eq!(p.types, UBLK_PARAM_TYPE_BASIC);
        assert_eq!(p.basic.dev_sectors, 1 << 20);
        assert_eq!(
            (p.basic.logical_bs_shift, p.basic.physical_bs_shift),
            (9, 9)
        );
        assert_eq!(p.basic.max_sectors as usize * 512, BUF_BYTES);
        assert_eq!(p.basic.attrs, 0);

        let p = params(
            &disk(4096, true),
            negotiated(Features {
                flush: true,
                discard: Some(DiscardInfo {
                    granularity: 0,
                    alignment: 0,
                    secure: false,
                }),
                ..Features::default()
            }),
        );
        assert_eq!(p.basic.logical_bs_shift, 12);
        assert_eq!(
            p.basic.attrs,
            UBLK_ATTR_READ_ONLY | UBLK_ATTR_VOLATILE_CACHE | UBLK_ATTR_FUA
        );
        assert_eq!(p.types, UBLK_PARAM_TYPE_BASIC | UBLK_PARAM_TYPE_DISCARD);
        assert_eq!(
            p.discard.discard_granularity, 4096,
            "at least a sector, which the kernel requires"
        );
        assert_eq!(p.discard.max_discard_segments, 1);
    }
}
