//! What the miniport needs to know about an Ethernet frame's headers: the network and transport
//! protocol and where each header starts. Frames come from the stack (send) or from the backend
//! (receive), so every offset is checked against the frame's length; a frame that is too short
//! or malformed simply has no layout.

/// EtherType of IPv4, ARP and IPv6.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// EtherType of an 802.1Q tag.
const ETHERTYPE_VLAN: u16 = 0x8100;
/// IP protocol numbers.
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;

/// The network layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    Ipv4,
    Ipv6,
}

/// Where the headers of an IP frame are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub network: Network,
    /// Offset of the IP header.
    pub ip: usize,
    /// Length of the IPv4 header (options included) or 40 for IPv6.
    pub ip_len: usize,
    /// Transport protocol (IPv6: the fixed header's next header; extension headers are not
    /// walked, their frames carry that header's number).
    pub protocol: u8,
    /// Offset of the transport header.
    pub transport: usize,
}

impl Layout {
    /// The layout of `frame`'s first bytes, or `None` for non-IP or truncated frames.
    pub fn parse(frame: &[u8]) -> Option<Layout> {
        let mut ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
        let mut ip = 14;
        if ethertype == ETHERTYPE_VLAN {
            ethertype = u16::from_be_bytes([*frame.get(16)?, *frame.get(17)?]);
            ip = 18;
        }
        match ethertype {
            ETHERTYPE_IPV4 => {
                let vihl = *frame.get(ip)?;
                let ip_len = usize::from(vihl & 0xf) * 4;
                if vihl >> 4 != 4 || ip_len < 20 || frame.len() < ip + ip_len {
                    return None;
                }
                Some(Layout {
                    network: Network::Ipv4,
                    ip,
                    ip_len,
                    protocol: frame[ip + 9],
                    transport: ip + ip_len,
                })
            }
            ETHERTYPE_IPV6 => {
                if frame.len() < ip + 40 || frame[ip] >> 4 != 6 {
                    return None;
                }
                Some(Layout {
                    network: Network::Ipv6,
                    ip,
                    ip_len: 40,
                    protocol: frame[ip + 6],
                    transport: ip + 40,
                })
            }
            _ => None,
        }
    }

    /// Length of the TCP header (data offset × 4), if the frame holds a valid one.
    pub fn tcp_header_len(&self, frame: &[u8]) -> Option<usize> {
        if self.protocol != IPPROTO_TCP {
            return None;
        }
        let len = usize::from(*frame.get(self.transport + 12)? >> 4) * 4;
        (len >= 20 && frame.len() >= self.transport + len).then_some(len)
    }

    /// Whether the IPv4 header checksum is right (always true for IPv6, which has none).
    pub fn ip_checksum_ok(&self, frame: &[u8]) -> bool {
        match self.network {
            Network::Ipv6 => true,
            Network::Ipv4 => fold(sum16(&frame[self.ip..self.ip + self.ip_len], 0)) == 0xffff,
        }
    }
}

/// One's complement sum of `bytes` as big-endian 16-bit words (odd length padded), added to
/// `acc`; fold with [`fold`].
pub fn sum16(bytes: &[u8], mut acc: u32) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

/// Folds a 32-bit one's complement accumulator into 16 bits.
pub fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::vec::Vec;

    /// An Ethernet/IPv4/TCP frame with a valid IP header checksum and `payload` bytes.
    pub fn tcp4(payload: usize) -> Vec<u8> {
        let mut f = std::vec![0u8; 54 + payload];
        f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
        f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        f[14] = 0x45;
        f[16..18].copy_from_slice(&((20 + 20 + payload) as u16).to_be_bytes());
        f[22] = 64;
        f[23] = IPPROTO_TCP;
        f[26..30].copy_from_slice(&[10, 0, 0, 1]);
        f[30..34].copy_from_slice(&[10, 0, 0, 2]);
        f[34..36].copy_from_slice(&1000u16.to_be_bytes());
        f[36..38].copy_from_slice(&80u16.to_be_bytes());
        f[46] = 5 << 4;
        let csum = !fold(sum16(&f[14..34], 0));
        f[24..26].copy_from_slice(&csum.to_be_bytes());
        for (i, b) in f[54..].iter_mut().enumerate() {
            *b = i as u8;
        }
        f
    }

    #[test]
    fn ipv4_tcp_layout_and_checksum() {
        let mut f = tcp4(100);
        let l = Layout::parse(&f).unwrap();
        assert_eq!(l.network, Network::Ipv4);
        assert_eq!(
            (l.ip, l.ip_len, l.transport, l.protocol),
            (14, 20, 34, IPPROTO_TCP)
        );
        assert_eq!(l.tcp_header_len(&f), Some(20));
        assert!(l.ip_checksum_ok(&f));
        f[22] = 63;
        assert!(!l.ip_checksum_ok(&f), "a changed TTL breaks the checksum");
    }

    #[test]
    fn truncated_and_foreign_frames_have_no_layout() {
        let f = tcp4(0);
        assert!(Layout::parse(&f[..30]).is_none());
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        assert!(Layout::parse(&arp).is_none());
        let mut bad_ihl = f.clone();
        bad_ihl[14] = 0x44;
        assert!(Layout::parse(&bad_ihl).is_none());
        let mut long_tcp = f;
        long_tcp[46] = 15 << 4;
        let l = Layout::parse(&long_tcp).unwrap();
        assert_eq!(
            l.tcp_header_len(&long_tcp),
            None,
            "TCP header beyond the frame"
        );
    }
}
