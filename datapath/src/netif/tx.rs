//! The transmit half of a netif queue.
//!
//! Every request id owns one page of a pool granted read-only to the backend when the queue was
//! set up. A packet is copied into the pages of the ids it takes, so sending costs no grant
//! operation at all (the pool is the "persistent grant" of netif); the backend's response to an id
//! gives the page back. A packet completes, exactly once, when every one of its ids has been
//! answered, or with [`TxStatus::Disconnected`] when the queue is torn down first.
//!
//! Where the home can grant the caller's own frames ([`FrameGrants`]), every id also owns one
//! reserved grant reference, and a fragment of at least [`GRANT_MIN`] bytes that lies in the
//! caller's frames is granted page by page through the references of its slots' ids instead of
//! being copied (headers, small packets and small fragments still go through the pool). A slot's
//! grant ends when the backend answers it; a grant the backend still uses then is a protocol
//! error, and its packet is never handed back: the caller's frames stay the backend's (XSA-396).

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use arrayvec::ArrayVec;
use core::mem::size_of;
use xenpv_abi::netif::XEN_NETIF_NR_SLOTS_MIN;
use xenpv_abi::netif::{
    NetifExtraGso, NetifExtraHash, NetifExtraInfo, NetifExtraMcast, NetifTxRequest,
    NetifTxResponse, NETIF_RSP_NULL, NETTXF_CSUM_BLANK, NETTXF_DATA_VALIDATED, NETTXF_EXTRA_INFO,
    NETTXF_MORE_DATA, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ, XEN_NETIF_EXTRA_FLAG_MORE,
    XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_HASH, XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
    XEN_NETIF_EXTRA_TYPE_MCAST_DEL, XEN_NETIF_MAX_TX_SIZE,
};
use xenpv_abi::ring::{sring_entries, sring_entry_size};
use xenpv_abi::{GrantRef, PAGE_SIZE};
use zerocopy::{FromBytes, IntoBytes};

use super::packet::{FragmentFrames, GsoKind, TxChecksum, TxDone, TxPacket, TxStatus};
use super::NetifError;
use crate::platform::{Access, FrameGrants};
use crate::ring::{FrontRing, SharedRing};
use crate::shmem::SharedMem;

/// Most data slots a copied packet takes: a maximal frame spread over whole pages.
pub const MAX_TX_DATA_SLOTS: usize = (XEN_NETIF_MAX_TX_SIZE as usize).div_ceil(PAGE_SIZE);

/// Most data slots a packet with granted fragments may take: netif.h promises only that a
/// backend accepts packets of up to XEN_NETIF_NR_SLOTS_MIN slots (one that would need more is
/// copied whole).
pub const MAX_TX_SLOTS: usize = XEN_NETIF_NR_SLOTS_MIN as usize;
const _: () = assert!(
    MAX_TX_DATA_SLOTS <= MAX_TX_SLOTS,
    "a copied packet always fits"
);

/// Fragments at least this long that lie in the caller's frames are granted rather than copied.
/// Granting costs a grant and an end per page (about 7 ns together through a reserve, what
/// copying a few hundred bytes costs), but a backend then holds the packet by mapping until its
/// receiver has copied it and answers late, where a short copied packet is answered at once.
/// Measured with the netif bench (sim netback loopback, GSO TCP, one queue, a 54-byte header
/// fragment and a payload fragment in the guest's frames), packets per second granting against
/// copying the payload: 1460 B -10%, 2546 B even, 4146 B +6%, 8246 B +19%, 16346 B +28%.
pub const GRANT_MIN: usize = 3072;

/// Netback wants a whole Ethernet header in a packet's first slot; bytes up to here are copied.
const ETH_HLEN: usize = 14;

/// Slots of a one-page tx ring, and so pages in its pool.
pub fn pool_pages() -> usize {
    let entry = sring_entry_size(size_of::<NetifTxRequest>(), size_of::<NetifTxResponse>());
    sring_entries(PAGE_SIZE, entry) as usize
}

/// What the backend accepts on transmit, from its advertised features.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxCaps {
    /// `feature-sg`: packets may span several slots.
    pub sg: bool,
    /// `feature-gso-tcpv4`.
    pub gso_tcpv4: bool,
    /// `feature-gso-tcpv6`.
    pub gso_tcpv6: bool,
}

impl TxCaps {
    fn gso(&self, kind: GsoKind) -> bool {
        match kind {
            GsoKind::TcpV4 => self.gso_tcpv4,
            GsoKind::TcpV6 => self.gso_tcpv6,
        }
    }
}

/// Why a packet was handed back without being sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxRefused {
    /// No room on the ring or no free id now; try again after completions.
    Busy,
    /// The packet has no bytes.
    Empty,
    /// The packet is longer than the wire format allows (`XEN_NETIF_MAX_TX_SIZE`).
    TooLarge(usize),
    /// The packet needs several slots and the backend has no `feature-sg`.
    NoScatterGather,
    /// The backend did not offer segmentation of this kind.
    GsoNotNegotiated(GsoKind),
    /// A segmentation request with a zero MSS (netback treats it as fatal).
    ZeroMss,
    /// The link is down.
    LinkDown,
    /// The queue stopped on a protocol error and must be reconnected.
    Broken,
}

type TxFront = FrontRing<NetifTxRequest, NetifTxResponse, SharedRing>;

/// Who is waiting for an id's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Free,
    /// First data slot of a packet; its [`Pending`] record lives at this id until the packet completes.
    Head {
        answered: bool,
    },
    /// A later data slot of the packet whose head is `head`.
    Follower {
        head: u16,
    },
}

enum Owner<P> {
    Packet(P),
    Multicast { addr: [u8; 6], add: bool },
}

struct Pending<P> {
    owner: Owner<P>,
    unanswered: u16,
    status: TxStatus,
}

/// The in-flight ids and what each belongs to.
struct Ids<P> {
    slots: Vec<Slot>,
    /// Ids whose reserved reference grants one of the caller's frames now.
    lent: Vec<bool>,
    pending: Vec<Option<Pending<P>>>,
    free: Vec<u16>,
    /// NETIF_RSP_NULL responses still owed for the extra-info slots we sent.
    nulls_owed: u32,
}

impl<P> Ids<P> {
    fn new(n: u16) -> Self {
        Self {
            slots: vec![Slot::Free; usize::from(n)],
            lent: vec![false; usize::from(n)],
            pending: (0..n).map(|_| None).collect(),
            free: (0..n).rev().collect(),
            nulls_owed: 0,
        }
    }

    /// Applies one response, validated against what we sent.
    fn answer(
        &mut self,
        rsp: NetifTxResponse,
        frames: Option<&dyn FrameGrants>,
        done: &mut impl FnMut(TxDone<P>),
    ) -> Result<(), NetifError> {
        if rsp.status == NETIF_RSP_NULL {
            // The answer to an extra-info slot; netback writes only the status there.
            self.nulls_owed = self
                .nulls_owed
                .checked_sub(1)
                .ok_or(NetifError::TxUnexpectedNull)?;
            return Ok(());
        }
        let id = rsp.id;
        let status = TxStatus::from_wire(rsp.status).ok_or(NetifError::TxStatus {
            id,
            status: rsp.status,
        })?;
        let head = match self.slots.get(usize::from(id)) {
            None => return Err(NetifError::TxId(id)),
            Some(Slot::Free) | Some(Slot::Head { answered: true }) => {
                return Err(NetifError::TxNotInFlight(id))
            }
            Some(&Slot::Head { answered: false }) => id,
            Some(&Slot::Follower { head }) => head,
        };
        // The answer ends the slot's grant; if the backend still uses the frame, nothing changes:
        // the id stays in flight and its packet is kept back (never handed back as free).
        self.end_lent(id, frames)?;
        if head == id {
            self.slots[usize::from(id)] = Slot::Head { answered: true };
        } else {
            self.slots[usize::from(id)] = Slot::Free;
            self.free.push(id);
        }
        // Every id in flight belongs to a packet whose record is still there (records leave only
        // once all their ids are answered, or at abort, after which nothing is answered).
        let rec = self.pending[usize::from(head)]
            .as_mut()
            .ok_or(NetifError::TxNotInFlight(id))?;
        rec.unanswered -= 1;
        if status != TxStatus::Ok && rec.status == TxStatus::Ok {
            rec.status = status;
        }
        if rec.unanswered == 0 {
            self.finish(head, None, done);
        }
        Ok(())
    }

    /// Ends the grant of `id`'s reserved reference if it has one.
    fn end_lent(&mut self, id: u16, frames: Option<&dyn FrameGrants>) -> Result<(), NetifError> {
        let i = usize::from(id);
        if let (true, Some(frames)) = (self.lent[i], frames) {
            frames
                .end(frames.refs()[i])
                .map_err(|_| NetifError::TxGrantInUse(id))?;
            self.lent[i] = false;
        }
        Ok(())
    }

    /// Whether an id of the packet whose head is `head` still grants one of the caller's frames.
    fn lends(&self, head: u16) -> bool {
        self.slots
            .iter()
            .zip(&self.lent)
            .enumerate()
            .any(|(id, (slot, &lent))| {
                lent && (id == usize::from(head) || *slot == Slot::Follower { head })
            })
    }

    /// Completes the packet whose head is `head`, with `status` overriding what the backend said.
    fn finish(&mut self, head: u16, status: Option<TxStatus>, done: &mut impl FnMut(TxDone<P>)) {
        let Some(rec) = self.pending[usize::from(head)].take() else {
            return;
        };
        self.slots[usize::from(head)] = Slot::Free;
        self.free.push(head);
        let status = status.unwrap_or(rec.status);
        done(match rec.owner {
            Owner::Packet(packet) => TxDone::Packet { packet, status },
            Owner::Multicast { addr, add } => TxDone::Multicast { addr, add, status },
        });
    }
}

/// The transmit ring of one queue and its buffer pool.
pub struct TxRing<P> {
    ring: TxFront,
    pool: SharedMem,
    pool_grefs: Vec<GrantRef>,
    ids: Ids<P>,
    caps: TxCaps,
    /// One reserved reference per id, where the home can grant the caller's frames.
    frames: Option<Box<dyn FrameGrants>>,
}

impl<P> Drop for TxRing<P> {
    fn drop(&mut self) {
        // A packet whose frames the backend may still reach is leaked, never dropped: dropping it
        // would hand its frames back to their owner for reuse (XSA-396).
        for id in 0..self.ids.lent.len() as u16 {
            let _ = self.ids.end_lent(id, self.frames.as_deref());
        }
        for head in 0..self.ids.pending.len() as u16 {
            if self.ids.lends(head) {
                core::mem::forget(self.ids.pending[usize::from(head)].take());
            }
        }
    }
}

/// Whether `f` can hold a fragment of `len` bytes as netif slots name pages (a v1 grant entry
/// holds a 32-bit frame number).
fn covers(f: &FragmentFrames<'_>, len: usize) -> bool {
    f.offset < PAGE_SIZE
        && f.gfns.len() >= (f.offset + len).div_ceil(PAGE_SIZE)
        && f.gfns.iter().all(|&g| u32::try_from(g).is_ok())
}

impl<P: TxPacket> TxRing<P> {
    /// Initialises the ring in `ring_mem` and uses `pool` (one page per ring slot, page `i` granted
    /// by `pool_grefs[i]`) for packet data.
    pub fn new(
        ring_mem: SharedMem,
        pool: SharedMem,
        pool_grefs: Vec<GrantRef>,
        caps: TxCaps,
    ) -> Result<Self, NetifError> {
        let shared = SharedRing::new::<NetifTxRequest, NetifTxResponse>(ring_mem)
            .map_err(|_| NetifError::RingTooSmall)?;
        let ring = TxFront::init(shared);
        let size = ring.size();
        if pool_grefs.len() < size as usize || pool.len() < size as usize * PAGE_SIZE {
            return Err(NetifError::PoolTooSmall);
        }
        Ok(Self {
            ring,
            pool,
            pool_grefs,
            ids: Ids::new(size as u16),
            caps,
            frames: None,
        })
    }

    /// Lets the ring grant large fragments that lie in the caller's frames through `frames`,
    /// which must hold a reference per ring slot; call it before the first packet.
    pub fn lend_frames(&mut self, frames: Box<dyn FrameGrants>) -> Result<(), NetifError> {
        if frames.refs().len() < self.ids.slots.len() {
            return Err(NetifError::PoolTooSmall);
        }
        self.frames = Some(frames);
        Ok(())
    }

    /// Ring slots (and ids).
    pub fn size(&self) -> u32 {
        self.ring.size()
    }

    /// Ids in flight (data slots and multicast requests not yet answered).
    pub fn in_flight(&self) -> usize {
        self.ids.slots.len() - self.ids.free.len()
    }

    /// Packets waiting for their completion.
    pub fn pending_packets(&self) -> usize {
        self.ids.pending.iter().filter(|p| p.is_some()).count()
    }

    /// Copies `packet` into pool pages, or grants its large fragments, and puts its requests on
    /// the ring (not yet visible to the backend: see [`flush`](Self::flush)). Returns the bytes
    /// queued; a refused packet comes back.
    pub fn submit(&mut self, packet: P) -> Result<usize, (P, TxRefused)> {
        let offload = packet.offload();
        let hash = packet.hash();
        let len: usize = packet.fragments().map(<[u8]>::len).sum();
        let refuse = |why| Err(why);
        let check = || {
            if len == 0 {
                return refuse(TxRefused::Empty);
            }
            if len > XEN_NETIF_MAX_TX_SIZE as usize {
                return refuse(TxRefused::TooLarge(len));
            }
            // Granting is tried only where it can pay off; a layout needing more slots than a
            // backend must accept is copied whole instead.
            // Copied bytes fill pool pages back to back.
            let copied = len.div_ceil(PAGE_SIZE);
            let grant = self.frames.is_some() && self.caps.sg && len >= ETH_HLEN + GRANT_MIN;
            let (grant, data) = match grant.then(|| self.slots(&packet)) {
                Some(n) if n <= MAX_TX_SLOTS => (true, n),
                _ => (false, copied),
            };
            if data > 1 && !self.caps.sg {
                return refuse(TxRefused::NoScatterGather);
            }
            if let Some(gso) = offload.gso {
                if gso.mss == 0 {
                    return refuse(TxRefused::ZeroMss);
                }
                if !self.caps.gso(gso.kind) {
                    return refuse(TxRefused::GsoNotNegotiated(gso.kind));
                }
            }
            let extras = usize::from(offload.gso.is_some()) + usize::from(hash.is_some());
            if self.ids.free.len() < data || (self.ring.free_requests() as usize) < data + extras {
                return refuse(TxRefused::Busy);
            }
            Ok((grant, data))
        };
        let (grant, data) = match check() {
            Ok(d) => d,
            Err(why) => return Err((packet, why)),
        };
        let ids: ArrayVec<u16, MAX_TX_SLOTS> = (0..data)
            .map(|_| self.ids.free.pop().expect("checked above"))
            .collect();
        let slots = self.fill(&packet, grant, &ids);

        let mut flags = match (offload.checksum, offload.gso) {
            // Linux sets both for CHECKSUM_PARTIAL; segmentation needs the checksum left blank.
            (TxChecksum::Offload, _) | (_, Some(_)) => NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED,
            (TxChecksum::Validated, None) => NETTXF_DATA_VALIDATED,
            (TxChecksum::Complete, None) => 0,
        };
        if data > 1 {
            flags |= NETTXF_MORE_DATA;
        }
        if offload.gso.is_some() || hash.is_some() {
            flags |= NETTXF_EXTRA_INFO;
        }
        // The first slot's size is the whole packet's (netif.h).
        self.push_slot(NetifTxRequest {
            flags,
            size: len as u16,
            ..slots[0]
        });
        if let Some(gso) = offload.gso {
            let payload = NetifExtraGso {
                size: gso.mss,
                gso_type: gso.kind.wire(),
                pad: 0,
                features: 0,
            };
            self.push_extra(XEN_NETIF_EXTRA_TYPE_GSO, hash.is_some(), payload.as_bytes());
        }
        if let Some(h) = hash {
            let payload = NetifExtraHash {
                hash_type: h.kind.bit() as u8,
                algorithm: XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ as u8,
                value: h.value.to_le_bytes(),
            };
            self.push_extra(XEN_NETIF_EXTRA_TYPE_HASH, false, payload.as_bytes());
        }
        for (k, req) in slots.iter().enumerate().skip(1) {
            let more = if k + 1 < data { NETTXF_MORE_DATA } else { 0 };
            self.push_slot(NetifTxRequest {
                flags: more,
                ..*req
            });
        }
        for &id in &ids[1..] {
            self.ids.slots[usize::from(id)] = Slot::Follower { head: ids[0] };
        }
        self.ids.slots[usize::from(ids[0])] = Slot::Head { answered: false };
        self.ids.pending[usize::from(ids[0])] = Some(Pending {
            owner: Owner::Packet(packet),
            unanswered: data as u16,
            status: TxStatus::Ok,
        });
        Ok(len)
    }

    /// Queues a multicast filter change: a zero-length request carrying an MCAST_ADD/DEL extra, as
    /// netif.h describes (the backend answers the request and ignores its buffer).
    pub fn multicast(&mut self, addr: [u8; 6], add: bool) -> Result<(), TxRefused> {
        if self.ids.free.is_empty() || self.ring.free_requests() < 2 {
            return Err(TxRefused::Busy);
        }
        let id = self.ids.free.pop().expect("checked above");
        self.push_slot(NetifTxRequest {
            gref: self.pool_grefs[usize::from(id)],
            offset: 0,
            flags: NETTXF_EXTRA_INFO,
            id,
            size: 0,
        });
        let kind = if add {
            XEN_NETIF_EXTRA_TYPE_MCAST_ADD
        } else {
            XEN_NETIF_EXTRA_TYPE_MCAST_DEL
        };
        self.push_extra(kind, false, NetifExtraMcast { addr }.as_bytes());
        self.ids.slots[usize::from(id)] = Slot::Head { answered: false };
        self.ids.pending[usize::from(id)] = Some(Pending {
            owner: Owner::Multicast { addr, add },
            unanswered: 1,
            status: TxStatus::Ok,
        });
        Ok(())
    }

    /// Makes the queued requests visible; `true` means the backend asked to be notified.
    pub fn flush(&mut self) -> bool {
        self.ring.publish()
    }

    /// Takes every response the backend has published, completing finished packets through `done`,
    /// and re-arms the response event. An error is a protocol violation: the queue must be torn down.
    pub fn poll(&mut self, done: &mut impl FnMut(TxDone<P>)) -> Result<usize, NetifError> {
        let mut answered = 0;
        loop {
            for rsp in self.ring.poll_responses()? {
                self.ids.answer(rsp, self.frames.as_deref(), done)?;
                answered += 1;
            }
            if !self.ring.final_check_for_responses()? {
                return Ok(answered);
            }
        }
    }

    /// Completes everything still in flight with [`TxStatus::Disconnected`] (the backend is gone).
    /// Each packet completes exactly once: its record leaves the table as it is reported. A
    /// packet whose granted frames the backend still uses is not completed but kept back; it is
    /// never handed back, and dropping the ring leaks it rather than free its frames (XSA-396).
    pub fn abort(&mut self, done: &mut impl FnMut(TxDone<P>)) {
        for id in 0..self.ids.lent.len() as u16 {
            // A failure leaves the grant in place, which keeps its packet back below.
            let _ = self.ids.end_lent(id, self.frames.as_deref());
        }
        for head in 0..self.ids.pending.len() as u16 {
            if !self.ids.lends(head) {
                self.ids.finish(head, Some(TxStatus::Disconnected), done);
            }
        }
        // Whatever the backend still answers now names ids that are no longer in flight; the ids
        // of a kept-back packet stay with it.
        for (id, slot) in self.ids.slots.iter_mut().enumerate() {
            if let Slot::Follower { head } = *slot {
                if self.ids.pending[usize::from(head)].is_none() {
                    *slot = Slot::Free;
                    self.ids.free.push(id as u16);
                }
            }
        }
    }

    /// Where fragment `index`, of `len` bytes starting `pos` bytes into the packet, lies in the
    /// caller's frames if it is to be granted: long enough, past the first slot's Ethernet header.
    fn lendable<'p>(
        packet: &'p P,
        index: usize,
        len: usize,
        pos: usize,
    ) -> Option<FragmentFrames<'p>> {
        if len < GRANT_MIN || pos < ETH_HLEN {
            return None;
        }
        packet.fragment_frames(index).filter(|f| covers(f, len))
    }

    /// Data slots `packet` takes when its lendable fragments are granted: copied bytes fill pool
    /// pages in order, and each granted fragment takes a slot per page it touches.
    fn slots(&self, packet: &P) -> usize {
        let (mut pos, mut slots, mut room) = (0, 0, 0);
        for (i, frag) in packet.fragments().enumerate() {
            if let Some(f) = Self::lendable(packet, i, frag.len(), pos) {
                slots += (f.offset + frag.len()).div_ceil(PAGE_SIZE);
                room = 0;
            } else if frag.len() > room {
                let over = frag.len() - room;
                slots += over.div_ceil(PAGE_SIZE);
                room = (PAGE_SIZE - over % PAGE_SIZE) % PAGE_SIZE;
            } else {
                room -= frag.len();
            }
            pos += frag.len();
        }
        slots
    }

    /// Writes the packet's copied bytes into its slots' pool pages and, with `grant`, grants the
    /// frames of the fragments [`slots`](Self::slots) counted as granted; returns each data slot's
    /// request (flags, and the first slot's size, left to the caller).
    fn fill(
        &mut self,
        packet: &P,
        grant: bool,
        ids: &[u16],
    ) -> ArrayVec<NetifTxRequest, MAX_TX_SLOTS> {
        let mut reqs: ArrayVec<NetifTxRequest, MAX_TX_SLOTS> = ArrayVec::new();
        let pooled = |id: u16, pool_grefs: &[GrantRef]| NetifTxRequest {
            gref: pool_grefs[usize::from(id)],
            offset: 0,
            flags: 0,
            id,
            size: 0,
        };
        // The slot whose pool page copied bytes go to next, if it has room.
        let mut open: Option<usize> = None;
        let mut pos = 0;
        for (i, frag) in packet.fragments().enumerate() {
            let lent = grant.then(|| Self::lendable(packet, i, frag.len(), pos));
            pos += frag.len();
            if let Some(f) = lent.flatten() {
                open = None;
                let (mut offset, mut at) = (f.offset, 0);
                for &gfn in f.gfns {
                    if at == frag.len() {
                        break;
                    }
                    let n = (frag.len() - at).min(PAGE_SIZE - offset);
                    let id = ids[reqs.len()];
                    let k = usize::from(id);
                    let req = match self.frames.as_deref() {
                        Some(frames)
                            if frames
                                .grant(frames.refs()[k], gfn, Access::ReadOnly)
                                .is_ok() =>
                        {
                            self.ids.lent[k] = true;
                            NetifTxRequest {
                                gref: frames.refs()[k],
                                offset: offset as u16,
                                flags: 0,
                                id,
                                size: n as u16,
                            }
                        }
                        // The home refused the grant: this page's bytes are copied after all.
                        _ => {
                            self.pool.write_data(k * PAGE_SIZE, &frag[at..at + n]);
                            NetifTxRequest {
                                size: n as u16,
                                ..pooled(id, &self.pool_grefs)
                            }
                        }
                    };
                    reqs.push(req);
                    (offset, at) = (0, at + n);
                }
                continue;
            }
            let mut rest = frag;
            while !rest.is_empty() {
                let slot = match open {
                    Some(slot) => slot,
                    None => {
                        reqs.push(pooled(ids[reqs.len()], &self.pool_grefs));
                        reqs.len() - 1
                    }
                };
                let used = usize::from(reqs[slot].size);
                let n = rest.len().min(PAGE_SIZE - used);
                let page = usize::from(ids[slot]) * PAGE_SIZE;
                self.pool.write_data(page + used, &rest[..n]);
                reqs[slot].size += n as u16;
                open = (used + n < PAGE_SIZE).then_some(slot);
                rest = &rest[n..];
            }
        }
        reqs
    }

    fn push_slot(&mut self, req: NetifTxRequest) {
        self.ring.push(&req).expect("room checked before pushing");
    }

    /// Pushes an extra-info slot; `more` says another extra follows it.
    fn push_extra(&mut self, kind: u8, more: bool, payload: &[u8]) {
        let mut extra = NetifExtraInfo {
            kind,
            flags: if more { XEN_NETIF_EXTRA_FLAG_MORE } else { 0 },
            payload: [0; 6],
        };
        extra.payload[..payload.len()].copy_from_slice(payload);
        // An extra-info slot overlays a request: its 8 bytes, then the request's unused tail.
        let mut bytes = [0u8; core::mem::size_of::<NetifTxRequest>()];
        bytes[..8].copy_from_slice(extra.as_bytes());
        let req = NetifTxRequest::read_from_bytes(&bytes).expect("sizes match");
        self.ring.push(&req).expect("room checked before pushing");
        self.ids.nulls_owed += 1;
    }
}
