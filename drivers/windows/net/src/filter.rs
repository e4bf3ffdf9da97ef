//! The receive filter NDIS sets: the packet filter bits (directed, multicast, all multicast,
//! broadcast, promiscuous) and the multicast list. The backend's bridge delivers whatever it
//! floods, so frames the filter does not accept are dropped here; multicast list changes are
//! also passed to the backend's filter (`request-multicast-control`) as adds and removes.

use arrayvec::ArrayVec;
use xenpv_ddk::ndis::oid::{
    NDIS_PACKET_TYPE_ALL_MULTICAST, NDIS_PACKET_TYPE_BROADCAST, NDIS_PACKET_TYPE_DIRECTED,
    NDIS_PACKET_TYPE_MULTICAST, NDIS_PACKET_TYPE_PROMISCUOUS,
};

/// Longest multicast list (OID_802_3_MAXIMUM_LIST_SIZE).
pub const MAX_MULTICAST: usize = 32;
/// The packet filter bits this miniport supports.
pub const SUPPORTED_PACKET_FILTERS: u32 = NDIS_PACKET_TYPE_DIRECTED
    | NDIS_PACKET_TYPE_MULTICAST
    | NDIS_PACKET_TYPE_ALL_MULTICAST
    | NDIS_PACKET_TYPE_BROADCAST
    | NDIS_PACKET_TYPE_PROMISCUOUS;

/// Why a filter setting was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterError {
    /// Packet filter bits this miniport does not support.
    Unsupported(u32),
    /// The list is not a whole number of 6-byte addresses.
    Length(usize),
    /// More than [`MAX_MULTICAST`] addresses.
    TooMany(usize),
    /// An address without the group bit.
    NotMulticast([u8; 6]),
}

/// One change to the backend's multicast filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MulticastChange {
    pub addr: [u8; 6],
    pub add: bool,
}

/// The current filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    packet_filter: u32,
    multicast: ArrayVec<[u8; 6], MAX_MULTICAST>,
}

impl Filter {
    /// `OID_GEN_CURRENT_PACKET_FILTER`.
    pub fn packet_filter(&self) -> u32 {
        self.packet_filter
    }

    /// Sets the packet filter.
    pub fn set_packet_filter(&mut self, bits: u32) -> Result<(), FilterError> {
        let unsupported = bits & !SUPPORTED_PACKET_FILTERS;
        if unsupported != 0 {
            return Err(FilterError::Unsupported(unsupported));
        }
        self.packet_filter = bits;
        Ok(())
    }

    /// The multicast list.
    pub fn multicast(&self) -> &[[u8; 6]] {
        &self.multicast
    }

    /// Replaces the multicast list with `list` (packed 6-byte addresses); returns the changes
    /// for the backend's filter.
    pub fn set_multicast(
        &mut self,
        list: &[u8],
    ) -> Result<ArrayVec<MulticastChange, { 2 * MAX_MULTICAST }>, FilterError> {
        if !list.len().is_multiple_of(6) {
            return Err(FilterError::Length(list.len()));
        }
        let count = list.len() / 6;
        if count > MAX_MULTICAST {
            return Err(FilterError::TooMany(count));
        }
        let mut new: ArrayVec<[u8; 6], MAX_MULTICAST> = ArrayVec::new();
        for chunk in list.chunks_exact(6) {
            let addr: [u8; 6] = chunk.try_into().unwrap_or_default();
            if addr[0] & 1 == 0 {
                return Err(FilterError::NotMulticast(addr));
            }
            if !new.contains(&addr) {
                new.push(addr);
            }
        }
        let mut changes = ArrayVec::new();
        for old in &self.multicast {
            if !new.contains(old) {
                changes.push(MulticastChange {
                    addr: *old,
                    add: false,
                });
            }
        }
        for addr in &new {
            if !self.multicast.contains(addr) {
                changes.push(MulticastChange {
                    addr: *addr,
                    add: true,
                });
            }
        }
        self.multicast = new;
        Ok(changes)
    }

    /// Whether a frame for `dest` is delivered to an adapter with address `mac`.
    pub fn accepts(&self, mac: &[u8; 6], dest: &[u8; 6]) -> bool {
        let f = self.packet_filter;
        if f & NDIS_PACKET_TYPE_PROMISCUOUS != 0 {
            return true;
        }
        if dest == &[0xff; 6] {
            return f & NDIS_PACKET_TYPE_BROADCAST != 0;
        }
        if dest[0] & 1 != 0 {
            return f & NDIS_PACKET_TYPE_ALL_MULTICAST != 0
                || (f & NDIS_PACKET_TYPE_MULTICAST != 0 && self.multicast.contains(dest));
        }
        f & NDIS_PACKET_TYPE_DIRECTED != 0 && dest == mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0, 1];
    const GROUP: [u8; 6] = [0x01, 0x00, 0x5e, 0, 0, 1];
    const OTHER_GROUP: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];

    #[test]
    fn the_filter_bits_decide_what_is_delivered() {
        let mut f = Filter::default();
        assert!(!f.accepts(&MAC, &MAC), "nothing before NDIS sets a filter");
        f.set_packet_filter(NDIS_PACKET_TYPE_DIRECTED).unwrap();
        assert!(f.accepts(&MAC, &MAC));
        assert!(!f.accepts(&MAC, &[0x00, 0x16, 0x3e, 0, 0, 2]));
        assert!(!f.accepts(&MAC, &[0xff; 6]));
        f.set_packet_filter(
            NDIS_PACKET_TYPE_DIRECTED | NDIS_PACKET_TYPE_BROADCAST | NDIS_PACKET_TYPE_MULTICAST,
        )
        .unwrap();
        assert!(f.accepts(&MAC, &[0xff; 6]));
        assert!(!f.accepts(&MAC, &GROUP), "not on the list");
        f.set_multicast(&GROUP).unwrap();
        assert!(f.accepts(&MAC, &GROUP));
        assert!(!f.accepts(&MAC, &OTHER_GROUP));
        f.set_packet_filter(NDIS_PACKET_TYPE_ALL_MULTICAST).unwrap();
        assert!(f.accepts(&MAC, &OTHER_GROUP));
        f.set_packet_filter(NDIS_PACKET_TYPE_PROMISCUOUS).unwrap();
        assert!(f.accepts(&MAC, &[0x00, 0x16, 0x3e, 0, 0, 9]));
        assert_eq!(
            f.set_packet_filter(0x100),
            Err(FilterError::Unsupported(0x100))
        );
    }

    #[test]
    fn multicast_changes_are_the_difference_and_bad_lists_are_refused() {
        let mut f = Filter::default();
        let list: std::vec::Vec<u8> = [GROUP, OTHER_GROUP].concat();
        let c = f.set_multicast(&list).unwrap();
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|c| c.add));
        let c = f.set_multicast(&OTHER_GROUP).unwrap();
        assert_eq!(
            c.as_slice(),
            [MulticastChange {
                addr: GROUP,
                add: false
            }]
        );
        assert_eq!(f.set_multicast(&[1, 2, 3]), Err(FilterError::Length(3)));
        assert_eq!(f.set_multicast(&MAC), Err(FilterError::NotMulticast(MAC)));
        let many = [GROUP; MAX_MULTICAST + 1].concat();
        assert_eq!(f.set_multicast(&many), Err(FilterError::TooMany(33)));
        assert_eq!(
            f.multicast(),
            [OTHER_GROUP],
            "a refused list changes nothing"
        );
    }
}
