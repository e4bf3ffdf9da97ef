//! A minimal io_uring (include/uapi/linux/io_uring.h): one submission and one completion ring,
//! mapped from the kernel, driven by raw `io_uring_setup` / `io_uring_enter` system calls. It is
//! what ublk needs ([`crate::ublk`]): URING_CMD submissions (64-byte entries for I/O commands,
//! 128-byte ones for control commands) and their completions, with a file descriptor that poll()
//! reports readable when completions wait. No io_uring crate is available here, and this much is
//! small: the rings are two producer/consumer index pairs over shared memory.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::mapping::Mapping;

/// `struct io_sqring_offsets`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SqOffsets {
    pub head: u32,
    pub tail: u32,
    pub ring_mask: u32,
    pub ring_entries: u32,
    pub flags: u32,
    pub dropped: u32,
    pub array: u32,
    pub resv1: u32,
    pub user_addr: u64,
}
const _: () = assert!(size_of::<SqOffsets>() == 40);

/// `struct io_cqring_offsets`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CqOffsets {
    pub head: u32,
    pub tail: u32,
    pub ring_mask: u32,
    pub ring_entries: u32,
    pub overflow: u32,
    pub cqes: u32,
    pub flags: u32,
    pub resv1: u32,
    pub user_addr: u64,
}
const _: () = assert!(size_of::<CqOffsets>() == 40);

/// `struct io_uring_params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Params {
    pub sq_entries: u32,
    pub cq_entries: u32,
    pub flags: u32,
    pub sq_thread_cpu: u32,
    pub sq_thread_idle: u32,
    pub features: u32,
    pub wq_fd: u32,
    pub resv: [u32; 3],
    pub sq_off: SqOffsets,
    pub cq_off: CqOffsets,
}
const _: () = assert!(size_of::<Params>() == 120);

/// `struct io_uring_cqe` (without the CQE32 extension).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cqe {
    pub user_data: u64,
    /// The result: >= 0 on success, -errno on failure.
    pub res: i32,
    pub flags: u32,
}
const _: () = assert!(size_of::<Cqe>() == 16);

pub const SYS_IO_URING_SETUP: libc::c_long = 425;
pub const SYS_IO_URING_ENTER: libc::c_long = 426;
pub const IORING_SETUP_SQE128: u32 = 1 << 10;
pub const IORING_FEAT_SINGLE_MMAP: u32 = 1 << 0;
pub const IORING_OFF_SQ_RING: i64 = 0;
pub const IORING_OFF_CQ_RING: i64 = 0x800_0000;
pub const IORING_OFF_SQES: i64 = 0x1000_0000;
pub const IORING_ENTER_GETEVENTS: u32 = 1 << 0;
pub const IORING_OP_NOP: u8 = 0;
pub const IORING_OP_READ: u8 = 22;
pub const IORING_OP_URING_CMD: u8 = 46;

/// The rings are read and written by both sides.
const RW: i32 = libc::PROT_READ | libc::PROT_WRITE;

/// Size of a normal submission entry; SQE128 rings have twice this.
pub const SQE_LEN: usize = 64;
/// Where the command area of a URING_CMD entry starts (`sqe->cmd`, over `addr3`).
pub const SQE_CMD_OFFSET: usize = 48;

/// One submission, in the fields this crate uses; [`Sqe::encode`] lays it out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sqe {
    pub opcode: u8,
    pub fd: i32,
    /// `off`; for URING_CMD its low half is `cmd_op`.
    pub off: u64,
    pub addr: u64,
    pub len: u32,
    pub user_data: u64,
}

impl Sqe {
    /// A URING_CMD of `cmd_op` on `fd`; its payload goes in the command area ([`Uring::push`]).
    pub fn uring_cmd(fd: RawFd, cmd_op: u32, user_data: u64) -> Self {
        Sqe {
            opcode: IORING_OP_URING_CMD,
            fd,
            off: u64::from(cmd_op),
            user_data,
            ..Sqe::default()
        }
    }

    /// Writes the entry and its command payload into `slot` (a whole entry, zeroed first).
    pub fn encode(&self, cmd: &[u8], slot: &mut [u8]) {
        slot.fill(0);
        slot[0] = self.opcode;
        slot[4..8].copy_from_slice(&self.fd.to_ne_bytes());
        slot[8..16].copy_from_slice(&self.off.to_ne_bytes());
        slot[16..24].copy_from_slice(&self.addr.to_ne_bytes());
        slot[24..28].copy_from_slice(&self.len.to_ne_bytes());
        slot[32..40].copy_from_slice(&self.user_data.to_ne_bytes());
        slot[SQE_CMD_OFFSET..SQE_CMD_OFFSET + cmd.len()].copy_from_slice(cmd);
    }
}

/// Why a submission was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    /// Every entry is queued and not yet taken by the kernel: submit first.
    Full,
    /// The command does not fit the entry's command area (16 bytes, 80 with SQE128).
    CommandTooLong,
}

/// The u32 the kernel shares at `offset` of a ring mapping (a ring index or mask).
fn shared_u32(m: &Mapping, offset: u32) -> &AtomicU32 {
    assert!(offset as usize + 4 <= m.len() && offset.is_multiple_of(4));
    // SAFETY: in bounds and aligned (checked, and the mapping is page-aligned); the kernel only
    // ever accesses these words atomically or with barriers, as AtomicU32 does.
    unsafe { &*(m.as_ptr().add(offset as usize) as *const AtomicU32) }
}

/// An io_uring instance.
pub struct Uring {
    fd: OwnedFd,
    sq_ring: Mapping,
    /// None with IORING_FEAT_SINGLE_MMAP: the completion ring shares the submission ring's mapping.
    cq_ring: Option<Mapping>,
    sqes: Mapping,
    sqe_len: usize,
    sq_off: SqOffsets,
    cq_off: CqOffsets,
    sq_mask: u32,
    sq_entries: u32,
    cq_mask: u32,
    /// Entries written but not yet handed to the kernel by `submit`.
    to_submit: u32,
}

impl Uring {
    /// A ring of `entries` submissions (a power of two), 128-byte ones if `sqe128`.
    pub fn new(entries: u32, sqe128: bool) -> io::Result<Self> {
        let mut p = Params {
            flags: if sqe128 { IORING_SETUP_SQE128 } else { 0 },
            ..Params::default()
        };
        // SAFETY: io_uring_setup reads and fills `p`, a live io_uring_params.
        let fd = unsafe { libc::syscall(SYS_IO_URING_SETUP, entries, &mut p as *mut Params) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        let sq_len = p.sq_off.array as usize + p.sq_entries as usize * 4;
        let cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * size_of::<Cqe>();
        let single = p.features & IORING_FEAT_SINGLE_MMAP != 0;
        let raw = fd.as_raw_fd();
        let sq_ring = Mapping::shared(
            raw,
            if single { sq_len.max(cq_len) } else { sq_len },
            IORING_OFF_SQ_RING,
            RW,
        )?;
        let cq_ring = match single {
            true => None,
            false => Some(Mapping::shared(raw, cq_len, IORING_OFF_CQ_RING, RW)?),
        };
        let sqe_len = if sqe128 { 2 * SQE_LEN } else { SQE_LEN };
        let sqes = Mapping::shared(raw, p.sq_entries as usize * sqe_len, IORING_OFF_SQES, RW)?;
        let ring = Uring {
            sq_mask: shared_u32(&sq_ring, p.sq_off.ring_mask).load(Ordering::Relaxed),
            sq_entries: p.sq_entries,
            cq_mask: shared_u32(cq_ring.as_ref().unwrap_or(&sq_ring), p.cq_off.ring_mask)
                .load(Ordering::Relaxed),
            fd,
            sq_ring,
            cq_ring,
            sqes,
            sqe_len,
            sq_off: p.sq_off,
            cq_off: p.cq_off,
            to_submit: 0,
        };
        // The index array maps ring positions to entries one to one, once for all.
        for i in 0..ring.sq_entries {
            shared_u32(&ring.sq_ring, p.sq_off.array + 4 * i).store(i, Ordering::Relaxed);
        }
        Ok(ring)
    }

    fn cq(&self) -> &Mapping {
        self.cq_ring.as_ref().unwrap_or(&self.sq_ring)
    }

    /// Queues `sqe` with `cmd` in its command area; the kernel sees it at the next [`Uring::submit`].
    pub fn push(&mut self, sqe: &Sqe, cmd: &[u8]) -> Result<(), PushError> {
        if SQE_CMD_OFFSET + cmd.len() > self.sqe_len {
            return Err(PushError::CommandTooLong);
        }
        let head = shared_u32(&self.sq_ring, self.sq_off.head).load(Ordering::Acquire);
        let tail = shared_u32(&self.sq_ring, self.sq_off.tail).load(Ordering::Relaxed);
        if tail.wrapping_sub(head) >= self.sq_entries {
            return Err(PushError::Full);
        }
        let index = (tail & self.sq_mask) as usize;
        // SAFETY: entry `index` lies inside the SQE mapping, and the kernel does not read it until
        // the tail below is published past it.
        let slot = unsafe {
            std::slice::from_raw_parts_mut(
                self.sqes.as_ptr().add(index * self.sqe_len),
                self.sqe_len,
            )
        };
        sqe.encode(cmd, slot);
        shared_u32(&self.sq_ring, self.sq_off.tail).store(tail.wrapping_add(1), Ordering::Release);
        self.to_submit += 1;
        Ok(())
    }

    /// Hands the queued entries to the kernel and, if `wait` > 0, waits until that many
    /// completions are available. Returns how many entries the kernel took.
    pub fn submit(&mut self, wait: u32) -> io::Result<u32> {
        let flags = if wait > 0 { IORING_ENTER_GETEVENTS } else { 0 };
        loop {
            // SAFETY: io_uring_enter on our ring with no signal mask.
            let n = unsafe {
                libc::syscall(
                    SYS_IO_URING_ENTER,
                    self.fd.as_raw_fd(),
                    self.to_submit,
                    wait,
                    flags,
                    std::ptr::null::<libc::c_void>(),
                    0usize,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let n = n as u32;
            self.to_submit -= n.min(self.to_submit);
            return Ok(n);
        }
    }

    /// The next completion, if one is waiting.
    pub fn pop(&mut self) -> Option<Cqe> {
        let cq = self.cq();
        let head = shared_u32(cq, self.cq_off.head).load(Ordering::Relaxed);
        let tail = shared_u32(cq, self.cq_off.tail).load(Ordering::Acquire);
        if head == tail {
            return None;
        }
        let offset = self.cq_off.cqes as usize + (head & self.cq_mask) as usize * size_of::<Cqe>();
        assert!(offset + size_of::<Cqe>() <= cq.len());
        // SAFETY: in bounds (checked); the kernel wrote this entry before publishing the tail
        // read above with Acquire, and does not reuse it before the head moves past it.
        let cqe = unsafe { std::ptr::read_volatile(cq.as_ptr().add(offset) as *const Cqe) };
        shared_u32(cq, self.cq_off.head).store(head.wrapping_add(1), Ordering::Release);
        Some(cqe)
    }

    /// Entries queued by [`Uring::push`] and not yet submitted.
    pub fn pending(&self) -> u32 {
        self.to_submit
    }
}

impl AsRawFd for Uring {
    /// Readable (poll) while completions wait.
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uring_cmd_entry_is_laid_out_as_the_kernel_reads_it() {
        let mut slot = [0xffu8; 2 * SQE_LEN];
        let sqe = Sqe {
            addr: 0x1122_3344_5566_7788,
            len: 0x99aa_bbcc,
            ..Sqe::uring_cmd(7, 0xc020_7504, 0xdead_beef)
        };
        sqe.encode(&[1, 2, 3], &mut slot);
        assert_eq!(slot[0], IORING_OP_URING_CMD);
        assert_eq!(slot[1..4], [0, 0, 0], "flags and ioprio");
        assert_eq!(i32::from_ne_bytes(slot[4..8].try_into().unwrap()), 7);
        assert_eq!(
            u32::from_ne_bytes(slot[8..12].try_into().unwrap()),
            0xc020_7504,
            "cmd_op"
        );
        assert_eq!(
            u64::from_ne_bytes(slot[16..24].try_into().unwrap()),
            0x1122_3344_5566_7788
        );
        assert_eq!(
            u32::from_ne_bytes(slot[24..28].try_into().unwrap()),
            0x99aa_bbcc
        );
        assert_eq!(
            u64::from_ne_bytes(slot[32..40].try_into().unwrap()),
            0xdead_beef
        );
        assert_eq!(slot[48..51], [1, 2, 3]);
        assert!(slot[51..].iter().all(|&b| b == 0), "the rest is zeroed");
    }

    /// The kernel this runs on must allow io_uring (kernel.io_uring_disabled = 0 or root).
    fn ring(entries: u32, sqe128: bool) -> Uring {
        Uring::new(entries, sqe128).expect("io_uring_setup")
    }

    #[test]
    fn nops_complete_with_their_user_data_in_order() {
        let mut r = ring(8, false);
        for i in 0..8 {
            let nop = Sqe {
                opcode: IORING_OP_NOP,
                user_data: 100 + i,
                ..Sqe::default()
            };
            r.push(&nop, &[]).unwrap();
        }
        let nop = Sqe::default();
        assert_eq!(
            r.push(&nop, &[]),
            Err(PushError::Full),
            "8 queued, 8 entries"
        );
        assert_eq!(r.pending(), 8);
        assert_eq!(r.submit(8).unwrap(), 8);
        assert_eq!(r.pending(), 0);
        let got: Vec<u64> = std::iter::from_fn(|| r.pop())
            .map(|c| {
                assert_eq!(c.res, 0);
                c.user_data
            })
            .collect();
        assert_eq!(got, (100..108).collect::<Vec<_>>());
        assert_eq!(r.pop(), None);
    }

    #[test]
    fn the_rings_wrap_around_many_times() {
        let mut r = ring(4, true);
        for round in 0..100u64 {
            for i in 0..3 {
                let nop = Sqe {
                    user_data: round * 3 + i,
                    ..Sqe::default()
                };
                r.push(&nop, &[0u8; 80]).unwrap();
            }
            r.submit(3).unwrap();
            for i in 0..3 {
                assert_eq!(r.pop().map(|c| c.user_data), Some(round * 3 + i));
            }
        }
    }

    #[test]
    fn a_command_longer_than_the_entry_is_refused() {
        let mut small = ring(2, false);
        assert_eq!(
            small.push(&Sqe::default(), &[0; 17]),
            Err(PushError::CommandTooLong)
        );
        assert!(small.push(&Sqe::default(), &[0; 16]).is_ok());
        let mut big = ring(2, true);
        assert_eq!(
            big.push(&Sqe::default(), &[0; 81]),
            Err(PushError::CommandTooLong)
        );
    }

    #[test]
    fn a_read_completes_with_the_bytes_and_the_fd_polls_readable() {
        let mut pipe = [0; 2];
        // SAFETY: `pipe` has room for two descriptors.
        assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
        // SAFETY: both are new and owned here.
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) };
        let mut r = ring(4, false);
        let mut buf = [0u8; 16];
        let read = Sqe {
            opcode: IORING_OP_READ,
            fd: rd.as_raw_fd(),
            addr: buf.as_mut_ptr() as u64,
            len: buf.len() as u32,
            off: u64::MAX, // the current file position: a pipe has none
            user_data: 42,
        };
        r.push(&read, &[]).unwrap();
        r.submit(0).unwrap();
        assert!(
            !crate::fd::readable_now(&r).unwrap(),
            "nothing completed yet"
        );
        // SAFETY: writing 5 bytes from a live buffer.
        assert_eq!(
            unsafe { libc::write(wr.as_raw_fd(), b"hello".as_ptr() as *const _, 5) },
            5
        );
        assert!(crate::fd::poll_readable(&[r.as_raw_fd()], 5000).unwrap()[0]);
        let c = r.pop().unwrap();
        assert_eq!((c.user_data, c.res), (42, 5));
        assert_eq!(&buf[..5], b"hello");
    }
}
