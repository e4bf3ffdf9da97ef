//! Event channels over /dev/xen/evtchn.
//!
//! The kernel binds a port per BIND_UNBOUND_PORT ioctl (the port is the ioctl's return value). When
//! the remote end kicks a port, the kernel masks it and queues its number for `read()` on the file;
//! writing the number back unmasks it (writing it while unmasked changes nothing, so the cores may
//! unmask on every pass). The home polls the file descriptor and, when it is readable, drains the
//! fired ports with [`Evtchn::take_fired`] and lets the cores process what is pending.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use xenpv_abi::{DomId, EvtchnPort};
use xenpv_datapath::platform::{EventChannels, PlatformError};

use crate::fd::{errno, open_rw, readable_now};
use crate::sys::{
    EvtchnPortArg, IOCTL_EVTCHN_BIND_UNBOUND_PORT, IOCTL_EVTCHN_NOTIFY, IOCTL_EVTCHN_UNBIND,
};

/// An open /dev/xen/evtchn.
#[derive(Debug)]
pub struct Evtchn {
    fd: OwnedFd,
}

impl Evtchn {
    pub fn open() -> std::io::Result<Self> {
        Ok(Evtchn {
            fd: open_rw(c"/dev/xen/evtchn")?,
        })
    }

    fn port_ioctl(&self, request: libc::c_ulong, value: u32) -> Result<i32, PlatformError> {
        let mut arg = EvtchnPortArg { value };
        // SAFETY: `arg` is the one-`unsigned int` struct each of these ioctls reads.
        let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), request, &mut arg) };
        if r < 0 {
            return Err(match errno() {
                libc::ENOSPC | libc::EBUSY => PlatformError::NoPorts,
                libc::EINVAL | libc::ENOTCONN => PlatformError::Invalid,
                e => PlatformError::Os(e),
            });
        }
        Ok(r)
    }

    /// Ports that fired since the last call (each is masked until unmasked), without waiting.
    pub fn take_fired(&self) -> std::io::Result<Vec<EvtchnPort>> {
        let mut out = Vec::new();
        while readable_now(&self.fd)? {
            let mut buf = [0u32; 64];
            // SAFETY: reading into a buffer of exactly the length given.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    std::mem::size_of_val(&buf),
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
                ) {
                    continue;
                }
                return Err(e);
            }
            out.extend_from_slice(&buf[..n as usize / 4]);
            if (n as usize) < std::mem::size_of_val(&buf) {
                break;
            }
        }
        Ok(out)
    }
}

impl AsFd for Evtchn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl EventChannels for Evtchn {
    fn alloc_unbound(&self, remote: DomId) -> Result<EvtchnPort, PlatformError> {
        self.port_ioctl(IOCTL_EVTCHN_BIND_UNBOUND_PORT, remote.into())
            .map(|p| p as EvtchnPort)
    }

    fn notify(&self, port: EvtchnPort) {
        // A port that is not bound is a bug of ours; nothing useful can be done here beyond saying
        // so (the trait gives notify no error).
        if let Err(e) = self.port_ioctl(IOCTL_EVTCHN_NOTIFY, port) {
            eprintln!("xenpv: evtchn notify {port}: {e}");
        }
    }

    fn unmask(&self, port: EvtchnPort) {
        let bytes = port.to_ne_bytes();
        // SAFETY: writing 4 bytes from a live array.
        let n = unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                bytes.as_ptr() as *const libc::c_void,
                bytes.len(),
            )
        };
        if n != bytes.len() as isize {
            eprintln!(
                "xenpv: evtchn unmask {port}: {}",
                std::io::Error::last_os_error()
            );
        }
    }

    fn close(&self, port: EvtchnPort) {
        if let Err(e) = self.port_ioctl(IOCTL_EVTCHN_UNBIND, port) {
            eprintln!("xenpv: evtchn unbind {port}: {e}");
        }
    }
}
