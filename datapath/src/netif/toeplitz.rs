//! The Toeplitz hash of io/netif.h and the header fields it covers, plus the steering that maps a
//! hash to a queue through an indirection table. The frontend uses it to pick a transmit queue; the
//! sim backend uses the same function to steer receive traffic, as the ctrl ring configures it.

use alloc::vec::Vec;
use arrayvec::ArrayVec;

use super::packet::{HashKind, RssHash};

/// Largest key netback accepts (XEN_NETBK_MAX_HASH_KEY_SIZE) and NDIS uses.
pub const MAX_KEY_LEN: usize = 40;
/// Largest mapping table netback accepts (XEN_NETBK_MAX_HASH_MAPPING_SIZE).
pub const MAX_MAPPING_LEN: usize = 128;

/// The Toeplitz hash of `data` under `key` (io/netif.h's algorithm): for every set bit of the data,
/// XOR in the 32 key bits starting at that bit position; key bits past the end count as zero.
pub fn toeplitz(key: &[u8], data: &[u8]) -> u32 {
    let key_byte = |i: usize| key.get(i).copied().unwrap_or(0);
    // A 64-bit window over the key: its top 32 bits are the key bits aligned with the current data bit.
    let mut window: u64 = (0..8).fold(0, |w, i| w << 8 | u64::from(key_byte(i)));
    let mut hash: u64 = 0;
    for (i, &byte) in data.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= window;
            }
            window <<= 1;
        }
        window |= u64::from(key_byte(i + 8));
    }
    (hash >> 32) as u32
}

/// The header bytes a hash covers, extracted from an Ethernet frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashInput {
    /// The hash type these bytes are for.
    pub kind: HashKind,
    bytes: [u8; 36],
    len: usize,
}

impl HashInput {
    /// The bytes to hash, in netif.h's order (addresses, then ports).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn new(kind: HashKind, parts: &[&[u8]]) -> Self {
        let mut bytes = [0u8; 36];
        let mut len = 0;
        for p in parts {
            bytes[len..len + p.len()].copy_from_slice(p);
            len += p.len();
        }
        Self { kind, bytes, len }
    }
}

const ETH_HLEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const IPPROTO_TCP: u8 = 6;

/// Picks the most specific hash type enabled in `flags` (`XEN_NETIF_CTRL_HASH_TYPE_*`) that the
/// frame supports, as netif.h asks ("the 'maximal' type of hash"), and extracts its input.
/// Frames that are not IPv4/IPv6, or too short, have no hash.
pub fn hash_input(frame: &[u8], flags: u32) -> Option<HashInput> {
    let mut l3 = ETH_HLEN;
    let mut ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    if ethertype == ETHERTYPE_VLAN {
        ethertype = u16::from_be_bytes([*frame.get(16)?, *frame.get(17)?]);
        l3 += 4;
    }
    let ip = frame.get(l3..)?;
    let enabled = |k: HashKind| flags & k.flag() != 0;
    match ethertype {
        ETHERTYPE_IPV4 => {
            let ihl = usize::from(*ip.first()? & 0xf) * 4;
            let addrs = ip.get(12..20)?;
            let fragment = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]) & 0x3fff != 0;
            if enabled(HashKind::Ipv4Tcp) && ip.get(9) == Some(&IPPROTO_TCP) && !fragment {
                if let Some(ports) = ip.get(ihl..ihl + 4).filter(|_| ihl >= 20) {
                    return Some(HashInput::new(HashKind::Ipv4Tcp, &[addrs, ports]));
                }
            }
            enabled(HashKind::Ipv4).then(|| HashInput::new(HashKind::Ipv4, &[addrs]))
        }
        ETHERTYPE_IPV6 => {
            let addrs = ip.get(8..40)?;
            if enabled(HashKind::Ipv6Tcp) && ip.get(6) == Some(&IPPROTO_TCP) {
                if let Some(ports) = ip.get(40..44) {
                    return Some(HashInput::new(HashKind::Ipv6Tcp, &[addrs, ports]));
                }
            }
            enabled(HashKind::Ipv6).then(|| HashInput::new(HashKind::Ipv6, &[addrs]))
        }
        _ => None,
    }
}

/// An invalid steering configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SteeringError {
    /// The key is longer than [`MAX_KEY_LEN`].
    KeyTooLong(usize),
    /// The mapping table is longer than [`MAX_MAPPING_LEN`].
    MappingTooLong(usize),
    /// A mapping entry names a queue that does not exist.
    NoSuchQueue(u32),
}

/// RSS configuration: key, enabled hash types, and the table from hash to queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Steering {
    key: ArrayVec<u8, MAX_KEY_LEN>,
    flags: u32,
    mapping: Vec<u32>,
    queues: u32,
}

impl Steering {
    /// Hashing over `flags` with `key`; hash `h` goes to queue `mapping[h % len]`, or `h % queues`
    /// when the table is empty (netif.h's "modular arithmetic").
    pub fn new(
        key: &[u8],
        flags: u32,
        mapping: &[u32],
        queues: u32,
    ) -> Result<Self, SteeringError> {
        let key = ArrayVec::try_from(key).map_err(|_| SteeringError::KeyTooLong(key.len()))?;
        if mapping.len() > MAX_MAPPING_LEN {
            return Err(SteeringError::MappingTooLong(mapping.len()));
        }
        if let Some(&bad) = mapping.iter().find(|&&q| q >= queues) {
            return Err(SteeringError::NoSuchQueue(bad));
        }
        Ok(Self {
            key,
            flags,
            mapping: mapping.to_vec(),
            queues: queues.max(1),
        })
    }

    /// The key.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// Enabled `XEN_NETIF_CTRL_HASH_TYPE_*` flags.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// The mapping table.
    pub fn mapping(&self) -> &[u32] {
        &self.mapping
    }

    /// The hash of `frame`, if it has one under the enabled types.
    pub fn hash(&self, frame: &[u8]) -> Option<RssHash> {
        let input = hash_input(frame, self.flags)?;
        Some(RssHash {
            value: toeplitz(&self.key, input.bytes()),
            kind: input.kind,
        })
    }

    /// The queue a hash value maps to.
    pub fn queue_for(&self, hash: u32) -> usize {
        let q = if self.mapping.is_empty() {
            hash % self.queues
        } else {
            self.mapping[hash as usize % self.mapping.len()]
        };
        q as usize
    }

    /// The queue `frame` goes to, and its hash; frames without a hash go to queue 0.
    pub fn select(&self, frame: &[u8]) -> (usize, Option<RssHash>) {
        match self.hash(frame) {
            Some(h) => (self.queue_for(h.value), Some(h)),
            None => (0, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xenpv_abi::netif::*;

    /// The key of Microsoft's RSS verification suite.
    const MS_KEY: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f,
        0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
        0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];

    fn ipv4_tcp_frame(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> [u8; 54] {
        let mut f = [0u8; 54];
        f[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        f[14] = 0x45;
        f[14 + 9] = IPPROTO_TCP;
        f[14 + 12..14 + 16].copy_from_slice(&src);
        f[14 + 16..14 + 20].copy_from_slice(&dst);
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f
    }

    /// Published verification values (the "Verifying the RSS Hash Calculation" table of the NDIS
    /// documentation): IPv4 only and IPv4 with TCP ports.
    #[test]
    fn matches_the_ndis_verification_suite() {
        let cases = [
            (
                [66, 9, 149, 187],
                [161, 142, 100, 80],
                2794,
                1766,
                0x323e8fc2,
                0x51ccc178,
            ),
            (
                [199, 92, 111, 2],
                [65, 69, 140, 83],
                14230,
                4739,
                0xd718262a,
                0xc626b0ea,
            ),
            (
                [24, 19, 198, 95],
                [12, 22, 207, 184],
                12898,
                38024,
                0xd2d0a5de,
                0x5c2b394a,
            ),
        ];
        for (src, dst, sport, dport, l3, l4) in cases {
            let frame = ipv4_tcp_frame(src, dst, sport, dport);
            let only_ip = hash_input(&frame, XEN_NETIF_CTRL_HASH_TYPE_IPV4).unwrap();
            assert_eq!(only_ip.kind, HashKind::Ipv4);
            assert_eq!(toeplitz(&MS_KEY, only_ip.bytes()), l3);
            let all = XEN_NETIF_CTRL_HASH_TYPE_IPV4 | XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP;
            let tcp = hash_input(&frame, all).unwrap();
            assert_eq!(tcp.kind, HashKind::Ipv4Tcp, "the maximal type wins");
            assert_eq!(toeplitz(&MS_KEY, tcp.bytes()), l4);
        }
    }

    #[test]
    fn short_keys_are_zero_extended_and_empty_keys_hash_to_zero() {
        assert_eq!(toeplitz(&[], &[0xff; 12]), 0);
        let mut padded = [0u8; 16];
        padded[..3].copy_from_slice(&[0xde, 0xad, 0xbe]);
        assert_eq!(
            toeplitz(&padded[..3], &[1, 2, 3, 4]),
            toeplitz(&padded, &[1, 2, 3, 4])
        );
    }

    #[test]
    fn frames_without_enabled_headers_have_no_hash() {
        let frame = ipv4_tcp_frame([1, 2, 3, 4], [5, 6, 7, 8], 1, 2);
        assert!(hash_input(&frame, XEN_NETIF_CTRL_HASH_TYPE_IPV6).is_none());
        assert!(hash_input(&frame[..20], XEN_NETIF_CTRL_HASH_TYPE_IPV4).is_none());
        let mut arp = frame;
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert!(hash_input(&arp, u32::MAX).is_none());
        let mut fragment = frame;
        fragment[14 + 6] = 0x20; // more fragments: no ports to hash
        let h = hash_input(&fragment, u32::MAX).unwrap();
        assert_eq!(h.kind, HashKind::Ipv4);
    }

    #[test]
    fn ipv6_tcp_covers_addresses_and_ports() {
        let mut f = [0u8; 14 + 40 + 20];
        f[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        f[14 + 6] = IPPROTO_TCP;
        for (i, b) in f[14 + 8..14 + 40].iter_mut().enumerate() {
            *b = i as u8;
        }
        f[54..58].copy_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
        let h = hash_input(&f, u32::MAX).unwrap();
        assert_eq!(h.kind, HashKind::Ipv6Tcp);
        assert_eq!(h.bytes().len(), 36);
        assert_eq!(&h.bytes()[32..], &[0xaa, 0xbb, 0xcc, 0xdd]);
        let l3 = hash_input(&f, XEN_NETIF_CTRL_HASH_TYPE_IPV6).unwrap();
        assert_eq!(l3.bytes(), &f[14 + 8..14 + 40]);
    }

    #[test]
    fn steering_maps_hashes_through_the_table() {
        let flags = XEN_NETIF_CTRL_HASH_TYPE_IPV4 | XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP;
        let s = Steering::new(&MS_KEY, flags, &[1, 0, 1], 2).unwrap();
        let frame = ipv4_tcp_frame([66, 9, 149, 187], [161, 142, 100, 80], 2794, 1766);
        let (q, h) = s.select(&frame);
        assert_eq!(h.unwrap().value, 0x51ccc178);
        assert_eq!(q, [1, 0, 1][0x51ccc178 % 3]);
        let modular = Steering::new(&MS_KEY, flags, &[], 4).unwrap();
        assert_eq!(modular.queue_for(0x51ccc178), 0x51ccc178 % 4);
        assert_eq!(
            Steering::new(&MS_KEY, flags, &[0, 2], 2),
            Err(SteeringError::NoSuchQueue(2))
        );
        assert_eq!(
            Steering::new(&[0; 41], flags, &[], 2),
            Err(SteeringError::KeyTooLong(41))
        );
        assert_eq!(
            Steering::new(&MS_KEY, flags, &[0; 129], 2),
            Err(SteeringError::MappingTooLong(129))
        );
    }
}
