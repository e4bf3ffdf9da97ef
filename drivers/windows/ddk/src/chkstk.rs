//! `__chkstk`: the compiler calls it before a function whose frame exceeds a page, with the frame
//! size in RAX, so that user-mode stacks grow one guard page at a time. Kernel stacks are fully
//! resident with no guard pages to walk, so there is nothing to probe: it returns, preserving
//! every register as its contract requires. (MSVC-targeted images expect the linker to find it;
//! rustc's compiler-builtins does not provide it for this target without a C runtime.)

core::arch::global_asm!(".globl __chkstk", "__chkstk:", "    ret",);
