//! Netback's transmit path: requests from the frontend, validated as xen-netback does.
//!
//! Fatal (the vif is disabled, as `xenvif_fatal_tx_err`): an extra-info chain or a packet's slots
//! running past what the frontend published, an extra of type NONE or beyond the last type, a
//! packet using `FATAL_SLOTS` or more continuation slots, a slot crossing its page, a GSO extra
//! with a zero size or unknown type. Dropped with error responses (`xenvif_tx_err`): more than
//! XEN_NETIF_NR_SLOTS_MIN continuation slots, a slot larger than what remains of the packet, a
//! first slot shorter than an Ethernet header, a grant that cannot be copied.

use xenpv_abi::netif::{
    NetifExtraGso, NetifExtraInfo, NetifExtraMcast, NetifTxRequest, NetifTxResponse,
    NETIF_RSP_ERROR, NETIF_RSP_NULL, NETIF_RSP_OKAY, NETTXF_CSUM_BLANK, NETTXF_DATA_VALIDATED,
    NETTXF_EXTRA_INFO, NETTXF_MORE_DATA, XEN_NETIF_EXTRA_FLAG_MORE, XEN_NETIF_EXTRA_TYPE_GSO,
    XEN_NETIF_EXTRA_TYPE_MAX, XEN_NETIF_EXTRA_TYPE_MCAST_ADD, XEN_NETIF_EXTRA_TYPE_MCAST_DEL,
    XEN_NETIF_NR_SLOTS_MIN,
};
use xenpv_abi::{EvtchnPort, PAGE_SIZE};
use xenpv_datapath::netif::{Gso, GsoKind, TxChecksum, TxOffload};
use zerocopy::{FromBytes, IntoBytes};

use super::port::{Sink, VifPort};
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
    frame: Vec<u8>,
}

fn as_extra(req: &NetifTxRequest) -> NetifExtraInfo {
    NetifExtraInfo::read_from_bytes(&req.as_bytes()[..8]).expect("8 bytes")
}

/// The answer for one packet: which requests get which status.
struct Answer {
    first: usize,
    extras: usize,
    end: usize,
    status: i16,
}

impl TxQueue {
    pub fn new(ring: TxBack, port: EvtchnPort, index: usize) -> Self {
        let size = ring.size() as usize;
        Self {
            ring,
            port,
            index,
            reqs: Vec::with_capacity(size),
            frame: Vec::with_capacity(65536),
        }
    }

    /// Takes every published request, validates and delivers each packet, answers, notifies.
    pub fn poll(
        &mut self,
        peer: &Peer,
        sink: &dyn Sink,
        port: &VifPort,
        stats: &mut VifStats,
    ) -> Result<usize, NetbackError> {
        let mut done = 0;
        loop {
            self.reqs.clear();
            self.reqs
                .extend(self.ring.poll_requests().map_err(NetbackError::Ring)?);
            let mut i = 0;
            while i < self.reqs.len() {
                let answer = self.packet(&mut i, peer, sink, port, stats)?;
                self.respond(&answer);
                done += 1;
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
        // Grant-copy the slots out of the frontend. The validated slot sizes add up to the first
        // slot's size, the packet's; the buffer is sized once, so a recycled buffer of the same
        // length is overwritten rather than zeroed first.
        self.frame.resize(usize::from(first.size), 0);
        let parts = std::iter::once((first, remaining)).chain(
            self.reqs[first_at + 1 + extras..*i]
                .iter()
                .map(|r| (*r, r.size)),
        );
        let mut at = 0;
        for (req, size) in parts {
            let end = at + usize::from(size);
            let copied = peer.host.copy_from_grant(
                peer.dom,
                peer.front,
                req.gref,
                usize::from(req.offset),
                &mut self.frame[at..end],
            );
            if copied.is_err() {
                stats.tx_errors += 1;
                return Ok(answer);
            }
            at = end;
        }
        debug_assert_eq!(at, self.frame.len(), "slot sizes add up to the packet's");
        let checksum = if first.flags & NETTXF_CSUM_BLANK != 0 {
            TxChecksum::Offload
        } else if first.flags & NETTXF_DATA_VALIDATED != 0 {
            TxChecksum::Validated
        } else {
            TxChecksum::Complete
        };
        answer.status = NETIF_RSP_OKAY;
        stats.tx_packets += 1;
        stats.tx_bytes += self.frame.len() as u64;
        // What happens beyond the vif (a full backlog, a filter) is not the frontend's error.
        sink.deliver(&mut self.frame, TxOffload { checksum, gso }, self.index);
        Ok(answer)
    }
}
