//! The TAP device's virtio-net header (include/uapi/linux/virtio_net.h, `struct virtio_net_hdr`,
//! little-endian fields on x86) and its mapping to the netif core's offload metadata:
//! - transmit (a frame read from the TAP): NEEDS_CSUM -> checksum offload, DATA_VALID -> validated,
//!   GSO TCPv4/TCPv6 with gso_size -> a segmentation request with that MSS;
//! - receive (a frame from the backend): a blank checksum becomes NEEDS_CSUM with the TCP/UDP
//!   checksum's position (found by parsing the headers), a validated one DATA_VALID, a coalesced
//!   packet a GSO header with its header length.

use std::fmt;

use xenpv_datapath::netif::{Gso, GsoKind, RxChecksum, RxMeta, TxChecksum, TxOffload};

pub const VNET_HDR_LEN: usize = 10;

pub const F_NEEDS_CSUM: u8 = 1;
pub const F_DATA_VALID: u8 = 2;
pub const GSO_NONE: u8 = 0;
pub const GSO_TCPV4: u8 = 1;
pub const GSO_UDP: u8 = 3;
pub const GSO_TCPV6: u8 = 4;
pub const GSO_ECN: u8 = 0x80;

/// `struct virtio_net_hdr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

/// A header the netif core cannot carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VnetError {
    /// Fewer bytes than a header.
    Short(usize),
    /// A segmentation type other than TCPv4/TCPv6 (UDP, ECN): we never enable them.
    UnsupportedGso(u8),
    /// Segmentation with a zero segment size.
    ZeroMss,
}

impl fmt::Display for VnetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VnetError::Short(n) => write!(f, "{n} bytes is shorter than a virtio-net header"),
            VnetError::UnsupportedGso(t) => write!(f, "unsupported GSO type {t:#x}"),
            VnetError::ZeroMss => f.write_str("GSO with a zero segment size"),
        }
    }
}

impl VnetHdr {
    pub fn parse(b: &[u8]) -> Result<VnetHdr, VnetError> {
        if b.len() < VNET_HDR_LEN {
            return Err(VnetError::Short(b.len()));
        }
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Ok(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        })
    }

    pub fn encode(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        b
    }
}

/// The offload requests of a frame the TAP handed us.
pub fn tx_offload(h: &VnetHdr) -> Result<TxOffload, VnetError> {
    let gso = match h.gso_type {
        GSO_NONE => None,
        GSO_TCPV4 | GSO_TCPV6 if h.gso_size == 0 => return Err(VnetError::ZeroMss),
        GSO_TCPV4 => Some(Gso {
            kind: GsoKind::TcpV4,
            mss: h.gso_size,
        }),
        GSO_TCPV6 => Some(Gso {
            kind: GsoKind::TcpV6,
            mss: h.gso_size,
        }),
        other => return Err(VnetError::UnsupportedGso(other)),
    };
    let checksum = if h.flags & F_NEEDS_CSUM != 0 || gso.is_some() {
        TxChecksum::Offload
    } else if h.flags & F_DATA_VALID != 0 {
        TxChecksum::Validated
    } else {
        TxChecksum::Complete
    };
    Ok(TxOffload { checksum, gso })
}

/// Where the transport header of an Ethernet frame starts, its protocol (6 TCP, 17 UDP) and the
/// length of all headers up to the payload; `None` for anything else or a truncated frame.
fn transport(frame: &[u8]) -> Option<(usize, u8, usize)> {
    const ETH: usize = 14;
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let (l4, proto) = match ethertype {
        0x0800 => {
            let ihl = usize::from(frame.get(ETH)? & 0x0f) * 4;
            if ihl < 20 {
                return None;
            }
            (ETH + ihl, *frame.get(ETH + 9)?)
        }
        // IPv6 without extension headers (what netback's checksum code handles too).
        0x86dd => (ETH + 40, *frame.get(ETH + 6)?),
        _ => return None,
    };
    let l4_len = match proto {
        6 => usize::from(frame.get(l4 + 12)? >> 4) * 4,
        17 => 8,
        _ => return None,
    };
    if frame.len() < l4 + l4_len {
        return None;
    }
    Some((l4, proto, l4 + l4_len))
}

/// The header to put before a frame the backend delivered.
pub fn rx_header(meta: &RxMeta, frame: &[u8]) -> VnetHdr {
    let mut h = VnetHdr::default();
    let t = transport(frame);
    match (meta.checksum, t) {
        (RxChecksum::Blank, Some((l4, proto, _))) => {
            h.flags = F_NEEDS_CSUM;
            h.csum_start = l4 as u16;
            h.csum_offset = if proto == 6 { 16 } else { 6 };
        }
        // A blank checksum we cannot place: the stack will see a bad checksum and drop it, as it
        // would from a real wire.
        (RxChecksum::Blank, None) | (RxChecksum::Unknown, _) => {}
        (RxChecksum::Validated, _) => h.flags = F_DATA_VALID,
    }
    if let (Some(gso), Some((_, 6, headers))) = (meta.gso, t) {
        h.gso_type = match gso.kind {
            GsoKind::TcpV4 => GSO_TCPV4,
            GsoKind::TcpV6 => GSO_TCPV6,
        };
        h.gso_size = gso.mss;
        h.hdr_len = headers as u16;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet + IPv4 (IHL 5) + TCP (data offset 8, i.e. 32 bytes) + payload.
    fn tcp4(payload: usize) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 32 + payload];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[14 + 9] = 6;
        f[34 + 12] = 8 << 4;
        f
    }

    fn udp6() -> Vec<u8> {
        let mut f = vec![0u8; 14 + 40 + 8 + 20];
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        f[14 + 6] = 17;
        f
    }

    #[test]
    fn header_round_trips_little_endian() {
        let h = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            hdr_len: 0x0102,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        let b = h.encode();
        assert_eq!(&b[2..4], &[0x02, 0x01]);
        assert_eq!(VnetHdr::parse(&b), Ok(h));
        assert_eq!(VnetHdr::parse(&b[..9]), Err(VnetError::Short(9)));
    }

    #[test]
    fn tap_offloads_become_netif_offloads() {
        let plain = VnetHdr::default();
        assert_eq!(tx_offload(&plain).unwrap(), TxOffload::default());
        let csum = VnetHdr {
            flags: F_NEEDS_CSUM,
            ..plain
        };
        assert_eq!(tx_offload(&csum).unwrap().checksum, TxChecksum::Offload);
        let valid = VnetHdr {
            flags: F_DATA_VALID,
            ..plain
        };
        assert_eq!(tx_offload(&valid).unwrap().checksum, TxChecksum::Validated);
        let tso6 = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV6,
            gso_size: 1428,
            ..plain
        };
        assert_eq!(
            tx_offload(&tso6).unwrap(),
            TxOffload {
                checksum: TxChecksum::Offload,
                gso: Some(Gso {
                    kind: GsoKind::TcpV6,
                    mss: 1428
                })
            }
        );
        let zero = VnetHdr {
            gso_type: GSO_TCPV4,
            ..plain
        };
        assert_eq!(tx_offload(&zero), Err(VnetError::ZeroMss));
        for t in [GSO_UDP, GSO_TCPV4 | GSO_ECN] {
            let h = VnetHdr {
                gso_type: t,
                gso_size: 1000,
                ..plain
            };
            assert_eq!(tx_offload(&h), Err(VnetError::UnsupportedGso(t)));
        }
    }

    #[test]
    fn blank_checksums_point_at_the_transport_checksum() {
        let meta = RxMeta {
            checksum: RxChecksum::Blank,
            ..RxMeta::default()
        };
        let h = rx_header(&meta, &tcp4(100));
        assert_eq!(
            (h.flags, h.csum_start, h.csum_offset),
            (F_NEEDS_CSUM, 34, 16)
        );
        let h = rx_header(&meta, &udp6());
        assert_eq!(
            (h.flags, h.csum_start, h.csum_offset),
            (F_NEEDS_CSUM, 54, 6)
        );
        // ARP: nothing to checksum, nothing claimed.
        let mut arp = vec![0u8; 42];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(rx_header(&meta, &arp), VnetHdr::default());
        // Truncated TCP header.
        assert_eq!(rx_header(&meta, &tcp4(0)[..40]), VnetHdr::default());
    }

    #[test]
    fn validated_and_coalesced_packets() {
        let valid = RxMeta {
            checksum: RxChecksum::Validated,
            ..RxMeta::default()
        };
        assert_eq!(rx_header(&valid, &tcp4(10)).flags, F_DATA_VALID);
        let lro = RxMeta {
            checksum: RxChecksum::Blank,
            gso: Some(Gso {
                kind: GsoKind::TcpV4,
                mss: 1448,
            }),
            hash: None,
        };
        let h = rx_header(&lro, &tcp4(4000));
        assert_eq!(
            (h.gso_type, h.gso_size, h.hdr_len, h.flags),
            (GSO_TCPV4, 1448, 14 + 20 + 32, F_NEEDS_CSUM)
        );
        assert_eq!(rx_header(&RxMeta::default(), &tcp4(10)), VnetHdr::default());
    }
}
