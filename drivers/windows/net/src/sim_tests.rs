//! The portable miniport driven end to end over the sim: a vif created by the toolstack, the sim
//! netback (Linux's behaviour, loopback sink) in dom0, the adapter in the guest over the guest's
//! store ring. NET_BUFFER_LISTs built in test memory go out and come back as indicated lists with
//! their offload information; OIDs, RSS on the ctrl ring, pause, backend loss with reconnect and
//! the announcements after it are exercised on the way.

use std::boxed::Box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use std::vec::Vec;

use xenpv_abi::xenbus::XenbusState;
use xenpv_control::vif::VifWishes;
use xenpv_control::xs::client::{RingTransport, Store};
use xenpv_ddk::ndis::nbl::*;
use xenpv_ddk::ndis::oid::*;
use xenpv_ddk::ndis::{NDIS_STATUS_MEDIA_DISCONNECTED, NDIS_STATUS_PAUSED, NDIS_STATUS_SUCCESS};
use xenpv_sim::domain::{Guest, GuestSignal, Sim};
use xenpv_sim::guest::SimPlatform;
use xenpv_sim::host::HostConfig;
use xenpv_sim::netback::pair::linux_netback;
use xenpv_sim::netback::xenstore::NetbackDevice;
use xenpv_sim::toolstack::{create_device, DeviceSpec};

use crate::adapter::Adapter;
use crate::chain::{self, NblChain};
use crate::frame::tests::tcp4;
use crate::recv::{RxBuffer, RxPool};
use crate::rss::tests::params;
use crate::send::tests::{mdl, nbl_over, pages, zeroed, Pages};
use crate::send::PAGE_SIZE;

type TestAdapter = Adapter<SimPlatform, RingTransport<GuestSignal>>;
const MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0x00, 0x00, 0x07];

/// Receive buffers in test memory (each a list, a buffer and an MDL). Boxed one by one: the
/// pool holds pointers to them, made while the vectors were still being built.
#[allow(clippy::vec_box)]
struct RxMemory {
    _data: Vec<Vec<u8>>,
    _mdls: Vec<Box<Mdl>>,
    _nbs: Vec<Box<NetBuffer>>,
    _nbls: Vec<Box<NetBufferList>>,
}

fn rx_pool(count: usize, size: usize) -> (RxPool, RxMemory) {
    let mut data: Vec<Vec<u8>> = (0..count).map(|_| std::vec![0u8; size]).collect();
    let mut mdls: Vec<Box<Mdl>> = data.iter_mut().map(|d| mdl(d)).collect();
    let mut nbs: Vec<Box<NetBuffer>> = (0..count).map(|_| zeroed()).collect();
    let mut nbls: Vec<Box<NetBufferList>> = (0..count).map(|_| zeroed()).collect();
    let mut buffers = Vec::new();
    for i in 0..count {
        nbs[i].mdl_chain = &mut *mdls[i];
        nbls[i].first_net_buffer = &mut *nbs[i];
        buffers.push(RxBuffer {
            nbl: &mut *nbls[i],
            data: data[i].as_mut_ptr(),
            capacity: size,
        });
    }
    // SAFETY: the memory lives in RxMemory, which the test keeps beside the adapter.
    let pool = unsafe { RxPool::new(buffers) };
    (
        pool,
        RxMemory {
            _data: data,
            _mdls: mdls,
            _nbs: nbs,
            _nbls: nbls,
        },
    )
}

/// A frame addressed to the adapter (the loopback reflects it unchanged).
fn to_us(mut f: Vec<u8>) -> Vec<u8> {
    f[0..6].copy_from_slice(&MAC);
    f
}

/// The bytes of an indicated list's NET_BUFFER.
fn nbl_bytes(nbl: *mut NetBufferList) -> Vec<u8> {
    // SAFETY: an indicated list of the pool, over one mapped MDL.
    unsafe {
        let nb = &*(*nbl).first_net_buffer;
        let m = &*nb.current_mdl;
        std::slice::from_raw_parts(
            (m.mapped_system_va as *const u8).add(nb.current_mdl_offset as usize),
            nb.data_length as usize,
        )
        .to_vec()
    }
}

struct Bench {
    _sim: Sim,
    _guest: Guest,
    back: NetbackDevice,
    adapter: TestAdapter,
    _rx: RxMemory,
}

impl Bench {
    fn until(&mut self, what: &str, done: impl Fn(&mut Bench) -> bool) {
        let start = Instant::now();
        while !done(self) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "timed out: {what}"
            );
            self.back.process().unwrap();
            self.adapter.pump_store().unwrap();
            self.adapter.recheck().unwrap();
            let _ = self.back.poll();
            self.adapter.poll();
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Polls both ends until `want` lists were completed and `rx` received; returns them.
    fn traffic(
        &mut self,
        want: u32,
        rx: u32,
    ) -> (Vec<*mut NetBufferList>, Vec<*mut NetBufferList>) {
        let (mut completed, mut received) = (Vec::new(), Vec::new());
        let start = Instant::now();
        while completed.len() < want as usize || received.len() < rx as usize {
            assert!(start.elapsed() < Duration::from_secs(20), "traffic stalled");
            self.back.poll().unwrap();
            self.adapter.poll();
            let (head, _) = self.adapter.take_completed();
            // SAFETY: lists the adapter completed, built by the test.
            completed.extend(unsafe { chain::iter(head) });
            let (head, _) = self.adapter.take_received();
            // SAFETY: lists the adapter indicated.
            received.extend(unsafe { chain::iter(head) });
        }
        (completed, received)
    }

    fn give_back(&mut self, received: &[*mut NetBufferList]) {
        let mut c = NblChain::default();
        for &l in received {
            // SAFETY: indicated lists, returned once.
            unsafe { c.push(l) };
        }
        let (head, _) = c.take();
        // SAFETY: as above.
        unsafe { self.adapter.return_nbls(head) };
    }
}

fn bench() -> Bench {
    let sim = Sim::new(HostConfig {
        frames: 1 << 15,
        grant_entries: 1 << 14,
        ports: 128,
    });
    let guest = sim.create_guest(1).unwrap();
    let dom0 = sim.xenstored.connect(0);
    let spec = DeviceSpec {
        class: "vif",
        id: 0,
        frontend: 1,
        backend: 0,
        frontend_keys: &[("mac", "00:16:3e:00:00:07")],
        backend_keys: &[],
    };
    let dev = create_device(&dom0, &spec).unwrap();
    let back = NetbackDevice::attach(&sim.host, &sim.xenstored, &dev, 1, linux_netback(2)).unwrap();
    let client = guest.store().unwrap();
    let platform = Arc::new(SimPlatform::new(sim.host.clone(), 1));
    let (pool, rx) = rx_pool(320, 16 * 1024);
    let wishes = VifWishes {
        queues: 2,
        multicast_control: true,
        ..VifWishes::default()
    };
    let adapter = Adapter::new(platform, client, &dev.frontend, wishes, pool, 1500).unwrap();
    assert_eq!(adapter.mac(), MAC);
    Bench {
        _sim: sim,
        _guest: guest,
        back,
        adapter,
        _rx: rx,
    }
}

fn set_u32(a: &mut TestAdapter, oid: u32, v: u32) {
    assert_eq!(a.oid_set(oid, &v.to_le_bytes()).status, NDIS_STATUS_SUCCESS);
}

#[test]
fn nbls_go_out_and_come_back_through_the_sim_netback() {
    let mut b = bench();
    b.adapter.connect().unwrap();
    b.until("the backend to connect", |b| {
        b.adapter.is_connected() && b.back.state() == XenbusState::Connected
    });
    assert_eq!(b.adapter.link_change(), Some(true));
    assert_eq!(b.adapter.link_change(), None, "indicated once");
    let caps = b.adapter.offload_caps();
    assert!(
        caps.lso_v4 && caps.lso_v6 && caps.rsc,
        "Linux netback segments and coalesces"
    );
    b.adapter.restart();
    set_u32(
        &mut b.adapter,
        OID_GEN_CURRENT_PACKET_FILTER,
        NDIS_PACKET_TYPE_DIRECTED | NDIS_PACKET_TYPE_BROADCAST | NDIS_PACKET_TYPE_MULTICAST,
    );

    // List 1: two small frames (two NET_BUFFERs). List 2: a 9000-byte LSOv2 frame over three
    // MDLs, one of them crossing pages.
    let small: Vec<Vec<u8>> = (0..2).map(|i| to_us(tcp4(100 + i))).collect();
    let mut small_bufs: Vec<Vec<u8>> = small.clone();
    let mut small_mdls: Vec<Box<Mdl>> = small_bufs.iter_mut().map(|f| mdl(f)).collect();
    let mut small_nbs: Vec<Box<NetBuffer>> = (0..2).map(|_| zeroed()).collect();
    for i in 0..2 {
        small_nbs[i].current_mdl = &mut *small_mdls[i];
        small_nbs[i].mdl_chain = small_nbs[i].current_mdl;
        small_nbs[i].data_length = small[i].len() as u32;
    }
    let second: *mut NetBuffer = &mut *small_nbs[1];
    small_nbs[0].next = second;
    let mut list1: Box<NetBufferList> = zeroed();
    list1.first_net_buffer = &mut *small_nbs[0];

    let big = to_us(tcp4(9000 - 54));
    let mut mem: Box<Pages> = pages();
    let (a, rest) = mem.0.split_at_mut(PAGE_SIZE);
    let (r1, r2) = rest.split_at_mut(3 * PAGE_SIZE);
    a[..100].copy_from_slice(&big[..100]);
    r1[PAGE_SIZE - 96..PAGE_SIZE - 96 + 5000].copy_from_slice(&big[100..5100]);
    r2[..3900].copy_from_slice(&big[5100..]);
    let mut big_mdls = std::vec![
        mdl(&mut a[..100]),
        mdl(&mut r1[PAGE_SIZE - 96..PAGE_SIZE - 96 + 5000]),
        mdl(&mut r2[..3900]),
    ];
    let (mut list2, _big_nb) = nbl_over(&mut big_mdls, 0, 9000);
    list2.net_buffer_list_info[TCP_LARGE_SEND_NET_BUFFER_LIST_INFO] = 1448 | (34 << 20) | (1 << 30);

    let mut out = NblChain::default();
    // SAFETY: the lists live until the end of the test and are handed over once.
    unsafe {
        out.push(&mut *list1);
        out.push(&mut *list2);
        b.adapter.send(out.take().0);
    }
    let (completed, received) = b.traffic(2, 3);
    let l1: *mut NetBufferList = &mut *list1;
    let l2: *mut NetBufferList = &mut *list2;
    assert!(completed.contains(&l1) && completed.contains(&l2));
    assert_eq!(
        (list1.status, list2.status),
        (NDIS_STATUS_SUCCESS, NDIS_STATUS_SUCCESS)
    );
    let lso_done = LsoInfo(list2.net_buffer_list_info[TCP_LARGE_SEND_NET_BUFFER_LIST_INFO]);
    assert_eq!(
        (lso_done.lso_type(), lso_done.tcp_payload()),
        (1, 0),
        "LSOv2 completion"
    );

    let mut got: Vec<Vec<u8>> = received.iter().map(|&l| nbl_bytes(l)).collect();
    got.sort_by_key(|f| f.len());
    assert_eq!(got, [small[0].clone(), small[1].clone(), big.clone()]);
    let big_rx = received
        .iter()
        .copied()
        .find(|&l| nbl_bytes(l).len() == 9000)
        .unwrap();
    // SAFETY: an indicated list of the pool.
    let info = unsafe { (*big_rx).net_buffer_list_info };
    assert_eq!(
        RscInfo(info[TCP_RECV_SEG_COALESCE_INFO]).coalesced_segments(),
        7,
        "the backend reflected the LSO frame as one coalesced receive"
    );
    assert_ne!(
        info[TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO] & ChecksumRxInfo::TCP_CHECKSUM_SUCCEEDED,
        0
    );
    b.give_back(&received);

    // Statistics over the queues.
    let mut stats = std::vec![0u8; core::mem::size_of::<NdisStatisticsInfo>()];
    assert_eq!(
        b.adapter.oid_query(OID_GEN_STATISTICS, &mut stats).status,
        NDIS_STATUS_SUCCESS
    );
    let word = |at: usize| u64::from_le_bytes(stats[at..at + 8].try_into().unwrap());
    assert_eq!(word(0x40), 3, "ifHCOutUcastPkts");
    assert_eq!(word(0x20), 3, "ifHCInUcastPkts");

    // RSS over the ctrl ring: hashes come with receives afterwards.
    let key = [0x6d_u8; 40];
    let info_bits = NDIS_HASH_FUNCTION_TOEPLITZ | NDIS_HASH_TCP_IPV4 | NDIS_HASH_IPV4;
    let r = b.adapter.oid_set(
        OID_GEN_RECEIVE_SCALE_PARAMETERS,
        &params(0, info_bits, &[0, 1, 2, 3], &key),
    );
    assert_eq!(r.status, NDIS_STATUS_SUCCESS);
    b.until("the ctrl ring to take RSS", |b| !b.adapter.rss_pending());
    let frame = to_us(tcp4(300));
    let mut fbuf = frame.clone();
    let mut fm = std::vec![mdl(&mut fbuf)];
    let (mut list3, _nb3) = nbl_over(&mut fm, 0, frame.len() as u32);
    // SAFETY: as above.
    unsafe { b.adapter.send(&mut *list3) };
    let (_, received) = b.traffic(1, 1);
    // SAFETY: indicated list.
    let info = unsafe { (*received[0]).net_buffer_list_info };
    assert_eq!(
        info[NET_BUFFER_LIST_HASH_INFO] as u32,
        NDIS_HASH_FUNCTION_TOEPLITZ | NDIS_HASH_TCP_IPV4
    );
    b.give_back(&received);

    // The stack turns RSC off: the backend's coalesced receive of the same LSO frame arrives as
    // MSS-sized segments whose payloads add up to the original.
    let off = NdisOffloadParameters {
        rsc_ipv4: NDIS_OFFLOAD_PARAMETERS_RSC_DISABLED,
        rsc_ipv6: NDIS_OFFLOAD_PARAMETERS_RSC_DISABLED,
        ..Default::default()
    };
    // SAFETY: a repr(C) structure of integers viewed as its bytes.
    let off_bytes = unsafe {
        std::slice::from_raw_parts(
            (&off as *const NdisOffloadParameters).cast::<u8>(),
            core::mem::size_of::<NdisOffloadParameters>(),
        )
    };
    assert_eq!(
        b.adapter
            .oid_set(OID_TCP_OFFLOAD_PARAMETERS, off_bytes)
            .status,
        NDIS_STATUS_SUCCESS
    );
    let offload = b.adapter.take_offload_change().expect("indicated");
    assert_eq!(offload.rsc.ipv4_enabled, 0);
    // The completion overwrote the LSO request; ask again.
    list2.net_buffer_list_info[TCP_LARGE_SEND_NET_BUFFER_LIST_INFO] = 1448 | (34 << 20) | (1 << 30);
    // SAFETY: list 2 completed above and is the test's again.
    unsafe { b.adapter.send(&mut *list2) };
    let (_, received) = b.traffic(1, 7);
    let mut payload = Vec::new();
    for &l in &received {
        let seg = nbl_bytes(l);
        assert!(seg.len() <= 1514, "{} bytes", seg.len());
        // SAFETY: an indicated list.
        assert_eq!(
            unsafe { (*l).net_buffer_list_info[TCP_RECV_SEG_COALESCE_INFO] },
            0
        );
        payload.extend_from_slice(&seg[54..]);
    }
    assert_eq!(payload, big[54..]);
    b.give_back(&received);

    // More NET_BUFFERs than a ring holds, without letting the backend run: the rest waits in
    // the backlog, and cancelling their id aborts exactly those.
    assert!(
        b.adapter.event_ports().len() >= 3,
        "two queues' ports and the ctrl ring's"
    );
    let many = 300;
    let frame = to_us(tcp4(60));
    let mut bufs: Vec<Vec<u8>> = (0..many).map(|_| frame.clone()).collect();
    let mut mdls: Vec<Box<Mdl>> = bufs.iter_mut().map(|f| mdl(f)).collect();
    let mut nbs: Vec<Box<NetBuffer>> = (0..many).map(|_| zeroed()).collect();
    let mut lists: Vec<Box<NetBufferList>> = (0..many).map(|_| zeroed()).collect();
    let mut chain_out = NblChain::default();
    for i in 0..many {
        nbs[i].current_mdl = &mut *mdls[i];
        nbs[i].mdl_chain = nbs[i].current_mdl;
        nbs[i].data_length = frame.len() as u32;
        lists[i].first_net_buffer = &mut *nbs[i];
        lists[i].net_buffer_list_info[NET_BUFFER_LIST_CANCEL_ID] = 0x77;
        // SAFETY: the lists outlive their completion.
        unsafe { chain_out.push(&mut *lists[i]) };
    }
    // SAFETY: as above.
    unsafe { b.adapter.send(chain_out.take().0) };
    b.adapter.cancel_send(0x77);
    let (head, aborted) = b.adapter.take_completed();
    assert!(
        aborted > 0 && aborted < many as u32,
        "{aborted} of {many} were still waiting"
    );
    // SAFETY: completed lists of the test.
    for l in unsafe { chain::iter(head) } {
        assert_eq!(
            unsafe { (*l).status },
            xenpv_ddk::ndis::NDIS_STATUS_SEND_ABORTED
        );
    }
    let (_, received) = b.traffic(many as u32 - aborted, many as u32 - aborted);
    b.give_back(&received);

    // The same again, but the backend drops the carrier: what waited in the backlog completes
    // as disconnected instead of waiting for the link, and sends are refused until it is back.
    for l in lists.iter_mut() {
        l.net_buffer_list_info[NET_BUFFER_LIST_CANCEL_ID] = 0;
        // SAFETY: completed above, the test's again.
        unsafe { chain_out.push(&mut **l) };
    }
    // SAFETY: as above.
    unsafe { b.adapter.send(chain_out.take().0) };
    b.back.set_carrier(false).unwrap();
    // Only the store moves here, not the rings: the backlog is still full when the loss is seen.
    let start = Instant::now();
    while b.adapter.is_connected() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the carrier loss"
        );
        b.back.process().unwrap();
        b.adapter.pump_store().unwrap();
    }
    b.adapter.poll();
    let (head, waited) = b.adapter.take_completed();
    assert!(waited > 0 && waited < many as u32, "{waited}");
    // SAFETY: completed lists of the test.
    for l in unsafe { chain::iter(head) } {
        assert_eq!(unsafe { (*l).status }, NDIS_STATUS_MEDIA_DISCONNECTED);
    }
    assert_eq!(b.adapter.link_change(), Some(false));
    let mut refused: Box<NetBufferList> = zeroed();
    // SAFETY: a list of the test, refused while the link is down.
    unsafe { b.adapter.send(&mut *refused) };
    assert_eq!(b.adapter.take_completed().1, 1);
    assert_eq!(refused.status, NDIS_STATUS_MEDIA_DISCONNECTED);
    b.back.set_carrier(true).unwrap();
    b.until("the carrier", |b| b.adapter.is_connected());
    assert_eq!(b.adapter.link_change(), Some(true));
    // The ring's share completes (whether netback delivered it during the outage or not).
    let (completed, received) = b.traffic(many as u32 - waited, 0);
    assert_eq!(completed.len() as u32, many as u32 - waited);
    b.give_back(&received);
    for _ in 0..50 {
        let _ = b.back.poll();
        b.adapter.poll();
    }
    let (head, _) = b.adapter.take_received();
    // SAFETY: indicated lists, handed straight back.
    unsafe { b.adapter.return_nbls(head) };

    // Pause: sends are refused with NDIS_STATUS_PAUSED and the adapter is quiet.
    assert!(b.adapter.pause());
    let mut list4: Box<NetBufferList> = zeroed();
    // SAFETY: as above.
    unsafe { b.adapter.send(&mut *list4) };
    let (head, n) = b.adapter.take_completed();
    assert_eq!((head, n), (&mut *list4 as *mut NetBufferList, 1));
    assert_eq!(list4.status, NDIS_STATUS_PAUSED);
    b.adapter.restart();

    // The stack tells us its IPv4 address; the backend goes away and comes back; the adapter
    // announces the address (gratuitous ARP, broadcast: it comes back through the loopback).
    let mut addrs = Vec::new();
    addrs.extend_from_slice(&1i32.to_le_bytes());
    addrs.extend_from_slice(&2u16.to_le_bytes());
    addrs.extend_from_slice(&16u16.to_le_bytes());
    addrs.extend_from_slice(&2u16.to_le_bytes());
    addrs.extend_from_slice(&[0, 0, 0, 0, 10, 0, 0, 5]);
    addrs.extend_from_slice(&[0; 8]);
    assert_eq!(
        b.adapter
            .oid_set(OID_GEN_NETWORK_LAYER_ADDRESSES, &addrs)
            .status,
        NDIS_STATUS_SUCCESS
    );
    let announced = b.adapter.announcements();
    assert_eq!(
        announced, 1,
        "the carrier's return was announced (NA only, no IPv4 yet)"
    );
    b.back.close().unwrap();
    b.until("the loss to be seen", |b| !b.adapter.is_connected());
    assert_eq!(b.adapter.link_change(), Some(false));
    b.until("the reconnect", |b| {
        b.adapter.is_connected() && b.back.state() == XenbusState::Connected
    });
    assert_eq!(b.adapter.link_change(), Some(true));
    assert_eq!(b.adapter.announcements() - announced, 2, "one ARP, one NA");
    let (_, received) = b.traffic(0, 1);
    let arp = nbl_bytes(received[0]);
    assert_eq!(&arp[12..14], &[0x08, 0x06]);
    assert_eq!(&arp[28..32], &[10, 0, 0, 5]);
    b.give_back(&received);
    // The NA went out too (the new queues count both frames); it was for 33:33:00:00:00:01, a
    // group not on the multicast list, so it is not indicated (netback's multicast filter or
    // ours drops it).
    let mut sent = [0u8; 8];
    assert_eq!(
        b.adapter.oid_query(OID_GEN_XMIT_OK, &mut sent).status,
        NDIS_STATUS_SUCCESS
    );
    assert_eq!(u64::from_le_bytes(sent), 2);
    for _ in 0..50 {
        let _ = b.back.poll();
        b.adapter.poll();
    }
    assert_eq!(b.adapter.take_received().1, 0);
    // The client is still usable (the store session survived the reconnect).
    assert!(b
        .adapter
        .client()
        .try_read("device/vif/0/mac")
        .unwrap()
        .is_some());
    let pool = b.adapter.halt().unwrap();
    assert_eq!(pool.outstanding(), 0);
}
