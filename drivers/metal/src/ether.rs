//! The few frames the net step speaks: ARP (to learn dom0's MAC and answer dom0's question about
//! ours) and ICMP echo over IPv4. Received frames come from the backend, so parsing checks every
//! length and checksum and turns anything else into `None`.

use alloc::vec::Vec;

pub type Mac = [u8; 6];
pub type Ip = [u8; 4];

const ETH_HEADER: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const ARP_LEN: usize = 28;
const IPV4_HEADER: usize = 20;
const PROTO_ICMP: u8 = 1;
const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP_HEADER: usize = 8;
/// Ethernet's minimum frame (without the FCS, which the backend side adds or ignores).
const MIN_FRAME: usize = 60;

/// What a received frame means to us.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// An ARP reply: `ip` is at `mac`.
    ArpReply { mac: Mac, ip: Ip },
    /// An ARP request asking for `target`, from `mac`/`ip`.
    ArpRequest { mac: Mac, ip: Ip, target: Ip },
    /// An ICMP echo reply from `src` to `dst` (checksums correct).
    EchoReply {
        src: Ip,
        dst: Ip,
        id: u16,
        seq: u16,
        payload: &'a [u8],
    },
}

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

fn ethernet(dst: Mac, src: Mac, ethertype: u16, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity((ETH_HEADER + body.len()).max(MIN_FRAME));
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(body);
    f.resize(f.len().max(MIN_FRAME), 0);
    f
}

fn arp(op: u16, sha: Mac, spa: Ip, tha: Mac, tpa: Ip) -> [u8; ARP_LEN] {
    let mut a = [0u8; ARP_LEN];
    a[0..2].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    a[2..4].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    a[4] = 6;
    a[5] = 4;
    a[6..8].copy_from_slice(&op.to_be_bytes());
    a[8..14].copy_from_slice(&sha);
    a[14..18].copy_from_slice(&spa);
    a[18..24].copy_from_slice(&tha);
    a[24..28].copy_from_slice(&tpa);
    a
}

/// A broadcast "who has `target`? tell `ip`".
pub fn arp_request(mac: Mac, ip: Ip, target: Ip) -> Vec<u8> {
    ethernet(
        [0xFF; 6],
        mac,
        ETHERTYPE_ARP,
        &arp(1, mac, ip, [0; 6], target),
    )
}

/// "`ip` is at `mac`", to the asker.
pub fn arp_reply(mac: Mac, ip: Ip, to_mac: Mac, to_ip: Ip) -> Vec<u8> {
    ethernet(to_mac, mac, ETHERTYPE_ARP, &arp(2, mac, ip, to_mac, to_ip))
}

/// An ICMP echo request in an IPv4 packet in an Ethernet frame.
pub fn echo_request(
    (src_mac, src): (Mac, Ip),
    (dst_mac, dst): (Mac, Ip),
    id: u16,
    seq: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut icmp = Vec::with_capacity(ICMP_HEADER + payload.len());
    icmp.extend_from_slice(&[ICMP_ECHO_REQUEST, 0, 0, 0]);
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(payload);
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());

    let total = (IPV4_HEADER + icmp.len()) as u16;
    let mut ip = Vec::with_capacity(usize::from(total));
    ip.extend_from_slice(&[0x45, 0]);
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&seq.to_be_bytes()); // identification
    ip.extend_from_slice(&[0x40, 0, 64, PROTO_ICMP, 0, 0]); // DF, TTL 64
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ethernet(dst_mac, src_mac, ETHERTYPE_IPV4, &ip)
}

fn field<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at + N)?.try_into().ok()
}

/// What `frame` is, if it is one of ours; `None` for anything else or anything malformed.
pub fn parse(frame: &[u8]) -> Option<Incoming<'_>> {
    let ethertype = u16::from_be_bytes(field(frame, 12)?);
    let body = frame.get(ETH_HEADER..)?;
    match ethertype {
        ETHERTYPE_ARP => {
            let a = body.get(..ARP_LEN)?;
            if a[0..6] != [0, 1, 0x08, 0x00, 6, 4] {
                return None;
            }
            let (mac, ip) = (field(a, 8)?, field(a, 14)?);
            match u16::from_be_bytes(field(a, 6)?) {
                1 => Some(Incoming::ArpRequest {
                    mac,
                    ip,
                    target: field(a, 24)?,
                }),
                2 => Some(Incoming::ArpReply { mac, ip }),
                _ => None,
            }
        }
        ETHERTYPE_IPV4 => {
            let header_len = usize::from(*body.first()? & 0x0F) * 4;
            let total = usize::from(u16::from_be_bytes(field(body, 2)?));
            if body[0] >> 4 != 4 || header_len < IPV4_HEADER || total < header_len {
                return None;
            }
            let packet = body.get(..total)?;
            let header = &packet[..header_len];
            if checksum(header) != 0 || header[9] != PROTO_ICMP {
                return None;
            }
            // Not a fragment (MF clear, offset 0).
            if u16::from_be_bytes(field(header, 6)?) & 0x3FFF != 0 {
                return None;
            }
            let icmp = &packet[header_len..];
            if icmp.len() < ICMP_HEADER || checksum(icmp) != 0 || icmp[0] != ICMP_ECHO_REPLY {
                return None;
            }
            Some(Incoming::EchoReply {
                src: field(header, 12)?,
                dst: field(header, 16)?,
                id: u16::from_be_bytes(field(icmp, 4)?),
                seq: u16::from_be_bytes(field(icmp, 6)?),
                payload: &icmp[ICMP_HEADER..],
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    const US: (Mac, Ip) = ([0, 0x16, 0x3e, 0, 0, 2], [10, 9, 1, 2]);
    const DOM0: (Mac, Ip) = ([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff], [10, 9, 1, 1]);

    /// The echo reply dom0 would send for `request`: addresses swapped, type 0, checksums redone.
    fn reply_to(request: &[u8]) -> Vec<u8> {
        let mut f = request.to_vec();
        let (dst, src) = (f[0..6].to_vec(), f[6..12].to_vec());
        f[0..6].copy_from_slice(&src);
        f[6..12].copy_from_slice(&dst);
        let (s, d) = (f[26..30].to_vec(), f[30..34].to_vec());
        f[26..30].copy_from_slice(&d);
        f[30..34].copy_from_slice(&s);
        f[24..26].fill(0);
        let c = checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f[34] = ICMP_ECHO_REPLY;
        let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
        f[36..38].fill(0);
        let c = checksum(&f[34..14 + total]);
        f[36..38].copy_from_slice(&c.to_be_bytes());
        f
    }

    #[test]
    fn checksum_matches_rfc_1071() {
        // RFC 1071's example words sum to 0xddf2; the checksum is its complement.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        // An odd length pads with a zero byte.
        assert_eq!(checksum(&[0xab]), !0xab00);
        // A block with its checksum inserted sums to zero.
        let mut b = vec![
            0x45, 0, 0, 28, 0, 1, 0x40, 0, 64, 1, 0, 0, 10, 9, 1, 2, 10, 9, 1, 1,
        ];
        let c = checksum(&b);
        b[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(checksum(&b), 0);
    }

    #[test]
    fn arp_request_and_reply_parse_back() {
        let req = arp_request(US.0, US.1, DOM0.1);
        assert_eq!(req.len(), MIN_FRAME);
        assert_eq!(req[0..6], [0xFF; 6]);
        assert_eq!(
            parse(&req),
            Some(Incoming::ArpRequest {
                mac: US.0,
                ip: US.1,
                target: DOM0.1
            })
        );
        let rep = arp_reply(DOM0.0, DOM0.1, US.0, US.1);
        assert_eq!(rep[0..6], US.0);
        assert_eq!(
            parse(&rep),
            Some(Incoming::ArpReply {
                mac: DOM0.0,
                ip: DOM0.1
            })
        );
    }

    #[test]
    fn an_echo_request_has_valid_checksums_and_its_reply_parses() {
        let req = echo_request(US, DOM0, 0x6d74, 7, b"payload!");
        assert_eq!(checksum(&req[14..34]), 0, "IPv4 header checksum");
        assert_eq!(checksum(&req[34..34 + 8 + 8]), 0, "ICMP checksum");
        // A request is not a reply.
        assert_eq!(parse(&req), None);
        let rep = reply_to(&req);
        assert_eq!(
            parse(&rep),
            Some(Incoming::EchoReply {
                src: DOM0.1,
                dst: US.1,
                id: 0x6d74,
                seq: 7,
                payload: b"payload!"
            })
        );
    }

    #[test]
    fn malformed_frames_are_ignored() {
        let rep = reply_to(&echo_request(US, DOM0, 1, 2, &[9; 40]));
        // Every truncation, however short.
        for len in 0..14 + 20 + 8 + 40 {
            assert_eq!(parse(&rep[..len]), None, "truncated to {len}");
        }
        let corrupt = |at: usize| {
            let mut f = rep.clone();
            f[at] ^= 0x10;
            parse(&f).is_none()
        };
        assert!(corrupt(14 + 12), "IPv4 header checksum");
        assert!(corrupt(14 + 20 + 8 + 3), "ICMP checksum over the payload");
        // A fragment, even with a correct checksum.
        let mut frag = rep.clone();
        frag[14 + 6] |= 0x20;
        frag[24..26].fill(0);
        let c = checksum(&frag[14..34]);
        frag[24..26].copy_from_slice(&c.to_be_bytes());
        assert_eq!(parse(&frag), None);
        // An IPv4 total length beyond the frame, or below its header.
        for total in [u16::MAX, 19] {
            let mut f = rep.clone();
            f[16..18].copy_from_slice(&total.to_be_bytes());
            assert_eq!(parse(&f), None, "total length {total}");
        }
        // ARP for another protocol or with an unknown operation.
        let mut arp = arp_reply(DOM0.0, DOM0.1, US.0, US.1);
        arp[14 + 7] = 3;
        assert_eq!(parse(&arp), None);
        arp[14 + 7] = 2;
        arp[14 + 2] = 0x86;
        assert_eq!(parse(&arp), None);
    }
}
