//! The PV console ring (io/console.h `struct xencons_interface`, [`XenconsInterface`] in xenpv-abi):
//! the page a domU's `xl console` and xenconsoled read. An unprivileged domain's only console on a
//! release build of Xen.
//!
//! The guest produces into `out` and consumes from `in`; the indices are free-running and the
//! daemon in dom0 is a peer that is not trusted to keep them sane.

use core::mem::{offset_of, size_of};
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use xenpv_abi::console::{XenconsInterface, XENCONS_IN_SIZE, XENCONS_OUT_SIZE};

/// Bytes of the guest-to-daemon ring.
pub const OUT_SIZE: u32 = XENCONS_OUT_SIZE as u32;
/// Bytes of the daemon-to-guest ring.
pub const IN_SIZE: u32 = XENCONS_IN_SIZE as u32;

/// The ring page as the guest accesses it while the daemon does too: [`XenconsInterface`]'s layout
/// (asserted below field by field; that struct is measured against Xen's header) with every byte
/// and index an atomic.
#[repr(C)]
pub struct ConsoleInterface {
    pub input: [AtomicU8; IN_SIZE as usize],
    pub output: [AtomicU8; OUT_SIZE as usize],
    pub in_cons: AtomicU32,
    pub in_prod: AtomicU32,
    pub out_cons: AtomicU32,
    pub out_prod: AtomicU32,
}

const _: () = {
    assert!(size_of::<ConsoleInterface>() == size_of::<XenconsInterface>());
    assert!(offset_of!(ConsoleInterface, input) == offset_of!(XenconsInterface, input));
    assert!(offset_of!(ConsoleInterface, output) == offset_of!(XenconsInterface, output));
    assert!(offset_of!(ConsoleInterface, in_cons) == offset_of!(XenconsInterface, in_cons));
    assert!(offset_of!(ConsoleInterface, in_prod) == offset_of!(XenconsInterface, in_prod));
    assert!(offset_of!(ConsoleInterface, out_cons) == offset_of!(XenconsInterface, out_cons));
    assert!(offset_of!(ConsoleInterface, out_prod) == offset_of!(XenconsInterface, out_prod));
    // The index arithmetic below masks with size - 1.
    assert!(IN_SIZE.is_power_of_two() && OUT_SIZE.is_power_of_two());
};

/// The daemon moved `out_cons` to where no correct consumer can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corrupt {
    pub out_cons: u32,
    pub out_prod: u32,
}

impl ConsoleInterface {
    /// Copies as much of `bytes` as fits into the output ring and publishes it; returns how many
    /// bytes went in. The caller then notifies the console's event channel.
    pub fn write(&self, bytes: &[u8]) -> Result<usize, Corrupt> {
        // Only we move out_prod; out_cons is the daemon's and read once.
        let prod = self.out_prod.load(Ordering::Relaxed);
        let cons = self.out_cons.load(Ordering::Acquire);
        let used = prod.wrapping_sub(cons);
        if used > OUT_SIZE {
            return Err(Corrupt {
                out_cons: cons,
                out_prod: prod,
            });
        }
        let n = bytes.len().min((OUT_SIZE - used) as usize);
        for (i, &b) in bytes[..n].iter().enumerate() {
            let at = prod.wrapping_add(i as u32) & (OUT_SIZE - 1);
            self.output[at as usize].store(b, Ordering::Relaxed);
        }
        // Release: the bytes are in the ring before the daemon can see the new producer index.
        self.out_prod
            .store(prod.wrapping_add(n as u32), Ordering::Release);
        Ok(n)
    }

    /// Everything written has been taken by the daemon.
    pub fn drained(&self) -> bool {
        self.out_cons.load(Ordering::Acquire) == self.out_prod.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::boxed::Box;
    use std::vec::Vec;

    fn page() -> Box<ConsoleInterface> {
        // SAFETY: all-zero bytes are a valid ConsoleInterface (atomics of zero), as a fresh page is.
        unsafe { Box::new(core::mem::zeroed()) }
    }

    /// What a console daemon would read: everything from out_cons to out_prod, then catch up.
    fn drain(c: &ConsoleInterface) -> Vec<u8> {
        let (cons, prod) = (
            c.out_cons.load(Ordering::SeqCst),
            c.out_prod.load(Ordering::SeqCst),
        );
        let out = (0..prod.wrapping_sub(cons))
            .map(|i| {
                let at = cons.wrapping_add(i) & (OUT_SIZE - 1);
                c.output[at as usize].load(Ordering::SeqCst)
            })
            .collect();
        c.out_cons.store(prod, Ordering::SeqCst);
        out
    }

    #[test]
    fn text_goes_out_in_order_across_the_wrap() {
        let c = page();
        c.out_prod.store(u32::MAX - 5, Ordering::SeqCst);
        c.out_cons.store(u32::MAX - 5, Ordering::SeqCst);
        assert_eq!(c.write(b"metal: hello\n"), Ok(13));
        assert!(!c.drained());
        assert_eq!(drain(&c), b"metal: hello\n");
        assert!(c.drained());
    }

    #[test]
    fn a_full_ring_takes_only_what_fits() {
        let c = page();
        let big = [b'x'; 3000];
        assert_eq!(c.write(&big), Ok(OUT_SIZE as usize));
        assert_eq!(c.write(b"more"), Ok(0));
        assert_eq!(drain(&c).len(), OUT_SIZE as usize);
        assert_eq!(c.write(b"more"), Ok(4));
    }

    #[test]
    fn a_daemon_index_beyond_the_producer_is_an_error() {
        let c = page();
        c.out_prod.store(10, Ordering::SeqCst);
        c.out_cons.store(11, Ordering::SeqCst);
        assert_eq!(
            c.write(b"x"),
            Err(Corrupt {
                out_cons: 11,
                out_prod: 10
            })
        );
    }
}
