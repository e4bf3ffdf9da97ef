//! The grant table on real Xen: [`FRAMES`] frames set up (GNTTABOP_setup_table) and mapped,
//! drivers/xen's GrantTable writing a real entry, Xen copying through it (GNTTABOP_copy, as a
//! backend's copy would) and refusing it once the grant is ended. The table then serves the fronts.

use core::cell::UnsafeCell;
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::AtomicU32;

use alloc::boxed::Box;
use xenpv_abi::grant_table::{GnttabCopy, GnttabCopyPtr, GNTCOPY_SOURCE_GREF};
use xenpv_abi::shared_info::StartInfo;
use xenpv_abi::{DomId, DOMID_SELF, PAGE_SIZE};

use xenpv_xen::gnttab::{Entry, GrantTable, ENTRIES_PER_FRAME};
use xenpv_xen::hypercall::Page;
use xenpv_xen::Xen;

use crate::boot::VIRT_BASE;
use crate::say;
use crate::steps::{at, p2m, Failure};

#[repr(C, align(4096))]
struct PageBuf(UnsafeCell<[u8; PAGE_SIZE]>);

// SAFETY: single vCPU, no event delivery: only this module's straight-line code touches the pages.
unsafe impl Sync for PageBuf {}

/// Grant table frames: one frame's 500 free references do not cover a netif queue's 514 pages
/// and a blkif queue's pool.
pub const FRAMES: usize = 4;
/// Crash-dump references kept aside (drivers/xen's table reserves them; the proof does not dump).
const CRASH_DUMP_REFS: u32 = 4;

/// Become the grant table frames (their own frames are given up).
static TABLE: [PageBuf; FRAMES] = [const { PageBuf(UnsafeCell::new([0; PAGE_SIZE])) }; FRAMES];
/// Granted read-only; Xen copies from it.
static SOURCE: PageBuf = PageBuf(UnsafeCell::new([0; PAGE_SIZE]));
/// Xen copies into it.
static DEST: PageBuf = PageBuf(UnsafeCell::new([0; PAGE_SIZE]));
static LINKS: [AtomicU32; FRAMES * ENTRIES_PER_FRAME] =
    [const { AtomicU32::new(0) }; FRAMES * ENTRIES_PER_FRAME];

fn mfn_of(si: &StartInfo, page: &PageBuf) -> u64 {
    p2m(si)[((page.0.get() as u64 - VIRT_BASE) >> 12) as usize]
}

fn copy_op(gref: u32, dest_mfn: u64) -> GnttabCopy {
    GnttabCopy {
        source: GnttabCopyPtr {
            u: u64::from(gref),
            domid: DOMID_SELF,
            offset: 0,
            pad: 0,
        },
        dest: GnttabCopyPtr {
            u: dest_mfn,
            domid: DOMID_SELF,
            offset: 0,
            pad: 0,
        },
        len: PAGE_SIZE as u16,
        flags: GNTCOPY_SOURCE_GREF,
        status: 0,
        pad: 0,
    }
}

/// Has Xen set up [`FRAMES`] grant table frames and maps them over TABLE; returns frame 0's
/// machine frame. A resumed domain's table is a new one, unmapped, so a resume calls this again
/// (the entries are empty then, and the fronts grant anew when they reconnect).
pub fn map_frames(xen: &Xen<Page>) -> Result<u64, Failure> {
    let mut frames = [0u64; FRAMES];
    xen.gnttab_setup_table(&mut frames)
        .map_err(at("gnttab setup_table"))?;
    for (page, &mfn) in TABLE.iter().zip(&frames) {
        // SAFETY: TABLE's pages are in the boot mapping and used for nothing else; from now on
        // they are the grant table frames, accessed only through the atomics of `Entry`.
        unsafe { xen.update_va_mapping(page.0.get() as u64, mfn) }
            .map_err(at("map grant frame"))?;
    }
    Ok(frames[0])
}

/// Sets the table up, proves it with a copy, and hands it on for the fronts.
pub fn run(
    xen: &Xen<Page>,
    si: &StartInfo,
    domid: DomId,
) -> Result<&'static GrantTable<'static>, Failure> {
    let frame0 = map_frames(xen)?;
    // SAFETY: TABLE's contiguous pages now hold FRAMES * ENTRIES_PER_FRAME grant entries, mapped
    // for good; Entry matches grant_entry_v1 and is all atomics.
    let entries = unsafe {
        core::slice::from_raw_parts(TABLE.as_ptr() as *const Entry, FRAMES * ENTRIES_PER_FRAME)
    };
    let table = GrantTable::new(entries, &LINKS, FRAMES, CRASH_DUMP_REFS)
        .map_err(|_| at("gnttab")("table layout refused"))?;

    let src = SOURCE.0.get() as *mut u8;
    let dst = DEST.0.get() as *const u8;
    for i in 0..PAGE_SIZE {
        // SAFETY: in bounds of SOURCE, which only this function uses.
        unsafe { write_volatile(src.add(i), (i * 7 + 3) as u8) };
    }
    let gref = table
        .grant(domid, mfn_of(si, &SOURCE), true)
        .map_err(|_| at("gnttab grant")("no reference"))?;
    let mut op = [copy_op(gref, mfn_of(si, &DEST))];
    // SAFETY: the destination frame is DEST, ours to overwrite.
    unsafe { xen.grant_copy(&mut op) }.map_err(at("gnttab copy"))?;
    // SAFETY: in bounds of DEST; volatile because Xen wrote it behind the compiler's back.
    let same = (0..PAGE_SIZE).all(|i| unsafe { read_volatile(dst.add(i)) } == (i * 7 + 3) as u8);
    if !same {
        return Err(at("gnttab copy")("copied bytes differ"));
    }
    table
        .end(gref)
        .map_err(|_| at("gnttab end")("refused after the copy finished"))?;
    let mut op = [copy_op(gref, mfn_of(si, &DEST))];
    // SAFETY: as above.
    match unsafe { xen.grant_copy(&mut op) } {
        Err(e) => say!(
            "grant table: {FRAMES} frames mapped (frame 0 mfn {:#x}); ref {gref} granted read-only \
             to domain {domid}, Xen copied {PAGE_SIZE} bytes through it intact; ended, Xen \
             refuses it: {e}",
            frame0
        ),
        Ok(()) => return Err(at("gnttab end")("Xen still copies through an ended grant")),
    }
    Ok(Box::leak(Box::new(table)))
}
