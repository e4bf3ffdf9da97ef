//! How a guest enters Xen. Every hypercall takes its number in `rax` and up to five arguments in
//! `rdi, rsi, rdx, r10, r8`, and returns in `rax`; the ways to get there differ:
//! - HVM (what Windows uses): the `VMCALL` instruction on Intel, `VMMCALL` on AMD, issued directly
//!   — chosen by CPU vendor, so no hypercall page has to be set up through an MSR first.
//! - PV: Xen fills a page of the kernel image (named by the XEN_ELFNOTE_HYPERCALL_PAGE note) with one
//!   32-byte stub per hypercall; the guest calls `page + 32 * nr`.
//!
//! A debug build of Xen scribbles over the argument registers it did not use, so every argument
//! register counts as clobbered.

/// A way to make hypercalls.
pub trait Hypercall {
    /// Makes hypercall `nr` with `args` and returns Xen's raw result (negative: `-errno`).
    ///
    /// # Safety
    /// Arguments that are pointers must be valid for everything Xen does through them under `nr`
    /// (read, write, keep — e.g. a registered vcpu_info area must outlive the registration).
    unsafe fn hypercall(&self, nr: u32, args: [u64; 5]) -> i64;
}

impl<H: Hypercall + ?Sized> Hypercall for &H {
    unsafe fn hypercall(&self, nr: u32, args: [u64; 5]) -> i64 {
        // SAFETY: forwarded; the caller keeps the contract.
        unsafe { (**self).hypercall(nr, args) }
    }
}

/// The instruction that enters the hypervisor from an HVM guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Instruction {
    /// Intel VT-x.
    Vmcall,
    /// AMD-V (also Hygon, which is AMD's design).
    Vmmcall,
}

impl Instruction {
    /// The instruction for a CPU whose CPUID leaf 0 vendor string is `vendor`. Intel and any vendor
    /// not known to be AMD's design use VMCALL (Xen also accepts the other one by emulating it, but
    /// that costs an instruction decode — which is exactly what fails under TCG without NRIP-save).
    pub fn for_vendor(vendor: &[u8; 12]) -> Self {
        match vendor {
            b"AuthenticAMD" | b"HygonGenuine" => Instruction::Vmmcall,
            _ => Instruction::Vmcall,
        }
    }
}

/// Direct hypercalls from an HVM (or PVH) guest.
#[derive(Clone, Copy, Debug)]
pub struct Direct {
    instruction: Instruction,
}

impl Direct {
    /// Hypercalls with `instruction`.
    ///
    /// # Safety
    /// The code must run in a Xen HVM or PVH guest at CPL 0: anywhere else VMCALL/VMMCALL fault.
    pub unsafe fn new(instruction: Instruction) -> Self {
        Self { instruction }
    }

    pub fn instruction(&self) -> Instruction {
        self.instruction
    }
}

#[cfg(target_arch = "x86_64")]
impl Hypercall for Direct {
    unsafe fn hypercall(&self, nr: u32, args: [u64; 5]) -> i64 {
        let ret: i64;
        // SAFETY: `new`'s contract puts us in a Xen guest at CPL 0, where the instruction enters Xen;
        // the caller vouches for the pointer arguments. Xen preserves everything but rax and the
        // argument registers, which are all declared clobbered.
        unsafe {
            match self.instruction {
                Instruction::Vmcall => core::arch::asm!(
                    "vmcall",
                    inlateout("rax") u64::from(nr) => ret,
                    inlateout("rdi") args[0] => _,
                    inlateout("rsi") args[1] => _,
                    inlateout("rdx") args[2] => _,
                    inlateout("r10") args[3] => _,
                    inlateout("r8") args[4] => _,
                ),
                Instruction::Vmmcall => core::arch::asm!(
                    "vmmcall",
                    inlateout("rax") u64::from(nr) => ret,
                    inlateout("rdi") args[0] => _,
                    inlateout("rsi") args[1] => _,
                    inlateout("rdx") args[2] => _,
                    inlateout("r10") args[3] => _,
                    inlateout("r8") args[4] => _,
                ),
            }
        }
        ret
    }
}

/// Size of one stub in the hypercall page.
pub const STUB_SIZE: usize = 32;
/// Stubs in the one-page hypercall page.
pub const STUBS: u32 = (xenpv_abi::PAGE_SIZE / STUB_SIZE) as u32;

/// Hypercalls through the page Xen filled in (PV guests).
#[derive(Clone, Copy, Debug)]
pub struct Page {
    base: usize,
}

impl Page {
    /// Hypercalls through the page at `base`.
    ///
    /// # Safety
    /// `base` must be the page named by the kernel's XEN_ELFNOTE_HYPERCALL_PAGE note (or one Xen has
    /// otherwise filled with stubs), mapped executable for as long as this value is used.
    pub unsafe fn new(base: *const u8) -> Self {
        Self {
            base: base as usize,
        }
    }

    /// Where the stub for `nr` is, or `None` past the page's end.
    pub fn stub(&self, nr: u32) -> Option<usize> {
        (nr < STUBS).then(|| self.base + STUB_SIZE * nr as usize)
    }
}

#[cfg(target_arch = "x86_64")]
impl Hypercall for Page {
    unsafe fn hypercall(&self, nr: u32, args: [u64; 5]) -> i64 {
        let Some(stub) = self.stub(nr) else {
            // Xen's own answer for a number it has no entry for.
            return -38;
        };
        let ret: i64;
        // SAFETY: `new`'s contract makes `stub` a Xen-written stub (`mov $nr,%eax; syscall; ret` or
        // similar), which returns here with the result in rax, clobbering rcx and r11 (syscall) and
        // possibly the argument registers; the caller vouches for the pointer arguments.
        unsafe {
            core::arch::asm!(
                "call {stub}",
                stub = in(reg) stub,
                lateout("rax") ret,
                inlateout("rdi") args[0] => _,
                inlateout("rsi") args[1] => _,
                inlateout("rdx") args[2] => _,
                inlateout("r10") args[3] => _,
                inlateout("r8") args[4] => _,
                out("rcx") _,
                out("r11") _,
            );
        }
        ret
    }
}

// SAFETY: the page is written once by Xen before the guest runs and only executed afterwards.
unsafe impl Send for Page {}
// SAFETY: as for Send.
unsafe impl Sync for Page {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amd_designs_use_vmmcall_everything_else_vmcall() {
        assert_eq!(
            Instruction::for_vendor(b"AuthenticAMD"),
            Instruction::Vmmcall
        );
        assert_eq!(
            Instruction::for_vendor(b"HygonGenuine"),
            Instruction::Vmmcall
        );
        assert_eq!(
            Instruction::for_vendor(b"GenuineIntel"),
            Instruction::Vmcall
        );
        assert_eq!(
            Instruction::for_vendor(b"CentaurHauls"),
            Instruction::Vmcall
        );
    }

    #[test]
    fn stubs_are_32_bytes_apart_and_end_with_the_page() {
        // SAFETY: the page is never called in this test, only its stub addresses computed.
        let page = unsafe { Page::new(0x1000 as *const u8) };
        assert_eq!(page.stub(0), Some(0x1000));
        assert_eq!(page.stub(18), Some(0x1000 + 18 * 32));
        assert_eq!(page.stub(127), Some(0x1000 + 127 * 32));
        assert_eq!(page.stub(128), None);
    }
}
