//! Shadow copies of the ring requests in flight, found again by the id the backend echoes.
//!
//! The id carries the slot index in its low half and the slot's generation in its high half, so a
//! response naming a free slot, a slot reused since, or a slot that does not exist is caught before
//! anything of the request is touched.

use alloc::vec::Vec;
use arrayvec::ArrayVec;
use core::fmt;

use super::grants::SlotPages;

/// Most OS requests one ring request carries when contiguous small requests are merged.
pub(super) const MAX_MERGE: usize = 8;

/// The pieces a ring request carries, in sector order; each data piece starts on a fresh page.
pub(super) type Pieces = ArrayVec<Work, MAX_MERGE>;

/// The piece of an OS request one ring request carries; kept so that it can be replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Work {
    /// Bytes `off..end` of the parent's buffer, with blkif operation `op` (read, write, barrier).
    Data {
        parent: u32,
        op: u8,
        off: u64,
        end: u64,
    },
    /// A segment-less cache flush or barrier, with blkif operation `op`.
    Flush { parent: u32, op: u8 },
    /// A discard of `sectors` sectors at `sector`.
    Discard {
        parent: u32,
        sector: u64,
        sectors: u64,
        secure: bool,
    },
}

impl Work {
    pub(super) fn parent(&self) -> u32 {
        match *self {
            Work::Data { parent, .. }
            | Work::Flush { parent, .. }
            | Work::Discard { parent, .. } => parent,
        }
    }
}

/// One slot of the table.
#[derive(Debug)]
pub(super) struct Shadow {
    gen: u32,
    in_flight: bool,
    /// What the request carries: one piece, or several merged contiguous data pieces.
    pub(super) pieces: Pieces,
    /// The operation its response must echo (the inner one for indirect requests).
    pub(super) op: u8,
    /// Data segments (the first pages of `pages`).
    pub(super) segments: u32,
    /// Issue order, so that replay keeps it.
    pub(super) seq: u64,
    pub(super) pages: SlotPages,
}

/// A response that does not belong to a request in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseError {
    /// The id names no slot, a free slot, or an earlier use of a slot (a duplicate response).
    NotInFlight { id: u64 },
    /// The response's operation is not the request's.
    WrongOperation { id: u64, expected: u8, got: u8 },
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::NotInFlight { id } => {
                write!(f, "response id {id:#x} matches no request in flight")
            }
            ResponseError::WrongOperation { id, expected, got } => write!(
                f,
                "response id {id:#x} has operation {got}, its request {expected}"
            ),
        }
    }
}

/// All slots; as many as the ring has entries, so a free ring slot always has a free shadow.
#[derive(Debug, Default)]
pub(super) struct Shadows {
    slots: Vec<Shadow>,
    free: Vec<u32>,
    next_seq: u64,
}

impl Shadows {
    /// Grows to `slots` slots, each able to hold `pages` pages (setup time only).
    pub(super) fn resize(&mut self, slots: usize, pages: usize) {
        debug_assert_eq!(self.in_flight(), 0);
        while self.slots.len() < slots {
            self.slots.push(Shadow {
                gen: 0,
                in_flight: false,
                pieces: Pieces::new(),
                op: 0,
                segments: 0,
                seq: 0,
                pages: SlotPages::with_capacity(pages),
            });
        }
        for s in &mut self.slots {
            s.pages.reserve(pages);
        }
        self.free.clear();
        self.free.reserve(self.slots.len());
        self.free.extend((0..slots as u32).rev());
    }

    pub(super) fn in_flight(&self) -> usize {
        self.slots.iter().filter(|s| s.in_flight).count()
    }

    /// A free slot's index, not yet in flight; its pages are empty.
    pub(super) fn peek_free(&self) -> Option<u32> {
        self.free.last().copied()
    }

    pub(super) fn slot_mut(&mut self, index: u32) -> &mut Shadow {
        &mut self.slots[index as usize]
    }

    pub(super) fn slot(&self, index: u32) -> &Shadow {
        &self.slots[index as usize]
    }

    /// Marks the free slot `index` in flight carrying `pieces`; returns the id to put in the
    /// request.
    pub(super) fn start(&mut self, index: u32, pieces: Pieces, op: u8, segments: u32) -> u64 {
        let popped = self.free.pop();
        debug_assert_eq!(popped, Some(index));
        let seq = self.next_seq;
        self.next_seq += 1;
        let s = &mut self.slots[index as usize];
        s.in_flight = true;
        s.pieces = pieces;
        s.op = op;
        s.segments = segments;
        s.seq = seq;
        (u64::from(s.gen) << 32) | u64::from(index)
    }

    /// Finds the slot a response names and checks its operation.
    pub(super) fn lookup(&self, id: u64, op: u8) -> Result<u32, ResponseError> {
        let index = id as u32;
        let gen = (id >> 32) as u32;
        match self.slots.get(index as usize) {
            Some(s) if s.in_flight && s.gen == gen => {
                if s.op != op {
                    return Err(ResponseError::WrongOperation {
                        id,
                        expected: s.op,
                        got: op,
                    });
                }
                Ok(index)
            }
            _ => Err(ResponseError::NotInFlight { id }),
        }
    }

    /// Frees a slot whose pages were given back; a later response with its old id is refused.
    pub(super) fn finish(&mut self, index: u32) {
        let s = &mut self.slots[index as usize];
        debug_assert!(s.in_flight && s.pages.is_empty());
        s.in_flight = false;
        s.gen = s.gen.wrapping_add(1);
        self.free.push(index);
    }

    /// Indices of the slots in flight, oldest first.
    pub(super) fn in_flight_by_age(&self, out: &mut Vec<u32>) {
        out.clear();
        out.extend((0..self.slots.len() as u32).filter(|&i| self.slots[i as usize].in_flight));
        out.sort_unstable_by_key(|&i| self.slots[i as usize].seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_only_the_request_in_flight() {
        let mut t = Shadows::default();
        t.resize(4, 2);
        let i = t.peek_free().unwrap();
        let work: Pieces = [Work::Flush { parent: 7, op: 3 }].into_iter().collect();
        let id = t.start(i, work.clone(), 3, 0);
        assert_eq!(t.lookup(id, 3), Ok(i));
        assert_eq!(
            t.lookup(id, 1),
            Err(ResponseError::WrongOperation {
                id,
                expected: 3,
                got: 1
            })
        );
        assert_eq!(
            t.lookup(id + 1, 3),
            Err(ResponseError::NotInFlight { id: id + 1 })
        );
        assert_eq!(t.lookup(99, 3), Err(ResponseError::NotInFlight { id: 99 }));
        t.finish(i);
        assert_eq!(
            t.lookup(id, 3),
            Err(ResponseError::NotInFlight { id }),
            "duplicate"
        );
        let j = t.peek_free().unwrap();
        assert_eq!(j, i, "LIFO reuse of the slot");
        let id2 = t.start(j, work, 3, 0);
        assert_ne!(id2, id, "a new generation");
        assert_eq!(
            t.lookup(id, 3),
            Err(ResponseError::NotInFlight { id }),
            "stale id"
        );
    }

    #[test]
    fn in_flight_slots_are_listed_in_issue_order() {
        let mut t = Shadows::default();
        t.resize(4, 0);
        let mut order = Vec::new();
        for p in 0..4 {
            let i = t.peek_free().unwrap();
            let one: Pieces = [Work::Flush { parent: p, op: 3 }].into_iter().collect();
            t.start(i, one, 3, 0);
            order.push(i);
        }
        t.finish(order[1]);
        let mut out = Vec::new();
        t.in_flight_by_age(&mut out);
        assert_eq!(out, [order[0], order[2], order[3]]);
    }
}
