//! The kernel's ublk block device (drivers/block/ublk_drv.c, include/uapi/linux/ublk_cmd.h): a
//! /dev/ublkbN whose requests reach us through io_uring URING_CMDs on /dev/ublkcN.
//!
//! Control commands go to /dev/ublk-control on a 128-byte-entry ring ([`Control`]): ADD_DEV,
//! SET_PARAMS, START_DEV, STOP_DEV, DEL_DEV. For I/O every tag of every queue owns a buffer in our
//! memory; FETCH_REQ hands the kernel the tag's buffer, and its completion means a request waits,
//! described in the queue's descriptor array (mapped read-only from /dev/ublkcN) with a write's
//! data already copied into the buffer. COMMIT_AND_FETCH_REQ answers it (a read's data is taken
//! from the buffer) and fetches the tag's next request in the same command. All commands use the
//! ioctl encoding (UBLK_F_CMD_IOCTL_ENCODE).

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::fd::open_rw;
use crate::mapping::Mapping;
use crate::sys::ioc;
use crate::uring::{Sqe, Uring};

/// `struct ublksrv_ctrl_cmd`: the command area of a control entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CtrlCmd {
    pub dev_id: u32,
    /// u16::MAX when the command is not for one queue.
    pub queue_id: u16,
    pub len: u16,
    pub addr: u64,
    pub data: u64,
    pub dev_path_len: u16,
    pub pad: u16,
    pub reserved: u32,
}
const _: () = assert!(size_of::<CtrlCmd>() == 32);

/// `struct ublksrv_ctrl_dev_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct DevInfo {
    pub nr_hw_queues: u16,
    pub queue_depth: u16,
    pub state: u16,
    pub pad0: u16,
    pub max_io_buf_bytes: u32,
    pub dev_id: u32,
    pub ublksrv_pid: i32,
    pub pad1: u32,
    pub flags: u64,
    pub ublksrv_flags: u64,
    pub owner_uid: u32,
    pub owner_gid: u32,
    pub reserved1: u64,
    pub reserved2: u64,
}
const _: () = assert!(size_of::<DevInfo>() == 64);

/// `struct ublk_param_basic`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
pub struct ParamBasic {
    pub attrs: u32,
    pub logical_bs_shift: u8,
    pub physical_bs_shift: u8,
    pub io_opt_shift: u8,
    pub io_min_shift: u8,
    pub max_sectors: u32,
    pub chunk_sectors: u32,
    pub dev_sectors: u64,
    pub virt_boundary_mask: u64,
}
const _: () = assert!(size_of::<ParamBasic>() == 32);

/// `struct ublk_param_discard`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
pub struct ParamDiscard {
    pub discard_alignment: u32,
    pub discard_granularity: u32,
    pub max_discard_sectors: u32,
    pub max_write_zeroes_sectors: u32,
    pub max_discard_segments: u16,
    pub reserved0: u16,
}
const _: () = assert!(size_of::<ParamDiscard>() == 20);

/// The head of `struct ublk_params` with the two parameter sets we give; `len` tells the kernel
/// where we stop (it zeroes the rest).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
pub struct Params {
    pub len: u32,
    pub types: u32,
    pub basic: ParamBasic,
    pub discard: ParamDiscard,
    pub pad: u32,
}
const _: () = assert!(size_of::<Params>() == 64);

/// `struct ublksrv_io_desc`: one request, in the queue's shared descriptor array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
pub struct IoDesc {
    /// Operation in bits 0..8, flags above.
    pub op_flags: u32,
    pub nr_sectors: u32,
    pub start_sector: u64,
    pub addr: u64,
}
const _: () = assert!(size_of::<IoDesc>() == 24);

/// `struct ublksrv_io_cmd`: the command area of an I/O entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
pub struct IoCmd {
    pub q_id: u16,
    pub tag: u16,
    /// COMMIT: bytes done, or -errno.
    pub result: i32,
    /// The tag's buffer.
    pub addr: u64,
}
const _: () = assert!(size_of::<IoCmd>() == 16);

impl CtrlCmd {
    /// A command for device `dev_id` as a whole (not one of its queues).
    fn device(dev_id: u32) -> Self {
        CtrlCmd {
            dev_id,
            queue_id: u16::MAX,
            ..CtrlCmd::default()
        }
    }
}

const IOC_READ_WRITE: u32 = 3;
const IOC_READ: u32 = 2;
const fn ctrl_op(dir: u32, nr: u8) -> u32 {
    ioc(dir, b'u', nr, size_of::<CtrlCmd>()) as u32
}
const fn io_op(nr: u8) -> u32 {
    ioc(IOC_READ_WRITE, b'u', nr, size_of::<IoCmd>()) as u32
}
pub const UBLK_U_CMD_GET_DEV_INFO: u32 = ctrl_op(IOC_READ, 0x02);
pub const UBLK_U_CMD_ADD_DEV: u32 = ctrl_op(IOC_READ_WRITE, 0x04);
pub const UBLK_U_CMD_DEL_DEV: u32 = ctrl_op(IOC_READ_WRITE, 0x05);
pub const UBLK_U_CMD_START_DEV: u32 = ctrl_op(IOC_READ_WRITE, 0x06);
pub const UBLK_U_CMD_STOP_DEV: u32 = ctrl_op(IOC_READ_WRITE, 0x07);
pub const UBLK_U_CMD_SET_PARAMS: u32 = ctrl_op(IOC_READ_WRITE, 0x08);
pub const UBLK_U_IO_FETCH_REQ: u32 = io_op(0x20);
pub const UBLK_U_IO_COMMIT_AND_FETCH_REQ: u32 = io_op(0x21);

pub const UBLK_F_CMD_IOCTL_ENCODE: u64 = 1 << 6;
pub const UBLK_ATTR_READ_ONLY: u32 = 1 << 0;
pub const UBLK_ATTR_VOLATILE_CACHE: u32 = 1 << 2;
pub const UBLK_ATTR_FUA: u32 = 1 << 3;
pub const UBLK_PARAM_TYPE_BASIC: u32 = 1 << 0;
pub const UBLK_PARAM_TYPE_DISCARD: u32 = 1 << 1;
pub const UBLK_IO_OP_READ: u8 = 0;
pub const UBLK_IO_OP_WRITE: u8 = 1;
pub const UBLK_IO_OP_FLUSH: u8 = 2;
pub const UBLK_IO_OP_DISCARD: u8 = 3;
pub const UBLK_IO_F_FUA: u32 = 1 << 13;
/// A fetch completion: a request waits.
pub const UBLK_IO_RES_OK: i32 = 0;
/// A fetch completion: the device is going away, the tag will not be used again.
pub const UBLK_IO_RES_ABORT: i32 = -libc::ENODEV;
/// `UBLK_MAX_QUEUE_DEPTH`: each queue's descriptor array is mapped at a multiple of this many
/// descriptors' worth of pages.
pub const MAX_QUEUE_DEPTH: usize = 4096;

/// A control command that failed.
#[derive(Debug)]
pub struct CtrlError {
    pub command: &'static str,
    pub error: io::Error,
}

impl fmt::Display for CtrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ublk {}: {}", self.command, self.error)
    }
}

/// /dev/ublk-control with its own ring: one command at a time, each waited for.
pub struct Control {
    dev: OwnedFd,
    ring: Uring,
}

impl Control {
    pub const PATH: &'static str = "/dev/ublk-control";

    pub fn open() -> io::Result<Self> {
        Ok(Control {
            dev: open_rw(c"/dev/ublk-control")?,
            ring: Uring::new(4, true)?,
        })
    }

    fn command(&mut self, command: &'static str, op: u32, cmd: CtrlCmd) -> Result<i32, CtrlError> {
        let fail = |error| CtrlError { command, error };
        let sqe = Sqe::uring_cmd(self.dev.as_raw_fd(), op, 0);
        self.ring
            .push(&sqe, cmd.as_bytes())
            .map_err(|e| fail(io::Error::other(format!("{e:?}"))))?;
        self.ring.submit(1).map_err(fail)?;
        let cqe = self
            .ring
            .pop()
            .ok_or_else(|| fail(io::Error::other("no completion")))?;
        if cqe.res < 0 {
            return Err(fail(io::Error::from_raw_os_error(-cqe.res)));
        }
        Ok(cqe.res)
    }

    /// Adds a device as `info` asks (its `dev_id` u32::MAX: the next free number); returns what
    /// the kernel made of it, with its number.
    pub fn add(&mut self, mut info: DevInfo) -> Result<DevInfo, CtrlError> {
        let cmd = CtrlCmd {
            len: size_of::<DevInfo>() as u16,
            addr: &mut info as *mut DevInfo as u64,
            ..CtrlCmd::device(info.dev_id)
        };
        // The kernel writes the device back into `info`, which lives across the command.
        self.command("ADD_DEV", UBLK_U_CMD_ADD_DEV, cmd)?;
        Ok(info)
    }

    pub fn set_params(&mut self, dev_id: u32, params: &Params) -> Result<(), CtrlError> {
        let cmd = CtrlCmd {
            len: size_of::<Params>() as u16,
            addr: params as *const Params as u64,
            ..CtrlCmd::device(dev_id)
        };
        self.command("SET_PARAMS", UBLK_U_CMD_SET_PARAMS, cmd)
            .map(drop)
    }

    /// Starts the device once every tag has been fetched: /dev/ublkbN appears (and the kernel
    /// reads its partition table through us, so the caller keeps serving while this waits).
    pub fn start(&mut self, dev_id: u32, pid: i32) -> Result<(), CtrlError> {
        let cmd = CtrlCmd {
            data: pid as u64,
            ..CtrlCmd::device(dev_id)
        };
        self.command("START_DEV", UBLK_U_CMD_START_DEV, cmd)
            .map(drop)
    }

    /// Removes /dev/ublkbN; outstanding requests are waited for (served by the caller meanwhile).
    pub fn stop(&mut self, dev_id: u32) -> Result<(), CtrlError> {
        self.command("STOP_DEV", UBLK_U_CMD_STOP_DEV, CtrlCmd::device(dev_id))
            .map(drop)
    }

    /// Deletes the device; the kernel waits until /dev/ublkcN is closed.
    pub fn delete(&mut self, dev_id: u32) -> Result<(), CtrlError> {
        self.command("DEL_DEV", UBLK_U_CMD_DEL_DEV, CtrlCmd::device(dev_id))
            .map(drop)
    }
}

/// Where queue `q`'s descriptor array is mapped on /dev/ublkcN, and its length.
pub fn desc_mapping(q: u16, depth: u16) -> (i64, usize) {
    let page = 4096;
    let stride = (MAX_QUEUE_DEPTH * size_of::<IoDesc>()).next_multiple_of(page);
    let len = (usize::from(depth) * size_of::<IoDesc>()).next_multiple_of(page);
    (i64::from(q) * stride as i64, len)
}

/// An opened /dev/ublkcN with the descriptor arrays of its queues.
pub struct CharDev {
    fd: OwnedFd,
    descs: Vec<Mapping>,
    depth: u16,
}

impl CharDev {
    /// Opens /dev/ublkc`dev_id` (waiting up to `wait` for devtmpfs to create it) and maps the
    /// descriptor arrays of `queues` queues of `depth` tags.
    pub fn open(dev_id: u32, queues: u16, depth: u16, wait: Duration) -> io::Result<Self> {
        let path = CString::new(format!("/dev/ublkc{dev_id}")).expect("no NUL in a path");
        let start = Instant::now();
        let fd = loop {
            match open_rw(&path) {
                Ok(fd) => break fd,
                Err(e) if e.kind() == io::ErrorKind::NotFound && start.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => return Err(e),
            }
        };
        let descs = (0..queues)
            .map(|q| {
                let (offset, len) = desc_mapping(q, depth);
                // The kernel refuses writable mappings: the array is its to write.
                Mapping::shared(fd.as_raw_fd(), len, offset, libc::PROT_READ)
            })
            .collect::<io::Result<_>>()?;
        Ok(CharDev { fd, descs, depth })
    }

    /// The descriptor of `tag` in queue `q`, read once: the kernel rewrites it for the tag's next
    /// request, after we commit this one.
    pub fn desc(&self, q: u16, tag: u16) -> IoDesc {
        assert!(
            tag < self.depth,
            "tag {tag} beyond the depth {}",
            self.depth
        );
        let m = &self.descs[usize::from(q)];
        // SAFETY: `tag` < depth, so the descriptor lies inside the mapping, which is 8-aligned.
        unsafe { std::ptr::read_volatile((m.as_ptr() as *const IoDesc).add(usize::from(tag))) }
    }
}

impl AsRawFd for CharDev {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_carry_the_ioctl_encoding_of_their_argument() {
        // _IOWR('u', 0x04, 32 bytes) and _IOWR('u', 0x20, 16 bytes), as in ublk_cmd.h.
        assert_eq!(UBLK_U_CMD_ADD_DEV, 0xc020_7504);
        assert_eq!(UBLK_U_CMD_GET_DEV_INFO, 0x8020_7502);
        assert_eq!(UBLK_U_IO_FETCH_REQ, 0xc010_7520);
        assert_eq!(UBLK_U_IO_COMMIT_AND_FETCH_REQ, 0xc010_7521);
    }

    #[test]
    fn each_queue_maps_its_descriptors_at_a_stride_of_the_largest_queue() {
        // 4096 descriptors of 24 bytes: 96 KiB per queue, whatever the depth.
        assert_eq!(desc_mapping(0, 64), (0, 4096));
        assert_eq!(desc_mapping(1, 64), (98304, 4096));
        assert_eq!(desc_mapping(2, 256), (2 * 98304, 8192));
        assert_eq!(desc_mapping(0, 4096).1, 98304);
    }

    #[test]
    fn params_say_how_long_they_are_in_their_own_bytes() {
        let p = Params {
            len: size_of::<Params>() as u32,
            types: UBLK_PARAM_TYPE_BASIC,
            basic: ParamBasic {
                logical_bs_shift: 9,
                dev_sectors: 0x0102_0304,
                ..ParamBasic::default()
            },
            ..Params::default()
        };
        let b = p.as_bytes();
        assert_eq!(&b[0..4], &64u32.to_ne_bytes());
        assert_eq!(b[12], 9, "logical_bs_shift after attrs");
        assert_eq!(&b[24..32], &0x0102_0304u64.to_ne_bytes(), "dev_sectors");
    }
}
