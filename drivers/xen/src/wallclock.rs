//! The wall clock Xen keeps in shared_info: seconds and nanoseconds since the epoch at Xen system
//! time 0, under a version counter that is odd while Xen updates it (a seqlock).

use core::ptr::{addr_of, read_volatile};
use core::sync::atomic::{fence, Ordering};

use xenpv_abi::shared_info::SharedInfo;

/// Wall-clock time at Xen system time 0.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::boxed::Box;
    use zerocopy::FromZeros;

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
