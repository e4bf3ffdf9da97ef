//! XENBUS's child devices: one per `device/vif/N` and `device/vbd/N` in the store, plus the one
//! XENIFACE device of the bus, and the PnP IDs each reports (hardware ID from `xenpv_busif`,
//! instance ID `N`).
//!
//! The store listing and its watch are the control plane's `DeviceEnumerator`; this module turns its
//! changes into the set of children XENBUS reports in BusRelations.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use xenpv_busif::{HARDWARE_ID_IFACE, HARDWARE_ID_VBD, HARDWARE_ID_VIF};
use xenpv_control::xenbus::enumerate::DeviceChange;

/// The store directory XENBUS enumerates (relative to the guest's home).
pub const DEVICE_ROOT: &str = "device";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChildKind {
    Vif,
    Vbd,
    Iface,
}

impl ChildKind {
    /// The kind of a store device class, if XENBUS has a driver for it.
    pub fn of_class(class: &str) -> Option<ChildKind> {
        match class {
            "vif" => Some(ChildKind::Vif),
            "vbd" => Some(ChildKind::Vbd),
            _ => None,
        }
    }

    pub fn hardware_id(self) -> &'static str {
        match self {
            ChildKind::Vif => HARDWARE_ID_VIF,
            ChildKind::Vbd => HARDWARE_ID_VBD,
            ChildKind::Iface => HARDWARE_ID_IFACE,
        }
    }
}

/// One child device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Child {
    pub kind: ChildKind,
    /// The xenstore device id (`N` of `device/<class>/N`); 0 for XENIFACE.
    pub id: u32,
}

impl Child {
    pub const IFACE: Child = Child {
        kind: ChildKind::Iface,
        id: 0,
    };

    /// Its frontend directory in the store (none for XENIFACE).
    pub fn store_path(&self) -> Option<String> {
        match self.kind {
            ChildKind::Vif => Some(format!("{DEVICE_ROOT}/vif/{}", self.id)),
            ChildKind::Vbd => Some(format!("{DEVICE_ROOT}/vbd/{}", self.id)),
            ChildKind::Iface => None,
        }
    }

    /// BusQueryHardwareIDs (a REG_MULTI_SZ: the one ID).
    pub fn hardware_ids(&self) -> Vec<u16> {
        multi_sz(&[self.kind.hardware_id()])
    }

    /// BusQueryDeviceID: the first hardware ID.
    pub fn device_id(&self) -> Vec<u16> {
        sz(self.kind.hardware_id())
    }

    /// BusQueryCompatibleIDs: `XENPV\CLASS` serves as its own compatible ID too, so one INF line
    /// matches either way.
    pub fn compatible_ids(&self) -> Vec<u16> {
        multi_sz(&[self.kind.hardware_id()])
    }

    /// BusQueryInstanceID: the device id, unique among children of the same hardware ID.
    pub fn instance_id(&self) -> Vec<u16> {
        sz(&format!("{}", self.id))
    }

    /// DeviceTextDescription.
    pub fn description(&self) -> Vec<u16> {
        sz(&match self.kind {
            ChildKind::Vif => format!("Xen PV network device {}", self.id),
            ChildKind::Vbd => format!("Xen PV disk {}", self.id),
            ChildKind::Iface => String::from("Xen PV interface"),
        })
    }
}

/// A NUL-terminated UTF-16 string.
pub fn sz(s: &str) -> Vec<u16> {
    s.encode_utf16().chain([0]).collect()
}

/// A REG_MULTI_SZ: each string NUL-terminated, then one more NUL.
pub fn multi_sz(strings: &[&str]) -> Vec<u16> {
    let mut out: Vec<u16> = strings.iter().flat_map(|s| sz(s)).collect();
    out.push(0);
    out
}

/// A store entry XENBUS cannot make a child of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skipped {
    /// A class without a XENBUS child driver (e.g. `console`, `vkbd`).
    Class(String),
    /// An id that is not a decimal number below 2^32.
    Id { class: String, id: String },
}

/// The children of one bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Children {
    present: BTreeSet<Child>,
}

impl Default for Children {
    fn default() -> Self {
        Children::new()
    }
}

impl Children {
    /// A bus with only its XENIFACE child.
    pub fn new() -> Self {
        Children {
            present: BTreeSet::from([Child::IFACE]),
        }
    }

    /// Applies the enumerator's changes; says whether the set changed (then BusRelations must be
    /// re-queried) and what was skipped.
    pub fn apply(&mut self, changes: &[DeviceChange]) -> (bool, Vec<Skipped>) {
        let mut changed = false;
        let mut skipped = Vec::new();
        for c in changes {
            let (class, id, added) = match c {
                DeviceChange::Added { class, id } => (class, id, true),
                DeviceChange::Removed { class, id } => (class, id, false),
            };
            let Some(kind) = ChildKind::of_class(class) else {
                skipped.push(Skipped::Class(class.clone()));
                continue;
            };
            // Leading zeros or signs would give two store names the same instance ID.
            let Some(n) = id.parse::<u32>().ok().filter(|n| format!("{n}") == *id) else {
                skipped.push(Skipped::Id {
                    class: class.clone(),
                    id: id.clone(),
                });
                continue;
            };
            let child = Child { kind, id: n };
            changed |= if added {
                self.present.insert(child)
            } else {
                self.present.remove(&child)
            };
        }
        (changed, skipped)
    }

    /// The children to report, in a stable order.
    pub fn present(&self) -> impl Iterator<Item = &Child> {
        self.present.iter()
    }

    pub fn contains(&self, c: &Child) -> bool {
        self.present.contains(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    fn added(class: &str, id: &str) -> DeviceChange {
        DeviceChange::Added {
            class: class.into(),
            id: id.into(),
        }
    }

    fn removed(class: &str, id: &str) -> DeviceChange {
        DeviceChange::Removed {
            class: class.into(),
            id: id.into(),
        }
    }

    #[test]
    fn vifs_and_vbds_come_and_go_and_iface_stays() {
        let mut c = Children::new();
        assert_eq!(c.present().copied().collect::<Vec<_>>(), [Child::IFACE]);
        let (changed, skipped) =
            c.apply(&[added("vif", "0"), added("vbd", "768"), added("vbd", "5632")]);
        assert!(changed && skipped.is_empty());
        let vbd = Child {
            kind: ChildKind::Vbd,
            id: 768,
        };
        assert!(c.contains(&vbd));
        assert_eq!(c.present().count(), 4);
        assert!(!c.apply(&[added("vif", "0")]).0, "already there");
        assert!(c.apply(&[removed("vbd", "768")]).0);
        assert!(!c.contains(&vbd));
        assert!(!c.apply(&[removed("vbd", "768")]).0, "already gone");
        assert!(c.contains(&Child::IFACE));
    }

    #[test]
    fn entries_without_a_child_are_skipped_and_said() {
        let mut c = Children::new();
        let (changed, skipped) = c.apply(&[
            added("console", "0"),
            added("vif", "x1"),
            added("vif", "007"),
            added("vif", "-1"),
            added("vif", "4294967296"),
        ]);
        assert!(!changed);
        assert_eq!(
            skipped,
            vec![
                Skipped::Class("console".into()),
                Skipped::Id {
                    class: "vif".into(),
                    id: "x1".into()
                },
                Skipped::Id {
                    class: "vif".into(),
                    id: "007".into()
                },
                Skipped::Id {
                    class: "vif".into(),
                    id: "-1".into()
                },
                Skipped::Id {
                    class: "vif".into(),
                    id: "4294967296".into()
                },
            ]
        );
    }

    #[test]
    fn pnp_ids_are_utf16_with_the_busif_hardware_ids() {
        let vif = Child {
            kind: ChildKind::Vif,
            id: 3,
        };
        let text = |v: Vec<u16>| String::from_utf16(&v).unwrap();
        assert_eq!(text(vif.hardware_ids()), "XENPV\\VIF\0\0");
        assert_eq!(text(vif.device_id()), "XENPV\\VIF\0");
        assert_eq!(text(vif.instance_id()), "3\0");
        assert_eq!(text(Child::IFACE.compatible_ids()), "XENPV\\IFACE\0\0");
        assert_eq!(vif.store_path().as_deref(), Some("device/vif/3"));
        assert_eq!(Child::IFACE.store_path(), None);
        assert_eq!(text(multi_sz(&[])), "\0");
        assert!(text(vif.description()).starts_with("Xen PV network"));
    }
}
