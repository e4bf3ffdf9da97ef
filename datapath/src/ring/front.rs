//! The frontend half of a ring: produces requests, consumes responses.

use super::{
    check_power_of_two, Consumer, Entries, Entry, EntrySlots, Index, Producer, RingError, RingFull,
    RingMemory,
};
use core::fmt;
use core::marker::PhantomData;

/// The frontend's view of a ring (C `xxx_front_ring_t`).
pub struct FrontRing<Req, Rsp, M> {
    mem: M,
    mask: u32,
    req: Producer,
    rsp: Consumer,
    _entries: PhantomData<fn(&Req) -> Rsp>,
}

impl<Req: Entry, Rsp: Entry, M: RingMemory> FrontRing<Req, Rsp, M> {
    /// Initialises the shared ring and attaches to it (`XEN_FRONT_RING_INIT`): indices zero,
    /// both event indices one. Reconnecting means calling this again on fresh (or re-shared)
    /// memory.
    pub fn init(mem: M) -> Self {
        Self::init_at(mem, 0)
    }

    /// As [`init`](Self::init), but with every index starting at `start` instead of 0 (ring.h's
    /// `FRONT_RING_ATTACH` index): a ring in the state it would be in after `start` requests and
    /// responses. Useful to test wrap-around at `u32::MAX`.
    pub fn init_at(mem: M, start: u32) -> Self {
        let mask = check_power_of_two(&mem) - 1;
        mem.store_index(Index::ReqProd, start);
        mem.store_index(Index::RspProd, start);
        mem.store_index(Index::ReqEvent, start.wrapping_add(1));
        mem.store_index(Index::RspEvent, start.wrapping_add(1));
        mem.clear_header_padding();
        Self {
            mem,
            mask,
            req: Producer::at(start),
            rsp: Consumer::at(start),
            _entries: PhantomData,
        }
    }

    /// Number of slots (`RING_SIZE`).
    #[inline]
    pub fn size(&self) -> u32 {
        self.mask + 1
    }

    /// Requests pushed (published or not) whose responses we have not consumed yet.
    #[inline]
    pub fn outstanding(&self) -> u32 {
        self.req.pvt.wrapping_sub(self.rsp.cons)
    }

    /// Requests that can be pushed now (`RING_FREE_REQUESTS`).
    #[inline]
    pub fn free_requests(&self) -> u32 {
        self.size() - self.outstanding()
    }

    /// Writes `req` into the next free slot. The backend does not see it until [`publish`].
    ///
    /// [`publish`]: Self::publish
    #[inline]
    pub fn push(&mut self, req: &Req) -> Result<(), RingFull> {
        if self.free_requests() == 0 {
            return Err(RingFull);
        }
        self.req
            .write::<_, Req>(&self.mem, core::iter::once(req), 1);
        Ok(())
    }

    /// Writes requests from `reqs` into free slots until the ring is full or `reqs` ends, taking
    /// no more items from `reqs` than it writes. Returns how many were written. As with
    /// [`push`](Self::push), nothing is visible until [`publish`](Self::publish).
    #[inline]
    pub fn push_many(&mut self, reqs: impl IntoIterator<Item = Req>) -> u32 {
        let free = self.free_requests();
        self.req.write::<_, Req>(&self.mem, reqs, free)
    }

    /// Makes the pushed requests visible to the backend and returns whether it must be notified
    /// (`RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`).
    #[inline]
    pub fn publish(&mut self) -> bool {
        self.req.publish(&self.mem, Index::ReqProd, Index::ReqEvent)
    }

    /// Takes the batch of responses the backend has published: `rsp_prod` is read once and
    /// validated, then each response is copied out once as the iterator yields it.
    #[inline]
    pub fn poll_responses(
        &mut self,
    ) -> Result<Entries<'_, Rsp, impl EntrySlots<Rsp> + '_>, RingError> {
        let limit = self.response_limit();
        self.rsp.refresh(&self.mem, Index::RspProd, limit)?;
        Ok(self.rsp.entries(&self.mem))
    }

    /// Before going to sleep: asks for a notification on the next response and reports whether
    /// responses are already waiting (`RING_FINAL_CHECK_FOR_RESPONSES`). `true` means poll again
    /// instead of sleeping.
    #[inline]
    pub fn final_check_for_responses(&mut self) -> Result<bool, RingError> {
        let limit = self.response_limit();
        self.rsp
            .final_check(&self.mem, Index::RspProd, Index::RspEvent, limit)
    }

    /// Our private request producer index (`req_prod_pvt`).
    #[inline]
    pub fn req_prod_pvt(&self) -> u32 {
        self.req.pvt
    }

    /// Our response consumer index (`rsp_cons`).
    #[inline]
    pub fn rsp_cons(&self) -> u32 {
        self.rsp.cons
    }

    /// The ring memory.
    pub fn mem(&self) -> &M {
        &self.mem
    }

    /// The backend can only answer requests it has seen, i.e. published ones.
    #[inline]
    fn response_limit(&self) -> u32 {
        self.req.published.wrapping_sub(self.rsp.cons)
    }
}

impl<Req, Rsp, M> fmt::Debug for FrontRing<Req, Rsp, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrontRing")
            .field("size", &(self.mask + 1))
            .field("req_prod_pvt", &self.req.pvt)
            .field("req_prod", &self.req.published)
            .field("rsp_cons", &self.rsp.cons)
            .field("rsp_prod_seen", &self.rsp.seen)
            .finish()
    }
}
