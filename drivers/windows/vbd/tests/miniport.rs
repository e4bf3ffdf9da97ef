//! The miniport's request path over the sim's blkback: each SCSI command becomes the blkif
//! operations it should, each backend answer the SRB status and sense it should, bad input gets
//! CHECK CONDITION, and a disk written, disconnected mid-flight and reconnected reads back
//! intact with every SRB completed exactly once.

mod harness;

use std::collections::HashMap;

use harness::*;
use xenpv_datapath::scsi::{Sense, SenseKey, STATUS_CHECK_CONDITION, STATUS_GOOD};
use xenpv_ddk::storport::srb::*;
use xenpv_sim::blkback::BackendConfig;
use xenpv_winvbd::miniport::{Prepared, Submitted};
use xenpv_winvbd::srb::{Outcome, SrbInfo};

fn good(len: u32) -> Outcome {
    Outcome::good(len)
}

fn ops(d: &Disk) -> Vec<Op> {
    std::mem::take(&mut d.storage.lock().unwrap().ops)
}

#[test]
fn reads_and_writes_become_blkif_reads_and_writes_of_the_same_sectors() {
    let mut d = Disk::new(BackendConfig::default(), 1);
    let data = pattern(100, 8, 1);
    let f = d.run(
        &srb(&write10(100, 8, false), SRB_FLAGS_DATA_OUT, 4096),
        Some(data.clone()),
    );
    assert_eq!(f.outcome, good(4096));
    assert_eq!(
        ops(&d),
        [Op::Write {
            sector: 100,
            bytes: 4096
        }]
    );
    // READ (16) into a larger buffer: only the command's bytes move.
    let f = d.run(
        &srb(&read16(100, 8), SRB_FLAGS_DATA_IN, 8192),
        Some(vec![0; 8192]),
    );
    assert_eq!(f.outcome, good(4096));
    assert_eq!(f.buf.as_ref().unwrap()[..4096], data[..]);
    assert_eq!(f.buf.unwrap()[4096..], [0; 4096]);
    assert_eq!(
        ops(&d),
        [Op::Read {
            sector: 100,
            bytes: 4096
        }]
    );
    let f = d.run(
        &srb(&write16(1 << 12, 1), SRB_FLAGS_DATA_OUT, 512),
        Some(vec![7; 512]),
    );
    assert_eq!(f.outcome, good(512));
    assert_eq!(
        ops(&d),
        [Op::Write {
            sector: 4096,
            bytes: 512
        }]
    );
}

#[test]
fn fua_synchronize_cache_and_unmap_reach_the_backend_as_barrier_flush_and_discard() {
    let mut d = Disk::new(BackendConfig::default(), 1);
    // WRITE (10) with FUA on a backend with barriers: a write barrier (written, then flushed).
    let f = d.run(
        &srb(&write10(8, 1, true), SRB_FLAGS_DATA_OUT, 512),
        Some(vec![1; 512]),
    );
    assert_eq!(f.outcome, good(512));
    assert!(ops(&d).contains(&Op::Write {
        sector: 8,
        bytes: 512
    }));
    // SYNCHRONIZE CACHE (10).
    let f = d.run(&srb(&[0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0, 0), None);
    assert_eq!(f.outcome, good(0));
    assert_eq!(ops(&d), [Op::Flush]);
    // UNMAP with two block descriptors (8 blocks at 64, 16 at 1024): two discards.
    let mut list = vec![0u8; 8 + 2 * 16];
    list[0..2].copy_from_slice(&(6u16 + 32).to_be_bytes());
    list[2..4].copy_from_slice(&32u16.to_be_bytes());
    list[8..16].copy_from_slice(&64u64.to_be_bytes());
    list[16..20].copy_from_slice(&8u32.to_be_bytes());
    list[24..32].copy_from_slice(&1024u64.to_be_bytes());
    list[32..36].copy_from_slice(&16u32.to_be_bytes());
    let cdb = [0x42, 0, 0, 0, 0, 0, 0, 0, list.len() as u8, 0];
    let f = d.run(
        &srb(&cdb, SRB_FLAGS_DATA_OUT, list.len() as u32),
        Some(list),
    );
    assert_eq!(f.outcome, good(0));
    let mut seen = ops(&d);
    seen.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(
        seen,
        [
            Op::Discard {
                sector: 1024,
                sectors: 16
            },
            Op::Discard {
                sector: 64,
                sectors: 8
            }
        ]
    );
}

#[test]
fn commands_answered_without_the_backend_fill_the_buffer() {
    let mut d = Disk::new(BackendConfig::default(), 1);
    // INQUIRY standard data, then VPD page 0x83, READ CAPACITY (10) and (16), MODE SENSE (6),
    // REPORT LUNS, TEST UNIT READY: no backend operation.
    let f = d.run(
        &srb(&[0x12, 0, 0, 0, 96, 0], SRB_FLAGS_DATA_IN, 96),
        Some(vec![0; 96]),
    );
    assert_eq!(f.outcome.srb_status, SRB_STATUS_SUCCESS);
    assert_eq!(&f.buf.unwrap()[8..14], b"XENSRC");
    let f = d.run(
        &srb(&[0x12, 1, 0x83, 0, 255, 0], SRB_FLAGS_DATA_IN, 255),
        Some(vec![0; 255]),
    );
    assert_eq!(f.outcome.srb_status, SRB_STATUS_SUCCESS);
    assert_eq!(f.buf.unwrap()[1], 0x83);
    let f = d.run(
        &srb(&[0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], SRB_FLAGS_DATA_IN, 8),
        Some(vec![0; 8]),
    );
    assert_eq!(f.outcome, good(8));
    let b = f.buf.unwrap();
    assert_eq!(
        u32::from_be_bytes(b[0..4].try_into().unwrap()),
        SECTORS as u32 - 1
    );
    assert_eq!(u32::from_be_bytes(b[4..8].try_into().unwrap()), 512);
    let mut rc16 = [0u8; 16];
    rc16[0] = 0x9e;
    rc16[1] = 0x10;
    rc16[13] = 32;
    let f = d.run(&srb(&rc16, SRB_FLAGS_DATA_IN, 32), Some(vec![0; 32]));
    assert_eq!(f.outcome, good(32));
    let b = f.buf.unwrap();
    assert_eq!(u64::from_be_bytes(b[0..8].try_into().unwrap()), SECTORS - 1);
    assert_eq!(b[13] & 0x0f, 3, "4096-byte physical blocks");
    let f = d.run(
        &srb(&[0x1a, 0, 0x3f, 0, 192, 0], SRB_FLAGS_DATA_IN, 192),
        Some(vec![0; 192]),
    );
    assert_eq!(f.outcome.srb_status, SRB_STATUS_SUCCESS);
    let mut luns = [0u8; 12];
    luns[0] = 0xa0;
    luns[9] = 16;
    let f = d.run(&srb(&luns, SRB_FLAGS_DATA_IN, 16), Some(vec![0; 16]));
    assert_eq!(f.outcome, good(16));
    let f = d.run(&srb(&[0; 6], 0, 0), None);
    assert_eq!(f.outcome, good(0));
    assert_eq!(ops(&d), []);
}

#[test]
fn backend_errors_become_check_condition_with_medium_error_sense() {
    let mut d = Disk::new(BackendConfig::default(), 1);
    d.storage.lock().unwrap().fail = true;
    let f = d.run(
        &srb(&read10(0, 1), SRB_FLAGS_DATA_IN, 512),
        Some(vec![0; 512]),
    );
    assert_eq!(f.outcome, Outcome::check(Sense::unrecovered_read_error()));
    let f = d.run(
        &srb(&write10(0, 1, false), SRB_FLAGS_DATA_OUT, 512),
        Some(vec![0; 512]),
    );
    assert_eq!(f.outcome, Outcome::check(Sense::write_error()));
    assert_eq!(f.outcome.sense.unwrap().key, SenseKey::MediumError);
    // The sense lands in the SRB's autosense buffer.
    let mut image = srb(&read10(0, 1), SRB_FLAGS_DATA_IN, 512);
    let info = SrbInfo::parse(&image).unwrap();
    let mut sense = [0u8; 18];
    let status = f.outcome.write(&info, &mut image, &mut sense);
    assert_eq!(status, SRB_STATUS_ERROR | SRB_STATUS_AUTOSENSE_VALID);
    assert_eq!(sense[2] & 0x0f, SenseKey::MediumError as u8);
}

#[test]
fn bad_cdbs_get_check_condition_with_the_right_sense_never_a_panic() {
    let d = Disk::new(BackendConfig::default(), 1);
    let check = |cdb: &[u8], flags, buf: Option<Vec<u8>>| {
        let len = buf.as_ref().map_or(0, |b| b.len() as u32);
        let info = SrbInfo::parse(&srb(cdb, flags, len)).unwrap();
        match d.miniport.prepare(&info, buf) {
            Prepared::Done(o, _) => o,
            Prepared::Block(cmd, _) => panic!("{cdb:02x?} became {cmd:?}"),
        }
    };
    let sense = |o: Outcome| {
        assert_eq!(o.scsi_status, STATUS_CHECK_CONDITION);
        let s = o.sense.unwrap();
        (s.key, s.asc, s.ascq)
    };
    // Unknown operation code: ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE.
    assert_eq!(
        sense(check(&[0xff, 0, 0, 0, 0, 0], 0, None)),
        (SenseKey::IllegalRequest, 0x20, 0)
    );
    // READ (10) beyond the end: LOGICAL BLOCK ADDRESS OUT OF RANGE.
    assert_eq!(
        sense(check(
            &read10(SECTORS as u32, 1),
            SRB_FLAGS_DATA_IN,
            Some(vec![0; 512])
        )),
        (SenseKey::IllegalRequest, 0x21, 0)
    );
    // A short data buffer: the transfer does not fit, INVALID FIELD IN CDB.
    assert_eq!(
        sense(check(&read10(0, 8), SRB_FLAGS_DATA_IN, Some(vec![0; 4095]))),
        (SenseKey::IllegalRequest, 0x24, 0)
    );
    assert_eq!(
        sense(check(
            &write10(0, 2, false),
            SRB_FLAGS_DATA_OUT,
            Some(vec![0; 512])
        )),
        (SenseKey::IllegalRequest, 0x24, 0)
    );
    // A write whose direction says data-in.
    assert_eq!(
        sense(check(
            &write10(0, 1, false),
            SRB_FLAGS_DATA_IN,
            Some(vec![0; 512])
        )),
        (SenseKey::IllegalRequest, 0x24, 0)
    );
    // A CDB shorter than its operation code needs.
    assert_eq!(
        sense(check(&[0x28, 0, 0], SRB_FLAGS_DATA_IN, None)).0,
        SenseKey::IllegalRequest
    );
    // Random CDBs of every length with random buffers: always an answer.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..20_000 {
        let n = (next() % 17) as usize;
        let mut cdb: Vec<u8> = (0..n).map(|_| next() as u8).collect();
        if n > 0 && next() % 2 == 0 {
            // Known opcodes more often than chance would give.
            const OPS: [u8; 12] = [
                0x28, 0x2a, 0x88, 0x8a, 0x35, 0x42, 0x12, 0x25, 0x9e, 0x1a, 0x5a, 0xa0,
            ];
            cdb[0] = OPS[(next() % 12) as usize];
        }
        let flags = [0, SRB_FLAGS_DATA_IN, SRB_FLAGS_DATA_OUT][(next() % 3) as usize];
        let buf = (next() % 2 == 0).then(|| vec![0u8; (next() % 9000) as usize]);
        let len = buf.as_ref().map_or(0, |b| b.len() as u32);
        let info = SrbInfo::parse(&srb(&cdb, flags, len)).unwrap();
        if let Prepared::Done(o, _) = d.miniport.prepare(&info, buf) {
            assert!(
                o.scsi_status == STATUS_GOOD || o.sense.is_some(),
                "{cdb:02x?}: {o:?}"
            );
        }
    }
}

#[test]
fn other_functions_and_addresses_get_port_statuses() {
    let d = Disk::new(BackendConfig::default(), 1);
    let status = |image: Vec<u8>| {
        let info = SrbInfo::parse(&image).unwrap();
        match d.miniport.prepare(&info, None) {
            Prepared::Done(o, _) => o.srb_status,
            Prepared::Block(..) => panic!("no block command expected"),
        }
    };
    let with_function = |function: u32| {
        let mut image = srb(&[0; 6], 0, 0);
        let at = std::mem::offset_of!(StorageRequestBlock, srb_function);
        image[at..at + 4].copy_from_slice(&function.to_le_bytes());
        image
    };
    assert_eq!(
        status(with_function(SRB_FUNCTION_FLUSH)),
        SRB_STATUS_SUCCESS
    );
    assert_eq!(
        status(with_function(SRB_FUNCTION_RESET_LOGICAL_UNIT)),
        SRB_STATUS_SUCCESS
    );
    assert_eq!(
        status(with_function(SRB_FUNCTION_IO_CONTROL)),
        SRB_STATUS_INVALID_REQUEST
    );
    let at = std::mem::size_of::<StorageRequestBlock>() + std::mem::offset_of!(StorAddrBtl8, lun);
    let mut image = srb(&[0; 6], 0, 0);
    image[at] = 1;
    assert_eq!(status(image), SRB_STATUS_INVALID_LUN);
    let mut image = srb(&[0; 6], 0, 0);
    image[at - 1] = 2;
    assert_eq!(status(image), SRB_STATUS_NO_DEVICE);
    // A data transfer without a mapped buffer: busy, storport retries.
    let info = SrbInfo::parse(&srb(&read10(0, 1), SRB_FLAGS_DATA_IN, 512)).unwrap();
    let Prepared::Done(o, _) = d.miniport.prepare(&info, None) else {
        panic!()
    };
    assert_eq!(o.srb_status, SRB_STATUS_BUSY);
}

#[test]
fn each_processor_submits_to_its_own_queue() {
    let mut d = Disk::new(BackendConfig::default(), 2);
    assert_eq!(d.miniport.queues(), 2);
    for cpu in 0..4u32 {
        let info = SrbInfo::parse(&srb(&read10(cpu, 1), SRB_FLAGS_DATA_IN, 512)).unwrap();
        let Prepared::Block(cmd, buf) = d.miniport.prepare(&info, Some(vec![0; 512])) else {
            panic!()
        };
        match d.miniport.submit(u64::from(cpu), cpu, cmd, buf) {
            Submitted::Queued { queue } => assert_eq!(queue, cpu as usize % 2),
            Submitted::Busy(_) => panic!("busy"),
        }
    }
    let mut out = Vec::new();
    d.pump(&mut out);
    assert_eq!(out.len(), 4);
    let stats: Vec<u64> = d.queues.iter().map(|q| q.stats().completed).collect();
    assert_eq!(stats, [2, 2]);
}

#[test]
fn writes_survive_a_backend_reconnect_mid_flight_and_read_back_intact() {
    let mut d = Disk::new(BackendConfig::default(), 2);
    let mut expected = HashMap::new();
    // 24 writes of 16 blocks on two queues, all issued, none answered.
    for i in 0..24u64 {
        let lba = i * 40;
        let data = pattern(lba, 16, 3);
        expected.insert(i, (lba, data.clone()));
        let image = srb(
            &write10(lba as u32, 16, i % 5 == 0),
            SRB_FLAGS_DATA_OUT,
            8192,
        );
        assert!(d.start(i, i as u32, &image, Some(data)).is_none());
    }
    for q in &mut d.queues {
        q.service().unwrap();
    }
    let in_flight: usize = d.queues.iter().map(|q| q.in_flight()).sum();
    assert!(in_flight > 0);
    // Half of them reach the disk; then the backend dies and another comes, without
    // persistent grants or indirect descriptors.
    d.backend.as_mut().unwrap().queues[0].service().unwrap();
    d.disconnect();
    d.config.persistent = false;
    d.config.max_indirect_segments = 0;
    d.connect();
    let mut out = Vec::new();
    d.pump(&mut out);
    let mut seen: Vec<u64> = out.iter().map(|f| f.handle).collect();
    seen.sort();
    assert_eq!(seen, (0..24).collect::<Vec<_>>(), "each SRB exactly once");
    for f in &out {
        assert_eq!(f.outcome, good(8192), "SRB {}", f.handle);
    }
    assert_eq!(d.miniport.outstanding(), 0);
    assert_eq!(d.miniport.stale(), 0);
    let replayed: u64 = d.queues.iter().map(|q| q.stats().replayed).sum();
    assert!(replayed > 0, "requests in flight were replayed");
    // Read everything back through the miniport.
    for (i, (lba, data)) in &expected {
        let f = d.run(
            &srb(&read10(*lba as u32, 16), SRB_FLAGS_DATA_IN, 8192),
            Some(vec![0; 8192]),
        );
        assert_eq!(f.outcome, good(8192));
        assert_eq!(f.buf.unwrap(), *data, "write {i}");
    }
}

#[test]
fn completions_that_match_no_srb_are_counted_and_never_complete_one() {
    // Without flush or barrier the core finishes a flush by itself, without the backend: the
    // stray completions below arrive while the real SRB is still on the ring.
    let config = BackendConfig {
        flush: false,
        barrier: false,
        ..BackendConfig::default()
    };
    let mut d = Disk::new(config, 1);
    // An SRB in flight in slot 0 (generation 1), its request issued but not answered.
    let image = srb(&write10(0, 1, false), SRB_FLAGS_DATA_OUT, 512);
    assert!(d.start(5, 0, &image, Some(vec![1; 512])).is_none());
    d.queues[0].service().unwrap();
    // Requests the miniport never made, tagged as slot 0 of another generation and as a slot
    // that does not exist.
    for tag in [7u64 << 32, 1 << 32 | 999] {
        let req = xenpv_datapath::blkif::BlockRequest::flush(tag, Default::default());
        assert!(d.rogue.try_push(req).is_ok());
    }
    d.queues[0].service().unwrap();
    let mut out = Vec::new();
    d.miniport.collect(0, |f| out.push(f));
    assert_eq!(d.miniport.stale(), 2);
    assert!(
        out.is_empty(),
        "the SRB in slot 0 is not finished by a stray completion"
    );
    d.pump(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].handle, 5);
    assert_eq!(out[0].outcome, good(512));
    assert_eq!(d.miniport.outstanding(), 0);
}

#[test]
fn only_queues_on_a_persistent_pool_are_serviced_at_dispatch_level() {
    use xenpv_winvbd::miniport::dispatch_safe;
    let d = Disk::new(BackendConfig::default(), 1);
    assert!(
        dispatch_safe(&d.queues[0]),
        "persistent pool: no grant per request"
    );
    let mut d = Disk::new(
        BackendConfig {
            persistent: false,
            ..BackendConfig::default()
        },
        1,
    );
    assert!(
        !dispatch_safe(&d.queues[0]),
        "a grant per request: PASSIVE_LEVEL only"
    );
    // The backend still mapped the ring when the queue let go: quarantined until it unmaps,
    // and ending it again is a region call too.
    d.disconnect();
    assert!(d.queues[0].quarantined() > 0);
    assert!(!dispatch_safe(&d.queues[0]));
    d.queues[0].service().unwrap();
    assert_eq!(d.queues[0].quarantined(), 0);
    assert!(
        dispatch_safe(&d.queues[0]),
        "not connected, nothing held: safe"
    );
}
