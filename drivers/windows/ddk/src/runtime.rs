//! What a `no_std` kernel image needs from its runtime: the global allocator on non-paged pool and
//! the panic handler. Both exist only in Windows builds.

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;

use crate::bugcheck::{panic_parameters, XENPV_PANIC_BUGCHECK};
use crate::debug::{self, DPFLTR_ERROR_LEVEL};
use crate::kernel::{ExAllocatePool2, ExFreePoolWithTag, KeBugCheckEx};
use crate::pool::{place_over_aligned, request, PoolRequest, POOL_FLAG_NON_PAGED, POOL_TAG};

/// Serves `alloc` from non-paged pool, tagged [`POOL_TAG`]. Callable at IRQL <= DISPATCH_LEVEL.
struct NonPagedPool;

#[global_allocator]
static ALLOCATOR: NonPagedPool = NonPagedPool;

// SAFETY: blocks come from ExAllocatePool2 (16-aligned, at least the size asked), over-aligned
// layouts are placed inside a larger block by `place_over_aligned`, and `dealloc` frees the pool
// block that `alloc` obtained for the same layout.
unsafe impl GlobalAlloc for NonPagedPool {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match request(layout) {
            None => core::ptr::null_mut(),
            // SAFETY: plain pool allocation; null on failure is what GlobalAlloc expects too.
            Some(PoolRequest::Direct { size }) => unsafe {
                ExAllocatePool2(POOL_FLAG_NON_PAGED, size, POOL_TAG).cast()
            },
            Some(PoolRequest::OverAligned { size, align }) => {
                // SAFETY: as above.
                let pool = unsafe { ExAllocatePool2(POOL_FLAG_NON_PAGED, size, POOL_TAG) };
                if pool.is_null() {
                    return core::ptr::null_mut();
                }
                let block = place_over_aligned(pool as usize, align);
                // SAFETY: `place_over_aligned` leaves one pointer-sized, pointer-aligned slot
                // inside the pool block just before `block`.
                unsafe { (block as *mut *mut c_void).sub(1).write(pool) };
                block as *mut u8
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let pool = match request(layout) {
            Some(PoolRequest::OverAligned { .. }) => {
                // SAFETY: `alloc` stored the pool block's address in the slot before `ptr`.
                unsafe { (ptr as *mut *mut c_void).sub(1).read() }
            }
            _ => ptr.cast(),
        };
        // SAFETY: `pool` is a block ExAllocatePool2 returned with this tag.
        unsafe { ExFreePoolWithTag(pool, POOL_TAG) };
    }
}

/// Prints the panic message, then stops the machine with [`XENPV_PANIC_BUGCHECK`] and the panic's
/// location in the parameters. A driver cannot unwind out of a kernel callback; continuing after a
/// broken invariant risks corrupting guest memory that backends can reach.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    debug::print(DPFLTR_ERROR_LEVEL, format_args!("xenpv: {info}"));
    let [p1, p2, p3, p4] = panic_parameters(info.location());
    // SAFETY: KeBugCheckEx never returns; any parameters are acceptable.
    unsafe { KeBugCheckEx(XENPV_PANIC_BUGCHECK, p1, p2, p3, p4) }
}
