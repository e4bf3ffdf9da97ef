//! The Linux user-space ABI of the devices we drive: ioctl numbers and argument structs of
//! /dev/xen/gntalloc and /dev/xen/evtchn (include/uapi/xen/gntalloc.h, evtchn.h) and of the nbd
//! block device (include/uapi/linux/nbd.h). Sizes are pinned at compile time; the values are checked
//! against the installed C headers by `tests/uapi_headers.rs`.

use core::mem::size_of;

/// `_IOC(dir, type, nr, size)` of asm-generic/ioctl.h: dir in bits 30..32, size in 16..30,
/// type in 8..16, number in 0..8.
pub const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> libc::c_ulong {
    ((dir << 30) | ((size as u32) << 16) | ((ty as u32) << 8) | nr as u32) as libc::c_ulong
}

const IOC_NONE: u32 = 0;

/// `struct ioctl_gntalloc_alloc_gref` with room for one reference; for `count` pages the kernel
/// writes `count` references from `gref_ids` on, so callers allocate a larger buffer (see
/// [`alloc_gref_buffer_words`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GntallocAllocGref {
    pub domid: u16,
    pub flags: u16,
    pub count: u32,
    /// Out: the mmap offset of the new pages.
    pub index: u64,
    /// Out: the first grant reference.
    pub gref_ids: [u32; 1],
}
const _: () = assert!(size_of::<GntallocAllocGref>() == 24);
/// Offset of `gref_ids` in the struct.
pub const GNTALLOC_GREF_IDS_OFFSET: usize = 16;

pub const IOCTL_GNTALLOC_ALLOC_GREF: libc::c_ulong =
    ioc(IOC_NONE, b'G', 5, size_of::<GntallocAllocGref>());
pub const GNTALLOC_FLAG_WRITABLE: u16 = 1;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GntallocDeallocGref {
    pub index: u64,
    pub count: u32,
}
const _: () = assert!(size_of::<GntallocDeallocGref>() == 16);
pub const IOCTL_GNTALLOC_DEALLOC_GREF: libc::c_ulong =
    ioc(IOC_NONE, b'G', 6, size_of::<GntallocDeallocGref>());

/// The 8-byte words a `count`-page ALLOC_GREF argument needs: the header, then `count` references.
pub fn alloc_gref_buffer_words(count: usize) -> usize {
    (GNTALLOC_GREF_IDS_OFFSET + 4 * count).div_ceil(8)
}

/// `struct ioctl_evtchn_bind_unbound_port`, `ioctl_evtchn_unbind`, `ioctl_evtchn_notify`: each one
/// `unsigned int`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EvtchnPortArg {
    pub value: libc::c_uint,
}
const _: () = assert!(size_of::<EvtchnPortArg>() == 4);

pub const IOCTL_EVTCHN_BIND_UNBOUND_PORT: libc::c_ulong =
    ioc(IOC_NONE, b'E', 2, size_of::<EvtchnPortArg>());
pub const IOCTL_EVTCHN_UNBIND: libc::c_ulong = ioc(IOC_NONE, b'E', 3, size_of::<EvtchnPortArg>());
pub const IOCTL_EVTCHN_NOTIFY: libc::c_ulong = ioc(IOC_NONE, b'E', 4, size_of::<EvtchnPortArg>());

/// nbd.h's `_IO(0xab, nr)` requests.
pub const fn nbd_ioctl(nr: u8) -> libc::c_ulong {
    ioc(IOC_NONE, 0xab, nr, 0)
}
pub const NBD_SET_SOCK: libc::c_ulong = nbd_ioctl(0);
pub const NBD_SET_BLKSIZE: libc::c_ulong = nbd_ioctl(1);
pub const NBD_DO_IT: libc::c_ulong = nbd_ioctl(3);
pub const NBD_CLEAR_SOCK: libc::c_ulong = nbd_ioctl(4);
pub const NBD_CLEAR_QUE: libc::c_ulong = nbd_ioctl(5);
pub const NBD_SET_SIZE_BLOCKS: libc::c_ulong = nbd_ioctl(7);
pub const NBD_DISCONNECT: libc::c_ulong = nbd_ioctl(8);
pub const NBD_SET_TIMEOUT: libc::c_ulong = nbd_ioctl(9);
pub const NBD_SET_FLAGS: libc::c_ulong = nbd_ioctl(10);

const IOC_WRITE: u32 = 1;

/// if_tun.h's `_IOW('T', nr, int)` requests.
pub const TUNSETIFF: libc::c_ulong = ioc(IOC_WRITE, b'T', 202, size_of::<libc::c_int>());
pub const TUNSETOFFLOAD: libc::c_ulong = ioc(IOC_WRITE, b'T', 208, size_of::<libc::c_uint>());
pub const IFF_TAP: libc::c_short = 0x0002;
pub const IFF_NO_PI: libc::c_short = 0x1000;
pub const IFF_VNET_HDR: libc::c_short = 0x4000;
/// Each TUNSETIFF with this flag on a new descriptor adds one queue to the interface.
pub const IFF_MULTI_QUEUE: libc::c_short = 0x0100;
pub const TUN_F_CSUM: libc::c_uint = 0x01;
pub const TUN_F_TSO4: libc::c_uint = 0x02;
pub const TUN_F_TSO6: libc::c_uint = 0x04;

/// `struct ifreq` as TUNSETIFF reads it: the name, then the flags at the start of the union.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IfreqFlags {
    pub name: [u8; 16],
    pub flags: libc::c_short,
    pub pad: [u8; 22],
}
const _: () = assert!(size_of::<IfreqFlags>() == 40);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioc_places_each_field() {
        assert_eq!(ioc(0, 0, 0, 0), 0);
        assert_eq!(ioc(0, 0, 0x7f, 0), 0x7f);
        assert_eq!(ioc(0, 0xab, 0, 0), 0xab00);
        assert_eq!(ioc(0, 0, 0, 0x3fff), 0x3fff_0000);
        assert_eq!(ioc(3, 0, 0, 0), 0xc000_0000);
    }

    #[test]
    fn gref_ids_offset_is_where_the_struct_puts_it() {
        let a = GntallocAllocGref::default();
        let base = &a as *const _ as usize;
        assert_eq!(
            a.gref_ids.as_ptr() as usize - base,
            GNTALLOC_GREF_IDS_OFFSET
        );
    }

    #[test]
    fn alloc_buffer_fits_every_reference() {
        // One reference fits in the plain struct (24 bytes = 3 words).
        assert_eq!(alloc_gref_buffer_words(1), 3);
        assert_eq!(alloc_gref_buffer_words(2), 3);
        assert_eq!(alloc_gref_buffer_words(3), 4);
        for n in 1..100 {
            assert!(alloc_gref_buffer_words(n) * 8 >= GNTALLOC_GREF_IDS_OFFSET + 4 * n);
        }
    }
}
