//! Who may do what with a node: xenstored's `perm_for_conn`.
//!
//! Privileged callers (dom0) may do everything. The owner (`perms[0].domid`) may do everything,
//! and so may a domain whose target (SET_TARGET) is the owner. Otherwise the first further entry
//! naming the caller (or its target) decides, and if none does, `perms[0]`'s access applies.

use xenpv_control::xs::perm::{Access, Perm};

/// The identity a request is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub domid: u16,
    /// dom0 and the tools on its socket: no permission checks, no quotas.
    pub privileged: bool,
    /// The domain this one acts for (SET_TARGET), e.g. a device model stub domain.
    pub target: Option<u16>,
}

pub const READ: u8 = 1;
pub const WRITE: u8 = 2;
/// May change the node's permissions.
pub const OWNER: u8 = 4;

fn bits(access: Access) -> u8 {
    (if access.can_read() { READ } else { 0 }) | (if access.can_write() { WRITE } else { 0 })
}

/// The rights (`READ | WRITE | OWNER` bits) `caller` has on a node with `perms`.
pub fn rights(caller: &Caller, perms: &[Perm]) -> u8 {
    let is_me = |d: u16| d == caller.domid || caller.target == Some(d);
    let Some((owner, acl)) = perms.split_first() else {
        return 0;
    };
    if caller.privileged || is_me(owner.domid) {
        return READ | WRITE | OWNER;
    }
    acl.iter()
        .find(|p| is_me(p.domid))
        .map_or(bits(owner.access), |p| bits(p.access))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(domid: u16) -> Caller {
        Caller {
            domid,
            privileged: false,
            target: None,
        }
    }

    #[test]
    fn owner_acl_and_default_decide_in_xenstored_order() {
        let perms = [
            Perm::new(3, Access::Read),
            Perm::new(5, Access::Write),
            Perm::new(6, Access::None),
        ];
        assert_eq!(rights(&guest(3), &perms), READ | WRITE | OWNER);
        assert_eq!(rights(&guest(5), &perms), WRITE);
        assert_eq!(rights(&guest(6), &perms), 0);
        assert_eq!(rights(&guest(7), &perms), READ);
        let dom0 = Caller {
            domid: 0,
            privileged: true,
            target: None,
        };
        assert_eq!(rights(&dom0, &perms), READ | WRITE | OWNER);
    }

    #[test]
    fn a_target_acts_as_the_domain_it_serves() {
        let stubdom = Caller {
            domid: 9,
            privileged: false,
            target: Some(3),
        };
        assert_eq!(
            rights(&stubdom, &[Perm::new(3, Access::None)]),
            READ | WRITE | OWNER
        );
        assert_eq!(
            rights(
                &stubdom,
                &[Perm::new(0, Access::None), Perm::new(3, Access::Read)]
            ),
            READ
        );
    }

    #[test]
    fn the_first_matching_acl_entry_wins() {
        let perms = [
            Perm::new(0, Access::None),
            Perm::new(4, Access::Read),
            Perm::new(4, Access::Both),
        ];
        assert_eq!(rights(&guest(4), &perms), READ);
    }
}
