//! The OIDs XENNET answers: one table of (OID, query handler, set handler), from which
//! `OID_GEN_SUPPORTED_LIST` is also derived. Handlers read and write the information buffer
//! through [`OidBuffer`] views that check every length first: a query whose buffer is too small
//! gets `NDIS_STATUS_BUFFER_TOO_SHORT`, a set whose buffer is too small
//! `NDIS_STATUS_INVALID_LENGTH`, both with `BytesNeeded`; nothing is read or written past the
//! buffer. A set may leave an [`OidAction`] for the adapter to carry out (multicast changes for
//! the backend, RSS for the ctrl ring, an offload change to indicate).

use arrayvec::ArrayVec;
use core::mem::size_of;

use xenpv_ddk::ndis::miniport::{
    ChecksumDirection, LsoV2Offload, NdisOffload, RscOffload, TcpIpChecksumOffload,
    MEDIA_CONNECT_STATE_CONNECTED, MEDIA_CONNECT_STATE_DISCONNECTED, NDIS_ENCAPSULATION_IEEE_802_3,
    NDIS_MAC_OPTION_COPY_LOOKAHEAD_DATA, NDIS_MAC_OPTION_FULL_DUPLEX, NDIS_MAC_OPTION_NO_LOOPBACK,
    NDIS_MAC_OPTION_TRANSFERS_NOT_PEND, NDIS_MEDIUM_802_3, NDIS_OFFLOAD_REVISION_3,
    NDIS_SIZEOF_NDIS_OFFLOAD_REVISION_3,
};
use xenpv_ddk::ndis::oid::*;
use xenpv_ddk::ndis::{
    NdisStatus, ObjectHeader, NDIS_OBJECT_TYPE_DEFAULT, NDIS_OBJECT_TYPE_OFFLOAD,
    NDIS_OBJECT_TYPE_RSS_CAPABILITIES, NDIS_STATUS_BUFFER_TOO_SHORT, NDIS_STATUS_INVALID_DATA,
    NDIS_STATUS_INVALID_LENGTH, NDIS_STATUS_INVALID_OID, NDIS_STATUS_INVALID_PARAMETER,
    NDIS_STATUS_MULTICAST_FULL, NDIS_STATUS_NOT_SUPPORTED, NDIS_STATUS_SUCCESS,
};

use crate::filter::{Filter, FilterError, MulticastChange, MAX_MULTICAST};
use crate::rss::{self, RssConfig, RssError, MAX_TABLE};

/// Largest TCP segment offload the backend takes (`XEN_NETIF_MAX_TX_SIZE` less headers).
pub const LSO_MAX_SIZE: u32 = 62 * 1024;
/// NDIS's minimum segment count for LSOv2.
pub const LSO_MIN_SEGMENTS: u32 = 2;
/// The vendor id: the Xen Project's IEEE OUI (00:16:3e), in the low three bytes.
pub const VENDOR_ID: u32 = 0x003e_1600;
/// IPv4 addresses kept for announcements.
pub const MAX_ADDRESSES: usize = 8;

/// What the adapter is, for the queries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NicInfo {
    pub mac: [u8; 6],
    pub permanent_mac: [u8; 6],
    /// Payload MTU (1500): frames are MTU + 14 bytes.
    pub mtu: u32,
    pub link_speed_bps: u64,
    pub connected: bool,
    /// Queues of the vif (RSS capabilities).
    pub queues: u32,
}

/// Counters for the statistics OIDs, summed over the queues by the adapter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_errors: u64,
    pub tx_discards: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_errors: u64,
    pub rx_discards: u64,
}

/// Which offloads the backend makes possible.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OffloadCaps {
    pub lso_v4: bool,
    pub lso_v6: bool,
    /// Large receives (the backend sends GSO packets): NDIS RSC.
    pub rsc: bool,
}

/// The offloads in force (each can be turned off by the stack).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OffloadConfig {
    pub tx_csum_v4: bool,
    pub rx_csum_v4: bool,
    pub tx_csum_v6: bool,
    pub rx_csum_v6: bool,
    pub lso_v4: bool,
    pub lso_v6: bool,
    pub rsc_v4: bool,
    pub rsc_v6: bool,
}

impl OffloadConfig {
    /// Everything the backend allows.
    pub fn all(caps: OffloadCaps) -> Self {
        Self {
            tx_csum_v4: true,
            rx_csum_v4: true,
            tx_csum_v6: true,
            rx_csum_v6: true,
            lso_v4: caps.lso_v4,
            lso_v6: caps.lso_v6,
            rsc_v4: caps.rsc,
            rsc_v6: caps.rsc,
        }
    }

    /// The `NDIS_OFFLOAD` describing this configuration (current config, hardware
    /// capabilities, the adapter's offload attributes).
    pub fn ndis_offload(&self) -> NdisOffload {
        let e = NDIS_ENCAPSULATION_IEEE_802_3;
        let lso = |on: bool| if on { LSO_MAX_SIZE } else { 0 };
        let encapsulation = |on: bool| if on { e } else { 0 };
        NdisOffload {
            header: ObjectHeader::new(
                NDIS_OBJECT_TYPE_OFFLOAD,
                NDIS_OFFLOAD_REVISION_3,
                NDIS_SIZEOF_NDIS_OFFLOAD_REVISION_3,
            ),
            checksum: TcpIpChecksumOffload {
                ipv4_transmit: ChecksumDirection::new(e, self.tx_csum_v4, self.tx_csum_v4),
                ipv4_receive: ChecksumDirection::new(e, self.rx_csum_v4, self.rx_csum_v4),
                ipv6_transmit: ChecksumDirection::new(e, self.tx_csum_v6, self.tx_csum_v6),
                ipv6_receive: ChecksumDirection::new(e, self.rx_csum_v6, self.rx_csum_v6),
            },
            lso_v2: LsoV2Offload {
                ipv4_encapsulation: encapsulation(self.lso_v4),
                ipv4_max_offload_size: lso(self.lso_v4),
                ipv4_min_segment_count: if self.lso_v4 { LSO_MIN_SEGMENTS } else { 0 },
                ipv6_encapsulation: encapsulation(self.lso_v6),
                ipv6_max_offload_size: lso(self.lso_v6),
                ipv6_min_segment_count: if self.lso_v6 { LSO_MIN_SEGMENTS } else { 0 },
                // IpExtensionHeadersSupported and TcpOptionsSupported: NDIS_OFFLOAD_SUPPORTED.
                ipv6_bits: if self.lso_v6 { 1 | (1 << 2) } else { 0 },
            },
            rsc: RscOffload {
                ipv4_enabled: u8::from(self.rsc_v4),
                ipv6_enabled: u8::from(self.rsc_v6),
            },
            ..NdisOffload::default()
        }
    }
}

/// What the OIDs have set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OidState {
    pub filter: Filter,
    pub caps: OffloadCaps,
    pub offload: OffloadConfig,
    pub rss: Option<RssConfig>,
    pub lookahead: u32,
    /// IPv4 addresses of the interface (`OID_GEN_NETWORK_LAYER_ADDRESSES`).
    pub ipv4: ArrayVec<[u8; 4], MAX_ADDRESSES>,
}

/// Something a set asks the adapter to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OidAction {
    /// Changes for the backend's multicast filter.
    Multicast(ArrayVec<MulticastChange, { 2 * MAX_MULTICAST }>),
    /// Configure RSS (or turn it off).
    Rss(Option<RssConfig>),
    /// The offload configuration changed: indicate NDIS_STATUS_TASK_OFFLOAD_CURRENT_CONFIG.
    OffloadChanged,
}

/// How a request ended: the status and the `BytesWritten`/`BytesRead` and `BytesNeeded` fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OidResult {
    pub status: NdisStatus,
    pub bytes: u32,
    pub needed: u32,
}

/// Why a handler failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OidError {
    /// The buffer is shorter than `needed` bytes.
    Short { needed: usize },
    /// A value that is invalid for this OID.
    Invalid,
    /// Malformed data.
    Data,
    /// A valid request this adapter cannot do.
    Unsupported,
    /// The multicast list is longer than the adapter holds.
    MulticastFull,
}

/// The information buffer of a query, written through length-checked stores.
pub struct QueryBuffer<'a> {
    buf: &'a mut [u8],
    written: usize,
}

impl QueryBuffer<'_> {
    /// Writes `bytes` (the whole answer); too short a buffer is an error naming the length.
    pub fn put(&mut self, bytes: &[u8]) -> Result<(), OidError> {
        let dst = self.buf.get_mut(..bytes.len()).ok_or(OidError::Short {
            needed: bytes.len(),
        })?;
        dst.copy_from_slice(bytes);
        self.written = bytes.len();
        Ok(())
    }

    /// Fills `len` bytes with `fill`, after checking they fit.
    fn put_with(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) -> Result<(), OidError> {
        let dst = self
            .buf
            .get_mut(..len)
            .ok_or(OidError::Short { needed: len })?;
        fill(dst);
        self.written = len;
        Ok(())
    }

    fn u32(&mut self, v: u32) -> Result<(), OidError> {
        self.put(&v.to_le_bytes())
    }

    /// A 64-bit counter: NDIS accepts it in 4 bytes when the buffer has no room for 8.
    fn counter(&mut self, v: u64) -> Result<(), OidError> {
        if self.buf.len() >= 8 {
            self.put(&v.to_le_bytes())
        } else if self.buf.len() >= 4 {
            self.put(&(v as u32).to_le_bytes())
        } else {
            Err(OidError::Short { needed: 8 })
        }
    }

    fn object<T: Copy>(&mut self, v: &T) -> Result<(), OidError> {
        // SAFETY: the NDIS structures passed here are repr(C) integers without padding that
        // could hold uninitialised bytes (every one is built from a zeroed default).
        let bytes =
            unsafe { core::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) };
        self.put(bytes)
    }
}

/// The context handlers work in.
pub struct Ctx<'a> {
    pub state: &'a mut OidState,
    pub nic: &'a NicInfo,
    pub counters: &'a Counters,
    pub action: Option<OidAction>,
}

type QueryFn = fn(&mut Ctx<'_>, &mut QueryBuffer<'_>) -> Result<(), OidError>;
type SetFn = fn(&mut Ctx<'_>, &[u8]) -> Result<usize, OidError>;

/// One supported OID.
pub struct OidEntry {
    pub oid: u32,
    pub query: Option<QueryFn>,
    pub set: Option<SetFn>,
}

fn need(buf: &[u8], n: usize) -> Result<(), OidError> {
    if buf.len() < n {
        Err(OidError::Short { needed: n })
    } else {
        Ok(())
    }
}

fn read_u32(buf: &[u8]) -> Result<u32, OidError> {
    need(buf, 4)?;
    Ok(u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]))
}

const fn q(oid: u32, query: QueryFn) -> OidEntry {
    OidEntry {
        oid,
        query: Some(query),
        set: None,
    }
}

const fn qs(oid: u32, query: QueryFn, set: SetFn) -> OidEntry {
    OidEntry {
        oid,
        query: Some(query),
        set: Some(set),
    }
}

fn frame_size(c: &Ctx<'_>) -> u32 {
    c.nic.mtu + 14
}

/// The supported OIDs.
pub static TABLE: &[OidEntry] = &[
    q(OID_GEN_SUPPORTED_LIST, |_, b| {
        b.put_with(4 * TABLE.len(), |out| {
            for (slot, e) in out.chunks_exact_mut(4).zip(TABLE) {
                slot.copy_from_slice(&e.oid.to_le_bytes());
            }
        })
    }),
    q(OID_GEN_HARDWARE_STATUS, |_, b| {
        b.u32(NDIS_HARDWARE_STATUS_READY)
    }),
    q(OID_GEN_MEDIA_SUPPORTED, |_, b| b.u32(NDIS_MEDIUM_802_3)),
    q(OID_GEN_MEDIA_IN_USE, |_, b| b.u32(NDIS_MEDIUM_802_3)),
    q(OID_GEN_MAXIMUM_LOOKAHEAD, |c, b| b.u32(frame_size(c))),
    q(OID_GEN_MAXIMUM_FRAME_SIZE, |c, b| b.u32(c.nic.mtu)),
    q(OID_GEN_MAXIMUM_TOTAL_SIZE, |c, b| b.u32(frame_size(c))),
    q(OID_GEN_LINK_SPEED, |c, b| {
        b.u32((c.nic.link_speed_bps / 100) as u32)
    }),
    q(OID_GEN_TRANSMIT_BLOCK_SIZE, |c, b| b.u32(frame_size(c))),
    q(OID_GEN_RECEIVE_BLOCK_SIZE, |c, b| b.u32(frame_size(c))),
    q(OID_GEN_TRANSMIT_BUFFER_SPACE, |c, b| {
        b.u32(frame_size(c) * 256)
    }),
    q(OID_GEN_RECEIVE_BUFFER_SPACE, |c, b| {
        b.u32(frame_size(c) * 256)
    }),
    q(OID_GEN_VENDOR_ID, |_, b| b.u32(VENDOR_ID)),
    q(OID_GEN_VENDOR_DESCRIPTION, |_, b| b.put(b"xenpv XENNET\0")),
    q(OID_GEN_VENDOR_DRIVER_VERSION, |_, b| b.u32(0x0001_0000)),
    q(OID_GEN_DRIVER_VERSION, |_, b| {
        b.put(&0x0630u16.to_le_bytes())
    }),
    q(OID_GEN_MAC_OPTIONS, |_, b| {
        b.u32(
            NDIS_MAC_OPTION_COPY_LOOKAHEAD_DATA
                | NDIS_MAC_OPTION_TRANSFERS_NOT_PEND
                | NDIS_MAC_OPTION_NO_LOOPBACK
                | NDIS_MAC_OPTION_FULL_DUPLEX,
        )
    }),
    q(OID_GEN_MEDIA_CONNECT_STATUS, |c, b| {
        // NdisMediaStateConnected (0) / Disconnected (1).
        b.u32(u32::from(!c.nic.connected))
    }),
    q(OID_GEN_MAXIMUM_SEND_PACKETS, |_, b| b.u32(256)),
    qs(
        OID_GEN_CURRENT_LOOKAHEAD,
        |c, b| {
            b.u32(if c.state.lookahead == 0 {
                frame_size(c)
            } else {
                c.state.lookahead
            })
        },
        |c, d| {
            let v = read_u32(d)?;
            if v > frame_size(c) {
                return Err(OidError::Invalid);
            }
            c.state.lookahead = v;
            Ok(4)
        },
    ),
    qs(
        OID_GEN_CURRENT_PACKET_FILTER,
        |c, b| b.u32(c.state.filter.packet_filter()),
        |c, d| {
            let v = read_u32(d)?;
            c.state
                .filter
                .set_packet_filter(v)
                .map_err(|_| OidError::Unsupported)?;
            Ok(4)
        },
    ),
    q(OID_802_3_PERMANENT_ADDRESS, |c, b| {
        b.put(&c.nic.permanent_mac)
    }),
    q(OID_802_3_CURRENT_ADDRESS, |c, b| b.put(&c.nic.mac)),
    q(OID_802_3_MAXIMUM_LIST_SIZE, |_, b| {
        b.u32(MAX_MULTICAST as u32)
    }),
    qs(
        OID_802_3_MULTICAST_LIST,
        |c, b| {
            let mut out = [0u8; 6 * MAX_MULTICAST];
            let list = c.state.filter.multicast();
            for (i, a) in list.iter().enumerate() {
                out[6 * i..6 * i + 6].copy_from_slice(a);
            }
            b.put(&out[..6 * list.len()])
        },
        |c, d| {
            let changes = c.state.filter.set_multicast(d).map_err(|e| match e {
                FilterError::TooMany(_) => OidError::MulticastFull,
                FilterError::Length(_) => OidError::Short {
                    needed: d.len().div_ceil(6) * 6,
                },
                _ => OidError::Data,
            })?;
            if !changes.is_empty() {
                c.action = Some(OidAction::Multicast(changes));
            }
            Ok(d.len())
        },
    ),
    q(OID_GEN_XMIT_OK, |c, b| b.counter(c.counters.tx_packets)),
    q(OID_GEN_RCV_OK, |c, b| b.counter(c.counters.rx_packets)),
    q(OID_GEN_XMIT_ERROR, |c, b| b.counter(c.counters.tx_errors)),
    q(OID_GEN_RCV_ERROR, |c, b| b.counter(c.counters.rx_errors)),
    q(OID_GEN_RCV_NO_BUFFER, |c, b| {
        b.counter(c.counters.rx_discards)
    }),
    q(OID_GEN_STATISTICS, |c, b| b.object(&statistics(c.counters))),
    q(OID_TCP_OFFLOAD_CURRENT_CONFIG, |c, b| {
        b.object(&c.state.offload.ndis_offload())
    }),
    q(OID_TCP_OFFLOAD_HARDWARE_CAPABILITIES, |c, b| {
        b.object(&OffloadConfig::all(c.state.caps).ndis_offload())
    }),
    OidEntry {
        oid: OID_TCP_OFFLOAD_PARAMETERS,
        query: None,
        set: Some(set_offload_parameters),
    },
    qs(
        OID_OFFLOAD_ENCAPSULATION,
        |_, b| b.object(&encapsulation()),
        set_encapsulation,
    ),
    q(OID_GEN_RECEIVE_SCALE_CAPABILITIES, |c, b| {
        b.object(&NdisReceiveScaleCapabilities {
            header: ObjectHeader::new(
                NDIS_OBJECT_TYPE_RSS_CAPABILITIES,
                NDIS_RECEIVE_SCALE_CAPABILITIES_REVISION_2,
                size_of::<NdisReceiveScaleCapabilities>(),
            ),
            capabilities_flags: NDIS_RSS_CAPS_CLASSIFICATION_AT_DPC
                | NDIS_RSS_CAPS_HASH_TYPE_TCP_IPV4
                | NDIS_RSS_CAPS_HASH_TYPE_TCP_IPV6,
            number_of_interrupt_messages: 1,
            number_of_receive_queues: c.nic.queues,
            number_of_indirection_table_entries: MAX_TABLE as u16,
        })
    }),
    OidEntry {
        oid: OID_GEN_RECEIVE_SCALE_PARAMETERS,
        query: None,
        set: Some(|c, d| {
            let config =
                rss::parse(d, c.nic.queues, c.state.rss.as_ref()).map_err(|e| match e {
                    RssError::Length { needed } => OidError::Short { needed },
                    _ => OidError::Invalid,
                })?;
            c.state.rss = config.clone();
            c.action = Some(OidAction::Rss(config));
            Ok(d.len())
        }),
    },
    OidEntry {
        oid: OID_GEN_NETWORK_LAYER_ADDRESSES,
        query: None,
        set: Some(set_network_addresses),
    },
];

fn statistics(c: &Counters) -> NdisStatisticsInfo {
    NdisStatisticsInfo {
        header: ObjectHeader::new(
            NDIS_OBJECT_TYPE_DEFAULT,
            NDIS_STATISTICS_INFO_REVISION_1,
            size_of::<NdisStatisticsInfo>(),
        ),
        supported_statistics: NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_RCV
            | NDIS_STATISTICS_FLAGS_VALID_BYTES_RCV
            | NDIS_STATISTICS_FLAGS_VALID_RCV_DISCARDS
            | NDIS_STATISTICS_FLAGS_VALID_DIRECTED_FRAMES_XMIT
            | NDIS_STATISTICS_FLAGS_VALID_BYTES_XMIT
            | NDIS_STATISTICS_FLAGS_VALID_XMIT_ERROR
            | NDIS_STATISTICS_FLAGS_VALID_XMIT_DISCARDS,
        if_in_discards: c.rx_discards,
        if_in_errors: c.rx_errors,
        if_hc_in_octets: c.rx_bytes,
        if_hc_in_ucast_pkts: c.rx_packets,
        if_hc_out_octets: c.tx_bytes,
        if_hc_out_ucast_pkts: c.tx_packets,
        if_out_errors: c.tx_errors,
        if_out_discards: c.tx_discards,
        if_hc_in_ucast_octets: c.rx_bytes,
        if_hc_out_ucast_octets: c.tx_bytes,
        ..NdisStatisticsInfo::default()
    }
}

fn encapsulation() -> NdisOffloadEncapsulation {
    NdisOffloadEncapsulation {
        header: ObjectHeader::new(
            NDIS_OBJECT_TYPE_OFFLOAD_ENCAPSULATION,
            NDIS_OFFLOAD_ENCAPSULATION_REVISION_1,
            size_of::<NdisOffloadEncapsulation>(),
        ),
        ipv4_enabled: NDIS_OFFLOAD_SET_ON,
        ipv4_encapsulation_type: NDIS_ENCAPSULATION_IEEE_802_3,
        ipv4_header_size: 14,
        ipv6_enabled: NDIS_OFFLOAD_SET_ON,
        ipv6_encapsulation_type: NDIS_ENCAPSULATION_IEEE_802_3,
        ipv6_header_size: 14,
    }
}

use xenpv_ddk::ndis::NDIS_OBJECT_TYPE_OFFLOAD_ENCAPSULATION;

fn set_encapsulation(_: &mut Ctx<'_>, d: &[u8]) -> Result<usize, OidError> {
    let n = size_of::<NdisOffloadEncapsulation>();
    need(d, n)?;
    let word =
        |i: usize| u32::from_le_bytes([d[4 + 4 * i], d[5 + 4 * i], d[6 + 4 * i], d[7 + 4 * i]]);
    // IPv4 and IPv6: enabled with 802.3 framing and a 14-byte header is all that works.
    for (enabled, kind, header) in [(word(0), word(1), word(2)), (word(3), word(4), word(5))] {
        if enabled == NDIS_OFFLOAD_SET_ON && (kind != NDIS_ENCAPSULATION_IEEE_802_3 || header != 14)
        {
            return Err(OidError::Unsupported);
        }
    }
    Ok(n)
}

fn set_offload_parameters(c: &mut Ctx<'_>, d: &[u8]) -> Result<usize, OidError> {
    need(d, NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_1)?;
    let mut p = NdisOffloadParameters::default();
    let n = d.len().min(size_of::<NdisOffloadParameters>());
    // SAFETY: a repr(C) structure of integers, written from at most its own size of bytes.
    unsafe {
        core::ptr::copy_nonoverlapping(d.as_ptr(), (&mut p as *mut NdisOffloadParameters).cast(), n)
    };
    // Fields past the revision the caller wrote stay NO_CHANGE (0).
    let revision_2_end = NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_2;
    if d.len() < revision_2_end + 2 {
        p.rsc_ipv4 = 0;
        p.rsc_ipv6 = 0;
    }
    let mut o = c.state.offload;
    let caps = c.state.caps;
    let csum = |v: u8, tx: &mut bool, rx: &mut bool| -> Result<(), OidError> {
        match v {
            NDIS_OFFLOAD_PARAMETERS_NO_CHANGE => {}
            NDIS_OFFLOAD_PARAMETERS_TX_RX_DISABLED => (*tx, *rx) = (false, false),
            NDIS_OFFLOAD_PARAMETERS_TX_ENABLED_RX_DISABLED => (*tx, *rx) = (true, false),
            NDIS_OFFLOAD_PARAMETERS_RX_ENABLED_TX_DISABLED => (*tx, *rx) = (false, true),
            NDIS_OFFLOAD_PARAMETERS_TX_RX_ENABLED => (*tx, *rx) = (true, true),
            _ => return Err(OidError::Invalid),
        }
        Ok(())
    };
    // TCP and UDP share one switch per IP version here; the TCP value wins when both are set.
    let v4 = if p.tcp_ipv4_checksum != 0 {
        p.tcp_ipv4_checksum
    } else {
        p.udp_ipv4_checksum
    };
    let v6 = if p.tcp_ipv6_checksum != 0 {
        p.tcp_ipv6_checksum
    } else {
        p.udp_ipv6_checksum
    };
    csum(v4, &mut o.tx_csum_v4, &mut o.rx_csum_v4)?;
    csum(v6, &mut o.tx_csum_v6, &mut o.rx_csum_v6)?;
    if p.ipv4_checksum == NDIS_OFFLOAD_PARAMETERS_TX_ENABLED_RX_DISABLED
        || p.ipv4_checksum == NDIS_OFFLOAD_PARAMETERS_TX_RX_ENABLED
    {
        // IPv4 header checksum on transmit is not offered.
        return Err(OidError::Unsupported);
    }
    let switch = |v: u8, on: u8, off: u8, cap: bool, cur: &mut bool| -> Result<(), OidError> {
        match v {
            NDIS_OFFLOAD_PARAMETERS_NO_CHANGE => Ok(()),
            v if v == off => {
                *cur = false;
                Ok(())
            }
            v if v == on && cap => {
                *cur = true;
                Ok(())
            }
            v if v == on => Err(OidError::Unsupported),
            _ => Err(OidError::Invalid),
        }
    };
    use xenpv_ddk::ndis::oid::{
        NDIS_OFFLOAD_PARAMETERS_LSOV2_DISABLED as LD, NDIS_OFFLOAD_PARAMETERS_LSOV2_ENABLED as LE,
        NDIS_OFFLOAD_PARAMETERS_RSC_DISABLED as RD, NDIS_OFFLOAD_PARAMETERS_RSC_ENABLED as RE,
    };
    switch(p.lso_v2_ipv4, LE, LD, caps.lso_v4, &mut o.lso_v4)?;
    switch(p.lso_v2_ipv6, LE, LD, caps.lso_v6, &mut o.lso_v6)?;
    switch(p.rsc_ipv4, RE, RD, caps.rsc, &mut o.rsc_v4)?;
    switch(p.rsc_ipv6, RE, RD, caps.rsc, &mut o.rsc_v6)?;
    if o != c.state.offload {
        c.state.offload = o;
        c.action = Some(OidAction::OffloadChanged);
    }
    Ok(n)
}

fn set_network_addresses(c: &mut Ctx<'_>, d: &[u8]) -> Result<usize, OidError> {
    // NETWORK_ADDRESS_LIST: a count, then entries (length, type, address bytes); an IPv4
    // entry's address is a NETWORK_ADDRESS_IP with the address at `in_addr`. Layouts measured
    // against ntddndis.h by xenpv-ddk's conformance test.
    need(d, NETWORK_ADDRESS_LIST_ADDRESS_OFFSET)?;
    let count = i32::from_le_bytes([d[0], d[1], d[2], d[3]]);
    let mut at = NETWORK_ADDRESS_LIST_ADDRESS_OFFSET;
    let mut found: ArrayVec<[u8; 4], MAX_ADDRESSES> = ArrayVec::new();
    for _ in 0..count.max(0) {
        let data = at + NETWORK_ADDRESS_ADDRESS_OFFSET;
        need(d, data)?;
        let len = usize::from(u16::from_le_bytes([d[at], d[at + 1]]));
        let kind = u16::from_le_bytes([d[at + 2], d[at + 3]]);
        need(d, data + len)?;
        if kind == NDIS_PROTOCOL_ID_TCP_IP && len >= NETWORK_ADDRESS_LENGTH_IP && !found.is_full() {
            let a = &d[data + NETWORK_ADDRESS_IP_IN_ADDR_OFFSET
                ..data + NETWORK_ADDRESS_IP_IN_ADDR_OFFSET + 4];
            found.push([a[0], a[1], a[2], a[3]]);
        }
        at = data + len;
    }
    c.state.ipv4 = found;
    Ok(d.len())
}

/// Runs a query for `oid` into `buf`.
pub fn query(ctx: &mut Ctx<'_>, oid: u32, buf: &mut [u8]) -> OidResult {
    let Some(handler) = TABLE.iter().find(|e| e.oid == oid).and_then(|e| e.query) else {
        return result(Err(OidError::Unsupported), oid_known(oid), true);
    };
    let mut b = QueryBuffer { buf, written: 0 };
    let r = handler(ctx, &mut b).map(|()| b.written);
    result(r, true, true)
}

/// Runs a set of `oid` with `data`; an action it asks for is left in `ctx.action`.
pub fn set(ctx: &mut Ctx<'_>, oid: u32, data: &[u8]) -> OidResult {
    let Some(handler) = TABLE.iter().find(|e| e.oid == oid).and_then(|e| e.set) else {
        return result(Err(OidError::Unsupported), oid_known(oid), false);
    };
    result(handler(ctx, data), true, false)
}

fn oid_known(oid: u32) -> bool {
    TABLE.iter().any(|e| e.oid == oid)
}

fn result(r: Result<usize, OidError>, known: bool, query: bool) -> OidResult {
    let fail = |status| OidResult {
        status,
        bytes: 0,
        needed: 0,
    };
    match r {
        Ok(n) => OidResult {
            status: NDIS_STATUS_SUCCESS,
            bytes: n as u32,
            needed: 0,
        },
        Err(OidError::Short { needed }) => OidResult {
            status: if query {
                NDIS_STATUS_BUFFER_TOO_SHORT
            } else {
                NDIS_STATUS_INVALID_LENGTH
            },
            bytes: 0,
            needed: needed as u32,
        },
        Err(OidError::Unsupported) if !known => fail(NDIS_STATUS_INVALID_OID),
        Err(OidError::Unsupported) => fail(NDIS_STATUS_NOT_SUPPORTED),
        Err(OidError::Invalid) => fail(NDIS_STATUS_INVALID_PARAMETER),
        Err(OidError::Data) => fail(NDIS_STATUS_INVALID_DATA),
        Err(OidError::MulticastFull) => fail(NDIS_STATUS_MULTICAST_FULL),
    }
}

/// Media connect state for link indications and the general attributes.
pub fn media_connect_state(connected: bool) -> u32 {
    if connected {
        MEDIA_CONNECT_STATE_CONNECTED
    } else {
        MEDIA_CONNECT_STATE_DISCONNECTED
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rss::tests::params;
    use std::vec;
    use xenpv_ddk::ndis::nbl::{NDIS_HASH_FUNCTION_TOEPLITZ, NDIS_HASH_TCP_IPV4};

    const NIC: NicInfo = NicInfo {
        mac: [0x00, 0x16, 0x3e, 0, 0, 1],
        permanent_mac: [0x00, 0x16, 0x3e, 0, 0, 1],
        mtu: 1500,
        link_speed_bps: 10_000_000_000,
        connected: true,
        queues: 4,
    };

    fn ctx<'a>(state: &'a mut OidState, counters: &'a Counters) -> Ctx<'a> {
        Ctx {
            state,
            nic: &NIC,
            counters,
            action: None,
        }
    }

    #[test]
    fn short_query_buffers_name_the_length_and_are_not_written() {
        let mut state = OidState::default();
        let counters = Counters {
            tx_packets: 7,
            ..Counters::default()
        };
        let mut c = ctx(&mut state, &counters);
        let mut buf = [0xaau8; 5];
        let r = query(&mut c, OID_802_3_CURRENT_ADDRESS, &mut buf);
        assert_eq!((r.status, r.needed), (NDIS_STATUS_BUFFER_TOO_SHORT, 6));
        let mut mac = [0u8; 6];
        let r = query(&mut c, OID_802_3_CURRENT_ADDRESS, &mut mac);
        assert_eq!((r.status, r.bytes, mac), (NDIS_STATUS_SUCCESS, 6, NIC.mac));
        let r = query(&mut c, OID_GEN_STATISTICS, &mut buf);
        assert_eq!(r.status, NDIS_STATUS_BUFFER_TOO_SHORT);
        assert_eq!(r.needed as usize, size_of::<NdisStatisticsInfo>());
        assert_eq!(buf, [0xaa; 5], "nothing written");
        let mut stats = vec![0u8; size_of::<NdisStatisticsInfo>()];
        let r = query(&mut c, OID_GEN_STATISTICS, &mut stats);
        assert_eq!(
            (r.status, r.bytes as usize),
            (NDIS_STATUS_SUCCESS, stats.len())
        );
        assert_eq!(
            u64::from_le_bytes(stats[0x40..0x48].try_into().unwrap()),
            7,
            "ifHCOutUcastPkts"
        );
        // Counters fit 4 bytes when that is all there is.
        let mut four = [0u8; 4];
        let r = query(&mut c, OID_GEN_XMIT_OK, &mut four);
        assert_eq!(
            (r.status, r.bytes, four),
            (NDIS_STATUS_SUCCESS, 4, 7u32.to_le_bytes())
        );
        let r = query(&mut c, OID_GEN_XMIT_OK, &mut [0u8; 3]);
        assert_eq!((r.status, r.needed), (NDIS_STATUS_BUFFER_TOO_SHORT, 8));
    }

    #[test]
    fn sets_validate_and_leave_actions() {
        let mut state = OidState {
            caps: OffloadCaps {
                lso_v4: true,
                lso_v6: false,
                rsc: true,
            },
            ..OidState::default()
        };
        state.offload = OffloadConfig::all(state.caps);
        let counters = Counters::default();
        let mut c = ctx(&mut state, &counters);
        // RSS: a 3-entry table is refused, a good one becomes an action with queue numbers.
        let key = [7u8; 40];
        let info = NDIS_HASH_FUNCTION_TOEPLITZ | NDIS_HASH_TCP_IPV4;
        let r = set(
            &mut c,
            OID_GEN_RECEIVE_SCALE_PARAMETERS,
            &params(0, info, &[0, 1, 2], &key),
        );
        assert_eq!(r.status, NDIS_STATUS_INVALID_PARAMETER);
        assert_eq!(c.action, None);
        let r = set(
            &mut c,
            OID_GEN_RECEIVE_SCALE_PARAMETERS,
            &params(0, info, &[5, 6], &key),
        );
        assert_eq!(r.status, NDIS_STATUS_SUCCESS);
        match &c.action {
            Some(OidAction::Rss(Some(cfg))) => assert_eq!(cfg.table.as_slice(), [1, 2]),
            other => panic!("{other:?}"),
        }
        let r = set(&mut c, OID_GEN_RECEIVE_SCALE_PARAMETERS, &[0u8; 8]);
        assert_eq!((r.status, r.needed), (NDIS_STATUS_INVALID_LENGTH, 0x1c));
        // A short set of a 4-byte OID.
        c.action = None;
        let r = set(&mut c, OID_GEN_CURRENT_PACKET_FILTER, &[1, 0]);
        assert_eq!((r.status, r.needed), (NDIS_STATUS_INVALID_LENGTH, 4));
        // Multicast: the list's difference goes to the backend.
        let r = set(&mut c, OID_802_3_MULTICAST_LIST, &[1, 0, 0x5e, 0, 0, 1]);
        assert_eq!((r.status, r.bytes), (NDIS_STATUS_SUCCESS, 6));
        assert!(matches!(&c.action, Some(OidAction::Multicast(m)) if m.len() == 1 && m[0].add));
        let r = set(&mut c, OID_802_3_MULTICAST_LIST, &[1u8; 6 * 33]);
        assert_eq!(r.status, NDIS_STATUS_MULTICAST_FULL);
        // Offload parameters: turning LSOv4 off is a change; LSOv6 on is not offered.
        c.action = None;
        let mut p = NdisOffloadParameters {
            lso_v2_ipv4: NDIS_OFFLOAD_PARAMETERS_LSOV2_DISABLED,
            ..Default::default()
        };
        // SAFETY: viewing a repr(C) integer structure as bytes.
        let bytes = |p: &NdisOffloadParameters| {
            unsafe {
                core::slice::from_raw_parts(
                    (p as *const NdisOffloadParameters).cast::<u8>(),
                    size_of::<NdisOffloadParameters>(),
                )
            }
            .to_vec()
        };
        let r = set(&mut c, OID_TCP_OFFLOAD_PARAMETERS, &bytes(&p));
        assert_eq!(r.status, NDIS_STATUS_SUCCESS);
        assert_eq!(c.action, Some(OidAction::OffloadChanged));
        assert!(!c.state.offload.lso_v4);
        assert_eq!(
            c.state.offload.ndis_offload().lso_v2.ipv4_max_offload_size,
            0
        );
        p.lso_v2_ipv4 = 0;
        p.lso_v2_ipv6 = NDIS_OFFLOAD_PARAMETERS_LSOV2_ENABLED;
        let r = set(&mut c, OID_TCP_OFFLOAD_PARAMETERS, &bytes(&p));
        assert_eq!(r.status, NDIS_STATUS_NOT_SUPPORTED);
        let r = set(&mut c, OID_TCP_OFFLOAD_PARAMETERS, &bytes(&p)[..8]);
        assert_eq!((r.status, r.needed), (NDIS_STATUS_INVALID_LENGTH, 0x14));
    }

    #[test]
    fn the_supported_list_is_the_table_and_unknown_oids_are_invalid() {
        let mut state = OidState::default();
        let counters = Counters::default();
        let mut c = ctx(&mut state, &counters);
        let mut buf = vec![0u8; 4 * TABLE.len()];
        let r = query(&mut c, OID_GEN_SUPPORTED_LIST, &mut buf);
        assert_eq!(r.bytes as usize, buf.len());
        let listed: std::vec::Vec<u32> = buf
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes(w.try_into().unwrap()))
            .collect();
        assert!(
            listed.contains(&OID_GEN_STATISTICS)
                && listed.contains(&OID_GEN_RECEIVE_SCALE_PARAMETERS)
        );
        assert_eq!(listed.len(), TABLE.len());
        assert_eq!(
            query(&mut c, 0x0001_0199, &mut buf).status,
            NDIS_STATUS_INVALID_OID
        );
        assert_eq!(
            query(&mut c, OID_TCP_OFFLOAD_PARAMETERS, &mut buf).status,
            NDIS_STATUS_NOT_SUPPORTED,
            "set-only OID"
        );
        assert_eq!(
            set(&mut c, OID_GEN_LINK_SPEED, &[0; 4]).status,
            NDIS_STATUS_NOT_SUPPORTED
        );
    }

    #[test]
    fn network_layer_addresses_keep_the_ipv4_ones() {
        let mut state = OidState::default();
        let counters = Counters::default();
        let mut c = ctx(&mut state, &counters);
        let mut d = std::vec::Vec::new();
        d.extend_from_slice(&2i32.to_le_bytes());
        d.extend_from_slice(&NDIS_PROTOCOL_ID_TCP_IP.to_le_bytes());
        for ip in [[10, 0, 0, 5], [192, 168, 7, 1]] {
            d.extend_from_slice(&16u16.to_le_bytes());
            d.extend_from_slice(&NDIS_PROTOCOL_ID_TCP_IP.to_le_bytes());
            d.extend_from_slice(&[0, 0, 0, 0]);
            d.extend_from_slice(&ip);
            d.extend_from_slice(&[0; 8]);
        }
        assert_eq!(
            set(&mut c, OID_GEN_NETWORK_LAYER_ADDRESSES, &d).status,
            NDIS_STATUS_SUCCESS
        );
        assert_eq!(c.state.ipv4.as_slice(), [[10, 0, 0, 5], [192, 168, 7, 1]]);
        // A count that promises more entries than the buffer holds.
        d[0] = 3;
        let r = set(&mut c, OID_GEN_NETWORK_LAYER_ADDRESSES, &d);
        assert_eq!(r.status, NDIS_STATUS_INVALID_LENGTH);
    }

    /// A small deterministic generator for arbitrary bytes (xorshift64).
    fn bytes(seed: &mut u64, n: usize) -> std::vec::Vec<u8> {
        (0..n)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                *seed as u8
            })
            .collect()
    }

    #[test]
    fn no_buffer_length_or_content_reads_or_writes_outside_the_buffer() {
        let counters = Counters {
            tx_packets: u64::MAX,
            ..Counters::default()
        };
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        for entry in TABLE {
            for len in 0..=200usize {
                let mut state = OidState::default();
                let mut c = ctx(&mut state, &counters);
                if entry.query.is_some() {
                    // The answer goes into `len` bytes of a larger buffer whose tail must stay.
                    let mut big = std::vec![0x5a_u8; len + 64];
                    let r = query(&mut c, entry.oid, &mut big[..len]);
                    assert!(
                        big[len..].iter().all(|&b| b == 0x5a),
                        "{:#x} wrote past {len}",
                        entry.oid
                    );
                    assert!(r.bytes as usize <= len);
                    if r.status == NDIS_STATUS_BUFFER_TOO_SHORT {
                        assert!(
                            r.needed as usize > len,
                            "{:#x}: needed {} at {len}",
                            entry.oid,
                            r.needed
                        );
                    } else {
                        assert_eq!(r.status, NDIS_STATUS_SUCCESS, "{:#x} at {len}", entry.oid);
                    }
                }
                if entry.set.is_some() {
                    // Arbitrary contents: a typed refusal or success, never a panic.
                    let data = bytes(&mut seed, len);
                    let r = set(&mut c, entry.oid, &data);
                    assert!(r.bytes as usize <= len);
                    if r.status == NDIS_STATUS_INVALID_LENGTH {
                        assert!(r.needed as usize > len, "{:#x}", entry.oid);
                    }
                }
            }
        }
    }
}
