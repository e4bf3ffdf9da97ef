//! Transmit from the caller's own frames: large fragments are granted per packet instead of
//! copied. What comes out of the loopback is what went in; every grant is ended by the time its
//! packet comes back; and a backend that answers a request while it still maps the granted frame
//! never gets the packet handed back to its owner (XSA-396), whatever else it does.

use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;
use xenpv_abi::netif::NetifTxResponse;
use xenpv_abi::ring::SRING_HEADER_SIZE;
use xenpv_abi::PAGE_SIZE;
use xenpv_datapath::netif::queue::QueueSetup;
use xenpv_datapath::netif::tx::GRANT_MIN;
use xenpv_datapath::netif::{
    FragmentFrames, Gso, GsoKind, NetQueue, NetifError, RxAccept, TxCaps, TxChecksum, TxDone,
    TxOffload, TxPacket, TxStatus,
};
use xenpv_datapath::platform::Gfn;
use xenpv_datapath::shmem::SharedMem;
use xenpv_sim::guest::SimPlatform;
use xenpv_sim::host::{Host, HostConfig, Mapping};
use xenpv_sim::netback::pair::{linux_netback, FrontRequest, NetPair};
use zerocopy::IntoBytes;

const HEADERS: usize = 54;

/// A packet in frames of the guest (dom 1): headers and payload as two fragments.
#[derive(Debug)]
struct FramePkt {
    tag: u32,
    mem: SharedMem,
    len: usize,
    gfns: Vec<Gfn>,
    offload: TxOffload,
}

impl FramePkt {
    /// A TCP/IPv4 frame of `len` bytes whose payload starts with `tag`, in new frames of dom 1.
    fn new(host: &Host, len: usize, tag: u32, offload: TxOffload) -> Self {
        let len = len.max(HEADERS + 4);
        let mut f = vec![0u8; len];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        f[14] = 0x45;
        f[23] = 6;
        for (i, b) in f.iter_mut().enumerate().skip(HEADERS) {
            *b = (i as u32).wrapping_mul(7).wrapping_add(tag) as u8;
        }
        f[HEADERS..HEADERS + 4].copy_from_slice(&tag.to_be_bytes());
        let (mem, gfns) = host.frames.alloc(1, len.div_ceil(PAGE_SIZE)).unwrap();
        mem.write_bytes(0, &f);
        Self {
            tag,
            mem,
            len,
            gfns,
            offload,
        }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the frames stay allocated for the host's lifetime (these tests never free
        // them), nothing writes them after `new`, and they are granted read-only.
        unsafe { std::slice::from_raw_parts(self.mem.as_ptr().as_ptr(), self.len) }
    }

    /// Whether `page` is one of this packet's frames.
    fn owns(&self, page: &SharedMem) -> bool {
        let start = self.mem.as_ptr().as_ptr() as usize;
        let p = page.as_ptr().as_ptr() as usize;
        (start..start + self.mem.len()).contains(&p)
    }
}

impl TxPacket for FramePkt {
    fn offload(&self) -> TxOffload {
        self.offload
    }

    fn fragments(&self) -> impl Iterator<Item = &[u8]> {
        let (headers, payload) = self.bytes().split_at(HEADERS);
        [headers, payload].into_iter()
    }

    fn fragment_frames(&self, index: usize) -> Option<FragmentFrames<'_>> {
        (index == 1).then_some(FragmentFrames {
            offset: HEADERS,
            gfns: &self.gfns,
        })
    }
}

fn host() -> Arc<Host> {
    Host::new(HostConfig {
        frames: 1 << 14,
        grant_entries: 1 << 14,
        ports: 64,
    })
}

fn gso() -> TxOffload {
    TxOffload {
        checksum: TxChecksum::Offload,
        gso: Some(Gso {
            kind: GsoKind::TcpV4,
            mss: 1448,
        }),
    }
}

#[test]
fn granted_payloads_arrive_intact_and_every_grant_ends_with_its_packet() {
    let host = host();
    let mut pair: NetPair<FramePkt> =
        NetPair::connect(&host, 1, &linux_netback(4), FrontRequest::default()).unwrap();
    let table = host.grant_table(1);
    let active = table.active();
    let maps = host.grant_stats().maps;
    let sizes = [65535, 60, 1514, GRANT_MIN + HEADERS, 30001, 65535];
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut packets = sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| FramePkt::new(&host, len, i as u32, gso()));
    let mut done = Vec::new();
    let mut got: Vec<Vec<u8>> = Vec::new();
    for _ in 0..50 {
        pair.step(
            &mut |_| {
                let p = packets.next()?;
                sent.push(p.bytes().to_vec());
                Some(p)
            },
            &mut |d| done.push(d),
            &mut |_, _, rx| {
                let mut buf = vec![0; rx.len()];
                rx.copy_to(&mut buf);
                got.push(buf)
            },
        )
        .unwrap();
        if done.len() == sizes.len() && got.len() == sizes.len() {
            break;
        }
    }
    assert_eq!(done.len(), sizes.len(), "every packet came back");
    for d in &done {
        assert!(matches!(
            d,
            TxDone::Packet {
                status: TxStatus::Ok,
                ..
            }
        ));
    }
    assert_eq!(got.len(), sizes.len());
    for (s, g) in sent.iter().zip(&got) {
        assert_eq!(s.len(), g.len());
        assert_eq!(s[HEADERS..], g[HEADERS..], "payload intact");
    }
    assert!(
        host.grant_stats().maps > maps,
        "the backend mapped the granted frames"
    );
    for d in &done {
        if let TxDone::Packet { packet, .. } = d {
            assert!(
                packet
                    .gfns
                    .iter()
                    .all(|&g| host.frames.page(1, g).is_some()),
                "the frames are still the guest's"
            );
        }
    }
    assert_eq!(
        table.active(),
        active,
        "no grant outlives its packet and no reference is lost"
    );
}

/// A queue against a backend that the test plays by hand on the raw tx ring.
struct Raw<P> {
    host: Arc<Host>,
    guest: SimPlatform,
    q: NetQueue<P>,
    tx: Mapping,
    prod: u32,
}

impl<P: TxPacket> Raw<P> {
    fn new() -> Self {
        let host = Host::new(HostConfig {
            frames: 4096,
            grant_entries: 2048,
            ports: 16,
        });
        let guest = SimPlatform::new(host.clone(), 1);
        let setup = QueueSetup {
            backend: 0,
            split_event_channels: false,
            tx: TxCaps {
                sg: true,
                gso_tcpv4: true,
                gso_tcpv6: true,
            },
            rx: RxAccept::default(),
        };
        let mut q = NetQueue::new(&guest, 0, setup).unwrap();
        q.start(&guest);
        let tx = host.map(0, 1, q.keys().tx_ring_ref, true).unwrap();
        Self {
            host,
            guest,
            q,
            tx,
            prod: 0,
        }
    }

    /// The grant reference of the request in ring slot `slot`, as a backend reads it.
    fn gref(&self, slot: usize) -> u32 {
        self.tx
            .mem()
            .read::<u32>(SRING_HEADER_SIZE + (slot & 255) * 12)
    }

    fn answer(&mut self, id: u16, status: i16) {
        let slot = (self.prod & 255) as usize;
        let mem = self.tx.mem();
        mem.write_bytes(
            SRING_HEADER_SIZE + slot * 12,
            NetifTxResponse { id, status }.as_bytes(),
        );
        self.prod = self.prod.wrapping_add(1);
        mem.store_u32_release(8, self.prod);
    }
}

/// The test that fails if the engine hands a packet back without its grants ending.
#[test]
fn a_packet_whose_frame_the_backend_still_maps_is_never_handed_back() {
    let mut raw: Raw<FramePkt> = Raw::new();
    let p = FramePkt::new(&raw.host, 20_000, 7, TxOffload::default());
    let frames: Vec<SharedMem> = p
        .gfns
        .iter()
        .map(|&g| raw.host.frames.page(1, g).unwrap())
        .collect();
    raw.q.send(p).unwrap();
    raw.q.flush(&raw.guest);
    // Slot 0 carries the copied headers (id 0), slots 1.. the granted payload pages (ids 1..).
    let pool = raw.gref(0);
    let granted = raw.gref(1);
    assert_ne!(pool, granted);
    let map = raw
        .host
        .map(0, 1, granted, false)
        .expect("the frame is granted");
    assert_eq!(
        map.mem().as_ptr(),
        frames[0].as_ptr(),
        "slot 1 grants the packet's own first frame, not a copy"
    );
    assert!(
        raw.host.map(0, 1, granted, true).is_err(),
        "granted read-only"
    );
    // Answer every slot (headers and 5 payload pages) while still mapping the first page.
    for id in 0..6 {
        raw.answer(id, 0);
    }
    let mut done = Vec::new();
    let e = raw
        .q
        .poll(&raw.guest, &mut |d| done.push(d), &mut |_, _| {});
    assert_eq!(e, Err(NetifError::TxGrantInUse(1)));
    assert!(done.is_empty(), "the packet is not handed back");
    assert_eq!(raw.q.broken(), Some(NetifError::TxGrantInUse(1)));
    let still = raw.q.teardown(&raw.guest, &mut |d| done.push(d));
    assert!(
        done.is_empty(),
        "nor at teardown while the backend maps its frame"
    );
    assert_eq!(still.len(), 1, "the tx ring, which the test maps");
    // The frame stays granted to the backend, and its reference is never given out again.
    let again = raw.host.map(0, 1, granted, false);
    assert!(again.is_ok(), "the grant was not ended under the backend");
    drop(again);
    drop(map);
    let table = raw.host.grant_table(1);
    while let Ok(g) = table.grant(0, 1, true) {
        assert_ne!(g, granted, "reference reused");
    }
}

#[test]
fn a_backend_that_lets_go_before_teardown_gets_the_packet_completed_once() {
    let mut raw: Raw<FramePkt> = Raw::new();
    raw.q
        .send(FramePkt::new(&raw.host, 9000, 1, TxOffload::default()))
        .unwrap();
    raw.q.flush(&raw.guest);
    let map = raw.host.map(0, 1, raw.gref(2), false).unwrap();
    for id in 0..4 {
        raw.answer(id, 0);
    }
    let mut done = Vec::new();
    let e = raw
        .q
        .poll(&raw.guest, &mut |d| done.push(d), &mut |_, _| {});
    assert_eq!(e, Err(NetifError::TxGrantInUse(2)));
    assert!(done.is_empty());
    drop(map);
    raw.q.teardown(&raw.guest, &mut |d| done.push(d));
    assert_eq!(done.len(), 1);
    assert!(matches!(
        &done[0],
        TxDone::Packet {
            packet,
            status: TxStatus::Disconnected
        } if packet.tag == 1
    ));
}

/// A packet of many fragments at chosen places in one run of the guest's frames.
#[derive(Debug)]
struct Scattered {
    mem: SharedMem,
    gfns: Vec<Gfn>,
    /// Each fragment's start in the run, and its length.
    frags: Vec<(usize, usize)>,
}

impl TxPacket for Scattered {
    fn offload(&self) -> TxOffload {
        TxOffload::default()
    }

    fn fragments(&self) -> impl Iterator<Item = &[u8]> {
        self.frags.iter().map(|&(start, len)| {
            // SAFETY: as FramePkt::bytes: live, unwritten, read-only granted frames.
            unsafe { std::slice::from_raw_parts(self.mem.as_ptr().as_ptr().add(start), len) }
        })
    }

    fn fragment_frames(&self, index: usize) -> Option<FragmentFrames<'_>> {
        let (start, _) = *self.frags.get(index)?;
        Some(FragmentFrames {
            offset: start % PAGE_SIZE,
            gfns: &self.gfns[start / PAGE_SIZE..],
        })
    }
}

/// Requests the frontend put on the ring, each as (gref, offset, size), read as a backend would.
fn requests<P: TxPacket>(raw: &Raw<P>, n: usize) -> Vec<(u32, u16, u16)> {
    (0..n)
        .map(|slot| {
            let at = SRING_HEADER_SIZE + slot * 12;
            let mem = raw.tx.mem();
            (
                mem.read::<u32>(at),
                mem.read::<u16>(at + 4),
                mem.read::<u16>(at + 10),
            )
        })
        .collect()
}

#[test]
fn fragments_are_granted_where_they_lie_and_a_layout_past_the_slot_limit_is_copied() {
    let mut raw: Raw<Scattered> = Raw::new();
    let (mem, gfns) = raw.host.frames.alloc(1, 40).unwrap();
    mem.write_bytes(0, &[0xab; 40 * PAGE_SIZE]);
    // Headers, then one long fragment starting mid-page: 1 pool slot and 3 frame slots.
    let few = Scattered {
        mem: mem.clone(),
        gfns: gfns.clone(),
        frags: vec![(0, HEADERS), (2000, 8000)],
    };
    raw.q.send(few).unwrap();
    raw.q.flush(&raw.guest);
    let reqs = requests(&raw, 4);
    let pool = reqs[0].0;
    assert_eq!(
        reqs[0].2 as usize,
        HEADERS + 8000,
        "the first size is the packet's"
    );
    assert_eq!(
        reqs[1..].iter().map(|r| (r.1, r.2)).collect::<Vec<_>>(),
        [(2000, 2096), (0, 4096), (0, 1808)],
        "each slot covers the fragment's bytes in one frame"
    );
    for r in &reqs[1..] {
        assert!(
            r.0 != pool && raw.host.map(0, 1, r.0, false).is_ok(),
            "granted frame"
        );
    }
    // Ten fragments each straddling a page boundary would take 21 slots: more than a backend
    // must accept, so the whole packet is copied into 9 pool pages.
    let mut frags = vec![(0, HEADERS)];
    frags.extend((0..10).map(|k| (PAGE_SIZE * (4 + 2 * k) - 1000, GRANT_MIN)));
    let run = mem.as_ptr().as_ptr() as usize..mem.as_ptr().as_ptr() as usize + 40 * PAGE_SIZE;
    let many = Scattered { mem, gfns, frags };
    let len = HEADERS + 10 * GRANT_MIN;
    raw.q.send(many).unwrap();
    raw.q.flush(&raw.guest);
    let slots = len.div_ceil(PAGE_SIZE);
    let reqs = requests(&raw, 4 + slots + 1);
    assert_eq!(reqs[4].2 as usize, len, "the next packet's first slot");
    let data = &reqs[4..4 + slots];
    assert_eq!(
        reqs[4 + slots].0,
        0,
        "no slot past the copied ones (an untouched ring entry)"
    );
    assert_eq!(
        data[1..].iter().map(|r| usize::from(r.2)).sum::<usize>() + PAGE_SIZE,
        len,
        "full pool pages but the last"
    );
    for &(gref, offset, _) in data {
        assert_eq!(offset, 0);
        let m = raw.host.map(0, 1, gref, false).unwrap();
        let page = m.mem().as_ptr().as_ptr() as usize;
        assert!(
            !run.contains(&page),
            "a pool page, not one of the packet's frames"
        );
        let mut b = [0u8; 1];
        m.mem().read_bytes(0, &mut b);
        assert_eq!(b[0], 0xab, "holding a copy of its bytes");
    }
}

#[derive(Clone, Debug)]
enum Act {
    /// The frontend sends a packet of this size from its frames.
    Send(usize),
    /// The backend answers on the tx ring.
    TxRsp { id: u16, status: i16 },
    /// The backend maps whatever the request in this ring slot grants, and keeps it.
    Hold(usize),
    /// The backend lets go of one of its mappings.
    Release(usize),
    /// The frontend processes what the backend did.
    Poll,
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        3 => (60usize..20_000).prop_map(Act::Send),
        4 => (
            prop_oneof![0u16..24, any::<u16>()],
            prop_oneof![Just(0i16), Just(-1), Just(1), any::<i16>()],
        )
            .prop_map(|(id, status)| Act::TxRsp { id, status }),
        2 => (0usize..40).prop_map(Act::Hold),
        1 => (0usize..8).prop_map(Act::Release),
        3 => Just(Act::Poll),
    ]
}

/// No packet comes back while the backend maps one of its frames; each comes back at most once;
/// after teardown every packet not handed back has a frame the backend still maps.
fn run(acts: Vec<Act>) {
    let mut raw: Raw<FramePkt> = Raw::new();
    let mut held: Vec<Mapping> = Vec::new();
    let mut completed: HashMap<u32, usize> = HashMap::new();
    let mut kept: HashMap<u32, Vec<SharedMem>> = HashMap::new();
    let mut sent = 0u32;
    let check = |d: TxDone<FramePkt>, held: &[Mapping], completed: &mut HashMap<u32, usize>| {
        if let TxDone::Packet { packet, .. } = d {
            assert!(
                held.iter().all(|m| !packet.owns(m.mem())),
                "packet {} handed back while the backend maps its frame",
                packet.tag
            );
            *completed.entry(packet.tag).or_default() += 1;
        }
    };
    for a in acts {
        match a {
            Act::Send(len) => {
                let p = FramePkt::new(&raw.host, len, sent, TxOffload::default());
                let pages = p.gfns.iter().map(|&g| raw.host.frames.page(1, g).unwrap());
                kept.insert(sent, pages.collect());
                if raw.q.send(p).is_ok() {
                    sent += 1;
                    raw.q.flush(&raw.guest);
                }
            }
            Act::TxRsp { id, status } => raw.answer(id, status),
            Act::Hold(slot) => {
                if let Ok(m) = raw.host.map(0, 1, raw.gref(slot), false) {
                    held.push(m);
                }
            }
            Act::Release(i) => {
                if i < held.len() {
                    held.swap_remove(i);
                }
            }
            Act::Poll => {
                let r = raw.q.poll(
                    &raw.guest,
                    &mut |d| check(d, &held, &mut completed),
                    &mut |_, _| {},
                );
                if r.is_err() {
                    break;
                }
            }
        }
        assert!(completed.values().all(|&n| n == 1), "completed twice");
    }
    let Raw { guest, q, .. } = raw;
    q.teardown(&guest, &mut |d| check(d, &held, &mut completed));
    assert!(completed.values().all(|&n| n == 1), "exactly once");
    for tag in 0..sent {
        if !completed.contains_key(&tag) {
            let pages = &kept[&tag];
            assert!(
                held.iter()
                    .any(|m| pages.iter().any(|p| p.as_ptr() == m.mem().as_ptr())),
                "packet {tag} kept back although the backend maps none of its frames"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_hostile_backend_never_gets_a_mapped_frame_handed_back(
        acts in proptest::collection::vec(act(), 1..80)
    ) {
        run(acts);
    }
}
