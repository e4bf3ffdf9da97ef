//! Receive: every packet the backend delivers is copied once into a receive buffer that owns a
//! NET_BUFFER_LIST (one NET_BUFFER over one MDL, allocated at initialisation) and indicated with
//! its per-packet information: checksum results, RSC segment count for a coalesced (GSO)
//! receive, and the RSS hash. NDIS returns the lists through MiniportReturnNetBufferLists and the
//! buffers are used again; when none is free the packet is dropped and counted.

use alloc::vec::Vec;

use xenpv_datapath::netif::{HashKind, RxChecksum, RxMeta};
use xenpv_ddk::ndis::nbl::{
    ChecksumRxInfo, NetBufferList, RscInfo, NDIS_HASH_FUNCTION_TOEPLITZ, NDIS_HASH_IPV4,
    NDIS_HASH_IPV6, NDIS_HASH_TCP_IPV4, NDIS_HASH_TCP_IPV6, NET_BUFFER_LIST_HASH_INFO,
    NET_BUFFER_LIST_HASH_VALUE, TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO, TCP_RECV_SEG_COALESCE_INFO,
};

use crate::frame::{Layout, IPPROTO_TCP, IPPROTO_UDP};

/// What the stack enabled for receives (OID_TCP_OFFLOAD_PARAMETERS, RSS parameters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxReporting {
    /// Report checksum results (receive checksum offload enabled).
    pub checksum: bool,
    /// Report coalesced receives (RSC enabled).
    pub rsc: bool,
    /// Report the RSS hash.
    pub hash: bool,
}

/// The NetBufferListInfo values of a received frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxInfo {
    pub checksum: usize,
    pub rsc: usize,
    pub hash_value: usize,
    pub hash_info: usize,
}

/// The per-packet information for `frame` as the backend described it in `meta`.
///
/// Checksums: a validated or blank packet's TCP/UDP checksum is reported good (netback checked
/// it, or the sender left it to the host); the IPv4 header checksum, which a Xen backend never
/// looks at, is checked here. A coalesced receive reports its segment count: NDIS needs the TCP
/// payload length over the MSS, rounded up.
pub fn rx_info(meta: &RxMeta, frame: &[u8], reporting: RxReporting) -> RxInfo {
    let mut info = RxInfo::default();
    let layout = Layout::parse(frame);
    if reporting.checksum && meta.checksum != RxChecksum::Unknown {
        if let Some(l) = layout {
            let mut bits = match l.protocol {
                IPPROTO_TCP => ChecksumRxInfo::TCP_CHECKSUM_SUCCEEDED,
                IPPROTO_UDP => ChecksumRxInfo::UDP_CHECKSUM_SUCCEEDED,
                _ => 0,
            };
            if l.network == crate::frame::Network::Ipv4 {
                bits |= if l.ip_checksum_ok(frame) {
                    ChecksumRxInfo::IP_CHECKSUM_SUCCEEDED
                } else {
                    ChecksumRxInfo::IP_CHECKSUM_FAILED
                };
            }
            info.checksum = bits;
        }
    }
    if let (true, Some(gso), Some(l)) = (reporting.rsc, meta.gso, layout) {
        if let Some(tcp) = l.tcp_header_len(frame) {
            let payload = frame.len() - l.transport - tcp;
            let segments = payload.div_ceil(usize::from(gso.mss)).max(1);
            info.rsc = RscInfo::new(segments.min(usize::from(u16::MAX)) as u16, 0).0;
        }
    }
    if let (true, Some(hash)) = (reporting.hash, meta.hash) {
        let kind = match hash.kind {
            HashKind::Ipv4 => NDIS_HASH_IPV4,
            HashKind::Ipv4Tcp => NDIS_HASH_TCP_IPV4,
            HashKind::Ipv6 => NDIS_HASH_IPV6,
            HashKind::Ipv6Tcp => NDIS_HASH_TCP_IPV6,
        };
        info.hash_value = hash.value as usize;
        info.hash_info = (NDIS_HASH_FUNCTION_TOEPLITZ | kind) as usize;
    }
    info
}

/// A receive buffer: its NET_BUFFER_LIST (one NET_BUFFER over one MDL covering `capacity` bytes
/// at `data`).
#[derive(Debug)]
pub struct RxBuffer {
    pub nbl: *mut NetBufferList,
    pub data: *mut u8,
    pub capacity: usize,
}

/// The receive buffers: free ones, and how many NDIS holds.
pub struct RxPool {
    free: Vec<RxBuffer>,
    total: usize,
    /// Packets dropped because every buffer was with NDIS.
    pub no_buffer: u64,
    /// Packets dropped because they were longer than a buffer.
    pub too_long: u64,
}

impl RxPool {
    /// A pool over `buffers`; each list's `MiniportReserved` remembers its buffer.
    ///
    /// # Safety
    /// Every buffer's list, NET_BUFFER and `capacity` bytes at `data` are valid and owned by the
    /// pool until the pool is dropped (the home frees them after taking them back with
    /// [`into_buffers`](Self::into_buffers)).
    pub unsafe fn new(buffers: Vec<RxBuffer>) -> Self {
        for b in &buffers {
            // SAFETY: per the contract.
            unsafe { (*b.nbl).miniport_reserved = [b.data.cast(), b.capacity as *mut _] };
        }
        Self {
            total: buffers.len(),
            free: buffers,
            no_buffer: 0,
            too_long: 0,
        }
    }

    /// Lists NDIS still holds.
    pub fn outstanding(&self) -> usize {
        self.total - self.free.len()
    }

    /// Copies a packet of `len` bytes (written by `copy` into the slice it is given) into a free
    /// buffer and returns its list, ready to indicate; `None` when it was dropped.
    pub fn fill(
        &mut self,
        meta: &RxMeta,
        len: usize,
        copy: impl FnOnce(&mut [u8]) -> usize,
        reporting: RxReporting,
    ) -> Option<*mut NetBufferList> {
        let Some(buffer) = self.free.pop() else {
            self.no_buffer += 1;
            return None;
        };
        if len > buffer.capacity || len == 0 {
            self.too_long += 1;
            self.free.push(buffer);
            return None;
        }
        // SAFETY: the buffer is free, so its memory is ours (`new`'s contract).
        let bytes = unsafe { core::slice::from_raw_parts_mut(buffer.data, buffer.capacity) };
        let n = copy(&mut bytes[..len]).min(len);
        let info = rx_info(meta, &bytes[..n], reporting);
        // SAFETY: as above; the list and its NET_BUFFER are the buffer's.
        unsafe {
            let l = &mut *buffer.nbl;
            let nb = &mut *l.first_net_buffer;
            nb.current_mdl = nb.mdl_chain;
            nb.current_mdl_offset = 0;
            nb.data_offset = 0;
            nb.data_length = n as u32;
            l.next = core::ptr::null_mut();
            l.status = 0;
            l.net_buffer_list_info = [0; xenpv_ddk::ndis::nbl::MAX_NET_BUFFER_LIST_INFO];
            l.net_buffer_list_info[TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO] = info.checksum;
            l.net_buffer_list_info[TCP_RECV_SEG_COALESCE_INFO] = info.rsc;
            l.net_buffer_list_info[NET_BUFFER_LIST_HASH_VALUE] = info.hash_value;
            l.net_buffer_list_info[NET_BUFFER_LIST_HASH_INFO] = info.hash_info;
        }
        Some(buffer.nbl)
    }

    /// Takes back a list NDIS returned (or one that was never indicated).
    ///
    /// # Safety
    /// `nbl` is one of this pool's lists, handed out by [`fill`](Self::fill) and not returned
    /// since.
    pub unsafe fn give_back(&mut self, nbl: *mut NetBufferList) {
        // SAFETY: per the contract, `new` stored the buffer in the list.
        let [data, capacity] = unsafe { (*nbl).miniport_reserved };
        self.free.push(RxBuffer {
            nbl,
            data: data.cast(),
            capacity: capacity as usize,
        });
    }

    /// Every buffer, once none is outstanding (`Err(self)` otherwise), for the home to free.
    pub fn into_buffers(self) -> Result<Vec<RxBuffer>, Self> {
        if self.outstanding() == 0 {
            Ok(self.free)
        } else {
            Err(self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::tests::tcp4;
    use crate::send::tests::{mdl, zeroed};
    use std::boxed::Box;
    use std::vec;
    use xenpv_datapath::netif::{Gso, GsoKind, RssHash};
    use xenpv_ddk::ndis::nbl::{Mdl, NetBuffer};

    const ALL: RxReporting = RxReporting {
        checksum: true,
        rsc: true,
        hash: true,
    };

    #[test]
    fn validated_coalesced_hashed_receives_carry_all_three() {
        let frame = tcp4(10_000);
        let meta = RxMeta {
            checksum: RxChecksum::Validated,
            gso: Some(Gso {
                kind: GsoKind::TcpV4,
                mss: 1448,
            }),
            hash: Some(RssHash {
                value: 0xdead_beef,
                kind: HashKind::Ipv4Tcp,
            }),
        };
        let info = rx_info(&meta, &frame, ALL);
        assert_eq!(
            info.checksum,
            ChecksumRxInfo::TCP_CHECKSUM_SUCCEEDED | ChecksumRxInfo::IP_CHECKSUM_SUCCEEDED
        );
        assert_eq!(
            RscInfo(info.rsc).coalesced_segments(),
            7,
            "10000 / 1448 rounded up"
        );
        assert_eq!(info.hash_value, 0xdead_beef);
        assert_eq!(
            info.hash_info as u32,
            NDIS_HASH_FUNCTION_TOEPLITZ | NDIS_HASH_TCP_IPV4
        );
        // With the offloads off nothing is reported.
        assert_eq!(
            rx_info(&meta, &frame, RxReporting::default()),
            RxInfo::default()
        );
    }

    #[test]
    fn unknown_checksums_stay_unreported_and_a_bad_ip_header_is_flagged() {
        let mut frame = tcp4(100);
        let unknown = RxMeta::default();
        assert_eq!(rx_info(&unknown, &frame, ALL).checksum, 0);
        frame[22] ^= 1;
        let blank = RxMeta {
            checksum: RxChecksum::Blank,
            ..RxMeta::default()
        };
        assert_eq!(
            rx_info(&blank, &frame, ALL).checksum,
            ChecksumRxInfo::TCP_CHECKSUM_SUCCEEDED | ChecksumRxInfo::IP_CHECKSUM_FAILED
        );
    }

    #[test]
    fn arbitrary_frames_from_the_backend_never_panic() {
        // Truncations of a real frame at every length, and headers with every IHL / TCP data
        // offset, under every metadata combination.
        let base = tcp4(200);
        let metas = [
            RxMeta::default(),
            RxMeta {
                checksum: RxChecksum::Validated,
                gso: Some(Gso {
                    kind: GsoKind::TcpV4,
                    mss: 1,
                }),
                hash: Some(RssHash {
                    value: 1,
                    kind: HashKind::Ipv6,
                }),
            },
        ];
        for meta in &metas {
            for len in 0..base.len() {
                let info = rx_info(meta, &base[..len], ALL);
                if len < 54 && meta.gso.is_some() {
                    assert_eq!(info.rsc, 0, "no segment count without a whole TCP header");
                }
            }
            for ihl in 0..=0xff_u8 {
                let mut f = base.clone();
                f[14] = ihl;
                f[46] = ihl;
                let _ = rx_info(meta, &f, ALL);
            }
        }
    }

    #[test]
    fn buffers_cycle_through_ndis_and_run_out() {
        let mut mem = vec![0u8; 2 * 2048];
        let (a, b) = mem.split_at_mut(2048);
        let mut mdls: std::vec::Vec<Box<Mdl>> = vec![mdl(a), mdl(b)];
        let mut nbs: std::vec::Vec<Box<NetBuffer>> = (0..2).map(|_| zeroed()).collect();
        let mut nbls: std::vec::Vec<Box<NetBufferList>> = (0..2).map(|_| zeroed()).collect();
        let mut buffers = std::vec::Vec::new();
        for i in 0..2 {
            nbs[i].mdl_chain = &mut *mdls[i];
            nbls[i].first_net_buffer = &mut *nbs[i];
            buffers.push(RxBuffer {
                nbl: &mut *nbls[i],
                data: mdls[i].mapped_system_va.cast(),
                capacity: 2048,
            });
        }
        // SAFETY: the memory and structures outlive the pool.
        let mut pool = unsafe { RxPool::new(buffers) };
        let frame = tcp4(100);
        let meta = RxMeta::default();
        let put = |pool: &mut RxPool, f: &[u8]| {
            pool.fill(
                &meta,
                f.len(),
                |d| {
                    d.copy_from_slice(f);
                    f.len()
                },
                ALL,
            )
        };
        let first = put(&mut pool, &frame).unwrap();
        let second = put(&mut pool, &frame[..60]).unwrap();
        assert!(put(&mut pool, &frame).is_none());
        assert_eq!(pool.no_buffer, 1);
        assert_eq!(pool.outstanding(), 2);
        // SAFETY: the list is the pool's.
        let nb = unsafe { &*(*second).first_net_buffer };
        assert_eq!(nb.data_length, 60);
        assert_eq!(nb.current_mdl, nb.mdl_chain);
        // SAFETY: both came from `fill`.
        unsafe {
            pool.give_back(first);
            pool.give_back(second);
        }
        assert_eq!(pool.outstanding(), 0);
        let long = std::vec![0u8; 3000];
        assert!(put(&mut pool, &long).is_none());
        assert_eq!(pool.too_long, 1);
        assert_eq!(pool.into_buffers().map(|b| b.len()).ok(), Some(2));
    }
}
