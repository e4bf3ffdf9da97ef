//! The platform of a simulated guest: what the frontend cores call, backed by the simulated host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use xenpv_abi::{DomId, EvtchnPort, GrantRef};
use xenpv_datapath::platform::{
    Access, EventChannels, FrameGrants, FrameInUse, Gfn, GrantedRegion, Grants, PlatformError,
    StillInUse,
};

use crate::host::{EvtchnError, GrantError, GrantTable, Host};

/// A guest domain's view of the host: grants and event channels as a frontend core uses them.
pub struct SimPlatform {
    host: Arc<Host>,
    domid: DomId,
    /// Regions whose grants were not all ended yet: the references still to end, by region handle.
    ending: Mutex<HashMap<u64, Vec<GrantRef>>>,
}

impl SimPlatform {
    pub fn new(host: Arc<Host>, domid: DomId) -> Self {
        Self {
            host,
            domid,
            ending: Mutex::new(HashMap::new()),
        }
    }

    pub fn domid(&self) -> DomId {
        self.domid
    }

    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }

    /// Wait up to `timeout` for an event on `port` (what a home's event loop does).
    pub fn wait(&self, port: EvtchnPort, timeout: Duration) -> bool {
        self.host
            .evtchn
            .signal(self.domid, port)
            .is_ok_and(|s| s.wait(timeout))
    }
}

impl Grants for SimPlatform {
    fn grant_region(
        &self,
        domid: DomId,
        pages: usize,
        access: Access,
    ) -> Result<GrantedRegion, PlatformError> {
        let (mem, gfns) = self
            .host
            .frames
            .alloc(self.domid, pages)
            .ok_or(PlatformError::NoMemory)?;
        let table = self.host.grant_table(self.domid);
        let mut grefs = Vec::with_capacity(pages);
        for &gfn in &gfns {
            match table.grant(domid, gfn, access == Access::ReadOnly) {
                Ok(g) => grefs.push(g),
                Err(_) => {
                    // Nobody has seen these references yet, so ending them cannot fail.
                    for g in grefs {
                        let _ = table.end_access(g);
                    }
                    self.host.frames.free(gfns[0]);
                    return Err(PlatformError::NoGrantRefs);
                }
            }
        }
        Ok(GrantedRegion::new(mem, grefs, domid, access, gfns[0]))
    }

    fn end_region(&self, region: GrantedRegion) -> Result<(), StillInUse> {
        let table = self.host.grant_table(self.domid);
        let mut ending = self.ending.lock().unwrap();
        let left = ending
            .entry(region.handle())
            .or_insert_with(|| region.grefs().to_vec());
        left.retain(|&g| table.end_access(g) == Err(GrantError::NotPermitted));
        if !left.is_empty() {
            return Err(StillInUse(region));
        }
        ending.remove(&region.handle());
        self.host.frames.free(region.handle());
        Ok(())
    }

    fn frame_grants(
        &self,
        domid: DomId,
        count: usize,
    ) -> Result<Option<Box<dyn FrameGrants>>, PlatformError> {
        let table = self.host.grant_table(self.domid);
        let refs = table
            .reserve(count)
            .map_err(|_| PlatformError::NoGrantRefs)?;
        Ok(Some(Box::new(SimFrameGrants {
            table,
            backend: domid,
            refs,
        })))
    }
}

/// A guest's reserve of grant references for granting its own frames to one backend domain.
struct SimFrameGrants {
    table: Arc<GrantTable>,
    backend: DomId,
    refs: Vec<GrantRef>,
}

impl FrameGrants for SimFrameGrants {
    fn refs(&self) -> &[GrantRef] {
        &self.refs
    }

    fn grant(&self, gref: GrantRef, gfn: Gfn, access: Access) -> Result<(), PlatformError> {
        self.table
            .grant_reserved(gref, self.backend, gfn, access == Access::ReadOnly)
            .map_err(|_| PlatformError::Invalid)
    }

    fn end(&self, gref: GrantRef) -> Result<(), FrameInUse> {
        self.table.end_reserved(gref).map_err(|_| FrameInUse(gref))
    }
}

impl Drop for SimFrameGrants {
    fn drop(&mut self) {
        // A reference the backend still uses is never handed out again: it stays out of the
        // free list for good, as the frame it grants must stay out of the guest's allocator.
        let unused: Vec<GrantRef> = self
            .refs
            .iter()
            .copied()
            .filter(|&g| self.table.end_reserved(g).is_ok())
            .collect();
        self.table.release(&unused);
    }
}

fn evtchn_error(e: EvtchnError) -> PlatformError {
    match e {
        EvtchnError::NoPorts => PlatformError::NoPorts,
        EvtchnError::BadPort | EvtchnError::NotOffered => PlatformError::Invalid,
    }
}

impl EventChannels for SimPlatform {
    fn alloc_unbound(&self, remote: DomId) -> Result<EvtchnPort, PlatformError> {
        self.host
            .evtchn
            .alloc_unbound(self.domid, remote)
            .map_err(evtchn_error)
    }

    fn notify(&self, port: EvtchnPort) {
        // A core only notifies ports it allocated; a closed port is a no-op, as EVTCHNOP_send on it fails.
        let _ = self.host.evtchn.send(self.domid, port);
    }

    fn unmask(&self, port: EvtchnPort) {
        let _ = self.host.evtchn.unmask(self.domid, port);
    }

    fn close(&self, port: EvtchnPort) {
        let _ = self.host.evtchn.close(self.domid, port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::HostConfig;

    #[test]
    fn a_region_held_by_the_backend_is_returned_not_freed() {
        let host = Host::new(HostConfig {
            frames: 16,
            grant_entries: 32,
            ports: 8,
        });
        let guest = SimPlatform::new(host.clone(), 1);
        let region = guest.grant_region(0, 2, Access::ReadWrite).unwrap();
        assert_eq!(region.pages(), 2);
        region.mem().write_bytes(4096, b"page two");
        let map = host.map(0, 1, region.grefs()[1], true).unwrap();
        let mut buf = [0u8; 8];
        map.mem().read_bytes(0, &mut buf);
        assert_eq!(&buf, b"page two");

        let StillInUse(region) = guest
            .end_region(region)
            .expect_err("the backend still maps page two");
        assert_eq!(host.frames.used(), 2, "nothing was freed");
        assert!(
            host.map(0, 1, region.grefs()[0], false).is_err(),
            "page one's grant did end"
        );
        drop(map);
        guest.end_region(region).unwrap();
        assert_eq!(host.frames.used(), 0);
        assert_eq!(host.grant_table(1).active(), 0);
    }

    #[test]
    fn a_frame_grant_in_use_is_not_ended_and_its_reference_never_comes_back() {
        let host = Host::new(HostConfig {
            frames: 4,
            grant_entries: 16,
            ports: 8,
        });
        let guest = SimPlatform::new(host.clone(), 1);
        let (mem, gfns) = host.frames.alloc(1, 1).unwrap();
        mem.write_bytes(0, b"own frame");
        let reserve = guest
            .frame_grants(0, 2)
            .unwrap()
            .expect("the sim grants frames");
        let table = host.grant_table(1);
        let active = table.active();
        let [a, b] = [reserve.refs()[0], reserve.refs()[1]];
        reserve.grant(a, gfns[0], Access::ReadOnly).unwrap();
        reserve.grant(b, gfns[0], Access::ReadOnly).unwrap();
        let mut buf = [0u8; 9];
        host.copy_from_grant(0, 1, a, 0, &mut buf).unwrap();
        assert_eq!(&buf, b"own frame");
        assert!(host.map(0, 1, a, true).is_err(), "granted read-only");
        let map = host.map(0, 1, a, false).unwrap();
        assert_eq!(reserve.end(a), Err(FrameInUse(a)));
        reserve.end(b).unwrap();
        drop(reserve);
        assert_eq!(
            table.active(),
            active - 1,
            "only the unused reference came back"
        );
        drop(map);
        assert_eq!(
            table.active(),
            active - 1,
            "and the held one stays out for good"
        );
    }

    #[test]
    fn events_reach_the_guest_and_wait_for_unmask() {
        let host = Host::new(HostConfig {
            frames: 4,
            grant_entries: 16,
            ports: 8,
        });
        let guest = SimPlatform::new(host.clone(), 1);
        let port = guest.alloc_unbound(0).unwrap();
        let back = host.evtchn.bind_interdomain(0, 1, port).unwrap();
        host.evtchn.send(0, back).unwrap();
        assert!(guest.wait(port, Duration::from_secs(1)));
        host.evtchn.send(0, back).unwrap();
        assert!(
            !guest.wait(port, Duration::from_millis(10)),
            "masked until the core unmasks"
        );
        guest.unmask(port);
        assert!(guest.wait(port, Duration::from_secs(1)));
        guest.notify(port);
        assert!(host.evtchn.signal(0, back).unwrap().take());
    }
}
