//! `xenpv-net`: a vif served by the netif core and exposed as a TAP interface.
//!
//! One thread polls the shutdown pipe, the store, the event channel device and the TAP's queues.
//! The vif gets as many netif queues as the backend (`multi-queue-max-queues`), the vCPUs and
//! `--queues` allow, and the TAP as many queues (IFF_MULTI_QUEUE, one descriptor each): frames the
//! kernel spreads by flow over TAP queue i go out on netif queue i (virtio-net header + frame
//! become a packet with offload requests), and frames the backend delivers on netif queue i are
//! written to TAP queue i with the header their metadata calls for, so a flow keeps to one queue
//! both ways. A TAP read lands in a recycled frame buffer (header apart, by `readv`), which the
//! netif core copies into its granted pool: one copy in user space per transmitted frame. While
//! the backend is away the TAP stays up and frames read from it are dropped, as on a cable that
//! is unplugged.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use xenpv_abi::xenbus::XenbusState;
use xenpv_control::vif::{VifDeviceError, VifFrontend, VifWishes};
use xenpv_control::xenbus::{DriverError, FrontendDriver};
use xenpv_datapath::netif::{OwnedPacket, TxDone, TxRefused};

use crate::fd::poll_readable;
use crate::front::{online_cpus, pump_store, queue_wish, DeviceArgs, LinkChange, LinkWatch};
use crate::platform::LinuxPlatform;
use crate::signals::ShutdownSignal;
use crate::sys::{TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6};
use crate::tap::Tap;
use crate::vnet::{rx_header, tx_offload, VnetError, VnetHdr, VNET_HDR_LEN};
use crate::xenbus::{open_store, Store};

type Packet = OwnedPacket<TapFrame>;
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

/// Largest frame a TAP hands us: a 64 KiB GSO frame with its link-layer header.
pub const MAX_FRAME: usize = 65536 + 64;

/// A frame read from the TAP in a buffer of its own: the buffer keeps its full size (zeroed once,
/// when first made) and `len` says how much of it is the frame, so a recycled buffer is reused
/// without being cleared or grown.
#[derive(Debug)]
pub struct TapFrame {
    buf: Box<[u8]>,
    len: usize,
}

impl TapFrame {
    pub fn new() -> TapFrame {
        TapFrame {
            buf: vec![0; MAX_FRAME].into_boxed_slice(),
            len: 0,
        }
    }
}

impl Default for TapFrame {
    fn default() -> Self {
        TapFrame::new()
    }
}

impl AsRef<[u8]> for TapFrame {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Frame buffers given back by transmit completions, for the next TAP reads: the netif core copies
/// a frame into its granted pool at send, so the only other copy of a transmitted frame is the
/// TAP's own read, straight into one of these.
#[derive(Debug, Default)]
pub struct FramePool {
    free: Vec<TapFrame>,
}

impl FramePool {
    /// A full ring's worth of frames; more are freed.
    const KEEP: usize = 256;

    pub fn take(&mut self) -> TapFrame {
        self.free.pop().unwrap_or_default()
    }

    pub fn give(&mut self, f: TapFrame) {
        if self.free.len() < Self::KEEP {
            self.free.push(f);
        }
    }

    pub fn len(&self) -> usize {
        self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }
}

/// The packet for what one TAP read brought (`read` bytes: `hdr`, then the frame in `frame`), or
/// why it cannot be sent (with the buffer, to reuse).
pub fn packet_from_tap(
    hdr: &[u8; VNET_HDR_LEN],
    mut frame: TapFrame,
    read: usize,
) -> Result<Packet, (VnetError, TapFrame)> {
    if read < VNET_HDR_LEN {
        return Err((VnetError::Short(read), frame));
    }
    let offload = match VnetHdr::parse(hdr).and_then(|h| tx_offload(&h)) {
        Ok(o) => o,
        Err(e) => return Err((e, frame)),
    };
    frame.len = (read - VNET_HDR_LEN).min(frame.buf.len());
    Ok(OwnedPacket { frame, offload })
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
    frames: FramePool,
}

impl Home {
    fn pump_store(&mut self) -> Result<(), NetError> {
        pump_store(&mut self.xs, &mut self.driver, "xenpv-net", |_, _, _| {})
            .map_err(NetError::Driver)?;
        // Packets in flight when the backend went away: nothing to tell anyone; their buffers are
        // reused.
        for done in self.driver.device_mut().take_aborted() {
            recycle(&mut self.frames, done);
        }
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
        let fired = self.platform.evtchn.take_fired().map_err(os("evtchn"))?;
        self.platform.evtchn.unmask_all(&fired);
        Ok(())
    }

    /// Polls every queue: completions are dropped (the packets are copies), received frames go to
    /// the queue's TAP queue.
    fn poll_queues(&mut self) -> Result<(), NetError> {
        let platform = self.platform.clone();
        let taps = &self.taps;
        let frames = &mut self.frames;
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
                &mut |done: TxDone<Packet>| recycle(frames, done),
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

    /// One line per queue with what it moved since the last connect.
    fn log_queue_stats(&mut self) {
        let Some(front) = self.driver.device_mut().netfront() else {
            return;
        };
        for q in front.queues_mut() {
            let s = q.stats();
            eprintln!(
                "xenpv-net: queue {}: tx {} packets ({} gso), rx {} packets ({} gso) since the \
                 last connect",
                q.index(),
                s.tx_packets,
                s.tx_gso,
                s.rx_packets,
                s.rx_gso
            );
        }
    }

    /// Moves frames from every TAP queue to its netif queue until the TAP queue is empty or the
    /// ring is full, then pushes what was queued.
    fn transmit(&mut self) -> Result<(), NetError> {
        for t in 0..self.taps.len() {
            self.transmit_from(t)?;
        }
        let platform = self.platform.clone();
        if let Some(front) = self.driver.device_mut().netfront() {
            for q in front.queues_mut() {
                q.flush(&*platform);
            }
        }
        Ok(())
    }

    fn transmit_from(&mut self, t: usize) -> Result<(), NetError> {
        let connected = self.driver.machine().is_connected();
        let mut hdr = [0u8; VNET_HDR_LEN];
        loop {
            let packet = match self.held[t].take() {
                Some(p) => p,
                None => {
                    let mut frame = self.frames.take();
                    let Some(n) = self.taps[t]
                        .recv_split(&mut hdr, &mut frame.buf)
                        .map_err(os("TAP read"))?
                    else {
                        self.frames.give(frame);
                        break;
                    };
                    match packet_from_tap(&hdr, frame, n) {
                        Ok(p) => p,
                        Err((e, frame)) => {
                            self.frames.give(frame);
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
                    self.frames.give(packet.frame);
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
                Err((p, why)) => {
                    self.frames.give(p.frame);
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
        frames: FramePool::default(),
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
    home.log_queue_stats();
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
        home.transmit()?;
    }
}

/// Keeps the buffer of a transmitted packet for the next TAP read.
fn recycle(frames: &mut FramePool, done: TxDone<Packet>) {
    if let TxDone::Packet { packet, .. } = done {
        frames.give(packet.frame);
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

    /// A TAP read of `bytes` after a header: the buffer and the byte count readv returns.
    fn frame_of(bytes: &[u8]) -> (TapFrame, usize) {
        let mut f = TapFrame::new();
        f.buf[..bytes.len()].copy_from_slice(bytes);
        (f, VNET_HDR_LEN + bytes.len())
    }

    #[test]
    fn tap_frames_become_packets_of_exactly_their_length() {
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            gso_size: 1448,
            ..VnetHdr::default()
        };
        let (mut f, n) = frame_of(&[0xaa; 60]);
        f.buf[60..100].fill(0xbb); // a longer frame's leftovers
        let p = packet_from_tap(&hdr.encode(), f, n).unwrap();
        assert_eq!(p.frame.as_ref(), &[0xaa; 60][..]);
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
        let (f, n) = frame_of(&[1; 10]);
        let (_, back) = packet_from_tap(&udp.encode(), f, n).unwrap_err();
        assert_eq!(
            back.buf.len(),
            MAX_FRAME,
            "the buffer comes back to be reused"
        );
        let (f, _) = frame_of(&[]);
        let huge = packet_from_tap(&VnetHdr::default().encode(), f, usize::MAX).unwrap();
        assert_eq!(
            huge.frame.as_ref().len(),
            MAX_FRAME,
            "never past the buffer"
        );
        let (f, _) = frame_of(&[]);
        let (e, _) = packet_from_tap(&[0; VNET_HDR_LEN], f, 4).unwrap_err();
        assert_eq!(e, VnetError::Short(4), "a read shorter than a header");
        let (f, n) = frame_of(&[]);
        let empty = packet_from_tap(&VnetHdr::default().encode(), f, n).unwrap();
        assert!(empty.frame.as_ref().is_empty());
    }

    #[test]
    fn frame_buffers_are_reused_and_the_pool_stays_bounded() {
        let mut pool = FramePool::default();
        let f = pool.take();
        let ptr = f.buf.as_ptr();
        pool.give(f);
        assert_eq!(pool.take().buf.as_ptr(), ptr);
        for _ in 0..FramePool::KEEP + 3 {
            pool.give(TapFrame::new());
        }
        assert_eq!(pool.len(), FramePool::KEEP);
        let mut pool = FramePool::default();
        let done = TxDone::Packet {
            packet: OwnedPacket {
                frame: TapFrame::new(),
                offload: Default::default(),
            },
            status: xenpv_datapath::netif::TxStatus::Ok,
        };
        recycle(&mut pool, done);
        assert!(!pool.is_empty(), "a completed packet's buffer returns");
    }
}
