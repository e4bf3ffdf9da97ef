//! A frontend disk wired to this backend inside one simulated host, without xenstore: what tests,
//! benches and the demo drive. Negotiation is the control plane's ([`negotiate`]); only the
//! transport through xenstore is skipped.

use std::fmt;
use std::sync::Arc;

use xenpv_abi::DomId;
use xenpv_control::vbd::{negotiate, FrontWishes, FrontendVbd, Negotiated, VbdError};
use xenpv_datapath::blkif::{
    BlkQueue, BlockRequest, Completion, Disk, QueueConfig, QueueError, QueueHandle, SetupError,
};

use super::{BackError, BackendConfig, BlkBack, ConnectError, SharedStorage};
use crate::guest::SimPlatform;
use crate::host::Host;

/// What the frontend asks for.
#[derive(Clone, Copy, Debug)]
pub struct FrontOptions {
    /// Offer `feature-persistent`.
    pub persistent: bool,
    /// Use indirect descriptors where offered.
    pub indirect: bool,
    /// Wanted ring order (capped by the backend's maximum).
    pub ring_order: u32,
    /// Wanted queues (capped by the backend's maximum).
    pub queues: u32,
    /// Per-queue limits.
    pub queue: QueueConfig,
}

impl FrontOptions {
    /// The wishes the control plane negotiates with.
    pub fn wishes(&self) -> FrontWishes {
        FrontWishes {
            persistent: self.persistent,
            indirect: self.indirect,
            ring_order: self.ring_order,
            queues: self.queues,
        }
    }
}

impl Default for FrontOptions {
    fn default() -> Self {
        Self {
            persistent: true,
            indirect: true,
            ring_order: 1,
            queues: 1,
            queue: QueueConfig::default(),
        }
    }
}

/// Something went wrong between the two ends.
#[derive(Debug)]
pub enum PairError {
    Disk(VbdError),
    Setup(SetupError),
    Connect(ConnectError),
    Front(QueueError),
    Back(BackError),
    /// Nothing moved although requests are outstanding.
    Stalled,
}

impl fmt::Display for PairError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PairError::Disk(e) => write!(f, "disk: {e}"),
            PairError::Setup(e) => write!(f, "frontend setup: {e}"),
            PairError::Connect(e) => write!(f, "backend connect: {e}"),
            PairError::Front(e) => write!(f, "frontend: {e}"),
            PairError::Back(e) => write!(f, "backend: {e}"),
            PairError::Stalled => f.write_str("no progress with requests outstanding"),
        }
    }
}

/// A disk: frontend queues in the guest, blkback in dom0.
pub struct DiskPair {
    pub host: Arc<Host>,
    pub guest: Arc<SimPlatform>,
    pub queues: Vec<BlkQueue<SimPlatform, Vec<u8>>>,
    pub handles: Vec<QueueHandle<Vec<u8>>>,
    pub backend: Option<BlkBack>,
    pub config: BackendConfig,
    pub front: FrontOptions,
    pub storage: SharedStorage,
    pub disk: Arc<Disk>,
}

impl DiskPair {
    /// Builds the frontend queues for a disk served by `storage` with `config`, and connects.
    pub fn new(
        host: Arc<Host>,
        config: BackendConfig,
        storage: SharedStorage,
        front: FrontOptions,
    ) -> Result<Self, PairError> {
        let guest = Arc::new(SimPlatform::new(host.clone(), config.front_dom));
        let sectors = storage.lock().unwrap().sectors();
        let disk = Arc::new(config.disk_props(sectors).disk().map_err(PairError::Disk)?);
        let n = negotiate(&config.offer(), &front.wishes()).queues;
        let mut queues = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..n {
            let (q, h) = BlkQueue::new(guest.clone(), disk.clone(), 0x300, front.queue)
                .map_err(PairError::Setup)?;
            queues.push(q);
            handles.push(h);
        }
        let mut pair = Self {
            host,
            guest,
            queues,
            handles,
            backend: None,
            config,
            front,
            storage,
            disk,
        };
        pair.connect()?;
        Ok(pair)
    }

    /// Connects every queue to a fresh backend with the current `config`.
    pub fn connect(&mut self) -> Result<(), PairError> {
        let Negotiated {
            ring_order: order,
            features,
            ..
        } = negotiate(&self.config.offer(), &self.front.wishes());
        let backend: DomId = self.config.backend_dom;
        let mut params = FrontendVbd {
            ring_order: order,
            queues: Vec::new(),
            persistent: self.front.persistent,
        };
        for q in &mut self.queues {
            let ring = q
                .connect(backend, order, features)
                .map_err(PairError::Setup)?;
            params.queues.push((ring.grefs, ring.port));
        }
        let back = BlkBack::connect(&self.host, &self.config, self.storage.clone(), &params)
            .map_err(PairError::Connect)?;
        self.backend = Some(back);
        Ok(())
    }

    /// Tears the connection down (suspend, or the backend going away); unfinished requests wait
    /// in the queues for the next connection.
    pub fn disconnect(&mut self) {
        for q in &mut self.queues {
            q.disconnect();
        }
        self.backend = None;
    }

    /// Services both ends until neither has anything to do.
    pub fn pump(&mut self) -> Result<(), PairError> {
        loop {
            for q in &mut self.queues {
                q.service().map_err(PairError::Front)?;
            }
            let moved = match &mut self.backend {
                Some(b) => b.service().map_err(PairError::Back)?,
                None => 0,
            };
            if moved == 0 {
                for q in &mut self.queues {
                    q.service().map_err(PairError::Front)?;
                }
                return Ok(());
            }
        }
    }

    /// Submits `req` on queue `q` and pumps until it completes.
    pub fn run(
        &mut self,
        q: usize,
        req: BlockRequest<Vec<u8>>,
    ) -> Result<Completion<Vec<u8>>, PairError> {
        if self.handles[q].submit(req).is_err() {
            return Err(PairError::Stalled);
        }
        self.pump()?;
        self.handles[q].completion().ok_or(PairError::Stalled)
    }
}
