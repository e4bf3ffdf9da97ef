//! The sim netback validates transmit requests as Linux xen-netback does: malformed requests are
//! fatal and disable the vif; merely bad packets are answered with errors and dropped.

use std::sync::Arc;

use xenpv_abi::netif::*;
use xenpv_control::vif::FrontendVif;
use xenpv_datapath::netif::{EventPorts, QueueKeys};
use xenpv_datapath::platform::{Access, EventChannels, GrantedRegion, Grants};
use xenpv_datapath::ring::{FrontRing, SharedRing};
use xenpv_sim::guest::SimPlatform;
use xenpv_sim::host::{Host, HostConfig};
use xenpv_sim::netback::pair::linux_netback;
use xenpv_sim::netback::{NetbackError, TxFault, Vif};
use zerocopy::FromBytes;

type TxFront = FrontRing<NetifTxRequest, NetifTxResponse, SharedRing>;
/// Builds a (malformed) request sequence for a raw frontend.
type MakeRequests = Box<dyn Fn(&Raw) -> Vec<NetifTxRequest>>;

/// A hand-driven frontend: raw rings and a few data pages, so requests can be anything.
struct Raw {
    _host: Arc<Host>,
    _guest: SimPlatform,
    tx: TxFront,
    data: GrantedRegion,
    back: Vif,
    _regions: Vec<GrantedRegion>,
}

fn raw() -> Raw {
    let host = Host::new(HostConfig {
        frames: 256,
        grant_entries: 256,
        ports: 16,
    });
    let guest = SimPlatform::new(host.clone(), 1);
    let tx_page = guest.grant_region(0, 1, Access::ReadWrite).unwrap();
    let rx_page = guest.grant_region(0, 1, Access::ReadWrite).unwrap();
    let data = guest.grant_region(0, 24, Access::ReadOnly).unwrap();
    let tx = TxFront::init(
        SharedRing::new::<NetifTxRequest, NetifTxResponse>(tx_page.mem().clone()).unwrap(),
    );
    FrontRing::<NetifRxRequest, NetifRxResponse, SharedRing>::init(
        SharedRing::new::<NetifRxRequest, NetifRxResponse>(rx_page.mem().clone()).unwrap(),
    );
    let port = guest.alloc_unbound(0).unwrap();
    let keys = FrontendVif {
        queues: vec![QueueKeys {
            tx_ring_ref: tx_page.grefs()[0],
            rx_ring_ref: rx_page.grefs()[0],
            ports: EventPorts::Shared(port),
        }],
        sg: true,
        gso_tcpv4: true,
        gso_tcpv6: true,
        no_csum_offload: false,
        ipv6_csum_offload: true,
        multicast_control: false,
        ctrl: None,
    };
    let back = Vif::connect(&host, 0, 1, &linux_netback(1), &keys).unwrap();
    Raw {
        _host: host,
        _guest: guest,
        tx,
        data,
        back,
        _regions: vec![tx_page, rx_page],
    }
}

impl Raw {
    fn slot(&self, page: usize, offset: u16, flags: u16, id: u16, size: u16) -> NetifTxRequest {
        NetifTxRequest {
            gref: self.data.grefs()[page],
            offset,
            flags,
            id,
            size,
        }
    }

    fn push(&mut self, reqs: &[NetifTxRequest]) -> Result<(), NetbackError> {
        for r in reqs {
            self.tx.push(r).unwrap();
        }
        self.tx.publish();
        self.back.poll().map(|_| ())
    }

    fn responses(&mut self) -> Vec<NetifTxResponse> {
        self.tx.poll_responses().unwrap().collect()
    }
}

fn extra(kind: u8, flags: u8, payload: &[u8]) -> NetifTxRequest {
    let mut bytes = [0u8; 12];
    bytes[0] = kind;
    bytes[1] = flags;
    bytes[2..2 + payload.len()].copy_from_slice(payload);
    NetifTxRequest::read_from_bytes(&bytes).unwrap()
}

/// A packet of `n` continuation slots of 100 bytes after a 100-byte first slot.
fn chain(r: &Raw, n: usize) -> Vec<NetifTxRequest> {
    let total = 100 * (n + 1);
    let mut v = vec![r.slot(0, 0, NETTXF_MORE_DATA, 0, total as u16)];
    for k in 1..=n {
        let more = if k < n { NETTXF_MORE_DATA } else { 0 };
        v.push(r.slot(k, 0, more, k as u16, 100));
    }
    v
}

#[test]
fn a_good_packet_is_answered_ok_and_delivered() {
    let mut r = raw();
    let reqs = chain(&r, 3);
    r.push(&reqs).unwrap();
    let rsps = r.responses();
    assert_eq!(rsps.len(), 4);
    assert!(rsps.iter().all(|x| x.status == NETIF_RSP_OKAY));
    let mut ids: Vec<u16> = rsps.iter().map(|x| x.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![0, 1, 2, 3]);
    assert_eq!(r.back.stats().tx_packets, 1);
    assert_eq!(r.back.stats().tx_bytes, 400);
}

#[test]
fn legacy_slot_limit_drops_and_fatal_limit_disables() {
    let mut r = raw();
    // netback counts continuation slots: 18 of them are within the legacy limit...
    let reqs = chain(&r, XEN_NETIF_NR_SLOTS_MIN as usize);
    r.push(&reqs).unwrap();
    let rsps = r.responses();
    assert!(rsps.iter().all(|x| x.status == NETIF_RSP_OKAY));
    // ...19 are dropped with errors, and the vif lives on.
    let reqs = chain(&r, XEN_NETIF_NR_SLOTS_MIN as usize + 1);
    r.push(&reqs).unwrap();
    let rsps = r.responses();
    assert_eq!(rsps.len(), reqs.len());
    assert!(rsps.iter().all(|x| x.status == NETIF_RSP_ERROR));
    assert_eq!(r.back.stats().tx_errors, 1);
    assert_eq!(r.back.stats().tx_packets, 1);
    // Reaching a 21st continuation slot: malicious.
    let reqs = chain(&r, 21);
    assert_eq!(
        r.push(&reqs),
        Err(NetbackError::Tx(TxFault::TooManySlots(20)))
    );
    assert!(r.back.poll().is_err(), "the vif stays disabled");
}

#[test]
fn malformed_requests_are_fatal() {
    let cases: Vec<(MakeRequests, TxFault)> = vec![
        (
            Box::new(|r| vec![r.slot(0, 4000, 0, 0, 200)]),
            TxFault::CrossPage {
                offset: 4000,
                size: 200,
            },
        ),
        (
            Box::new(|r| {
                vec![
                    r.slot(0, 0, NETTXF_MORE_DATA, 0, 300),
                    r.slot(1, 4090, 0, 1, 100),
                ]
            }),
            TxFault::CrossPage {
                offset: 4090,
                size: 100,
            },
        ),
        (
            Box::new(|r| vec![r.slot(0, 0, NETTXF_EXTRA_INFO, 0, 60), extra(0, 0, &[])]),
            TxFault::ExtraType(0),
        ),
        (
            Box::new(|r| {
                vec![
                    r.slot(0, 0, NETTXF_EXTRA_INFO, 0, 60),
                    extra(XEN_NETIF_EXTRA_TYPE_MAX, 0, &[]),
                ]
            }),
            TxFault::ExtraType(XEN_NETIF_EXTRA_TYPE_MAX),
        ),
        (
            Box::new(|r| {
                vec![
                    r.slot(0, 0, NETTXF_EXTRA_INFO, 0, 60),
                    extra(
                        XEN_NETIF_EXTRA_TYPE_GSO,
                        XEN_NETIF_EXTRA_FLAG_MORE,
                        &[0x5a, 5, 1],
                    ),
                ]
            }),
            TxFault::MissingExtra,
        ),
        (
            Box::new(|r| vec![r.slot(0, 0, NETTXF_MORE_DATA, 0, 200)]),
            TxFault::MissingSlots,
        ),
        (
            Box::new(|r| {
                vec![
                    r.slot(0, 0, NETTXF_EXTRA_INFO, 0, 60),
                    extra(
                        XEN_NETIF_EXTRA_TYPE_GSO,
                        0,
                        &[0, 0, XEN_NETIF_GSO_TYPE_TCPV4],
                    ),
                ]
            }),
            TxFault::GsoZeroSize,
        ),
        (
            Box::new(|r| {
                vec![
                    r.slot(0, 0, NETTXF_EXTRA_INFO, 0, 60),
                    extra(XEN_NETIF_EXTRA_TYPE_GSO, 0, &[0xa8, 5, 7]),
                ]
            }),
            TxFault::GsoType(7),
        ),
    ];
    for (make, fault) in cases {
        let mut r = raw();
        let reqs = make(&r);
        assert_eq!(r.push(&reqs), Err(NetbackError::Tx(fault)), "{fault:?}");
        assert_eq!(r.back.fatal(), Some(&NetbackError::Tx(fault)));
    }
}

#[test]
fn bad_packets_are_answered_with_errors() {
    let mut r = raw();
    // Shorter than an Ethernet header.
    let runt = [r.slot(0, 0, 0, 0, 10)];
    r.push(&runt).unwrap();
    // A continuation slot larger than the packet.
    let oversized = [
        r.slot(0, 0, NETTXF_MORE_DATA, 1, 100),
        r.slot(1, 0, 0, 2, 200),
    ];
    r.push(&oversized).unwrap();
    // A grant that is not ours to copy.
    let foreign = [NetifTxRequest {
        gref: 200,
        offset: 0,
        flags: 0,
        id: 3,
        size: 60,
    }];
    r.push(&foreign).unwrap();
    let rsps = r.responses();
    assert_eq!(rsps.len(), 4);
    assert!(rsps.iter().all(|x| x.status == NETIF_RSP_ERROR), "{rsps:?}");
    assert_eq!(r.back.stats().tx_errors, 3);
    assert_eq!(r.back.stats().tx_packets, 0);
    assert!(r.back.fatal().is_none());
}

#[test]
fn extras_are_answered_with_null_slots_and_multicast_ops_succeed() {
    let mut r = raw();
    let group = [0x01, 0, 0x5e, 1, 2, 3];
    let reqs = [
        r.slot(0, 0, NETTXF_EXTRA_INFO, 9, 0),
        extra(XEN_NETIF_EXTRA_TYPE_MCAST_ADD, 0, &group),
        r.slot(1, 0, NETTXF_EXTRA_INFO | NETTXF_CSUM_BLANK, 10, 100),
        extra(
            XEN_NETIF_EXTRA_TYPE_GSO,
            0,
            [
                1400u16.to_ne_bytes().as_slice(),
                &[XEN_NETIF_GSO_TYPE_TCPV4],
            ]
            .concat()
            .as_slice(),
        ),
    ];
    r.push(&reqs).unwrap();
    let rsps = r.responses();
    let statuses: Vec<(u16, i16)> = rsps.iter().map(|x| (x.id, x.status)).collect();
    assert_eq!(statuses[0], (9, NETIF_RSP_OKAY));
    assert_eq!(statuses[1].1, NETIF_RSP_NULL);
    assert_eq!(statuses[2], (10, NETIF_RSP_OKAY));
    assert_eq!(statuses[3].1, NETIF_RSP_NULL);
    assert_eq!(r.back.stats().mcast_ops, 1);
    assert_eq!(r.back.stats().tx_packets, 1);
}

/// A hash extra is accepted with a packet (netif.h: a backend doing Toeplitz hashing takes
/// them on transmit); one of a type netif.h does not define is ignored, as netback does, rather
/// than treated as malformed.
#[test]
fn hash_extras_are_accepted_whatever_their_type() {
    let mut r = raw();
    let hash = |htype: u8| {
        let mut payload = [0u8; 6];
        payload[0] = htype;
        payload[1] = XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ as u8;
        payload[2..].copy_from_slice(&0x1234_5678u32.to_le_bytes());
        extra(XEN_NETIF_EXTRA_TYPE_HASH, 0, &payload)
    };
    let reqs = [
        r.slot(0, 0, NETTXF_EXTRA_INFO, 3, 100),
        hash(XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT as u8),
        r.slot(1, 0, NETTXF_EXTRA_INFO, 4, 100),
        hash(9),
    ];
    r.push(&reqs).unwrap();
    let statuses: Vec<(u16, i16)> = r.responses().iter().map(|x| (x.id, x.status)).collect();
    assert_eq!(statuses.len(), 4);
    assert!(statuses.contains(&(3, NETIF_RSP_OKAY)));
    assert!(statuses.contains(&(4, NETIF_RSP_OKAY)));
    assert_eq!(r.back.fatal(), None);
    assert_eq!(r.back.stats().tx_packets, 2);
}
