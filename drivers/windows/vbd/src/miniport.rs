//! The request path of XENVBD: an SRB's CDB through the SCSI translation layer to a blkif queue,
//! and the queue's completions back to SRB outcomes.
//!
//! Two steps, as storport calls a miniport:
//! - [`Miniport::prepare`] (HwBuildIo, no lock held): reads nothing but the disk description, so
//!   it runs on any processor at once. It answers what needs no backend (INQUIRY, READ CAPACITY,
//!   MODE SENSE, bad CDBs with their sense, ...) and turns the rest into a [`BlockCommand`].
//! - [`Miniport::submit`] (HwStartIo): gives the block command a slot and hands its blkif
//!   request(s) to the queue of the submitting processor (one blkif ring per queue).
//!
//! [`Miniport::collect`] takes a queue's completions (its DPC, or the dump path's poll) and
//! finishes an SRB when the last of its blkif requests is back — each SRB exactly once: a slot's
//! tag carries a generation, so a completion that matches no live slot is counted and dropped,
//! never applied to the request that reused the slot. Across a backend disconnect the core keeps
//! the requests and replays them on the next connection; the slots simply stay busy until then.
//!
//! Nothing here allocates after [`Miniport::new`].

use alloc::sync::Arc;
use alloc::vec::Vec;

use xenpv_abi::blkif::BLKIF_SECTOR_SIZE;
use xenpv_abi::PAGE_SIZE;
use xenpv_control::vbd::FrontWishes;
use xenpv_datapath::blkif::params::segments_per_request;
use xenpv_datapath::blkif::{
    BlkQueue, BlockRequest, Disk as BlkDisk, Features, IoError, QueueConfig, QueueHandle,
};
use xenpv_datapath::platform::Platform;
use xenpv_datapath::scsi::{self, Action, BlockCommand, Data, Disk, DiskError, Identity};
use xenpv_ddk::storport::srb::*;

use crate::srb::{Direction, Outcome, SrbInfo};

/// The part of an SRB's data buffer one blkif request moves: the core's transfer size is its
/// buffer's length, and an SRB's buffer may be longer than its command's transfer.
#[derive(Debug)]
pub struct Window<B> {
    buf: Option<B>,
    len: usize,
}

/// No data (flush, discard).
impl<B> Default for Window<B> {
    fn default() -> Self {
        Self { buf: None, len: 0 }
    }
}

impl<B: AsRef<[u8]>> AsRef<[u8]> for Window<B> {
    fn as_ref(&self) -> &[u8] {
        match &self.buf {
            Some(b) => &b.as_ref()[..self.len],
            None => &[],
        }
    }
}

impl<B: AsMut<[u8]>> AsMut<[u8]> for Window<B> {
    fn as_mut(&mut self) -> &mut [u8] {
        match &mut self.buf {
            Some(b) => &mut b.as_mut()[..self.len],
            None => &mut [],
        }
    }
}

/// What [`Miniport::prepare`] made of a request.
#[allow(clippy::large_enum_variant)] // the discard ranges travel inline: no allocation per SRB
#[derive(Debug)]
pub enum Prepared<B> {
    /// Finished without the backend.
    Done(Outcome, Option<B>),
    /// For the blkif queues.
    Block(BlockCommand, Option<B>),
}

/// A finished SRB: the glue writes `outcome` into it and completes it.
#[derive(Debug)]
pub struct Finished<B> {
    /// The glue's handle of the SRB (its address).
    pub handle: u64,
    pub outcome: Outcome,
    /// The SRB's data buffer, handed back.
    pub buf: Option<B>,
}

/// What became of a submission.
#[derive(Debug)]
pub enum Submitted<B> {
    /// On queue `queue`: service it, and collect its completions later.
    Queued { queue: usize },
    /// No room (slots or queue full): finish it now with this outcome (SRB_STATUS_BUSY, which
    /// storport retries).
    Busy(Finished<B>),
}

/// One SRB with block requests in the queues.
struct Slot<B> {
    handle: u64,
    generation: u32,
    cmd: Option<BlockCommand>,
    /// Blkif requests not yet completed.
    pending: u32,
    result: Result<(), IoError>,
    buf: Option<B>,
}

/// The miniport's request state for one disk.
pub struct Miniport<B> {
    disk: Arc<Disk>,
    queues: Vec<QueueHandle<Window<B>>>,
    slots: Vec<Slot<B>>,
    free: Vec<u32>,
    /// Completions whose tag matched no live slot (a core bug if ever non-zero).
    stale: u64,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Miniport<B> {
    /// A miniport for `disk` over the upper-layer handles of its blkif queues (at least one),
    /// holding up to `slots` SRBs in the queues at once.
    pub fn new(disk: Arc<Disk>, queues: Vec<QueueHandle<Window<B>>>, slots: usize) -> Self {
        assert!(!queues.is_empty(), "a disk has at least one queue");
        Self {
            disk,
            queues,
            slots: (0..slots)
                .map(|_| Slot {
                    handle: 0,
                    generation: 0,
                    cmd: None,
                    pending: 0,
                    result: Ok(()),
                    buf: None,
                })
                .collect(),
            free: (0..slots as u32).rev().collect(),
            stale: 0,
        }
    }

    /// The backend described the disk anew (a reconnect with other geometry).
    pub fn set_disk(&mut self, disk: Arc<Disk>) {
        self.disk = disk;
    }

    pub fn disk(&self) -> &Arc<Disk> {
        &self.disk
    }

    pub fn queues(&self) -> usize {
        self.queues.len()
    }

    /// SRBs in the queues.
    pub fn outstanding(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Completions that matched no SRB.
    pub fn stale(&self) -> u64 {
        self.stale
    }

    /// [`prepare`] against this miniport's disk.
    pub fn prepare(&self, info: &SrbInfo, buf: Option<B>) -> Prepared<B> {
        prepare(&self.disk, info, buf)
    }

    /// Hands a prepared block command to the queue of `processor`.
    pub fn submit(
        &mut self,
        handle: u64,
        processor: u32,
        cmd: BlockCommand,
        buf: Option<B>,
    ) -> Submitted<B> {
        let busy = |buf| {
            Submitted::Busy(Finished {
                handle,
                outcome: Outcome::port(SRB_STATUS_BUSY),
                buf,
            })
        };
        let Some(index) = self.free.pop() else {
            return busy(buf);
        };
        let queue = processor as usize % self.queues.len();
        let slot = &mut self.slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        let tag = u64::from(slot.generation) << 32 | u64::from(index);
        let h = &self.queues[queue];
        let data = |buf, bytes: u64| Window {
            buf: Some(buf),
            len: bytes as usize,
        };
        let bytes = cmd.data_bytes();
        let first = match (&cmd, buf) {
            (BlockCommand::Read { lba_512, .. }, Some(b)) => {
                h.submit(BlockRequest::read(tag, *lba_512, data(b, bytes)))
            }
            (BlockCommand::Write { lba_512, fua, .. }, Some(b)) => {
                let req = if *fua {
                    BlockRequest::write_fua(tag, *lba_512, data(b, bytes))
                } else {
                    BlockRequest::write(tag, *lba_512, data(b, bytes))
                };
                h.submit(req)
            }
            (BlockCommand::Flush, buf) => {
                slot.buf = buf;
                h.submit(BlockRequest::flush(tag, Window::default()))
            }
            (BlockCommand::Discard { ranges }, buf) => {
                slot.buf = buf;
                let r = ranges[0];
                h.submit(BlockRequest::discard(
                    tag,
                    r.lba_512,
                    r.sectors,
                    false,
                    Window::default(),
                ))
            }
            // prepare() makes reads and writes only with a buffer that holds them.
            (BlockCommand::Read { .. } | BlockCommand::Write { .. }, None) => {
                self.free.push(index);
                return busy(None);
            }
        };
        if let Err(req) = first {
            self.free.push(index);
            let buf = slot.buf.take().or(req.buf.buf);
            return busy(buf);
        }
        slot.handle = handle;
        slot.pending = 1;
        slot.result = Ok(());
        if let BlockCommand::Discard { ranges } = &cmd {
            for r in ranges.iter().skip(1) {
                let req =
                    BlockRequest::discard(tag, r.lba_512, r.sectors, false, Window::default());
                if h.submit(req).is_err() {
                    // What is in the queue completes; the SRB then fails as retryable.
                    slot.result = Err(IoError::NoResources);
                    break;
                }
                slot.pending += 1;
            }
        }
        slot.cmd = Some(cmd);
        Submitted::Queued { queue }
    }

    /// Finishes the SRBs whose blkif requests queue `queue` has completed.
    pub fn collect(&mut self, queue: usize, mut finished: impl FnMut(Finished<B>)) {
        let Some(h) = self.queues.get_mut(queue) else {
            return;
        };
        while let Some(c) = h.completion() {
            let index = c.tag as u32;
            let generation = (c.tag >> 32) as u32;
            let Some(slot) = self
                .slots
                .get_mut(index as usize)
                .filter(|s| s.generation == generation && s.pending > 0)
            else {
                self.stale += 1;
                continue;
            };
            slot.pending -= 1;
            if slot.result.is_ok() {
                slot.result = c.result;
            }
            if let Some(b) = c.buf.buf {
                slot.buf = Some(b);
            }
            if slot.pending > 0 {
                continue;
            }
            let cmd = slot
                .cmd
                .take()
                .expect("a slot with pending requests has its command");
            let outcome = match scsi::complete(&cmd, slot.result) {
                Ok(()) => Outcome::good(moved(&cmd)),
                Err(sense) => Outcome::check(sense),
            };
            self.free.push(index);
            finished(Finished {
                handle: slot.handle,
                outcome,
                buf: slot.buf.take(),
            });
        }
    }
}

/// Decides what to do with the request `info` describes, for `disk`; `buf` is its data buffer
/// (`None` when it has none or storport could not map it). It reads only the disk description,
/// so HwBuildIo runs it on any processor without a lock.
pub fn prepare<B: AsMut<[u8]>>(disk: &Disk, info: &SrbInfo, mut buf: Option<B>) -> Prepared<B> {
    let done = |outcome, buf| Prepared::Done(outcome, buf);
    match info.function {
        SRB_FUNCTION_EXECUTE_SCSI => {}
        // No adapter cache to flush (the disk's own cache is SYNCHRONIZE CACHE's business),
        // nothing to reset (requests finish or are replayed on their own), no power state.
        SRB_FUNCTION_FLUSH
        | SRB_FUNCTION_SHUTDOWN
        | SRB_FUNCTION_RESET_BUS
        | SRB_FUNCTION_RESET_DEVICE
        | SRB_FUNCTION_RESET_LOGICAL_UNIT
        | SRB_FUNCTION_POWER
        | SRB_FUNCTION_PNP => return done(Outcome::port(SRB_STATUS_SUCCESS), buf),
        _ => return done(Outcome::port(SRB_STATUS_INVALID_REQUEST), buf),
    }
    // One disk: bus 0, target 0, LUN 0.
    if info.address.path != 0 || info.address.target != 0 {
        return done(Outcome::port(SRB_STATUS_NO_DEVICE), buf);
    }
    if info.address.lun != 0 {
        return done(Outcome::port(SRB_STATUS_INVALID_LUN), buf);
    }
    if info.data_transfer_length > 0 && buf.is_none() {
        // Storport maps every buffer (STOR_MAP_ALL_BUFFERS_INCLUDING_READ_WRITE) but may fail
        // to under memory pressure; it retries a busy request.
        return done(Outcome::port(SRB_STATUS_BUSY), buf);
    }
    let len = info.data_transfer_length as usize;
    let data = match (&mut buf, info.direction()) {
        (Some(b), Direction::In) => Data::In(window(b.as_mut(), len)),
        (Some(b), Direction::Out) => Data::Out(window(b.as_mut(), len)),
        _ => Data::None,
    };
    match scsi::translate(disk, info.cdb(), data) {
        Err(sense) => done(Outcome::check(sense), buf),
        Ok(Action::Complete { data_len }) => done(Outcome::good(data_len as u32), buf),
        Ok(Action::Block(cmd)) => Prepared::Block(cmd, buf),
    }
}

/// What XENVBD asks of a backend: as Linux blkfront, persistent grants and indirect
/// descriptors where offered, a two-page ring, and up to `queues` queues.
pub fn wishes(queues: u32) -> FrontWishes {
    FrontWishes {
        persistent: true,
        indirect: true,
        ring_order: 1,
        queues,
    }
}

/// The largest transfer one blkif request carries on a connection with `features` and
/// `config` (what the translation layer accepts and PORT_CONFIGURATION_INFORMATION must say).
pub fn max_transfer(features: &Features, config: &QueueConfig) -> u32 {
    segments_per_request(features, config).saturating_mul(PAGE_SIZE as u32)
}

/// The SCSI view of a connected disk: the core's disk `blk` with the features the queues
/// negotiated, identified by its vbd number.
pub fn scsi_disk(
    blk: Arc<BlkDisk>,
    features: &Features,
    config: &QueueConfig,
    vdev: u16,
) -> Result<Disk, DiskError> {
    Disk::new(blk, features, config, Identity::derived(u32::from(vdev)))
}

/// Whether servicing `queue` stays clear of the home's region calls (grant_region and
/// end_region), which XENBUS serves at PASSIVE_LEVEL only: its data pages come from the
/// persistent pool granted at start (or it is not started) and no region waits in quarantine.
/// A queue for which this is false is serviced at PASSIVE_LEVEL (XENVBD's work item), not in
/// its DPC.
pub fn dispatch_safe<P: Platform, B: AsRef<[u8]> + AsMut<[u8]>>(
    queue: &BlkQueue<P, Window<B>>,
) -> bool {
    queue.features().is_none_or(|f| f.persistent) && queue.quarantined() == 0
}

/// Bytes a finished command moved (the SRB's transfer length on success).
fn moved(cmd: &BlockCommand) -> u32 {
    match cmd {
        BlockCommand::Read { sectors, .. } | BlockCommand::Write { sectors, .. } => {
            (*sectors * BLKIF_SECTOR_SIZE as u64) as u32
        }
        BlockCommand::Flush | BlockCommand::Discard { .. } => 0,
    }
}

/// The first `len` bytes of an SRB buffer (all of it if shorter: the translation refuses a
/// transfer the buffer cannot hold).
fn window(b: &mut [u8], len: usize) -> &mut [u8] {
    let n = len.min(b.len());
    &mut b[..n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transfer_limit_follows_the_negotiated_segments() {
        let config = QueueConfig::default();
        let direct = Features::default();
        assert_eq!(max_transfer(&direct, &config), 11 * 4096);
        let indirect = Features {
            max_indirect_segments: 64,
            ..direct
        };
        assert_eq!(max_transfer(&indirect, &config), 64 * 4096);
        let blk = Arc::new(BlkDisk::new(1 << 20, 512, 512, false).unwrap());
        let disk = scsi_disk(blk, &indirect, &config, 768).unwrap();
        // The translation refuses exactly what one request cannot carry.
        let mut buf = [0u8; 65 * 4096];
        let cdb = |blocks: u16| {
            let n = blocks.to_be_bytes();
            [0x28, 0, 0, 0, 0, 0, 0, n[0], n[1], 0]
        };
        assert!(scsi::translate(&disk, &cdb(512), Data::In(&mut buf)).is_ok());
        assert!(scsi::translate(&disk, &cdb(520), Data::In(&mut buf)).is_err());
    }
}
