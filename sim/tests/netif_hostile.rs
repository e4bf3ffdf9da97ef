//! A hostile backend: it maps the frontend's rings and writes whatever it likes — responses with
//! ids out of range or repeated, undefined statuses, offsets and sizes past the page, more_data
//! chains longer than any packet, extras nobody asked for, producer indices that jump — while
//! the frontend keeps sending and polling. Every run must end in a typed error and a clean
//! teardown, or in dropped packets: no panic, every packet completed exactly once, and every page
//! the backend still maps kept out of reuse.

use std::collections::HashMap;

use proptest::prelude::*;
use xenpv_abi::netif::{NetifExtraInfo, NetifRxResponse, NetifTxResponse};
use xenpv_abi::ring::SRING_HEADER_SIZE;
use xenpv_datapath::netif::queue::QueueSetup;
use xenpv_datapath::netif::rx::MAX_RX_BYTES;
use xenpv_datapath::netif::{
    NetQueue, NetifError, OwnedPacket, QueueStats, RxAccept, RxDrop, TxCaps, TxDone, TxOffload,
};
use xenpv_datapath::platform::Grants;
use xenpv_sim::guest::SimPlatform;
use xenpv_sim::host::{Host, HostConfig, Mapping};
use zerocopy::IntoBytes;

type Pkt = OwnedPacket<Vec<u8>>;

#[derive(Clone, Debug)]
enum Act {
    /// The frontend sends a packet of this size.
    Send(usize),
    /// The backend answers on the tx ring.
    TxRsp { id: u16, status: i16 },
    /// The backend writes an rx response.
    RxRsp {
        offset: u16,
        flags: u16,
        status: i16,
    },
    /// The backend writes an extra-info slot on the rx ring.
    RxExtra {
        kind: u8,
        flags: u8,
        payload: [u8; 6],
    },
    /// The backend moves a producer index anywhere.
    Jump { rx: bool, to: u32 },
    /// The backend maps one of the frontend's pool pages and keeps it.
    Hold { rx: bool, page: usize },
    /// The frontend processes what the backend did.
    Poll,
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        3 => (1usize..20_000).prop_map(Act::Send),
        4 => (
            prop_oneof![0u16..8, 0u16..300, any::<u16>()],
            prop_oneof![Just(0i16), Just(-1), Just(-2), Just(1), any::<i16>()],
        )
            .prop_map(|(id, status)| Act::TxRsp { id, status }),
        4 => (
            prop_oneof![Just(0u16), 0u16..5000],
            prop_oneof![0u16..32, any::<u16>()],
            prop_oneof![0i16..4200, any::<i16>()],
        )
            .prop_map(|(offset, flags, status)| Act::RxRsp { offset, flags, status }),
        2 => (0u8..7, 0u8..2, any::<[u8; 6]>())
            .prop_map(|(kind, flags, payload)| Act::RxExtra { kind, flags, payload }),
        1 => (any::<bool>(), prop_oneof![0u32..600, any::<u32>()])
            .prop_map(|(rx, to)| Act::Jump { rx, to }),
        1 => (any::<bool>(), 0usize..256).prop_map(|(rx, page)| Act::Hold { rx, page }),
        3 => Just(Act::Poll),
    ]
}

/// The backend's raw view of a ring: it writes slots and producer indices directly.
struct RawRing {
    map: Mapping,
    prod: u32,
    entry: usize,
}

impl RawRing {
    fn write(&mut self, bytes: &[u8]) {
        let slot = (self.prod & 255) as usize;
        let mem = self.map.mem();
        mem.write_bytes(SRING_HEADER_SIZE + slot * self.entry, bytes);
        self.prod = self.prod.wrapping_add(1);
        mem.store_u32_release(8, self.prod);
    }

    fn jump(&mut self, to: u32) {
        self.prod = to;
        self.map.mem().store_u32_release(8, to);
    }
}

fn tag(p: &Pkt) -> u32 {
    u32::from_be_bytes([p.frame[0], p.frame[1], p.frame[2], p.frame[3]])
}

fn run(acts: Vec<Act>) -> (Option<NetifError>, QueueStats) {
    let host = Host::new(HostConfig {
        frames: 2048,
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
        rx: RxAccept {
            gso: true,
            hash: false,
        },
    };
    let mut q: NetQueue<Pkt> = NetQueue::new(&guest, 0, setup).unwrap();
    q.start(&guest);
    let keys = q.keys();
    let mut tx = RawRing {
        map: host.map(0, 1, keys.tx_ring_ref, true).unwrap(),
        prod: 0,
        entry: 12,
    };
    let mut rx = RawRing {
        map: host.map(0, 1, keys.rx_ring_ref, true).unwrap(),
        prod: 0,
        entry: 8,
    };
    // The pools' grants, found the way a backend finds them: in the requests on the rings.
    let pool_gref = |ring: &RawRing, slot: usize, rx: bool| -> u32 {
        let mem = ring.map.mem();
        if rx {
            mem.read::<u32>(SRING_HEADER_SIZE + slot * 8 + 4)
        } else {
            mem.read::<u32>(SRING_HEADER_SIZE + slot * 12)
        }
    };
    let mut held: Vec<Mapping> = Vec::new();
    let mut completed: HashMap<u32, usize> = HashMap::new();
    let mut sent = 0u32;
    let mut error: Option<NetifError> = None;
    let on_done = |d: TxDone<Pkt>, completed: &mut HashMap<u32, usize>| {
        if let TxDone::Packet { packet, .. } = d {
            *completed.entry(tag(&packet)).or_default() += 1;
        }
    };
    for a in acts {
        match a {
            Act::Send(len) => {
                let mut frame = vec![0x5a; len.max(4)];
                frame[..4].copy_from_slice(&sent.to_be_bytes());
                let p = OwnedPacket {
                    frame,
                    offload: TxOffload::default(),
                };
                if q.send(p).is_ok() {
                    sent += 1;
                    q.flush(&guest);
                }
            }
            Act::TxRsp { id, status } => tx.write(NetifTxResponse { id, status }.as_bytes()),
            Act::RxRsp {
                offset,
                flags,
                status,
            } => {
                let id = (rx.prod & 255) as u16;
                rx.write(
                    NetifRxResponse {
                        id,
                        offset,
                        flags,
                        status,
                    }
                    .as_bytes(),
                )
            }
            Act::RxExtra {
                kind,
                flags,
                payload,
            } => rx.write(
                NetifExtraInfo {
                    kind,
                    flags,
                    payload,
                }
                .as_bytes(),
            ),
            Act::Jump { rx: on_rx, to } => {
                if on_rx {
                    rx.jump(to)
                } else {
                    tx.jump(to)
                }
            }
            Act::Hold { rx: on_rx, page } => {
                let gref = if on_rx {
                    pool_gref(&rx, page, true)
                } else {
                    pool_gref(&tx, page, false)
                };
                // Only requests the frontend actually made name a pool page.
                if let Ok(m) = host.map(0, 1, gref, on_rx) {
                    held.push(m);
                }
            }
            Act::Poll => {
                let r = q.poll(
                    &guest,
                    &mut |d| on_done(d, &mut completed),
                    &mut |_, data| assert!(data.len() <= MAX_RX_BYTES && !data.is_empty()),
                );
                if let Err(e) = r {
                    error = Some(e);
                    break;
                }
            }
        }
        assert!(completed.values().all(|&n| n == 1), "completed twice");
    }
    if error.is_some() {
        assert_eq!(q.broken(), error, "the queue remembers why it stopped");
        assert!(q
            .send(OwnedPacket {
                frame: vec![0; 60],
                offload: TxOffload::default()
            })
            .is_err());
    }
    // Clean disconnect while the backend still maps the rings and whatever pool pages it held.
    let rings_held = 2;
    let pools_held: std::collections::HashSet<bool> = held
        .iter()
        .map(|m| {
            // Which pool a held page belongs to: rx pool pages are granted writable.
            host.map(0, 1, m.gref(), true).is_ok()
        })
        .collect();
    let stats = *q.stats();
    let still = q.teardown(&guest, &mut |d| on_done(d, &mut completed));
    let n_held = still.len();
    assert_eq!(
        n_held,
        rings_held + pools_held.len(),
        "exactly the regions the backend maps are kept"
    );
    for s in still {
        let region = s.0;
        assert!(
            region
                .grefs()
                .iter()
                .any(|&g| host.grant_table(1).in_use(g)),
            "a kept region is one the backend uses"
        );
        assert!(guest.end_region(region).is_err());
    }
    assert_eq!(completed.len(), sent as usize, "every packet completed");
    assert!(completed.values().all(|&n| n == 1), "exactly once");
    drop(tx);
    drop(rx);
    drop(held);
    (error, stats)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 384,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_hostile_backend_cannot_break_the_frontend(acts in proptest::collection::vec(act(), 1..80)) {
        run(acts);
    }
}

/// Hand-picked cases the generator might take long to find.
#[test]
fn targeted_attacks_end_in_typed_errors_or_drops() {
    use Act::*;
    // Ids are handed out from 0 upwards, so the first packet's only slot is id 0.
    let (e, _) = run(vec![
        Send(100),
        Send(100),
        TxRsp { id: 0, status: 0 },
        TxRsp { id: 0, status: 0 },
        Poll,
    ]);
    assert_eq!(e, Some(NetifError::TxNotInFlight(0)), "a duplicate answer");
    let (e, _) = run(vec![
        Send(100),
        TxRsp {
            id: 4000,
            status: 0,
        },
        Poll,
    ]);
    assert_eq!(e, Some(NetifError::TxId(4000)), "an id beyond the ring");
    let (e, _) = run(vec![Send(100), TxRsp { id: 0, status: 1 }, Poll]);
    assert_eq!(e, Some(NetifError::TxUnexpectedNull), "a NULL nobody owes");
    let (e, _) = run(vec![Send(100), TxRsp { id: 0, status: -7 }, Poll]);
    assert_eq!(e, Some(NetifError::TxStatus { id: 0, status: -7 }));
    let (e, _) = run(vec![Send(100), Jump { rx: false, to: 5 }, Poll]);
    assert!(
        matches!(e, Some(NetifError::Ring(_))),
        "rsp_prod past the requests: {e:?}"
    );
    let (e, _) = run(vec![Jump { rx: true, to: 257 }, Poll]);
    assert!(
        matches!(e, Some(NetifError::Ring(_))),
        "rsp_prod past the ring: {e:?}"
    );

    // A more_data chain longer than any packet is dropped; so is a packet with an extra nobody
    // asked for (hashing is off) and one whose fragment runs past its page. A good packet after
    // them still arrives.
    let mut acts: Vec<Act> = (0..30)
        .map(|_| RxRsp {
            offset: 0,
            flags: 4,
            status: 4096,
        })
        .collect();
    acts.push(RxRsp {
        offset: 0,
        flags: 0,
        status: 10,
    });
    let (e, stats) = run([acts.clone(), vec![Poll]].concat());
    assert_eq!(e, None);
    assert_eq!(
        (stats.rx_dropped, stats.last_rx_drop),
        (1, Some(RxDrop::TooManySlots))
    );
    acts.push(RxRsp {
        offset: 0,
        flags: 8,
        status: 60,
    });
    acts.push(RxExtra {
        kind: 4,
        flags: 0,
        payload: [0; 6],
    });
    let (_, stats) = run([acts.clone(), vec![Poll]].concat());
    assert_eq!(
        (stats.rx_dropped, stats.last_rx_drop),
        (2, Some(RxDrop::UnexpectedExtra(4)))
    );
    acts.push(RxRsp {
        offset: 4000,
        flags: 0,
        status: 200,
    });
    acts.push(RxRsp {
        offset: 100,
        flags: 0,
        status: 200,
    });
    acts.push(Poll);
    // The backend keeps pool pages mapped through the disconnect.
    acts.extend([
        Send(9000),
        Hold { rx: false, page: 0 },
        Hold { rx: true, page: 3 },
    ]);
    let (e, stats) = run(acts);
    assert_eq!(e, None);
    assert_eq!(stats.rx_dropped, 3);
    assert_eq!(
        stats.last_rx_drop,
        Some(RxDrop::Offset {
            offset: 4000,
            len: 200
        })
    );
    assert_eq!(stats.rx_packets, 1);
    assert_eq!(stats.rx_bytes, 200);
}
