//! A packet on its way through netback, as Linux netback keeps it: the transmitting frontend's
//! pages stay mapped (held) until the packet has been copied into its receiver's buffers or
//! dropped, and only then are the transmit requests answered (netback's zero-copy callback).
//! The receiving side copies grant to grant, straight from the sender's pages into the
//! receiver's, so a packet's bytes are copied once inside the backend. A packet that has to
//! wait for its receiver is copied into the backend's own memory first and lets the sender's
//! pages go, as Linux copies a zero-copy skb that may linger (`skb_copy_ubufs`).

use arrayvec::ArrayVec;
use xenpv_datapath::queue::mpsc;

use crate::host::{CopySource, HeldPages, MAX_HELD};

/// Bytes of a packet's headers that netback looks at before delivering it (steering, filters);
/// Linux netback copies this much into the skb's linear area (XEN_NETBACK_TX_COPY_LEN).
pub const HEAD_LEN: usize = 128;

/// A held packet's pages and the requests to answer once they are let go. The transmit queue
/// allocates one per ring slot at setup and gets each back through its completion queue when
/// the frame is dropped: at most a ring's worth of packets is held, since each still has a
/// request unanswered.
pub(crate) struct Held {
    pub pages: HeldPages,
    /// Per page, in packet order: the offset and length of the packet's bytes in it
    /// (validated against the page size by the transmit path).
    pub segs: ArrayVec<(u16, u16), MAX_HELD>,
    /// The data slots' request ids, first then followers.
    pub ids: ArrayVec<u16, MAX_HELD>,
    /// Extra-info slots after the first.
    pub extras: usize,
}

enum Body {
    /// The sender's pages, and where the record goes back once they are let go.
    Held(Box<Held>, mpsc::Producer<Box<Held>>),
    /// A copy in the backend's memory.
    Copied(Vec<u8>),
}

/// A transmitted packet: held pages of the sender, or a copy of its bytes.
pub struct TxFrame {
    /// `None` only while being dropped or converted.
    body: Option<Body>,
    len: usize,
}

impl TxFrame {
    /// A packet whose bytes lie in the pages `held` maps; `held` goes back through `home`
    /// when they are let go.
    pub(crate) fn held(held: Box<Held>, home: mpsc::Producer<Box<Held>>) -> Self {
        debug_assert_eq!(held.pages.len(), held.segs.len());
        let len = held.segs.iter().map(|&(_, l)| usize::from(l)).sum();
        Self {
            body: Some(Body::Held(held, home)),
            len,
        }
    }

    /// A packet copied into `bytes`.
    #[inline]
    pub(crate) fn copied(bytes: Vec<u8>) -> Self {
        Self {
            len: bytes.len(),
            body: Some(Body::Copied(bytes)),
        }
    }

    /// Takes the packet out, leaving `spare` (a buffer for the next copy) in its place: how a
    /// sink accepts a frame without the transmit path allocating again.
    #[inline]
    pub fn take(&mut self, spare: Option<Vec<u8>>) -> TxFrame {
        let empty = TxFrame {
            len: 0,
            body: spare.map(Body::Copied),
        };
        std::mem::replace(self, empty)
    }

    /// The packet's length.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: netback never delivers an empty packet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the sender's pages are still held.
    #[inline]
    pub fn is_held(&self) -> bool {
        matches!(self.body, Some(Body::Held(..)))
    }

    /// The bytes of a copied packet.
    #[inline]
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.body {
            Some(Body::Copied(b)) => Some(b),
            _ => None,
        }
    }

    /// The sources of the packet's bytes `start..end`, in order (each within one page).
    pub fn sources(&self, start: usize, end: usize) -> impl Iterator<Item = CopySource<'_>> {
        let (local, held) = match self.body.as_ref().expect("a live frame has a body") {
            Body::Copied(bytes) => (local(bytes, start, end), None),
            Body::Held(held, _) => (None, Some(&**held)),
        };
        let mut at = 0;
        let held = held.into_iter().flat_map(move |held| {
            held.segs
                .iter()
                .enumerate()
                .filter_map(move |(i, &(off, len))| {
                    let (seg_start, seg_end) = (at, at + usize::from(len));
                    at = seg_end;
                    let (s, e) = (start.max(seg_start), end.min(seg_end));
                    (s < e).then(|| CopySource::Held {
                        mem: held.pages.page(i),
                        offset: usize::from(off) + s - seg_start,
                        len: e - s,
                    })
                })
        });
        local.into_iter().chain(held)
    }

    /// Copies the packet's bytes from `start` into `dst` (as many as there are) and returns how
    /// many. The sender may still change held pages, so whatever decides on these bytes uses
    /// this copy only.
    pub fn read(&self, start: usize, dst: &mut [u8]) -> usize {
        let end = self.len.min(start.saturating_add(dst.len()));
        let mut n = 0;
        for src in self.sources(start, end) {
            let piece = &mut dst[n..n + src.len()];
            match src {
                CopySource::Local(bytes) => piece.copy_from_slice(bytes),
                CopySource::Held { mem, offset, .. } => mem.read_data(offset, piece),
            }
            n += piece.len();
        }
        n
    }

    /// Copies the first [`HEAD_LEN`] bytes (fewer for a shorter packet) into `buf` once and
    /// returns them.
    pub fn head<'b>(&self, buf: &'b mut [u8; HEAD_LEN]) -> &'b [u8] {
        let n = self.read(0, buf);
        &buf[..n]
    }

    /// Copies a held packet into `buf` (reused, resized to the packet) and lets the sender's
    /// pages go; any other packet stays as it is and gives `buf` back.
    pub fn orphan(&mut self, mut buf: Vec<u8>) -> Option<Vec<u8>> {
        if !self.is_held() {
            return Some(buf);
        }
        buf.resize(self.len, 0);
        self.read(0, &mut buf);
        self.release();
        self.body = Some(Body::Copied(buf));
        None
    }

    /// The buffer of a copied packet, for reuse.
    #[inline]
    pub fn into_buffer(mut self) -> Option<Vec<u8>> {
        match self.body.take() {
            Some(Body::Copied(buf)) => Some(buf),
            other => {
                self.body = other;
                None
            }
        }
    }

    /// Unmaps held pages, then gives the record back to the sender's queue, which answers.
    #[inline]
    fn release(&mut self) {
        if !self.is_held() {
            return;
        }
        if let Some(Body::Held(mut held, home)) = self.body.take() {
            // Unmap first: once answered, the frontend may reuse or ungrant the pages.
            held.pages.release();
            // The queue has room for every record it owns; once its consumer is gone there is
            // nobody left to answer, and the record is simply freed.
            let _ = home.try_push(held);
        }
    }
}

fn local(bytes: &[u8], start: usize, end: usize) -> Option<CopySource<'_>> {
    let end = end.min(bytes.len());
    (start < end).then(|| CopySource::Local(&bytes[start..end]))
}

impl Drop for TxFrame {
    fn drop(&mut self) {
        self.release();
    }
}
