//! Xen system time (nanoseconds since the host booted) from a vCPU's `vcpu_time_info`: a snapshot of
//! system time and the TSC at that moment with the TSC's scale, under a version that is odd while
//! Xen updates it, extrapolated with the TSC read now.

use core::ptr::{addr_of, read_volatile};
use core::sync::atomic::{fence, Ordering};

use xenpv_abi::shared_info::VcpuTimeInfo;

/// Xen kept the record odd (mid-update) for longer than any update takes: not a time record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Torn;

/// How often a read torn by Xen's update is retried.
const TRIES: usize = 1000;

/// TSC ticks to nanoseconds as Xen defines it: shift, then multiply by a 32.32 fraction.
pub fn scale(ticks: u64, mul: u32, shift: i8) -> u64 {
    let t = if shift >= 0 {
        ticks.checked_shl(shift as u32).unwrap_or(0)
    } else {
        ticks.checked_shr(shift.unsigned_abs() as u32).unwrap_or(0)
    };
    ((u128::from(t) * u128::from(mul)) >> 32) as u64
}

/// System time now: the record at `t` extrapolated to the TSC value `rdtsc()` returns.
///
/// # Safety
/// `t` must point to a vCPU's time record (in shared_info or a registered vcpu_info), readable for
/// the call; Xen may rewrite it concurrently.
pub unsafe fn now(t: *const VcpuTimeInfo, rdtsc: impl Fn() -> u64) -> Result<u64, Torn> {
    for _ in 0..TRIES {
        // SAFETY (all reads): the caller's contract; volatile, as Xen writes behind our back, each
        // field aligned in the record.
        let (v1, stamp, system, mul, shift, v2) = unsafe {
            let v1 = read_volatile(addr_of!((*t).version));
            fence(Ordering::Acquire);
            let stamp = read_volatile(addr_of!((*t).tsc_timestamp));
            let system = read_volatile(addr_of!((*t).system_time));
            let mul = read_volatile(addr_of!((*t).tsc_to_system_mul));
            let shift = read_volatile(addr_of!((*t).tsc_shift));
            fence(Ordering::Acquire);
            let v2 = read_volatile(addr_of!((*t).version));
            (v1, stamp, system, mul, shift, v2)
        };
        if v1 % 2 == 0 && v1 == v2 {
            // A TSC behind the stamp (another CPU's TSC, a stale stamp) counts as no time passed.
            let ticks = rdtsc().saturating_sub(stamp);
            return Ok(system.wrapping_add(scale(ticks, mul, shift)));
        }
        core::hint::spin_loop();
    }
    Err(Torn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::FromZeros;

    #[test]
    fn ticks_scale_by_shift_then_fraction() {
        // 2 GHz TSC: 0.5 ns per tick = mul 2^31, no shift.
        assert_eq!(scale(2_000, 1 << 31, 0), 1_000);
        // A shift of -1 halves first, +2 quadruples.
        assert_eq!(scale(2_000, 1 << 31, -1), 500);
        assert_eq!(scale(2_000, 1 << 31, 2), 4_000);
        // Shifts beyond the width give 0 rather than a panic.
        assert_eq!(scale(1, u32::MAX, 64), 0);
        assert_eq!(scale(u64::MAX, u32::MAX, -64), 0);
    }

    #[test]
    fn now_extrapolates_from_the_stamp() {
        let mut t = VcpuTimeInfo::new_zeroed();
        t.version = 4;
        t.tsc_timestamp = 1_000;
        t.system_time = 5_000_000;
        t.tsc_to_system_mul = 1 << 31;
        // SAFETY: `t` is a local record.
        unsafe {
            assert_eq!(now(&t, || 3_000), Ok(5_001_000));
            // A TSC before the stamp adds nothing.
            assert_eq!(now(&t, || 10), Ok(5_000_000));
        }
        t.version = 5;
        // SAFETY: as above.
        assert_eq!(unsafe { now(&t, || 3_000) }, Err(Torn));
    }
}
