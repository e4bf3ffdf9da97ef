//! Netback's control ring: hash algorithm, types, key and mapping table, with the limits and
//! status codes of Linux xen-netback (hash.c). A configuration takes effect on the vif's port,
//! which then hashes and steers what it delivers to the frontend.

use xenpv_abi::netif::{
    NetifCtrlResponse, XEN_NETIF_CTRL_HASH_ALGORITHM_NONE, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ,
    XEN_NETIF_CTRL_HASH_TYPE_IPV4, XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP,
    XEN_NETIF_CTRL_HASH_TYPE_IPV6, XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP,
    XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW, XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
    XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED, XEN_NETIF_CTRL_STATUS_SUCCESS,
    XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE,
    XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS,
    XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING,
    XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE,
};
use xenpv_abi::{EvtchnPort, PAGE_SIZE};
use xenpv_datapath::netif::toeplitz::{Steering, MAX_KEY_LEN, MAX_MAPPING_LEN};
use xenpv_datapath::ring::SharedRing;

use super::port::VifPort;
use super::{CtrlBack, NetbackError, Peer, VifStats};
use crate::host::Mapping;

const SUPPORTED_FLAGS: u32 = XEN_NETIF_CTRL_HASH_TYPE_IPV4
    | XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP
    | XEN_NETIF_CTRL_HASH_TYPE_IPV6
    | XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP;

pub(crate) struct Ctrl {
    ring: CtrlBack,
    _map: Mapping,
    port: EvtchnPort,
    queues: u32,
    toeplitz: bool,
    flags: u32,
    key: Vec<u8>,
    mapping: Vec<u32>,
}

impl Ctrl {
    pub fn connect(
        peer: &Peer,
        gref: u32,
        port: EvtchnPort,
        queues: usize,
    ) -> Result<Self, NetbackError> {
        let (map, mem) = peer.map_page(gref)?;
        let ring = SharedRing::new::<xenpv_abi::netif::NetifCtrlRequest, NetifCtrlResponse>(mem)
            .expect("a page holds a ctrl ring");
        let port = peer.bind(port)?;
        Ok(Self {
            ring: CtrlBack::attach(ring),
            _map: map,
            port,
            queues: queues as u32,
            toeplitz: false,
            flags: 0,
            key: Vec::with_capacity(MAX_KEY_LEN),
            mapping: Vec::with_capacity(MAX_MAPPING_LEN),
        })
    }

    pub fn poll(
        &mut self,
        peer: &Peer,
        vif: &VifPort,
        stats: &mut VifStats,
    ) -> Result<(), NetbackError> {
        loop {
            let reqs: Vec<_> = self
                .ring
                .poll_requests()
                .map_err(NetbackError::Ring)?
                .collect();
            for req in reqs {
                let (status, data) = self.handle(peer, req.kind, req.data);
                stats.ctrl_ops += 1;
                let rsp = NetifCtrlResponse {
                    id: req.id,
                    kind: req.kind,
                    status,
                    data,
                };
                self.ring.push(&rsp).expect("one response per request");
            }
            vif.set_steering(self.steering());
            if self.ring.publish() {
                peer.notify(self.port);
            }
            if !self
                .ring
                .final_check_for_requests()
                .map_err(NetbackError::Ring)?
            {
                return Ok(());
            }
        }
    }

    pub fn port(&self) -> EvtchnPort {
        self.port
    }

    fn steering(&self) -> Option<Steering> {
        if !self.toeplitz || self.flags == 0 {
            return None;
        }
        Steering::new(&self.key, self.flags, &self.mapping, self.queues).ok()
    }

    fn handle(&mut self, peer: &Peer, kind: u16, data: [u32; 3]) -> (u32, u32) {
        const OK: u32 = XEN_NETIF_CTRL_STATUS_SUCCESS;
        const INVALID: u32 = XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        match kind {
            XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM => match data[0] {
                XEN_NETIF_CTRL_HASH_ALGORITHM_NONE => {
                    self.toeplitz = false;
                    (OK, 0)
                }
                XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ => {
                    self.toeplitz = true;
                    (OK, 0)
                }
                _ => (INVALID, 0),
            },
            XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS if self.toeplitz => (OK, SUPPORTED_FLAGS),
            XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS if self.toeplitz => {
                if data[0] & !SUPPORTED_FLAGS != 0 {
                    return (INVALID, 0);
                }
                self.flags = data[0];
                (OK, 0)
            }
            XEN_NETIF_CTRL_TYPE_SET_HASH_KEY => {
                let len = data[1] as usize;
                if len > MAX_KEY_LEN {
                    return (XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW, 0);
                }
                let mut key = [0u8; MAX_KEY_LEN];
                if len > 0
                    && peer
                        .host
                        .copy_from_grant(peer.dom, peer.front, data[0], 0, &mut key[..len])
                        .is_err()
                {
                    return (INVALID, 0);
                }
                self.key.clear();
                self.key.extend_from_slice(&key[..len]);
                (OK, 0)
            }
            XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE => (OK, MAX_MAPPING_LEN as u32),
            XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE => {
                let size = data[0] as usize;
                if size > MAX_MAPPING_LEN {
                    return (INVALID, 0);
                }
                self.mapping.clear();
                self.mapping.resize(size, 0);
                (OK, 0)
            }
            XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING => {
                let (len, off) = (data[1] as usize, data[2] as usize);
                if off
                    .checked_add(len)
                    .is_none_or(|end| end > self.mapping.len())
                    || len > PAGE_SIZE / 4
                {
                    return (INVALID, 0);
                }
                let mut bytes = vec![0u8; len * 4];
                if len > 0
                    && peer
                        .host
                        .copy_from_grant(peer.dom, peer.front, data[0], 0, &mut bytes)
                        .is_err()
                {
                    return (INVALID, 0);
                }
                let entries: Vec<u32> = bytes
                    .chunks_exact(4)
                    .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                if entries.iter().any(|&q| q >= self.queues) {
                    return (INVALID, 0);
                }
                self.mapping[off..off + len].copy_from_slice(&entries);
                (OK, 0)
            }
            _ => (XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED, 0),
        }
    }
}
