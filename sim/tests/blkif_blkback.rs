//! The simulated blkback refuses what Linux blkback refuses, with the status it uses.

use std::sync::Arc;

use xenpv_abi::blkif::*;
use xenpv_abi::GrantRef;
use xenpv_control::vbd::FrontendVbd;
use xenpv_datapath::blkif::DiscardInfo;
use xenpv_datapath::platform::{Access, EventChannels as _, GrantedRegion, Grants as _};
use xenpv_datapath::ring::{FrontRing, SharedRing};
use xenpv_sim::blkback::{shared, BackendConfig, BlkBack, ConnectError, MemDisk, PURGE_INTERVAL};
use xenpv_sim::guest::SimPlatform;
use xenpv_sim::host::{Host, HostConfig};
use zerocopy::{FromZeros, IntoBytes};

const SECTORS: u64 = 1024;

/// A hand-driven frontend: a ring, and data pages to name in requests.
struct Raw {
    host: Arc<Host>,
    ring: FrontRing<BlkifRequest, BlkifResponse, SharedRing>,
    data: GrantedRegion,
    back: BlkBack,
    _ring_region: GrantedRegion,
}

fn raw_with(config: BackendConfig, persistent: bool, data_access: Access) -> Raw {
    let host = Host::new(HostConfig::default());
    let guest = SimPlatform::new(host.clone(), 1);
    let region = guest.grant_region(0, 1, Access::ReadWrite).unwrap();
    let ring = FrontRing::init(
        SharedRing::new::<BlkifRequest, BlkifResponse>(region.mem().clone()).unwrap(),
    );
    let port = guest.alloc_unbound(0).unwrap();
    let data = guest.grant_region(0, 16, data_access).unwrap();
    let params = FrontendVbd {
        ring_order: 0,
        queues: vec![(region.grefs().to_vec(), port)],
        persistent,
    };
    let back = BlkBack::connect(&host, &config, shared(MemDisk::new(SECTORS)), &params).unwrap();
    Raw {
        host,
        ring,
        data,
        back,
        _ring_region: region,
    }
}

fn raw(config: BackendConfig) -> Raw {
    raw_with(config, true, Access::ReadWrite)
}

impl Raw {
    fn gref(&self, i: usize) -> GrantRef {
        self.data.grefs()[i]
    }

    fn send(&mut self, req: &BlkifRequest) -> BlkifResponse {
        self.ring.push(req).unwrap();
        self.ring.publish();
        self.back.service().unwrap();
        let rsp = self.ring.poll_responses().unwrap().next().unwrap();
        assert_eq!(rsp.id, req.id, "the id is echoed");
        rsp
    }

    fn rw(&mut self, op: u8, sector: u64, segs: &[(usize, u8, u8)]) -> BlkifResponse {
        let mut r = BlkifRequest::new_zeroed();
        r.operation = op;
        r.nr_segments = segs.len() as u8;
        r.id = 0xabc;
        r.sector_number = sector;
        for (i, &(page, first, last)) in segs.iter().enumerate().take(11) {
            r.seg[i] = BlkifRequestSegment {
                gref: self.gref(page),
                first_sect: first,
                last_sect: last,
                pad: 0,
            };
        }
        self.send(&r)
    }

    /// An indirect request with `segs` descriptors written to data page 15.
    fn indirect(
        &mut self,
        op: u8,
        sector: u64,
        nr: u16,
        segs: &[(usize, u8, u8)],
    ) -> BlkifResponse {
        for (i, &(page, first, last)) in segs.iter().enumerate() {
            let seg = BlkifRequestSegment {
                gref: self.gref(page),
                first_sect: first,
                last_sect: last,
                pad: 0,
            };
            self.data.mem().write(15 * 4096 + i * 8, &seg);
        }
        let mut ind = BlkifRequestIndirect::new_zeroed();
        ind.operation = BLKIF_OP_INDIRECT;
        ind.indirect_op = op;
        ind.nr_segments = nr;
        ind.id = 0xdef;
        ind.sector_number = sector;
        ind.indirect_grefs[0] = self.gref(15);
        let mut r = BlkifRequest::new_zeroed();
        r.as_mut_bytes()[..size_of::<BlkifRequestIndirect>()].copy_from_slice(ind.as_bytes());
        self.send(&r)
    }

    fn discard(&mut self, sector: u64, sectors: u64, flag: u8) -> BlkifResponse {
        let mut d = BlkifRequestDiscard::new_zeroed();
        d.operation = BLKIF_OP_DISCARD;
        d.flag = flag;
        d.id = 0x77;
        d.sector_number = sector;
        d.nr_sectors = sectors;
        let mut r = BlkifRequest::new_zeroed();
        r.as_mut_bytes()[..size_of::<BlkifRequestDiscard>()].copy_from_slice(d.as_bytes());
        self.send(&r)
    }
}

fn status(r: BlkifResponse) -> (u8, i16) {
    (r.operation, r.status)
}

#[test]
fn segments_are_checked_as_blkback_does() {
    let mut r = raw(BackendConfig::default());
    assert_eq!(
        status(r.rw(BLKIF_OP_READ, 0, &[(0, 0, 7)])),
        (BLKIF_OP_READ, BLKIF_RSP_OKAY)
    );
    assert_eq!(
        r.rw(BLKIF_OP_READ, 0, &[(0, 0, 8)]).status,
        BLKIF_RSP_ERROR,
        "last_sect past the page"
    );
    assert_eq!(
        r.rw(BLKIF_OP_READ, 0, &[(0, 5, 4)]).status,
        BLKIF_RSP_ERROR,
        "last before first"
    );
    assert_eq!(
        r.rw(BLKIF_OP_READ, 0, &[]).status,
        BLKIF_RSP_ERROR,
        "a read without segments"
    );
    assert_eq!(
        r.rw(BLKIF_OP_FLUSH_DISKCACHE, 0, &[]).status,
        BLKIF_RSP_OKAY,
        "a flush needs none"
    );
    let mut too_many = BlkifRequest::new_zeroed();
    too_many.operation = BLKIF_OP_WRITE;
    too_many.nr_segments = 12;
    assert_eq!(r.send(&too_many).status, BLKIF_RSP_ERROR);
    assert_eq!(
        r.rw(BLKIF_OP_WRITE, SECTORS - 7, &[(0, 0, 7)]).status,
        BLKIF_RSP_ERROR,
        "past the end"
    );
    assert_eq!(
        r.rw(BLKIF_OP_WRITE, u64::MAX - 2, &[(0, 0, 7)]).status,
        BLKIF_RSP_ERROR,
        "wraps"
    );
    assert_eq!(
        r.rw(BLKIF_OP_WRITE, SECTORS - 8, &[(0, 0, 7)]).status,
        BLKIF_RSP_OKAY,
        "the last page"
    );
    let mut bad_gref = BlkifRequest::new_zeroed();
    bad_gref.operation = BLKIF_OP_READ;
    bad_gref.nr_segments = 1;
    bad_gref.seg[0] = BlkifRequestSegment {
        gref: 9999,
        first_sect: 0,
        last_sect: 0,
        pad: 0,
    };
    assert_eq!(
        r.send(&bad_gref).status,
        BLKIF_RSP_ERROR,
        "a grant that is not ours"
    );
    let s = r.back.queues[0].stats();
    assert_eq!((s.requests, s.errors), (10, 7));
}

#[test]
fn unknown_and_unoffered_operations_are_not_supported() {
    let config = BackendConfig {
        barrier: false,
        flush: false,
        discard: None,
        max_indirect_segments: 0,
        ..BackendConfig::default()
    };
    let mut r = raw(config);
    for op in [
        BLKIF_OP_RESERVED_1,
        9,
        200,
        BLKIF_OP_WRITE_BARRIER,
        BLKIF_OP_FLUSH_DISKCACHE,
    ] {
        assert_eq!(
            status(r.rw(op, 0, &[])),
            (op, BLKIF_RSP_EOPNOTSUPP),
            "op {op}"
        );
    }
    assert_eq!(r.discard(0, 8, 0).status, BLKIF_RSP_EOPNOTSUPP);
    assert_eq!(
        status(r.indirect(BLKIF_OP_READ, 0, 1, &[(0, 0, 7)])),
        (BLKIF_OP_INDIRECT, BLKIF_RSP_EOPNOTSUPP)
    );
}

#[test]
fn indirect_requests_are_checked_down_to_their_descriptors() {
    let config = BackendConfig {
        max_indirect_segments: 16,
        ..BackendConfig::default()
    };
    let mut r = raw(config);
    let segs: Vec<_> = (0..14).map(|p| (p, 0, 7)).collect();
    assert_eq!(
        status(r.indirect(BLKIF_OP_WRITE, 0, 14, &segs)),
        (BLKIF_OP_WRITE, BLKIF_RSP_OKAY),
        "the inner op is echoed"
    );
    assert_eq!(r.back.queues[0].stats().sectors_written, 14 * 8);
    assert_eq!(
        r.indirect(BLKIF_OP_WRITE, 0, 17, &segs).status,
        BLKIF_RSP_ERROR,
        "above the maximum"
    );
    assert_eq!(
        r.indirect(BLKIF_OP_WRITE, 0, 0, &segs).status,
        BLKIF_RSP_ERROR,
        "no segments"
    );
    assert_eq!(
        status(r.indirect(BLKIF_OP_FLUSH_DISKCACHE, 0, 1, &segs)),
        (BLKIF_OP_FLUSH_DISKCACHE, BLKIF_RSP_ERROR),
        "only reads and writes may be indirect"
    );
    let mut bad = segs.clone();
    bad[9] = (9, 3, 9);
    assert_eq!(
        r.indirect(BLKIF_OP_READ, 0, 14, &bad).status,
        BLKIF_RSP_ERROR,
        "a bad descriptor in the page"
    );
}

#[test]
fn disk_properties_are_enforced() {
    let mut r = raw(BackendConfig {
        read_only: true,
        ..BackendConfig::default()
    });
    assert_eq!(
        r.rw(BLKIF_OP_WRITE, 0, &[(0, 0, 7)]).status,
        BLKIF_RSP_ERROR
    );
    assert_eq!(
        r.rw(BLKIF_OP_FLUSH_DISKCACHE, 0, &[]).status,
        BLKIF_RSP_ERROR,
        "a flush is a write"
    );
    assert_eq!(r.discard(0, 8, 0).status, BLKIF_RSP_ERROR);
    assert_eq!(r.rw(BLKIF_OP_READ, 0, &[(0, 0, 7)]).status, BLKIF_RSP_OKAY);

    let mut r = raw(BackendConfig {
        sector_size: 4096,
        ..BackendConfig::default()
    });
    assert_eq!(
        r.rw(BLKIF_OP_READ, 1, &[(0, 0, 7)]).status,
        BLKIF_RSP_ERROR,
        "misaligned sector"
    );
    assert_eq!(
        r.rw(BLKIF_OP_READ, 0, &[(0, 0, 3)]).status,
        BLKIF_RSP_ERROR,
        "half a block"
    );
    assert_eq!(r.rw(BLKIF_OP_READ, 8, &[(0, 0, 7)]).status, BLKIF_RSP_OKAY);

    let mut r = raw(BackendConfig {
        discard: Some(DiscardInfo {
            granularity: 512,
            alignment: 0,
            secure: false,
        }),
        ..BackendConfig::default()
    });
    assert_eq!(
        r.discard(0, 8, BLKIF_DISCARD_SECURE).status,
        BLKIF_RSP_EOPNOTSUPP
    );
    assert_eq!(r.discard(SECTORS - 4, 8, 0).status, BLKIF_RSP_ERROR);
    assert_eq!(
        status(r.discard(0, 8, 0)),
        (BLKIF_OP_DISCARD, BLKIF_RSP_OKAY)
    );
}

#[test]
fn grants_are_mapped_with_the_access_they_allow() {
    // Without persistent grants a read needs a writable grant; a write only a readable one.
    let mut r = raw_with(BackendConfig::default(), false, Access::ReadOnly);
    assert_eq!(r.rw(BLKIF_OP_WRITE, 0, &[(0, 0, 7)]).status, BLKIF_RSP_OKAY);
    assert_eq!(r.rw(BLKIF_OP_READ, 0, &[(0, 0, 7)]).status, BLKIF_RSP_ERROR);
    let g = r.host.grant_stats();
    assert_eq!(g.maps, g.unmaps + 1, "only the ring stays mapped");
    assert_eq!(r.back.persistent_grants(), 0);
}

#[test]
fn persistent_mappings_are_bounded() {
    let mut r = raw(BackendConfig {
        max_pgrants: 4,
        ..BackendConfig::default()
    });
    let before = r.host.grant_stats();
    for round in 0..3 {
        for p in 0..8 {
            assert_eq!(
                r.rw(BLKIF_OP_READ, 0, &[(p, 0, 7)]).status,
                BLKIF_RSP_OKAY,
                "{round} {p}"
            );
        }
    }
    assert_eq!(r.back.persistent_grants(), 4);
    let after = r.host.grant_stats();
    // 4 kept mappings, then 4 per-request maps per round for the pages past the budget.
    assert_eq!(after.maps - before.maps, 4 + 3 * 4);
    assert_eq!(after.unmaps - before.unmaps, 3 * 4);
}

#[test]
fn kept_mappings_follow_the_pages_in_use() {
    let mut r = raw(BackendConfig {
        max_pgrants: 8,
        ..BackendConfig::default()
    });
    let read = |r: &mut Raw, page: usize| {
        assert_eq!(
            r.rw(BLKIF_OP_READ, 0, &[(page, 0, 7)]).status,
            BLKIF_RSP_OKAY
        );
    };
    // Pages 0-7 fill the budget.
    for i in 0..PURGE_INTERVAL as usize {
        read(&mut r, i % 8);
    }
    assert_eq!(r.back.persistent_grants(), 8);
    // The frontend moves to pages 8-15: each purge unmaps one stale mapping, and the next use of
    // a page not kept yet keeps it.
    let before = r.host.grant_stats();
    for i in 0..(8 * PURGE_INTERVAL) as usize + 8 {
        read(&mut r, 8 + i % 8);
    }
    assert_eq!(r.back.persistent_grants(), 8, "the budget holds");
    let moved = r.host.grant_stats();
    assert_eq!(
        moved.maps - before.maps,
        moved.unmaps - before.unmaps,
        "8 kept mappings replaced 8 stale ones; the rest were per request"
    );
    // Now every page in use is kept: no more maps.
    for i in 0..PURGE_INTERVAL as usize {
        read(&mut r, 8 + i % 8);
    }
    assert_eq!(r.host.grant_stats().maps, moved.maps);
}

#[test]
fn connection_parameters_are_checked() {
    let host = Host::new(HostConfig::default());
    let config = BackendConfig {
        max_ring_page_order: 1,
        max_queues: 1,
        ..BackendConfig::default()
    };
    let storage = shared(MemDisk::new(8));
    let params = |order, queues: Vec<(Vec<GrantRef>, u32)>| FrontendVbd {
        ring_order: order,
        queues,
        persistent: true,
    };
    let err = |p| {
        BlkBack::connect(&host, &config, storage.clone(), &p)
            .err()
            .unwrap()
    };
    assert_eq!(
        err(params(2, vec![(vec![8; 4], 1)])),
        ConnectError::RingOrder(2)
    );
    assert_eq!(err(params(0, vec![])), ConnectError::Queues(0));
    assert_eq!(
        err(params(0, vec![(vec![8], 1), (vec![9], 2)])),
        ConnectError::Queues(2)
    );
    assert_eq!(
        err(params(1, vec![(vec![8], 1)])),
        ConnectError::RingRefs { queue: 0, refs: 1 }
    );
    assert!(matches!(
        err(params(0, vec![(vec![9999], 1)])),
        ConnectError::Map(9999, _)
    ));
}
