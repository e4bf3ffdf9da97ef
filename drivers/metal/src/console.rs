//! Text out through the domain's PV console ring, which xenconsoled in dom0 copies into
//! /var/log/xen/console/guest-<name>.log (and `xl console` shows).

use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use xenpv_xen::console::ConsoleInterface;
use xenpv_xen::Xen;

use crate::boot;

/// The ring and its port, once known; the panic handler prints through them too.
static RING: AtomicUsize = AtomicUsize::new(0);
static PORT: AtomicU32 = AtomicU32::new(0);

/// How often to yield to dom0 while the ring is full or draining before giving up.
const PATIENCE: u32 = 100_000;

/// Records the console ring found at start of day.
///
/// # Safety
/// `ring` must be the domain's console ring page, mapped for the domain's whole life.
pub unsafe fn init(ring: *const ConsoleInterface, port: u32) {
    PORT.store(port, Ordering::Relaxed);
    RING.store(ring as usize, Ordering::Release);
}

fn ring() -> Option<&'static ConsoleInterface> {
    let p = RING.load(Ordering::Acquire) as *const ConsoleInterface;
    // SAFETY: `init`'s contract: a non-null value is the ring page, mapped for good; every access to
    // it goes through atomics, so sharing it with the daemon and with a panic is sound.
    unsafe { p.as_ref() }
}

fn kick() {
    let _ = Xen::new(boot::hypercalls()).send(PORT.load(Ordering::Relaxed));
}

/// A writer to the console; lines become visible in dom0 when the daemon takes them.
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let ring = ring().ok_or(fmt::Error)?;
        let xen = Xen::new(boot::hypercalls());
        let mut rest = s.as_bytes();
        let mut waited = 0;
        while !rest.is_empty() {
            match ring.write(rest) {
                Ok(0) => {
                    kick();
                    let _ = xen.sched_yield();
                    waited += 1;
                    if waited > PATIENCE {
                        return Err(fmt::Error);
                    }
                }
                Ok(n) => rest = &rest[n..],
                Err(_) => return Err(fmt::Error),
            }
        }
        kick();
        Ok(())
    }
}

/// Waits (bounded) until the daemon has taken everything, so nothing is lost when the domain dies.
pub fn drain() {
    let Some(ring) = ring() else { return };
    let xen = Xen::new(boot::hypercalls());
    for _ in 0..PATIENCE {
        if ring.drained() {
            return;
        }
        kick();
        let _ = xen.sched_yield();
    }
}

/// `say!("…")` prints one `metal: …` line.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::console::Console, "metal: {}", format_args!($($arg)*));
    }};
}
