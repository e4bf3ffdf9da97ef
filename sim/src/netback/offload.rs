//! What the kernel does for netback when the receiving frontend cannot take an offload: segment a
//! large TCP packet in software (skb_segment) and fill in checksums left blank
//! (skb_checksum_help). Only the packet's own bytes are trusted here, and a packet whose headers
//! do not parse is reported, never guessed at.

const ETH_HLEN: usize = 14;
const ETH_P_IPV4: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// Why a packet could not be segmented or checksummed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffloadError {
    /// Not Ethernet + IPv4/IPv6 (without extension headers) + TCP/UDP with sane lengths.
    Headers,
    /// A segmentation request for something that is not TCP.
    NotTcp,
}

/// Where a packet's headers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    /// Start of the IP header.
    l3: usize,
    v6: bool,
    /// Start of the TCP/UDP header.
    l4: usize,
    proto: u8,
    /// Length of all headers (through TCP's options; 8 for UDP).
    hlen: usize,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn parse(frame: &[u8]) -> Result<Layout, OffloadError> {
    let bad = OffloadError::Headers;
    let mut l3 = ETH_HLEN;
    let mut ethertype = be16(frame.get(..ETH_HLEN).ok_or(bad)?, 12);
    if ethertype == ETH_P_8021Q {
        ethertype = be16(frame.get(..ETH_HLEN + 4).ok_or(bad)?, 16);
        l3 += 4;
    }
    let (v6, proto, l4) = match ethertype {
        ETH_P_IPV4 => {
            let ip = frame.get(l3..l3 + 20).ok_or(bad)?;
            let ihl = usize::from(ip[0] & 0xf) * 4;
            let fragment = be16(ip, 6) & 0x3fff != 0;
            if ip[0] >> 4 != 4 || ihl < 20 || fragment {
                return Err(bad);
            }
            (false, ip[9], l3 + ihl)
        }
        ETH_P_IPV6 => {
            let ip = frame.get(l3..l3 + 40).ok_or(bad)?;
            if ip[0] >> 4 != 6 {
                return Err(bad);
            }
            (true, ip[6], l3 + 40)
        }
        _ => return Err(bad),
    };
    let hlen = match proto {
        IPPROTO_TCP => {
            let doff = usize::from(frame.get(l4 + 12).ok_or(bad)? >> 4) * 4;
            if doff < 20 {
                return Err(bad);
            }
            l4 + doff
        }
        IPPROTO_UDP => l4 + 8,
        _ => return Err(bad),
    };
    if hlen > frame.len() {
        return Err(bad);
    }
    Ok(Layout {
        l3,
        v6,
        l4,
        proto,
        hlen,
    })
}

/// The one's complement sum of `bytes` added to `acc` (not folded).
fn sum(bytes: &[u8], mut acc: u64) -> u64 {
    let mut words = bytes.chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Fills the TCP/UDP checksum of `packet` (`l` its layout) over the pseudo-header and the
/// transport header and payload, as the sender would have.
fn fill(packet: &mut [u8], l: &Layout) {
    let at = l.l4 + if l.proto == IPPROTO_TCP { 16 } else { 6 };
    packet[at..at + 2].fill(0);
    let l4_len = packet.len() - l.l4;
    let addrs = if l.v6 {
        &packet[l.l3 + 8..l.l3 + 40]
    } else {
        &packet[l.l3 + 12..l.l3 + 20]
    };
    let acc = sum(addrs, u64::from(l.proto) + l4_len as u64);
    let mut csum = !fold(sum(&packet[l.l4..], acc));
    if csum == 0 && l.proto == IPPROTO_UDP {
        // UDP sends a computed zero as all ones (zero means "no checksum").
        csum = 0xffff;
    }
    packet[at..at + 2].copy_from_slice(&csum.to_be_bytes());
}

/// Whether the packet is IPv6 (`Some(true)`) or IPv4, if its headers parse.
pub fn is_ipv6(packet: &[u8]) -> Option<bool> {
    parse(packet).ok().map(|l| l.v6)
}

/// Fills in the TCP or UDP checksum that the sender left blank (skb_checksum_help).
pub fn fill_checksum(packet: &mut [u8]) -> Result<(), OffloadError> {
    let l = parse(packet)?;
    fill(packet, &l);
    Ok(())
}

/// Splits a large TCP packet into segments of at most `mss` payload bytes each (skb_segment):
/// every segment gets a copy of the headers with its own IP length (and, for IPv4, identifier
/// and header checksum), TCP sequence number and flags (FIN and PSH only on the last, CWR only
/// on the first) and a complete TCP checksum. Each segment is built in `buf` and handed to `out`.
pub fn segment(
    packet: &[u8],
    mss: u16,
    buf: &mut Vec<u8>,
    mut out: impl FnMut(&[u8]),
) -> Result<(), OffloadError> {
    let l = parse(packet)?;
    if l.proto != IPPROTO_TCP {
        return Err(OffloadError::NotTcp);
    }
    let payload = &packet[l.hlen..];
    let mss = usize::from(mss.max(1));
    let count = payload.len().div_ceil(mss).max(1);
    let seq = u32::from_be_bytes(packet[l.l4 + 4..l.l4 + 8].try_into().expect("4 bytes"));
    let flags = packet[l.l4 + 13];
    let id = if l.v6 { 0 } else { be16(packet, l.l3 + 4) };
    for (i, chunk) in payload
        .chunks(mss)
        .chain(payload.is_empty().then_some(&[][..]))
        .enumerate()
    {
        buf.clear();
        buf.extend_from_slice(&packet[..l.hlen]);
        buf.extend_from_slice(chunk);
        let ip_len = buf.len() - l.l3;
        if l.v6 {
            buf[l.l3 + 4..l.l3 + 6].copy_from_slice(&((ip_len - 40) as u16).to_be_bytes());
        } else {
            buf[l.l3 + 2..l.l3 + 4].copy_from_slice(&(ip_len as u16).to_be_bytes());
            buf[l.l3 + 4..l.l3 + 6].copy_from_slice(&id.wrapping_add(i as u16).to_be_bytes());
            buf[l.l3 + 10..l.l3 + 12].fill(0);
            let csum = !fold(sum(&buf[l.l3..l.l4], 0));
            buf[l.l3 + 10..l.l3 + 12].copy_from_slice(&csum.to_be_bytes());
        }
        let seg_seq = seq.wrapping_add((i * mss) as u32);
        buf[l.l4 + 4..l.l4 + 8].copy_from_slice(&seg_seq.to_be_bytes());
        let mut f = flags;
        if i + 1 < count {
            f &= !(TCP_FIN | TCP_PSH);
        }
        if i > 0 {
            f &= !TCP_CWR;
        }
        buf[l.l4 + 13] = f;
        fill(buf, &l);
        out(buf);
    }
    Ok(())
}

/// How many segments [`segment`] makes of `packet`, and the largest one's length.
pub fn segments(packet: &[u8], mss: u16) -> Result<(usize, usize), OffloadError> {
    let l = parse(packet)?;
    if l.proto != IPPROTO_TCP {
        return Err(OffloadError::NotTcp);
    }
    let payload = packet.len() - l.hlen;
    let mss = usize::from(mss.max(1));
    Ok((payload.div_ceil(mss).max(1), l.hlen + payload.min(mss)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet frame carrying TCP over IPv4 (`v6` false) or IPv6 with `payload` bytes.
    fn tcp(v6: bool, payload: usize, flags: u8) -> Vec<u8> {
        let l3 = ETH_HLEN;
        let l4 = l3 + if v6 { 40 } else { 20 };
        let mut f = vec![0u8; l4 + 20 + payload];
        f[12..14].copy_from_slice(&(if v6 { ETH_P_IPV6 } else { ETH_P_IPV4 }).to_be_bytes());
        if v6 {
            f[l3] = 0x60;
            f[l3 + 4..l3 + 6].copy_from_slice(&((20 + payload) as u16).to_be_bytes());
            f[l3 + 6] = IPPROTO_TCP;
            f[l3 + 8] = 0xfe;
            f[l3 + 39] = 2;
        } else {
            f[l3] = 0x45;
            f[l3 + 2..l3 + 4].copy_from_slice(&((40 + payload) as u16).to_be_bytes());
            f[l3 + 4..l3 + 6].copy_from_slice(&0x1234u16.to_be_bytes());
            f[l3 + 9] = IPPROTO_TCP;
            f[l3 + 12..l3 + 16].copy_from_slice(&[10, 0, 0, 1]);
            f[l3 + 16..l3 + 20].copy_from_slice(&[10, 0, 0, 2]);
        }
        f[l4 + 4..l4 + 8].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
        f[l4 + 12] = 5 << 4;
        f[l4 + 13] = flags;
        for (i, b) in f[l4 + 20..].iter_mut().enumerate() {
            *b = (i * 7) as u8;
        }
        f
    }

    /// Verifies a checksum independently: summing the pseudo-header and the whole transport
    /// segment, stored checksum included, gives all ones.
    fn l4_ok(p: &[u8]) -> bool {
        let l = parse(p).unwrap();
        let addrs = if l.v6 {
            &p[l.l3 + 8..l.l3 + 40]
        } else {
            &p[l.l3 + 12..l.l3 + 20]
        };
        let acc = sum(addrs, u64::from(l.proto) + (p.len() - l.l4) as u64);
        fold(sum(&p[l.l4..], acc)) == 0xffff
    }

    #[test]
    fn segments_carry_their_own_lengths_sequence_flags_and_checksums() {
        for v6 in [false, true] {
            let packet = tcp(v6, 3000, TCP_FIN | TCP_PSH | TCP_CWR | 0x10);
            let l = parse(&packet).unwrap();
            let mut segs = Vec::new();
            let mut buf = Vec::new();
            segment(&packet, 1448, &mut buf, |s| segs.push(s.to_vec())).unwrap();
            assert_eq!(segments(&packet, 1448), Ok((3, l.hlen + 1448)));
            assert_eq!(segs.len(), 3, "3000 bytes in 1448-byte segments");
            let mut payload = Vec::new();
            for (i, s) in segs.iter().enumerate() {
                let ip_len = s.len() - l.l3;
                if v6 {
                    assert_eq!(usize::from(be16(s, l.l3 + 4)), ip_len - 40);
                } else {
                    assert_eq!(usize::from(be16(s, l.l3 + 2)), ip_len);
                    assert_eq!(be16(s, l.l3 + 4), 0x1234 + i as u16);
                    assert_eq!(fold(sum(&s[l.l3..l.l4], 0)), 0xffff, "IP header checksum");
                }
                let seq = u32::from_be_bytes(s[l.l4 + 4..l.l4 + 8].try_into().unwrap());
                assert_eq!(seq, 0xffff_fff0u32.wrapping_add(1448 * i as u32));
                let f = s[l.l4 + 13];
                assert_eq!(f & (TCP_FIN | TCP_PSH) != 0, i == 2, "FIN/PSH on the last");
                assert_eq!(f & TCP_CWR != 0, i == 0, "CWR on the first");
                assert_eq!(f & 0x10, 0x10, "ACK everywhere");
                assert!(l4_ok(s), "segment {i} TCP checksum (v6 {v6})");
                payload.extend_from_slice(&s[l.hlen..]);
            }
            assert_eq!(payload, packet[l.hlen..], "payload preserved in order");
            assert_eq!(segs[2].len(), l.hlen + 3000 - 2 * 1448);
        }
    }

    #[test]
    fn blank_checksums_are_filled_for_tcp_and_udp() {
        let mut t = tcp(false, 333, 0x18);
        assert!(!l4_ok(&t));
        fill_checksum(&mut t).unwrap();
        assert!(l4_ok(&t));
        let mut u = tcp(true, 100, 0);
        u[ETH_HLEN + 6] = IPPROTO_UDP;
        fill_checksum(&mut u).unwrap();
        assert!(l4_ok(&u));
    }

    #[test]
    fn packets_whose_headers_do_not_parse_are_refused() {
        let mut buf = Vec::new();
        assert_eq!(
            segment(&[0u8; 10], 100, &mut buf, |_| {}),
            Err(OffloadError::Headers)
        );
        let mut arp = tcp(false, 10, 0);
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(fill_checksum(&mut arp), Err(OffloadError::Headers));
        let mut short_doff = tcp(false, 10, 0);
        short_doff[ETH_HLEN + 20 + 12] = 4 << 4;
        assert_eq!(fill_checksum(&mut short_doff), Err(OffloadError::Headers));
        let mut udp = tcp(false, 10, 0);
        udp[ETH_HLEN + 9] = IPPROTO_UDP;
        assert_eq!(
            segment(&udp, 4, &mut buf, |_| {}),
            Err(OffloadError::NotTcp)
        );
        let mut frag = tcp(false, 10, 0);
        frag[ETH_HLEN + 6] = 0x20;
        assert_eq!(fill_checksum(&mut frag), Err(OffloadError::Headers));
        let truncated = tcp(false, 0, 0);
        assert_eq!(
            fill_checksum(&mut truncated[..truncated.len() - 1].to_vec()),
            Err(OffloadError::Headers)
        );
    }
}
