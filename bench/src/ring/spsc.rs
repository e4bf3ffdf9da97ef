//! The ceiling: two rtrb single-producer single-consumer queues (requests one way, responses the
//! other), with a waiting side spinning on the queue itself.

use super::{request, request_sum, response, response_sum, Back, Front};
use core::sync::atomic::{AtomicBool, Ordering};
use rtrb::{Consumer, Producer, RingBuffer};
use xenpv_abi::netif::{NetifTxRequest, NetifTxResponse};

/// The frontend half.
pub struct SpscFront {
    requests: Producer<NetifTxRequest>,
    responses: Consumer<NetifTxResponse>,
    checksum: u64,
}

/// The backend half.
pub struct SpscBack {
    requests: Consumer<NetifTxRequest>,
    responses: Producer<NetifTxResponse>,
    checksum: u64,
}

/// Queues of `capacity` entries each way (256 = a one-page netif tx ring).
pub fn pair(capacity: usize) -> (SpscFront, SpscBack) {
    let (req_tx, req_rx) = RingBuffer::new(capacity);
    let (rsp_tx, rsp_rx) = RingBuffer::new(capacity);
    (
        SpscFront {
            requests: req_tx,
            responses: rsp_rx,
            checksum: 0,
        },
        SpscBack {
            requests: req_rx,
            responses: rsp_tx,
            checksum: 0,
        },
    )
}

impl Front for SpscFront {
    fn produce(&mut self, k: u32, seq: u32) -> u32 {
        let n = (k as usize).min(self.requests.slots());
        let chunk = self
            .requests
            .write_chunk_uninit(n)
            .expect("slots counted above");
        chunk.fill_from_iter((0..n as u32).map(|i| request(seq.wrapping_add(i)))) as u32
    }

    fn consume(&mut self, max: u32) -> u32 {
        let n = (max as usize).min(self.responses.slots());
        let chunk = self.responses.read_chunk(n).expect("slots counted above");
        self.checksum += chunk.into_iter().map(|rsp| response_sum(&rsp)).sum::<u64>();
        n as u32
    }

    fn final_check(&mut self) -> bool {
        !self.responses.is_empty()
    }

    fn wait(&mut self) {
        while self.responses.is_empty() {
            core::hint::spin_loop();
        }
    }

    fn checksum(&self) -> u64 {
        self.checksum
    }
}

impl Back for SpscBack {
    fn step(&mut self, max: u32) -> u32 {
        let n = (max as usize)
            .min(self.requests.slots())
            .min(self.responses.slots());
        let requests = self.requests.read_chunk(n).expect("slots counted above");
        let answers = self
            .responses
            .write_chunk_uninit(n)
            .expect("slots counted above");
        let mut sum = 0;
        answers.fill_from_iter(requests.into_iter().map(|req| {
            sum += request_sum(&req);
            response(&req)
        }));
        self.checksum += sum;
        n as u32
    }

    fn final_check(&mut self) -> bool {
        !self.requests.is_empty()
    }

    fn wait(&mut self, stop: &AtomicBool) -> bool {
        while self.requests.is_empty() {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            core::hint::spin_loop();
        }
        true
    }

    fn checksum(&self) -> u64 {
        self.checksum
    }
}
