//! Where a netback delivers the packets its frontend sends: a [`Sink`]. A vif's own [`VifPort`] is
//! the sink of a loopback (packets come back to the same frontend); another vif's port connects two
//! frontends like a cable.

use std::collections::VecDeque;
use std::sync::Mutex;

use xenpv_datapath::netif::toeplitz::Steering;
use xenpv_datapath::netif::{RssHash, TxOffload};

use super::frame::{TxFrame, HEAD_LEN};

/// Receives packets a netback took from its frontend.
pub trait Sink: Send + Sync {
    /// Takes `frame` (with [`TxFrame::take`], leaving a spare buffer or nothing in its place),
    /// which keeps the sender's pages mapped (and its requests unanswered) until it is
    /// dropped. Returns `false` if the packet was dropped.
    fn deliver(&self, frame: &mut TxFrame, meta: TxMeta) -> bool;
}

/// What travels with a transmitted packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxMeta {
    /// The sender's offload requests.
    pub offload: TxOffload,
    /// The transmit queue it came from (a steering hint).
    pub queue: usize,
    /// The hash the sender attached (a hash extra), which picks the receiving queue when the
    /// receiver has not configured hashing of its own.
    pub hash: Option<RssHash>,
}

/// A packet waiting to be copied to a frontend.
pub(crate) struct Frame {
    pub data: TxFrame,
    pub offload: TxOffload,
    pub hash: Option<RssHash>,
}

struct PortState {
    backlog: Vec<VecDeque<Frame>>,
    /// Buffers of copied frames, reused so that a waiting packet costs no allocation once the
    /// backlog has grown.
    spare: Vec<Vec<u8>>,
    steering: Option<Steering>,
    /// The frontend's multicast list; netif.h lets it be amended at any time.
    multicast: Vec<[u8; 6]>,
    /// Whether the list filters (the frontend set request-multicast-control).
    filter_multicast: bool,
    dropped: u64,
}

/// The receive side of a vif: per-queue backlogs of packets for its frontend.
pub struct VifPort {
    state: Mutex<PortState>,
    limit: usize,
}

/// Packets each queue's backlog holds before new ones are dropped (a NIC's receive queue).
const BACKLOG: usize = 512;
/// Buffer capacity of a copied frame: the largest frame a frontend can send.
const FRAME_CAPACITY: usize = 65536;

impl VifPort {
    pub(crate) fn new(queues: usize, multicast_control: bool) -> Self {
        Self {
            state: Mutex::new(PortState {
                backlog: (0..queues.max(1))
                    .map(|_| VecDeque::with_capacity(BACKLOG))
                    .collect(),
                spare: Vec::new(),
                steering: None,
                multicast: Vec::new(),
                filter_multicast: multicast_control,
                dropped: 0,
            }),
            limit: BACKLOG,
        }
    }

    pub(crate) fn set_steering(&self, steering: Option<Steering>) {
        self.state.lock().unwrap().steering = steering;
    }

    pub(crate) fn set_filter_multicast(&self, on: bool) {
        self.state.lock().unwrap().filter_multicast = on;
    }

    /// Adds or removes a multicast address; `false` when the filter is full.
    pub(crate) fn multicast(&self, addr: [u8; 6], add: bool) -> bool {
        let mut s = self.state.lock().unwrap();
        let list = &mut s.multicast;
        if add {
            if !list.contains(&addr) {
                // Linux netback's XEN_NETBK_MCAST_MAX.
                if list.len() >= 64 {
                    return false;
                }
                list.push(addr);
            }
        } else {
            list.retain(|a| *a != addr);
        }
        true
    }

    pub(crate) fn take(&self, queue: usize) -> Option<Frame> {
        self.state
            .lock()
            .unwrap()
            .backlog
            .get_mut(queue)?
            .pop_front()
    }

    pub(crate) fn put_back(&self, queue: usize, frame: Frame) {
        self.state.lock().unwrap().backlog[queue].push_front(frame);
    }

    /// Copies the frames waiting in `queue`'s backlog out of their senders' pages, which lets
    /// the senders answer them: called when the receiving frontend has no buffers posted, so
    /// that no sender waits on it.
    pub(crate) fn orphan(&self, queue: usize) {
        let mut s = self.state.lock().unwrap();
        let PortState { backlog, spare, .. } = &mut *s;
        for frame in backlog[queue].iter_mut().filter(|f| f.data.is_held()) {
            let buf = spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(FRAME_CAPACITY));
            if let Some(buf) = frame.data.orphan(buf) {
                spare.push(buf);
            }
        }
    }

    /// Takes back the buffer of a copied frame once it was delivered or dropped.
    pub(crate) fn recycle(&self, frame: Frame) {
        if let Some(buf) = frame.data.into_buffer() {
            self.state.lock().unwrap().spare.push(buf);
        }
    }

    /// Packets dropped on arrival (full backlog, multicast filter).
    pub fn dropped(&self) -> u64 {
        self.state.lock().unwrap().dropped
    }

    /// Packets waiting in all backlogs.
    pub fn backlog(&self) -> usize {
        self.state
            .lock()
            .unwrap()
            .backlog
            .iter()
            .map(VecDeque::len)
            .sum()
    }
}

fn filtered_multicast(frame: &[u8], s: &PortState) -> bool {
    let Some(dst) = frame.get(..6).filter(|_| s.filter_multicast) else {
        return false;
    };
    let multicast = dst[0] & 1 != 0 && dst != [0xff; 6];
    multicast && !s.multicast.iter().any(|a| a == dst)
}

impl Sink for VifPort {
    fn deliver(&self, frame: &mut TxFrame, meta: TxMeta) -> bool {
        let mut s = self.state.lock().unwrap();
        // Read once, and only when a filter or steering looks at it: the sender may still
        // write its pages.
        let mut buf;
        let head = if s.filter_multicast || s.steering.is_some() {
            buf = [0u8; HEAD_LEN];
            frame.head(&mut buf)
        } else {
            &[]
        };
        if filtered_multicast(head, &s) {
            s.dropped += 1;
            return false;
        }
        let queues = s.backlog.len();
        let (queue, hash) = match &s.steering {
            Some(st) => {
                let (q, h) = st.select(head);
                (q.min(queues - 1), h)
            }
            // Linux picks the queue from the skb's hash (the sender's, netdev_pick_tx scaling it
            // to the queues) and otherwise from where the packet came; no hash extra goes to a
            // receiver that has not configured hashing.
            None => match meta.hash {
                Some(h) => (((u64::from(h.value) * queues as u64) >> 32) as usize, None),
                None => (meta.queue % queues, None),
            },
        };
        if s.backlog[queue].len() >= self.limit {
            s.dropped += 1;
            return false;
        }
        // Hand back a spare buffer for the sender's next copy; spares come back from delivered
        // frames, so a new one is only allocated while the backlog grows.
        let spare = s.spare.pop();
        s.backlog[queue].push_back(Frame {
            data: frame.take(spare),
            offload: meta.offload,
            hash,
        });
        true
    }
}
