//! The ring benchmark's harness: a frontend on the calling thread streams netif tx requests to a
//! backend thread and takes its responses back, in batches, through one of three transports
//! behind the same two traits:
//!
//! - [`xenpv`]: xenpv's `FrontRing`/`BackRing` over a one-page `SharedRing`;
//! - [`ringh`]: Xen's io/ring.h macros in C (csrc/ringh.c), one FFI call per batch;
//! - [`spsc`]: two rtrb SPSC queues, the ceiling for a shared-memory transport.
//!
//! Notification is an event flag the other side polls (an event channel without the syscall);
//! a side waits on it only after its final check found no work. The backend polls a few times
//! before that final check (as a busy-polling driver does), because the final check writes the
//! shared event index and would otherwise steal the header cache line from a producer that is
//! about to publish; every transport runs under this same policy. Every element gets the same
//! work everywhere: the front writes an id and payload, the back reads and checksums them and
//! answers with the id, the front checksums the answers.

pub mod ringh;
pub mod spsc;
pub mod xenpv;

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use crossbeam_utils::CachePadded;
use std::sync::Arc;
use std::thread::JoinHandle;
use xenpv_abi::netif::{NetifTxRequest, NetifTxResponse, NETIF_RSP_OKAY};

/// Most entries a side handles per batch.
pub const MAX_BATCH: u32 = 64;

/// Empty polls before the backend runs its final check and waits.
const IDLE_POLLS: u32 = 64;

/// The request with sequence number `seq`: the id and the payload fields all derive from it.
pub fn request(seq: u32) -> NetifTxRequest {
    NetifTxRequest {
        gref: seq,
        offset: (seq & 0xfff) as u16,
        flags: 0,
        id: seq as u16,
        size: 60 + (seq & 0x3ff) as u16,
    }
}

/// What the backend adds to its checksum for a request (the C side computes the same).
pub fn request_sum(r: &NetifTxRequest) -> u64 {
    u64::from(r.gref)
        + u64::from(r.offset)
        + u64::from(r.flags)
        + u64::from(r.id)
        + u64::from(r.size)
}

/// The backend's answer to `r`.
pub fn response(r: &NetifTxRequest) -> NetifTxResponse {
    NetifTxResponse {
        id: r.id,
        status: NETIF_RSP_OKAY,
    }
}

/// What the frontend adds to its checksum for a response.
pub fn response_sum(r: &NetifTxResponse) -> u64 {
    u64::from(r.id) + u64::from(r.status as u16)
}

/// An event channel reduced to a flag: `notify` sets it, `wait` spins until it is set and
/// clears it.
#[derive(Default)]
pub struct EventFlag(CachePadded<AtomicU32>);

impl EventFlag {
    /// Signals the other side.
    pub fn notify(&self) {
        self.0.store(1, Ordering::Release)
    }

    /// Waits for a signal; gives up (returning false) once `stop` is set.
    pub fn wait(&self, stop: Option<&AtomicBool>) -> bool {
        loop {
            if self.0.load(Ordering::Relaxed) != 0 && self.0.swap(0, Ordering::Acquire) != 0 {
                return true;
            }
            if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                return false;
            }
            core::hint::spin_loop();
        }
    }

    /// The flag as a C `int *`, for the ring.h baseline.
    pub fn as_c_int(&self) -> *mut i32 {
        self.0.as_ptr().cast()
    }
}

/// The requesting side of a transport.
pub trait Front {
    /// Pushes up to `k` requests numbered `seq, seq + 1, ...` (fewer if the ring is full),
    /// publishes them and notifies the backend if it asked. Returns how many were pushed.
    fn produce(&mut self, k: u32, seq: u32) -> u32;
    /// Consumes up to `max` responses. Returns how many.
    fn consume(&mut self, max: u32) -> u32;
    /// Final check before waiting: true if responses are pending after all.
    fn final_check(&mut self) -> bool;
    /// Waits until the backend notifies.
    fn wait(&mut self);
    /// Sum over the responses consumed.
    fn checksum(&self) -> u64;
}

/// The answering side of a transport.
pub trait Back: Send + 'static {
    /// Consumes up to `max` requests, answers each, publishes the answers and notifies the
    /// frontend if it asked. Returns how many requests were handled.
    fn step(&mut self, max: u32) -> u32;
    /// Final check before waiting: true if requests are pending after all.
    fn final_check(&mut self) -> bool;
    /// Waits until the frontend notifies; false once `stop` is set.
    fn wait(&mut self, stop: &AtomicBool) -> bool;
    /// Sum over the requests handled.
    fn checksum(&self) -> u64;
}

/// Pins the calling thread to `cpu` if the machine has it; the benchmark runs either way.
pub fn pin_to_cpu(cpu: usize) {
    // SAFETY: cpu_set_t is plain data for which all-zero is the empty set; CPU_SET writes inside
    // it (it ignores out-of-range CPUs); sched_setaffinity(0, ..) only reads the set.
    unsafe {
        let mut set: libc::cpu_set_t = core::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// A frontend on this thread connected to a backend running on its own thread.
pub struct Session<F: Front, B: Back> {
    front: F,
    batch: u32,
    seq: u32,
    stop: Arc<AtomicBool>,
    back: Option<JoinHandle<B>>,
}

impl<F: Front, B: Back> Session<F, B> {
    /// Starts `back` on a thread pinned to CPU 1 and pins this thread to CPU 0. Both sides handle
    /// at most `batch` entries per step.
    pub fn start(front: F, mut back: B, batch: u32) -> Self {
        assert!((1..=MAX_BATCH).contains(&batch));
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = std::thread::spawn(move || {
            pin_to_cpu(1);
            let mut idle = 0;
            loop {
                // See the module comment: poll IDLE_POLLS times before arming the event.
                if back.step(batch) != 0 {
                    idle = 0;
                    continue;
                }
                idle += 1;
                if idle < IDLE_POLLS {
                    core::hint::spin_loop();
                    continue;
                }
                idle = 0;
                if !back.final_check() && !back.wait(&stopped) {
                    return back;
                }
            }
        });
        pin_to_cpu(0);
        Self {
            front,
            batch,
            seq: 0,
            stop,
            back: Some(handle),
        }
    }

    /// Sends `n` requests and waits for all `n` responses.
    pub fn stream(&mut self, n: u32) {
        let (mut sent, mut done) = (0, 0);
        while done < n {
            let k = self.batch.min(n - sent);
            let pushed = if k > 0 {
                self.front.produce(k, self.seq.wrapping_add(sent))
            } else {
                0
            };
            sent += pushed;
            let got = self.front.consume(self.batch);
            done += got;
            if pushed == 0 && got == 0 && !self.front.final_check() {
                self.front.wait();
            }
        }
        self.seq = self.seq.wrapping_add(n);
    }

    /// Stops the backend and returns (front checksum, back checksum).
    pub fn finish(mut self) -> (u64, u64) {
        let back = self.stop_back().expect("backend running until finish");
        (self.front.checksum(), back.checksum())
    }

    fn stop_back(&mut self) -> Option<B> {
        self.stop.store(true, Ordering::Relaxed);
        let handle = self.back.take()?;
        Some(handle.join().expect("backend thread panicked"))
    }
}

impl<F: Front, B: Back> Drop for Session<F, B> {
    fn drop(&mut self) {
        // A session abandoned by a panic must not leave its backend spinning.
        self.stop_back();
    }
}
