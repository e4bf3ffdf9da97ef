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
use xenpv_datapath::netif::{Gso, GsoKind, RssHash, TxChecksum, TxOffload};
use zerocopy::{FromBytes, IntoBytes};

use super::frame::{TxFrame, HEAD_LEN};
use super::offload;
use super::port::{Frame, VifPort};
use super::{NetbackError, Peer, RxBack, VifStats};
use crate::host::{CopyOp, MAX_HELD};
use xenpv_datapath::ring::{Index, RingMemory};

/// Most slots one packet takes: a 64 KiB frame in pages plus two extras.
const MAX_SLOTS: usize = 16 + 1 + 2;
/// Most copy operations one packet takes: a piece per sender page and per receiver page.
const MAX_OPS: usize = MAX_HELD + MAX_SLOTS;
/// Largest frame a frontend sends.
const FRAME_MAX: usize = 65536;

/// What the frontend can receive.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RxCaps {
    sg: bool,
    gso_tcpv4: bool,
    gso_tcpv6: bool,
    /// Takes IPv4 packets with the checksum left blank (no `feature-no-csum-offload`).
    csum_v4: bool,
    /// Takes IPv6 ones so (`feature-ipv6-csum-offload`).
    csum_v6: bool,
}

impl RxCaps {
    pub fn from_frontend(front: &FrontendVif) -> Self {
        Self {
            sg: front.sg,
            gso_tcpv4: front.gso_tcpv4,
            gso_tcpv6: front.gso_tcpv6,
            csum_v4: !front.no_csum_offload,
            csum_v6: front.ipv6_csum_offload,
        }
    }

    fn gso(&self, kind: GsoKind) -> bool {
        match kind {
            GsoKind::TcpV4 => self.gso_tcpv4,
            GsoKind::TcpV6 => self.gso_tcpv6,
        }
    }
}

/// The bytes of a packet to copy to the frontend.
#[derive(Clone, Copy)]
enum Payload<'a> {
    /// As the sender handed it over.
    Frame(&'a TxFrame),
    /// Made here: a segment, or a packet whose checksum was filled in.
    Bytes(&'a [u8]),
}

impl Payload<'_> {
    fn len(&self) -> usize {
        match self {
            Payload::Frame(f) => f.len(),
            Payload::Bytes(b) => b.len(),
        }
    }
}

/// What the kernel would do to a packet before netback sees it, given the frontend's features.
enum Prepare {
    /// Nothing: copy it as it is.
    AsIs,
    /// Segment it (the frontend cannot take this GSO type).
    Segment(Gso),
    /// Fill in its blank checksum (the frontend cannot take a blank one).
    Checksum,
}

pub(crate) struct RxQueue {
    ring: RxBack,
    port: EvtchnPort,
    index: usize,
    caps: RxCaps,
    /// Where a packet that must be segmented or checksummed is copied, and where each of its
    /// segments is built; allocated at setup.
    whole: Vec<u8>,
    piece: Vec<u8>,
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
            whole: Vec::with_capacity(FRAME_MAX),
            piece: Vec::with_capacity(FRAME_MAX),
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
            let prepare = self.prepare(&frame);
            if let Prepare::Segment(_) | Prepare::Checksum = prepare {
                match self.copy_prepared(peer, &frame, &prepare, stats)? {
                    Some(needed) => {
                        port.put_back(self.index, frame);
                        port.orphan(self.index);
                        return Ok(Some(needed));
                    }
                    None => {
                        port.recycle(frame);
                        *done += 1;
                        continue;
                    }
                }
            }
            let data_slots = frame.data.len().div_ceil(PAGE_SIZE).max(1);
            if data_slots > 1 && !self.caps.sg {
                // Linux linearises for a frontend without scatter-gather only up to a page.
                stats.rx_dropped += 1;
                port.recycle(frame);
                continue;
            }
            let gso = frame.offload.gso;
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
            let payload = Payload::Frame(&frame.data);
            self.write(peer, payload, frame.offload, frame.hash, &reqs, stats);
            port.recycle(frame);
            *done += 1;
        }
        Ok(None)
    }

    /// Whether `frame` needs software segmentation or checksumming for this frontend.
    fn prepare(&self, frame: &Frame) -> Prepare {
        if let Some(g) = frame.offload.gso {
            return if self.caps.gso(g.kind) {
                Prepare::AsIs
            } else {
                Prepare::Segment(g)
            };
        }
        if frame.offload.checksum != TxChecksum::Offload || (self.caps.csum_v4 && self.caps.csum_v6)
        {
            return Prepare::AsIs;
        }
        let mut buf = [0u8; HEAD_LEN];
        match offload::is_ipv6(frame.data.head(&mut buf)) {
            Some(true) if self.caps.csum_v6 => Prepare::AsIs,
            Some(false) if self.caps.csum_v4 => Prepare::AsIs,
            // Including headers that do not parse: filling fails and the packet is dropped,
            // as Linux netback drops a blank-checksum packet whose checksum it cannot set up.
            _ => Prepare::Checksum,
        }
    }

    /// Segments or checksums `frame` in software and copies the result, if the frontend has
    /// posted buffers for all of it; otherwise returns how many it needs. A packet whose
    /// headers do not allow it is dropped.
    fn copy_prepared(
        &mut self,
        peer: &Peer,
        frame: &Frame,
        prepare: &Prepare,
        stats: &mut VifStats,
    ) -> Result<Option<usize>, NetbackError> {
        let mut whole = std::mem::take(&mut self.whole);
        whole.resize(frame.data.len(), 0);
        frame.data.read(0, &mut whole);
        let hash = usize::from(frame.hash.is_some());
        // The result has its checksums complete and checked: netback says so.
        let offload = TxOffload {
            checksum: TxChecksum::Validated,
            gso: None,
        };
        let shape = match prepare {
            Prepare::Segment(g) => offload::segments(&whole, g.mss),
            _ => offload::fill_checksum(&mut whole).map(|()| (1, whole.len())),
        };
        let result = match shape {
            Err(_) => {
                stats.rx_dropped += 1;
                Ok(None)
            }
            Ok((count, largest)) => {
                let slots = largest.div_ceil(PAGE_SIZE).max(1);
                let needed = count * (slots + hash);
                let mut reqs: ArrayVec<NetifRxRequest, MAX_SLOTS> = ArrayVec::new();
                let posted = {
                    let batch = self.ring.poll_requests().map_err(NetbackError::Ring)?;
                    batch.len()
                };
                if (slots > 1 && !self.caps.sg) || needed > self.ring.size() as usize {
                    stats.rx_dropped += 1;
                    Ok(None)
                } else if posted < needed {
                    Ok(Some(needed))
                } else {
                    let mut piece = std::mem::take(&mut self.piece);
                    let mut write = |rx: &mut Self, bytes: &[u8]| -> Result<(), NetbackError> {
                        let n = bytes.len().div_ceil(PAGE_SIZE).max(1) + hash;
                        reqs.clear();
                        let batch = rx.ring.poll_requests().map_err(NetbackError::Ring)?;
                        reqs.extend(batch.take(n));
                        rx.write(
                            peer,
                            Payload::Bytes(bytes),
                            offload,
                            frame.hash,
                            &reqs,
                            stats,
                        );
                        Ok(())
                    };
                    let mut failed = Ok(());
                    match prepare {
                        Prepare::Segment(g) => {
                            let _ = offload::segment(&whole, g.mss, &mut piece, |seg| {
                                if failed.is_ok() {
                                    failed = write(self, seg);
                                }
                            });
                        }
                        _ => failed = write(self, &whole),
                    }
                    self.piece = piece;
                    failed.map(|()| None)
                }
            }
        };
        self.whole = whole;
        result
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
        data: Payload<'_>,
        offload: TxOffload,
        hash: Option<RssHash>,
        reqs: &[NetifRxRequest],
        stats: &mut VifStats,
    ) {
        let gso = offload.gso;
        let len = data.len();
        let data_slots = len.div_ceil(PAGE_SIZE).max(1);
        let chunk = |k: usize| {
            let start = k * PAGE_SIZE;
            (start, (start + PAGE_SIZE).min(len))
        };
        let mut flags = match (offload.checksum, gso) {
            (TxChecksum::Offload, _) | (_, Some(_)) => NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED,
            (TxChecksum::Validated, None) => NETRXF_DATA_VALIDATED,
            (TxChecksum::Complete, None) => 0,
        };
        let mut extras: ArrayVec<NetifRxResponse, 2> = ArrayVec::new();
        let n_extras = usize::from(gso.is_some()) + usize::from(hash.is_some());
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
        if let Some(h) = hash {
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
        let bytes = match data {
            Payload::Bytes(b) => Some(b),
            Payload::Frame(f) => f.bytes(),
        };
        let failed = match bytes {
            // A copied packet: one operation per receiver page, each from a slice.
            Some(bytes) => bytes.chunks(PAGE_SIZE).enumerate().any(|(k, chunk)| {
                peer.host
                    .copy_to_grant(peer.dom, peer.front, data_req(k).gref, 0, chunk)
                    .is_err()
            }),
            None => match data {
                Payload::Frame(f) => copy_held(peer, f, &data_req),
                Payload::Bytes(_) => unreachable!("bytes are handled above"),
            },
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
            stats.rx_bytes += len as u64;
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
