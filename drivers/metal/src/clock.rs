//! Xen system time (nanoseconds since the host booted) for bounded waits: vCPU 0's time record in
//! shared_info (a snapshot of system time and the TSC at that moment, with the TSC's scale, under
//! a version that is odd while Xen updates it), extrapolated with the TSC.
//!
//! shared_info is mapped here at a page of our own, apart from the events step's mapping, so the
//! clock depends on nothing but the frame number start_info gives.

use core::arch::x86_64::_rdtsc;
use core::cell::UnsafeCell;
use core::mem::offset_of;
use core::ptr::{addr_of, read_volatile};
use core::sync::atomic::{fence, Ordering};

use xenpv_abi::shared_info::{SharedInfo, StartInfo, VcpuInfo, VcpuTimeInfo};
use xenpv_abi::PAGE_SIZE;
use xenpv_xen::hypercall::Page;
use xenpv_xen::{Xen, XenError};

#[repr(C, align(4096))]
struct Window(UnsafeCell<[u8; PAGE_SIZE]>);

// SAFETY: after the remap the page is only read, through volatile reads of `Clock::now`.
unsafe impl Sync for Window {}

static WINDOW: Window = Window(UnsafeCell::new([0; PAGE_SIZE]));

/// Reads system time.
pub struct Clock {
    time: *const VcpuTimeInfo,
}

/// How often a read torn by Xen's update is retried.
const TRIES: usize = 1000;

impl Clock {
    /// Maps shared_info for the clock.
    pub fn new(xen: &Xen<Page>, si: &StartInfo) -> Result<Self, XenError> {
        let va = WINDOW.0.get() as u64;
        // SAFETY: WINDOW is a page of the boot mapping used for nothing else; from now on it is
        // shared_info, only read through volatile reads.
        unsafe { xen.update_va_mapping(va, si.shared_info >> 12) }?;
        let at = va as usize + offset_of!(SharedInfo, vcpu_info) + offset_of!(VcpuInfo, time);
        Ok(Self {
            time: at as *const VcpuTimeInfo,
        })
    }

    /// Nanoseconds of system time now.
    pub fn now(&self) -> u64 {
        let t = self.time;
        let mut last = 0;
        for _ in 0..TRIES {
            // SAFETY (all reads): `t` is vCPU 0's time record in the mapped shared_info page;
            // volatile as Xen writes it behind our back; each field aligned in the page.
            let (v1, stamp, system, mul, shift, v2) = unsafe {
                let v1 = read_volatile(addr_of!((*t).version));
                fence(Ordering::Acquire);
                let stamp = read_volatile(addr_of!((*t).tsc_timestamp));
                let system = read_volatile(addr_of!((*t).system_time));
                let mul = read_volatile(addr_of!((*t).tsc_to_system_mul));
                let shift = read_volatile(addr_of!((*t).tsc_shift));
                fence(Ordering::Acquire);
                (
                    v1,
                    stamp,
                    system,
                    mul,
                    shift,
                    read_volatile(addr_of!((*t).version)),
                )
            };
            if v1 % 2 == 0 && v1 == v2 {
                // SAFETY: rdtsc has no preconditions on x86_64.
                let tsc = unsafe { _rdtsc() };
                return system + scale(tsc.saturating_sub(stamp), mul, shift);
            }
            last = system;
        }
        // Xen updates the record in a few instructions; a version stuck odd is not shared_info.
        last
    }
}

/// TSC ticks to nanoseconds as Xen defines it: shift, then multiply by a 32.32 fraction.
fn scale(ticks: u64, mul: u32, shift: i8) -> u64 {
    let t = if shift >= 0 {
        ticks << shift
    } else {
        ticks >> -shift
    };
    ((u128::from(t) * u128::from(mul)) >> 32) as u64
}
