//! netfront on real netback: control's vif machine and datapath's netif queue on this home. The
//! front learns dom0's MAC by ARP (and answers dom0's ARP for its own address), then pings dom0's
//! address on the bridge and checks every echo reply, then closes the device cleanly.
//!
//! Addresses: dom0.sh gives the bridge 10.9.N.1 for vif N's subnet (vif 0: 10.9.0.0/24, vif 1:
//! 10.9.1.0/24); the front takes 10.9.N.2, as the Linux domU does.

use alloc::string::String;
use alloc::vec::Vec;

use xenpv_abi::xenbus::XenbusState;
use xenpv_control::vif::{VifFrontend, VifWishes};
use xenpv_control::xenbus::{FrontendDevice, FrontendDriver};
use xenpv_control::xs::client::{RingTransport, Store};
use xenpv_datapath::netif::{EventPorts, OwnedPacket, TxDone, TxOffload, TxRefused};
use xenpv_datapath::platform::EventChannels;

use crate::front::{detach, ms, pump, rejoin, Fronts, Metal, Waited};
use crate::say;
use crate::steps::{at, detail, Failure};
use crate::store::{Device, Signal, StoreClient};
use xenpv_metal::ether::{self, Incoming, Ip, Mac};

type Packet = OwnedPacket<Vec<u8>>;
type Vif = VifFrontend<Packet, Metal>;

const WISHES: VifWishes = VifWishes {
    queues: 1,
    split_event_channels: false,
    gso_rx: false,
    ctrl_ring: false,
    multicast_control: false,
};

/// Echo requests sent (each answered once).
const COUNT: usize = 32;
/// Requests outstanding at once.
const WINDOW: usize = 8;
/// An unanswered request (or ARP) is sent again after this long.
const RESEND_MS: u64 = 500;
/// Our ICMP identifier ("mt").
const ICMP_ID: u16 = 0x6d74;
const PAYLOAD: usize = 56;

/// The bytes each echo request carries, different for every sequence number.
fn payload(seq: u16) -> [u8; PAYLOAD] {
    core::array::from_fn(|i| (i as u8).wrapping_mul(31) ^ seq as u8)
}

fn parse_mac(text: &str) -> Option<Mac> {
    let mut mac = [0u8; 6];
    let mut parts = text.trim().split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// What the conversation with dom0 has reached.
struct Talk {
    mac: Mac,
    ip: Ip,
    peer_ip: Ip,
    peer_mac: Option<Mac>,
    /// An ARP request for our address to answer: (their MAC, their IP).
    asked: Option<(Mac, Ip)>,
    arp_sent_at: Option<u64>,
    sent_at: [Option<u64>; COUNT],
    answered: [bool; COUNT],
    replies: usize,
    duplicates: usize,
    resent: usize,
    rtt_sum: u64,
}

impl Talk {
    fn receive(&mut self, frame: &[u8], now: u64) {
        match ether::parse(frame) {
            Some(Incoming::ArpReply { mac, ip }) if ip == self.peer_ip => {
                self.peer_mac = Some(mac);
            }
            Some(Incoming::ArpRequest { mac, ip, target }) if target == self.ip => {
                self.asked = Some((mac, ip));
            }
            Some(Incoming::EchoReply {
                src,
                dst,
                id,
                seq,
                payload: data,
            }) if src == self.peer_ip && dst == self.ip && id == ICMP_ID => {
                let i = usize::from(seq);
                let Some(sent) = self.sent_at.get(i).copied().flatten() else {
                    return;
                };
                if data != payload(seq) {
                    return;
                }
                if self.answered[i] {
                    self.duplicates += 1;
                } else {
                    self.answered[i] = true;
                    self.replies += 1;
                    self.rtt_sum += now - sent;
                }
            }
            _ => {}
        }
    }

    /// Frames to send now.
    fn outgoing(&mut self, now: u64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let due = |at: Option<u64>| at.is_none_or(|t| now > t + RESEND_MS * 1_000_000);
        if let Some((mac, ip)) = self.asked.take() {
            out.push(ether::arp_reply(self.mac, self.ip, mac, ip));
        }
        let Some(peer_mac) = self.peer_mac else {
            if due(self.arp_sent_at) {
                out.push(ether::arp_request(self.mac, self.ip, self.peer_ip));
                self.arp_sent_at = Some(now);
            }
            return out;
        };
        let outstanding = (0..COUNT)
            .filter(|&i| self.sent_at[i].is_some() && !self.answered[i])
            .count();
        let mut room = WINDOW.saturating_sub(outstanding);
        for i in 0..COUNT {
            if self.answered[i] {
                continue;
            }
            let first = self.sent_at[i].is_none();
            if first && room == 0 {
                break;
            }
            if !due(self.sent_at[i]) {
                continue;
            }
            if first {
                room -= 1;
            } else {
                self.resent += 1;
            }
            let seq = i as u16;
            out.push(ether::echo_request(
                (self.mac, self.ip),
                (peer_mac, self.peer_ip),
                ICMP_ID,
                seq,
                &payload(seq),
            ));
            self.sent_at[i] = Some(now);
        }
        out
    }
}

/// The connected vif of the proof. Connecting, pinging and closing are separate phases so that
/// other steps (a suspend and resume) can come between them; a ping after a resume shows the
/// network came back.
pub struct Net {
    path: String,
    mac: Mac,
    index: u8,
    driver: FrontendDriver<Vif>,
    /// The device between [`Net::leave`] and [`Net::rejoin`].
    left: Option<Vif>,
}

impl Net {
    /// Attaches to `dev` and connects to its backend.
    pub fn connect(fronts: &Fronts, xs: &mut StoreClient, dev: &Device) -> Result<Self, Failure> {
        let index: u8 = dev
            .path
            .rsplit('/')
            .next()
            .and_then(|id| id.parse().ok())
            .ok_or(at("net")("the vif id is not a small number"))?;
        let mac_text = xs
            .read_string(&alloc::format!("{}/mac", dev.path))
            .map_err(at("net mac"))?;
        let mac = parse_mac(&mac_text).ok_or(at("net mac")("not a MAC address"))?;
        let vif: Vif = VifFrontend::new(fronts.platform.clone(), WISHES);
        let mut driver =
            FrontendDriver::attach(xs, &dev.path, vif).map_err(detail("net attach"))?;
        driver.connect(xs).map_err(detail("net connect"))?;
        let took = fronts.wait("net connect", 15_000, fronts.store_port(), || {
            pump("net connect", xs, &mut driver)?;
            Ok(driver.machine().is_connected())
        })?;
        let n = driver
            .device()
            .negotiated()
            .ok_or(at("net connect")("connected without a negotiation"))?;
        say!(
            "net {} ({}) connected in {} ms: backend offers {} queues, sg {}, gso tcpv4 {}; \
             using 1 queue, {} event channel",
            dev.path,
            mac_text,
            ms(took.ns),
            n.backend.max_queues,
            n.backend.sg,
            n.backend.gso_tcpv4,
            if n.config.split_event_channels {
                "split"
            } else {
                "one"
            }
        );
        Ok(Self {
            path: dev.path.clone(),
            mac,
            index,
            driver,
            left: None,
        })
    }

    /// Learns dom0's MAC by ARP and pings it [`COUNT`] times, checking every reply.
    pub fn ping(&mut self, fronts: &Fronts, xs: &mut StoreClient) -> Result<(), Failure> {
        let driver = &mut self.driver;
        let mut talk = Talk {
            mac: self.mac,
            ip: [10, 9, self.index, 2],
            peer_ip: [10, 9, self.index, 1],
            peer_mac: None,
            asked: None,
            arp_sent_at: None,
            sent_at: [None; COUNT],
            answered: [false; COUNT],
            replies: 0,
            duplicates: 0,
            resent: 0,
            rtt_sum: 0,
        };
        let platform = fronts.platform.clone();
        let mut arp_ms = None;
        let start = fronts.now();
        // Replies arrive on the receive ring: its event is the one to sleep on.
        let port = match driver
            .device_mut()
            .netfront()
            .ok_or(at("net ping")("connected without a data path"))?
            .queues()[0]
            .keys()
            .ports
        {
            EventPorts::Shared(p) | EventPorts::Split { rx: p, .. } => p,
        };
        let took = fronts.wait("net ping", 20_000, port, || {
            pump("net ping", xs, driver)?;
            // While the backend is away (a resume reconnecting), the resend timers wait for it.
            if !driver.machine().is_connected() {
                return Ok(false);
            }
            let front = driver
                .device_mut()
                .netfront()
                .ok_or(at("net ping")("connected without a data path"))?;
            let q = &mut front.queues_mut()[0];
            // The netif core leaves unmasking to the home (blkif's service does its own).
            platform.unmask(port);
            let now = fronts.now();
            q.poll(&*platform, &mut |_: TxDone<Packet>| {}, &mut |_, frame| {
                talk.receive(frame, now)
            })
            .map_err(detail("net ping"))?;
            if arp_ms.is_none() && talk.peer_mac.is_some() {
                arp_ms = Some(ms(now - start));
            }
            for frame in talk.outgoing(now) {
                let packet = OwnedPacket {
                    frame,
                    offload: TxOffload::default(),
                };
                match q.send(packet) {
                    // A full ring or a link not up yet: the resend timer tries again.
                    Ok(()) | Err((_, TxRefused::Busy | TxRefused::LinkDown)) => {}
                    Err((_, why)) => return Err(detail("net send")(why)),
                }
            }
            q.flush(&*platform);
            Ok(talk.replies == COUNT)
        })?;
        let stats = *driver
            .device_mut()
            .netfront()
            .ok_or(at("net ping")("the backend went away"))?
            .queues()[0]
            .stats();
        let [a, b, c, d] = talk.peer_ip;
        let m = talk.peer_mac.unwrap_or_default();
        say!(
            "net {}: dom0 {a}.{b}.{c}.{d} is at {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} (ARP \
             after {} ms); {COUNT} ICMP echo requests, {} replies verified in {} ms, {} events \
             (mean rtt {} us, {} resent, {} duplicates); queue: {} packets sent, {} received, {} \
             dropped",
            self.path,
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
            m[5],
            arp_ms.unwrap_or(0),
            talk.replies,
            ms(took.ns),
            took.events,
            talk.rtt_sum / talk.replies as u64 / 1000,
            talk.resent,
            talk.duplicates,
            stats.tx_packets,
            stats.rx_packets,
            stats.rx_dropped,
        );
        Ok(())
    }

    /// After a restore into a new domain: the device leaves its old driver (packets in flight
    /// there are dropped, as a link loss drops them); see [`crate::blk::Blk::leave`] for why
    /// every front leaves before any rejoins.
    pub fn leave(&mut self, fronts: &Fronts) {
        let fresh: Vif = VifFrontend::new(fronts.platform.clone(), WISHES);
        let mut device = core::mem::replace(self.driver.device_mut(), fresh);
        FrontendDevice::<RingTransport<Signal>>::tear_down(&mut device);
        device.take_aborted();
        self.left = Some(device);
    }

    /// Connects the device that [`Self::leave`] took out through a new driver.
    pub fn rejoin(&mut self, fronts: &Fronts, xs: &mut StoreClient) -> Result<Waited, Failure> {
        let device = self
            .left
            .take()
            .ok_or(at("net rejoin")("the device has not left its old driver"))?;
        let (driver, took) = rejoin("net rejoin", &self.path, device, fronts, xs)?;
        self.driver = driver;
        Ok(took)
    }

    /// Closes the device and waits until the backend has let go of every grant.
    pub fn close(mut self, fronts: &Fronts, xs: &mut StoreClient) -> Result<(), Failure> {
        let driver = &mut self.driver;
        let platform = fronts.platform.clone();
        driver.close(xs).map_err(detail("net close"))?;
        let took = fronts.wait("net close", 10_000, fronts.store_port(), || {
            pump("net close", xs, driver)?;
            let held = driver.device_mut().quarantine().retry(&*platform);
            Ok(driver.machine().state() == XenbusState::Closed
                && driver.machine().backend() == Some(XenbusState::Closed)
                && held == 0)
        })?;
        say!(
            "net {}: closed in {} ms, backend Closed, every grant ended ({} of {} pages free)",
            self.path,
            ms(took.ns),
            fronts.free_pages(),
            crate::pages::PAGES
        );
        detach("net close", &self.path, self.driver, xs)
    }
}
