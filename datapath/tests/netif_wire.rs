//! The netfront engine's wire format, checked byte by byte against io/netif.h with a hand-written
//! backend over plain shared pages (no sim): request slots, extra-info slots, rx reassembly from
//! responses and extras, ctrl requests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use xenpv_abi::netif::*;
use xenpv_abi::ring::SRING_HEADER_SIZE;
use xenpv_abi::{DomId, EvtchnPort, GrantRef, PAGE_SIZE};
use xenpv_datapath::netif::ctrl::CtrlOp;
use xenpv_datapath::netif::queue::QueueSetup;
use xenpv_datapath::netif::{
    Gso, GsoKind, HashKind, NetQueue, Netfront, NetfrontConfig, NetifError, OwnedPacket,
    Quarantine, RssHash, RxAccept, RxChecksum, RxMeta, TxCaps, TxChecksum, TxOffload,
};
use xenpv_datapath::platform::{
    Access, EventChannels, GrantedRegion, Grants, PlatformError, StillInUse,
};
use xenpv_datapath::shmem::{SharedMem, SharedPages};
use zerocopy::{FromBytes, IntoBytes};

/// A home with no hypervisor: pages are plain memory, grant references are numbers that the test
/// backend resolves, and notifications are counted.
#[derive(Default)]
struct Bare {
    pages: Mutex<HashMap<GrantRef, SharedMem>>,
    next_gref: AtomicU32,
    next_port: AtomicU32,
    notifies: AtomicU64,
}

impl Bare {
    /// What a backend's grant map gives: the page of `gref`.
    fn page(&self, gref: GrantRef) -> SharedMem {
        self.pages.lock().unwrap()[&gref].clone()
    }
}

impl Grants for Bare {
    fn grant_region(
        &self,
        domid: DomId,
        pages: usize,
        access: Access,
    ) -> Result<GrantedRegion, PlatformError> {
        let mem = SharedPages::new(pages)
            .map_err(|_| PlatformError::NoMemory)?
            .mem();
        let grefs: Vec<GrantRef> = (0..pages)
            .map(|i| {
                let g = self.next_gref.fetch_add(1, Ordering::Relaxed) + 8;
                self.pages
                    .lock()
                    .unwrap()
                    .insert(g, mem.sub(i * PAGE_SIZE, PAGE_SIZE));
                g
            })
            .collect();
        Ok(GrantedRegion::new(mem, grefs, domid, access, 0))
    }

    fn end_region(&self, region: GrantedRegion) -> Result<(), StillInUse> {
        let mut pages = self.pages.lock().unwrap();
        for g in region.grefs() {
            pages.remove(g);
        }
        Ok(())
    }
}

impl EventChannels for Bare {
    fn alloc_unbound(&self, _remote: DomId) -> Result<EvtchnPort, PlatformError> {
        Ok(self.next_port.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn notify(&self, _port: EvtchnPort) {
        self.notifies.fetch_add(1, Ordering::Relaxed);
    }
    fn unmask(&self, _port: EvtchnPort) {}
    fn close(&self, _port: EvtchnPort) {}
}

type Pkt = OwnedPacket<Vec<u8>>;

fn setup() -> QueueSetup {
    QueueSetup {
        backend: 0,
        split_event_channels: true,
        tx: TxCaps {
            sg: true,
            gso_tcpv4: true,
            gso_tcpv6: false,
        },
        rx: RxAccept {
            gso: true,
            hash: true,
        },
    }
}

fn req_at(ring: &SharedMem, i: usize) -> NetifTxRequest {
    ring.read(SRING_HEADER_SIZE + i * 12)
}

#[test]
fn a_gso_packet_becomes_a_first_slot_a_gso_extra_and_page_sized_fragments() {
    let bare = Bare::default();
    let mut q: NetQueue<Pkt> = NetQueue::new(&bare, 0, setup()).unwrap();
    let ring = bare.page(q.keys().tx_ring_ref);
    let frame: Vec<u8> = (0..9000u32).map(|i| (i * 7) as u8).collect();
    let offload = TxOffload {
        checksum: TxChecksum::Offload,
        gso: Some(Gso {
            kind: GsoKind::TcpV4,
            mss: 1448,
        }),
    };
    q.send(OwnedPacket {
        frame: frame.clone(),
        offload,
    })
    .unwrap();
    assert_eq!(ring.load_u32_acquire(0), 0, "nothing visible before flush");
    q.flush(&bare);
    assert_eq!(
        ring.load_u32_acquire(0),
        4,
        "req_prod: head, extra, two fragments"
    );
    assert_eq!(
        bare.notifies.load(Ordering::Relaxed),
        1,
        "req_event starts at 1"
    );

    let head = req_at(&ring, 0);
    assert_eq!(
        head.flags,
        NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED | NETTXF_MORE_DATA | NETTXF_EXTRA_INFO
    );
    assert_eq!(
        (head.size, head.offset),
        (9000, 0),
        "first slot carries the whole length"
    );
    let extra = NetifExtraInfo::read_from_bytes(&req_at(&ring, 1).as_bytes()[..8]).unwrap();
    assert_eq!((extra.kind, extra.flags), (XEN_NETIF_EXTRA_TYPE_GSO, 0));
    let gso = NetifExtraGso::read_from_bytes(&extra.payload).unwrap();
    assert_eq!(
        (gso.size, gso.gso_type, gso.features),
        (1448, XEN_NETIF_GSO_TYPE_TCPV4, 0)
    );
    let (f1, f2) = (req_at(&ring, 2), req_at(&ring, 3));
    assert_eq!((f1.flags, f1.size), (NETTXF_MORE_DATA, 4096));
    assert_eq!((f2.flags, f2.size), (0, 9000 - 2 * 4096));
    let ids = [head.id, f1.id, f2.id];
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    // The bytes sit at offset 0 of each slot's granted page.
    let mut got = Vec::new();
    for (r, len) in [(head, 4096usize), (f1, 4096), (f2, 808)] {
        let mut buf = vec![0u8; len];
        bare.page(r.gref).read_data(0, &mut buf);
        got.extend(buf);
    }
    assert_eq!(got, frame);
}

#[test]
fn a_multicast_change_is_an_empty_request_with_an_mcast_extra() {
    let bare = Bare::default();
    let mut q: NetQueue<Pkt> = NetQueue::new(&bare, 0, setup()).unwrap();
    let ring = bare.page(q.keys().tx_ring_ref);
    let addr = [0x01, 0x00, 0x5e, 0x7f, 0x00, 0x01];
    q.multicast(addr, false).unwrap();
    q.flush(&bare);
    let r = req_at(&ring, 0);
    assert_eq!((r.flags, r.size), (NETTXF_EXTRA_INFO, 0));
    let extra = NetifExtraInfo::read_from_bytes(&req_at(&ring, 1).as_bytes()[..8]).unwrap();
    assert_eq!(extra.kind, XEN_NETIF_EXTRA_TYPE_MCAST_DEL);
    assert_eq!(extra.payload, addr);
}

/// A packet whose fragments arrive in two publishes is lent to the upper layer from the pages the
/// backend wrote: the refill between the two batches must not offer the page of its first fragment
/// again (the backend could overwrite it before the packet is delivered).
#[test]
fn a_packet_split_across_publishes_keeps_its_pages_until_delivered() {
    let bare = Bare::default();
    let mut q: NetQueue<Pkt> = NetQueue::new(&bare, 0, setup()).unwrap();
    q.start(&bare);
    let ring = bare.page(q.keys().rx_ring_ref);
    let gref_of = |slot: usize| -> GrantRef {
        let r: NetifRxRequest = ring.read(SRING_HEADER_SIZE + (slot % 256) * 8);
        r.gref
    };
    let answer = |i: usize, flags: u16, status: i16| {
        let rsp = NetifRxResponse {
            id: (i % 256) as u16,
            offset: 0,
            flags,
            status,
        };
        rx_rsp(&ring, i % 256, rsp.as_bytes());
    };
    // 64 one-slot packets, then the first fragment of a two-slot packet in slot 64.
    let payload: Vec<u8> = (0..6000u32).map(|i| (i % 253) as u8).collect();
    for i in 0..64 {
        bare.page(gref_of(i)).write_data(0, &payload[..60]);
        answer(i, 0, 60);
    }
    let first_page = gref_of(64);
    bare.page(first_page).write_data(0, &payload[..PAGE_SIZE]);
    answer(64, NETRXF_MORE_DATA, PAGE_SIZE as i16);
    ring.store_u32_release(8, 65);
    let mut delivered = Vec::new();
    q.poll_packets(&bare, &mut |_| {}, &mut |_, p| delivered.push(p.len()))
        .unwrap();
    assert_eq!(delivered, vec![60; 64]);
    assert_eq!(
        ring.load_u32_acquire(0),
        256 + 64,
        "the 64 delivered slots are offered again, the partial packet's slot is not"
    );
    assert_ne!(
        gref_of(256 + 64),
        first_page,
        "slot 64 was not posted again"
    );

    bare.page(gref_of(65)).write_data(0, &payload[PAGE_SIZE..]);
    answer(65, 0, (6000 - PAGE_SIZE) as i16);
    ring.store_u32_release(8, 66);
    let mut got = Vec::new();
    q.poll_packets(&bare, &mut |_| {}, &mut |_, p| {
        assert_eq!(p.fragments(), 2);
        let mut buf = vec![0u8; p.len()];
        assert_eq!(p.copy_to(&mut buf), 6000);
        got.push(buf);
    })
    .unwrap();
    assert_eq!(got, vec![payload]);
}

/// Writes rx response `i` (in the slot of request `i`) and publishes `prod`.
fn rx_rsp(ring: &SharedMem, i: usize, bytes: &[u8]) {
    ring.write_bytes(SRING_HEADER_SIZE + i * 8, bytes);
}

#[test]
fn received_fragments_and_extras_become_one_packet_with_metadata() {
    let bare = Bare::default();
    let mut q: NetQueue<Pkt> = NetQueue::new(&bare, 0, setup()).unwrap();
    q.start(&bare);
    let ring = bare.page(q.keys().rx_ring_ref);
    assert_eq!(ring.load_u32_acquire(0), 256, "every slot posted");
    let posted: Vec<NetifRxRequest> = (0..256)
        .map(|i| ring.read(SRING_HEADER_SIZE + i * 8))
        .collect();
    assert!(posted
        .iter()
        .enumerate()
        .all(|(i, r)| usize::from(r.id) == i));

    // A 5000-byte large receive: fragment, GSO extra (more), hash extra, fragment.
    let payload: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    bare.page(posted[0].gref).write_data(100, &payload[..3996]);
    bare.page(posted[3].gref).write_data(0, &payload[3996..]);
    let first = NetifRxResponse {
        id: 0,
        offset: 100,
        flags: NETRXF_MORE_DATA | NETRXF_EXTRA_INFO | NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED,
        status: 3996,
    };
    rx_rsp(&ring, 0, first.as_bytes());
    let gso = NetifExtraGso {
        size: 1400,
        gso_type: XEN_NETIF_GSO_TYPE_TCPV4,
        pad: 0,
        features: 0,
    };
    let mut e1 = NetifExtraInfo {
        kind: XEN_NETIF_EXTRA_TYPE_GSO,
        flags: XEN_NETIF_EXTRA_FLAG_MORE,
        payload: [0; 6],
    };
    e1.payload.copy_from_slice(gso.as_bytes());
    rx_rsp(&ring, 1, e1.as_bytes());
    let hash = NetifExtraHash {
        hash_type: 1,
        algorithm: 1,
        value: 0xdead_beefu32.to_le_bytes(),
    };
    let mut e2 = NetifExtraInfo {
        kind: XEN_NETIF_EXTRA_TYPE_HASH,
        flags: 0,
        payload: [0; 6],
    };
    e2.payload.copy_from_slice(hash.as_bytes());
    rx_rsp(&ring, 2, e2.as_bytes());
    rx_rsp(
        &ring,
        3,
        NetifRxResponse {
            id: 3,
            offset: 0,
            flags: 0,
            status: 1004,
        }
        .as_bytes(),
    );
    ring.store_u32_release(8, 4);

    let mut got: Vec<(RxMeta, Vec<u8>)> = Vec::new();
    q.poll(&bare, &mut |_| {}, &mut |m, b| got.push((*m, b.to_vec())))
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, payload);
    assert_eq!(
        got[0].0,
        RxMeta {
            checksum: RxChecksum::Blank,
            gso: Some(Gso {
                kind: GsoKind::TcpV4,
                mss: 1400
            }),
            hash: Some(RssHash {
                value: 0xdead_beef,
                kind: HashKind::Ipv4Tcp
            }),
        }
    );
    assert_eq!(q.stats().rx_bytes, 5000);
    assert_eq!(
        ring.load_u32_acquire(12),
        5,
        "rsp_event re-armed past what was consumed"
    );
}

#[test]
fn ctrl_requests_carry_grants_of_the_key_and_table_and_check_answers() {
    let bare = Bare::default();
    let config = NetfrontConfig {
        backend: 0,
        queues: 2,
        split_event_channels: false,
        tx: TxCaps::default(),
        rx: RxAccept::default(),
        ctrl_ring: true,
    };
    let mut front: Netfront<Pkt> =
        Netfront::new(&bare, config, &mut Quarantine::default()).unwrap();
    let ctrl = front.ctrl_mut().unwrap();
    let ring = bare.page(ctrl.ring_ref());
    let key = [0xa5u8; 40];
    ctrl.send(&bare, CtrlOp::SetHashKey(&key)).unwrap();
    let req: NetifCtrlRequest = ring.read(SRING_HEADER_SIZE);
    assert_eq!(req.kind, XEN_NETIF_CTRL_TYPE_SET_HASH_KEY);
    assert_eq!(req.data[1], 40);
    let mut in_page = [0u8; 40];
    bare.page(req.data[0]).read_data(0, &mut in_page);
    assert_eq!(in_page, key, "the key travels in a granted page");
    assert!(
        ctrl.send(&bare, CtrlOp::GetHashFlags).is_err(),
        "one request at a time"
    );

    // An answer to some other request is a protocol error.
    let wrong = NetifCtrlResponse {
        id: req.id.wrapping_add(1),
        kind: req.kind,
        status: 0,
        data: 0,
    };
    ring.write(SRING_HEADER_SIZE, &wrong);
    ring.store_u32_release(8, 1);
    assert_eq!(ctrl.poll(), Err(NetifError::CtrlUnexpected));
}

mod out_of_order {
    //! A correct backend may answer transmit requests in any order (Linux netback answers a packet
    //! when its last page reference goes, which need not follow the ring). Whatever the order,
    //! every packet completes exactly once, with its bytes intact in the granted pages until its
    //! answer, and with the worst status of its slots.

    use super::*;
    use proptest::prelude::*;
    use xenpv_datapath::netif::{TxDone, TxStatus};

    /// What the model backend parsed out of one packet's requests.
    struct Parsed {
        ids: Vec<u16>,
        extras: usize,
        bytes: Vec<u8>,
    }

    fn parse(bare: &Bare, ring: &SharedMem, from: u32, to: u32) -> Vec<Parsed> {
        let mut out = Vec::new();
        let mut i = from;
        while i != to {
            let head = req_at(ring, (i & 255) as usize);
            i = i.wrapping_add(1);
            let mut extras = 0;
            if head.flags & NETTXF_EXTRA_INFO != 0 {
                loop {
                    let e = NetifExtraInfo::read_from_bytes(
                        &req_at(ring, (i & 255) as usize).as_bytes()[..8],
                    )
                    .unwrap();
                    i = i.wrapping_add(1);
                    extras += 1;
                    if e.flags & XEN_NETIF_EXTRA_FLAG_MORE == 0 {
                        break;
                    }
                }
            }
            let mut slots = vec![head];
            let mut more = head.flags & NETTXF_MORE_DATA != 0;
            while more {
                let r = req_at(ring, (i & 255) as usize);
                i = i.wrapping_add(1);
                more = r.flags & NETTXF_MORE_DATA != 0;
                slots.push(r);
            }
            let rest: usize = slots[1..].iter().map(|r| usize::from(r.size)).sum();
            let mut bytes = Vec::new();
            for (k, r) in slots.iter().enumerate() {
                let len = if k == 0 {
                    usize::from(head.size) - rest
                } else {
                    usize::from(r.size)
                };
                let mut buf = vec![0u8; len];
                bare.page(r.gref).read_data(usize::from(r.offset), &mut buf);
                bytes.extend(buf);
            }
            out.push(Parsed {
                ids: slots.iter().map(|r| r.id).collect(),
                extras,
                bytes,
            });
        }
        out
    }

    fn frame(tag: u32, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u32).wrapping_mul(tag | 1) as u8 ^ tag as u8)
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_answer_order_completes_each_packet_once(
            sizes in proptest::collection::vec((1usize..=65535, any::<bool>()), 1..120),
            order_seed in any::<u64>(),
            failing in proptest::collection::hash_set(0u32..120, 0..10),
        ) {
            let bare = Bare::default();
            let mut q: NetQueue<Pkt> = NetQueue::new(&bare, 0, setup()).unwrap();
            let ring = bare.page(q.keys().tx_ring_ref);
            let mut done: HashMap<u32, Vec<TxStatus>> = HashMap::new();
            let mut rng = order_seed;
            let mut next_rand = move || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            let (mut next, mut cons, mut rsp_prod) = (0usize, 0u32, 0u32);
            while done.len() < sizes.len() {
                // Send what fits.
                while next < sizes.len() {
                    let (len, gso) = sizes[next];
                    let mut f = frame(next as u32, len.max(4));
                    f[..4].copy_from_slice(&(next as u32).to_be_bytes());
                    let offload = TxOffload {
                        checksum: TxChecksum::Offload,
                        gso: gso.then_some(Gso { kind: GsoKind::TcpV4, mss: 1000 }),
                    };
                    match q.send(OwnedPacket { frame: f, offload }) {
                        Ok(()) => next += 1,
                        Err(_) => break,
                    }
                }
                q.flush(&bare);
                // The backend takes everything published and answers it in a random order.
                let prod = ring.load_u32_acquire(0);
                let mut packets = parse(&bare, &ring, cons, prod);
                cons = prod;
                for p in &packets {
                    let tag = u32::from_be_bytes([p.bytes[0], p.bytes[1], p.bytes[2], p.bytes[3]]);
                    let (len, _) = sizes[tag as usize];
                    let mut want = frame(tag, len.max(4));
                    want[..4].copy_from_slice(&tag.to_be_bytes());
                    prop_assert_eq!(&p.bytes, &want, "packet {} intact while in flight", tag);
                }
                while !packets.is_empty() {
                    let p = packets.swap_remove(next_rand() as usize % packets.len());
                    let tag = u32::from_be_bytes([p.bytes[0], p.bytes[1], p.bytes[2], p.bytes[3]]);
                    let mut ids = p.ids.clone();
                    // Slots of a packet in any order; the head's NULLs follow the head.
                    for k in (1..ids.len()).rev() {
                        ids.swap(k, next_rand() as usize % (k + 1));
                    }
                    for (k, &id) in ids.iter().enumerate() {
                        let status = if failing.contains(&tag) && k == 0 { NETIF_RSP_ERROR } else { NETIF_RSP_OKAY };
                        ring.write(SRING_HEADER_SIZE + (rsp_prod & 255) as usize * 12, &NetifTxResponse { id, status });
                        rsp_prod = rsp_prod.wrapping_add(1);
                        if id == p.ids[0] {
                            for _ in 0..p.extras {
                                ring.write(SRING_HEADER_SIZE + (rsp_prod & 255) as usize * 12, &NetifTxResponse { id: 0, status: NETIF_RSP_NULL });
                                rsp_prod = rsp_prod.wrapping_add(1);
                            }
                        }
                    }
                }
                ring.store_u32_release(8, rsp_prod);
                q.poll(&bare, &mut |d| {
                    if let TxDone::Packet { packet, status } = d {
                        let tag = u32::from_be_bytes([packet.frame[0], packet.frame[1], packet.frame[2], packet.frame[3]]);
                        done.entry(tag).or_default().push(status);
                    }
                }, &mut |_, _| {}).unwrap();
            }
            for (tag, statuses) in &done {
                let want = if failing.contains(tag) { TxStatus::Error } else { TxStatus::Ok };
                prop_assert_eq!(statuses, &vec![want], "packet {}", tag);
            }
            prop_assert_eq!(q.pending_packets(), 0);
        }
    }
}

#[test]
fn answers_after_an_abort_are_protocol_errors_not_panics() {
    use xenpv_datapath::netif::tx::TxRing;
    use xenpv_datapath::netif::{TxDone, TxStatus};
    let ring_mem = SharedPages::new(1).unwrap().mem();
    let pool = SharedPages::new(256).unwrap().mem();
    let caps = setup().tx;
    let mut tx: TxRing<Pkt> =
        TxRing::new(ring_mem.clone(), pool, (0..256).collect(), caps).unwrap();
    tx.submit(OwnedPacket {
        frame: vec![1; 9000],
        offload: TxOffload::default(),
    })
    .map_err(|(_, w)| w)
    .unwrap();
    tx.flush();
    let follower = req_at(&ring_mem, 1).id;
    let mut done = Vec::new();
    tx.abort(&mut |d| done.push(d));
    assert!(matches!(
        done[..],
        [TxDone::Packet {
            status: TxStatus::Disconnected,
            ..
        }]
    ));
    assert_eq!(tx.in_flight(), 0, "every id is free again");
    ring_mem.write(
        SRING_HEADER_SIZE,
        &NetifTxResponse {
            id: follower,
            status: NETIF_RSP_OKAY,
        },
    );
    ring_mem.store_u32_release(8, 1);
    assert_eq!(
        tx.poll(&mut |d| done.push(d)),
        Err(NetifError::TxNotInFlight(follower))
    );
    assert_eq!(done.len(), 1, "nothing completes twice");
}
