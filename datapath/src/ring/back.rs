//! The backend half of a ring: consumes requests, produces responses.

use super::{
    check_power_of_two, Consumer, Entries, Entry, EntrySlots, Index, Producer, RingError, RingFull,
    RingMemory,
};
use core::fmt;
use core::marker::PhantomData;

/// The backend's view of a ring (C `xxx_back_ring_t`).
pub struct BackRing<Req, Rsp, M> {
    mem: M,
    mask: u32,
    req: Consumer,
    rsp: Producer,
    _entries: PhantomData<fn(&Rsp) -> Req>,
}

impl<Req: Entry, Rsp: Entry, M: RingMemory> BackRing<Req, Rsp, M> {
    /// Attaches to a ring the frontend has initialised (`BACK_RING_INIT`). The shared memory is
    /// not touched.
    pub fn attach(mem: M) -> Self {
        Self::attach_at(mem, 0)
    }

    /// As [`attach`](Self::attach), with private indices starting at `start`
    /// (`BACK_RING_ATTACH`), to pair with [`FrontRing::init_at`](super::FrontRing::init_at).
    pub fn attach_at(mem: M, start: u32) -> Self {
        let mask = check_power_of_two(&mem) - 1;
        Self {
            mem,
            mask,
            req: Consumer::at(start),
            rsp: Producer::at(start),
            _entries: PhantomData,
        }
    }

    /// Number of slots (`RING_SIZE`).
    #[inline]
    pub fn size(&self) -> u32 {
        self.mask + 1
    }

    /// Requests consumed but not answered yet.
    #[inline]
    pub fn unanswered(&self) -> u32 {
        self.req.cons.wrapping_sub(self.rsp.pvt)
    }

    /// Takes the batch of requests the frontend has published: `req_prod` is read once and
    /// validated, then each request is copied out once as the iterator yields it.
    #[inline]
    pub fn poll_requests(
        &mut self,
    ) -> Result<Entries<'_, Req, impl EntrySlots<Req> + '_>, RingError> {
        let limit = self.request_limit();
        self.req.refresh(&self.mem, Index::ReqProd, limit)?;
        Ok(self.req.entries(&self.mem))
    }

    /// Takes up to `max` requests from the batch the frontend has published (as
    /// [`poll_requests`](Self::poll_requests) does) and answers each at once with the response
    /// `answer` returns, for backends that respond synchronously and in order. Returns how many
    /// requests were answered; nothing is visible until [`publish`](Self::publish).
    #[inline]
    pub fn answer_requests(
        &mut self,
        max: u32,
        answer: impl FnMut(Req) -> Rsp,
    ) -> Result<u32, RingError> {
        let limit = self.request_limit();
        let Self { mem, req, rsp, .. } = self;
        req.refresh(mem, Index::ReqProd, limit)?;
        // Each response goes to a slot whose request was already consumed (the response index
        // trails the request index), so answering while consuming overwrites nothing unread.
        let requests = req.entries::<Req, M>(mem).take(max as usize);
        Ok(rsp.write::<_, Rsp>(mem, requests.map(answer), max))
    }

    /// Writes the response to the oldest unanswered request into its slot. The frontend does not
    /// see it until [`publish`](Self::publish). Fails when every consumed request is answered.
    #[inline]
    pub fn push(&mut self, rsp: &Rsp) -> Result<(), RingFull> {
        if self.unanswered() == 0 {
            return Err(RingFull);
        }
        self.rsp
            .write::<_, Rsp>(&self.mem, core::iter::once(rsp), 1);
        Ok(())
    }

    /// Writes responses from `rsps` to the oldest unanswered requests, until every consumed
    /// request is answered or `rsps` ends, taking no more items from `rsps` than it writes.
    /// Returns how many were written; nothing is visible until [`publish`](Self::publish).
    #[inline]
    pub fn push_many(&mut self, rsps: impl IntoIterator<Item = Rsp>) -> u32 {
        let unanswered = self.unanswered();
        self.rsp.write::<_, Rsp>(&self.mem, rsps, unanswered)
    }

    /// Makes the pushed responses visible to the frontend and returns whether it must be
    /// notified (`RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`).
    #[inline]
    pub fn publish(&mut self) -> bool {
        self.rsp.publish(&self.mem, Index::RspProd, Index::RspEvent)
    }

    /// Before going to sleep: asks for a notification on the next request and reports whether
    /// requests are already waiting (`RING_FINAL_CHECK_FOR_REQUESTS`). `true` means poll again
    /// instead of sleeping.
    #[inline]
    pub fn final_check_for_requests(&mut self) -> Result<bool, RingError> {
        let limit = self.request_limit();
        self.req
            .final_check(&self.mem, Index::ReqProd, Index::ReqEvent, limit)
    }

    /// Our private response producer index (`rsp_prod_pvt`).
    #[inline]
    pub fn rsp_prod_pvt(&self) -> u32 {
        self.rsp.pvt
    }

    /// Our request consumer index (`req_cons`).
    #[inline]
    pub fn req_cons(&self) -> u32 {
        self.req.cons
    }

    /// The ring memory.
    pub fn mem(&self) -> &M {
        &self.mem
    }

    /// The frontend may reuse a slot only after consuming the response we published in it, so
    /// `req_prod` can be at most one ring ahead of our published `rsp_prod`
    /// (`RING_REQUEST_PROD_OVERFLOW`, which also rules out `RING_REQUEST_CONS_OVERFLOW`).
    #[inline]
    fn request_limit(&self) -> u32 {
        self.rsp
            .published
            .wrapping_add(self.size())
            .wrapping_sub(self.req.cons)
    }
}

impl<Req, Rsp, M> fmt::Debug for BackRing<Req, Rsp, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackRing")
            .field("size", &(self.mask + 1))
            .field("req_cons", &self.req.cons)
            .field("req_prod_seen", &self.req.seen)
            .field("rsp_prod_pvt", &self.rsp.pvt)
            .field("rsp_prod", &self.rsp.published)
            .finish()
    }
}
