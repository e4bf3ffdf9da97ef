//! Splitting a coalesced TCP receive into MSS-sized frames, for when the stack has turned RSC
//! off: the backend still hands over large receives (the frontend asked for them when it
//! connected), and a frame longer than the MTU must not reach a stack that expects none. Each
//! segment gets its own IP length (and IPv4 id and header checksum), TCP sequence number and
//! flags (FIN and PSH only on the last, CWR only on the first) and a full TCP checksum.

use crate::frame::{fold, sum16, Layout, Network, IPPROTO_TCP};

/// Why a frame could not be split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentError {
    /// Not a well-formed TCP over IPv4/IPv6 frame.
    NotTcp,
    /// A segment would not fit the scratch space.
    TooLong,
}

/// Splits `frame` into segments of at most `mss` payload bytes, each built in `scratch` and
/// handed to `emit`; returns how many there were.
pub fn segment(
    frame: &[u8],
    mss: u16,
    scratch: &mut [u8],
    mut emit: impl FnMut(&[u8]),
) -> Result<usize, SegmentError> {
    let l = Layout::parse(frame).ok_or(SegmentError::NotTcp)?;
    if l.protocol != IPPROTO_TCP || mss == 0 {
        return Err(SegmentError::NotTcp);
    }
    let tcp_len = l.tcp_header_len(frame).ok_or(SegmentError::NotTcp)?;
    let headers = l.transport + tcp_len;
    let payload = &frame[headers..];
    let t = l.transport;
    let seq = u32::from_be_bytes([frame[t + 4], frame[t + 5], frame[t + 6], frame[t + 7]]);
    let flags = frame[t + 13];
    let id = u16::from_be_bytes([frame[l.ip + 4], frame[l.ip + 5]]);
    let count = payload.len().div_ceil(usize::from(mss)).max(1);
    for i in 0..count {
        let start = (i * usize::from(mss)).min(payload.len());
        let chunk = &payload[start..(start + usize::from(mss)).min(payload.len())];
        let len = headers + chunk.len();
        let seg = scratch.get_mut(..len).ok_or(SegmentError::TooLong)?;
        seg[..headers].copy_from_slice(&frame[..headers]);
        seg[headers..].copy_from_slice(chunk);
        let tcp_total = (tcp_len + chunk.len()) as u16;
        match l.network {
            Network::Ipv4 => {
                let total = (l.ip_len as u16) + tcp_total;
                seg[l.ip + 2..l.ip + 4].copy_from_slice(&total.to_be_bytes());
                seg[l.ip + 4..l.ip + 6].copy_from_slice(&id.wrapping_add(i as u16).to_be_bytes());
                seg[l.ip + 10..l.ip + 12].fill(0);
                let c = !fold(sum16(&seg[l.ip..l.ip + l.ip_len], 0));
                seg[l.ip + 10..l.ip + 12].copy_from_slice(&c.to_be_bytes());
            }
            Network::Ipv6 => seg[l.ip + 4..l.ip + 6].copy_from_slice(&tcp_total.to_be_bytes()),
        }
        let seq_i = seq.wrapping_add(start as u32);
        seg[t + 4..t + 8].copy_from_slice(&seq_i.to_be_bytes());
        let mut f = flags;
        if i + 1 < count {
            f &= !(0x01 | 0x08); // FIN, PSH
        }
        if i > 0 {
            f &= !0x80; // CWR
        }
        seg[t + 13] = f;
        seg[t + 16..t + 18].fill(0);
        // Pseudo-header: addresses, protocol and TCP length.
        let addrs = match l.network {
            Network::Ipv4 => &seg[l.ip + 12..l.ip + 20],
            Network::Ipv6 => &seg[l.ip + 8..l.ip + 40],
        };
        let acc = sum16(addrs, u32::from(IPPROTO_TCP) + u32::from(tcp_total));
        let c = !fold(sum16(&seg[t..], acc));
        seg[t + 16..t + 18].copy_from_slice(&c.to_be_bytes());
        emit(seg);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::tests::tcp4;
    use crate::frame::ETHERTYPE_IPV6;
    use std::vec::Vec;

    fn tcp_ok(seg: &[u8]) -> bool {
        let l = Layout::parse(seg).unwrap();
        let tcp_total = (seg.len() - l.transport) as u32;
        let addrs = match l.network {
            Network::Ipv4 => &seg[l.ip + 12..l.ip + 20],
            Network::Ipv6 => &seg[l.ip + 8..l.ip + 40],
        };
        let acc = sum16(addrs, u32::from(IPPROTO_TCP) + tcp_total);
        fold(sum16(&seg[l.transport..], acc)) == 0xffff
    }

    fn split(frame: &[u8], mss: u16) -> Vec<Vec<u8>> {
        let mut scratch = std::vec![0u8; 70_000];
        let mut out = Vec::new();
        let n = segment(frame, mss, &mut scratch, |s| out.push(s.to_vec())).unwrap();
        assert_eq!(n, out.len());
        out
    }

    #[test]
    fn a_coalesced_ipv4_receive_becomes_valid_segments() {
        let mut big = tcp4(2500);
        big[38..42].copy_from_slice(&1000u32.to_be_bytes()); // seq
        big[47] = 0x80 | 0x08 | 0x01 | 0x10; // CWR PSH FIN ACK
        let segs = split(&big, 1000);
        assert_eq!(
            segs.iter().map(|s| s.len()).collect::<Vec<_>>(),
            [1054, 1054, 554]
        );
        let mut payload = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            let l = Layout::parse(s).unwrap();
            assert!(l.ip_checksum_ok(s), "segment {i} IP checksum");
            assert!(tcp_ok(s), "segment {i} TCP checksum");
            assert_eq!(u16::from_be_bytes([s[16], s[17]]) as usize, s.len() - 14);
            assert_eq!(
                u32::from_be_bytes([s[38], s[39], s[40], s[41]]),
                1000 + 1000 * i as u32
            );
            let flags = s[47];
            assert_eq!(flags & 0x80 != 0, i == 0, "CWR only first");
            assert_eq!(flags & 0x09 != 0, i == 2, "FIN/PSH only last");
            assert_ne!(flags & 0x10, 0, "ACK everywhere");
            payload.extend_from_slice(&s[54..]);
        }
        assert_eq!(payload, big[54..]);
    }

    #[test]
    fn ipv6_segments_carry_their_payload_length_and_bad_frames_are_refused() {
        // An IPv6/TCP frame from the IPv4 one's TCP part.
        let v4 = tcp4(1500);
        let mut f = v4[..14].to_vec();
        f[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        let mut ip = [0u8; 40];
        ip[0] = 0x60;
        ip[4..6].copy_from_slice(&((v4.len() - 34) as u16).to_be_bytes());
        ip[6] = IPPROTO_TCP;
        ip[7] = 64;
        ip[8] = 0xfe;
        ip[24] = 0xfe;
        f.extend_from_slice(&ip);
        f.extend_from_slice(&v4[34..]);
        let segs = split(&f, 700);
        assert_eq!(segs.len(), 3);
        for s in &segs {
            assert_eq!(u16::from_be_bytes([s[18], s[19]]) as usize, s.len() - 54);
            assert!(tcp_ok(s));
        }
        let mut scratch = [0u8; 100];
        assert_eq!(
            segment(&f, 700, &mut scratch, |_| {}),
            Err(SegmentError::TooLong)
        );
        let mut udp = tcp4(100);
        udp[23] = 17;
        assert_eq!(
            segment(&udp, 700, &mut scratch, |_| {}),
            Err(SegmentError::NotTcp)
        );
        assert_eq!(
            segment(&udp[..20], 700, &mut scratch, |_| {}),
            Err(SegmentError::NotTcp)
        );
    }
}
