//! Connect, backend loss, reconnect: in-flight packets complete exactly once with an error, and
//! pages the backend still maps are never reused.

use std::collections::HashMap;
use std::sync::Arc;

use xenpv_datapath::netif::{OwnedPacket, TxDone, TxOffload, TxStatus};
use xenpv_datapath::queue::spsc;
use xenpv_sim::host::{Host, HostConfig};
use xenpv_sim::netback::pair::{linux_netback, FrontRequest, NetPair};

type Pkt = OwnedPacket<Vec<u8>>;

fn host() -> Arc<Host> {
    Host::new(HostConfig {
        frames: 1 << 13,
        grant_entries: 1 << 13,
        ports: 64,
    })
}

fn packet(tag: u32, len: usize) -> Pkt {
    let mut frame = vec![0xab; len];
    frame[..4].copy_from_slice(&tag.to_be_bytes());
    OwnedPacket {
        frame,
        offload: TxOffload::default(),
    }
}

fn tag(p: &Pkt) -> u32 {
    u32::from_be_bytes([p.frame[0], p.frame[1], p.frame[2], p.frame[3]])
}

#[test]
fn in_flight_packets_complete_once_with_disconnected_when_the_backend_goes() {
    let host = host();
    let req = FrontRequest {
        queues: 2,
        ..FrontRequest::default()
    };
    let mut pair: NetPair<Pkt> = NetPair::connect(&host, 1, &linux_netback(2), req).unwrap();
    let mut completions: HashMap<u32, Vec<TxStatus>> = HashMap::new();
    // 40 packets answered by the backend, then 60 more it never sees answered.
    let mut next = 0;
    for round in 0..2 {
        for _ in 0..[40, 60][round] {
            let q = next as usize % 2;
            let NetPair { guest, front, .. } = &mut pair;
            front.queues_mut()[q]
                .send(packet(next, 100 + next as usize * 70))
                .map_err(|(_, w)| w)
                .unwrap();
            front.queues_mut()[q].flush(guest);
            next += 1;
        }
        if round == 0 {
            pair.back.poll().unwrap();
            let NetPair { guest, front, .. } = &mut pair;
            for q in front.queues_mut() {
                q.poll(
                    guest,
                    &mut |d| {
                        if let TxDone::Packet { packet, status } = d {
                            completions.entry(tag(&packet)).or_default().push(status);
                        }
                    },
                    &mut |_, _| {},
                )
                .unwrap();
            }
        }
    }
    assert_eq!(completions.len(), 40);
    let pending: usize = pair
        .front
        .queues()
        .iter()
        .map(|q| q.pending_packets())
        .sum();
    assert_eq!(pending, 60);
    let (guest, mut quarantine) = pair.disconnect(&mut |d| {
        if let TxDone::Packet { packet, status } = d {
            completions.entry(tag(&packet)).or_default().push(status);
        }
    });
    assert_eq!(completions.len(), 100, "every packet completed");
    for (t, statuses) in &completions {
        let expected = if *t < 40 {
            TxStatus::Ok
        } else {
            TxStatus::Disconnected
        };
        assert_eq!(statuses, &vec![expected], "packet {t}: exactly once");
    }
    assert!(quarantine.is_empty(), "the backend unmapped everything");
    assert_eq!(quarantine.retry(&guest), 0);
    assert_eq!(host.grant_table(1).active(), 0, "every grant ended");
}

#[test]
fn pages_a_backend_still_maps_are_quarantined_and_never_reused() {
    let host = host();
    let pair: NetPair<Pkt> =
        NetPair::connect(&host, 1, &linux_netback(1), FrontRequest::default()).unwrap();
    // A backend that keeps a mapping of the tx ring page after it "disconnected".
    let held_gref = pair.keys.queues[0].tx_ring_ref;
    let held = host.map(0, 1, held_gref, true).unwrap();
    let frames_before = host.frames.used();
    let (guest, mut quarantine) = pair.disconnect(&mut |_| {});
    assert_eq!(quarantine.len(), 1, "the held ring page stays granted");
    assert_eq!(quarantine.retry(&guest), 1);
    assert!(host.frames.used() >= 1 && host.frames.used() < frames_before);

    // Reconnect while it is held: the new device gets fresh pages, and the held page's grant is
    // still in force.
    let mut again: NetPair<Pkt> =
        NetPair::connect(&host, 1, &linux_netback(1), FrontRequest::default()).unwrap();
    assert_ne!(again.keys.queues[0].tx_ring_ref, held_gref);
    assert!(host.grant_table(1).in_use(held_gref));
    let mut got = Vec::new();
    {
        let NetPair { guest, front, .. } = &mut again;
        front.queues_mut()[0]
            .send(packet(7, 300))
            .map_err(|(_, w)| w)
            .unwrap();
        front.queues_mut()[0].flush(guest);
    }
    again.back.poll().unwrap();
    let NetPair {
        guest: g2, front, ..
    } = &mut again;
    front.queues_mut()[0]
        .poll(g2, &mut |_| {}, &mut |_, b| got.push(b.to_vec()))
        .unwrap();
    assert_eq!(got.len(), 1, "the new connection works");

    drop(held);
    assert_eq!(quarantine.retry(&guest), 0, "freed once the backend let go");
}

#[test]
fn the_spine_queues_feed_a_netif_queue_and_take_its_completions() {
    let host = host();
    let mut pair: NetPair<Pkt> =
        NetPair::connect(&host, 1, &linux_netback(1), FrontRequest::default()).unwrap();
    let (mut to_queue, mut input) = spsc::channel::<Pkt>(1024).unwrap();
    let (mut done_tx, mut done_rx) = spsc::channel::<TxDone<Pkt>>(512).unwrap();
    let total = 3000u32;
    let (mut produced, mut received, mut completed) = (0u32, 0usize, 0u32);
    // Netback answers short packets at once and mapped ones when their receiver is done with
    // them (as Linux does), so completions may overtake each other: each comes exactly once.
    let mut seen = vec![false; total as usize];
    for _ in 0..100_000 {
        while produced < total
            && to_queue
                .push(packet(produced, 64 + (produced as usize % 1400)))
                .is_ok()
        {
            produced += 1;
        }
        {
            let NetPair { guest, front, .. } = &mut pair;
            front.queues_mut()[0]
                .pump(guest, &mut input, &mut done_tx, &mut |_, _| received += 1)
                .unwrap();
        }
        pair.back.poll().unwrap();
        while let Some(d) = done_rx.pop() {
            match d {
                TxDone::Packet { packet, status } => {
                    assert_eq!(status, TxStatus::Ok);
                    let t = tag(&packet) as usize;
                    assert!(t < produced as usize && !seen[t], "{t} completes once");
                    seen[t] = true;
                    completed += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        if completed == total && received == total as usize {
            break;
        }
    }
    assert_eq!(completed, total);
    assert_eq!(received, total as usize);
}
