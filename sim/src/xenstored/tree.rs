//! The node tree: every node has a value, its children in creation order (xenstored keeps them in
//! that order and DIRECTORY returns them so), its permissions and a generation count.
//!
//! The tree knows nothing about callers or transactions; it only keeps itself consistent (a node's
//! parent exists and lists it) and counts how many nodes each domain owns, which is what the entry
//! quota is measured against.

use std::collections::HashMap;
use xenpv_control::xs::perm::{Access, Perm};

/// One node as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub value: Vec<u8>,
    /// Leaf names of the children, in the order they were created.
    pub children: Vec<String>,
    /// `perms[0]` is the owner and the access of everyone not listed; never empty.
    pub perms: Vec<Perm>,
    /// Changes whenever the node's value, children or permissions change (DIRECTORY_PART's gencnt,
    /// and what transactions compare at commit).
    pub generation: u64,
}

impl Node {
    pub fn owner(&self) -> u16 {
        self.perms[0].domid
    }
}

/// The parent of an absolute path; `None` for the root.
pub fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    let cut = path.rfind('/')?;
    Some(if cut == 0 { "/" } else { &path[..cut] })
}

/// The last component of an absolute path other than the root.
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `parent/name`, without doubling the root's slash.
pub fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// xenstore.txt's "child": `path` is `ancestor` itself or lies below it.
pub fn is_under(path: &str, ancestor: &str) -> bool {
    ancestor == "/"
        || path == ancestor
        || (path.len() > ancestor.len()
            && path.starts_with(ancestor)
            && path.as_bytes()[ancestor.len()] == b'/')
}

#[derive(Clone, Debug)]
pub struct Tree {
    nodes: HashMap<String, Node>,
    /// Number of nodes whose owner (`perms[0]`) is each domain.
    owned: HashMap<u16, u32>,
}

impl Tree {
    /// A tree holding only the root, owned by dom0 with no access for others (as xenstored starts).
    pub fn new() -> Tree {
        let root = Node {
            value: Vec::new(),
            children: Vec::new(),
            perms: vec![Perm::new(0, Access::None)],
            generation: 0,
        };
        let mut tree = Tree {
            nodes: HashMap::new(),
            owned: HashMap::new(),
        };
        tree.put(String::from("/"), Some(root));
        tree
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// The generation of `path`, `None` if it does not exist: the version a transaction records.
    pub fn version(&self, path: &str) -> Option<u64> {
        self.nodes.get(path).map(|n| n.generation)
    }

    pub fn owned_by(&self, domid: u16) -> u32 {
        self.owned.get(&domid).copied().unwrap_or(0)
    }

    /// Sets or removes the entry for `path` as is, keeping the owner counts right. Callers keep the
    /// parent / children links consistent (used directly only by transaction commit, which copies
    /// whole nodes, children lists included).
    pub fn put(&mut self, path: String, node: Option<Node>) {
        if let Some(new) = &node {
            *self.owned.entry(new.owner()).or_insert(0) += 1;
        }
        let old = match node {
            Some(new) => self.nodes.insert(path, new),
            None => self.nodes.remove(&path),
        };
        if let Some(old) = old {
            if let Some(count) = self.owned.get_mut(&old.owner()) {
                *count -= 1;
            }
        }
    }

    /// Adds a new leaf `path` under its existing parent and bumps the parent's generation.
    /// The caller has checked that the parent exists and `path` does not.
    pub fn add_leaf(&mut self, path: &str, node: Node, generation: u64) {
        if let Some(p) = parent(path).and_then(|p| self.nodes.get_mut(p)) {
            p.children.push(basename(path).to_owned());
            p.generation = generation;
        }
        self.put(path.to_owned(), Some(node));
    }

    pub fn set_value(&mut self, path: &str, value: Vec<u8>, generation: u64) {
        if let Some(n) = self.nodes.get_mut(path) {
            n.value = value;
            n.generation = generation;
        }
    }

    pub fn set_perms(&mut self, path: &str, perms: Vec<Perm>, generation: u64) {
        if let Some(mut n) = self.nodes.get(path).cloned() {
            n.perms = perms;
            n.generation = generation;
            self.put(path.to_owned(), Some(n));
        }
    }

    /// `path` and every node below it, parents before their children, siblings in creation order.
    pub fn subtree_paths(&self, path: &str) -> Vec<String> {
        let mut paths = Vec::new();
        let mut stack = vec![path.to_owned()];
        while let Some(p) = stack.pop() {
            if let Some(node) = self.nodes.get(&p) {
                // Reversed so that the first child is visited first.
                stack.extend(node.children.iter().rev().map(|c| join(&p, c)));
                paths.push(p);
            }
        }
        paths
    }

    /// Removes `path` and everything below it, unlinks it from its parent (bumping the parent's
    /// generation) and returns the removed nodes in [`Tree::subtree_paths`] order.
    pub fn remove_subtree(&mut self, path: &str, generation: u64) -> Vec<(String, Node)> {
        let mut removed = Vec::new();
        for p in self.subtree_paths(path) {
            if let Some(node) = self.nodes.get(&p).cloned() {
                self.put(p.clone(), None);
                removed.push((p, node));
            }
        }
        if let Some(parent) = parent(path).and_then(|p| self.nodes.get_mut(p)) {
            let name = basename(path);
            parent.children.retain(|c| c != name);
            parent.generation = generation;
        }
        removed
    }

    /// Makes dom0 the owner of every node `domid` owns (xenstored does this when a domain goes away,
    /// so that a later domain reusing the id does not inherit them). Returns the paths changed.
    pub fn disown(&mut self, domid: u16, generation: u64) -> Vec<String> {
        let paths: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.owner() == domid)
            .map(|(p, _)| p.clone())
            .collect();
        for p in &paths {
            if let Some(mut perms) = self.nodes.get(p).map(|n| n.perms.clone()) {
                perms[0].domid = 0;
                self.set_perms(p, perms, generation);
            }
        }
        paths
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(owner: u16) -> Node {
        Node {
            value: Vec::new(),
            children: Vec::new(),
            perms: vec![Perm::new(owner, Access::None)],
            generation: 1,
        }
    }

    #[test]
    fn path_helpers_follow_xenstore_txt() {
        assert_eq!(parent("/"), None);
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(basename("/a/b"), "b");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert!(is_under("/a/b", "/a"));
        assert!(is_under("/a", "/a"));
        assert!(is_under("/a", "/"));
        assert!(!is_under("/ab", "/a"));
        assert!(!is_under("/a", "/a/b"));
    }

    #[test]
    fn links_counts_and_subtree_removal_stay_consistent() {
        let mut t = Tree::new();
        t.add_leaf("/a", leaf(3), 1);
        t.add_leaf("/a/b", leaf(3), 2);
        t.add_leaf("/a/c", leaf(4), 3);
        assert_eq!(t.get("/").unwrap().children, vec!["a"]);
        assert_eq!(t.get("/a").unwrap().children, vec!["b", "c"]);
        assert_eq!(t.get("/a").unwrap().generation, 3);
        assert_eq!((t.owned_by(3), t.owned_by(4), t.owned_by(0)), (2, 1, 1));

        let removed = t.remove_subtree("/a", 9);
        let names: Vec<&str> = removed.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["/a", "/a/b", "/a/c"]);
        assert!(t.get("/a/b").is_none());
        assert!(t.get("/").unwrap().children.is_empty());
        assert_eq!(t.get("/").unwrap().generation, 9);
        assert_eq!((t.owned_by(3), t.owned_by(4)), (0, 0));
    }

    #[test]
    fn disown_hands_nodes_to_dom0() {
        let mut t = Tree::new();
        t.add_leaf("/a", leaf(5), 1);
        assert_eq!(t.disown(5, 2), vec!["/a"]);
        assert_eq!(t.get("/a").unwrap().owner(), 0);
        assert_eq!((t.owned_by(5), t.owned_by(0)), (0, 2));
    }
}
