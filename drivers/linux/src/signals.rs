//! SIGTERM and SIGINT as a readable file descriptor (the self-pipe trick), so that the poll() loop
//! of a front sees a shutdown request like any other event.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The write end for the handler; -1 until installed.
static WRITE_END: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(_: libc::c_int) {
    let fd = WRITE_END.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = 1u8;
        // SAFETY: write(2) is async-signal-safe; the pipe is non-blocking, so a full pipe (a
        // shutdown already pending) just drops the byte.
        unsafe { libc::write(fd, &b as *const u8 as *const libc::c_void, 1) };
    }
}

/// The read end: readable once SIGTERM or SIGINT arrived.
pub struct ShutdownSignal {
    read: OwnedFd,
    _write: OwnedFd,
}

impl ShutdownSignal {
    pub fn install() -> io::Result<ShutdownSignal> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 returns.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        WRITE_END.store(fds[1], Ordering::Relaxed);
        for sig in [libc::SIGTERM, libc::SIGINT] {
            // SAFETY: a zeroed sigaction with a handler that only calls write(2) is valid.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as *const () as usize;
                sa.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut sa.sa_mask);
                if libc::sigaction(sig, &sa, std::ptr::null_mut()) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        Ok(ShutdownSignal {
            read,
            _write: write,
        })
    }

    pub fn fd(&self) -> RawFd {
        use std::os::fd::AsRawFd;
        self.read.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fd::poll_readable;

    #[test]
    fn sigterm_makes_the_pipe_readable() {
        let s = ShutdownSignal::install().unwrap();
        assert_eq!(poll_readable(&[s.fd()], 0).unwrap(), vec![false]);
        // SAFETY: raising a signal whose handler is installed above.
        unsafe { libc::raise(libc::SIGTERM) };
        assert_eq!(poll_readable(&[s.fd()], 1000).unwrap(), vec![true]);
    }
}
