//! `xenpv-net`: a vif served by the netif core and exposed as a TAP interface.
//!
//! One thread polls the shutdown pipe, the store, the event channel device and the TAP's queues.
//! The vif gets as many netif queues as the backend (`multi-queue-max-queues`), the vCPUs and
//! `--queues` allow, and the TAP as many queues (IFF_MULTI_QUEUE, one descriptor each): frames the
//! kernel spreads by flow over TAP queue i go out on netif queue i (virtio-net header + frame
//! become a packet with offload requests), and frames the backend delivers on netif queue i are
//! written to TAP queue i with the header their metadata calls for, so a flow keeps to one queue
//! both ways. While the backend is away the TAP stays up and frames read from it are dropped, as
//! on a cable that is unplugged.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use xenpv_abi::xenbus::XenbusState;
use xenpv_control::vif::{VifDeviceError, VifFrontend, VifWishes};
use xenpv_control::xenbus::{DriverError, FrontendDriver};
use xenpv_datapath::netif::{OwnedPacket, TxDone, TxRefused};
use xenpv_datapath::platform::EventChannels;

use crate::fd::poll_readable;
use crate::front::{online_cpus, pump_store, queue_wish, DeviceArgs, LinkChange, LinkWatch};
use crate::platform::LinuxPlatform;
use crate::signals::ShutdownSignal;
use crate::sys::{TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6};
use crate::tap::Tap;
use crate::vnet::{rx_header, tx_offload, VnetHdr, VNET_HDR_LEN};
use crate::xenbus::{open_store, Store};

type Packet = OwnedPacket<Vec<u8>>;
type Vif = VifFrontend<Packet, LinuxPlatform>;
type Driver = FrontendDriver<Vif>;

/// Why `xenpv-net` stopped.
#[derive(Debug)]
pub enum NetError {
    Os(&'static str, io::Error),
    Driver(DriverError<VifDeviceError>),
    Timeout(&'static str),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::Os(what, e) => write!(f, "{what}: {e}"),
            NetError::Driver(e) => write!(f, "vif: {e:?}"),
            NetError::Timeout(what) => write!(f, "timed out waiting for {what}"),
        }
    }
}

fn os(what: &'static str) -> impl FnOnce(io::Error) -> NetError {
    move |e| NetError::Os(what, e)
}

/// The TAP offloads (`TUN_F_*`) for what the backend accepts on transmit: checksum offload always
/// (netback fills in blank checksums), TSO where it segments.
pub fn tap_offloads(gso_tcpv4: bool, gso_tcpv6: bool) -> libc::c_uint {
    let mut f = TUN_F_CSUM;
    if gso_tcpv4 {
        f |= TUN_F_TSO4;
    }
    if gso_tcpv6 {
        f |= TUN_F_TSO6;
    }
    f
}

/// The packet for a frame read from the TAP (`raw` = header + frame), or why it cannot be sent.
pub fn packet_from_tap(raw: &[u8]) -> Result<Packet, crate::vnet::VnetError> {
    let hdr = VnetHdr::parse(raw)?;
    let offload = tx_offload(&hdr)?;
    Ok(OwnedPacket {
        frame: raw[VNET_HDR_LEN..].to_vec(),
        offload,
    })
}

struct Home {
    platform: Arc<LinuxPlatform>,
    xs: Store,
    xs_fd: i32,
    driver: Driver,
    /// One per TAP queue.
    taps: Vec<Tap>,
    /// Per TAP queue, a packet its netif queue had no room for.
    held: Vec<Option<Packet>>,
    offloads: Option<libc::c_uint>,
    dropped: u64,
    link: LinkWatch,
}

impl Home {
    fn pump_store(&mut self) -> Result<(), NetError> {
        pump_store(&mut self.xs, &mut self.driver, "xenpv-net", |_, _, _| {})
            .map_err(NetError::Driver)?;
        // Packets in flight when the backend went away: nothing to tell anyone.
        self.driver.device_mut().take_aborted();
        match self
            .link
            .observe(self.driver.machine().is_connected(), Instant::now())
        {
            Some(LinkChange::Lost) => eprintln!(
                "xenpv-net: backend gone (backend state {:?}): link down, TAP frames dropped \
                 until it is back",
                self.driver.machine().backend()
            ),
            Some(LinkChange::Back { after, drops }) => eprintln!(
                "xenpv-net: reconnected {:.2}s after drop {drops}: {:?}",
                after.as_secs_f64(),
                self.driver.device().negotiated().map(|n| n.config)
            ),
            None => {}
        }
        self.apply_offloads()
    }

    /// Sets the TAP's offloads to what the current backend negotiated.
    fn apply_offloads(&mut self) -> Result<(), NetError> {
        let Some(n) = self.driver.device().negotiated() else {
            return Ok(());
        };
        let want = tap_offloads(n.config.tx.gso_tcpv4, n.config.tx.gso_tcpv6);
        if self.offloads != Some(want) {
            // The offloads belong to the interface: any queue's descriptor sets them.
            self.taps[0]
                .set_offload(want)
                .map_err(os("TUNSETOFFLOAD"))?;
            eprintln!("xenpv-net: TAP offloads {want:#x}");
            self.offloads = Some(want);
        }
        Ok(())
    }

    /// Unmasks the ports that fired (the netif core leaves that to the home) before polling, so
    /// that an event arriving during the poll is not lost.
    fn take_events(&mut self) -> Result<(), NetError> {
        for port in self.platform.evtchn.take_fired().map_err(os("evtchn"))? {
            self.platform.evtchn.unmask(port);
        }
        Ok(())
    }

    /// Polls every queue: completions are dropped (the packets are copies), received frames go to
    /// the queue's TAP queue.
    fn poll_queues(&mut self) -> Result<(), NetError> {
        let platform = self.platform.clone();
        let taps = &self.taps;
        let connected = self.driver.machine().is_connected();
        let Some(front) = self.driver.device_mut().netfront() else {
            return Ok(());
        };
        if !connected {
            return Ok(());
        }
        let mut write_error = None;
        for q in front.queues_mut() {
            let tap = &taps[tap_queue(q.index().into(), taps.len())];
            let r = q.poll(
                &*platform,
                &mut |_: TxDone<Packet>| {},
                &mut |meta, frame| {
                    let hdr = rx_header(meta, frame).encode();
                    if let Err(e) = tap.send(&hdr, frame) {
                        write_error = Some(e);
                    }
                },
            );
            if let Err(e) = r {
                eprintln!("xenpv-net: queue {} broken: {e}", q.index());
            }
        }
        write_error.map_or(Ok(()), |e| Err(NetError::Os("TAP write", e)))
    }

    /// Moves frames from every TAP queue to its netif queue until the TAP queue is empty or the
    /// ring is full, then pushes what was queued.
    fn transmit(&mut self, buf: &mut [u8]) -> Result<(), NetError> {
        for t in 0..self.taps.len() {
            self.transmit_from(t, buf)?;
        }
        let platform = self.platform.clone();
        if let Some(front) = self.driver.device_mut().netfront() {
            for q in front.queues_mut() {
                q.flush(&*platform);
            }
        }
        Ok(())
    }

    fn transmit_from(&mut self, t: usize, buf: &mut [u8]) -> Result<(), NetError> {
        let connected = self.driver.machine().is_connected();
        loop {
            let packet = match self.held[t].take() {
                Some(p) => p,
                None => {
                    let Some(n) = self.taps[t].recv(buf).map_err(os("TAP read"))? else {
                        break;
                    };
                    match packet_from_tap(&buf[..n]) {
                        Ok(p) => p,
                        Err(e) => {
                            self.dropped += 1;
                            eprintln!("xenpv-net: dropping a TAP frame: {e}");
                            continue;
                        }
                    }
                }
            };
            let front = match self.driver.device_mut().netfront() {
                Some(f) if connected => f,
                // No backend: the frame goes nowhere.
                _ => {
                    self.dropped += 1;
                    continue;
                }
            };
            let queues = front.queues_mut();
            let q = tap_queue(t, queues.len());
            match queues[q].send(packet) {
                Ok(()) => {}
                Err((p, TxRefused::Busy)) => {
                    self.held[t] = Some(p);
                    break;
                }
                Err((_, why)) => {
                    self.dropped += 1;
                    eprintln!("xenpv-net: frame refused: {why:?}");
                }
            }
        }
        Ok(())
    }

    fn until(
        &mut self,
        limit: Duration,
        what: &'static str,
        done: impl Fn(&Home) -> bool,
    ) -> Result<(), NetError> {
        let start = Instant::now();
        while !done(self) {
            if start.elapsed() > limit {
                return Err(NetError::Timeout(what));
            }
            let fds = [self.xs_fd, self.platform.evtchn.as_fd().as_raw_fd()];
            poll_readable(&fds, 100).map_err(os("poll"))?;
            self.pump_store()?;
            self.take_events()?;
            self.poll_queues()?;
        }
        Ok(())
    }
}

/// Runs `xenpv-net` until SIGTERM.
pub fn run(args: &DeviceArgs) -> Result<(), NetError> {
    let signal = ShutdownSignal::install().map_err(os("signals"))?;
    let platform = Arc::new(LinuxPlatform::open().map_err(os("/dev/xen/{gntalloc,evtchn}"))?);
    let (mut xs, xs_fd) = open_store().map_err(os("/dev/xen/xenbus"))?;
    let queues = queue_wish(args.max_queues, online_cpus());
    let taps = Tap::open_queues(&args.dev, queues.into()).map_err(os("TAP"))?;
    let frontend = format!("device/vif/{}", args.id);
    let wishes = VifWishes {
        queues,
        ctrl_ring: false,
        ..VifWishes::default()
    };
    let vif = Vif::new(platform.clone(), wishes);
    let mut driver = FrontendDriver::attach(&mut xs, &frontend, vif).map_err(NetError::Driver)?;
    driver.connect(&mut xs).map_err(NetError::Driver)?;
    let mut home = Home {
        platform,
        xs,
        xs_fd,
        driver,
        held: (0..taps.len()).map(|_| None).collect(),
        taps,
        offloads: None,
        dropped: 0,
        link: LinkWatch::default(),
    };
    let t0 = Instant::now();
    home.until(Duration::from_secs(30), "the backend to connect", |h| {
        h.driver.machine().is_connected()
    })?;
    eprintln!(
        "xenpv-net: {frontend} connected in {:.2}s as {} with {} TAP queues: {:?}",
        t0.elapsed().as_secs_f64(),
        home.taps[0].name(),
        home.taps.len(),
        home.driver.device().negotiated().map(|n| n.config)
    );
    let served = serve(&mut home, &signal);
    home.link.stop();
    let closed = home.driver.close(&mut home.xs).map_err(NetError::Driver);
    let waited = home.until(Duration::from_secs(10), "the backend to close", |h| {
        h.driver.machine().state() == XenbusState::Closed
    });
    eprintln!(
        "xenpv-net: frontend state {:?}, {} frames dropped",
        home.driver.machine().state(),
        home.dropped
    );
    served.and(closed).and(waited)
}

fn serve(home: &mut Home, signal: &ShutdownSignal) -> Result<(), NetError> {
    // Room for a 64 KiB GSO frame and its header.
    let mut buf = vec![0u8; 65536 + VNET_HDR_LEN + 64];
    loop {
        let mut fds = vec![
            signal.fd(),
            home.xs_fd,
            home.platform.evtchn.as_fd().as_raw_fd(),
        ];
        // A held packet waits for ring space (an event), not for more frames: a negative
        // descriptor is one poll() skips.
        fds.extend(home.taps.iter().zip(&home.held).map(|(tap, held)| {
            if held.is_some() {
                -1
            } else {
                tap.fd()
            }
        }));
        let ready = poll_readable(&fds, 1000).map_err(os("poll"))?;
        if ready[0] {
            eprintln!("xenpv-net: shutting down");
            return Ok(());
        }
        if ready[1] {
            home.pump_store()?;
        }
        if ready[2] {
            home.take_events()?;
        }
        home.poll_queues()?;
        home.transmit(&mut buf)?;
    }
}

/// The TAP queue for netif queue `queue` (or the netif queue for TAP queue `queue`): the same
/// index, wrapped when the other side has fewer queues (a backend may offer fewer than we opened).
pub fn tap_queue(queue: usize, len: usize) -> usize {
    queue % len.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vnet::{F_NEEDS_CSUM, GSO_TCPV4, GSO_UDP};
    use xenpv_datapath::netif::{Gso, GsoKind, TxChecksum};

    #[test]
    fn queues_pair_by_index_and_wrap_onto_fewer() {
        assert_eq!(
            (0..4).map(|q| tap_queue(q, 4)).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert_eq!(
            (0..4).map(|q| tap_queue(q, 2)).collect::<Vec<_>>(),
            [0, 1, 0, 1]
        );
        assert_eq!(tap_queue(3, 1), 0);
        assert_eq!(
            tap_queue(3, 0),
            0,
            "no queues: index 0, never a division by zero"
        );
    }

    #[test]
    fn offloads_follow_the_backend() {
        assert_eq!(tap_offloads(false, false), TUN_F_CSUM);
        assert_eq!(tap_offloads(true, false), TUN_F_CSUM | TUN_F_TSO4);
        assert_eq!(
            tap_offloads(true, true),
            TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6
        );
    }

    #[test]
    fn tap_frames_become_packets_without_their_header() {
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            gso_size: 1448,
            ..VnetHdr::default()
        };
        let mut raw = hdr.encode().to_vec();
        raw.extend_from_slice(&[0xaa; 60]);
        let p = packet_from_tap(&raw).unwrap();
        assert_eq!(p.frame, vec![0xaa; 60]);
        assert_eq!(p.offload.checksum, TxChecksum::Offload);
        assert_eq!(
            p.offload.gso,
            Some(Gso {
                kind: GsoKind::TcpV4,
                mss: 1448
            })
        );
        let udp = VnetHdr {
            gso_type: GSO_UDP,
            gso_size: 1000,
            ..VnetHdr::default()
        };
        assert!(packet_from_tap(&udp.encode()).is_err());
        assert!(packet_from_tap(&[0; 4]).is_err());
    }
}
