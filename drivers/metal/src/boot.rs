//! What Xen's PV loader needs in the image, and the first instructions.
//!
//! - The Xen ELF notes (elfnote.h): the loader accepts only images built for the "generic" loader
//!   (or Linux) and for the "xen-3.0" interface; VIRT_BASE/PADDR_OFFSET say where the image lives
//!   (equal, so its ELF physical addresses are its virtual ones); ENTRY and HYPERCALL_PAGE name the
//!   entry point and the page Xen fills with hypercall stubs.
//! - `_start`: Xen enters in 64-bit mode with `rsi` = the start_info page, event upcalls masked and
//!   a small boot stack; we switch to our own stack and call `metal_main(start_info)`.

use core::arch::global_asm;

/// Where link.ld places the image; the domain builder maps pfn `n` at `VIRT_BASE + n * 4096`.
pub const VIRT_BASE: u64 = 0xFFFF_FFFF_8000_0000;

/// Bytes of the kernel stack.
const STACK_SIZE: usize = 64 * 1024;

global_asm!(
    r#"
    // One note: name "Xen", the type, and a descriptor of a string or a 64-bit value.
    .macro xen_note type, kind, value
    .pushsection .note.Xen, "a", @note
    .balign 4
    .long 4
    .long 4f - 3f
    .long \type
    .asciz "Xen"
    .balign 4
3:  .ifc \kind, str
    .asciz "\value"
    .else
    .quad \value
    .endif
4:  .balign 4
    .popsection
    .endm

    xen_note {guest_os}, str, xenpv-metal
    xen_note {guest_version}, str, 0.1
    xen_note {xen_version}, str, xen-3.0
    xen_note {loader}, str, generic
    xen_note {virt_base}, quad, {base}
    xen_note {paddr_offset}, quad, {base}
    xen_note {entry}, quad, _start
    xen_note {hypercall_page}, quad, hypercall_page

    .section .text.entry, "ax"
    .global _start
_start:
    lea metal_stack_top(%rip), %rsp
    mov %rsi, %rdi
    call metal_main
    ud2

    .section .text.hypercall_page, "ax"
    .balign 4096
    .global hypercall_page
hypercall_page:
    .skip 4096

    .section .bss.stack, "aw", @nobits
    .balign 16
metal_stack:
    .skip {stack_size}
metal_stack_top:
    "#,
    guest_os = const xenpv_abi::xen_elfnote::XEN_ELFNOTE_GUEST_OS,
    guest_version = const xenpv_abi::xen_elfnote::XEN_ELFNOTE_GUEST_VERSION,
    xen_version = const xenpv_abi::xen_elfnote::XEN_ELFNOTE_XEN_VERSION,
    loader = const xenpv_abi::xen_elfnote::XEN_ELFNOTE_LOADER,
    virt_base = const xenpv_abi::xen_elfnote::XEN_ELFNOTE_VIRT_BASE,
    paddr_offset = const xenpv_abi::xen_elfnote::XEN_ELFNOTE_PADDR_OFFSET,
    entry = const xenpv_abi::xen_elfnote::XEN_ELFNOTE_ENTRY,
    hypercall_page = const xenpv_abi::xen_elfnote::XEN_ELFNOTE_HYPERCALL_PAGE,
    base = const VIRT_BASE,
    stack_size = const STACK_SIZE,
    options(att_syntax)
);

extern "C" {
    /// The page of hypercall stubs Xen wrote (defined above).
    static hypercall_page: [u8; 4096];
}

/// Hypercalls through the stub page.
pub fn hypercalls() -> xenpv_xen::hypercall::Page {
    // SAFETY: `hypercall_page` is the page named by the HYPERCALL_PAGE note, in the executable image
    // segment, which Xen filled before entering `_start`; it is never written afterwards.
    unsafe { xenpv_xen::hypercall::Page::new(core::ptr::addr_of!(hypercall_page).cast()) }
}

/// The machine frame behind `va`, a page of the boot mapping (the builder maps pfn `n` at
/// `VIRT_BASE + n * 4096`); `None` outside it.
pub fn mfn_of(si: &xenpv_abi::shared_info::StartInfo, va: u64) -> Option<u64> {
    let pfn = va.checked_sub(VIRT_BASE)? >> 12;
    crate::steps::p2m(si).get(pfn as usize).copied()
}

/// The start_info page as Xen handed it over (kept as a raw pointer: a restore rewrites it).
static START_INFO: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Remembers where start_info is, for the suspend path, which writes it and re-reads it.
pub fn keep_start_info(si: *const xenpv_abi::shared_info::StartInfo) {
    START_INFO.store(si as usize, core::sync::atomic::Ordering::Relaxed);
}

/// The start_info page [`keep_start_info`] recorded.
pub fn start_info() -> *mut xenpv_abi::shared_info::StartInfo {
    START_INFO.load(core::sync::atomic::Ordering::Relaxed) as *mut _
}
