//! blkfront against the simulated blkback: data integrity, persistent grants, indirect descriptors,
//! splitting, optional operations and the frontend's own checks.

use std::sync::Arc;

use xenpv_datapath::blkif::{verify, BlockRequest, DiscardInfo, IoError, QueueConfig};
use xenpv_sim::blkback::pair::{DiskPair, FrontOptions};
use xenpv_sim::blkback::{shared, BackendConfig, MemDisk};
use xenpv_sim::host::{Host, HostConfig};

const SECTORS: u64 = 16 * 1024; // 8 MiB

fn host() -> Arc<Host> {
    Host::new(HostConfig::default())
}

fn pair(config: BackendConfig, front: FrontOptions) -> DiskPair {
    DiskPair::new(host(), config, shared(MemDisk::new(SECTORS)), front).unwrap()
}

fn write(p: &mut DiskPair, sector: u64, len: usize, seed: u64) -> Result<(), IoError> {
    let mut buf = vec![0u8; len];
    verify::fill(&mut buf, sector, seed);
    p.run(0, BlockRequest::write(seed, sector, buf))
        .unwrap()
        .result
}

fn read(p: &mut DiskPair, sector: u64, len: usize) -> (Result<(), IoError>, Vec<u8>) {
    let c = p
        .run(0, BlockRequest::read(7, sector, vec![0u8; len]))
        .unwrap();
    (c.result, c.buf)
}

fn modes() -> Vec<FrontOptions> {
    let mut v = Vec::new();
    for persistent in [true, false] {
        for indirect in [true, false] {
            v.push(FrontOptions {
                persistent,
                indirect,
                ..FrontOptions::default()
            });
        }
    }
    v
}

#[test]
fn data_written_reads_back_in_every_mode_and_size() {
    for front in modes() {
        let mut p = pair(BackendConfig::default(), front);
        let sizes = [512, 4096, 11 * 4096, 12 * 4096 + 512, 1 << 20, 3 << 20];
        let mut sector = 1;
        for (i, &len) in sizes.iter().enumerate() {
            let seed = i as u64 + 100;
            write(&mut p, sector, len, seed).unwrap();
            let (r, buf) = read(&mut p, sector, len);
            r.unwrap();
            verify::check(&buf, sector, seed).unwrap_or_else(|e| panic!("{front:?} {len}: {e:?}"));
            // The backend's storage holds exactly what was written.
            let mut stored = vec![0u8; len];
            p.storage.lock().unwrap().read(sector, &mut stored).unwrap();
            assert_eq!(stored, buf);
            sector += (len / 512) as u64 + 3;
        }
        assert_eq!(p.queues[0].in_flight(), 0);
        assert_eq!(p.queues[0].active(), 0);
    }
}

#[test]
fn persistent_grants_stop_mapping_in_steady_state() {
    let mut p = pair(BackendConfig::default(), FrontOptions::default());
    for i in 0..20 {
        write(&mut p, i * 64, 32 * 1024, i).unwrap();
        read(&mut p, i * 64, 64 * 1024).0.unwrap();
    }
    let warm = p.host.grant_stats();
    for i in 0..200 {
        write(&mut p, (i % 50) * 64, 32 * 1024, i).unwrap();
        read(&mut p, (i % 50) * 64, 64 * 1024).0.unwrap();
    }
    let after = p.host.grant_stats();
    assert_eq!(after.maps, warm.maps, "no new maps once the pool is mapped");
    assert_eq!(after.unmaps, warm.unmaps);
    assert!(p.backend.as_ref().unwrap().persistent_grants() > 0);
    let hits = p.backend.as_ref().unwrap().queues[0]
        .stats()
        .persistent_hits;
    assert!(
        hits >= 200 * (8 + 16),
        "every page of every request hit a kept mapping: {hits}"
    );
}

#[test]
fn without_persistent_grants_every_page_is_mapped_and_unmapped() {
    let front = FrontOptions {
        persistent: false,
        ..FrontOptions::default()
    };
    let mut p = pair(BackendConfig::default(), front);
    let before = p.host.grant_stats();
    write(&mut p, 0, 8 * 4096, 1).unwrap();
    let after = p.host.grant_stats();
    assert_eq!(after.maps - before.maps, 8);
    assert_eq!(after.unmaps - before.unmaps, 8);
    // 20 pages: an indirect request, so one more page for the descriptors.
    write(&mut p, 0, 20 * 4096, 1).unwrap();
    let last = p.host.grant_stats();
    assert_eq!(last.maps - after.maps, 21);
    assert_eq!(last.unmaps - after.unmaps, 21);
    assert_eq!(
        p.guest.host().grant_table(1).active(),
        2,
        "only the ring pages stay granted"
    );
}

#[test]
fn indirect_descriptors_carry_large_requests_in_one_ring_request() {
    for (indirect, ring_requests) in [(true, 1), (false, 24)] {
        let front = FrontOptions {
            indirect,
            ..FrontOptions::default()
        };
        let mut p = pair(BackendConfig::default(), front);
        let before = p.queues[0].stats();
        write(&mut p, 0, 1 << 20, 5).unwrap();
        let s = p.queues[0].stats();
        assert_eq!(s.ring_requests - before.ring_requests, ring_requests);
        assert_eq!(s.indirect_requests, u64::from(indirect));
    }
    // The backend's own limit wins: 32 segments per request → 8 requests for 1 MiB.
    let config = BackendConfig {
        max_indirect_segments: 32,
        ..BackendConfig::default()
    };
    let mut p = pair(config, FrontOptions::default());
    write(&mut p, 0, 1 << 20, 5).unwrap();
    assert_eq!(p.queues[0].stats().ring_requests, 8);
    assert_eq!(p.queues[0].segments_per_request(), Some(32));
}

#[test]
fn a_small_pool_limits_requests_in_flight_but_not_correctness() {
    let front = FrontOptions {
        queue: QueueConfig {
            pool_pages: 40,
            ..QueueConfig::default()
        },
        ..FrontOptions::default()
    };
    let mut p = pair(BackendConfig::default(), front);
    assert_eq!(
        p.queues[0].segments_per_request(),
        Some(39),
        "39 data + 1 indirect page"
    );
    for i in 0..8u64 {
        let mut buf = vec![0u8; 64 * 1024];
        verify::fill(&mut buf, i * 128, i);
        p.handles[0]
            .submit(BlockRequest::write(i, i * 128, buf))
            .unwrap();
    }
    p.pump().unwrap();
    let mut done = 0;
    while let Some(c) = p.handles[0].completion() {
        c.result.unwrap();
        done += 1;
    }
    assert_eq!(done, 8);
    for i in 0..8u64 {
        let (r, buf) = read(&mut p, i * 128, 64 * 1024);
        r.unwrap();
        verify::check(&buf, i * 128, i).unwrap();
    }
}

#[test]
fn the_frontend_refuses_what_it_can_tell_is_wrong() {
    let mut p = pair(BackendConfig::default(), FrontOptions::default());
    let sent = p.queues[0].stats().ring_requests;
    assert_eq!(
        write(&mut p, SECTORS - 1, 1024, 1),
        Err(IoError::OutOfRange)
    );
    assert_eq!(write(&mut p, u64::MAX, 512, 1), Err(IoError::OutOfRange));
    assert_eq!(read(&mut p, 0, 100).0, Err(IoError::Misaligned));
    assert_eq!(read(&mut p, 0, 0).0, Err(IoError::Misaligned));
    assert_eq!(
        p.queues[0].stats().ring_requests,
        sent,
        "nothing reached the ring"
    );

    let ro = BackendConfig {
        read_only: true,
        ..BackendConfig::default()
    };
    let mut p = pair(ro, FrontOptions::default());
    assert_eq!(write(&mut p, 0, 512, 1), Err(IoError::ReadOnly));
    let c = p
        .run(0, BlockRequest::discard(1, 0, 8, false, Vec::new()))
        .unwrap();
    assert_eq!(c.result, Err(IoError::ReadOnly));
    read(&mut p, 0, 512).0.unwrap();

    let big = BackendConfig {
        sector_size: 4096,
        ..BackendConfig::default()
    };
    let mut p = pair(big, FrontOptions::default());
    assert_eq!(write(&mut p, 1, 4096, 1), Err(IoError::Misaligned));
    assert_eq!(write(&mut p, 8, 512, 1), Err(IoError::Misaligned));
    write(&mut p, 8, 8192, 1).unwrap();
}

#[test]
fn flush_fua_and_discard_use_what_the_backend_offers() {
    // Everything offered: FUA is a barrier, flush a cache flush.
    let mut p = pair(BackendConfig::default(), FrontOptions::default());
    let mut buf = vec![0u8; 8192];
    verify::fill(&mut buf, 16, 3);
    p.run(0, BlockRequest::write_fua(1, 16, buf))
        .unwrap()
        .result
        .unwrap();
    p.run(0, BlockRequest::flush(2, Vec::new()))
        .unwrap()
        .result
        .unwrap();
    let s = p.backend.as_ref().unwrap().queues[0].stats();
    assert_eq!(s.flushes, 2);
    assert_eq!(s.sectors_written, 16);

    // Discard zeroes the range in the backend; a secure discard too, where offered.
    p.run(0, BlockRequest::discard(3, 16, 8, false, Vec::new()))
        .unwrap()
        .result
        .unwrap();
    p.run(0, BlockRequest::discard(4, 24, 8, true, Vec::new()))
        .unwrap()
        .result
        .unwrap();
    let (r, data) = read(&mut p, 16, 8192);
    r.unwrap();
    assert!(data.iter().all(|&b| b == 0));

    // Nothing offered: FUA is a plain write, flush completes at once, discard is refused.
    let bare = BackendConfig {
        flush: false,
        barrier: false,
        discard: None,
        ..BackendConfig::default()
    };
    let mut p = pair(bare, FrontOptions::default());
    let before = p.queues[0].stats().ring_requests;
    p.run(0, BlockRequest::write_fua(1, 0, vec![1; 512]))
        .unwrap()
        .result
        .unwrap();
    p.run(0, BlockRequest::flush(2, Vec::new()))
        .unwrap()
        .result
        .unwrap();
    let c = p
        .run(0, BlockRequest::discard(3, 0, 8, false, Vec::new()))
        .unwrap();
    assert_eq!(c.result, Err(IoError::NotSupported));
    assert_eq!(
        p.queues[0].stats().ring_requests - before,
        1,
        "only the write reached the ring"
    );

    // Flush without barrier: FUA is a write followed by a flush; secure discard is refused.
    let flush_only = BackendConfig {
        barrier: false,
        discard: Some(DiscardInfo {
            granularity: 512,
            alignment: 0,
            secure: false,
        }),
        ..BackendConfig::default()
    };
    let mut p = pair(flush_only, FrontOptions::default());
    p.run(0, BlockRequest::write_fua(1, 0, vec![1; 4096]))
        .unwrap()
        .result
        .unwrap();
    let s = p.backend.as_ref().unwrap().queues[0].stats();
    assert_eq!((s.sectors_written, s.flushes, s.requests), (8, 1, 2));
    let c = p
        .run(0, BlockRequest::discard(3, 0, 8, true, Vec::new()))
        .unwrap();
    assert_eq!(c.result, Err(IoError::NotSupported));
    p.run(0, BlockRequest::discard(3, 0, 8, false, Vec::new()))
        .unwrap()
        .result
        .unwrap();
}

#[test]
fn multiple_queues_and_multi_page_rings_share_one_disk() {
    let front = FrontOptions {
        queues: 3,
        ring_order: 2,
        ..FrontOptions::default()
    };
    let config = BackendConfig {
        max_queues: 2,
        ..BackendConfig::default()
    };
    let mut p = pair(config, front);
    assert_eq!(p.queues.len(), 2, "capped by multi-queue-max-queues");
    for q in 0..2 {
        for i in 0..40u64 {
            let sector = (q as u64 * 40 + i) * 16;
            let mut buf = vec![0u8; 8192];
            verify::fill(&mut buf, sector, sector);
            p.handles[q]
                .submit(BlockRequest::write(sector, sector, buf))
                .unwrap();
        }
    }
    p.pump().unwrap();
    for q in 0..2 {
        let mut n = 0;
        while let Some(c) = p.handles[q].completion() {
            c.result.unwrap();
            n += 1;
        }
        assert_eq!(n, 40);
    }
    for s in 0..80u64 {
        let (r, buf) = read(&mut p, s * 16, 8192);
        r.unwrap();
        verify::check(&buf, s * 16, s * 16).unwrap();
    }
}

#[test]
fn online_resize_lets_requests_reach_the_new_end() {
    let host = host();
    let mem = Arc::new(std::sync::Mutex::new(MemDisk::new(64)));
    let mut p = DiskPair::new(
        host,
        BackendConfig::default(),
        mem.clone(),
        FrontOptions::default(),
    )
    .unwrap();
    assert_eq!(write(&mut p, 64, 512, 1), Err(IoError::OutOfRange));
    mem.lock().unwrap().resize(128);
    p.disk.resize(128);
    write(&mut p, 64, 512, 1).unwrap();
    assert_eq!(write(&mut p, 128, 512, 1), Err(IoError::OutOfRange));
}

#[test]
fn contiguous_small_requests_share_a_ring_request() {
    for indirect in [true, false] {
        let front = FrontOptions {
            indirect,
            ..FrontOptions::default()
        };
        let mut p = pair(BackendConfig::default(), front);
        // 8 contiguous 4 KiB writes (as many as one ring request carries), then a gap, then a
        // 1 KiB write and a 4 KiB one right after it.
        let mut layout: Vec<(u64, usize)> = (0..8u64).map(|i| (i * 8, 4096)).collect();
        layout.push((200, 1024));
        layout.push((202, 4096));
        for (tag, &(sector, len)) in layout.iter().enumerate() {
            let mut buf = vec![0u8; len];
            verify::fill(&mut buf, sector, tag as u64);
            p.handles[0]
                .submit(BlockRequest::write(tag as u64, sector, buf))
                .unwrap();
        }
        p.pump().unwrap();
        let mut done = 0;
        while let Some(c) = p.handles[0].completion() {
            c.result.unwrap();
            done += 1;
        }
        assert_eq!(done, 10);
        let s = p.queues[0].stats();
        // 8 pages fit in one request either way; the 1 KiB write and the one right after it
        // (sectors 200-201, 202-209) make the second.
        assert_eq!(s.ring_requests, 2, "indirect {indirect}");
        assert_eq!(s.merged, 8);
        // Reads merge the same way and each buffer gets its own sectors.
        for (tag, &(sector, len)) in layout.iter().enumerate() {
            p.handles[0]
                .submit(BlockRequest::read(tag as u64, sector, vec![0u8; len]))
                .unwrap();
        }
        p.pump().unwrap();
        let mut read = 0;
        while let Some(c) = p.handles[0].completion() {
            c.result.unwrap();
            let (sector, _) = layout[c.tag as usize];
            verify::check(&c.buf, sector, c.tag).unwrap();
            read += 1;
        }
        assert_eq!(read, 10);
        assert_eq!(p.queues[0].stats().ring_requests, 4);
    }
}

#[test]
fn merging_stops_at_the_segment_limit_and_at_other_operations() {
    let front = FrontOptions {
        indirect: false,
        ..FrontOptions::default()
    };
    let mut p = pair(BackendConfig::default(), front);
    // Four contiguous 12 KiB writes: three (9 pages) fit a direct request of 11 segments, the
    // fourth goes alone; a read of other sectors breaks the run before a last contiguous write.
    for i in 0..4u64 {
        p.handles[0]
            .submit(BlockRequest::write(i, i * 24, vec![i as u8; 3 * 4096]))
            .unwrap();
    }
    p.handles[0]
        .submit(BlockRequest::read(99, 1000, vec![0u8; 4096]))
        .unwrap();
    p.handles[0]
        .submit(BlockRequest::write(100, 96, vec![0u8; 4096]))
        .unwrap();
    p.pump().unwrap();
    let mut done = 0;
    while let Some(c) = p.handles[0].completion() {
        c.result.unwrap();
        done += 1;
    }
    assert_eq!(done, 6);
    let s = p.queues[0].stats();
    assert_eq!(s.ring_requests, 4, "3 + 1 writes, the read, the last write");
    assert_eq!(s.merged, 2);
    let mut stored = vec![0u8; 4 * 3 * 4096];
    p.storage.lock().unwrap().read(0, &mut stored).unwrap();
    for (i, chunk) in stored.chunks(3 * 4096).enumerate() {
        assert!(
            chunk.iter().all(|&b| b == i as u8),
            "write {i} landed in place"
        );
    }
}
