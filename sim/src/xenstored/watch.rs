//! Watches and the events changes cause (xenstore.txt, WATCH / WATCH_EVENT).

use super::perms::{rights, Caller, READ};
use super::tree::is_under;
use xenpv_control::xs::perm::Perm;

/// One registered watch of a connection.
#[derive(Clone, Debug)]
pub struct Watch {
    /// The path as the client gave it: events are reported relative to the home if it was relative.
    pub given: String,
    /// Absolute path, or the special name (`@releaseDomain`).
    pub abs: String,
    pub token: String,
}

impl Watch {
    /// Turns an absolute event path into what this watch's owner is told.
    fn report(&self, abs_event: &str) -> String {
        if self.given == self.abs {
            return abs_event.to_owned();
        }
        // Relative watch: abs = home + "/" + given, and the event lies at or below abs.
        let home_len = self.abs.len() - self.given.len();
        abs_event[home_len..].to_owned()
    }

    /// The path to report if `change` triggers this watch for `caller`, `None` if it does not.
    /// `special` gives the permissions of a special name (who may see `@releaseDomain`).
    pub fn event_for(
        &self,
        change: &Change,
        caller: &Caller,
        special: impl Fn(&str) -> Vec<Perm>,
    ) -> Option<String> {
        let readable = |perms: &[Perm]| rights(caller, perms) & READ != 0;
        match change {
            Change::Special(name) => {
                (self.abs == *name && readable(&special(name))).then(|| name.clone())
            }
            Change::Node { path, perms } => (is_under(path, &self.abs)
                && perms.iter().all(|p| readable(p)))
            .then(|| self.report(path)),
            Change::Removed(nodes) => {
                let (root, root_perms) = nodes.first()?;
                if is_under(root, &self.abs) {
                    return readable(root_perms).then(|| self.report(root));
                }
                // The watched path went away with an ancestor: xenstore.txt says the event names the
                // watched path itself. Its visibility is that of the deepest removed node above it.
                let perms = nodes
                    .iter()
                    .filter(|(p, _)| is_under(&self.abs, p))
                    .max_by_key(|(p, _)| p.len())?;
                readable(&perms.1).then(|| self.given.clone())
            }
        }
    }
}

/// Something that happened to the store, matched against every watch.
#[derive(Clone, Debug)]
pub enum Change {
    /// A node was created, written or had its permissions changed. A watcher sees the event only if
    /// it may read the node under every permission set listed (old and new ones for SET_PERMS).
    Node { path: String, perms: Vec<Vec<Perm>> },
    /// A subtree was removed: its nodes and their permissions, the subtree's root first.
    Removed(Vec<(String, Vec<Perm>)>),
    /// `@introduceDomain` or `@releaseDomain`.
    Special(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use xenpv_control::xs::perm::Access;

    fn watch(given: &str, abs: &str) -> Watch {
        Watch {
            given: given.into(),
            abs: abs.into(),
            token: "t".into(),
        }
    }
    const DOM0: Caller = Caller {
        domid: 0,
        privileged: true,
        target: None,
    };
    const GUEST: Caller = Caller {
        domid: 3,
        privileged: false,
        target: None,
    };
    fn open() -> Vec<Perm> {
        vec![Perm::new(0, Access::Read)]
    }
    fn closed() -> Vec<Perm> {
        vec![Perm::new(0, Access::None)]
    }
    fn none(_: &str) -> Vec<Perm> {
        vec![Perm::new(0, Access::None)]
    }

    #[test]
    fn node_changes_match_the_watched_subtree_only() {
        let w = watch("/a", "/a");
        let ch = |p: &str| Change::Node {
            path: p.into(),
            perms: vec![open()],
        };
        assert_eq!(
            w.event_for(&ch("/a/b/c"), &DOM0, none),
            Some("/a/b/c".into())
        );
        assert_eq!(w.event_for(&ch("/a"), &DOM0, none), Some("/a".into()));
        assert_eq!(w.event_for(&ch("/ab"), &DOM0, none), None);
        assert_eq!(w.event_for(&ch("/"), &DOM0, none), None);
    }

    #[test]
    fn relative_watches_get_relative_paths() {
        let w = watch("device", "/local/domain/3/device");
        let ch = Change::Node {
            path: "/local/domain/3/device/vif/0".into(),
            perms: vec![vec![Perm::new(3, Access::None)]],
        };
        assert_eq!(w.event_for(&ch, &GUEST, none), Some("device/vif/0".into()));
    }

    #[test]
    fn unreadable_nodes_are_filtered() {
        let w = watch("/a", "/a");
        let ch = Change::Node {
            path: "/a/x".into(),
            perms: vec![closed()],
        };
        assert_eq!(w.event_for(&ch, &GUEST, none), None);
        assert!(w.event_for(&ch, &DOM0, none).is_some());
        let both = Change::Node {
            path: "/a/x".into(),
            perms: vec![open(), closed()],
        };
        assert_eq!(w.event_for(&both, &GUEST, none), None);
    }

    #[test]
    fn removal_reports_the_root_above_and_the_watch_path_below() {
        let removed = Change::Removed(vec![("/a".into(), open()), ("/a/b".into(), closed())]);
        assert_eq!(
            watch("/", "/").event_for(&removed, &GUEST, none),
            Some("/a".into())
        );
        assert_eq!(
            watch("/a/c/d", "/a/c/d").event_for(&removed, &GUEST, none),
            Some("/a/c/d".into())
        );
        // Below /a/b, which the guest may not read.
        assert_eq!(
            watch("/a/b/x", "/a/b/x").event_for(&removed, &GUEST, none),
            None
        );
        assert_eq!(watch("/z", "/z").event_for(&removed, &GUEST, none), None);
    }

    #[test]
    fn special_events_need_read_access_to_the_special_name() {
        let w = watch("@releaseDomain", "@releaseDomain");
        let ch = Change::Special("@releaseDomain".into());
        assert_eq!(w.event_for(&ch, &DOM0, none), Some("@releaseDomain".into()));
        assert_eq!(w.event_for(&ch, &GUEST, none), None);
        assert!(w
            .event_for(&ch, &GUEST, |_| vec![Perm::new(0, Access::Read)])
            .is_some());
        assert_eq!(
            watch("@introduceDomain", "@introduceDomain").event_for(&ch, &DOM0, none),
            None
        );
    }
}
