//! Memory mapped with mmap, unmapped on drop: the io_uring rings ([`crate::uring`]), ublk's
//! descriptor arrays and tag buffers ([`crate::ublk`]).

use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;

pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; moving it moves that ownership.
unsafe impl Send for Mapping {}

impl Mapping {
    fn map(len: usize, prot: i32, flags: i32, fd: RawFd, offset: i64) -> io::Result<Self> {
        // SAFETY: a fresh mapping at an address the kernel chooses; it aliases nothing of ours.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, fd, offset) };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: NonNull::new(p as *mut u8).expect("mmap returned null"),
            len,
        })
    }

    /// `len` bytes of `fd` at `offset`, shared with the kernel and populated at once.
    pub fn shared(fd: RawFd, len: usize, offset: i64, prot: i32) -> io::Result<Self> {
        Self::map(len, prot, libc::MAP_SHARED | libc::MAP_POPULATE, fd, offset)
    }

    /// `len` bytes of zeroed memory, backed lazily.
    pub fn anonymous(len: usize) -> io::Result<Self> {
        Self::map(
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once.
        unsafe { libc::munmap(self.ptr.as_ptr() as *mut libc::c_void, self.len) };
    }
}
