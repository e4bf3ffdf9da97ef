//! Netback's receive path: packets from the vif's backlog, grant-copied (straight from the
//! sender's held pages, one batch of copy operations per packet) into the buffers the frontend
//! posted, one page per slot, with GSO and hash extras in slots of their own (each
//! consuming a posted request, whose slot it reuses, as netif.h requires).

use arrayvec::ArrayVec;
use xenpv_abi::netif::{
    NetifExtraGso, NetifExtraHash, NetifExtraInfo, NetifRxRequest, NetifRxResponse,
    NETRXF_CSUM_BLANK, NETRXF_DATA_VALIDATED, NETRXF_EXTRA_INFO, NETRXF_MORE_DATA,
    XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ, XEN_NETIF_EXTRA_FLAG_MORE, XEN_NETIF_EXTRA_TYPE_GSO,
    XEN_NETIF_EXTRA_TYPE_HASH,
};
use xenpv_abi::{EvtchnPort, PAGE_SIZE};
use xenpv_control::vif::FrontendVif;
use xenpv_datapath::netif::{GsoKind, TxChecksum};
use zerocopy::{FromBytes, IntoBytes};

use super::frame::TxFrame;
use super::port::{Frame, VifPort};
use super::{NetbackError, Peer, RxBack, VifStats};
use crate::host::{CopyOp, MAX_HELD};
use xenpv_datapath::ring::{Index, RingMemory};

/// Most slots one packet takes: a 64 KiB frame in pages plus two extras.
const MAX_SLOTS: usize = 16 + 1 + 2;
/// Most copy operations one packet takes: a piece per sender page and per receiver page.
const MAX_OPS: usize = MAX_HELD + MAX_SLOTS;

/// What the frontend can receive.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RxCaps {
    sg: bool,
    gso_tcpv4: bool,
    gso_tcpv6: bool,
}

impl RxCaps {
    pub fn from_frontend(front: &FrontendVif) -> Self {
        Self {
            sg: front.sg,
            gso_tcpv4: front.gso_tcpv4,
            gso_tcpv6: front.gso_tcpv6,
        }
    }
}

pub(crate) struct RxQueue {
    ring: RxBack,
    port: EvtchnPort,
    index: usize,
    caps: RxCaps,
}

fn extra_slot(kind: u8, more: bool, payload: &[u8]) -> NetifRxResponse {
    let mut extra = NetifExtraInfo {
        kind,
        flags: if more { XEN_NETIF_EXTRA_FLAG_MORE } else { 0 },
        payload: [0; 6],
    };
    extra.payload[..payload.len()].copy_from_slice(payload);
    NetifRxResponse::read_from_bytes(extra.as_bytes()).expect("same size")
}

impl RxQueue {
    pub fn new(ring: RxBack, port: EvtchnPort, index: usize, caps: RxCaps) -> Self {
        Self {
            ring,
            port,
            index,
            caps,
        }
    }

    /// Copies backlog packets to the frontend while it has buffers posted. When a packet waits
    /// for buffers, asks for a kick on the next posted request and looks again, so that buffers
    /// posted meanwhile are never missed (xenvif_rx_ring_slots_available).
    pub fn poll(
        &mut self,
        peer: &Peer,
        port: &VifPort,
        stats: &mut VifStats,
    ) -> Result<usize, NetbackError> {
        let mut done = 0;
        loop {
            let waiting = self.copy_backlog(peer, port, stats, &mut done)?;
            if self.ring.publish() {
                peer.notify(self.port);
            }
            match waiting {
                Some(needed) if self.arm_request_event(needed) => {}
                _ => return Ok(done),
            }
        }
    }

    /// Copies packets until the backlog is empty (`None`) or a packet needs more buffers than are
    /// posted (`Some(buffers it needs)`).
    fn copy_backlog(
        &mut self,
        peer: &Peer,
        port: &VifPort,
        stats: &mut VifStats,
        done: &mut usize,
    ) -> Result<Option<usize>, NetbackError> {
        while let Some(frame) = port.take(self.index) {
            let gso = frame.offload.gso.filter(|g| match g.kind {
                GsoKind::TcpV4 => self.caps.gso_tcpv4,
                GsoKind::TcpV6 => self.caps.gso_tcpv6,
            });
            let data_slots = frame.data.len().div_ceil(PAGE_SIZE).max(1);
            let unsendable =
                (frame.offload.gso.is_some() && gso.is_none()) || (data_slots > 1 && !self.caps.sg);
            if unsendable {
                // Linux would segment in software; the sim counts the packet as lost instead.
                stats.rx_dropped += 1;
                port.recycle(frame);
                continue;
            }
            let extras = usize::from(gso.is_some()) + usize::from(frame.hash.is_some());
            let needed = data_slots + extras;
            let mut reqs: ArrayVec<NetifRxRequest, MAX_SLOTS> = ArrayVec::new();
            {
                let mut batch = self.ring.poll_requests().map_err(NetbackError::Ring)?;
                if batch.len() < needed {
                    drop(batch);
                    port.put_back(self.index, frame);
                    port.orphan(self.index);
                    return Ok(Some(needed));
                }
                reqs.extend(batch.by_ref().take(needed));
            }
            self.write(peer, &frame, gso, &reqs, data_slots, stats);
            port.recycle(frame);
            *done += 1;
        }
        Ok(None)
    }

    /// Before sleeping on a packet that needs `needed` buffers: if enough are posted by now, look
    /// again (`true`); otherwise set req_event just past the requests published so far and look
    /// again only if more were published meanwhile (xenvif_rx_ring_slots_available). The raw
    /// req_prod is only compared, never used as an index: the next poll validates it.
    fn arm_request_event(&mut self, needed: usize) -> bool {
        let cons = self.ring.req_cons();
        let mem = self.ring.mem();
        let prod = mem.load_index(Index::ReqProd);
        if prod.wrapping_sub(cons) as usize >= needed {
            return true;
        }
        mem.store_index(Index::ReqEvent, prod.wrapping_add(1));
        mem.fence();
        mem.load_index(Index::ReqProd) != prod
    }

    fn write(
        &mut self,
        peer: &Peer,
        frame: &Frame,
        gso: Option<xenpv_datapath::netif::Gso>,
        reqs: &[NetifRxRequest],
        data_slots: usize,
        stats: &mut VifStats,
    ) {
        let chunk = |k: usize| {
            let start = k * PAGE_SIZE;
            (start, (start + PAGE_SIZE).min(frame.data.len()))
        };
        let mut flags = match (frame.offload.checksum, frame.offload.gso) {
            (TxChecksum::Offload, _) | (_, Some(_)) => NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED,
            (TxChecksum::Validated, None) => NETRXF_DATA_VALIDATED,
            (TxChecksum::Complete, None) => 0,
        };
        let mut extras: ArrayVec<NetifRxResponse, 2> = ArrayVec::new();
        let n_extras = usize::from(gso.is_some()) + usize::from(frame.hash.is_some());
        if let Some(g) = gso {
            let payload = NetifExtraGso {
                size: g.mss,
                gso_type: g.kind.wire(),
                pad: 0,
                features: 0,
            };
            extras.push(extra_slot(
                XEN_NETIF_EXTRA_TYPE_GSO,
                n_extras > 1,
                payload.as_bytes(),
            ));
        }
        if let Some(h) = frame.hash {
            let payload = NetifExtraHash {
                hash_type: h.kind.bit() as u8,
                algorithm: XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ as u8,
                value: h.value.to_le_bytes(),
            };
            extras.push(extra_slot(
                XEN_NETIF_EXTRA_TYPE_HASH,
                false,
                payload.as_bytes(),
            ));
        }
        if !extras.is_empty() {
            flags |= NETRXF_EXTRA_INFO;
        }
        // Data slot k goes in the request after the extras' slots (k > 0) or the first (k = 0).
        let data_req = |k: usize| {
            if k == 0 {
                reqs[0]
            } else {
                reqs[k + extras.len()]
            }
        };
        let failed = match frame.data.bytes() {
            // A copied packet: one operation per receiver page, each from a slice.
            Some(bytes) => bytes.chunks(PAGE_SIZE).enumerate().any(|(k, chunk)| {
                peer.host
                    .copy_to_grant(peer.dom, peer.front, data_req(k).gref, 0, chunk)
                    .is_err()
            }),
            None => copy_held(peer, &frame.data, &data_req),
        };
        for k in 0..data_slots {
            let req = data_req(k);
            let more = if k + 1 < data_slots {
                NETRXF_MORE_DATA
            } else {
                0
            };
            let status = if failed {
                xenpv_abi::netif::NETIF_RSP_ERROR
            } else {
                (chunk(k).1 - chunk(k).0) as i16
            };
            let rsp = NetifRxResponse {
                id: req.id,
                offset: 0,
                flags: if k == 0 { flags | more } else { more },
                status,
            };
            self.ring.push(&rsp).expect("one response per request");
            if k == 0 {
                for e in &extras {
                    self.ring.push(e).expect("one response per request");
                }
            }
        }
        if failed {
            stats.rx_dropped += 1;
        } else {
            stats.rx_packets += 1;
            stats.rx_bytes += frame.data.len() as u64;
        }
    }
}

/// Copies a held packet grant to grant into the receiver's pages (`data_req(k)` offers page
/// `k`) in one batch; `true` if a copy failed.
fn copy_held(peer: &Peer, frame: &TxFrame, data_req: &dyn Fn(usize) -> NetifRxRequest) -> bool {
    // One pass over the packet's pieces, cut where the receiver's pages end.
    let mut ops: ArrayVec<CopyOp<'_>, MAX_OPS> = ArrayVec::new();
    let mut at = 0;
    for mut src in frame.sources(0, frame.len()) {
        loop {
            let (k, offset) = (at / PAGE_SIZE, at % PAGE_SIZE);
            let (piece, rest) = src.split(PAGE_SIZE - offset);
            at += piece.len();
            let gref = data_req(k).gref;
            ops.push(CopyOp {
                src: piece,
                gref,
                offset,
            });
            match rest {
                Some(r) => src = r,
                None => break,
            }
        }
    }
    peer.host
        .copy_to_grants(peer.dom, peer.front, &ops)
        .is_err()
}
