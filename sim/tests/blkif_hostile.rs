//! blkfront against a hostile backend: arbitrary response ids, duplicates, wrong operations,
//! garbage status, jumping indices, grants held on to. The frontend must never panic, never
//! complete a request twice or one it was not given, and never reuse a grant the backend holds.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use proptest::prelude::*;
use xenpv_abi::blkif::{
    BlkifRequest, BlkifRequestIndirect, BlkifResponse, BLKIF_OP_INDIRECT, BLKIF_OP_READ,
    BLKIF_RSP_OKAY,
};
use xenpv_abi::GrantRef;
use xenpv_datapath::blkif::{
    BlkQueue, BlockRequest, Disk, Features, IoError, QueueConfig, QueueError, QueueHandle,
    RingInfo, SetupError,
};
use xenpv_datapath::ring::{BackRing, Index, RingMemory};
use xenpv_sim::blkback::MappedRing;
use xenpv_sim::guest::SimPlatform;
use xenpv_sim::host::{Host, HostConfig, Mapping};
use zerocopy::{FromBytes, FromZeros, IntoBytes};

#[derive(Clone, Debug)]
enum IdKind {
    Right,
    Random(u64),
    /// An id answered before.
    Repeat,
}

#[derive(Clone, Debug)]
enum Op {
    Submit {
        write: bool,
        sector: u16,
        pages: u8,
    },
    /// The backend takes the published requests.
    Take,
    /// The backend answers one taken request (chosen by `which`).
    Answer {
        which: u8,
        id: IdKind,
        right_op: bool,
        status: i16,
    },
    /// The backend writes `rsp_prod` = its published value + `by`.
    Jump(u32),
    /// The backend keeps a mapping of a data page of a taken request.
    Hold(u8),
    /// The backend lets go of everything it held.
    Release,
    Service,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), 0u16..512, 1u8..40)
            .prop_map(|(write, sector, pages)| Op::Submit { write, sector, pages }),
        3 => Just(Op::Take),
        5 => (
            any::<u8>(),
            prop_oneof![
                8 => Just(IdKind::Right),
                1 => any::<u64>().prop_map(IdKind::Random),
                1 => Just(IdKind::Repeat)
            ],
            prop::bool::weighted(0.95),
            prop_oneof![8 => Just(BLKIF_RSP_OKAY), 1 => Just(-1i16), 1 => any::<i16>()]
        )
            .prop_map(|(which, id, right_op, status)| Op::Answer { which, id, right_op, status }),
        1 => (1u32..1000).prop_map(Op::Jump),
        1 => any::<u8>().prop_map(Op::Hold),
        1 => Just(Op::Release),
        4 => Just(Op::Service),
    ]
}

/// The backend as an attacker drives it.
struct Hostile {
    ring: BackRing<BlkifRequest, BlkifResponse, MappedRing>,
    taken: Vec<BlkifRequest>,
    answered: Vec<u64>,
    held: Vec<Mapping>,
}

impl Hostile {
    /// The grants a request names (data pages, or the indirect pages and the segments in them).
    fn grefs(&self, req: &BlkifRequest) -> Vec<GrantRef> {
        if req.operation == BLKIF_OP_INDIRECT {
            let (ind, _) = BlkifRequestIndirect::read_from_prefix(req.as_bytes()).unwrap();
            let pages = (ind.nr_segments as usize).div_ceil(512);
            ind.indirect_grefs[..pages].to_vec()
        } else {
            req.seg[..(req.nr_segments as usize).min(11)]
                .iter()
                .map(|s| s.gref)
                .collect()
        }
    }
}

struct Rig {
    host: Arc<Host>,
    queue: BlkQueue<SimPlatform, Vec<u8>>,
    handle: QueueHandle<Vec<u8>>,
    back: Hostile,
}

type Queue = BlkQueue<SimPlatform, Vec<u8>>;

/// A host and a disconnected queue of guest 1 on it.
fn queue() -> (Arc<Host>, Queue, QueueHandle<Vec<u8>>) {
    let host = Host::new(HostConfig {
        frames: 1 << 14,
        grant_entries: 1 << 14,
        ports: 64,
    });
    let guest = Arc::new(SimPlatform::new(host.clone(), 1));
    let disk = Arc::new(Disk::new(1 << 16, 512, 512, false).unwrap());
    let config = QueueConfig {
        max_requests: 16,
        max_indirect_segments: 64,
        pool_pages: 256,
    };
    let (queue, handle) = BlkQueue::new(guest, disk, 0, config).unwrap();
    (host, queue, handle)
}

fn features(persistent: bool) -> Features {
    Features {
        persistent,
        max_indirect_segments: 64,
        flush: true,
        barrier: true,
        discard: None,
    }
}

/// Dom0 maps the ring the queue published and binds its event channel.
fn back_ring(
    host: &Arc<Host>,
    info: &RingInfo,
) -> BackRing<BlkifRequest, BlkifResponse, MappedRing> {
    let pages = info
        .grefs
        .iter()
        .map(|&g| host.map(0, 1, g, true).unwrap())
        .collect();
    host.evtchn.bind_interdomain(0, 1, info.port).unwrap();
    BackRing::attach(MappedRing::new::<BlkifRequest, BlkifResponse>(pages))
}

fn rig(persistent: bool) -> Rig {
    let (host, mut queue, handle) = queue();
    let info = queue.connect(0, 0, features(persistent)).unwrap();
    let ring = back_ring(&host, &info);
    Rig {
        back: Hostile {
            ring,
            taken: Vec::new(),
            answered: Vec::new(),
            held: Vec::new(),
        },
        host,
        queue,
        handle,
    }
}

/// Takes the completions, checking each belongs to a submitted request and comes only once.
fn collect(
    r: &mut Rig,
    submitted: &HashSet<u64>,
    completed: &mut HashSet<u64>,
) -> Result<(), TestCaseError> {
    while let Some(c) = r.handle.completion() {
        prop_assert!(
            submitted.contains(&c.tag),
            "completion for tag {} never submitted",
            c.tag
        );
        prop_assert!(completed.insert(c.tag), "tag {} completed twice", c.tag);
    }
    Ok(())
}

fn run(persistent: bool, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut r = rig(persistent);
    let mut submitted = HashSet::new();
    let mut completed = HashSet::new();
    let mut next_tag = 0u64;
    let mut broken: Option<QueueError> = None;
    // Grants the backend saw in requests it has not answered: per-request grants of two
    // requests in flight must never overlap.
    let mut in_flight_grefs: HashMap<u64, Vec<GrantRef>> = HashMap::new();
    for op in ops {
        match op {
            Op::Submit {
                write,
                sector,
                pages,
            } => {
                let buf = vec![0x5a; pages as usize * 4096];
                let req = if write {
                    BlockRequest::write(next_tag, u64::from(sector) * 8, buf)
                } else {
                    BlockRequest::read(next_tag, u64::from(sector) * 8, buf)
                };
                if r.handle.submit(req).is_ok() {
                    submitted.insert(next_tag);
                    next_tag += 1;
                }
            }
            Op::Take => {
                let reqs: Vec<_> = r
                    .back
                    .ring
                    .poll_requests()
                    .expect("the frontend publishes valid indices")
                    .collect();
                for req in reqs {
                    let grefs = r.back.grefs(&req);
                    if !persistent {
                        for other in in_flight_grefs.values() {
                            prop_assert!(
                                grefs.iter().all(|g| !other.contains(g)),
                                "a grant of a request in flight was reused"
                            );
                        }
                        for m in &r.back.held {
                            prop_assert!(!grefs.contains(&m.gref()), "a held grant was reused");
                        }
                    }
                    in_flight_grefs.insert(req.id, grefs);
                    r.back.taken.push(req);
                }
            }
            Op::Answer {
                which,
                id,
                right_op,
                status,
            } => {
                if r.back.taken.is_empty() {
                    continue;
                }
                let req = r.back.taken.remove(which as usize % r.back.taken.len());
                let mut rsp = BlkifResponse::new_zeroed();
                rsp.id = match id {
                    IdKind::Right => req.id,
                    IdKind::Random(v) => v,
                    IdKind::Repeat => r.back.answered.last().copied().unwrap_or(req.id),
                };
                let op = if req.operation == BLKIF_OP_INDIRECT {
                    BlkifRequestIndirect::read_from_prefix(req.as_bytes())
                        .unwrap()
                        .0
                        .indirect_op
                } else {
                    req.operation
                };
                rsp.operation = if right_op { op } else { op.wrapping_add(7) };
                rsp.status = status;
                r.back.ring.push(&rsp).unwrap();
                r.back.ring.publish();
                in_flight_grefs.remove(&req.id);
                r.back.answered.push(req.id);
            }
            Op::Jump(by) => {
                let mem = r.back.ring.mem();
                let now = mem.load_index(Index::RspProd);
                mem.store_index(Index::RspProd, now.wrapping_add(by));
            }
            Op::Hold(which) => {
                if let Some(req) = r.back.taken.get(which as usize % r.back.taken.len().max(1)) {
                    if req.operation == BLKIF_OP_READ && req.nr_segments > 0 {
                        let g = req.seg[0].gref;
                        if let Ok(m) = r.host.map(0, 1, g, false) {
                            r.back.held.push(m);
                        }
                    }
                }
            }
            Op::Release => r.back.held.clear(),
            Op::Service => match r.queue.service() {
                Ok(()) => prop_assert!(broken.is_none(), "a broken queue stays broken"),
                Err(e) => {
                    if let Some(b) = broken {
                        prop_assert_eq!(b, e);
                    }
                    broken = Some(e);
                }
            },
        }
        collect(&mut r, &submitted, &mut completed)?;
    }
    // The device goes away: everything left fails, exactly once, and no grant the backend still
    // maps is given back to the pool.
    while r.queue.fail_all(IoError::Disconnected) > 0 {
        collect(&mut r, &submitted, &mut completed)?;
    }
    collect(&mut r, &submitted, &mut completed)?;
    prop_assert_eq!(
        &completed,
        &submitted,
        "every request completes exactly once"
    );
    prop_assert_eq!(r.queue.active(), 0);
    prop_assert!(
        r.queue.quarantined() >= 1,
        "the backend still maps the ring: it is not freed"
    );
    drop(r.back);
    r.queue.service().unwrap();
    prop_assert_eq!(
        r.queue.quarantined(),
        0,
        "quarantine drains once the backend lets go"
    );
    prop_assert_eq!(r.host.grant_table(1).active(), 0, "every grant ended");
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hostile_backend_with_persistent_grants(ops in prop::collection::vec(op(), 1..120)) {
        run(true, ops)?;
    }

    #[test]
    fn hostile_backend_with_per_request_grants(ops in prop::collection::vec(op(), 1..120)) {
        run(false, ops)?;
    }
}

#[test]
fn each_kind_of_bad_response_is_named() {
    // One request, answered with an id that names nothing.
    let mut r = rig(true);
    r.handle
        .submit(BlockRequest::read(1, 0, vec![0; 4096]))
        .unwrap();
    r.queue.service().unwrap();
    let req = r.back.ring.poll_requests().unwrap().next().unwrap();
    let mut rsp = BlkifResponse::new_zeroed();
    rsp.id = req.id ^ (1 << 40);
    rsp.operation = BLKIF_OP_READ;
    r.back.ring.push(&rsp).unwrap();
    r.back.ring.publish();
    let e = r.queue.service().unwrap_err();
    assert!(matches!(
        e,
        QueueError::Response(xenpv_datapath::blkif::ResponseError::NotInFlight { .. })
    ));
    assert_eq!(
        r.handle.completion().map(|c| c.tag),
        None,
        "no completion from a bad response"
    );

    // Garbage status: the request fails, the device carries on.
    let mut r = rig(true);
    r.handle
        .submit(BlockRequest::read(2, 0, vec![0; 4096]))
        .unwrap();
    r.queue.service().unwrap();
    let req = r.back.ring.poll_requests().unwrap().next().unwrap();
    let mut rsp = BlkifResponse::new_zeroed();
    rsp.id = req.id;
    rsp.operation = BLKIF_OP_READ;
    rsp.status = 1234;
    r.back.ring.push(&rsp).unwrap();
    r.back.ring.publish();
    r.queue.service().unwrap();
    let c = r.handle.completion().unwrap();
    assert_eq!((c.tag, c.result), (2, Err(IoError::Io)));

    // Responses beyond what was requested: the index is refused.
    let mut r = rig(true);
    r.back.ring.mem().store_index(Index::RspProd, 3);
    assert!(matches!(r.queue.service(), Err(QueueError::Ring(_))));
    assert!(
        matches!(r.queue.service(), Err(QueueError::Ring(_))),
        "stays broken"
    );
    // A clean disconnect: the request-less queue can connect again.
    r.queue.disconnect();
    assert_eq!(r.queue.broken(), None);
}

#[test]
fn pool_pages_the_backend_keeps_are_never_used_again() {
    let mut r = rig(true);
    r.handle
        .submit(BlockRequest::read(1, 0, vec![0; 4096]))
        .unwrap();
    r.queue.service().unwrap();
    let req = r.back.ring.poll_requests().unwrap().next().unwrap();
    let kept = req.seg[0].gref;
    // The backend keeps the page mapped and never answers; the guest reconnects elsewhere.
    let held = r.host.map(0, 1, kept, true).unwrap();
    r.queue.disconnect();
    assert!(
        r.queue.quarantined() >= 1,
        "the pool the backend holds is quarantined"
    );
    let info = r.queue.connect(0, 0, features(true)).unwrap();
    let mut ring = back_ring(&r.host, &info);
    for tag in 2..16 {
        let submitted = r
            .handle
            .submit(BlockRequest::write(tag, tag * 8, vec![7; 8192]));
        assert!(submitted.is_ok(), "room for request {tag}");
    }
    r.queue.service().unwrap();
    let mut seen = 0;
    for req in ring.poll_requests().unwrap() {
        let grefs = if req.operation == BLKIF_OP_INDIRECT {
            let (ind, _) = BlkifRequestIndirect::read_from_prefix(req.as_bytes()).unwrap();
            ind.indirect_grefs[..1].to_vec()
        } else {
            req.seg[..req.nr_segments as usize]
                .iter()
                .map(|s| s.gref)
                .collect()
        };
        assert!(
            !grefs.contains(&kept),
            "a page the old backend maps was reused"
        );
        seen += 1;
    }
    assert!(seen > 0);
    // Once the old backend lets go of its page and its ring, the old grants end.
    drop(held);
    drop(r.back);
    r.queue.service().unwrap();
    assert_eq!(r.queue.quarantined(), 0);
}

#[test]
fn a_ring_carries_nothing_until_the_features_are_known() {
    // blkfront sets the ring up before the backend says whether it keeps grants persistently;
    // a request issued then would be granted the wrong way.
    let (host, mut queue, mut handle) = queue();
    assert_eq!(queue.start(features(true)), Err(SetupError::NotConnected));
    let info = queue.connect_ring(0, 0).unwrap();
    let mut ring = back_ring(&host, &info);
    handle
        .submit(BlockRequest::write(1, 8, vec![5; 4096]))
        .unwrap();
    queue.service().unwrap();
    assert_eq!(ring.poll_requests().unwrap().count(), 0);
    assert_eq!(queue.features(), None);

    queue.start(features(true)).unwrap();
    assert_eq!(queue.start(features(true)), Err(SetupError::AlreadyStarted));
    assert_eq!(queue.features(), Some(features(true)));
    queue.service().unwrap();
    let req = ring
        .poll_requests()
        .unwrap()
        .next()
        .expect("issued once started");
    // Persistent: even a write's page may be mapped writable (blkif.h note 8).
    let page = host.map(0, 1, req.seg[0].gref, true).unwrap();
    drop(page);
    let mut rsp = BlkifResponse::new_zeroed();
    rsp.id = req.id;
    rsp.operation = req.operation;
    rsp.status = BLKIF_RSP_OKAY;
    ring.push(&rsp).unwrap();
    ring.publish();
    queue.service().unwrap();
    assert_eq!(handle.completion().map(|c| c.result), Some(Ok(())));
}
