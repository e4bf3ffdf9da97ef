//! The machine side of drivers/xen for XENBUS: finding Xen with CPUID and reaching the platform
//! device's fixed I/O ports.

use xenpv_xen::cpuid::{self, NativeCpuid};
use xenpv_xen::hypercall::{Direct, Instruction};
use xenpv_xen::unplug::PortIo;

/// Xen's direct hypercall instruction for this CPU, if we run on Xen.
pub fn detect() -> Option<(cpuid::XenCpuid, Direct)> {
    let found = cpuid::detect(&NativeCpuid)?;
    let instruction = Instruction::for_vendor(&cpuid::vendor(&NativeCpuid));
    // SAFETY: CPUID found Xen's leaves: we are an HVM guest of Xen, which handles VMCALL/VMMCALL.
    Some((found, unsafe { Direct::new(instruction) }))
}

/// The x86 `in`/`out` instructions (a kernel driver may use them directly).
pub struct Ports;

impl PortIo for Ports {
    fn inb(&mut self, port: u16) -> u8 {
        let v: u8;
        // SAFETY: reads a device register; the unplug ports only answer, they have no side effect
        // on memory.
        unsafe {
            core::arch::asm!("in al, dx", out("al") v, in("dx") port, options(nostack, nomem))
        };
        v
    }

    fn inw(&mut self, port: u16) -> u16 {
        let v: u16;
        // SAFETY: as above.
        unsafe {
            core::arch::asm!("in ax, dx", out("ax") v, in("dx") port, options(nostack, nomem))
        };
        v
    }

    fn outw(&mut self, port: u16, value: u16) {
        // SAFETY: writes the Xen platform device's unplug registers, which is their purpose.
        unsafe {
            core::arch::asm!("out dx, ax", in("dx") port, in("ax") value, options(nostack, nomem))
        };
    }

    fn outl(&mut self, port: u16, value: u32) {
        // SAFETY: as above.
        unsafe {
            core::arch::asm!("out dx, eax", in("dx") port, in("eax") value, options(nostack, nomem))
        };
    }
}
