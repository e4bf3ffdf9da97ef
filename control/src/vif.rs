//! The xenstore keys of a vif (io/netif.h): what the backend advertises, what the frontend writes,
//! and parsing of both with typed errors. The keys are plain (relative path, value) pairs so that
//! any store client — the xenstore client, a toolstack, the sim netback — can write or read them.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use xenpv_datapath::netif::{EventPorts, QueueKeys, RxAccept, TxCaps};

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

fn num(get: &impl Fn(&str) -> Option<String>, key: &str) -> Result<Option<u32>, VifError> {
    match get(key) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<u32>()
            .map(Some)
            .map_err(|_| VifError::BadValue {
                key: key.to_string(),
                value: v,
            }),
    }
}

fn flag(get: &impl Fn(&str) -> Option<String>, key: &str) -> Result<bool, VifError> {
    match num(get, key)? {
        None | Some(0) => Ok(false),
        Some(1) => Ok(true),
        Some(v) => Err(VifError::BadValue {
            key: key.to_string(),
            value: v.to_string(),
        }),
    }
}

fn required(get: &impl Fn(&str) -> Option<String>, key: &str) -> Result<u32, VifError> {
    num(get, key)?.ok_or_else(|| VifError::Missing(key.to_string()))
}

/// What a backend advertises in its directory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
        ])
    }

    /// Reads a backend directory through `get` (relative key → value).
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Self, VifError> {
        Ok(Self {
            max_queues: num(&get, "multi-queue-max-queues")?.unwrap_or(1).max(1),
            split_event_channels: flag(&get, "feature-split-event-channels")?,
            rx_copy: flag(&get, "feature-rx-copy")?,
            sg: flag(&get, "feature-sg")?,
            gso_tcpv4: flag(&get, "feature-gso-tcpv4")?,
            gso_tcpv6: flag(&get, "feature-gso-tcpv6")?,
            ipv6_csum_offload: flag(&get, "feature-ipv6-csum-offload")?,
            ctrl_ring: flag(&get, "feature-ctrl-ring")?,
            multicast_control: flag(&get, "feature-multicast-control")?,
        })
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
