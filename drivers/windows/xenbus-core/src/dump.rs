//! The Xen guest platform as the home of the bus's dump interface (xenpv-busif `dump`): what
//! XENVBD's crash-dump instance uses when nothing but polling is left — drivers/xen's crash-dump
//! grant references, event channel hypercalls, and the store ring page itself. Everything here is
//! a hypercall or an atomic write to shared memory: no lock, no allocation, any IRQL.

use core::ops::Range;

use xenpv_abi::{DomId, EvtchnPort, GrantRef};
use xenpv_busif::dump::DumpHost;
use xenpv_busif::BusError;
use xenpv_datapath::platform::{EventChannels, PlatformError};
use xenpv_datapath::shmem::SharedMem;
use xenpv_xen::gnttab::{GrantError, GrantTable};
use xenpv_xen::{Hypercall, Xen};

/// XENBUS's dump services; `stall` is the kernel's busy wait between two polls.
pub struct XenDumpHome<'a, H, S> {
    xen: Xen<H>,
    table: &'a GrantTable<'a>,
    store: SharedMem,
    store_port: EvtchnPort,
    stall: S,
}

impl<'a, H, S> XenDumpHome<'a, H, S> {
    /// Over the grant table `table` (whose crash-dump range is what the dump path may use) and
    /// the store ring page `store` with its event channel `store_port`.
    pub fn new(
        xen: Xen<H>,
        table: &'a GrantTable<'a>,
        store: SharedMem,
        store_port: EvtchnPort,
        stall: S,
    ) -> Self {
        XenDumpHome {
            xen,
            table,
            store,
            store_port,
            stall,
        }
    }
}

fn grant_error(e: GrantError) -> BusError {
    match e {
        GrantError::InUse => BusError::StillInUse,
        GrantError::NotGranted(_) => BusError::NotOurs,
        _ => BusError::InvalidParameter,
    }
}

impl<H, S> DumpHost for XenDumpHome<'_, H, S>
where
    H: Hypercall + Send + Sync,
    S: Fn() + Send + Sync,
{
    fn reserved_refs(&self) -> Range<GrantRef> {
        self.table.crash_dump_refs()
    }

    fn grant_reserved(
        &self,
        gref: GrantRef,
        domid: DomId,
        gfn: u64,
        readonly: bool,
    ) -> Result<(), BusError> {
        self.table
            .grant_crash_dump(gref, domid, gfn, readonly)
            .map_err(grant_error)
    }

    fn end_reserved(&self, gref: GrantRef) -> Result<(), BusError> {
        self.table.end_crash_dump(gref).map_err(grant_error)
    }

    fn alloc_unbound(&self, remote: DomId) -> Result<EvtchnPort, PlatformError> {
        EventChannels::alloc_unbound(&self.xen, remote)
    }

    fn notify(&self, port: EvtchnPort) {
        EventChannels::notify(&self.xen, port)
    }

    fn close(&self, port: EvtchnPort) {
        EventChannels::close(&self.xen, port)
    }

    fn store_page(&self) -> &SharedMem {
        &self.store
    }

    fn store_kick(&self) {
        EventChannels::notify(&self.xen, self.store_port)
    }

    fn stall(&self) {
        (self.stall)()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::boxed::Box;
    use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, Ordering};
    use std::sync::Arc;
    use std::vec::Vec;
    use xenpv_abi::grant_table::{GTF_PERMIT_ACCESS, GTF_READING};
    use xenpv_abi::xs_wire::{XS_READ, XS_WRITE};
    use xenpv_busif::dump::{DumpBus, DumpBusError, DumpProvider};
    use xenpv_control::xs::ring::RingLink;
    use xenpv_control::xs::wire::{Message, MsgType};
    use xenpv_datapath::shmem::SharedPages;
    use xenpv_xen::gnttab::{Entry, ENTRIES_PER_FRAME};
    use xenpv_xen::model::{Port, XenModel};

    type Home = XenDumpHome<'static, XenModel, fn()>;

    fn table(crash_dump: u32) -> (&'static GrantTable<'static>, &'static [Entry]) {
        let entries: &'static [Entry] = Box::leak(
            (0..ENTRIES_PER_FRAME)
                .map(|_| Entry {
                    flags: AtomicU16::new(0),
                    domid: AtomicU16::new(0),
                    frame: AtomicU32::new(0),
                })
                .collect::<Box<[Entry]>>(),
        );
        let links: &'static [AtomicU32] = Box::leak(
            (0..ENTRIES_PER_FRAME)
                .map(|_| AtomicU32::new(0))
                .collect::<Box<[AtomicU32]>>(),
        );
        let t = Box::leak(Box::new(
            GrantTable::new(entries, links, 1, crash_dump).unwrap(),
        ));
        (t, entries)
    }

    fn provider(store: SharedMem) -> (Arc<DumpProvider<Home>>, &'static [Entry]) {
        let (t, entries) = table(24);
        let home: Home = XenDumpHome::new(Xen::new(XenModel::new()), t, store, 3, || {});
        (Arc::new(DumpProvider::new(home)), entries)
    }

    fn child(p: &Arc<DumpProvider<Home>>) -> DumpBus {
        // SAFETY: the provider is in an Arc kept for the child's life.
        unsafe { DumpBus::from_interface(p.interface()) }.unwrap()
    }

    #[test]
    fn crash_dump_references_are_granted_ended_and_nothing_else() {
        let pages = SharedPages::new(1).unwrap();
        let (p, entries) = provider(pages.mem());
        let dump = child(&p);
        assert_eq!(dump.reserved(), 8..32);
        dump.grant_reserved(8, 0, 0x77, false).unwrap();
        assert_eq!(entries[8].flags.load(Ordering::SeqCst), GTF_PERMIT_ACCESS);
        assert_eq!(entries[8].frame.load(Ordering::SeqCst), 0x77);
        for r in [0, 7, 32, 100] {
            assert_eq!(
                dump.grant_reserved(r, 0, 1, false),
                Err(DumpBusError::NotReserved(r))
            );
            assert_eq!(entries[r as usize].flags.load(Ordering::SeqCst), 0);
        }
        // A v1 entry holds a 32-bit frame.
        assert_eq!(
            dump.grant_reserved(9, 0, 1 << 40, false),
            Err(DumpBusError::Bus(BusError::InvalidParameter))
        );
        entries[8].flags.fetch_or(GTF_READING, Ordering::SeqCst);
        assert_eq!(
            dump.end_reserved(8),
            Err(DumpBusError::Bus(BusError::StillInUse))
        );
        entries[8].flags.fetch_and(!GTF_READING, Ordering::SeqCst);
        dump.end_reserved(8).unwrap();
        assert_eq!(entries[8].flags.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn event_channels_are_hypercalls() {
        let pages = SharedPages::new(1).unwrap();
        let (p, _) = provider(pages.mem());
        let dump = child(&p);
        let port = dump.alloc_unbound(0).unwrap();
        dump.notify(port).unwrap();
        let model = p.host().xen.hypercall();
        let state = model.state.lock().unwrap();
        assert_eq!(state.ports[port as usize], Port::Unbound(0));
        assert!(state.sent.contains(&port));
    }

    #[test]
    fn the_store_ring_is_taken_over_and_polled() {
        // A xenstored on the other end of the page: answers READ with the path's length and
        // WRITE with OK, after first sending a watch event nobody asked the dump path for.
        let pages = SharedPages::new(1).unwrap();
        let (p, _) = provider(pages.mem());
        let stop = Arc::new(AtomicBool::new(false));
        let server = {
            let (mem, stop) = (pages.mem(), stop.clone());
            std::thread::spawn(move || {
                let mut link = RingLink::server(mem).unwrap();
                let event = Message::new(MsgType::WatchEvent, 0, 0, b"/x\0tok\0".to_vec());
                link.enqueue(&event.unwrap());
                while !stop.load(Ordering::Relaxed) {
                    link.poll().unwrap();
                    while let Some(m) = link.next_message() {
                        let (kind, payload) = match m.header.msg_type {
                            XS_READ => (MsgType::Read, std::format!("{}", m.payload.len())),
                            _ => (MsgType::Write, std::string::String::from("OK\0")),
                        };
                        let reply = Message::new(kind, m.header.req_id, 0, payload.into_bytes());
                        link.enqueue(&reply.unwrap());
                    }
                    std::thread::yield_now();
                }
            })
        };
        let dump = child(&p);
        let mut msg = Vec::new();
        for w in [XS_READ, 0x6475_0001, 0, 4] {
            msg.extend(u32::to_le_bytes(w));
        }
        msg.extend(b"/ab\0");
        let mut reply = [0u8; 64];
        let n = dump.exchange(&msg, &mut reply, 1_000_000).unwrap();
        assert_eq!(&reply[16..n], b"4");
        msg[0..4].copy_from_slice(&XS_WRITE.to_le_bytes());
        msg[4..8].copy_from_slice(&0x6475_0002u32.to_le_bytes());
        let n = dump.exchange(&msg, &mut reply, 1_000_000).unwrap();
        assert_eq!(&reply[16..n], b"OK\0");
        stop.store(true, Ordering::Relaxed);
        server.join().unwrap();
    }
}
