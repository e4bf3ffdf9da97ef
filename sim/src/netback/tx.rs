//! Netback's transmit path: requests from the frontend, validated as xen-netback does.
//!
//! Fatal (the vif is disabled, as `xenvif_fatal_tx_err`): an extra-info chain or a packet's slots
//! running past what the frontend published, an extra of type NONE or beyond the last type, a
//! packet using `FATAL_SLOTS` or more continuation slots, a slot crossing its page, a GSO extra
//! with a zero size or unknown type. Dropped with error responses (`xenvif_tx_err`): more than
//! XEN_NETIF_NR_SLOTS_MIN continuation slots, a slot larger than what remains of the packet, a
//! first slot shorter than an Ethernet header, a grant that cannot be mapped.
//!
//! A valid packet's pages are mapped and handed to the sink as a [`TxFrame`]; its requests are
//! answered once the frame is dropped (copied to its receiver or dropped there), as Linux
//! netback answers mapped requests from its zero-copy callback.

use arrayvec::ArrayVec;
use xenpv_abi::netif::{
    NetifExtraGso, NetifExtraHash, NetifExtraInfo, NetifExtraMcast, NetifTxRequest,
    NetifTxResponse, NETIF_RSP_ERROR, NETIF_RSP_NULL, NETIF_RSP_OKAY, NETTXF_CSUM_BLANK,
    NETTXF_DATA_VALIDATED, NETTXF_EXTRA_INFO, NETTXF_MORE_DATA, XEN_NETIF_EXTRA_FLAG_MORE,
    XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_HASH, XEN_NETIF_EXTRA_TYPE_MAX,
    XEN_NETIF_EXTRA_TYPE_MCAST_ADD, XEN_NETIF_EXTRA_TYPE_MCAST_DEL, XEN_NETIF_NR_SLOTS_MIN,
};
use xenpv_abi::{EvtchnPort, PAGE_SIZE};
use xenpv_datapath::netif::{Gso, GsoKind, HashKind, RssHash, TxChecksum, TxOffload};
use xenpv_datapath::queue::mpsc;
use zerocopy::{FromBytes, IntoBytes};

use super::frame::{Held, TxFrame};
use super::port::{Sink, TxMeta, VifPort};
use super::{NetbackError, Peer, TxBack, VifStats};

/// Linux netback's fatal_skb_slots default (FATAL_SKB_SLOTS_DEFAULT).
pub const FATAL_SLOTS: usize = 20;
const ETH_HLEN: usize = 14;

/// A transmit request that makes netback disable the vif.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxFault {
    /// An extra-info chain runs past the requests published ("Missing extra info").
    MissingExtra,
    /// An extra of type NONE or beyond the last type ("Invalid extra type").
    ExtraType(u8),
    /// A packet's continuation slots run past the requests published.
    MissingSlots,
    /// A packet uses this many continuation slots ("Malicious frontend using %d slots").
    TooManySlots(usize),
    /// A slot crosses its page ("Cross page boundary").
    CrossPage {
        /// The slot's offset.
        offset: u16,
        /// Its size.
        size: u16,
    },
    /// A GSO extra with a zero segment size.
    GsoZeroSize,
    /// A GSO extra of unknown type.
    GsoType(u8),
}

pub(crate) struct TxQueue {
    ring: TxBack,
    port: EvtchnPort,
    index: usize,
    /// One published batch, copied out of the ring once.
    reqs: Vec<NetifTxRequest>,
    /// Records for held packets, one per ring slot (each held packet has a request
    /// unanswered, so they never run out); a dropped frame sends its record back through
    /// `home`, whose room is one per record, and the queue answers its requests.
    // Boxed on purpose: a record travels with its frame as one pointer.
    #[allow(clippy::vec_box)]
    spare: Vec<Box<Held>>,
    home: mpsc::Producer<Box<Held>>,
    returned: mpsc::Consumer<Box<Held>>,
    /// The buffer the next short packet is copied into.
    buf: Option<Vec<u8>>,
}

/// Packets up to this size are copied and answered at once rather than held: for them a copy
/// costs less than holding the pages and answering later (the netif bench's 1500-byte case).
const COPY_MAX: usize = 2048;

/// The hash a frontend attached to a packet, as netback sets it on the skb: a type netif.h does
/// not define is ignored, not an error (its value is read as the native 32 bits it was written as).
fn sender_hash(extra: &NetifExtraInfo) -> Option<RssHash> {
    let h = NetifExtraHash::read_from_bytes(&extra.payload).expect("6 bytes");
    Some(RssHash {
        value: u32::from_le_bytes(h.value),
        kind: HashKind::from_bit(h.hash_type)?,
    })
}

fn as_extra(req: &NetifTxRequest) -> NetifExtraInfo {
    NetifExtraInfo::read_from_bytes(&req.as_bytes()[..8]).expect("8 bytes")
}

/// The answer for one packet: which requests get which status, now or once its frame is dropped.
struct Answer {
    first: usize,
    extras: usize,
    end: usize,
    status: i16,
    deferred: bool,
}

impl TxQueue {
    pub fn new(ring: TxBack, port: EvtchnPort, index: usize, peer: &Peer) -> Self {
        let size = ring.size() as usize;
        let (home, returned) = mpsc::channel(size).expect("a ring's size is a valid capacity");
        let record = || {
            Box::new(Held {
                pages: peer.host.held_pages(peer.dom, peer.front),
                segs: ArrayVec::new(),
                ids: ArrayVec::new(),
                extras: 0,
            })
        };
        Self {
            ring,
            port,
            index,
            reqs: Vec::with_capacity(size),
            spare: (0..size).map(|_| record()).collect(),
            home,
            returned,
            buf: Some(Vec::with_capacity(COPY_MAX)),
        }
    }

    /// Answers the packets whose frames were dropped since the last call; notifies if the
    /// frontend asked. Returns how many packets were answered.
    pub fn complete(&mut self, peer: &Peer) -> usize {
        let mut n = 0;
        while let Some(held) = self.returned.pop() {
            let push = |ring: &mut TxBack, id, status| {
                ring.push(&NetifTxResponse { id, status })
                    .expect("one response per consumed request");
            };
            push(&mut self.ring, held.ids[0], NETIF_RSP_OKAY);
            for _ in 0..held.extras {
                push(&mut self.ring, 0, NETIF_RSP_NULL);
            }
            for &id in &held.ids[1..] {
                push(&mut self.ring, id, NETIF_RSP_OKAY);
            }
            self.spare.push(held);
            n += 1;
        }
        if n > 0 && self.ring.publish() {
            peer.notify(self.port);
        }
        n
    }

    /// Takes every published request, validates and delivers each packet, answers, notifies.
    pub fn poll(
        &mut self,
        peer: &Peer,
        sink: &dyn Sink,
        port: &VifPort,
        stats: &mut VifStats,
    ) -> Result<usize, NetbackError> {
        let mut done = self.complete(peer);
        loop {
            self.reqs.clear();
            self.reqs
                .extend(self.ring.poll_requests().map_err(NetbackError::Ring)?);
            let mut i = 0;
            while i < self.reqs.len() {
                let answer = self.packet(&mut i, peer, sink, port, stats)?;
                if !answer.deferred {
                    self.respond(&answer);
                    done += 1;
                }
            }
            if self.ring.publish() {
                peer.notify(self.port);
            }
            if !self
                .ring
                .final_check_for_requests()
                .map_err(NetbackError::Ring)?
            {
                return Ok(done);
            }
        }
    }

    fn respond(&mut self, a: &Answer) {
        let ids = |r: &NetifTxRequest| r.id;
        let push = |ring: &mut TxBack, id, status| {
            ring.push(&NetifTxResponse { id, status })
                .expect("one response per consumed request");
        };
        push(&mut self.ring, ids(&self.reqs[a.first]), a.status);
        for _ in 0..a.extras {
            push(&mut self.ring, 0, NETIF_RSP_NULL);
        }
        for k in a.first + 1 + a.extras..a.end {
            push(&mut self.ring, ids(&self.reqs[k]), a.status);
        }
    }

    /// Validates the packet starting at `reqs[*i]`, advancing `*i` past it.
    fn packet(
        &mut self,
        i: &mut usize,
        peer: &Peer,
        sink: &dyn Sink,
        port: &VifPort,
        stats: &mut VifStats,
    ) -> Result<Answer, NetbackError> {
        let fatal = |f| Err(NetbackError::Tx(f));
        let first_at = *i;
        let first = self.reqs[first_at];
        *i += 1;
        let mut gso = None;
        let mut hash = None;
        let mut mcast = None;
        let mut extras = 0;
        if first.flags & NETTXF_EXTRA_INFO != 0 {
            loop {
                let Some(req) = self.reqs.get(*i) else {
                    return fatal(TxFault::MissingExtra);
                };
                let extra = as_extra(req);
                *i += 1;
                extras += 1;
                if extra.kind == 0 || extra.kind >= XEN_NETIF_EXTRA_TYPE_MAX {
                    return fatal(TxFault::ExtraType(extra.kind));
                }
                match extra.kind {
                    XEN_NETIF_EXTRA_TYPE_GSO => gso = Some(extra),
                    XEN_NETIF_EXTRA_TYPE_HASH => hash = sender_hash(&extra),
                    XEN_NETIF_EXTRA_TYPE_MCAST_ADD | XEN_NETIF_EXTRA_TYPE_MCAST_DEL => {
                        mcast = Some(extra)
                    }
                    _ => {}
                }
                if extra.flags & XEN_NETIF_EXTRA_FLAG_MORE == 0 {
                    break;
                }
            }
        }
        if let Some(extra) = mcast {
            let m = NetifExtraMcast::read_from_bytes(&extra.payload).expect("6 bytes");
            let add = extra.kind == XEN_NETIF_EXTRA_TYPE_MCAST_ADD;
            let ok = port.multicast(m.addr, add);
            stats.mcast_ops += 1;
            return Ok(Answer {
                first: first_at,
                extras,
                end: *i,
                status: if ok { NETIF_RSP_OKAY } else { NETIF_RSP_ERROR },
                deferred: false,
            });
        }
        // xenvif_count_requests: the continuation slots.
        let mut remaining = first.size;
        let mut drop = false;
        let mut slots = 0;
        let mut more = first.flags & NETTXF_MORE_DATA != 0;
        while more {
            let Some(&req) = self.reqs.get(*i) else {
                return fatal(TxFault::MissingSlots);
            };
            if slots >= FATAL_SLOTS {
                return fatal(TxFault::TooManySlots(slots));
            }
            if slots >= XEN_NETIF_NR_SLOTS_MIN as usize || req.size > remaining {
                drop = true;
            }
            remaining = remaining.wrapping_sub(req.size);
            slots += 1;
            *i += 1;
            if usize::from(req.offset) + usize::from(req.size) > PAGE_SIZE {
                return fatal(TxFault::CrossPage {
                    offset: req.offset,
                    size: req.size,
                });
            }
            more = req.flags & NETTXF_MORE_DATA != 0;
        }
        let mut answer = Answer {
            first: first_at,
            extras,
            end: *i,
            status: NETIF_RSP_ERROR,
            deferred: false,
        };
        if drop || usize::from(remaining) < ETH_HLEN {
            stats.tx_errors += 1;
            return Ok(answer);
        }
        if usize::from(first.offset) + usize::from(remaining) > PAGE_SIZE {
            return fatal(TxFault::CrossPage {
                offset: first.offset,
                size: remaining,
            });
        }
        let gso = match gso {
            None => None,
            Some(extra) => {
                let g = NetifExtraGso::read_from_bytes(&extra.payload).expect("6 bytes");
                if g.size == 0 {
                    return fatal(TxFault::GsoZeroSize);
                }
                let Some(kind) = GsoKind::from_wire(g.gso_type) else {
                    return fatal(TxFault::GsoType(g.gso_type));
                };
                Some(Gso { kind, mss: g.size })
            }
        };
        let followers = &self.reqs[first_at + 1 + extras..*i];
        let slots = std::iter::once((first.gref, first.offset, remaining))
            .chain(followers.iter().map(|r| (r.gref, r.offset, r.size)));
        let mut frame = if usize::from(first.size) <= COPY_MAX {
            // A short packet is grant-copied into the backend's memory and answered at once
            // (Linux copies the first XEN_NETBACK_TX_COPY_LEN bytes and maps only the rest).
            let mut buf = self.buf.take().unwrap_or_default();
            buf.resize(usize::from(first.size), 0);
            let mut at = 0;
            for (gref, offset, size) in slots {
                let end = at + usize::from(size);
                let dst = &mut buf[at..end];
                let copied =
                    peer.host
                        .copy_from_grant(peer.dom, peer.front, gref, usize::from(offset), dst);
                if copied.is_err() {
                    self.buf = Some(buf);
                    stats.tx_errors += 1;
                    return Ok(answer);
                }
                at = end;
            }
            answer.status = NETIF_RSP_OKAY;
            TxFrame::copied(buf)
        } else {
            // Map the slots' pages (Linux maps what lies beyond the header it copies; here the
            // receiver copies everything straight from these pages), and answer once the frame
            // is dropped. The validated slot sizes add up to the first slot's size.
            // Every held packet has one of the ring's requests unanswered, and there is a
            // record per ring slot.
            let mut held = self.spare.pop().expect("a record per ring slot");
            let grefs = slots.clone().map(|(gref, _, _)| gref);
            if held.pages.hold(grefs, false).is_err() {
                self.spare.push(held);
                stats.tx_errors += 1;
                return Ok(answer);
            }
            held.segs.clear();
            held.segs
                .extend(slots.map(|(_, offset, size)| (offset, size)));
            held.ids.clear();
            held.ids.push(first.id);
            held.ids.extend(followers.iter().map(|r| r.id));
            held.extras = extras;
            answer.deferred = true;
            TxFrame::held(held, self.home.clone())
        };
        let checksum = if first.flags & NETTXF_CSUM_BLANK != 0 {
            TxChecksum::Offload
        } else if first.flags & NETTXF_DATA_VALIDATED != 0 {
            TxChecksum::Validated
        } else {
            TxChecksum::Complete
        };
        stats.tx_packets += 1;
        stats.tx_bytes += frame.len() as u64;
        // What happens beyond the vif (a full backlog, a filter) is not the frontend's error:
        // its requests are answered with OKAY when the frame is dropped, wherever that is.
        let meta = TxMeta {
            offload: TxOffload { checksum, gso },
            queue: self.index,
            hash,
        };
        sink.deliver(&mut frame, meta);
        // The sink left a spare buffer (or nothing) in exchange.
        self.buf = frame.into_buffer();
        Ok(answer)
    }
}
