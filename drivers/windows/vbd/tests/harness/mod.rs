//! A disk in the sim: blkif queues in the guest (buffers are the miniport's windows over
//! `Vec<u8>`), blkback in dom0 over a recording storage, and SRB images to drive the miniport.

#![allow(dead_code)] // each test binary uses its own part

use std::io;
use std::mem::{offset_of, size_of};
use std::sync::{Arc, Mutex};

use xenpv_control::vbd::{negotiate, FrontWishes, FrontendVbd};
use xenpv_datapath::blkif::{BlkQueue, BlockRequest, Disk as BlkDisk, QueueConfig};
use xenpv_datapath::queue::mpsc::Producer;
use xenpv_datapath::scsi::{self, Identity};
use xenpv_ddk::storport::srb::*;
use xenpv_sim::blkback::{BackendConfig, BlkBack, SharedStorage, Storage};
use xenpv_sim::guest::SimPlatform;
use xenpv_sim::host::{Host, HostConfig};
use xenpv_winvbd::miniport::{Finished, Miniport, Prepared, Submitted, Window};
use xenpv_winvbd::srb::SrbInfo;

pub const SECTORS: u64 = 8192;

/// What the backend's storage was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Read { sector: u64, bytes: usize },
    Write { sector: u64, bytes: usize },
    Flush,
    Discard { sector: u64, sectors: u64 },
}

/// Memory storage that records every operation and can fail them on demand.
pub struct Recording {
    pub data: Vec<u8>,
    pub ops: Vec<Op>,
    pub fail: bool,
}

impl Recording {
    pub fn new(sectors: u64) -> Self {
        Self {
            data: vec![0; sectors as usize * 512],
            ops: Vec::new(),
            fail: false,
        }
    }

    fn result(&self) -> io::Result<()> {
        if self.fail {
            Err(io::Error::other("injected"))
        } else {
            Ok(())
        }
    }
}

impl Storage for Recording {
    fn sectors(&self) -> u64 {
        self.data.len() as u64 / 512
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> io::Result<()> {
        self.ops.push(Op::Read {
            sector,
            bytes: buf.len(),
        });
        let at = sector as usize * 512;
        buf.copy_from_slice(&self.data[at..at + buf.len()]);
        self.result()
    }
    fn write(&mut self, sector: u64, buf: &[u8]) -> io::Result<()> {
        self.ops.push(Op::Write {
            sector,
            bytes: buf.len(),
        });
        self.result()?;
        let at = sector as usize * 512;
        self.data[at..at + buf.len()].copy_from_slice(buf);
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.ops.push(Op::Flush);
        self.result()
    }
    fn discard(&mut self, sector: u64, sectors: u64) -> io::Result<()> {
        self.ops.push(Op::Discard { sector, sectors });
        self.result()?;
        let at = sector as usize * 512;
        self.data[at..at + sectors as usize * 512].fill(0);
        Ok(())
    }
}

pub fn wishes(queues: u32) -> FrontWishes {
    FrontWishes {
        persistent: true,
        indirect: true,
        ring_order: 1,
        queues,
    }
}

/// The guest's queues and miniport, and the backend.
pub struct Disk {
    pub host: Arc<Host>,
    pub config: BackendConfig,
    pub wishes: FrontWishes,
    pub storage: Arc<Mutex<Recording>>,
    pub queues: Vec<BlkQueue<SimPlatform, Window<Vec<u8>>>>,
    pub miniport: Miniport<Vec<u8>>,
    pub backend: Option<BlkBack>,
    /// A submitter on queue 0 that bypasses the miniport (to send it completions it never asked
    /// for).
    pub rogue: Producer<BlockRequest<Window<Vec<u8>>>>,
}

impl Disk {
    pub fn new(config: BackendConfig, queues: u32) -> Self {
        let host = Host::new(HostConfig::default());
        let guest = Arc::new(SimPlatform::new(host.clone(), config.front_dom));
        let storage = Arc::new(Mutex::new(Recording::new(SECTORS)));
        let blk = Arc::new(config.disk_props(SECTORS).disk().unwrap());
        let wishes = wishes(queues);
        let n = negotiate(&config.offer(), &wishes);
        let qconfig = QueueConfig::default();
        let mut qs = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..n.queues {
            let (q, h) = BlkQueue::new(guest.clone(), blk.clone(), 51712, qconfig).unwrap();
            qs.push(q);
            handles.push(h);
        }
        let scsi_disk =
            scsi::Disk::new(blk, &n.features, &qconfig, Identity::derived(51712)).unwrap();
        let rogue = handles[0].submitter();
        let miniport = Miniport::new(Arc::new(scsi_disk), handles, 128);
        let mut disk = Self {
            host,
            config,
            wishes,
            storage,
            queues: qs,
            miniport,
            backend: None,
            rogue,
        };
        disk.connect();
        disk
    }

    pub fn blk(&self) -> &Arc<BlkDisk> {
        self.miniport.disk().blkif_disk()
    }

    /// Connects every queue to a fresh backend with the current config.
    pub fn connect(&mut self) {
        let n = negotiate(&self.config.offer(), &self.wishes);
        let mut front = FrontendVbd {
            ring_order: n.ring_order,
            queues: Vec::new(),
            persistent: self.wishes.persistent,
        };
        for q in &mut self.queues {
            let ring = q
                .connect(self.config.backend_dom, n.ring_order, n.features)
                .unwrap();
            front.queues.push((ring.grefs, ring.port));
        }
        let storage: SharedStorage = self.storage.clone();
        self.backend = Some(BlkBack::connect(&self.host, &self.config, storage, &front).unwrap());
    }

    /// The backend goes away with whatever it holds; the queues keep their requests.
    pub fn disconnect(&mut self) {
        for q in &mut self.queues {
            q.disconnect();
        }
        self.backend = None;
    }

    /// Services both ends until nothing moves, and collects every finished SRB.
    pub fn pump(&mut self, out: &mut Vec<Finished<Vec<u8>>>) {
        loop {
            for q in &mut self.queues {
                q.service().unwrap();
            }
            let moved = match &mut self.backend {
                Some(b) => b.service().unwrap(),
                None => 0,
            };
            for q in &mut self.queues {
                q.service().unwrap();
            }
            for i in 0..self.queues.len() {
                self.miniport.collect(i, |f| out.push(f));
            }
            if moved == 0 {
                return;
            }
        }
    }

    /// Prepares and submits one SRB image from processor `cpu`; returns what finished at once.
    pub fn start(
        &mut self,
        handle: u64,
        cpu: u32,
        srb: &[u8],
        buf: Option<Vec<u8>>,
    ) -> Option<Finished<Vec<u8>>> {
        let info = SrbInfo::parse(srb).unwrap();
        match self.miniport.prepare(&info, buf) {
            Prepared::Done(outcome, buf) => Some(Finished {
                handle,
                outcome,
                buf,
            }),
            Prepared::Block(cmd, buf) => match self.miniport.submit(handle, cpu, cmd, buf) {
                Submitted::Queued { .. } => None,
                Submitted::Busy(f) => Some(f),
            },
        }
    }

    /// Runs one SRB to its end.
    pub fn run(&mut self, srb: &[u8], buf: Option<Vec<u8>>) -> Finished<Vec<u8>> {
        if let Some(f) = self.start(1, 0, srb, buf) {
            return f;
        }
        let mut out = Vec::new();
        self.pump(&mut out);
        assert_eq!(out.len(), 1, "one SRB in, one out");
        out.pop().unwrap()
    }
}

fn put(b: &mut [u8], at: usize, v: &[u8]) {
    b[at..at + v.len()].copy_from_slice(v);
}

/// A STORAGE_REQUEST_BLOCK image with a CDB16 block, as storport builds it.
pub fn srb(cdb: &[u8], flags: u32, len: u32) -> Vec<u8> {
    type S = StorageRequestBlock;
    let address_at = size_of::<S>();
    let cdb_at = address_at + size_of::<StorAddrBtl8>();
    let total = cdb_at + size_of::<SrbExDataScsiCdb16>();
    let mut b = vec![0u8; total];
    b[offset_of!(S, function)] = SRB_FUNCTION_STORAGE_REQUEST_BLOCK;
    put(
        &mut b,
        offset_of!(S, signature),
        &SRB_SIGNATURE.to_le_bytes(),
    );
    put(
        &mut b,
        offset_of!(S, version),
        &STORAGE_REQUEST_BLOCK_VERSION_1.to_le_bytes(),
    );
    put(
        &mut b,
        offset_of!(S, srb_length),
        &(total as u32).to_le_bytes(),
    );
    put(
        &mut b,
        offset_of!(S, srb_function),
        &SRB_FUNCTION_EXECUTE_SCSI.to_le_bytes(),
    );
    put(&mut b, offset_of!(S, srb_flags), &flags.to_le_bytes());
    put(
        &mut b,
        offset_of!(S, address_offset),
        &(address_at as u32).to_le_bytes(),
    );
    put(&mut b, offset_of!(S, num_srb_ex_data), &1u32.to_le_bytes());
    put(
        &mut b,
        offset_of!(S, data_transfer_length),
        &len.to_le_bytes(),
    );
    put(&mut b, offset_of!(S, data_buffer), &0x1000u64.to_le_bytes());
    put(
        &mut b,
        offset_of!(S, srb_ex_data_offset),
        &(cdb_at as u32).to_le_bytes(),
    );
    put(
        &mut b,
        address_at + offset_of!(StorAddrBtl8, address_length),
        &4u32.to_le_bytes(),
    );
    type C = SrbExDataScsiCdb16;
    put(&mut b, cdb_at, &SRB_EX_DATA_TYPE_SCSI_CDB16.to_le_bytes());
    b[cdb_at + offset_of!(C, cdb_length)] = cdb.len() as u8;
    b[cdb_at + offset_of!(C, sense_info_buffer_length)] = 18;
    put(
        &mut b,
        cdb_at + offset_of!(C, sense_info_buffer),
        &0x3000u64.to_le_bytes(),
    );
    put(&mut b, cdb_at + offset_of!(C, cdb), cdb);
    b
}

pub fn read10(lba: u32, blocks: u16) -> [u8; 10] {
    let l = lba.to_be_bytes();
    let n = blocks.to_be_bytes();
    [0x28, 0, l[0], l[1], l[2], l[3], 0, n[0], n[1], 0]
}

pub fn write10(lba: u32, blocks: u16, fua: bool) -> [u8; 10] {
    let mut c = read10(lba, blocks);
    c[0] = 0x2a;
    if fua {
        c[1] |= 0x08;
    }
    c
}

pub fn read16(lba: u64, blocks: u32) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = 0x88;
    c[2..10].copy_from_slice(&lba.to_be_bytes());
    c[10..14].copy_from_slice(&blocks.to_be_bytes());
    c
}

pub fn write16(lba: u64, blocks: u32) -> [u8; 16] {
    let mut c = read16(lba, blocks);
    c[0] = 0x8a;
    c
}

/// A block of data that says where it belongs.
pub fn pattern(lba: u64, blocks: usize, seed: u8) -> Vec<u8> {
    (0..blocks * 512)
        .map(|i| (lba as usize * 512 + i) as u8 ^ seed ^ (i / 512) as u8)
        .collect()
}
