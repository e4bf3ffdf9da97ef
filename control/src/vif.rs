//! The xenstore keys of a vif (io/netif.h): what the backend advertises, what the frontend writes,
//! and parsing of both with typed errors. The keys are plain (relative path, value) pairs so that
//! any store client — the xenstore client, a toolstack, the sim netback — can write or read them.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use xenpv_datapath::netif::{EventPorts, QueueKeys, RxAccept, TxCaps};

use crate::xenbus::features::{
    parse_flag, parse_number, read_features, write_keys, FeatureError, Features, Parser,
};
use crate::xenbus::{Announce, DevicePaths, FrontendDevice};
use crate::xs::client::{Client, Error as XsClientError, Store, Transport, WatchEvent};
use alloc::sync::Arc;
use xenpv_datapath::netif::{Netfront, NetfrontConfig, NetifError, Quarantine, TxDone, TxPacket};
use xenpv_datapath::platform::Platform;

/// A key that is missing or does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VifError {
    /// A required key is absent.
    Missing(String),
    /// A key's value is not what the protocol allows.
    BadValue {
        /// The key.
        key: String,
        /// Its value.
        value: String,
    },
    /// The frontend asked for more queues than the backend offers (or none).
    QueueCount {
        /// Asked.
        requested: u32,
        /// Offered.
        max: u32,
    },
    /// A feature the backend requires was not requested (rx-copy, rx-notify).
    Required(&'static str),
}

impl fmt::Display for VifError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VifError::Missing(k) => write!(f, "missing key {k}"),
            VifError::BadValue { key, value } => write!(f, "key {key} has bad value {value:?}"),
            VifError::QueueCount { requested, max } => {
                write!(f, "{requested} queues requested, backend offers 1..={max}")
            }
            VifError::Required(k) => write!(f, "backend requires {k}"),
        }
    }
}

fn bad(key: &str, value: &str) -> VifError {
    VifError::BadValue {
        key: key.to_string(),
        value: value.to_string(),
    }
}

fn num(get: &impl Fn(&str) -> Option<String>, key: &str) -> Result<Option<u32>, VifError> {
    get(key)
        .map(|v| parse_number(&v).map_err(|_| bad(key, &v)))
        .transpose()
}

fn flag(get: &impl Fn(&str) -> Option<String>, key: &str) -> Result<bool, VifError> {
    get(key)
        .map(|v| parse_flag(&v).map_err(|_| bad(key, &v)))
        .transpose()
        .map(|f| f.unwrap_or(false))
}

fn required(get: &impl Fn(&str) -> Option<String>, key: &str) -> Result<u32, VifError> {
    num(get, key)?.ok_or_else(|| VifError::Missing(key.to_string()))
}

/// What a backend advertises in its directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendFeatures {
    /// `multi-queue-max-queues` (1 when absent).
    pub max_queues: u32,
    /// `feature-split-event-channels`.
    pub split_event_channels: bool,
    /// `feature-rx-copy`.
    pub rx_copy: bool,
    /// `feature-sg`.
    pub sg: bool,
    /// `feature-gso-tcpv4`.
    pub gso_tcpv4: bool,
    /// `feature-gso-tcpv6`.
    pub gso_tcpv6: bool,
    /// `feature-ipv6-csum-offload`.
    pub ipv6_csum_offload: bool,
    /// `feature-ctrl-ring`.
    pub ctrl_ring: bool,
    /// `feature-multicast-control`.
    pub multicast_control: bool,
    /// `feature-dynamic-multicast-control`: `request-multicast-control` may change while
    /// connected (Linux netback watches it).
    pub dynamic_multicast_control: bool,
}

impl Default for BackendFeatures {
    /// A backend that advertises nothing: one queue, no features.
    fn default() -> Self {
        Self {
            max_queues: 1,
            split_event_channels: false,
            rx_copy: false,
            sg: false,
            gso_tcpv4: false,
            gso_tcpv6: false,
            ipv6_csum_offload: false,
            ctrl_ring: false,
            multicast_control: false,
            dynamic_multicast_control: false,
        }
    }
}

impl Features for BackendFeatures {
    const KEYS: &'static [(&'static str, Parser<Self>)] = &[
        ("multi-queue-max-queues", |f, v| {
            f.max_queues = parse_number::<u32>(v)?.max(1);
            Ok(())
        }),
        ("feature-split-event-channels", |f, v| {
            f.split_event_channels = parse_flag(v)?;
            Ok(())
        }),
        ("feature-rx-copy", |f, v| {
            f.rx_copy = parse_flag(v)?;
            Ok(())
        }),
        ("feature-sg", |f, v| {
            f.sg = parse_flag(v)?;
            Ok(())
        }),
        ("feature-gso-tcpv4", |f, v| {
            f.gso_tcpv4 = parse_flag(v)?;
            Ok(())
        }),
        ("feature-gso-tcpv6", |f, v| {
            f.gso_tcpv6 = parse_flag(v)?;
            Ok(())
        }),
        ("feature-ipv6-csum-offload", |f, v| {
            f.ipv6_csum_offload = parse_flag(v)?;
            Ok(())
        }),
        ("feature-ctrl-ring", |f, v| {
            f.ctrl_ring = parse_flag(v)?;
            Ok(())
        }),
        ("feature-multicast-control", |f, v| {
            f.multicast_control = parse_flag(v)?;
            Ok(())
        }),
        ("feature-dynamic-multicast-control", |f, v| {
            f.dynamic_multicast_control = parse_flag(v)?;
            Ok(())
        }),
    ];
}

impl BackendFeatures {
    /// The keys a backend writes.
    pub fn keys(&self) -> Vec<(String, String)> {
        let b = |v: bool| String::from(if v { "1" } else { "0" });
        Vec::from([
            ("multi-queue-max-queues".into(), self.max_queues.to_string()),
            (
                "feature-split-event-channels".into(),
                b(self.split_event_channels),
            ),
            ("feature-rx-copy".into(), b(self.rx_copy)),
            ("feature-sg".into(), b(self.sg)),
            ("feature-gso-tcpv4".into(), b(self.gso_tcpv4)),
            ("feature-gso-tcpv6".into(), b(self.gso_tcpv6)),
            (
                "feature-ipv6-csum-offload".into(),
                b(self.ipv6_csum_offload),
            ),
            ("feature-ctrl-ring".into(), b(self.ctrl_ring)),
            (
                "feature-multicast-control".into(),
                b(self.multicast_control),
            ),
            (
                "feature-dynamic-multicast-control".into(),
                b(self.dynamic_multicast_control),
            ),
        ])
    }

    /// Reads a backend directory through `get` (relative key → value).
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Self, VifError> {
        let mut f = Self::default();
        for (key, parse) in Self::KEYS {
            if let Some(v) = get(key) {
                parse(&mut f, &v).map_err(|_| bad(key, &v))?;
            }
        }
        Ok(f)
    }

    /// What the frontend may send, given these features.
    pub fn tx_caps(&self) -> TxCaps {
        TxCaps {
            sg: self.sg,
            gso_tcpv4: self.gso_tcpv4 && self.sg,
            gso_tcpv6: self.gso_tcpv6 && self.sg,
        }
    }
}

/// What a frontend writes in its directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrontendVif {
    /// One entry per queue.
    pub queues: Vec<QueueKeys>,
    /// `feature-sg`: we accept multi-slot receives.
    pub sg: bool,
    /// `feature-gso-tcpv4`: we accept large IPv4 receives.
    pub gso_tcpv4: bool,
    /// `feature-gso-tcpv6`.
    pub gso_tcpv6: bool,
    /// `feature-no-csum-offload`: we cannot take blank IPv4 checksums.
    pub no_csum_offload: bool,
    /// `feature-ipv6-csum-offload`.
    pub ipv6_csum_offload: bool,
    /// `request-multicast-control`.
    pub multicast_control: bool,
    /// `ctrl-ring-ref` and `event-channel-ctrl`.
    pub ctrl: Option<(u32, u32)>,
}

impl FrontendVif {
    /// What the frontend asks to receive.
    pub fn rx_accept(&self) -> RxAccept {
        RxAccept {
            gso: self.gso_tcpv4 || self.gso_tcpv6,
            hash: false,
        }
    }

    /// The keys to write (relative to the frontend directory), as netif.h lays them out: top-level
    /// ring and event channel keys for one queue, `queue-N/…` for several.
    pub fn keys(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut put = |k: String, v: u32| out.push((k, v.to_string()));
        let multi = self.queues.len() > 1;
        if multi {
            put("multi-queue-num-queues".into(), self.queues.len() as u32);
        }
        for (i, q) in self.queues.iter().enumerate() {
            let prefix = if multi {
                format!("queue-{i}/")
            } else {
                String::new()
            };
            put(format!("{prefix}tx-ring-ref"), q.tx_ring_ref);
            put(format!("{prefix}rx-ring-ref"), q.rx_ring_ref);
            match q.ports {
                EventPorts::Shared(p) => put(format!("{prefix}event-channel"), p),
                EventPorts::Split { tx, rx } => {
                    put(format!("{prefix}event-channel-tx"), tx);
                    put(format!("{prefix}event-channel-rx"), rx);
                }
            }
        }
        put("request-rx-copy".into(), 1);
        put("feature-rx-notify".into(), 1);
        put("feature-sg".into(), u32::from(self.sg));
        put("feature-gso-tcpv4".into(), u32::from(self.gso_tcpv4));
        put("feature-gso-tcpv6".into(), u32::from(self.gso_tcpv6));
        put(
            "feature-no-csum-offload".into(),
            u32::from(self.no_csum_offload),
        );
        put(
            "feature-ipv6-csum-offload".into(),
            u32::from(self.ipv6_csum_offload),
        );
        put(
            "request-multicast-control".into(),
            u32::from(self.multicast_control),
        );
        if let Some((gref, port)) = self.ctrl {
            put("ctrl-ring-ref".into(), gref);
            put("event-channel-ctrl".into(), port);
        }
        out
    }

    /// Reads a frontend directory as netback does, checking it against what `backend` offers.
    pub fn parse(
        get: impl Fn(&str) -> Option<String>,
        backend: &BackendFeatures,
    ) -> Result<Self, VifError> {
        let requested = num(&get, "multi-queue-num-queues")?.unwrap_or(1);
        if requested == 0 || requested > backend.max_queues {
            return Err(VifError::QueueCount {
                requested,
                max: backend.max_queues,
            });
        }
        let queues = (0..requested)
            .map(|i| {
                let prefix = if requested > 1 {
                    format!("queue-{i}/")
                } else {
                    String::new()
                };
                let key = |k: &str| format!("{prefix}{k}");
                let ports = match num(&get, &key("event-channel-tx"))? {
                    Some(tx) => EventPorts::Split {
                        tx,
                        rx: required(&get, &key("event-channel-rx"))?,
                    },
                    None => EventPorts::Shared(required(&get, &key("event-channel"))?),
                };
                Ok(QueueKeys {
                    tx_ring_ref: required(&get, &key("tx-ring-ref"))?,
                    rx_ring_ref: required(&get, &key("rx-ring-ref"))?,
                    ports,
                })
            })
            .collect::<Result<Vec<_>, VifError>>()?;
        if !flag(&get, "request-rx-copy")? {
            return Err(VifError::Required("request-rx-copy"));
        }
        if !flag(&get, "feature-rx-notify")? {
            return Err(VifError::Required("feature-rx-notify"));
        }
        let ctrl = match num(&get, "ctrl-ring-ref")? {
            Some(gref) => Some((gref, required(&get, "event-channel-ctrl")?)),
            None => None,
        };
        Ok(Self {
            queues,
            sg: flag(&get, "feature-sg")?,
            gso_tcpv4: flag(&get, "feature-gso-tcpv4")?,
            gso_tcpv6: flag(&get, "feature-gso-tcpv6")?,
            no_csum_offload: flag(&get, "feature-no-csum-offload")?,
            ipv6_csum_offload: flag(&get, "feature-ipv6-csum-offload")?,
            multicast_control: flag(&get, "request-multicast-control")?,
            ctrl,
        })
    }
}

/// What a vif frontend would like; negotiation caps it at what the backend offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VifWishes {
    /// Queues (Linux netfront: min(8, CPUs)).
    pub queues: u16,
    /// Split event channels.
    pub split_event_channels: bool,
    /// Accept large receives.
    pub gso_rx: bool,
    /// Use the ctrl ring (RSS).
    pub ctrl_ring: bool,
    /// Ask the backend to filter multicast.
    pub multicast_control: bool,
}

impl Default for VifWishes {
    fn default() -> Self {
        Self {
            queues: 8,
            split_event_channels: true,
            gso_rx: true,
            ctrl_ring: true,
            multicast_control: false,
        }
    }
}

/// What was agreed with the backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// What the backend offered.
    pub backend: BackendFeatures,
    /// How the netfront was built.
    pub config: NetfrontConfig,
    /// The keys we wrote.
    pub frontend: FrontendVif,
}

/// The netfront configuration for a backend offering `backend`, and what the frontend keys will
/// ask for in return.
pub fn negotiate(
    backend: &BackendFeatures,
    backend_domid: u16,
    wishes: &VifWishes,
) -> NetfrontConfig {
    NetfrontConfig {
        backend: backend_domid,
        queues: wishes
            .queues
            .clamp(1, backend.max_queues.min(u32::from(u16::MAX)) as u16),
        split_event_channels: wishes.split_event_channels && backend.split_event_channels,
        tx: backend.tx_caps(),
        rx: RxAccept {
            gso: wishes.gso_rx,
            hash: false,
        },
        ctrl_ring: wishes.ctrl_ring && backend.ctrl_ring,
    }
}

/// Why a vif could not connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VifDeviceError {
    /// The store failed.
    Store(XsClientError),
    /// The backend wrote a malformed feature key.
    Feature(&'static str),
    /// The backend cannot copy into our buffers (no `feature-rx-copy`), which netfront requires.
    NoRxCopy,
    /// Rings, grants or event channels could not be set up.
    Setup(NetifError),
    /// The backend does not offer this feature (or is not connected).
    NotOffered(&'static str),
}

impl From<XsClientError> for VifDeviceError {
    fn from(e: XsClientError) -> Self {
        VifDeviceError::Store(e)
    }
}

/// The vif half of a xenbus frontend: builds the [`Netfront`] when the backend waits for us,
/// writes the keys, starts it when the backend connects, and tears it down when the backend goes
/// (in-flight packets then complete with `Disconnected`, collected for the owner).
pub struct VifFrontend<P, Pl> {
    platform: Arc<Pl>,
    wishes: VifWishes,
    front: Option<Netfront<P>>,
    negotiated: Option<Negotiated>,
    quarantine: Quarantine,
    aborted: Vec<TxDone<P>>,
    /// The token of our watch on the backend's `carrier`, once registered.
    carrier_token: Option<String>,
}

impl<P: TxPacket, Pl: Platform> VifFrontend<P, Pl> {
    /// A vif that will ask for `wishes`.
    pub fn new(platform: Arc<Pl>, wishes: VifWishes) -> Self {
        Self {
            platform,
            wishes,
            front: None,
            negotiated: None,
            quarantine: Quarantine::default(),
            aborted: Vec::new(),
            carrier_token: None,
        }
    }

    /// The data plane while connected.
    pub fn netfront(&mut self) -> Option<&mut Netfront<P>> {
        self.front.as_mut()
    }

    /// The platform the data plane runs on.
    pub fn platform(&self) -> &Arc<Pl> {
        &self.platform
    }

    /// What was negotiated on the last setup.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// Completions of packets that were in flight when the device was torn down.
    pub fn take_aborted(&mut self) -> Vec<TxDone<P>> {
        core::mem::take(&mut self.aborted)
    }

    /// Regions a departed backend still maps; retried at every teardown.
    pub fn quarantine(&mut self) -> &mut Quarantine {
        &mut self.quarantine
    }

    /// Handles a watch event of the `carrier` watch the device registers once connected (others
    /// are ignored, `None`): the link follows the backend's carrier without the owner polling.
    pub fn on_watch<T: Transport>(
        &mut self,
        client: &mut Client<T>,
        paths: &DevicePaths,
        event: &WatchEvent,
    ) -> Result<Option<bool>, VifDeviceError> {
        if self.carrier_token.as_deref() != Some(event.token.as_str()) {
            return Ok(None);
        }
        self.update_link(client, paths).map(Some)
    }

    /// Turns the backend's multicast filtering on or off while connected, by rewriting
    /// `request-multicast-control`, which a backend offering `feature-dynamic-multicast-control`
    /// watches. The choice also holds for later connections.
    pub fn set_multicast_control<T: Transport>(
        &mut self,
        client: &mut Client<T>,
        paths: &DevicePaths,
        on: bool,
    ) -> Result<(), VifDeviceError> {
        let offered =
            |n: &Negotiated| n.backend.multicast_control && n.backend.dynamic_multicast_control;
        let Some(n) = self.negotiated.as_mut().filter(|n| offered(n)) else {
            return Err(VifDeviceError::NotOffered(
                "feature-dynamic-multicast-control",
            ));
        };
        let value = if on { "1" } else { "0" };
        write_keys(
            client,
            &paths.frontend,
            &[("request-multicast-control", value)],
        )?;
        n.frontend.multicast_control = on;
        self.wishes.multicast_control = on;
        Ok(())
    }

    /// Reads the backend's `carrier` key (absent means up, netif.h) and applies it.
    pub fn update_link<T: Transport>(
        &mut self,
        client: &mut Client<T>,
        paths: &DevicePaths,
    ) -> Result<bool, VifDeviceError> {
        let up = match client.try_read(&format!("{}/carrier", paths.backend))? {
            None => true,
            Some(v) => match core::str::from_utf8(&v).ok().map(parse_flag) {
                Some(Ok(up)) => up,
                _ => return Err(VifDeviceError::Feature("carrier")),
            },
        };
        if let Some(f) = &mut self.front {
            f.set_link(up);
        }
        Ok(up)
    }
}

impl<T: Transport, P: TxPacket, Pl: Platform> FrontendDevice<T> for VifFrontend<P, Pl> {
    type Error = VifDeviceError;
    /// xen-netback connects when the frontend says Connected and ignores Initialised.
    const ANNOUNCE: Announce = Announce::Connected;

    fn setup(&mut self, client: &mut Client<T>, paths: &DevicePaths) -> Result<(), VifDeviceError> {
        let backend: BackendFeatures =
            read_features(client, &paths.backend).map_err(|e| match e {
                FeatureError::Store(e) => VifDeviceError::Store(e),
                FeatureError::BadValue { key } => VifDeviceError::Feature(key),
            })?;
        if !backend.rx_copy {
            return Err(VifDeviceError::NoRxCopy);
        }
        self.quarantine.retry(&*self.platform);
        let config = negotiate(&backend, paths.backend_domid, &self.wishes);
        let mut front = Netfront::new(&*self.platform, config, &mut self.quarantine)
            .map_err(VifDeviceError::Setup)?;
        let frontend = FrontendVif {
            queues: front.queues().iter().map(|q| q.keys()).collect(),
            sg: true,
            gso_tcpv4: self.wishes.gso_rx,
            gso_tcpv6: self.wishes.gso_rx,
            no_csum_offload: false,
            ipv6_csum_offload: true,
            multicast_control: self.wishes.multicast_control && backend.multicast_control,
            ctrl: front.ctrl_mut().map(|c| (c.ring_ref(), c.port())),
        };
        let keys = frontend.keys();
        let pairs: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        if let Err(e) = write_keys(client, &paths.frontend, &pairs) {
            front.teardown(
                &*self.platform,
                &mut |d| self.aborted.push(d),
                &mut self.quarantine,
            );
            return Err(e.into());
        }
        self.front = Some(front);
        self.negotiated = Some(Negotiated {
            backend,
            config,
            frontend,
        });
        Ok(())
    }

    fn start_io(
        &mut self,
        client: &mut Client<T>,
        paths: &DevicePaths,
    ) -> Result<(), VifDeviceError> {
        self.update_link(client, paths)?;
        if let Some(f) = &mut self.front {
            f.start(&*self.platform);
        }
        if self.carrier_token.is_none() {
            let token = format!("xenpv-vif-carrier:{}", paths.frontend);
            client.watch(&format!("{}/carrier", paths.backend), &token)?;
            self.carrier_token = Some(token);
        }
        Ok(())
    }

    fn reconfigure(
        &mut self,
        client: &mut Client<T>,
        paths: &DevicePaths,
    ) -> Result<(), VifDeviceError> {
        self.update_link(client, paths).map(|_| ())
    }

    fn tear_down(&mut self) {
        if let Some(front) = self.front.take() {
            let aborted = &mut self.aborted;
            front.teardown(
                &*self.platform,
                &mut |d| aborted.push(d),
                &mut self.quarantine,
            );
        }
    }

    /// The `carrier` watch goes with the device, so that another device (or this one attached
    /// again) can watch the same path on the same store connection.
    fn release(
        &mut self,
        client: &mut Client<T>,
        paths: &DevicePaths,
    ) -> Result<(), XsClientError> {
        if let Some(token) = self.carrier_token.take() {
            client.unwatch(&format!("{}/carrier", paths.backend), &token)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    fn store(keys: &[(String, String)]) -> impl Fn(&str) -> Option<String> + '_ {
        let map: BTreeMap<&str, &str> = keys.iter().map(|(k, v)| (&**k, &**v)).collect();
        move |k| map.get(k).map(|v| v.to_string())
    }

    fn backend() -> BackendFeatures {
        BackendFeatures {
            max_queues: 4,
            split_event_channels: true,
            rx_copy: true,
            sg: true,
            gso_tcpv4: true,
            gso_tcpv6: false,
            ipv6_csum_offload: true,
            ctrl_ring: true,
            multicast_control: true,
            dynamic_multicast_control: true,
        }
    }

    fn front(queues: usize, split: bool) -> FrontendVif {
        FrontendVif {
            queues: (0..queues as u32)
                .map(|i| QueueKeys {
                    tx_ring_ref: 100 + i,
                    rx_ring_ref: 200 + i,
                    ports: if split {
                        EventPorts::Split {
                            tx: 10 + i,
                            rx: 20 + i,
                        }
                    } else {
                        EventPorts::Shared(30 + i)
                    },
                })
                .collect(),
            sg: true,
            gso_tcpv4: true,
            gso_tcpv6: false,
            no_csum_offload: false,
            ipv6_csum_offload: true,
            multicast_control: true,
            ctrl: Some((300, 40)),
        }
    }

    #[test]
    fn backend_features_round_trip_and_default_to_off() {
        let b = backend();
        let keys = b.keys();
        assert_eq!(BackendFeatures::parse(store(&keys)), Ok(b));
        let none = BackendFeatures::parse(|_| None).unwrap();
        assert_eq!(none.max_queues, 1);
        assert!(!none.sg && !none.gso_tcpv4 && !none.ctrl_ring);
        let caps = b.tx_caps();
        assert!(caps.sg && caps.gso_tcpv4 && !caps.gso_tcpv6);
    }

    #[test]
    fn one_queue_uses_top_level_keys_and_several_use_queue_dirs() {
        let one = front(1, false);
        let keys = one.keys();
        let get = store(&keys);
        assert_eq!(get("tx-ring-ref").as_deref(), Some("100"));
        assert_eq!(get("event-channel").as_deref(), Some("30"));
        assert!(get("multi-queue-num-queues").is_none());
        assert_eq!(FrontendVif::parse(get, &backend()), Ok(one));

        let two = front(2, true);
        let keys = two.keys();
        let get = store(&keys);
        assert_eq!(get("multi-queue-num-queues").as_deref(), Some("2"));
        assert_eq!(get("queue-1/rx-ring-ref").as_deref(), Some("201"));
        assert_eq!(get("queue-1/event-channel-rx").as_deref(), Some("21"));
        assert!(get("tx-ring-ref").is_none());
        assert_eq!(FrontendVif::parse(get, &backend()), Ok(two));
    }

    #[test]
    fn inconsistent_frontend_directories_are_refused() {
        let mut keys = front(2, true).keys();
        keys.retain(|(k, _)| k != "queue-1/tx-ring-ref");
        assert_eq!(
            FrontendVif::parse(store(&keys), &backend()),
            Err(VifError::Missing("queue-1/tx-ring-ref".into()))
        );
        let mut keys = front(1, false).keys();
        keys.push(("multi-queue-num-queues".into(), "9".into()));
        assert_eq!(
            FrontendVif::parse(store(&keys), &backend()),
            Err(VifError::QueueCount {
                requested: 9,
                max: 4
            })
        );
        let mut keys = front(1, false).keys();
        keys.retain(|(k, _)| k != "request-rx-copy");
        assert_eq!(
            FrontendVif::parse(store(&keys), &backend()),
            Err(VifError::Required("request-rx-copy"))
        );
        let mut keys = front(1, false).keys();
        for (k, v) in &mut keys {
            if k == "feature-sg" {
                *v = "yes".into();
            }
        }
        assert!(matches!(
            FrontendVif::parse(store(&keys), &backend()),
            Err(VifError::BadValue { .. })
        ));
    }
}
