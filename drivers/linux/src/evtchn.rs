//! Event channels over /dev/xen/evtchn.
//!
//! The kernel binds a port per BIND_UNBOUND_PORT ioctl (the port is the ioctl's return value). When
//! the remote end kicks a port, the kernel masks it and queues its number for `read()` on the file;
//! writing the number back unmasks it. The cores unmask on every pass; since each write is a system
//! call (and in a PV guest a trip through Xen), only ports that fired — read from the file and so
//! masked by the kernel — are written back ([`MaskedPorts`]). The home polls the file descriptor
//! and, when it is readable, drains the fired ports with [`Evtchn::take_fired`] and lets the cores
//! process what is pending.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use xenpv_abi::{DomId, EvtchnPort};
use xenpv_datapath::platform::{EventChannels, PlatformError};

use crate::fd::{errno, open_rw};
use crate::sys::{
    EvtchnPortArg, IOCTL_EVTCHN_BIND_UNBOUND_PORT, IOCTL_EVTCHN_NOTIFY, IOCTL_EVTCHN_UNBIND,
};

/// The ports the kernel has masked because they fired: one bit per port, for every port the FIFO
/// ABI can have (2^17). A port is marked when it is read from the file and unmarked when it is
/// written back.
#[derive(Debug)]
pub struct MaskedPorts {
    bits: Box<[AtomicU64]>,
}

impl Default for MaskedPorts {
    fn default() -> Self {
        MaskedPorts {
            bits: (0..Self::PORTS / 64).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl MaskedPorts {
    const PORTS: u32 = 1 << 17;

    /// `port` fired: the kernel masked it.
    pub fn mark(&self, port: EvtchnPort) {
        if port < Self::PORTS {
            self.bits[(port / 64) as usize].fetch_or(1 << (port % 64), Ordering::Relaxed);
        }
    }

    /// Whether `port` needs writing back to be unmasked, clearing the mark. Ports beyond the
    /// table always do (writing an unmasked port back is harmless, only slower).
    pub fn take(&self, port: EvtchnPort) -> bool {
        if port >= Self::PORTS {
            return true;
        }
        let bit = 1 << (port % 64);
        self.bits[(port / 64) as usize].fetch_and(!bit, Ordering::Relaxed) & bit != 0
    }
}

/// An open /dev/xen/evtchn.
#[derive(Debug)]
pub struct Evtchn {
    fd: OwnedFd,
    masked: MaskedPorts,
}

impl Evtchn {
    /// Opens the device non-blocking: draining it reads until EAGAIN, with no poll first.
    pub fn open() -> std::io::Result<Self> {
        let fd = open_rw(c"/dev/xen/evtchn")?;
        // SAFETY: setting a flag on a descriptor we own.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Evtchn {
            fd,
            masked: MaskedPorts::default(),
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
        loop {
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
                match e.kind() {
                    std::io::ErrorKind::Interrupted => continue,
                    std::io::ErrorKind::WouldBlock => break,
                    _ => return Err(e),
                }
            }
            let fired = &buf[..n as usize / 4];
            fired.iter().for_each(|&p| self.masked.mark(p));
            out.extend_from_slice(fired);
            if (n as usize) < std::mem::size_of_val(&buf) {
                break;
            }
        }
        Ok(out)
    }
}

impl Evtchn {
    /// Unmasks every port of `ports` that is masked, with one write for all of them (the device
    /// takes any number of ports per write): one system call per wake-up instead of one per port.
    pub fn unmask_all(&self, ports: &[EvtchnPort]) {
        // A ring's worth of ports per write, on the stack: this runs on every service pass.
        let mut buf = [0u32; 64];
        let mut n = 0;
        for &p in ports {
            if self.masked.take(p) {
                buf[n] = p;
                n += 1;
            }
            if n == buf.len() {
                self.write_ports(&buf);
                n = 0;
            }
        }
        if n > 0 {
            self.write_ports(&buf[..n]);
        }
    }

    fn write_ports(&self, ports: &[u32]) {
        let len = std::mem::size_of_val(ports);
        // SAFETY: writing `len` bytes from a live slice of u32s.
        let n = unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                ports.as_ptr() as *const libc::c_void,
                len,
            )
        };
        if n != len as isize {
            eprintln!(
                "xenpv: evtchn unmask {ports:?}: {}",
                std::io::Error::last_os_error()
            );
        }
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
        self.unmask_all(&[port]);
    }

    fn close(&self, port: EvtchnPort) {
        if let Err(e) = self.port_ioctl(IOCTL_EVTCHN_UNBIND, port) {
            eprintln!("xenpv: evtchn unbind {port}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fired_ports_need_unmasking_once() {
        let m = MaskedPorts::default();
        assert!(!m.take(5), "never fired: nothing to write");
        m.mark(5);
        m.mark(69);
        assert!(
            !m.take(6) && !m.take(4) && !m.take(133),
            "neighbours are untouched"
        );
        assert!(m.take(5));
        assert!(!m.take(5), "written back once");
        assert!(m.take(69));
        let last = MaskedPorts::PORTS - 1;
        m.mark(last);
        assert!(m.take(last));
        m.mark(MaskedPorts::PORTS);
        assert!(
            m.take(MaskedPorts::PORTS) && m.take(u32::MAX),
            "beyond the table: always written back"
        );
    }
}
