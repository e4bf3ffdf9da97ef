//! The kernel's nbd block device driven through its ioctls: we hand it one end of a socket pair
//! and serve the NBD transmission phase on the other end ([`crate::nbd`]). NBD_DO_IT blocks for as
//! long as the device is connected, so it runs on a thread of its own.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::thread::JoinHandle;

use crate::fd::open_rw;
use crate::sys::{
    NBD_CLEAR_QUE, NBD_CLEAR_SOCK, NBD_DISCONNECT, NBD_DO_IT, NBD_SET_BLKSIZE, NBD_SET_FLAGS,
    NBD_SET_SIZE_BLOCKS, NBD_SET_SOCK,
};

/// What the block device looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub block_size: u32,
    pub blocks: u64,
    /// NBD export flags (`nbd::FLAG_*`).
    pub flags: u64,
}

/// A connected /dev/nbdN.
pub struct NbdDevice {
    dev: OwnedFd,
    runner: Option<JoinHandle<io::Result<()>>>,
}

fn ioctl_arg(fd: RawFd, request: libc::c_ulong, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: the nbd ioctls used here take an integer argument, not a pointer.
    if unsafe { libc::ioctl(fd, request, arg) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Socket buffers for each connection: a whole 1 MiB read reply (and a few more) fits, so that
/// answering does not wait for the kernel's receiver. The default (~200 KiB) made every large
/// reply block the single thread that also services the rings.
const SOCKET_BUFFER: libc::c_int = 4 << 20;

/// Sets `option` (SO_SNDBUFFORCE / SO_RCVBUFFORCE, allowed to root beyond the sysctl limits) or,
/// failing that, its capped variant.
fn set_buffer(fd: RawFd, force: libc::c_int, capped: libc::c_int) {
    for option in [force, capped] {
        // SAFETY: the option value is a live c_int of the size given.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                &SOCKET_BUFFER as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            return;
        }
    }
}

/// A connected socket pair with large buffers: (ours, the kernel's).
fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut pair = [0; 2];
    // SAFETY: `pair` has room for the two descriptors.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            pair.as_mut_ptr(),
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) };
    for fd in [&ours, &theirs] {
        set_buffer(fd.as_raw_fd(), libc::SO_SNDBUFFORCE, libc::SO_SNDBUF);
        set_buffer(fd.as_raw_fd(), libc::SO_RCVBUFFORCE, libc::SO_RCVBUF);
    }
    Ok((ours, theirs))
}

impl NbdDevice {
    /// Connects `path` (e.g. /dev/nbd0) to `connections` new socket pairs (the kernel makes one
    /// hardware queue per connection; more than one needs `FLAG_CAN_MULTI_CONN` in the geometry's
    /// flags) and returns the device and our ends of the sockets, on which requests arrive.
    pub fn connect(
        path: &str,
        geometry: Geometry,
        connections: usize,
    ) -> io::Result<(NbdDevice, Vec<OwnedFd>)> {
        let cpath = CString::new(path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let dev = open_rw(&cpath)?;
        let fd = dev.as_raw_fd();
        // A device left configured by an earlier run that died.
        let _ = ioctl_arg(fd, NBD_CLEAR_SOCK, 0);
        ioctl_arg(fd, NBD_SET_BLKSIZE, geometry.block_size.into())?;
        ioctl_arg(fd, NBD_SET_SIZE_BLOCKS, geometry.blocks)?;
        ioctl_arg(fd, NBD_SET_FLAGS, geometry.flags)?;
        let mut ours = Vec::with_capacity(connections);
        for _ in 0..connections.max(1) {
            let (mine, theirs) = socket_pair()?;
            // The kernel takes its own reference to the socket; our copy of its end can go.
            ioctl_arg(fd, NBD_SET_SOCK, theirs.as_raw_fd() as libc::c_ulong)?;
            ours.push(mine);
        }
        let runner = std::thread::Builder::new()
            .name("nbd-do-it".into())
            .spawn(move || ioctl_arg(fd, NBD_DO_IT, 0))?;
        Ok((
            NbdDevice {
                dev,
                runner: Some(runner),
            },
            ours,
        ))
    }

    /// Disconnects the device: the kernel fails what it still has queued and NBD_DO_IT returns.
    /// `ours` (our ends of the sockets) are closed so that the kernel's readers stop too.
    pub fn disconnect(mut self, ours: Vec<OwnedFd>) -> io::Result<()> {
        let fd = self.dev.as_raw_fd();
        let r = ioctl_arg(fd, NBD_DISCONNECT, 0);
        for sock in ours {
            // SAFETY: shutting down a socket we own.
            unsafe { libc::shutdown(sock.as_raw_fd(), libc::SHUT_RDWR) };
        }
        if let Some(t) = self.runner.take() {
            // DO_IT reports the disconnect itself as an error on some kernels; it has ended either way.
            let _ = t.join();
        }
        let _ = ioctl_arg(fd, NBD_CLEAR_QUE, 0);
        let _ = ioctl_arg(fd, NBD_CLEAR_SOCK, 0);
        r
    }
}
