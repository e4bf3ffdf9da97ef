//! The receive half of a netif queue (rx-copy).
//!
//! Every ring slot owns one page of a pool granted writable to the backend at setup, and the
//! request posted in slot `i` always offers page `i` with id `i`: netif.h requires a backend to put
//! each response (and each extra-info slot) in the slot of the request it consumed, so the slot
//! index, not the id the backend writes back, tells us which page holds the data — as Linux netfront
//! does. A complete packet is handed to the upper layer as an [`RxPacket`]: a view of its fragments
//! in the pool pages, lent for the duration of the call (as XenNet indicates receive buffers to
//! NDIS), so the engine itself copies nothing. A slot is offered again only after the packet that
//! used it was handed over; refills are batched so that one publish covers many slots.
//!
//! A malformed packet (bad status or offset, too many slots, an extra we did not ask for) is
//! dropped and counted; a ring index out of range is a [`NetifError`] that ends the queue.

use alloc::vec::Vec;
use arrayvec::ArrayVec;
use core::mem::size_of;
use xenpv_abi::netif::{
    NetifExtraGso, NetifExtraHash, NetifExtraInfo, NetifRxRequest, NetifRxResponse,
    NETRXF_CSUM_BLANK, NETRXF_DATA_VALIDATED, NETRXF_EXTRA_INFO, NETRXF_MORE_DATA,
    XEN_NETIF_EXTRA_FLAG_MORE, XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_HASH,
    XEN_NETIF_NR_SLOTS_MIN,
};
use xenpv_abi::ring::{sring_entries, sring_entry_size};
use xenpv_abi::{GrantRef, PAGE_SIZE};
use zerocopy::{FromBytes, IntoBytes};

use super::packet::{Gso, GsoKind, HashKind, RssHash, RxChecksum, RxMeta};
use super::NetifError;
use crate::ring::{FrontRing, SharedRing};
use crate::shmem::SharedMem;

/// Most data slots a received packet may use (Linux netfront: XEN_NETIF_NR_SLOTS_MIN).
pub const MAX_RX_SLOTS: usize = XEN_NETIF_NR_SLOTS_MIN as usize;
/// Largest packet that fits in [`MAX_RX_SLOTS`] pages.
pub const MAX_RX_BYTES: usize = MAX_RX_SLOTS * PAGE_SIZE;

/// Slots of a one-page rx ring, and so pages in its pool.
pub fn pool_pages() -> usize {
    let entry = sring_entry_size(size_of::<NetifRxRequest>(), size_of::<NetifRxResponse>());
    sring_entries(PAGE_SIZE, entry) as usize
}

/// Which extra-info slots the frontend asked the backend for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxAccept {
    /// We advertised `feature-gso-tcpv4`/`-tcpv6`: large receives may come with a GSO extra.
    pub gso: bool,
    /// We enabled hashing on the ctrl ring: packets may come with a hash extra.
    pub hash: bool,
}

/// Why a received packet was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxDrop {
    /// The backend reported an error status for a fragment.
    Status(i16),
    /// A fragment lies outside its page.
    Offset {
        /// Offset the backend wrote.
        offset: u16,
        /// Length the backend wrote.
        len: u16,
    },
    /// The packet uses more than [`MAX_RX_SLOTS`] slots.
    TooManySlots,
    /// An extra-info slot of a type we did not ask for.
    UnexpectedExtra(u8),
    /// An extra-info slot with invalid contents.
    BadExtra(u8),
    /// An extra-info flag on a fragment other than the first.
    MisplacedExtra,
    /// A packet with no bytes.
    Empty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// The first fragment of a new packet.
    First,
    /// Extra-info slots; `then_data` says whether fragments follow them.
    Extra { then_data: bool },
    /// A further fragment.
    Data,
}

/// Where one fragment of a received packet lies in the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fragment {
    /// Byte offset in the pool (slot page plus the backend's offset, validated).
    at: usize,
    len: usize,
}

/// A received packet, lent to the upper layer for the duration of a delivery: its fragments stay
/// in the pool pages the backend wrote, which are offered to the backend again only afterwards.
///
/// The pages remain granted to the backend, so a hostile backend can still change the bytes
/// while they are read (never undefined behaviour: reads are atomic copies). Whoever checks the
/// contents and then acts on them copies them out once first, with [`copy_to`](Self::copy_to).
#[derive(Clone, Copy, Debug)]
pub struct RxPacket<'a> {
    pool: &'a SharedMem,
    fragments: &'a [Fragment],
    len: usize,
}

impl RxPacket<'_> {
    /// Length of the packet in bytes (never zero: empty packets are dropped).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false`; for symmetry with [`len`](Self::len).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of fragments (pages) the packet spans.
    pub fn fragments(&self) -> usize {
        self.fragments.len()
    }

    /// Copies the whole packet to the start of `dst`, returning its length.
    ///
    /// Panics if `dst` is shorter than [`len`](Self::len) (at most [`MAX_RX_BYTES`]).
    pub fn copy_to(&self, dst: &mut [u8]) -> usize {
        let mut pos = 0;
        for f in self.fragments {
            self.pool.read_data(f.at, &mut dst[pos..pos + f.len]);
            pos += f.len;
        }
        pos
    }
}

/// Reassembly state of the packet being received.
struct Partial {
    expect: Expect,
    len: usize,
    /// Responses consumed for this packet so far (fragments and extras): their slots hold its
    /// data and must not be offered again before it is delivered.
    consumed: u32,
    fragments: ArrayVec<Fragment, MAX_RX_SLOTS>,
    meta: RxMeta,
    drop: Option<RxDrop>,
}

impl Partial {
    fn new() -> Self {
        Self {
            expect: Expect::First,
            len: 0,
            consumed: 0,
            fragments: ArrayVec::new(),
            meta: RxMeta::default(),
            drop: None,
        }
    }

    fn fail(&mut self, why: RxDrop) {
        self.drop.get_or_insert(why);
    }
}

/// What one call to [`RxRing::poll`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxPoll {
    /// Packets delivered.
    pub packets: usize,
    /// Bytes delivered.
    pub bytes: usize,
    /// Packets dropped.
    pub dropped: usize,
    /// The last reason a packet was dropped.
    pub last_drop: Option<RxDrop>,
}

type RxFront = FrontRing<NetifRxRequest, NetifRxResponse, SharedRing>;

/// The receive ring of one queue and its buffer pool.
pub struct RxRing {
    ring: RxFront,
    pool: SharedMem,
    pool_grefs: Vec<GrantRef>,
    partial: Partial,
    accept: RxAccept,
    refill_batch: u32,
}

impl RxRing {
    /// Initialises the ring in `ring_mem` over `pool` (one page per slot, page `i` granted
    /// writable by `pool_grefs[i]`), and posts every slot. The caller publishes with
    /// [`flush`](Self::flush).
    pub fn new(
        ring_mem: SharedMem,
        pool: SharedMem,
        pool_grefs: Vec<GrantRef>,
        accept: RxAccept,
    ) -> Result<Self, NetifError> {
        let shared = SharedRing::new::<NetifRxRequest, NetifRxResponse>(ring_mem)
            .map_err(|_| NetifError::RingTooSmall)?;
        let ring = RxFront::init(shared);
        let size = ring.size();
        if pool_grefs.len() < size as usize || pool.len() < size as usize * PAGE_SIZE {
            return Err(NetifError::PoolTooSmall);
        }
        let mut rx = Self {
            ring,
            pool,
            pool_grefs,
            partial: Partial::new(),
            accept,
            // A quarter of the ring per publish; the rest stays posted, which always covers a
            // maximal packet (MAX_RX_SLOTS plus its extras).
            refill_batch: (size / 4).max(1),
        };
        rx.post(u32::MAX);
        Ok(rx)
    }

    /// Ring slots.
    pub fn size(&self) -> u32 {
        self.ring.size()
    }

    /// Slots currently offered to the backend.
    pub fn posted(&self) -> u32 {
        self.ring.outstanding()
    }

    /// Changes which extras are acceptable (hashing turned on or off on the ctrl ring).
    pub fn set_accept(&mut self, accept: RxAccept) {
        self.accept = accept;
    }

    /// Offers free slots again once a batch has accumulated; `true` when new requests were pushed.
    /// Slots of a packet still being reassembled stay back until it is delivered.
    pub fn refill(&mut self) -> bool {
        let free = self
            .ring
            .free_requests()
            .saturating_sub(self.partial.consumed);
        free >= self.refill_batch && self.post(free) > 0
    }

    /// Makes posted slots visible; `true` means the backend asked to be notified.
    pub fn flush(&mut self) -> bool {
        self.ring.publish()
    }

    fn post(&mut self, max: u32) -> u32 {
        let n = self.ring.free_requests().min(max);
        let mask = self.ring.size() - 1;
        for _ in 0..n {
            let slot = self.ring.req_prod_pvt() & mask;
            let req = NetifRxRequest {
                id: slot as u16,
                pad: 0,
                gref: self.pool_grefs[slot as usize],
            };
            self.ring.push(&req).expect("counted free requests");
        }
        n
    }

    /// Takes every response the backend has published, delivering each complete packet to
    /// `deliver` (its metadata and a view of its bytes), and re-arms the response event. Slots are
    /// offered again in batches once their packets were delivered.
    pub fn poll(
        &mut self,
        deliver: &mut impl FnMut(&RxMeta, &RxPacket<'_>),
    ) -> Result<RxPoll, NetifError> {
        let mut out = RxPoll::default();
        let mask = self.ring.size() - 1;
        loop {
            let mut slot = self.ring.rsp_cons() & mask;
            let Self {
                ring,
                pool,
                partial,
                accept,
                ..
            } = self;
            for rsp in ring.poll_responses()? {
                if let Some(result) = step(partial, *accept, slot, rsp) {
                    match result {
                        Ok(len) => {
                            let packet = RxPacket {
                                pool,
                                fragments: &partial.fragments,
                                len,
                            };
                            deliver(&partial.meta, &packet);
                            out.packets += 1;
                            out.bytes += len;
                        }
                        Err(why) => {
                            out.dropped += 1;
                            out.last_drop = Some(why);
                        }
                    }
                    *partial = Partial::new();
                }
                slot = (slot + 1) & mask;
            }
            self.refill();
            if !self.ring.final_check_for_responses()? {
                return Ok(out);
            }
        }
    }
}

/// Applies one response to the packet being reassembled; returns the finished packet's length, or
/// why it was dropped, when this response ends it.
fn step(
    p: &mut Partial,
    accept: RxAccept,
    slot: u32,
    rsp: NetifRxResponse,
) -> Option<Result<usize, RxDrop>> {
    p.consumed += 1;
    match p.expect {
        Expect::Extra { then_data } => {
            // The slot holds an extra-info structure instead of a response.
            let extra = NetifExtraInfo::read_from_bytes(&rsp.as_bytes()[..8]).expect("8 bytes");
            extra_info(p, accept, &extra);
            if extra.flags & XEN_NETIF_EXTRA_FLAG_MORE == 0 {
                p.expect = if then_data {
                    Expect::Data
                } else {
                    Expect::First
                };
            }
        }
        Expect::First | Expect::Data => {
            let first = p.expect == Expect::First;
            fragment(p, slot, &rsp, first);
            let more = rsp.flags & NETRXF_MORE_DATA != 0;
            if rsp.flags & NETRXF_EXTRA_INFO != 0 {
                if !first {
                    p.fail(RxDrop::MisplacedExtra);
                }
                p.expect = Expect::Extra { then_data: more };
            } else {
                p.expect = if more { Expect::Data } else { Expect::First };
            }
        }
    }
    if p.expect != Expect::First {
        return None;
    }
    Some(match p.drop {
        Some(why) => Err(why),
        None if p.len == 0 => Err(RxDrop::Empty),
        None => Ok(p.len),
    })
}

fn fragment(p: &mut Partial, slot: u32, rsp: &NetifRxResponse, first: bool) {
    if first {
        p.meta.checksum = if rsp.flags & NETRXF_CSUM_BLANK != 0 {
            RxChecksum::Blank
        } else if rsp.flags & NETRXF_DATA_VALIDATED != 0 {
            RxChecksum::Validated
        } else {
            RxChecksum::Unknown
        };
    }
    if p.drop.is_some() {
        return;
    }
    if p.fragments.is_full() {
        return p.fail(RxDrop::TooManySlots);
    }
    if rsp.status < 0 {
        return p.fail(RxDrop::Status(rsp.status));
    }
    let (offset, len) = (usize::from(rsp.offset), rsp.status as usize);
    if offset + len > PAGE_SIZE {
        return p.fail(RxDrop::Offset {
            offset: rsp.offset,
            len: rsp.status as u16,
        });
    }
    p.fragments.push(Fragment {
        at: slot as usize * PAGE_SIZE + offset,
        len,
    });
    p.len += len;
}

fn extra_info(p: &mut Partial, accept: RxAccept, extra: &NetifExtraInfo) {
    match extra.kind {
        XEN_NETIF_EXTRA_TYPE_GSO if accept.gso => {
            let gso = NetifExtraGso::read_from_bytes(&extra.payload).expect("6 bytes");
            match GsoKind::from_wire(gso.gso_type) {
                Some(kind) if gso.size != 0 => {
                    p.meta.gso = Some(Gso {
                        kind,
                        mss: gso.size,
                    })
                }
                _ => p.fail(RxDrop::BadExtra(extra.kind)),
            }
        }
        XEN_NETIF_EXTRA_TYPE_HASH if accept.hash => {
            let hash = NetifExtraHash::read_from_bytes(&extra.payload).expect("6 bytes");
            match HashKind::from_bit(hash.hash_type) {
                Some(kind) => {
                    p.meta.hash = Some(RssHash {
                        value: u32::from_le_bytes(hash.value),
                        kind,
                    })
                }
                None => p.fail(RxDrop::BadExtra(extra.kind)),
            }
        }
        kind => p.fail(RxDrop::UnexpectedExtra(kind)),
    }
}
