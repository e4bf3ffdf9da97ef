//! The requests behind grants (`GrantAccess` pends for as long as its pages are granted: the
//! request is the lease that keeps them locked) across the three ways a grant ends: revoked by
//! its handle, released when the handle is closed, or its request cancelled. Each lease is
//! completed exactly once, and never while the remote domain may still map one of its pages
//! (completing it unlocks the pages, which may then be reused: Xen's XSA-396 class of bug).
//!
//! The driver keeps lease requests in a cancel-safe queue; [`LeaseQueue`] is that queue as far as
//! this bookkeeping needs it. A lease leaves it either by the driver taking it (then it can no
//! longer be cancelled) or by the kernel cancelling it (then the driver is handed it once,
//! through [`Leases::cancelled`]).

use alloc::vec::Vec;

use crate::session::{Grant, Home, Session};

/// The driver's queue of pending lease requests.
pub trait LeaseQueue<L> {
    /// Takes `lease` out of the queue; false if it is not there (a cancellation has it).
    fn take(&mut self, lease: L) -> bool;
}

/// Leases whose grants outlived their handle, and cancelled leases still waiting for their
/// grants to end.
pub struct Leases<L> {
    stuck: Vec<Grant<L>>,
    cancelled: Vec<L>,
}

impl<L: Copy + PartialEq> Default for Leases<L> {
    fn default() -> Self {
        Leases {
            stuck: Vec::new(),
            cancelled: Vec::new(),
        }
    }
}

impl<L: Copy + PartialEq> Leases<L> {
    /// Every grant of `lease` has ended: `Some(lease)` when the caller completes it now; `None`
    /// when its cancellation is on the way (then [`Leases::cancelled`] completes it).
    pub fn ended<Q: LeaseQueue<L>>(&mut self, lease: L, queue: &mut Q) -> Option<L> {
        if queue.take(lease) {
            return Some(lease);
        }
        let at = self.cancelled.iter().position(|c| *c == lease)?;
        Some(self.cancelled.swap_remove(at))
    }

    /// Grants of a closed handle that the remote domain still maps.
    pub fn keep(&mut self, stuck: Vec<Grant<L>>) {
        self.stuck.extend(stuck);
    }

    /// Grants still held for closed handles.
    pub fn stuck(&self) -> usize {
        self.stuck.len()
    }

    /// The kernel cancelled `lease` and handed it over: its grants are ended now if they can be,
    /// and `Some(lease)` says to complete it; otherwise it is completed when they end.
    pub fn cancelled<'s, E: 's, H: Home<Event = E>>(
        &mut self,
        lease: L,
        sessions: impl IntoIterator<Item = &'s mut Session<E, L>>,
        home: &mut H,
    ) -> Option<L>
    where
        L: 's,
    {
        for session in sessions {
            if let Some(id) = session.grant_with_lease(&lease) {
                return match session.revoke(home, id) {
                    Ok(lease) => Some(lease),
                    Err(_) => {
                        self.cancelled.push(lease);
                        None
                    }
                };
            }
        }
        if self.stuck.iter().any(|g| g.lease == lease) {
            self.cancelled.push(lease);
            return None;
        }
        // Its grants ended already (revoked or released while the cancellation was on its way).
        Some(lease)
    }

    /// Tries again to end the stuck grants; returns the leases to complete now.
    pub fn retry<H: Home, Q: LeaseQueue<L>>(&mut self, home: &mut H, queue: &mut Q) -> Vec<L> {
        let mut done = Vec::new();
        for grant in core::mem::take(&mut self.stuck) {
            match grant.end(home) {
                Ok(lease) => done.extend(self.ended(lease, queue)),
                Err(grant) => self.stuck.push(grant),
            }
        }
        done
    }
}

#[cfg(test)]
mod tests;
