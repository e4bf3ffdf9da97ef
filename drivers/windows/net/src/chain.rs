//! NET_BUFFER_LIST chains as NDIS passes them: singly linked through `Next`. A [`NblChain`]
//! collects lists to hand back to NDIS in one call (send completions, receive indications)
//! without allocating: it links them through their own `Next` field.

use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use xenpv_ddk::ndis::nbl::NetBufferList;

/// A chain being built: head, tail and length.
#[derive(Debug)]
pub struct NblChain {
    head: *mut NetBufferList,
    tail: *mut NetBufferList,
    len: u32,
}

impl Default for NblChain {
    fn default() -> Self {
        Self {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
            len: 0,
        }
    }
}

impl NblChain {
    /// Appends `nbl`, which must not be on another chain.
    ///
    /// # Safety
    /// `nbl` points to a NET_BUFFER_LIST this code owns until the chain is handed back.
    pub unsafe fn push(&mut self, nbl: *mut NetBufferList) {
        // SAFETY: the caller owns `nbl`; the tail is a list pushed earlier, still owned.
        unsafe {
            (*nbl).next = ptr::null_mut();
            if self.tail.is_null() {
                self.head = nbl;
            } else {
                (*self.tail).next = nbl;
            }
        }
        self.tail = nbl;
        self.len += 1;
    }

    /// The first list (null when empty) and the number of lists; the chain is emptied.
    pub fn take(&mut self) -> (*mut NetBufferList, u32) {
        let out = (self.head, self.len);
        *self = Self::default();
        out
    }

    /// Number of lists on the chain.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the chain is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A lock-free stack of lists, linked through their `Next` fields: how work that arrives while
/// the adapter is busy (sends, returns at DISPATCH_LEVEL) is left for the holder. Lists are
/// pushed one at a time, so [`take_all`](Self::take_all) can return them in arrival order.
#[derive(Debug, Default)]
pub struct NblStack {
    top: AtomicPtr<NetBufferList>,
}

impl NblStack {
    /// Pushes every list of the chain `head`, in order.
    ///
    /// # Safety
    /// `head` is null or a chain of valid lists the caller owns and hands over.
    pub unsafe fn push_chain(&self, head: *mut NetBufferList) {
        // SAFETY: per the contract; `iter` reads each `next` before the list is relinked.
        for nbl in unsafe { iter(head) } {
            let mut top = self.top.load(Ordering::Acquire);
            loop {
                // SAFETY: the list is ours until someone takes the stack.
                unsafe { (*nbl).next = top };
                match self
                    .top
                    .compare_exchange_weak(top, nbl, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => break,
                    Err(t) => top = t,
                }
            }
        }
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.top.load(Ordering::Acquire).is_null()
    }

    /// Takes every list pushed so far, as a chain in the order they were pushed.
    pub fn take_all(&self) -> *mut NetBufferList {
        let mut list = self.top.swap(ptr::null_mut(), Ordering::AcqRel);
        let mut reversed: *mut NetBufferList = ptr::null_mut();
        while !list.is_null() {
            // SAFETY: the lists on the stack were handed over by `push_chain` and are now ours.
            let next = unsafe { (*list).next };
            // SAFETY: as above.
            unsafe { (*list).next = reversed };
            reversed = list;
            list = next;
        }
        reversed
    }
}

/// Walks a chain NDIS handed over, reading each `Next` before yielding the list (the consumer
/// may relink it).
///
/// # Safety
/// `head` is null or the first of a chain of valid NET_BUFFER_LISTs owned by the caller.
pub unsafe fn iter(head: *mut NetBufferList) -> impl Iterator<Item = *mut NetBufferList> {
    let mut next = head;
    core::iter::from_fn(move || {
        if next.is_null() {
            return None;
        }
        let current = next;
        // SAFETY: per the function's contract every list on the chain is valid.
        next = unsafe { (*current).next };
        Some(current)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::send::tests::zeroed;
    use std::sync::Arc;
    use std::vec::Vec;

    fn lists(n: usize) -> Vec<NetBufferList> {
        (0..n)
            .map(|i| {
                let mut l: NetBufferList = *zeroed();
                l.status = i as i32;
                l
            })
            .collect()
    }

    fn statuses(head: *mut NetBufferList) -> Vec<i32> {
        // SAFETY: lists of the test.
        unsafe { iter(head).map(|l| (*l).status).collect() }
    }

    #[test]
    fn chains_keep_their_order_through_builder_and_stack() {
        let mut ls = lists(5);
        let mut a = NblChain::default();
        let mut b = NblChain::default();
        for (i, l) in ls.iter_mut().enumerate() {
            // SAFETY: the lists outlive the chains.
            unsafe {
                if i < 3 {
                    a.push(l)
                } else {
                    b.push(l)
                }
            }
        }
        assert_eq!(a.len(), 3);
        let stack = NblStack::default();
        assert!(stack.is_empty());
        // SAFETY: both chains are handed over once.
        unsafe {
            stack.push_chain(a.take().0);
            stack.push_chain(b.take().0);
        }
        assert!(a.is_empty() && !stack.is_empty());
        assert_eq!(statuses(stack.take_all()), [0, 1, 2, 3, 4]);
        assert!(stack.take_all().is_null());
    }

    #[test]
    fn concurrent_pushes_lose_nothing_and_keep_each_pushers_order() {
        let stack = Arc::new(NblStack::default());
        let per = 500;
        let mut all: Vec<Vec<NetBufferList>> = (0..4).map(|_| lists(per)).collect();
        for (t, ls) in all.iter_mut().enumerate() {
            for l in ls.iter_mut() {
                l.status += (t * per) as i32;
            }
        }
        let addrs: Vec<Vec<usize>> = all
            .iter_mut()
            .map(|ls| {
                ls.iter_mut()
                    .map(|l| l as *mut NetBufferList as usize)
                    .collect()
            })
            .collect();
        let threads: Vec<_> = addrs
            .into_iter()
            .map(|ptrs| {
                let stack = stack.clone();
                std::thread::spawn(move || {
                    for p in ptrs {
                        // SAFETY: each list is pushed once, by one thread, and outlives the test.
                        unsafe {
                            (*(p as *mut NetBufferList)).next = ptr::null_mut();
                            stack.push_chain(p as *mut NetBufferList);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let got = statuses(stack.take_all());
        assert_eq!(got.len(), 4 * per);
        for t in 0..4 {
            let mine: Vec<i32> = got
                .iter()
                .copied()
                .filter(|s| (*s as usize) / per == t)
                .collect();
            let want: Vec<i32> = (0..per).map(|i| (t * per + i) as i32).collect();
            assert_eq!(mine, want, "thread {t}'s lists in its order");
        }
    }
}
