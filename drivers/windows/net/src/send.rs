//! Send: each NET_BUFFER of a NET_BUFFER_LIST is one Ethernet frame, described by an MDL chain
//! from `CurrentMdl` + `CurrentMdlOffset` for `DataLength` bytes. It becomes an [`NbPacket`], a
//! netif [`TxPacket`] whose fragments are the MDL chain's bytes cut at page boundaries (what a
//! grant covers) and whose offload request comes from the list's checksum and LSO information.
//! The core copies the bytes when it takes the packet and hands it back with its status; a list
//! completes when its last NET_BUFFER has, with the first failure seen and, for LSO, the TCP
//! payload written back.

use xenpv_datapath::netif::{Gso, GsoKind, TxChecksum, TxOffload, TxPacket, TxStatus};
use xenpv_ddk::ndis::nbl::{
    ChecksumTxInfo, LsoInfo, Mdl, NetBuffer, NetBufferList, MDL_MAPPED_TO_SYSTEM_VA,
    MDL_SOURCE_IS_NONPAGED_POOL, NDIS_TCP_LARGE_SEND_OFFLOAD_IPV6,
    NDIS_TCP_LARGE_SEND_OFFLOAD_V1_TYPE, TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO,
    TCP_LARGE_SEND_NET_BUFFER_LIST_INFO,
};
use xenpv_ddk::ndis::{
    NdisStatus, NDIS_STATUS_FAILURE, NDIS_STATUS_INVALID_DATA, NDIS_STATUS_MEDIA_DISCONNECTED,
    NDIS_STATUS_SUCCESS,
};

use crate::frame::{Layout, Network, IPPROTO_TCP};

/// Page size of the frames a grant covers.
pub const PAGE_SIZE: usize = 4096;
/// Header bytes copied out to check an offload request.
const HEADER_PEEK: usize = 128;

/// Why a NET_BUFFER cannot be sent (the list completes with [`SendError::status`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// A NET_BUFFER with no bytes.
    Empty,
    /// An MDL without a system address (the driver maps every MDL before translating).
    Unmapped,
    /// `DataOffset` lies beyond the MDL chain.
    Offset(usize),
    /// The MDL chain holds fewer bytes than `DataLength` says.
    ShortChain { needed: usize, present: usize },
    /// An LSO request whose headers do not match (not TCP, another IP version, the TCP header
    /// elsewhere than the request says, an MSS the wire cannot carry).
    BadLso,
    /// An offload this miniport never advertised (IPv4 header checksum).
    Unadvertised,
}

impl SendError {
    /// The NDIS status the list completes with.
    pub fn status(self) -> NdisStatus {
        match self {
            SendError::Unadvertised | SendError::BadLso => NDIS_STATUS_INVALID_DATA,
            _ => NDIS_STATUS_FAILURE,
        }
    }
}

/// The NDIS status of a packet the core finished with.
pub fn completion_status(status: TxStatus) -> NdisStatus {
    match status {
        TxStatus::Ok => NDIS_STATUS_SUCCESS,
        TxStatus::Error | TxStatus::Dropped => NDIS_STATUS_FAILURE,
        TxStatus::Disconnected => NDIS_STATUS_MEDIA_DISCONNECTED,
    }
}

/// The system address of an MDL's buffer, if it has one.
fn mdl_address(mdl: &Mdl) -> Option<*const u8> {
    let mapped = mdl.mdl_flags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL) != 0;
    (mapped && !mdl.mapped_system_va.is_null()).then_some(mdl.mapped_system_va as *const u8)
}

/// The bytes of a NET_BUFFER, MDL by MDL, cut at page boundaries.
#[derive(Clone)]
pub struct Fragments<'a> {
    mdl: *const Mdl,
    offset: usize,
    remaining: usize,
    _packet: core::marker::PhantomData<&'a NbPacket>,
}

impl<'a> Iterator for Fragments<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        while self.remaining > 0 && !self.mdl.is_null() {
            // SAFETY: the chain was walked and every MDL found mapped and long enough when the
            // packet was built (`NbPacket::new`), and NDIS keeps it until the send completes.
            let mdl = unsafe { &*self.mdl };
            let size = mdl.byte_count as usize;
            if self.offset >= size {
                self.mdl = mdl.next;
                self.offset = 0;
                continue;
            }
            let base = mdl_address(mdl)?;
            // SAFETY: offset < byte_count, inside the MDL's buffer.
            let at = unsafe { base.add(self.offset) };
            let to_page_end = PAGE_SIZE - (at as usize % PAGE_SIZE);
            let len = (size - self.offset).min(self.remaining).min(to_page_end);
            self.offset += len;
            self.remaining -= len;
            // SAFETY: `len` bytes from `at` lie inside the MDL's buffer, which stays valid and
            // unchanged while the packet is in flight.
            return Some(unsafe { core::slice::from_raw_parts(at, len) });
        }
        None
    }
}

/// One NET_BUFFER on its way to the backend.
#[derive(Debug)]
pub struct NbPacket {
    nbl: *mut NetBufferList,
    nb: *mut NetBuffer,
    /// The MDL the frame starts in, and where in it (from `MdlChain` and `DataOffset`).
    start: *const Mdl,
    start_offset: usize,
    len: usize,
    offload: TxOffload,
    /// TCP payload bytes of an LSO request, reported back on completion.
    tcp_payload: u32,
}

impl NbPacket {
    /// Translates `nb` of `nbl`: checks its MDL chain and its offload request.
    ///
    /// # Safety
    /// `nbl` and `nb` (one of its NET_BUFFERs) are valid, and NDIS keeps them and their MDLs
    /// unchanged until the list is completed.
    pub unsafe fn new(nbl: *mut NetBufferList, nb: *mut NetBuffer) -> Result<Self, SendError> {
        // SAFETY: per the contract.
        let (nb_ref, nbl_ref) = unsafe { (&*nb, &*nbl) };
        let len = nb_ref.data_length as usize;
        if len == 0 {
            return Err(SendError::Empty);
        }
        // The frame starts `DataOffset` bytes into the chain (whole MDLs before it are the
        // backfill space protocols leave in front).
        let mut mdl = nb_ref.mdl_chain as *const Mdl;
        let mut offset = nb_ref.data_offset as usize;
        loop {
            if mdl.is_null() {
                return Err(SendError::Offset(nb_ref.data_offset as usize));
            }
            // SAFETY: MDLs of a valid NET_BUFFER are valid.
            let size = unsafe { (*mdl).byte_count } as usize;
            if offset < size {
                break;
            }
            offset -= size;
            // SAFETY: as above.
            mdl = unsafe { (*mdl).next };
        }
        let (start, start_offset) = (mdl, offset);
        let mut present = 0usize;
        while present < len && !mdl.is_null() {
            // SAFETY: MDLs of a valid NET_BUFFER are valid.
            let m = unsafe { &*mdl };
            let size = m.byte_count as usize;
            if size > offset {
                mdl_address(m).ok_or(SendError::Unmapped)?;
                present += size - offset;
            }
            offset = 0;
            mdl = m.next;
        }
        if present < len {
            return Err(SendError::ShortChain {
                needed: len,
                present,
            });
        }
        let mut packet = NbPacket {
            nbl,
            nb,
            start,
            start_offset,
            len,
            offload: TxOffload::default(),
            tcp_payload: 0,
        };
        let mut headers = [0u8; HEADER_PEEK];
        let mut got = 0;
        for f in packet.fragments() {
            let n = f.len().min(HEADER_PEEK - got);
            headers[got..got + n].copy_from_slice(&f[..n]);
            got += n;
            if got == HEADER_PEEK {
                break;
            }
        }
        let info = &nbl_ref.net_buffer_list_info;
        let (offload, tcp_payload) = tx_offload(
            ChecksumTxInfo(info[TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO]),
            LsoInfo(info[TCP_LARGE_SEND_NET_BUFFER_LIST_INFO]),
            &headers[..got],
            len,
        )?;
        packet.offload = offload;
        packet.tcp_payload = tcp_payload;
        Ok(packet)
    }

    /// The list this NET_BUFFER belongs to.
    pub fn nbl(&self) -> *mut NetBufferList {
        self.nbl
    }

    /// The NET_BUFFER.
    pub fn nb(&self) -> *mut NetBuffer {
        self.nb
    }

    /// Frame length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the frame is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// TCP payload bytes of an LSO packet (0 otherwise).
    pub fn tcp_payload(&self) -> u32 {
        self.tcp_payload
    }
}

impl TxPacket for NbPacket {
    fn offload(&self) -> TxOffload {
        self.offload
    }

    fn fragments(&self) -> impl Iterator<Item = &[u8]> {
        Fragments {
            mdl: self.start,
            offset: self.start_offset,
            remaining: self.len,
            _packet: core::marker::PhantomData,
        }
    }
}

/// The netif offload request for a frame of `len` bytes whose first bytes are `headers`, from
/// the list's checksum and LSO information; with the TCP payload length of an LSO request.
pub fn tx_offload(
    csum: ChecksumTxInfo,
    lso: LsoInfo,
    headers: &[u8],
    len: usize,
) -> Result<(TxOffload, u32), SendError> {
    if lso.mss() != 0 {
        let kind = if lso.lso_type() == NDIS_TCP_LARGE_SEND_OFFLOAD_V1_TYPE {
            GsoKind::TcpV4
        } else if lso.ip_version() == NDIS_TCP_LARGE_SEND_OFFLOAD_IPV6 {
            GsoKind::TcpV6
        } else {
            GsoKind::TcpV4
        };
        let layout = Layout::parse(headers).ok_or(SendError::BadLso)?;
        let network_matches = matches!(
            (kind, layout.network),
            (GsoKind::TcpV4, Network::Ipv4) | (GsoKind::TcpV6, Network::Ipv6)
        );
        let tcp_len = layout.tcp_header_len(headers).ok_or(SendError::BadLso)?;
        let mss = u16::try_from(lso.mss()).map_err(|_| SendError::BadLso)?;
        if !network_matches
            || layout.protocol != IPPROTO_TCP
            || layout.transport != lso.tcp_header_offset() as usize
            || len < layout.transport + tcp_len
        {
            return Err(SendError::BadLso);
        }
        let payload = (len - layout.transport - tcp_len) as u32;
        return Ok((
            TxOffload {
                checksum: TxChecksum::Offload,
                gso: Some(Gso { kind, mss }),
            },
            payload,
        ));
    }
    if csum.ip_header_checksum() {
        return Err(SendError::Unadvertised);
    }
    let checksum = if csum.tcp_checksum() || csum.udp_checksum() {
        TxChecksum::Offload
    } else {
        TxChecksum::Complete
    };
    Ok((
        TxOffload {
            checksum,
            gso: None,
        },
        0,
    ))
}

/// Per-list completion state, kept in the list's `MiniportReserved` slots while it is ours:
/// [0] NET_BUFFERs still in flight, [1] TCP payload bytes sent; `Status` holds the first failure.
pub struct Completion;

impl Completion {
    /// Starts tracking `nbl`: counts its NET_BUFFERs and returns how many there are.
    ///
    /// # Safety
    /// `nbl` is a valid list NDIS handed to the miniport.
    pub unsafe fn begin(nbl: *mut NetBufferList) -> usize {
        // SAFETY: per the contract, the list and its NET_BUFFERs are valid.
        let l = unsafe { &mut *nbl };
        let mut count = 0usize;
        let mut nb = l.first_net_buffer;
        while !nb.is_null() {
            count += 1;
            // SAFETY: as above.
            nb = unsafe { (*nb).next };
        }
        l.miniport_reserved = [count as *mut _, core::ptr::null_mut()];
        l.status = NDIS_STATUS_SUCCESS;
        count
    }

    /// Records that one NET_BUFFER of `nbl` ended with `status` after sending `tcp_payload`
    /// LSO payload bytes; returns `true` when it was the last one, with the list's status and
    /// LSO completion information written.
    ///
    /// # Safety
    /// `nbl` is a list started with [`begin`](Self::begin) whose NET_BUFFERs have not all
    /// completed yet.
    pub unsafe fn one_done(nbl: *mut NetBufferList, status: NdisStatus, tcp_payload: u32) -> bool {
        // SAFETY: per the contract.
        let l = unsafe { &mut *nbl };
        let left = (l.miniport_reserved[0] as usize).saturating_sub(1);
        let payload = (l.miniport_reserved[1] as usize).saturating_add(tcp_payload as usize);
        l.miniport_reserved = [left as *mut _, payload as *mut _];
        if status != NDIS_STATUS_SUCCESS && l.status == NDIS_STATUS_SUCCESS {
            l.status = status;
        }
        if left != 0 {
            return false;
        }
        let lso = LsoInfo(l.net_buffer_list_info[TCP_LARGE_SEND_NET_BUFFER_LIST_INFO]);
        if lso.mss() != 0 {
            l.net_buffer_list_info[TCP_LARGE_SEND_NET_BUFFER_LIST_INFO] =
                LsoInfo::completed(lso.lso_type(), payload as u32).0;
        }
        true
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::frame::tests::tcp4;
    use std::boxed::Box;
    use std::vec::Vec;
    use xenpv_ddk::ndis::nbl::NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE;

    /// Page-aligned test memory.
    #[repr(C, align(4096))]
    pub struct Pages(pub [u8; 6 * PAGE_SIZE]);

    pub fn pages() -> Box<Pages> {
        Box::new(Pages([0; 6 * PAGE_SIZE]))
    }

    pub fn mdl(buf: &mut [u8]) -> Box<Mdl> {
        Box::new(Mdl {
            next: core::ptr::null_mut(),
            size: 0,
            mdl_flags: MDL_SOURCE_IS_NONPAGED_POOL,
            process: core::ptr::null_mut(),
            mapped_system_va: buf.as_mut_ptr().cast(),
            start_va: core::ptr::null_mut(),
            byte_count: buf.len() as u32,
            byte_offset: 0,
        })
    }

    pub fn zeroed<T>() -> Box<T> {
        // SAFETY: NDIS structures are plain integers and pointers, valid when zero.
        unsafe { Box::new(core::mem::zeroed()) }
    }

    /// A list with one NET_BUFFER over `mdls` (linked here), data from `offset` for `len`.
    pub fn nbl_over(
        mdls: &mut [Box<Mdl>],
        offset: u32,
        len: u32,
    ) -> (Box<NetBufferList>, Box<NetBuffer>) {
        for i in 1..mdls.len() {
            let next: *mut Mdl = &mut *mdls[i];
            mdls[i - 1].next = next;
        }
        let mut nb: Box<NetBuffer> = zeroed();
        nb.current_mdl = &mut *mdls[0];
        nb.mdl_chain = nb.current_mdl;
        nb.current_mdl_offset = offset;
        nb.data_offset = offset;
        nb.data_length = len;
        let mut nbl: Box<NetBufferList> = zeroed();
        nbl.first_net_buffer = &mut *nb;
        (nbl, nb)
    }

    fn lso_v2(mss: usize, tcp_offset: usize, ipv6: bool) -> usize {
        mss | (tcp_offset << 20) | (1 << 30) | (usize::from(ipv6) << 31)
    }

    #[test]
    fn a_three_mdl_lso_packet_becomes_page_cut_fragments_with_its_gso_request() {
        // A 9000-byte TCP frame split over three MDLs: 100 header-and-data bytes, then 5000
        // bytes starting 96 bytes before a page boundary, then the rest; the NET_BUFFER starts
        // 10 bytes into the first MDL.
        let frame = tcp4(9000 - 54);
        let mut mem = pages();
        let (a, rest) = mem.0.split_at_mut(PAGE_SIZE);
        let first = &mut a[200..200 + 110];
        first[10..].copy_from_slice(&frame[..100]);
        let (r1, r2) = rest.split_at_mut(3 * PAGE_SIZE);
        let second = &mut r1[PAGE_SIZE - 96..PAGE_SIZE - 96 + 5000];
        second.copy_from_slice(&frame[100..5100]);
        let third_store = &mut r2[..3900];
        third_store.copy_from_slice(&frame[5100..]);
        let mut mdls = std::vec![mdl(first), mdl(second), mdl(third_store)];
        let (mut nbl, mut nb) = nbl_over(&mut mdls, 10, 9000);
        nbl.net_buffer_list_info[TCP_LARGE_SEND_NET_BUFFER_LIST_INFO] = lso_v2(1448, 34, false);
        // SAFETY: the list, buffer and MDLs live until the end of the test.
        let p = unsafe { NbPacket::new(&mut *nbl, &mut *nb) }.unwrap();
        let frags: Vec<&[u8]> = p.fragments().collect();
        let lens: Vec<usize> = frags.iter().map(|f| f.len()).collect();
        // 100 from the first MDL; the second is cut at its page boundary (96) and again a page
        // later (4096), leaving 808; the third MDL starts on a page and holds 3900.
        assert_eq!(lens, [100, 96, 4096, 808, 3900]);
        assert_eq!(frags.concat(), frame);
        assert_eq!(
            p.offload(),
            TxOffload {
                checksum: TxChecksum::Offload,
                gso: Some(Gso {
                    kind: GsoKind::TcpV4,
                    mss: 1448
                })
            }
        );
        assert_eq!(p.tcp_payload(), 9000 - 54);
    }

    #[test]
    fn data_offset_skips_the_backfill_mdls_before_the_frame() {
        // The chain holds a 100-byte MDL of backfill, then the frame 10 bytes into the second;
        // DataOffset 110 says so (CurrentMdl is deliberately left at the chain's head).
        let frame = tcp4(100);
        let mut backfill = [0xeeu8; 100];
        let mut second = std::vec![0xddu8; 10];
        second.extend_from_slice(&frame);
        let mut mdls = std::vec![mdl(&mut backfill), mdl(&mut second)];
        let (mut nbl, mut nb) = nbl_over(&mut mdls, 0, frame.len() as u32);
        nb.data_offset = 110;
        // SAFETY: the test's structures outlive the calls.
        let p = unsafe { NbPacket::new(&mut *nbl, &mut *nb) }.unwrap();
        assert_eq!(p.fragments().collect::<Vec<_>>().concat(), frame);
        nb.data_offset = 100 + 10 + frame.len() as u32;
        // SAFETY: as above.
        let e = unsafe { NbPacket::new(&mut *nbl, &mut *nb) }.unwrap_err();
        assert_eq!(e, SendError::Offset(100 + 10 + frame.len()));
    }

    #[test]
    fn broken_chains_and_requests_are_refused() {
        let frame = tcp4(200);
        let mut buf = frame.clone();
        let mut mdls = std::vec![mdl(&mut buf)];
        // DataLength beyond the chain.
        let (mut nbl, mut nb) = nbl_over(&mut mdls, 0, 300);
        // SAFETY: the test's structures outlive the calls.
        let e = unsafe { NbPacket::new(&mut *nbl, &mut *nb) }.unwrap_err();
        assert_eq!(
            e,
            SendError::ShortChain {
                needed: 300,
                present: 254
            }
        );
        // An unmapped MDL.
        nb.data_length = 254;
        mdls[0].mdl_flags = 0;
        // SAFETY: as above.
        let e = unsafe { NbPacket::new(&mut *nbl, &mut *nb) }.unwrap_err();
        assert_eq!(e, SendError::Unmapped);
        mdls[0].mdl_flags = MDL_MAPPED_TO_SYSTEM_VA;
        // LSO with the TCP header offset wrong, or asking IPv6 for an IPv4 frame.
        for bad in [lso_v2(1448, 38, false), lso_v2(1448, 34, true)] {
            nbl.net_buffer_list_info[TCP_LARGE_SEND_NET_BUFFER_LIST_INFO] = bad;
            // SAFETY: as above.
            let e = unsafe { NbPacket::new(&mut *nbl, &mut *nb) }.unwrap_err();
            assert_eq!(e, SendError::BadLso);
            assert_eq!(e.status(), NDIS_STATUS_INVALID_DATA);
        }
        nbl.net_buffer_list_info[TCP_LARGE_SEND_NET_BUFFER_LIST_INFO] = 0;
        // IPv4 header checksum offload was never advertised.
        nbl.net_buffer_list_info[TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO] = 1 | 0x10;
        // SAFETY: as above.
        let e = unsafe { NbPacket::new(&mut *nbl, &mut *nb) }.unwrap_err();
        assert_eq!(e, SendError::Unadvertised);
        // TCP checksum offload alone is fine.
        nbl.net_buffer_list_info[TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO] = 1 | 4 | (34 << 16);
        // SAFETY: as above.
        let p = unsafe { NbPacket::new(&mut *nbl, &mut *nb) }.unwrap();
        assert_eq!(p.offload().checksum, TxChecksum::Offload);
        assert_eq!(p.offload().gso, None);
    }

    #[test]
    fn a_list_completes_with_its_last_buffer_the_first_failure_and_the_lso_payload() {
        let mut nbl: Box<NetBufferList> = zeroed();
        let mut nbs: Vec<Box<NetBuffer>> = (0..3).map(|_| zeroed()).collect();
        for i in 1..3 {
            let next: *mut NetBuffer = &mut *nbs[i];
            nbs[i - 1].next = next;
        }
        nbl.first_net_buffer = &mut *nbs[0];
        nbl.net_buffer_list_info[TCP_LARGE_SEND_NET_BUFFER_LIST_INFO] =
            1448 | (34 << 20) | ((NDIS_TCP_LARGE_SEND_OFFLOAD_V1_TYPE as usize) << 30);
        let l: *mut NetBufferList = &mut *nbl;
        // SAFETY: the list lives until the end of the test.
        unsafe {
            assert_eq!(Completion::begin(l), 3);
            assert!(!Completion::one_done(l, NDIS_STATUS_SUCCESS, 1000));
            assert!(!Completion::one_done(
                l,
                NDIS_STATUS_MEDIA_DISCONNECTED,
                2000
            ));
            assert!(Completion::one_done(l, NDIS_STATUS_FAILURE, 3000));
        }
        assert_eq!(
            nbl.status, NDIS_STATUS_MEDIA_DISCONNECTED,
            "the first failure"
        );
        let done = LsoInfo(nbl.net_buffer_list_info[TCP_LARGE_SEND_NET_BUFFER_LIST_INFO]);
        assert_eq!(done.tcp_payload(), 6000, "LSOv1 reports the payload sent");
        // LSOv2 completes with Reserved zero and the type kept.
        nbl.net_buffer_list_info[TCP_LARGE_SEND_NET_BUFFER_LIST_INFO] = lso_v2(1448, 34, false);
        // SAFETY: as above.
        unsafe {
            Completion::begin(l);
            assert!(!Completion::one_done(l, NDIS_STATUS_SUCCESS, 10));
            assert!(!Completion::one_done(l, NDIS_STATUS_SUCCESS, 10));
            assert!(Completion::one_done(l, NDIS_STATUS_SUCCESS, 10));
        }
        let done = LsoInfo(nbl.net_buffer_list_info[TCP_LARGE_SEND_NET_BUFFER_LIST_INFO]);
        assert_eq!(done.lso_type(), NDIS_TCP_LARGE_SEND_OFFLOAD_V2_TYPE);
        assert_eq!(done.tcp_payload(), 0);
        assert_eq!(nbl.status, NDIS_STATUS_SUCCESS);
    }
}
