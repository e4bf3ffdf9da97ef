//! Device enumeration: the frontend devices the toolstack created under `device/<class>/<id>`, and
//! hot-plug / unplug as differences between listings taken on watch events.

use crate::xs::client::{Client, Error, Store, Transport, WatchEvent};
use crate::xs::path;
use crate::xs::XsError;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// A device appearing or disappearing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeviceChange {
    Added { class: String, id: String },
    Removed { class: String, id: String },
}

/// Watches a device root (e.g. `device`, relative to the guest's home, or
/// `/local/domain/<domid>/device`) and reports what changes below it.
#[derive(Debug)]
pub struct DeviceEnumerator {
    root: String,
    token: String,
    /// class → ids present at the last listing.
    known: BTreeMap<String, BTreeSet<String>>,
}

/// A directory's children, or none if it does not exist (a class or the root removed).
fn children<S: Store + ?Sized>(store: &mut S, dir: &str) -> Result<Vec<String>, Error> {
    match store.directory(dir) {
        Ok(c) => Ok(c),
        Err(Error::Xs(XsError::ENOENT)) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

impl DeviceEnumerator {
    /// Watches `root` and lists it; returns every device found as `Added`.
    pub fn start<T: Transport>(
        client: &mut Client<T>,
        root: &str,
    ) -> Result<(Self, Vec<DeviceChange>), Error> {
        let token = format!("xenpv-enum:{root}");
        client.watch(root, &token)?;
        let mut e = DeviceEnumerator {
            root: root.into(),
            token,
            known: BTreeMap::new(),
        };
        let changes = e.rescan(client, None)?;
        Ok((e, changes))
    }

    /// The token of the root watch.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The devices present at the last listing, as (class, id).
    pub fn devices(&self) -> impl Iterator<Item = (&str, &str)> {
        self.known
            .iter()
            .flat_map(|(c, ids)| ids.iter().map(move |i| (c.as_str(), i.as_str())))
    }

    /// The path of a device's frontend directory.
    pub fn device_path(&self, class: &str, id: &str) -> String {
        format!("{}/{class}/{id}", self.root)
    }

    /// Handles a watch event: re-lists the class it concerns (or everything, for an event on the
    /// root itself) and returns the differences. Events of other watches yield nothing.
    pub fn on_watch<T: Transport>(
        &mut self,
        client: &mut Client<T>,
        event: &WatchEvent,
    ) -> Result<Vec<DeviceChange>, Error> {
        if event.token != self.token {
            return Ok(Vec::new());
        }
        let class = event
            .path
            .strip_prefix(self.root.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.split('/').next())
            .filter(|c| !c.is_empty());
        self.rescan(client, class)
    }

    /// Re-lists one class (or all) and diffs against what was known.
    fn rescan<S: Store + ?Sized>(
        &mut self,
        store: &mut S,
        only: Option<&str>,
    ) -> Result<Vec<DeviceChange>, Error> {
        let classes: Vec<String> = match only {
            Some(c) => Vec::from([String::from(c)]),
            None => {
                let mut all = children(store, &self.root)?;
                // Classes that disappeared with the whole listing must be diffed too.
                all.extend(
                    self.known
                        .keys()
                        .filter(|k| !all.contains(k))
                        .cloned()
                        .collect::<Vec<_>>(),
                );
                all
            }
        };
        let mut changes = Vec::new();
        for class in classes {
            let dir = format!("{}/{class}", self.root);
            // A name that does not make a valid path cannot be a device we could talk to.
            if path::validate(&dir, false).is_err() {
                continue;
            }
            let now: BTreeSet<String> = children(store, &dir)?
                .into_iter()
                .filter(|id| path::validate(&format!("{dir}/{id}"), false).is_ok())
                .collect();
            let before = self.known.remove(&class).unwrap_or_default();
            for id in before.difference(&now) {
                changes.push(DeviceChange::Removed {
                    class: class.clone(),
                    id: id.clone(),
                });
            }
            for id in now.difference(&before) {
                changes.push(DeviceChange::Added {
                    class: class.clone(),
                    id: id.clone(),
                });
            }
            if !now.is_empty() {
                self.known.insert(class, now);
            }
        }
        Ok(changes)
    }

    /// Removes the watch.
    pub fn stop<T: Transport>(self, client: &mut Client<T>) -> Result<(), Error> {
        client.unwatch(&self.root, &self.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_peer::{stream_client, MemStream, Peer};
    use crate::xs::client::StreamTransport;
    use alloc::rc::Rc;
    use alloc::vec;
    use core::cell::RefCell;

    type C = Client<StreamTransport<MemStream>>;
    const ROOT: &str = "/local/domain/5/device";

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

    /// Delivers pending events and collects the changes.
    fn pump(c: &mut C, e: &mut DeviceEnumerator) -> Vec<DeviceChange> {
        c.get_domain_path(5).unwrap(); // a round trip, so that pending events are read
        let mut all = Vec::new();
        while let Some(ev) = c.try_event() {
            all.extend(e.on_watch(c, &ev).unwrap());
        }
        all
    }

    fn plug(peer: &Rc<RefCell<Peer>>, class: &str, id: &str) {
        peer.borrow_mut().external_write(
            &format!("{ROOT}/{class}/{id}/backend"),
            b"/local/domain/0/backend/x",
        );
    }

    #[test]
    fn initial_listing_then_hotplug_and_unplug() {
        let (mut c, peer) = stream_client(11);
        plug(&peer, "vif", "0");
        plug(&peer, "vbd", "51712");
        let (mut e, initial) = DeviceEnumerator::start(&mut c, ROOT).unwrap();
        assert_eq!(initial, vec![added("vbd", "51712"), added("vif", "0")]);
        // The watch's initial firing lists the same devices again: no change.
        assert_eq!(pump(&mut c, &mut e), vec![]);

        plug(&peer, "vif", "1");
        assert_eq!(pump(&mut c, &mut e), vec![added("vif", "1")]);
        // Writes inside an existing device are not plug events.
        peer.borrow_mut()
            .external_write(&format!("{ROOT}/vif/1/state"), b"4");
        assert_eq!(pump(&mut c, &mut e), vec![]);

        peer.borrow_mut().external_rm(&format!("{ROOT}/vif/0"));
        assert_eq!(pump(&mut c, &mut e), vec![removed("vif", "0")]);
        let devices: Vec<(&str, &str)> = e.devices().collect();
        assert_eq!(devices, vec![("vbd", "51712"), ("vif", "1")]);
        assert_eq!(e.device_path("vif", "1"), "/local/domain/5/device/vif/1");
    }

    #[test]
    fn removing_a_whole_class_or_the_root_removes_its_devices() {
        let (mut c, peer) = stream_client(64);
        plug(&peer, "vif", "0");
        plug(&peer, "vif", "1");
        plug(&peer, "vbd", "768");
        let (mut e, _) = DeviceEnumerator::start(&mut c, ROOT).unwrap();
        pump(&mut c, &mut e);
        peer.borrow_mut().external_rm(&format!("{ROOT}/vif"));
        assert_eq!(
            pump(&mut c, &mut e),
            vec![removed("vif", "0"), removed("vif", "1")]
        );
        peer.borrow_mut().external_rm(ROOT);
        assert_eq!(pump(&mut c, &mut e), vec![removed("vbd", "768")]);
        assert_eq!(e.devices().count(), 0);
    }

    #[test]
    fn empty_root_and_stop() {
        let (mut c, peer) = stream_client(64);
        let (e, initial) = DeviceEnumerator::start(&mut c, ROOT).unwrap();
        assert!(initial.is_empty());
        e.stop(&mut c).unwrap();
        assert!(peer.borrow().watches.is_empty());
    }

    #[test]
    fn listing_errors_other_than_enoent_propagate() {
        let (mut c, peer) = stream_client(64);
        plug(&peer, "vif", "0");
        peer.borrow_mut().script = Some(alloc::boxed::Box::new(|m| {
            (m.header.msg_type == crate::xs::wire::MsgType::Directory.as_u32()).then(|| {
                vec![crate::test_peer::reply(
                    m,
                    crate::xs::wire::Response::Error(XsError::EACCES),
                )]
            })
        }));
        assert_eq!(
            DeviceEnumerator::start(&mut c, ROOT).unwrap_err(),
            Error::Xs(XsError::EACCES)
        );
    }
}
