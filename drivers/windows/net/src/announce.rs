//! What a NIC sends after a resume or migration so that switches and neighbours learn where its
//! addresses are now: a gratuitous ARP for each IPv4 address and an unsolicited neighbour
//! advertisement (override flag set) for each IPv6 address.

use arrayvec::ArrayVec;

use crate::frame::{fold, sum16, ETHERTYPE_ARP, ETHERTYPE_IPV6, IPPROTO_ICMPV6};

/// Length of a gratuitous ARP: 42 bytes padded to the Ethernet minimum of 60.
pub const ARP_LEN: usize = 60;
/// Length of a neighbour advertisement with the target link-layer address option.
pub const NA_LEN: usize = 14 + 40 + 32;
/// An announcement frame.
pub type Frame = ArrayVec<u8, NA_LEN>;

/// A gratuitous ARP request for `ip` from `mac` (sender and target address both `ip`).
pub fn gratuitous_arp(mac: [u8; 6], ip: [u8; 4]) -> Frame {
    let mut f = Frame::new();
    f.extend([0xff; 6]);
    f.extend(mac);
    f.extend(ETHERTYPE_ARP.to_be_bytes());
    f.extend([0, 1, 0x08, 0x00, 6, 4, 0, 1]); // Ethernet, IPv4, lengths, request
    f.extend(mac);
    f.extend(ip);
    f.extend([0; 6]);
    f.extend(ip);
    while f.len() < ARP_LEN {
        f.push(0);
    }
    f
}

/// An unsolicited neighbour advertisement (RFC 4861 §4.4, §7.2.6) for `ip` from `mac` to the
/// all-nodes group, with the override flag and the target link-layer address option.
pub fn unsolicited_na(mac: [u8; 6], ip: [u8; 16]) -> Frame {
    const ALL_NODES: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let mut f = Frame::new();
    f.extend([0x33, 0x33, 0, 0, 0, 1]);
    f.extend(mac);
    f.extend(ETHERTYPE_IPV6.to_be_bytes());
    f.extend([0x60, 0, 0, 0]);
    f.extend(32u16.to_be_bytes());
    f.extend([IPPROTO_ICMPV6, 255]);
    f.extend(ip);
    f.extend(ALL_NODES);
    // ICMPv6 type 136, code 0, checksum (later), flags R=0 S=0 O=1, target, option 2 (target
    // link-layer address) of 1 unit.
    f.extend([136, 0, 0, 0, 0x20, 0, 0, 0]);
    f.extend(ip);
    f.extend([2, 1]);
    f.extend(mac);
    let icmp = 14 + 40;
    // Pseudo-header: source, destination, upper-layer length, next header.
    let mut acc = sum16(&f[22..54], 0);
    acc += 32 + u32::from(IPPROTO_ICMPV6);
    let csum = !fold(sum16(&f[icmp..], acc));
    f[icmp + 2..icmp + 4].copy_from_slice(&csum.to_be_bytes());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0x12, 0x34, 0x56];

    #[test]
    fn gratuitous_arp_names_the_address_twice() {
        let f = gratuitous_arp(MAC, [192, 168, 1, 20]);
        assert_eq!(f.len(), ARP_LEN);
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &MAC);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[20..22], &[0, 1], "request");
        assert_eq!(&f[22..28], &MAC, "sender hardware address");
        assert_eq!(&f[28..32], &[192, 168, 1, 20], "sender protocol address");
        assert_eq!(&f[38..42], &[192, 168, 1, 20], "target protocol address");
        assert!(f[42..].iter().all(|&b| b == 0));
    }

    #[test]
    fn neighbour_advertisement_checksums_over_the_pseudo_header() {
        let ip = [
            0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x16, 0x3e, 0xff, 0xfe, 0x12, 0x34, 0x56,
        ];
        let f = unsafe_free_na(ip);
        assert_eq!(f.len(), NA_LEN);
        assert_eq!(&f[0..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(f[20], IPPROTO_ICMPV6);
        assert_eq!(f[21], 255, "hop limit 255, or receivers discard it");
        assert_eq!(f[54], 136);
        assert_eq!(f[58], 0x20, "override");
        assert_eq!(&f[62..78], &ip);
        assert_eq!(&f[78..80], &[2, 1]);
        assert_eq!(&f[80..86], &MAC);
        // Verifying: the sum over pseudo-header and message, checksum included, is all ones.
        let acc = sum16(&f[22..54], 32 + u32::from(IPPROTO_ICMPV6));
        assert_eq!(fold(sum16(&f[54..], acc)), 0xffff);
        // A different address gives a different checksum.
        let mut other = ip;
        other[15] ^= 1;
        assert_ne!(unsafe_free_na(other)[56..58], f[56..58]);
    }

    fn unsafe_free_na(ip: [u8; 16]) -> Frame {
        unsolicited_na(MAC, ip)
    }
}
