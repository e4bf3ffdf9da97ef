//! Granted regions over /dev/xen/gntalloc.
//!
//! One ALLOC_GREF ioctl allocates `count` zeroed kernel pages, grants each to the domain and
//! returns the references and an mmap offset ("index"); mapping that offset gives the pages
//! contiguously. DEALLOC_GREF plus munmap releases them.
//!
//! What this home cannot do: see whether the backend still maps a page. gntalloc ends a grant only
//! once the backend has unmapped it — until then the kernel keeps the page and the reference on a
//! deferred list — so releasing early is safe (the page is never handed to anyone else while
//! mapped), but [`Grants::end_region`] never returns [`StillInUse`]: it cannot observe it. A
//! backend that never unmaps leaks those pages (and counts against gntalloc's limit) until it does.

use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;

use xenpv_abi::{DomId, PAGE_SIZE};
use xenpv_datapath::platform::{Access, GrantedRegion, Grants, PlatformError, StillInUse};
use xenpv_datapath::shmem::SharedMem;

use crate::fd::{errno, open_rw};
use crate::sys::{
    alloc_gref_buffer_words, GntallocAllocGref, GntallocDeallocGref, GNTALLOC_FLAG_WRITABLE,
    GNTALLOC_GREF_IDS_OFFSET, IOCTL_GNTALLOC_ALLOC_GREF, IOCTL_GNTALLOC_DEALLOC_GREF,
};

/// An open /dev/xen/gntalloc.
#[derive(Debug)]
pub struct Gntalloc {
    fd: OwnedFd,
}

/// Maps an ioctl/mmap errno to what the cores understand.
fn platform_error(e: i32) -> PlatformError {
    match e {
        // gntalloc answers ENOSPC when its limit of grants is reached, ENOMEM for pages.
        libc::ENOSPC => PlatformError::NoGrantRefs,
        libc::ENOMEM => PlatformError::NoMemory,
        libc::EINVAL => PlatformError::Invalid,
        e => PlatformError::Os(e),
    }
}

impl Gntalloc {
    pub fn open() -> std::io::Result<Self> {
        Ok(Gntalloc {
            fd: open_rw(c"/dev/xen/gntalloc")?,
        })
    }

    fn dealloc(&self, index: u64, count: u32) -> Result<(), PlatformError> {
        let mut arg = GntallocDeallocGref { index, count };
        // SAFETY: `arg` is the struct this ioctl reads, valid for the call.
        let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), IOCTL_GNTALLOC_DEALLOC_GREF, &mut arg) };
        if r < 0 {
            return Err(platform_error(errno()));
        }
        Ok(())
    }
}

impl Grants for Gntalloc {
    fn grant_region(
        &self,
        domid: DomId,
        pages: usize,
        access: Access,
    ) -> Result<GrantedRegion, PlatformError> {
        let count = u32::try_from(pages).map_err(|_| PlatformError::Invalid)?;
        if count == 0 {
            return Err(PlatformError::Invalid);
        }
        // The kernel writes `count` references after the header: a u64 buffer keeps the struct's
        // alignment.
        let mut buf = vec![0u64; alloc_gref_buffer_words(pages)];
        let head = GntallocAllocGref {
            domid,
            flags: match access {
                Access::ReadWrite => GNTALLOC_FLAG_WRITABLE,
                Access::ReadOnly => 0,
            },
            count,
            index: 0,
            gref_ids: [0],
        };
        // SAFETY: `buf` is at least as large as the struct and 8-byte aligned.
        unsafe { (buf.as_mut_ptr() as *mut GntallocAllocGref).write(head) };
        // SAFETY: `buf` holds the header and room for `count` references, as the ioctl expects.
        let r = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                IOCTL_GNTALLOC_ALLOC_GREF,
                buf.as_mut_ptr(),
            )
        };
        if r < 0 {
            return Err(platform_error(errno()));
        }
        // SAFETY: the buffer was initialised above and the kernel filled in its out fields.
        let index = unsafe { (*(buf.as_ptr() as *const GntallocAllocGref)).index };
        let bytes: &[u8] =
            // SAFETY: reinterpreting initialised u64s as bytes is always valid.
            unsafe { std::slice::from_raw_parts(buf.as_ptr() as *const u8, buf.len() * 8) };
        let grefs: Vec<u32> = bytes[GNTALLOC_GREF_IDS_OFFSET..GNTALLOC_GREF_IDS_OFFSET + 4 * pages]
            .chunks_exact(4)
            .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let len = pages * PAGE_SIZE;
        let offset = libc::off_t::try_from(index).map_err(|_| PlatformError::Invalid)?;
        // SAFETY: mapping a fresh shared region of the gntalloc file at the offset it returned;
        // no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.fd.as_raw_fd(),
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            let e = errno();
            let _ = self.dealloc(index, count);
            return Err(platform_error(e));
        }
        let ptr = NonNull::new(ptr as *mut u8).ok_or(PlatformError::NoMemory)?;
        // SAFETY: the mapping is valid for `len` bytes until `end_region` unmaps it; the cores
        // touch it only through SharedMem's atomic accessors and give the region back before it
        // is ended.
        let mem = unsafe { SharedMem::new(ptr, len) };
        Ok(GrantedRegion::new(mem, grefs, domid, access, index))
    }

    fn end_region(&self, region: GrantedRegion) -> Result<(), StillInUse> {
        // Deallocating while the backend maps a page is safe here (see the module doc): the kernel
        // keeps the page until the backend lets go, so there is nothing to report.
        let count = region.pages() as u32;
        if let Err(e) = self.dealloc(region.handle(), count) {
            // Not one of ours (cannot happen for regions this home made): keep it out of reuse.
            eprintln!(
                "xenpv: gntalloc dealloc of index {} failed: {e}",
                region.handle()
            );
            return Err(StillInUse(region));
        }
        let mem = region.mem();
        // SAFETY: this mapping was made by `grant_region` with this address and length, and the
        // region (the only owner) is consumed here.
        unsafe { libc::munmap(mem.as_ptr().as_ptr() as *mut libc::c_void, mem.len()) };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_map_to_typed_errors() {
        assert_eq!(platform_error(libc::ENOSPC), PlatformError::NoGrantRefs);
        assert_eq!(platform_error(libc::ENOMEM), PlatformError::NoMemory);
        assert_eq!(platform_error(libc::EINVAL), PlatformError::Invalid);
        assert_eq!(platform_error(libc::EPERM), PlatformError::Os(libc::EPERM));
    }
}
