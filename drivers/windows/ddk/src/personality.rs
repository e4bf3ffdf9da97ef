//! `__CxxFrameHandler3`, the exception personality routine that x86_64-pc-windows-msvc code names
//! in its unwind tables. The prebuilt `alloc` is compiled to unwind, so its functions with cleanup
//! (e.g. `alloc::fmt::format`, which the xenstore codec uses for numbers) refer to the routine;
//! a kernel image has no C++ runtime to provide it, and the link fails without it.
//!
//! In a xenpv driver no Rust unwinding ever starts (panics bug-check, see `runtime`), so the
//! routine only runs if a kernel exception were dispatched through Rust frames. Its answer is
//! that of a frame without handlers: `ExceptionContinueSearch`, so the search goes on to the
//! frames above and no Rust cleanup runs, which is what panic = "abort" means anyway.

/// `EXCEPTION_DISPOSITION::ExceptionContinueSearch` (excpt.h).
pub const EXCEPTION_CONTINUE_SEARCH: i32 = 1;

/// The personality routine: this frame handles no exception.
///
/// # Safety
/// Called only by the kernel's exception dispatcher; the arguments are not used.
#[cfg(windows)]
#[no_mangle]
pub unsafe extern "C" fn __CxxFrameHandler3(
    _exception_record: *mut core::ffi::c_void,
    _establisher_frame: *mut core::ffi::c_void,
    _context: *mut core::ffi::c_void,
    _dispatcher_context: *mut core::ffi::c_void,
) -> i32 {
    EXCEPTION_CONTINUE_SEARCH
}
