//! Windows system time from Xen's wall clock.
//!
//! Windows keeps time as 100-ns intervals since 1601-01-01 00:00 UTC (a `LARGE_INTEGER`, what
//! `KeQuerySystemTime` returns and `ZwSetSystemTime` takes); Xen's wall clock is seconds and
//! nanoseconds since the Unix epoch, 1970-01-01 00:00 UTC. Between the two epochs lie 369 years
//! with 89 leap days: 134 774 days = 11 644 473 600 s.

/// Seconds from 1601-01-01 to 1970-01-01.
pub const EPOCH_DIFFERENCE_SECS: u64 = 11_644_473_600;
/// Windows time intervals per second.
pub const TICKS_PER_SEC: u64 = 10_000_000;
const NANOS_PER_TICK: u32 = 100;
const NANOS_PER_SEC: u32 = 1_000_000_000;

/// Why a wall clock has no Windows time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeError {
    /// Nanoseconds of a second at or over 10^9: not a valid clock reading.
    BadNanoseconds(u32),
    /// Past the largest Windows time (year 30828).
    OutOfRange,
}

/// The Windows system time of `sec` s + `nsec` ns after the Unix epoch (sub-100-ns truncated,
/// as Windows does).
pub fn windows_time(sec: u64, nsec: u32) -> Result<i64, TimeError> {
    if nsec >= NANOS_PER_SEC {
        return Err(TimeError::BadNanoseconds(nsec));
    }
    let ticks = sec
        .checked_add(EPOCH_DIFFERENCE_SECS)
        .and_then(|s| s.checked_mul(TICKS_PER_SEC))
        .and_then(|t| t.checked_add(u64::from(nsec / NANOS_PER_TICK)))
        .ok_or(TimeError::OutOfRange)?;
    i64::try_from(ticks).map_err(|_| TimeError::OutOfRange)
}

/// How far back a resync may set the clock. After a resume the guest's clock is behind (the
/// domain was paused or saved), so the bus's clock is ahead of it; a clock far *behind* Windows'
/// own is not a current time (e.g. Xen's wall clock base without the system time added) and
/// setting it would break the machine's time.
pub const MAX_BACKWARD_TICKS: i64 = 60 * TICKS_PER_SEC as i64;

/// What to do with the system time after a resume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resync {
    /// Set the system time to this (ZwSetSystemTime).
    Set(i64),
    /// The bus's clock is this many 100-ns intervals behind the system time: left alone.
    Refused { behind: i64 },
}

/// Decides the resync from the current system time `now` and the bus's wall clock.
pub fn resync(now: i64, sec: u64, nsec: u32) -> Result<Resync, TimeError> {
    let xen = windows_time(sec, nsec)?;
    let behind = now.saturating_sub(xen);
    Ok(if behind > MAX_BACKWARD_TICKS {
        Resync::Refused { behind }
    } else {
        Resync::Set(xen)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unix_epoch_is_the_documented_filetime() {
        // 116444736000000000: the FILETIME of 1970-01-01 that every Windows time conversion uses.
        assert_eq!(windows_time(0, 0), Ok(116_444_736_000_000_000));
    }

    #[test]
    fn a_known_date_converts_exactly() {
        // 2026-11-25 18:00:00.123456789 UTC, with the days counted by the calendar below.
        let days_1970_to_2026_11_25 = days_from_civil(2026, 11, 25);
        let sec = days_1970_to_2026_11_25 * 86_400 + 18 * 3600;
        let t = windows_time(sec, 123_456_789).unwrap();
        // The same instant counted from 1601 by days.
        let days_1601 = days_from_civil(2026, 11, 25) + days_1601_to_1970();
        let expected = (days_1601 * 86_400 + 18 * 3600) as i64 * 10_000_000 + 1_234_567;
        assert_eq!(t, expected);
    }

    #[test]
    fn bad_clocks_are_errors() {
        assert_eq!(
            windows_time(0, 1_000_000_000),
            Err(TimeError::BadNanoseconds(1_000_000_000))
        );
        assert_eq!(windows_time(u64::MAX, 0), Err(TimeError::OutOfRange));
        // The largest second that still fits an i64 of ticks.
        let max_sec = (i64::MAX as u64) / TICKS_PER_SEC - EPOCH_DIFFERENCE_SECS;
        assert!(windows_time(max_sec, 0).is_ok());
        assert_eq!(windows_time(max_sec + 1, 0), Err(TimeError::OutOfRange));
    }

    /// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar, by counting years and
    /// months (an independent check of the epoch constant, not the formula under test).
    fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
        let leap = |y: u64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let mut days = 0;
        for year in 1970..y {
            days += if leap(year) { 366 } else { 365 };
        }
        let month_days = [
            31,
            if leap(y) { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        days += month_days[..(m - 1) as usize].iter().sum::<u64>();
        days + d - 1
    }

    fn days_1601_to_1970() -> u64 {
        let leap = |y: u64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        (1601..1970).map(|y| if leap(y) { 366 } else { 365 }).sum()
    }

    #[test]
    fn the_epoch_difference_is_369_years_of_days() {
        assert_eq!(days_1601_to_1970() * 86_400, EPOCH_DIFFERENCE_SECS);
    }

    #[test]
    fn resync_moves_the_clock_forward_and_refuses_a_base_far_behind() {
        let now = windows_time(1_800_000_000, 0).unwrap();
        // Resumed after an hour saved: forward by an hour.
        assert_eq!(
            resync(now, 1_800_003_600, 5_000),
            Ok(Resync::Set(now + 3600 * 10_000_000 + 50))
        );
        // A little backwards (host clocks differ slightly) is still a correction.
        assert_eq!(
            resync(now, 1_799_999_990, 0),
            Ok(Resync::Set(now - 10 * 10_000_000))
        );
        // A base a day behind is not a current time.
        assert_eq!(
            resync(now, 1_800_000_000 - 86_400, 0),
            Ok(Resync::Refused {
                behind: 86_400 * 10_000_000
            })
        );
        assert_eq!(
            resync(now, 0, 2_000_000_000),
            Err(TimeError::BadNanoseconds(2_000_000_000))
        );
    }
}
