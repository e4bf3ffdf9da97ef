//! netfront against the sim netback with a loopback sink: what goes out comes back, with its
//! offload metadata, over one or several queues, with RSS configured on the ctrl ring.

use std::sync::Arc;

use xenpv_abi::netif::{XEN_NETIF_CTRL_HASH_TYPE_IPV4, XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP};
use xenpv_datapath::netif::ctrl::CtrlOp;
use xenpv_datapath::netif::toeplitz::{hash_input, toeplitz, Steering};
use xenpv_datapath::netif::{
    Gso, GsoKind, HashKind, OwnedPacket, RssHash, RxChecksum, RxMeta, TxChecksum, TxDone,
    TxOffload, TxPacket, TxRefused, TxStatus,
};
use xenpv_sim::host::{Host, HostConfig};
use xenpv_sim::netback::pair::{linux_netback, FrontRequest, NetPair};

type Pkt = OwnedPacket<Vec<u8>>;

fn host() -> Arc<Host> {
    Host::new(HostConfig {
        frames: 1 << 14,
        grant_entries: 1 << 14,
        ports: 64,
    })
}

/// An Ethernet/IPv4/TCP frame of `len` bytes whose payload encodes `seq`.
fn tcp_frame(len: usize, sport: u16, seq: u32) -> Vec<u8> {
    let mut f = vec![0u8; len.max(58)];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f[14] = 0x45;
    f[23] = 6;
    f[26..30].copy_from_slice(&[10, 0, 0, 1]);
    f[30..34].copy_from_slice(&[10, 0, 0, 2]);
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&80u16.to_be_bytes());
    for (i, b) in f[54..].iter_mut().enumerate() {
        *b = (i as u32).wrapping_mul(31).wrapping_add(seq) as u8;
    }
    f[54..58].copy_from_slice(&seq.to_be_bytes());
    f
}

struct Seen {
    rx: Vec<(RxMeta, Vec<u8>, usize)>,
    done: Vec<TxDone<Pkt>>,
}

/// Lets both ends work until nothing moves.
fn settle(pair: &mut NetPair<Pkt>, seen: &mut Seen) {
    for _ in 0..1000 {
        let work = pair.back.poll().expect("backend healthy");
        let before = (seen.rx.len(), seen.done.len());
        let NetPair { guest, front, .. } = pair;
        for (i, q) in front.queues_mut().iter_mut().enumerate() {
            q.poll(guest, &mut |d| seen.done.push(d), &mut |m, b| {
                seen.rx.push((*m, b.to_vec(), i))
            })
            .expect("frontend healthy");
        }
        if work.tx == 0 && work.rx == 0 && before == (seen.rx.len(), seen.done.len()) {
            return;
        }
    }
    panic!("traffic did not settle");
}

fn seen() -> Seen {
    Seen {
        rx: Vec::new(),
        done: Vec::new(),
    }
}

fn send(pair: &mut NetPair<Pkt>, queue: usize, frame: Vec<u8>, offload: TxOffload) {
    let NetPair { guest, front, .. } = pair;
    let q = &mut front.queues_mut()[queue];
    q.send(OwnedPacket { frame, offload })
        .map_err(|(_, why)| why)
        .expect("accepted");
    q.flush(guest);
}

#[test]
fn frames_of_every_size_come_back_with_their_offload_metadata() {
    let host = host();
    let mut pair: NetPair<Pkt> =
        NetPair::connect(&host, 1, &linux_netback(4), FrontRequest::default()).unwrap();
    let gso = Gso {
        kind: GsoKind::TcpV4,
        mss: 1448,
    };
    let cases = [
        (60, TxOffload::default(), RxChecksum::Unknown, None),
        (
            1514,
            TxOffload {
                checksum: TxChecksum::Offload,
                gso: None,
            },
            RxChecksum::Blank,
            None,
        ),
        (
            9014,
            TxOffload {
                checksum: TxChecksum::Validated,
                gso: None,
            },
            RxChecksum::Validated,
            None,
        ),
        (
            65535,
            TxOffload {
                checksum: TxChecksum::Offload,
                gso: Some(gso),
            },
            RxChecksum::Blank,
            Some(gso),
        ),
    ];
    let mut s = seen();
    for (seq, (len, offload, _, _)) in cases.iter().enumerate() {
        send(&mut pair, 0, tcp_frame(*len, 1000, seq as u32), *offload);
    }
    settle(&mut pair, &mut s);
    assert_eq!(s.rx.len(), cases.len());
    for (seq, (len, offload, csum, gso)) in cases.iter().enumerate() {
        let (meta, bytes, _) = &s.rx[seq];
        assert_eq!(
            bytes,
            &tcp_frame(*len, 1000, seq as u32),
            "frame {seq} intact"
        );
        assert_eq!(meta.checksum, *csum, "frame {seq}");
        assert_eq!(meta.gso, *gso, "frame {seq}");
        assert!(meta.hash.is_none(), "no hashing configured");
        match &s.done[seq] {
            TxDone::Packet { packet, status } => {
                assert_eq!(*status, TxStatus::Ok);
                assert_eq!(packet.offload, *offload);
                assert_eq!(packet.frame.len(), (*len).max(58));
            }
            other => panic!("unexpected completion {other:?}"),
        }
    }
    let stats = *pair.front.queues()[0].stats();
    assert_eq!(stats.tx_packets, 4);
    assert_eq!(stats.rx_packets, 4);
    assert_eq!(stats.tx_gso, 1);
    assert_eq!(stats.rx_gso, 1);
    assert_eq!(stats.rx_dropped, 0);
    assert_eq!(pair.back.stats().tx_packets, 4);
    let total: usize = cases.iter().map(|c| c.0).sum();
    assert_eq!(stats.rx_bytes as usize, total);
}

#[test]
fn many_packets_flow_through_a_full_ring_on_two_queues() {
    for split in [true, false] {
        let host = host();
        let req = FrontRequest {
            queues: 2,
            split_event_channels: split,
            ..FrontRequest::default()
        };
        let mut pair: NetPair<Pkt> = NetPair::connect(&host, 1, &linux_netback(4), req).unwrap();
        assert_eq!(pair.front.queues().len(), 2);
        assert_eq!(pair.keys.queues.len(), 2);
        let mut s = seen();
        let mut sent = 0u32;
        // More packets than a ring holds: sending must wait for completions.
        for round in 0..6 {
            for q in 0..2 {
                loop {
                    let frame = tcp_frame(600 + (sent as usize % 900), 2000 + q as u16, sent);
                    let NetPair { guest, front, .. } = &mut pair;
                    let queue = &mut front.queues_mut()[q];
                    match queue.send(OwnedPacket {
                        frame,
                        offload: TxOffload::default(),
                    }) {
                        Ok(()) => sent += 1,
                        Err((_, TxRefused::Busy)) => break,
                        Err((_, why)) => panic!("refused: {why:?}"),
                    }
                    queue.flush(guest);
                    if sent.is_multiple_of(97) {
                        break;
                    }
                }
            }
            settle(&mut pair, &mut s);
            assert!(round < 5 || s.rx.len() == sent as usize);
        }
        assert!(sent > 2 * 256, "the rings wrapped ({sent} packets)");
        assert_eq!(s.rx.len(), sent as usize);
        assert_eq!(s.done.len(), sent as usize);
        // Loopback keeps each packet on the queue it was sent on.
        for (_, bytes, q) in &s.rx {
            let sport = u16::from_be_bytes([bytes[34], bytes[35]]);
            assert_eq!(usize::from(sport - 2000), *q);
        }
        let mut seqs: Vec<u32> =
            s.rx.iter()
                .map(|(_, b, _)| u32::from_be_bytes([b[54], b[55], b[56], b[57]]))
                .collect();
        seqs.sort_unstable();
        assert_eq!(
            seqs,
            (0..sent).collect::<Vec<_>>(),
            "each packet exactly once"
        );
    }
}

/// Drives one ctrl request to its answer.
fn ctrl(
    pair: &mut NetPair<Pkt>,
    op: CtrlOp<'_>,
) -> Result<u32, xenpv_datapath::netif::ctrl::CtrlStatus> {
    let NetPair {
        guest, front, back, ..
    } = pair;
    let c = front.ctrl_mut().expect("ctrl ring negotiated");
    c.send(guest, op).unwrap();
    back.poll().unwrap();
    c.poll().unwrap().expect("answered")
}

#[test]
fn rss_configured_on_the_ctrl_ring_hashes_and_steers_like_the_frontend() {
    let host = host();
    let req = FrontRequest {
        queues: 2,
        ..FrontRequest::default()
    };
    let mut pair: NetPair<Pkt> = NetPair::connect(&host, 1, &linux_netback(2), req).unwrap();
    let key: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
    let flags = XEN_NETIF_CTRL_HASH_TYPE_IPV4 | XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP;
    let table: Vec<u32> = (0..16).map(|i| (i % 3 % 2) as u32).collect();
    use xenpv_datapath::netif::ctrl::CtrlStatus;
    assert_eq!(
        ctrl(&mut pair, CtrlOp::GetHashFlags),
        Err(CtrlStatus::NotSupported),
        "an algorithm must be chosen first"
    );
    assert_eq!(ctrl(&mut pair, CtrlOp::SetToeplitz), Ok(0));
    let supported = ctrl(&mut pair, CtrlOp::GetHashFlags).unwrap();
    assert_eq!(supported & flags, flags);
    assert_eq!(ctrl(&mut pair, CtrlOp::SetHashKey(&key)), Ok(0));
    assert_eq!(ctrl(&mut pair, CtrlOp::GetMappingSize), Ok(128));
    assert_eq!(
        ctrl(&mut pair, CtrlOp::SetMappingSize(table.len() as u32)),
        Ok(0)
    );
    assert_eq!(
        ctrl(&mut pair, CtrlOp::SetMapping(&[0, 5])),
        Err(CtrlStatus::InvalidParameter),
        "queue 5 does not exist"
    );
    assert_eq!(ctrl(&mut pair, CtrlOp::SetMapping(&table)), Ok(0));
    assert_eq!(ctrl(&mut pair, CtrlOp::SetHashFlags(flags)), Ok(0));
    let steering = Steering::new(&key, flags, &table, 2).unwrap();
    pair.front.set_steering(Some(steering));

    let mut s = seen();
    let frames: Vec<Vec<u8>> = (0..40)
        .map(|i| tcp_frame(200, 3000 + i, i.into()))
        .collect();
    for f in &frames {
        let q = pair.front.select_queue(f);
        send(&mut pair, q, f.clone(), TxOffload::default());
    }
    settle(&mut pair, &mut s);
    assert_eq!(s.rx.len(), frames.len());
    let mut queues_used = [0; 2];
    for (meta, bytes, q) in &s.rx {
        let input = hash_input(bytes, flags).unwrap();
        let expected = toeplitz(&key, input.bytes());
        let hash = meta.hash.expect("hash extra");
        assert_eq!(hash.value, expected);
        assert_eq!(hash.kind, HashKind::Ipv4Tcp);
        assert_eq!(
            *q,
            table[expected as usize % table.len()] as usize,
            "backend steering"
        );
        assert_eq!(*q, pair.front.select_queue(bytes), "same queue both ways");
        queues_used[*q] += 1;
    }
    assert!(
        queues_used.iter().all(|&n| n > 0),
        "both queues used: {queues_used:?}"
    );
    let hashed: u64 = pair
        .front
        .queues()
        .iter()
        .map(|q| q.stats().rx_hashed)
        .sum();
    assert_eq!(hashed, frames.len() as u64);
}

#[test]
fn multicast_filter_follows_add_and_remove_extras() {
    let host = host();
    let req = FrontRequest {
        multicast_control: true,
        ..FrontRequest::default()
    };
    let mut pair: NetPair<Pkt> = NetPair::connect(&host, 1, &linux_netback(1), req).unwrap();
    let group = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb];
    let mut frame = tcp_frame(100, 5353, 7);
    frame[..6].copy_from_slice(&group);
    let mut s = seen();
    send(&mut pair, 0, frame.clone(), TxOffload::default());
    settle(&mut pair, &mut s);
    assert!(s.rx.is_empty(), "unlisted multicast is filtered");
    assert_eq!(pair.back.port().dropped(), 1);

    let NetPair { guest, front, .. } = &mut pair;
    front.queues_mut()[0].multicast(group, true).unwrap();
    front.queues_mut()[0].flush(guest);
    settle(&mut pair, &mut s);
    assert!(s.done.contains(&TxDone::Multicast {
        addr: group,
        add: true,
        status: TxStatus::Ok
    }));
    send(&mut pair, 0, frame.clone(), TxOffload::default());
    settle(&mut pair, &mut s);
    assert_eq!(s.rx.len(), 1, "listed multicast passes");
    assert_eq!(s.rx[0].1, frame);

    let mut bcast = frame.clone();
    bcast[..6].copy_from_slice(&[0xff; 6]);
    send(&mut pair, 0, bcast, TxOffload::default());
    let NetPair { guest, front, .. } = &mut pair;
    front.queues_mut()[0].multicast(group, false).unwrap();
    front.queues_mut()[0].flush(guest);
    settle(&mut pair, &mut s);
    assert_eq!(s.rx.len(), 2, "broadcast is never filtered");
    send(&mut pair, 0, frame, TxOffload::default());
    settle(&mut pair, &mut s);
    assert_eq!(s.rx.len(), 2, "removed again");
    assert_eq!(pair.back.stats().mcast_ops, 2);
}

#[test]
fn offloads_the_backend_did_not_offer_and_a_down_link_are_refused() {
    let host = host();
    let mut features = linux_netback(1);
    features.gso_tcpv6 = false;
    let mut pair: NetPair<Pkt> =
        NetPair::connect(&host, 1, &features, FrontRequest::default()).unwrap();
    let q = &mut pair.front.queues_mut()[0];
    let v6 = TxOffload {
        checksum: TxChecksum::Offload,
        gso: Some(Gso {
            kind: GsoKind::TcpV6,
            mss: 1400,
        }),
    };
    let refused = |r: Result<(), (Pkt, TxRefused)>| r.map_err(|(_, w)| w).unwrap_err();
    assert_eq!(
        refused(q.send(OwnedPacket {
            frame: vec![0; 9000],
            offload: v6
        })),
        TxRefused::GsoNotNegotiated(GsoKind::TcpV6)
    );
    assert_eq!(
        refused(q.send(OwnedPacket {
            frame: vec![0; 65536],
            offload: TxOffload::default()
        })),
        TxRefused::TooLarge(65536)
    );
    assert_eq!(
        refused(q.send(OwnedPacket {
            frame: vec![],
            offload: TxOffload::default()
        })),
        TxRefused::Empty
    );
    q.set_link(false);
    assert_eq!(
        refused(q.send(OwnedPacket {
            frame: vec![0; 60],
            offload: TxOffload::default()
        })),
        TxRefused::LinkDown
    );
    q.set_link(true);
    assert!(q
        .send(OwnedPacket {
            frame: vec![0; 60],
            offload: TxOffload::default()
        })
        .is_ok());
    assert_eq!(q.stats().tx_refused, 4);
}

#[test]
fn two_vifs_cabled_together_exchange_frames() {
    let host = host();
    let req = FrontRequest::default();
    let mut a: NetPair<Pkt> = NetPair::connect(&host, 1, &linux_netback(1), req).unwrap();
    let mut b: NetPair<Pkt> = NetPair::connect(&host, 2, &linux_netback(1), req).unwrap();
    a.back.set_sink(b.back.port());
    b.back.set_sink(a.back.port());
    let (mut sa, mut sb) = (seen(), seen());
    send(&mut a, 0, tcp_frame(700, 1, 1), TxOffload::default());
    send(&mut b, 0, tcp_frame(900, 2, 2), TxOffload::default());
    for _ in 0..3 {
        settle(&mut a, &mut sa);
        settle(&mut b, &mut sb);
    }
    assert_eq!(sa.rx.len(), 1);
    assert_eq!(sa.rx[0].1, tcp_frame(900, 2, 2), "A receives what B sent");
    assert_eq!(sb.rx.len(), 1);
    assert_eq!(sb.rx[0].1, tcp_frame(700, 1, 1), "B receives what A sent");
    assert_eq!(a.back.stats().rx_packets, 1);
    assert_eq!(b.back.stats().tx_packets, 1);
}

/// A large packet is held, not copied, on its way from one vif to another: the sender's
/// request stays unanswered (its page mapped, so the grant cannot be ended) until the receiver
/// has copied it, straight from the sender's page; a short one is copied and answered at once.
#[test]
fn a_large_packet_is_answered_only_once_its_receiver_has_copied_it() {
    let host = host();
    let req = FrontRequest::default();
    let mut a: NetPair<Pkt> = NetPair::connect(&host, 1, &linux_netback(1), req).unwrap();
    let mut b: NetPair<Pkt> = NetPair::connect(&host, 2, &linux_netback(1), req).unwrap();
    a.back.set_sink(b.back.port());
    let (mut sa, mut sb) = (seen(), seen());
    let big = tcp_frame(9000, 1, 7);
    send(&mut a, 0, big.clone(), TxOffload::default());
    send(&mut a, 0, tcp_frame(60, 1, 8), TxOffload::default());
    let stats = host.grant_stats();
    a.back.poll().unwrap();
    assert_eq!(
        host.grant_stats().maps - stats.maps,
        3,
        "the large packet's three pages are mapped, the short one is copied"
    );
    settle(&mut a, &mut sa);
    assert_eq!(sa.done.len(), 1, "only the short packet is answered yet");
    assert_eq!(a.front.queues()[0].pending_packets(), 1);
    assert_eq!(b.back.port().backlog(), 2);
    settle(&mut b, &mut sb);
    assert_eq!(sb.rx.len(), 2);
    assert_eq!(sb.rx[0].1, big, "copied intact from the sender's pages");
    settle(&mut a, &mut sa);
    assert_eq!(
        sa.done.len(),
        2,
        "answered once the receiver let its pages go"
    );
    assert!(sa.done.iter().all(|d| matches!(
        d,
        TxDone::Packet {
            status: TxStatus::Ok,
            ..
        }
    )));
    let now = host.grant_stats();
    assert_eq!(
        now.maps - stats.maps,
        now.unmaps - stats.unmaps,
        "all unmapped"
    );
}

/// A receiver with no buffers posted does not keep its senders waiting: the packets it cannot
/// take yet are copied out of the senders' pages (Linux copies a lingering zero-copy skb), the
/// senders are answered, and the packets arrive intact once buffers are posted.
#[test]
fn a_stalled_receiver_lets_its_senders_go() {
    let host = host();
    let req = FrontRequest::default();
    let mut a: NetPair<Pkt> = NetPair::connect(&host, 1, &linux_netback(1), req).unwrap();
    let mut b: NetPair<Pkt> = NetPair::connect(&host, 2, &linux_netback(1), req).unwrap();
    a.back.set_sink(b.back.port());
    let (mut sa, mut sb) = (seen(), seen());
    // Two rounds of 30 packets of 8 pages: B's 256 buffers take the first round, and B's
    // frontend does not post them again before the second arrives.
    let frames: Vec<Vec<u8>> = (0..60).map(|i| tcp_frame(30_000, 1, i)).collect();
    let before = host.grant_stats();
    for round in frames.chunks(30) {
        for f in round {
            send(&mut a, 0, f.clone(), TxOffload::default());
        }
        settle(&mut a, &mut sa);
        // B's backend copies what fits and copies the rest out of A's pages.
        b.back.poll().unwrap();
        settle(&mut a, &mut sa);
    }
    assert_eq!(sa.done.len(), 60, "every sender request answered");
    assert!(b.back.port().backlog() > 0, "while packets still wait at B");
    let now = host.grant_stats();
    assert!(now.maps > before.maps);
    assert_eq!(
        now.maps - before.maps,
        now.unmaps - before.unmaps,
        "A's pages let go"
    );
    for _ in 0..10 {
        settle(&mut b, &mut sb);
    }
    let got: Vec<Vec<u8>> = sb.rx.iter().map(|r| r.1.clone()).collect();
    assert_eq!(got, frames, "all arrive intact and in order");
}

/// Sums the pseudo-header and the TCP segment of an IPv4 frame (checksum included): all ones
/// when the checksum is right.
fn tcp_checksum_ok(f: &[u8]) -> bool {
    let ihl = usize::from(f[14] & 0xf) * 4;
    let l4 = 14 + ihl;
    let mut acc: u64 = 6 + (f.len() - l4) as u64;
    let mut add = |b: &[u8]| {
        for w in b.chunks(2) {
            acc += u64::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
        }
    };
    add(&f[26..34]);
    add(&f[l4..]);
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc == 0xffff
}

/// A frontend without `feature-gso-tcpv4` still gets a large packet sent to it: netback
/// segments it in software (as the kernel does for a device without TSO), each segment with
/// its own lengths, sequence number and a complete, validated checksum.
#[test]
fn a_frontend_without_gso_receives_a_large_packet_as_segments() {
    let host = host();
    let req = FrontRequest {
        gso_rx: false,
        ..FrontRequest::default()
    };
    let mut pair: NetPair<Pkt> = NetPair::connect(&host, 1, &linux_netback(1), req).unwrap();
    let mut seen = seen();
    let mut frame = tcp_frame(54 + 4000, 5, 9);
    let ip_len = (frame.len() - 14) as u16;
    frame[16..18].copy_from_slice(&ip_len.to_be_bytes());
    frame[46] = 5 << 4;
    let gso = Gso {
        kind: GsoKind::TcpV4,
        mss: 1448,
    };
    send(
        &mut pair,
        0,
        frame.clone(),
        TxOffload {
            checksum: TxChecksum::Offload,
            gso: Some(gso),
        },
    );
    settle(&mut pair, &mut seen);
    assert_eq!(seen.rx.len(), 3, "4000 bytes in 1448-byte segments");
    let mut payload = Vec::new();
    for (i, (meta, bytes, _)) in seen.rx.iter().enumerate() {
        assert_eq!(meta.gso, None);
        assert_eq!(meta.checksum, RxChecksum::Validated);
        assert!(tcp_checksum_ok(bytes), "segment {i} checksum");
        let seq = u32::from_be_bytes(bytes[38..42].try_into().unwrap());
        let first = u32::from_be_bytes(frame[38..42].try_into().unwrap());
        assert_eq!(seq, first + 1448 * i as u32);
        assert_eq!(
            usize::from(u16::from_be_bytes([bytes[16], bytes[17]])),
            bytes.len() - 14
        );
        payload.extend_from_slice(&bytes[54..]);
    }
    assert_eq!(
        payload,
        frame[54..],
        "the payload arrives whole and in order"
    );
    assert_eq!(pair.back.stats().rx_packets, 3);
    assert_eq!(pair.back.stats().rx_dropped, 0);
    assert!(matches!(
        seen.done[..],
        [TxDone::Packet {
            status: TxStatus::Ok,
            ..
        }]
    ));
}

/// A frontend that wrote `feature-no-csum-offload` never sees a blank checksum: netback fills
/// it in (skb_checksum_help); one that takes blank checksums gets the packet as sent.
#[test]
fn a_frontend_without_checksum_offload_gets_checksums_filled_in() {
    let host = host();
    for csum_rx in [false, true] {
        let req = FrontRequest {
            csum_rx,
            ..FrontRequest::default()
        };
        let mut pair: NetPair<Pkt> = NetPair::connect(&host, 1, &linux_netback(1), req).unwrap();
        let mut seen = seen();
        let mut frame = tcp_frame(1000, 5, 9);
        let ip_len = (frame.len() - 14) as u16;
        frame[16..18].copy_from_slice(&ip_len.to_be_bytes());
        frame[46] = 5 << 4;
        let offload = TxOffload {
            checksum: TxChecksum::Offload,
            gso: None,
        };
        send(&mut pair, 0, frame.clone(), offload);
        settle(&mut pair, &mut seen);
        assert_eq!(seen.rx.len(), 1);
        let (meta, bytes, _) = &seen.rx[0];
        if csum_rx {
            assert_eq!(meta.checksum, RxChecksum::Blank);
            assert_eq!(bytes, &frame, "passed on untouched");
        } else {
            assert_eq!(meta.checksum, RxChecksum::Validated);
            assert!(tcp_checksum_ok(bytes), "checksum filled in");
            assert_eq!(bytes[..50], frame[..50]);
            assert_eq!(bytes[52..], frame[52..], "only the checksum field changed");
        }
        pair.disconnect(&mut |_| {});
    }
}

/// A packet that carries an RSS hash (what NDIS hands a miniport with hashing on).
struct Hashed {
    frame: Vec<u8>,
    offload: TxOffload,
    hash: Option<RssHash>,
}

impl TxPacket for Hashed {
    fn offload(&self) -> TxOffload {
        self.offload
    }

    fn fragments(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(self.frame.as_slice())
    }

    fn hash(&self) -> Option<RssHash> {
        self.hash
    }
}

/// The frontend's hash extra reaches netback, which honours it: with no hashing configured by
/// the receiver, the sender's hash picks the receiving queue (Linux scales skb->hash to the
/// queues); without it the packet stays on the queue it was sent from.
#[test]
fn a_hash_sent_with_a_packet_picks_the_receiving_queue() {
    let host = host();
    let req = FrontRequest {
        queues: 2,
        ..FrontRequest::default()
    };
    let mut pair: NetPair<Hashed> = NetPair::connect(&host, 1, &linux_netback(2), req).unwrap();
    let high = RssHash {
        value: 0xc000_0000,
        kind: HashKind::Ipv4Tcp,
    };
    let low = RssHash {
        value: 0x1000_0000,
        kind: HashKind::Ipv4,
    };
    let gso = TxOffload {
        checksum: TxChecksum::Offload,
        gso: Some(Gso {
            kind: GsoKind::TcpV4,
            mss: 1000,
        }),
    };
    let plain = TxOffload::default();
    // The last case chains the hash extra after a GSO extra.
    let cases = [
        (Some(high), plain, 1),
        (Some(low), plain, 0),
        (None, plain, 0),
        (Some(high), gso, 1),
    ];
    for (hash, offload, want) in cases {
        let NetPair { guest, front, .. } = &mut pair;
        let q = &mut front.queues_mut()[0];
        let frame = tcp_frame(3000, 3, 1);
        assert!(q
            .send(Hashed {
                frame,
                offload,
                hash
            })
            .is_ok());
        q.flush(guest);
        pair.back.poll().unwrap();
        let mut got = Vec::new();
        let NetPair { guest, front, .. } = &mut pair;
        for (i, q) in front.queues_mut().iter_mut().enumerate() {
            q.poll(guest, &mut |_| {}, &mut |m, _| got.push((i, *m)))
                .unwrap();
        }
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, want, "hash {hash:?}");
        assert_eq!(
            got[0].1.hash, None,
            "no hash extra to a receiver without hashing"
        );
        assert_eq!(got[0].1.gso, offload.gso);
    }
}
