//! A TAP interface with virtio-net headers (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR): every frame read
//! or written is preceded by a [`crate::vnet::VnetHdr`].

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::fd::open_rw;
use crate::sys::{
    IfreqFlags, IFF_MULTI_QUEUE, IFF_NO_PI, IFF_TAP, IFF_VNET_HDR, TUNSETIFF, TUNSETOFFLOAD,
};
use crate::vnet::VNET_HDR_LEN;

pub struct Tap {
    fd: OwnedFd,
    name: String,
}

impl Tap {
    /// Creates the TAP interface `name` with `queues` queues (IFF_MULTI_QUEUE when more than one):
    /// one non-blocking descriptor per queue. The kernel spreads the frames it sends by flow over
    /// the queues; a frame written to any queue is received the same.
    pub fn open_queues(name: &str, queues: usize) -> io::Result<Vec<Tap>> {
        let flags = if queues > 1 { IFF_MULTI_QUEUE } else { 0 };
        (0..queues.max(1))
            .map(|_| Tap::attach(name, flags))
            .collect()
    }

    /// Creates (or attaches to) the TAP interface `name` as one more queue, non-blocking.
    fn attach(name: &str, extra_flags: libc::c_short) -> io::Result<Tap> {
        if name.is_empty() || name.len() >= 16 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "interface names have 1 to 15 bytes",
            ));
        }
        let fd = open_rw(c"/dev/net/tun")?;
        let mut req = IfreqFlags {
            name: [0; 16],
            flags: IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | extra_flags,
            pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: TUNSETIFF reads and writes a `struct ifreq`, which `req` lays out.
        if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, &mut req) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: setting a flag on a descriptor we own.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        let end = req.name.iter().position(|&b| b == 0).unwrap_or(16);
        Ok(Tap {
            fd,
            name: String::from_utf8_lossy(&req.name[..end]).into_owned(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Tells the kernel which offloads the frames it hands us may use (`TUN_F_*`).
    pub fn set_offload(&self, flags: libc::c_uint) -> io::Result<()> {
        // SAFETY: TUNSETOFFLOAD takes its argument by value.
        if unsafe { libc::ioctl(self.fd.as_raw_fd(), TUNSETOFFLOAD, flags as libc::c_ulong) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reads one frame: its virtio-net header into `hdr`, the frame itself straight into `frame`
    /// (one `readv`, no copy after it); returns how many bytes came, header included, or
    /// `Ok(None)` when nothing is waiting.
    pub fn recv_split(
        &self,
        hdr: &mut [u8; VNET_HDR_LEN],
        frame: &mut [u8],
    ) -> io::Result<Option<usize>> {
        let iov = [
            libc::iovec {
                iov_base: hdr.as_mut_ptr() as *mut libc::c_void,
                iov_len: hdr.len(),
            },
            libc::iovec {
                iov_base: frame.as_mut_ptr() as *mut libc::c_void,
                iov_len: frame.len(),
            },
        ];
        loop {
            // SAFETY: both iovecs point at live, exclusively borrowed buffers of their lengths.
            let n = unsafe { libc::readv(self.fd.as_raw_fd(), iov.as_ptr(), 2) };
            if n >= 0 {
                return Ok(Some(n as usize));
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(None),
                _ => return Err(e),
            }
        }
    }

    /// Writes one frame after its header; a full TAP queue or an interface that is down (EIO)
    /// drops the frame, as a wire would.
    pub fn send(&self, hdr: &[u8; VNET_HDR_LEN], frame: &[u8]) -> io::Result<()> {
        let iov = [
            libc::iovec {
                iov_base: hdr.as_ptr() as *mut libc::c_void,
                iov_len: hdr.len(),
            },
            libc::iovec {
                iov_base: frame.as_ptr() as *mut libc::c_void,
                iov_len: frame.len(),
            },
        ];
        loop {
            // SAFETY: both iovecs point at live buffers of their lengths; writev only reads them.
            let n = unsafe { libc::writev(self.fd.as_raw_fd(), iov.as_ptr(), 2) };
            if n >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(()),
                _ if e.raw_os_error() == Some(libc::EIO) => return Ok(()),
                _ => return Err(e),
            }
        }
    }
}
