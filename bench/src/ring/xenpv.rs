//! xenpv's rings: `FrontRing` and `BackRing` on one shared page.

use super::{request, request_sum, response, response_sum, Back, EventFlag, Front};
use core::sync::atomic::AtomicBool;
use std::sync::Arc;
use xenpv_abi::netif::{NetifTxRequest, NetifTxResponse};
use xenpv_datapath::ring::{BackRing, FrontRing, SharedRing};
use xenpv_datapath::shmem::SharedPages;

/// The frontend half.
pub struct XenpvFront {
    ring: FrontRing<NetifTxRequest, NetifTxResponse, SharedRing>,
    to_back: Arc<EventFlag>,
    to_front: Arc<EventFlag>,
    checksum: u64,
}

/// The backend half.
pub struct XenpvBack {
    ring: BackRing<NetifTxRequest, NetifTxResponse, SharedRing>,
    to_back: Arc<EventFlag>,
    to_front: Arc<EventFlag>,
    checksum: u64,
}

/// A netif tx ring on a fresh page, initialised by the front and attached by the back.
pub fn pair() -> (XenpvFront, XenpvBack) {
    let page = SharedPages::new(1).expect("one page");
    let mem = SharedRing::new::<NetifTxRequest, NetifTxResponse>(page.mem()).expect("fits");
    let (to_back, to_front) = (
        Arc::new(EventFlag::default()),
        Arc::new(EventFlag::default()),
    );
    let front = XenpvFront {
        ring: FrontRing::init(mem.clone()),
        to_back: to_back.clone(),
        to_front: to_front.clone(),
        checksum: 0,
    };
    let back = XenpvBack {
        ring: BackRing::attach(mem),
        to_back,
        to_front,
        checksum: 0,
    };
    (front, back)
}

impl Front for XenpvFront {
    fn produce(&mut self, k: u32, seq: u32) -> u32 {
        let n = self
            .ring
            .push_many((0..k).map(|i| request(seq.wrapping_add(i))));
        if self.ring.publish() {
            self.to_back.notify();
        }
        n
    }

    fn consume(&mut self, max: u32) -> u32 {
        let (mut n, mut sum) = (0, 0);
        for rsp in self
            .ring
            .poll_responses()
            .expect("well-behaved backend")
            .take(max as usize)
        {
            sum += response_sum(&rsp);
            n += 1;
        }
        self.checksum += sum;
        n
    }

    fn final_check(&mut self) -> bool {
        self.ring
            .final_check_for_responses()
            .expect("well-behaved backend")
    }

    fn wait(&mut self) {
        self.to_front.wait(None);
    }

    fn checksum(&self) -> u64 {
        self.checksum
    }
}

impl Back for XenpvBack {
    fn step(&mut self, max: u32) -> u32 {
        let mut sum = 0;
        let n = self
            .ring
            .answer_requests(max, |req| {
                sum += request_sum(&req);
                response(&req)
            })
            .expect("well-behaved frontend");
        self.checksum += sum;
        if self.ring.publish() {
            self.to_front.notify();
        }
        n
    }

    fn final_check(&mut self) -> bool {
        self.ring
            .final_check_for_requests()
            .expect("well-behaved frontend")
    }

    fn wait(&mut self, stop: &AtomicBool) -> bool {
        self.to_back.wait(Some(stop))
    }

    fn checksum(&self) -> u64 {
        self.checksum
    }
}
