//! The wall clock Xen keeps in shared_info: seconds and nanoseconds since the epoch at Xen system
//! time 0, under a version counter that is odd while Xen updates it (a seqlock). The current time
//! is that base plus the system time a vCPU's time record gives now ([`now`], as Linux's
//! pvclock_read_wallclock): the base alone is the host's boot time, hours or days in the past.

use core::ptr::{addr_of, read_volatile};
use core::sync::atomic::{fence, Ordering};

use xenpv_abi::shared_info::SharedInfo;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Wall-clock time at Xen system time 0 ([`read`]), or now ([`now`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallClock {
    pub sec: u64,
    pub nsec: u32,
}

/// Xen kept updating the clock for longer than a reader should wait (or the page is not
/// shared_info: a version stuck odd).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Torn;

/// How many times a torn read is retried.
const TRIES: usize = 1000;

/// Reads the wall clock consistently.
///
/// # Safety
/// `si` must point to the domain's shared_info page (or memory laid out as one), readable for the
/// call; Xen may write it concurrently.
pub unsafe fn read(si: *const SharedInfo) -> Result<WallClock, Torn> {
    for _ in 0..TRIES {
        // SAFETY (all reads): the caller's contract; volatile, as Xen writes behind our back, and
        // each field is an aligned u32 in the page.
        let (v1, sec, nsec, hi, v2) = unsafe {
            let v1 = read_volatile(addr_of!((*si).wc_version));
            fence(Ordering::Acquire);
            let sec = read_volatile(addr_of!((*si).wc_sec));
            let nsec = read_volatile(addr_of!((*si).wc_nsec));
            let hi = read_volatile(addr_of!((*si).wc_sec_hi));
            fence(Ordering::Acquire);
            (v1, sec, nsec, hi, read_volatile(addr_of!((*si).wc_version)))
        };
        if v1 % 2 == 0 && v1 == v2 {
            return Ok(WallClock {
                sec: u64::from(hi) << 32 | u64::from(sec),
                nsec,
            });
        }
        core::hint::spin_loop();
    }
    Err(Torn)
}

impl WallClock {
    /// This time `ns` nanoseconds later (saturating at the largest time, which no clock reaches).
    pub fn plus_nanos(self, ns: u64) -> WallClock {
        let total = u64::from(self.nsec) + ns % NANOS_PER_SEC;
        WallClock {
            sec: self
                .sec
                .saturating_add(ns / NANOS_PER_SEC)
                .saturating_add(total / NANOS_PER_SEC),
            nsec: (total % NANOS_PER_SEC) as u32,
        }
    }
}

/// The current wall-clock time: the base in shared_info plus the system time of vCPU `vcpu`'s
/// record (in shared_info's legacy vcpu_info array) extrapolated to the TSC `rdtsc()` reads.
///
/// # Safety
/// As [`read`]; `vcpu` below `XEN_LEGACY_MAX_VCPUS` (checked: out of range is [`Torn`]'s "not a
/// time record").
pub unsafe fn now(
    si: *const SharedInfo,
    vcpu: usize,
    rdtsc: impl Fn() -> u64,
) -> Result<WallClock, Torn> {
    if vcpu >= xenpv_abi::shared_info::XEN_LEGACY_MAX_VCPUS {
        return Err(Torn);
    }
    // SAFETY: the caller's contract.
    let base = unsafe { read(si) }?;
    // SAFETY: the record lies inside the shared_info the caller vouches for (index checked).
    let t = unsafe { addr_of!((*si).vcpu_info[vcpu].time) };
    // SAFETY: as above.
    let system = unsafe { crate::systime::now(t, rdtsc) }.map_err(|_| Torn)?;
    Ok(base.plus_nanos(system))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model;
    use std::boxed::Box;
    use zerocopy::FromZeros;

    #[test]
    fn now_is_the_base_plus_the_extrapolated_system_time() {
        let mut si = Box::new(SharedInfo::new_zeroed());
        // Host booted at 1_700_000_000.9 s; the record says 2 days + 0.3 s of system time at TSC
        // 10_000, and the TSC runs at 1 GHz (mul 2^32 would overflow: 2^31 with shift +1).
        model::publish_wall_clock(&mut si, 1_700_000_000, 900_000_000);
        let system = 2 * 86_400 * NANOS_PER_SEC + 300_000_000;
        model::publish_time(&mut si.vcpu_info[1].time, 10_000, system, 1 << 31, 1);
        // 0.25 s of ticks after the stamp: 2 days + 0.55 s after boot, carried into the seconds.
        // SAFETY: a SharedInfo in our own memory.
        let c = unsafe { now(&*si, 1, || 10_000 + 250_000_000) }.unwrap();
        assert_eq!(
            c,
            WallClock {
                sec: 1_700_000_000 + 2 * 86_400 + 1,
                nsec: 450_000_000
            }
        );
        // vCPU 0's record is empty (system time 0): its answer is the base, so the vCPU index
        // matters.
        // SAFETY: as above.
        let base = unsafe { now(&*si, 0, || 10_000) }.unwrap();
        assert_eq!(base.sec, 1_700_000_000);
        // An index past the legacy array, or a record Xen never finishes updating, is no time.
        // SAFETY: as above (refused before reading).
        assert_eq!(unsafe { now(&*si, 32, || 0) }, Err(Torn));
        si.vcpu_info[1].time.version += 1;
        // SAFETY: as above.
        assert_eq!(unsafe { now(&*si, 1, || 0) }, Err(Torn));
    }

    #[test]
    fn adding_nanoseconds_carries_and_saturates() {
        let c = WallClock {
            sec: 5,
            nsec: 999_999_999,
        };
        assert_eq!(c.plus_nanos(1), WallClock { sec: 6, nsec: 0 });
        assert_eq!(
            c.plus_nanos(3 * NANOS_PER_SEC + 2),
            WallClock { sec: 9, nsec: 1 }
        );
        let max = WallClock {
            sec: u64::MAX,
            nsec: 0,
        };
        assert_eq!(max.plus_nanos(u64::MAX).sec, u64::MAX);
    }

    #[test]
    fn seconds_combine_the_high_word() {
        let mut si = Box::new(SharedInfo::new_zeroed());
        si.wc_version = 4;
        si.wc_sec = 0x1234_5678;
        si.wc_sec_hi = 1;
        si.wc_nsec = 999_999_999;
        // SAFETY: a valid SharedInfo in our own memory.
        let c = unsafe { read(&*si) }.unwrap();
        assert_eq!(
            c,
            WallClock {
                sec: 0x1_1234_5678,
                nsec: 999_999_999
            }
        );
    }

    #[test]
    fn a_version_stuck_odd_is_torn() {
        let mut si = Box::new(SharedInfo::new_zeroed());
        si.wc_version = 5;
        // SAFETY: as above.
        assert_eq!(unsafe { read(&*si) }, Err(Torn));
    }
}
