//! The datapath's platform traits on this home: event channels are hypercalls. (Grants follow once
//! the home has a page allocator to hand out granted regions; [`crate::gnttab`] is their table.)

use xenpv_abi::{DomId, EvtchnPort};
use xenpv_datapath::platform::{EventChannels, PlatformError};

use crate::error::XenError;
use crate::hypercall::Hypercall;
use crate::ops::Xen;

impl From<XenError> for PlatformError {
    fn from(e: XenError) -> Self {
        match e {
            XenError::NoSpace => PlatformError::NoPorts,
            XenError::NoMemory => PlatformError::NoMemory,
            XenError::Invalid => PlatformError::Invalid,
            other => PlatformError::Os(-(other.errno() as i32)),
        }
    }
}

impl<H: Hypercall + Send + Sync> EventChannels for Xen<H> {
    fn alloc_unbound(&self, remote: DomId) -> Result<EvtchnPort, PlatformError> {
        Ok(Xen::alloc_unbound(self, remote)?)
    }

    // The trait has no error path for these: a failure means the port was not ours, which the
    // cores never do; there is nothing better to do than drop it.
    fn notify(&self, port: EvtchnPort) {
        let _ = self.send(port);
    }

    fn unmask(&self, port: EvtchnPort) {
        let _ = Xen::unmask(self, port);
    }

    fn close(&self, port: EvtchnPort) {
        let _ = Xen::close(self, port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Port, XenModel};

    /// The cores see only the trait.
    fn connect(ev: &dyn EventChannels) -> EvtchnPort {
        let p = ev.alloc_unbound(0).unwrap();
        ev.notify(p);
        ev.unmask(p);
        p
    }

    #[test]
    fn the_cores_event_channels_are_hypercalls() {
        let x = Xen::new(XenModel::new());
        let p = connect(&x);
        {
            let s = x.hypercall().state.lock().unwrap();
            assert_eq!(s.ports[p as usize], Port::Unbound(0));
            assert_eq!(s.sent, [p]);
            assert_eq!(s.unmasked, [p]);
        }
        EventChannels::close(&x, p);
        assert_eq!(
            x.hypercall().state.lock().unwrap().ports[p as usize],
            Port::Free
        );
    }

    #[test]
    fn xen_errors_map_to_platform_errors() {
        let x = Xen::new(XenModel::new());
        while EventChannels::alloc_unbound(&x, 0).is_ok() {}
        assert_eq!(
            EventChannels::alloc_unbound(&x, 0),
            Err(PlatformError::NoPorts)
        );
        assert_eq!(
            PlatformError::from(XenError::Invalid),
            PlatformError::Invalid
        );
        assert_eq!(
            PlatformError::from(XenError::NotPermitted),
            PlatformError::Os(-1)
        );
    }
}
