//! The xenstore keys of a vbd (io/blkif.h): what the backend advertises before and after it
//! connects, what the frontend writes, the negotiation between them, and parsing of both with
//! typed errors. Keys are plain (relative path, value) pairs so that any store client — the
//! xenstore client, a toolstack, the sim blkback — can write or read them.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use alloc::sync::Arc;
use core::cell::{Cell, RefCell};

use xenpv_abi::blkif::{VDISK_CDROM, VDISK_READONLY, VDISK_REMOVABLE};
use xenpv_abi::{EvtchnPort, GrantRef};
use xenpv_datapath::blkif::{
    BlkQueue, DiscardInfo, Disk, DiskError, Features, QueueConfig, QueueHandle, SetupError,
    MAX_RING_ORDER,
};
use xenpv_datapath::platform::Platform;

use crate::xenbus::driver::{DevicePaths, FrontendDevice};
use crate::xenbus::features::write_keys;
use crate::xs::client::{Client, Error, Store, Transport, WatchEvent};

/// `protocol` for the native x86_64 layout (io/protocols.h `XEN_IO_PROTO_ABI_X86_64`).
pub const PROTOCOL_X86_64: &str = "x86_64-abi";

/// A key that is missing or does not parse, or a frontend directory the backend cannot accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VbdError {
    /// A required key is absent.
    Missing(String),
    /// A key's value is not what the protocol allows.
    BadValue { key: String, value: String },
    /// `multi-queue-num-queues` is zero or above `multi-queue-max-queues`.
    QueueCount { requested: u32, max: u32 },
    /// `ring-page-order` above `max-ring-page-order`.
    RingOrder { requested: u32, max: u32 },
    /// A `protocol` other than the native one.
    Protocol(String),
    /// The disk description is unusable.
    Disk(DiskError),
}

impl fmt::Display for VbdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VbdError::Missing(k) => write!(f, "missing key {k}"),
            VbdError::BadValue { key, value } => write!(f, "key {key} has bad value {value:?}"),
            VbdError::QueueCount { requested, max } => {
                write!(f, "{requested} queues requested, backend offers 1..={max}")
            }
            VbdError::RingOrder { requested, max } => {
                write!(f, "ring-page-order {requested} above the maximum {max}")
            }
            VbdError::Protocol(p) => write!(f, "unsupported protocol {p:?}"),
            VbdError::Disk(e) => write!(f, "disk: {e}"),
        }
    }
}

type Get<'a> = &'a dyn Fn(&str) -> Option<String>;

fn num<N: TryFrom<u64>>(get: Get, key: &str) -> Result<Option<N>, VbdError> {
    let Some(v) = get(key) else {
        return Ok(None);
    };
    let bad = || VbdError::BadValue {
        key: key.to_string(),
        value: v.clone(),
    };
    let n: u64 = v.trim().parse().map_err(|_| bad())?;
    N::try_from(n).map(Some).map_err(|_| bad())
}

fn flag(get: Get, key: &str) -> Result<bool, VbdError> {
    match num::<u64>(get, key)? {
        None | Some(0) => Ok(false),
        Some(1) => Ok(true),
        Some(v) => Err(VbdError::BadValue {
            key: key.to_string(),
            value: v.to_string(),
        }),
    }
}

fn required<N: TryFrom<u64>>(get: Get, key: &str) -> Result<N, VbdError> {
    num(get, key)?.ok_or_else(|| VbdError::Missing(key.to_string()))
}

fn bit(v: bool) -> String {
    String::from(if v { "1" } else { "0" })
}

/// What a backend publishes: the transport limits before the frontend sets up, the features only
/// once it connects ([`BackendOffer::setup_keys`], [`BackendOffer::connect_keys`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendOffer {
    /// `max-ring-page-order` (0 when absent).
    pub max_ring_page_order: u32,
    /// `multi-queue-max-queues` (1 when absent).
    pub max_queues: u32,
    /// `feature-persistent`.
    pub persistent: bool,
    /// `feature-max-indirect-segments` (0 when absent: no indirect requests).
    pub max_indirect_segments: u32,
    /// `feature-flush-cache`.
    pub flush: bool,
    /// `feature-barrier`.
    pub barrier: bool,
    /// `feature-discard` with `discard-granularity`, `-alignment`, `-secure`.
    pub discard: Option<DiscardInfo>,
}

impl BackendOffer {
    /// The keys a backend writes (relative to its directory): those of setup, then those of connect.
    pub fn keys(&self) -> Vec<(String, String)> {
        let mut out = self.setup_keys();
        out.extend(self.connect_keys());
        out
    }

    /// What a backend writes before the frontend sets up (Linux blkback: in InitWait), which the
    /// frontend needs to build its rings.
    pub fn setup_keys(&self) -> Vec<(String, String)> {
        Vec::from([
            (
                "max-ring-page-order".into(),
                self.max_ring_page_order.to_string(),
            ),
            ("multi-queue-max-queues".into(), self.max_queues.to_string()),
        ])
    }

    /// What a backend writes only when it connects (Linux blkback's `connect()`), after the
    /// frontend went Initialised: the frontend reads these once the backend is Connected.
    pub fn connect_keys(&self) -> Vec<(String, String)> {
        let mut out = Vec::from([
            ("feature-persistent".into(), bit(self.persistent)),
            ("feature-flush-cache".into(), bit(self.flush)),
            ("feature-barrier".into(), bit(self.barrier)),
            ("feature-discard".into(), bit(self.discard.is_some())),
        ]);
        if self.max_indirect_segments > 0 {
            // blkif.h: a backend without indirect support must not create the key at all.
            out.push((
                "feature-max-indirect-segments".into(),
                self.max_indirect_segments.to_string(),
            ));
        }
        if let Some(d) = self.discard {
            out.push(("discard-granularity".into(), d.granularity.to_string()));
            out.push(("discard-alignment".into(), d.alignment.to_string()));
            out.push(("discard-secure".into(), bit(d.secure)));
        }
        out
    }

    /// Reads a backend directory through `get` (relative key → value). `sector_size` is the
    /// default discard granularity (blkif.h note 4).
    pub fn parse(get: impl Fn(&str) -> Option<String>, sector_size: u32) -> Result<Self, VbdError> {
        let get: Get = &get;
        let discard = if flag(get, "feature-discard")? {
            Some(DiscardInfo {
                granularity: num(get, "discard-granularity")?.unwrap_or(sector_size),
                alignment: num(get, "discard-alignment")?.unwrap_or(0),
                secure: flag(get, "discard-secure")?,
            })
        } else {
            None
        };
        Ok(Self {
            max_ring_page_order: num(get, "max-ring-page-order")?.unwrap_or(0),
            max_queues: num::<u32>(get, "multi-queue-max-queues")?
                .unwrap_or(1)
                .max(1),
            persistent: flag(get, "feature-persistent")?,
            max_indirect_segments: num(get, "feature-max-indirect-segments")?.unwrap_or(0),
            flush: flag(get, "feature-flush-cache")?,
            barrier: flag(get, "feature-barrier")?,
            discard,
        })
    }
}

/// The disk as the backend describes it once connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskProps {
    /// `sectors`, in 512-byte units as Linux blkback writes it.
    pub sectors: u64,
    /// `sector-size`.
    pub sector_size: u32,
    /// `physical-sector-size` (defaults to `sector-size`).
    pub physical_sector_size: u32,
    /// `info` (VDISK_* bits).
    pub info: u32,
}

impl DiskProps {
    pub fn keys(&self) -> Vec<(String, String)> {
        Vec::from([
            ("sectors".into(), self.sectors.to_string()),
            ("sector-size".into(), self.sector_size.to_string()),
            (
                "physical-sector-size".into(),
                self.physical_sector_size.to_string(),
            ),
            ("info".into(), self.info.to_string()),
        ])
    }

    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Self, VbdError> {
        let get: Get = &get;
        let sector_size = num(get, "sector-size")?.unwrap_or(512);
        Ok(Self {
            sectors: required(get, "sectors")?,
            sector_size,
            physical_sector_size: num(get, "physical-sector-size")?.unwrap_or(sector_size),
            info: num(get, "info")?.unwrap_or(0),
        })
    }

    /// The data plane's disk, checked.
    pub fn disk(&self) -> Result<Disk, VbdError> {
        let mut disk = Disk::new(
            self.sectors,
            self.sector_size,
            self.physical_sector_size,
            self.info & VDISK_READONLY != 0,
        )
        .map_err(VbdError::Disk)?;
        disk.cdrom = self.info & VDISK_CDROM != 0;
        disk.removable = self.info & VDISK_REMOVABLE != 0;
        Ok(disk)
    }
}

/// What the frontend wants, before it knows what the backend offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrontWishes {
    pub persistent: bool,
    pub indirect: bool,
    pub ring_order: u32,
    pub queues: u32,
}

/// What a connection uses: each part is the smaller of offer and wish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub ring_order: u32,
    pub queues: u32,
    pub features: Features,
}

/// Negotiates as Linux blkfront does: persistent grants only if both sides want them, indirect
/// segments up to the backend's maximum, ring order and queue count capped by the offer.
pub fn negotiate(offer: &BackendOffer, wish: &FrontWishes) -> Negotiated {
    Negotiated {
        ring_order: wish
            .ring_order
            .min(offer.max_ring_page_order)
            .min(MAX_RING_ORDER),
        queues: wish.queues.clamp(1, offer.max_queues.max(1)),
        features: Features {
            persistent: offer.persistent && wish.persistent,
            max_indirect_segments: if wish.indirect {
                offer.max_indirect_segments
            } else {
                0
            },
            flush: offer.flush,
            barrier: offer.barrier,
            discard: offer.discard,
        },
    }
}

/// What a frontend writes in its directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrontendVbd {
    /// `ring-page-order`.
    pub ring_order: u32,
    /// Ring references and event channel of each queue.
    pub queues: Vec<(Vec<GrantRef>, EvtchnPort)>,
    /// `feature-persistent`.
    pub persistent: bool,
}

impl FrontendVbd {
    /// The keys to write, as blkif.h lays them out: `ring-ref` for a one-page ring, `ring-refN`
    /// for more; top-level keys for one queue, `queue-N/…` for several.
    pub fn keys(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let multi = self.queues.len() > 1;
        if multi {
            out.push((
                "multi-queue-num-queues".into(),
                self.queues.len().to_string(),
            ));
        }
        if self.ring_order > 0 {
            out.push(("ring-page-order".into(), self.ring_order.to_string()));
        }
        for (i, (refs, port)) in self.queues.iter().enumerate() {
            let prefix = if multi {
                format!("queue-{i}/")
            } else {
                String::new()
            };
            if self.ring_order == 0 {
                out.push((format!("{prefix}ring-ref"), refs[0].to_string()));
            } else {
                for (n, r) in refs.iter().enumerate() {
                    out.push((format!("{prefix}ring-ref{n}"), r.to_string()));
                }
            }
            out.push((format!("{prefix}event-channel"), port.to_string()));
        }
        out.push(("protocol".into(), PROTOCOL_X86_64.into()));
        out.push(("feature-persistent".into(), bit(self.persistent)));
        // All our sector quantities follow the backend's sector-size rules (blkif.h).
        out.push(("feature-large-sector-size".into(), "1".into()));
        out
    }

    /// Reads a frontend directory as blkback's `connect_ring` does, checking it against `offer`.
    pub fn parse(
        get: impl Fn(&str) -> Option<String>,
        offer: &BackendOffer,
    ) -> Result<Self, VbdError> {
        let get: Get = &get;
        if let Some(p) = get("protocol") {
            if p != PROTOCOL_X86_64 {
                return Err(VbdError::Protocol(p));
            }
        }
        let requested: u32 = num(get, "multi-queue-num-queues")?.unwrap_or(1);
        if requested == 0 || requested > offer.max_queues {
            return Err(VbdError::QueueCount {
                requested,
                max: offer.max_queues,
            });
        }
        let ring_order: u32 = num(get, "ring-page-order")?.unwrap_or(0);
        if ring_order > offer.max_ring_page_order {
            return Err(VbdError::RingOrder {
                requested: ring_order,
                max: offer.max_ring_page_order,
            });
        }
        let queues = (0..requested)
            .map(|i| {
                let prefix = if requested > 1 {
                    format!("queue-{i}/")
                } else {
                    String::new()
                };
                let refs = if ring_order == 0 {
                    Vec::from([required(get, &format!("{prefix}ring-ref"))?])
                } else {
                    (0..1u32 << ring_order)
                        .map(|n| required(get, &format!("{prefix}ring-ref{n}")))
                        .collect::<Result<Vec<_>, _>>()?
                };
                Ok((refs, required(get, &format!("{prefix}event-channel"))?))
            })
            .collect::<Result<Vec<_>, VbdError>>()?;
        Ok(Self {
            ring_order,
            queues,
            persistent: flag(get, "feature-persistent")?,
        })
    }
}

/// Reads keys under `dir` through a store as a `get` closure for the parsers above; the first store
/// error (other than a missing key) wins over the parse result.
fn read_dir<S: Store + ?Sized, R>(
    store: &mut S,
    dir: &str,
    parse: impl FnOnce(&dyn Fn(&str) -> Option<String>) -> R,
) -> Result<R, Error> {
    let store = RefCell::new(store);
    let failure = Cell::new(None);
    let get = |key: &str| match store.borrow_mut().try_read(&format!("{dir}/{key}")) {
        Ok(v) => v.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) => {
            failure.set(Some(e));
            None
        }
    };
    let result = parse(&get);
    failure.take().map_or(Ok(result), Err)
}

/// Why the vbd frontend could not (re)connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VbdDeviceError {
    Store(Error),
    Keys(VbdError),
    Setup(SetupError),
    /// A new backend offers fewer queues than the requests already held need.
    QueuesShrank {
        had: usize,
        offered: u32,
    },
}

impl From<Error> for VbdDeviceError {
    fn from(e: Error) -> Self {
        VbdDeviceError::Store(e)
    }
}

impl From<VbdError> for VbdDeviceError {
    fn from(e: VbdError) -> Self {
        VbdDeviceError::Keys(e)
    }
}

/// A block frontend device: the xenstore half of XenVbd over the blkif queues.
///
/// Queues are made at the first connect, as many as negotiated, and kept across reconnects so that
/// their unfinished requests are replayed on the next backend. The disk is described by the backend
/// once it is connected; `sectors` is watched for online resize.
pub struct VbdFrontend<P, B> {
    platform: Arc<P>,
    wishes: FrontWishes,
    config: QueueConfig,
    vdev: u16,
    queues: Vec<BlkQueue<P, B>>,
    handles: Vec<QueueHandle<B>>,
    disk: Option<Arc<Disk>>,
    /// Ring order chosen at the last setup (the features are chosen once connected).
    ring_order: u32,
    negotiated: Option<Negotiated>,
    resize_token: Option<String>,
}

impl<P: Platform, B: AsRef<[u8]> + AsMut<[u8]>> VbdFrontend<P, B> {
    /// A frontend for virtual device `vdev` that will ask for `wishes`.
    pub fn new(platform: Arc<P>, vdev: u16, wishes: FrontWishes, config: QueueConfig) -> Self {
        Self {
            platform,
            wishes,
            config,
            vdev,
            queues: Vec::new(),
            handles: Vec::new(),
            disk: None,
            ring_order: 0,
            negotiated: None,
            resize_token: None,
        }
    }

    /// The queues (the ring owner services them).
    pub fn queues_mut(&mut self) -> &mut [BlkQueue<P, B>] {
        &mut self.queues
    }

    /// The upper layer's handles, one per queue, once the first connect made them.
    pub fn take_handles(&mut self) -> Vec<QueueHandle<B>> {
        core::mem::take(&mut self.handles)
    }

    /// The disk as last described by the backend.
    pub fn disk(&self) -> Option<&Arc<Disk>> {
        self.disk.as_ref()
    }

    /// Ring requests in flight over all queues.
    pub fn queues_len_in_flight(&self) -> usize {
        self.queues.iter().map(|q| q.in_flight()).sum()
    }

    /// What the current (or last) connection negotiated, once the backend is connected.
    pub fn negotiated(&self) -> Option<Negotiated> {
        self.negotiated
    }

    /// Handles a watch event of the `sectors` watch (others are ignored): online resize.
    pub fn on_watch<S: Store + ?Sized>(
        &mut self,
        store: &mut S,
        paths: &DevicePaths,
        event: &WatchEvent,
    ) -> Result<(), VbdDeviceError> {
        if self.resize_token.as_deref() != Some(event.token.as_str()) {
            return Ok(());
        }
        self.read_size(store, paths)
    }

    fn read_size<S: Store + ?Sized>(
        &mut self,
        store: &mut S,
        paths: &DevicePaths,
    ) -> Result<(), VbdDeviceError> {
        let sectors: Option<u64> = read_dir(store, &paths.backend, |get| num(get, "sectors"))??;
        if let (Some(disk), Some(sectors)) = (&self.disk, sectors) {
            disk.resize(sectors);
        }
        Ok(())
    }
}

impl<T: Transport, P: Platform, B: AsRef<[u8]> + AsMut<[u8]>> FrontendDevice<T>
    for VbdFrontend<P, B>
{
    type Error = VbdDeviceError;

    /// Only the transport limits are read here: Linux blkback publishes its features (persistent
    /// grants above all) only when it connects, after reading ours, so they are decided in
    /// `start_io`, as Linux blkfront does in `blkfront_connect`.
    fn setup(&mut self, client: &mut Client<T>, paths: &DevicePaths) -> Result<(), VbdDeviceError> {
        let offer = read_dir(client, &paths.backend, |get| BackendOffer::parse(get, 512))??;
        let n = negotiate(&offer, &self.wishes);
        if self.queues.is_empty() {
            // Until the backend describes the disk, nothing is in range.
            let placeholder = Arc::new(Disk::new(0, 512, 512, true).map_err(VbdError::Disk)?);
            for _ in 0..n.queues {
                let (q, h) = BlkQueue::new(
                    self.platform.clone(),
                    placeholder.clone(),
                    self.vdev,
                    self.config,
                )
                .map_err(VbdDeviceError::Setup)?;
                self.queues.push(q);
                self.handles.push(h);
            }
        } else if (n.queues as usize) < self.queues.len() {
            return Err(VbdDeviceError::QueuesShrank {
                had: self.queues.len(),
                offered: n.queues,
            });
        }
        let mut rings = Vec::with_capacity(self.queues.len());
        for q in &mut self.queues {
            match q.connect_ring(paths.backend_domid, n.ring_order) {
                Ok(info) => rings.push((info.grefs, info.port)),
                Err(e) => {
                    self.queues.iter_mut().for_each(|q| q.disconnect());
                    return Err(VbdDeviceError::Setup(e));
                }
            }
        }
        // blkback takes our `feature-persistent = 1` as agreement if it allows persistent grants
        // at all, and says so by writing its own key when it connects.
        let keys = FrontendVbd {
            ring_order: n.ring_order,
            queues: rings,
            persistent: self.wishes.persistent,
        }
        .keys();
        let pairs: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        if let Err(e) = write_keys(client, &paths.frontend, &pairs) {
            self.queues.iter_mut().for_each(|q| q.disconnect());
            return Err(e.into());
        }
        self.ring_order = n.ring_order;
        self.negotiated = None;
        Ok(())
    }

    /// Reads what the backend wrote on connecting — the disk and its features — and starts the
    /// queues with the features both sides agreed on.
    fn start_io(
        &mut self,
        client: &mut Client<T>,
        paths: &DevicePaths,
    ) -> Result<(), VbdDeviceError> {
        let props = read_dir(client, &paths.backend, |get| DiskProps::parse(get))??;
        let fresh = props.disk()?;
        let offer = read_dir(client, &paths.backend, |get| {
            BackendOffer::parse(get, props.sector_size)
        })??;
        let same = self.disk.as_ref().is_some_and(|d| {
            d.sector_size == fresh.sector_size
                && d.physical_sector_size == fresh.physical_sector_size
                && d.read_only == fresh.read_only
        });
        match &self.disk {
            // Keep the disk the upper layer already holds; only its size may have moved.
            Some(d) if same => d.resize(props.sectors),
            _ => {
                let disk = Arc::new(fresh);
                for q in &mut self.queues {
                    q.set_disk(disk.clone());
                }
                self.disk = Some(disk);
            }
        }
        let n = Negotiated {
            ring_order: self.ring_order,
            queues: self.queues.len() as u32,
            features: negotiate(&offer, &self.wishes).features,
        };
        for q in &mut self.queues {
            q.start(n.features).map_err(VbdDeviceError::Setup)?;
        }
        self.negotiated = Some(n);
        if self.resize_token.is_none() {
            let token = format!("xenpv-vbd-sectors:{}", paths.frontend);
            client.watch(&format!("{}/sectors", paths.backend), &token)?;
            self.resize_token = Some(token);
        }
        Ok(())
    }

    fn reconfigure(
        &mut self,
        client: &mut Client<T>,
        paths: &DevicePaths,
    ) -> Result<(), VbdDeviceError> {
        self.read_size(client, paths)
    }

    fn tear_down(&mut self) {
        for q in &mut self.queues {
            q.disconnect();
        }
    }

    /// The `sectors` watch goes with the device, so that another device (or this one attached
    /// again) can watch the same path on the same store connection.
    fn release(&mut self, client: &mut Client<T>, paths: &DevicePaths) -> Result<(), Error> {
        if let Some(token) = self.resize_token.take() {
            client.unwatch(&format!("{}/sectors", paths.backend), &token)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    fn store(keys: &[(String, String)]) -> impl Fn(&str) -> Option<String> + '_ {
        let map: BTreeMap<&str, &str> =
            keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        move |k| map.get(k).map(|v| String::from(*v))
    }

    fn offer() -> BackendOffer {
        BackendOffer {
            max_ring_page_order: 4,
            max_queues: 4,
            persistent: true,
            max_indirect_segments: 256,
            flush: true,
            barrier: false,
            discard: Some(DiscardInfo {
                granularity: 4096,
                alignment: 512,
                secure: true,
            }),
        }
    }

    #[test]
    fn backend_offer_round_trips_and_defaults_to_nothing() {
        let o = offer();
        assert_eq!(BackendOffer::parse(store(&o.keys()), 512), Ok(o));
        let none = BackendOffer::parse(|_| None, 512).unwrap();
        assert_eq!(
            none,
            BackendOffer {
                max_ring_page_order: 0,
                max_queues: 1,
                persistent: false,
                max_indirect_segments: 0,
                flush: false,
                barrier: false,
                discard: None,
            }
        );
        let bare = BackendOffer {
            max_indirect_segments: 0,
            discard: None,
            ..o
        };
        let keys = bare.keys();
        assert!(!keys
            .iter()
            .any(|(k, _)| k == "feature-max-indirect-segments"));
        // discard-granularity defaults to the sector size.
        let d =
            BackendOffer::parse(|k| (k == "feature-discard").then(|| "1".into()), 4096).unwrap();
        assert_eq!(
            d.discard,
            Some(DiscardInfo {
                granularity: 4096,
                alignment: 0,
                secure: false
            })
        );
    }

    #[test]
    fn only_transport_limits_are_published_before_connecting() {
        let o = offer();
        let names =
            |keys: Vec<(String, String)>| keys.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            names(o.setup_keys()),
            ["max-ring-page-order", "multi-queue-max-queues"]
        );
        let at_connect = names(o.connect_keys());
        for key in [
            "feature-persistent",
            "feature-flush-cache",
            "feature-discard",
            "feature-max-indirect-segments",
        ] {
            assert!(at_connect.iter().any(|k| k == key), "{key}");
        }
        // What a frontend reads at setup, with only those keys, offers no feature.
        let early = BackendOffer::parse(store(&o.setup_keys()), 512).unwrap();
        assert_eq!((early.max_ring_page_order, early.max_queues), (4, 4));
        assert!(!early.persistent && early.discard.is_none() && early.max_indirect_segments == 0);
    }

    #[test]
    fn malformed_backend_values_name_their_key() {
        for (key, value) in [
            ("feature-persistent", "yes"),
            ("feature-barrier", "2"),
            ("max-ring-page-order", "-1"),
            ("multi-queue-max-queues", "4294967296"),
            ("feature-max-indirect-segments", "many"),
        ] {
            let err = BackendOffer::parse(|k| (k == key).then(|| value.into()), 512).unwrap_err();
            assert_eq!(
                err,
                VbdError::BadValue {
                    key: key.into(),
                    value: value.into()
                }
            );
        }
        let props = DiskProps::parse(|k| (k == "sector-size").then(|| "512".into()));
        assert_eq!(props, Err(VbdError::Missing("sectors".into())));
    }

    #[test]
    fn disk_properties_become_a_checked_disk() {
        let p = DiskProps {
            sectors: 2048,
            sector_size: 4096,
            physical_sector_size: 4096,
            info: VDISK_READONLY | VDISK_CDROM,
        };
        let back = DiskProps::parse(store(&p.keys())).unwrap();
        assert_eq!(back, p);
        let d = back.disk().unwrap();
        assert!(d.read_only && d.cdrom && !d.removable);
        assert_eq!(d.sectors(), 2048);
        let odd = DiskProps {
            sector_size: 1000,
            ..p
        };
        assert_eq!(
            odd.disk().unwrap_err(),
            VbdError::Disk(DiskError::SectorSize(1000))
        );
        let only_sectors = DiskProps::parse(|k| (k == "sectors").then(|| "8".into())).unwrap();
        assert_eq!(
            (only_sectors.sector_size, only_sectors.physical_sector_size),
            (512, 512)
        );
    }

    #[test]
    fn negotiation_takes_the_smaller_of_offer_and_wish() {
        let wish = FrontWishes {
            persistent: true,
            indirect: true,
            ring_order: 6,
            queues: 8,
        };
        let n = negotiate(&offer(), &wish);
        assert_eq!((n.ring_order, n.queues), (4, 4));
        assert!(n.features.persistent && n.features.flush && !n.features.barrier);
        assert_eq!(n.features.max_indirect_segments, 256);
        let shy = FrontWishes {
            persistent: false,
            indirect: false,
            ring_order: 0,
            queues: 0,
        };
        let n = negotiate(&offer(), &shy);
        assert_eq!((n.ring_order, n.queues), (0, 1));
        assert!(!n.features.persistent);
        assert_eq!(n.features.max_indirect_segments, 0);
    }

    #[test]
    fn frontend_keys_follow_blkif_layout_and_parse_back() {
        let one = FrontendVbd {
            ring_order: 0,
            queues: Vec::from([(Vec::from([8]), 3)]),
            persistent: true,
        };
        let keys = one.keys();
        let get = store(&keys);
        assert_eq!(get("ring-ref").as_deref(), Some("8"));
        assert_eq!(get("event-channel").as_deref(), Some("3"));
        assert_eq!(get("ring-page-order"), None);
        assert_eq!(get("multi-queue-num-queues"), None);
        assert_eq!(FrontendVbd::parse(get, &offer()).unwrap(), one);

        let two = FrontendVbd {
            ring_order: 1,
            queues: Vec::from([(Vec::from([8, 9]), 3), (Vec::from([10, 11]), 4)]),
            persistent: false,
        };
        let keys = two.keys();
        let get = store(&keys);
        assert_eq!(get("queue-1/ring-ref1").as_deref(), Some("11"));
        assert_eq!(get("queue-0/event-channel").as_deref(), Some("3"));
        assert_eq!(get("ring-ref"), None);
        assert_eq!(get("multi-queue-num-queues").as_deref(), Some("2"));
        assert_eq!(FrontendVbd::parse(get, &offer()).unwrap(), two);
    }

    #[test]
    fn inconsistent_frontend_directories_are_refused() {
        let two = FrontendVbd {
            ring_order: 1,
            queues: Vec::from([(Vec::from([8, 9]), 3), (Vec::from([10, 11]), 4)]),
            persistent: true,
        };
        let keys = two.keys();
        let small = BackendOffer {
            max_queues: 1,
            max_ring_page_order: 0,
            ..offer()
        };
        assert_eq!(
            FrontendVbd::parse(store(&keys), &small),
            Err(VbdError::QueueCount {
                requested: 2,
                max: 1
            })
        );
        let one_queue = BackendOffer {
            max_ring_page_order: 0,
            ..offer()
        };
        assert_eq!(
            FrontendVbd::parse(store(&keys), &one_queue),
            Err(VbdError::RingOrder {
                requested: 1,
                max: 0
            })
        );
        let missing: Vec<_> = keys
            .iter()
            .filter(|(k, _)| k != "queue-1/ring-ref1")
            .cloned()
            .collect();
        assert_eq!(
            FrontendVbd::parse(store(&missing), &offer()),
            Err(VbdError::Missing("queue-1/ring-ref1".into()))
        );
        let mut wrong: Vec<_> = keys.clone();
        wrong.retain(|(k, _)| k != "protocol");
        wrong.push(("protocol".into(), "x86_32-abi".into()));
        assert_eq!(
            FrontendVbd::parse(store(&wrong), &offer()),
            Err(VbdError::Protocol("x86_32-abi".into()))
        );
        let zero = [("multi-queue-num-queues".to_string(), "0".to_string())];
        assert_eq!(
            FrontendVbd::parse(store(&zero), &offer()),
            Err(VbdError::QueueCount {
                requested: 0,
                max: 4
            })
        );
    }
}
