//! What the upper layer and the netif engine exchange: packets to send with their offload requests,
//! received packets' metadata, and per-packet transmit status.

use crate::platform::Gfn;
use xenpv_abi::netif::{
    NETIF_RSP_DROPPED, NETIF_RSP_ERROR, NETIF_RSP_OKAY, XEN_NETIF_CTRL_HASH_TYPE_IPV4_BIT,
    XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT, XEN_NETIF_CTRL_HASH_TYPE_IPV6_BIT,
    XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP_BIT, XEN_NETIF_GSO_TYPE_TCPV4, XEN_NETIF_GSO_TYPE_TCPV6,
};

/// Protocol of a large (GSO / LSO / RSC) TCP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GsoKind {
    /// TCP over IPv4.
    TcpV4,
    /// TCP over IPv6.
    TcpV6,
}

impl GsoKind {
    /// The `XEN_NETIF_GSO_TYPE_*` value.
    pub fn wire(self) -> u8 {
        match self {
            GsoKind::TcpV4 => XEN_NETIF_GSO_TYPE_TCPV4,
            GsoKind::TcpV6 => XEN_NETIF_GSO_TYPE_TCPV6,
        }
    }

    /// Parses a `XEN_NETIF_GSO_TYPE_*` value; `None` for NONE and unknown types.
    pub fn from_wire(v: u8) -> Option<Self> {
        match v {
            XEN_NETIF_GSO_TYPE_TCPV4 => Some(GsoKind::TcpV4),
            XEN_NETIF_GSO_TYPE_TCPV6 => Some(GsoKind::TcpV6),
            _ => None,
        }
    }
}

/// A large packet to be segmented (transmit) or one coalesced by the backend (receive, what NDIS
/// RSC reports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gso {
    /// TCP over IPv4 or IPv6.
    pub kind: GsoKind,
    /// Segment payload size (the MSS); never zero.
    pub mss: u16,
}

/// Checksum state of a packet to transmit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TxChecksum {
    /// The packet's checksums are complete as they are.
    #[default]
    Complete,
    /// The TCP/UDP checksum field is blank: the backend (or whoever receives it) fills it in.
    Offload,
    /// The upper layer has already validated the checksum (forwarded traffic).
    Validated,
}

/// Offload requests that travel with a packet to transmit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxOffload {
    /// Checksum state.
    pub checksum: TxChecksum,
    /// Segmentation request; implies [`TxChecksum::Offload`].
    pub gso: Option<Gso>,
}

/// Where a fragment's bytes lie in the caller's own guest frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentFrames<'a> {
    /// Offset of the fragment's first byte in the first frame.
    pub offset: usize,
    /// The frames holding the fragment's bytes, in order, each filled from its start after the first.
    pub gfns: &'a [Gfn],
}

/// A packet the upper layer hands to a transmit queue: a list of fragments plus offload requests.
/// The engine copies the bytes into pre-granted buffers when it takes the packet — or, for large
/// fragments in the caller's own frames, grants those frames — and gives the packet back, with
/// its status, when the backend has answered (and no longer reaches any of its frames).
pub trait TxPacket {
    /// Offload requests.
    fn offload(&self) -> TxOffload;
    /// The fragments, in order; their concatenation is the Ethernet frame.
    fn fragments(&self) -> impl Iterator<Item = &[u8]>;
    /// The packet's RSS hash, if the upper layer has one (NDIS hash information on send) and
    /// hashing is on: it travels as a hash extra, which a backend that does Toeplitz hashing
    /// accepts (netif.h) and uses to pick the receiving queue.
    fn hash(&self) -> Option<RssHash> {
        None
    }
    /// Where fragment `index` (counting as [`fragments`](Self::fragments) does) lies in the
    /// caller's own frames, if it does: the engine may then grant those frames to the backend
    /// instead of copying, so they must hold the fragment's bytes until the packet comes back.
    fn fragment_frames(&self, index: usize) -> Option<FragmentFrames<'_>> {
        let _ = index;
        None
    }
}

/// Checksum state of a received packet, from the backend's NETRXF_* flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RxChecksum {
    /// Nothing is known: the upper layer verifies checksums itself.
    #[default]
    Unknown,
    /// The backend validated the checksums.
    Validated,
    /// The TCP/UDP checksum field is blank (the sender offloaded it) and the data is known good.
    Blank,
}

/// The RSS hash types of io/netif.h.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashKind {
    /// IPv4 source and destination addresses.
    Ipv4,
    /// IPv4 addresses and TCP ports.
    Ipv4Tcp,
    /// IPv6 source and destination addresses.
    Ipv6,
    /// IPv6 addresses and TCP ports.
    Ipv6Tcp,
}

impl HashKind {
    /// The `_XEN_NETIF_CTRL_HASH_TYPE_*` bit number (what a hash extra carries).
    pub fn bit(self) -> u32 {
        match self {
            HashKind::Ipv4 => XEN_NETIF_CTRL_HASH_TYPE_IPV4_BIT,
            HashKind::Ipv4Tcp => XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT,
            HashKind::Ipv6 => XEN_NETIF_CTRL_HASH_TYPE_IPV6_BIT,
            HashKind::Ipv6Tcp => XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP_BIT,
        }
    }

    /// The `XEN_NETIF_CTRL_HASH_TYPE_*` flag.
    pub fn flag(self) -> u32 {
        1 << self.bit()
    }

    /// Parses a bit number; `None` for values netif.h does not define.
    pub fn from_bit(bit: u8) -> Option<Self> {
        [
            HashKind::Ipv4,
            HashKind::Ipv4Tcp,
            HashKind::Ipv6,
            HashKind::Ipv6Tcp,
        ]
        .into_iter()
        .find(|k| k.bit() == u32::from(bit))
    }
}

/// An RSS hash of a received packet (NDIS_HASH_VALUE / type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RssHash {
    /// The Toeplitz hash.
    pub value: u32,
    /// Which header fields it covers.
    pub kind: HashKind,
}

/// Metadata of a received packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxMeta {
    /// Checksum state.
    pub checksum: RxChecksum,
    /// Set when the backend coalesced segments into this packet (large receive).
    pub gso: Option<Gso>,
    /// Set when the backend computed an RSS hash.
    pub hash: Option<RssHash>,
}

/// How a transmitted packet ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxStatus {
    /// The backend took it.
    Ok,
    /// The backend refused it (NETIF_RSP_ERROR).
    Error,
    /// The backend dropped it (NETIF_RSP_DROPPED).
    Dropped,
    /// The backend went away before answering.
    Disconnected,
}

impl TxStatus {
    /// Parses a response status; `None` for NETIF_RSP_NULL and values the protocol does not have.
    pub(crate) fn from_wire(status: i16) -> Option<Self> {
        match status {
            NETIF_RSP_OKAY => Some(TxStatus::Ok),
            NETIF_RSP_ERROR => Some(TxStatus::Error),
            NETIF_RSP_DROPPED => Some(TxStatus::Dropped),
            _ => None,
        }
    }
}

/// Something the transmit side finished.
#[derive(Debug, PartialEq, Eq)]
pub enum TxDone<P> {
    /// A packet, given back with its status.
    Packet {
        /// The packet as it was submitted.
        packet: P,
        /// How it ended.
        status: TxStatus,
    },
    /// A multicast filter change.
    Multicast {
        /// The address.
        addr: [u8; 6],
        /// Added (`true`) or removed.
        add: bool,
        /// The backend's answer.
        status: TxStatus,
    },
}

/// A simple owned packet: one buffer and its offloads (tests, the sim demo, benches).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedPacket<B> {
    /// The frame.
    pub frame: B,
    /// Offload requests.
    pub offload: TxOffload,
}

impl<B: AsRef<[u8]>> TxPacket for OwnedPacket<B> {
    fn offload(&self) -> TxOffload {
        self.offload
    }

    fn fragments(&self) -> impl Iterator<Item = &[u8]> {
        core::iter::once(self.frame.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_values_round_trip_and_unknowns_are_rejected() {
        for k in [GsoKind::TcpV4, GsoKind::TcpV6] {
            assert_eq!(GsoKind::from_wire(k.wire()), Some(k));
        }
        assert_eq!(GsoKind::from_wire(0), None);
        assert_eq!(GsoKind::from_wire(3), None);
        for k in [
            HashKind::Ipv4,
            HashKind::Ipv4Tcp,
            HashKind::Ipv6,
            HashKind::Ipv6Tcp,
        ] {
            assert_eq!(HashKind::from_bit(k.bit() as u8), Some(k));
            assert_eq!(k.flag().count_ones(), 1);
        }
        assert_eq!(HashKind::from_bit(4), None);
        assert_eq!(TxStatus::from_wire(0), Some(TxStatus::Ok));
        assert_eq!(TxStatus::from_wire(-1), Some(TxStatus::Error));
        assert_eq!(TxStatus::from_wire(-2), Some(TxStatus::Dropped));
        assert_eq!(
            TxStatus::from_wire(1),
            None,
            "NETIF_RSP_NULL is not a status"
        );
        assert_eq!(TxStatus::from_wire(-3), None);
    }
}
