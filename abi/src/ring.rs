//! The shared ring page header of io/ring.h and the ring size arithmetic of `__RING_SIZE`.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::PAGE_SIZE;

/// C `RING_IDX`: free-running ring index, wraps at 2^32.
pub type RingIdx = u32;

/// The first 64 bytes of every `struct xxx_sring` that `DEFINE_RING_TYPES` declares; the entries
/// follow immediately after it.
///
/// The C header splits `pad` into a 4-byte `pvt` union (netif `smartpoll_active`, unused by current
/// backends) and a 44-byte `__pad`; we keep them as one opaque block.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct SringHeader {
    /// Requests produced by the frontend.
    pub req_prod: RingIdx,
    /// The backend wants an event when `req_prod` passes this index.
    pub req_event: RingIdx,
    /// Responses produced by the backend.
    pub rsp_prod: RingIdx,
    /// The frontend wants an event when `rsp_prod` passes this index.
    pub rsp_event: RingIdx,
    /// C `pvt` and `__pad`.
    pub pad: [u8; 48],
}

/// Bytes before the first ring entry (C `offsetof(struct xxx_sring, ring)`).
pub const SRING_HEADER_SIZE: usize = 64;

/// Bytes in a ring of `2^order` pages.
pub const fn ring_bytes(order: u32) -> usize {
    PAGE_SIZE << order
}

/// Size of one ring slot: the C ring is an array of `union { req; rsp; }`.
pub const fn sring_entry_size(req_size: usize, rsp_size: usize) -> usize {
    if req_size > rsp_size {
        req_size
    } else {
        rsp_size
    }
}

/// Number of entries in a shared ring of `ring_bytes` bytes whose slots are `entry_size` bytes:
/// the C `__RING_SIZE`, which rounds the number of slots that fit down to a power of two so that
/// indices can be masked. Zero when nothing fits (or `entry_size` is zero).
pub const fn sring_entries(ring_bytes: usize, entry_size: usize) -> u32 {
    if entry_size == 0 || ring_bytes <= SRING_HEADER_SIZE {
        return 0;
    }
    let fits = (ring_bytes - SRING_HEADER_SIZE) / entry_size;
    if fits == 0 {
        return 0;
    }
    // __RD32 only looks at 32 bits: clamp so that a huge ring still yields a power of two.
    let fits = if fits > u32::MAX as usize {
        u32::MAX
    } else {
        fits as u32
    };
    1 << (31 - fits.leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blkif::{BlkifRequest, BlkifResponse};
    use crate::netif::{NetifRxRequest, NetifRxResponse, NetifTxRequest, NetifTxResponse};
    use core::mem::size_of;

    fn slots(order: u32, req: usize, rsp: usize) -> u32 {
        sring_entries(ring_bytes(order), sring_entry_size(req, rsp))
    }

    #[test]
    fn one_page_holds_256_netif_slots_and_32_blkif_requests() {
        let tx = (size_of::<NetifTxRequest>(), size_of::<NetifTxResponse>());
        let rx = (size_of::<NetifRxRequest>(), size_of::<NetifRxResponse>());
        let blk = (size_of::<BlkifRequest>(), size_of::<BlkifResponse>());
        assert_eq!(slots(0, tx.0, tx.1), 256);
        assert_eq!(slots(0, rx.0, rx.1), 256);
        assert_eq!(slots(0, blk.0, blk.1), 32);
    }

    #[test]
    fn each_ring_order_doubles_the_slots() {
        let blk = (size_of::<BlkifRequest>(), size_of::<BlkifResponse>());
        let tx = (size_of::<NetifTxRequest>(), size_of::<NetifTxResponse>());
        for order in 0..4 {
            assert_eq!(
                slots(order + 1, blk.0, blk.1),
                2 * slots(order, blk.0, blk.1)
            );
            assert_eq!(slots(order + 1, tx.0, tx.1), 2 * slots(order, tx.0, tx.1));
        }
        assert_eq!(slots(4, blk.0, blk.1), 512);
        assert_eq!(ring_bytes(4), 16 * PAGE_SIZE);
    }

    #[test]
    fn slot_count_rounds_down_to_a_power_of_two() {
        assert_eq!(sring_entries(SRING_HEADER_SIZE + 3 * 8, 8), 2);
        assert_eq!(sring_entries(SRING_HEADER_SIZE + 8 * 8, 8), 8);
        assert_eq!(sring_entries(SRING_HEADER_SIZE + 8 * 8 - 1, 8), 4);
        assert_eq!(sring_entries(SRING_HEADER_SIZE + 1, 1), 1);
    }

    #[test]
    fn a_ring_with_no_room_for_a_slot_has_no_entries() {
        assert_eq!(sring_entries(0, 8), 0);
        assert_eq!(sring_entries(SRING_HEADER_SIZE, 8), 0);
        assert_eq!(sring_entries(SRING_HEADER_SIZE + 7, 8), 0);
        assert_eq!(sring_entries(PAGE_SIZE, 0), 0);
        assert_eq!(sring_entries(PAGE_SIZE, PAGE_SIZE), 0);
    }

    #[test]
    fn slot_size_is_the_larger_of_request_and_response() {
        assert_eq!(sring_entry_size(112, 16), 112);
        assert_eq!(sring_entry_size(8, 12), 12);
        assert_eq!(sring_entry_size(8, 8), 8);
    }
}
