//! NET_BUFFER_LIST chains as NDIS passes them: singly linked through `Next`. A [`NblChain`]
//! collects lists to hand back to NDIS in one call (send completions, receive indications)
//! without allocating: it links them through their own `Next` field.

use core::ptr;

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
