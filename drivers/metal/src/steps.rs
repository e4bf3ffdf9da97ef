//! The proof's steps, each printing what it found on real Xen.

use core::fmt;

use xenpv_abi::shared_info::StartInfo;
use xenpv_xen::cpuid::{self, PvCpuid};
use xenpv_xen::hypercall::{Instruction, Page};
use xenpv_xen::{pv, Xen, XenError};

use crate::blk::Blk;
use crate::net::Net;
use crate::say;
use crate::store::{self, StoreError};
use xenpv_control::xs::client::Store;
use xenpv_datapath::blkif::BlockOp;

/// A step that did not work out, and why.
pub struct Failure {
    pub step: &'static str,
    pub why: Why,
}

pub enum Why {
    Xen(XenError),
    Start(pv::StartError),
    Store(StoreError),
    Xs(xenpv_control::xs::client::Error),
    Text(&'static str),
    /// An error of a front (driver, queue or protocol), as its Debug text.
    Detail(alloc::string::String),
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Xen(e) => write!(f, "{e}"),
            Why::Start(e) => write!(f, "{e:?}"),
            Why::Store(e) => write!(f, "{e}"),
            Why::Xs(e) => write!(f, "{e:?}"),
            Why::Text(t) => f.write_str(t),
            Why::Detail(d) => f.write_str(d),
        }
    }
}

pub fn at<E: Into<Why>>(step: &'static str) -> impl FnOnce(E) -> Failure {
    move |e| Failure {
        step,
        why: e.into(),
    }
}

/// A failure of `step` described by an error's Debug text.
pub fn detail<E: fmt::Debug>(step: &'static str) -> impl FnOnce(E) -> Failure {
    move |e| Failure {
        step,
        why: Why::Detail(alloc::format!("{e:?}")),
    }
}

impl From<XenError> for Why {
    fn from(e: XenError) -> Self {
        Why::Xen(e)
    }
}

impl From<pv::StartError> for Why {
    fn from(e: pv::StartError) -> Self {
        Why::Start(e)
    }
}

impl From<StoreError> for Why {
    fn from(e: StoreError) -> Self {
        Why::Store(e)
    }
}

impl From<xenpv_control::xs::client::Error> for Why {
    fn from(e: xenpv_control::xs::client::Error) -> Self {
        Why::Xs(e)
    }
}

impl From<&'static str> for Why {
    fn from(t: &'static str) -> Self {
        Why::Text(t)
    }
}

/// The physical-to-machine list the domain builder wrote.
pub fn p2m(si: &StartInfo) -> &'static [u64] {
    // SAFETY: `mfn_list` is the guest virtual address of `nr_pages` frame numbers in the boot area,
    // mapped for good and written by the builder before we started.
    unsafe { core::slice::from_raw_parts(si.mfn_list as *const u64, si.nr_pages as usize) }
}

pub fn run(xen: &Xen<Page>, si: &StartInfo) -> Result<(), Failure> {
    let magic = pv::magic_text(si);
    say!(
        "start_info: {} pages {}, flags {:#x}, store mfn {:#x} port {}, console port {}",
        Text(magic),
        si.nr_pages,
        si.flags,
        si.store_mfn,
        si.store_evtchn,
        si.console.evtchn
    );

    let v = xen.version().map_err(at("xen_version"))?;
    let extra = xen.extraversion().map_err(at("xen_version"))?;
    let extra = extra.iter().take_while(|&&b| b != 0).map(|&b| b as char);
    say!(
        "Xen {}.{}{} (hypercall page)",
        v.major,
        v.minor,
        Text(extra)
    );
    let features = xen.features(0).map_err(at("xen_version"))?;
    say!("features {features:#010x}");

    match xen.console_write(b"metal: hello on the hypervisor console\n") {
        Ok(()) => say!("console_io: accepted (privileged or debug Xen)"),
        Err(e) => say!("console_io: refused as for any unprivileged domU on release Xen: {e}"),
    }

    // SAFETY: this is a PV guest (we were started through the PV ELF notes).
    let c = unsafe { PvCpuid::new() };
    let found = cpuid::detect(&c).ok_or(at("cpuid")("no Xen leaves"))?;
    let vendor = cpuid::vendor(&c);
    say!(
        "cpuid: Xen {}.{} leaves at {:#x}..={:#x}, CPU {} (an HVM guest would use {:?})",
        found.major,
        found.minor,
        found.base,
        found.max_leaf,
        Text(vendor.iter().map(|&b| b as char)),
        Instruction::for_vendor(&vendor)
    );
    if (found.major, found.minor) != (v.major, v.minor) {
        return Err(at("cpuid")("version differs from xen_version's"));
    }

    let port = xen.alloc_unbound(0).map_err(at("evtchn alloc_unbound"))?;
    xen.close(port).map_err(at("evtchn close"))?;
    match xen.close(port) {
        Err(e) => say!("evtchn: allocated and closed port {port}; closing it again: {e}"),
        Ok(()) => return Err(at("evtchn close")("a closed port closed again")),
    }

    let (frames, max) = xen.gnttab_query_size().map_err(at("gnttab query_size"))?;
    say!("grant table: {frames} of at most {max} frames");

    crate::events::run(xen, si)?;
    let mut found = xenstore(si)?;
    let table = crate::grants::run(xen, si, found.domid)?;
    let mut fronts = crate::front::Fronts::new(si, table)?;
    // The second of each twin pair, as in the Linux domU (the first is the kernel front's there).
    let vbd = found.vbds.last().ok_or(at("blk")("no vbd"))?;
    let vif = found.vifs.last().ok_or(at("net")("no vif"))?;
    let xs = &mut found.store;
    let mut blk = Blk::connect(&fronts, xs, vbd)?;
    let mut net = Net::connect(&fronts, xs, vif)?;
    let wrote = blk.write(&fronts, xs, SEED_BEFORE)?;
    let read = blk.read_back(&fronts, xs, SEED_BEFORE)?;
    blk.report("pattern 1", wrote, read)?;
    net.ping(&fronts, xs)?;

    // A save and restore with writes of a second pattern on the ring: the new domain has a new
    // store connection, grant table and event channels, and the fronts reconnect to new backends.
    blk.start(xs, BlockOp::Write, SEED_ACROSS)?;
    crate::resume::run(xen)?;
    // SAFETY: boot::start_info() is the start_info page, in the boot mapping for good; the
    // restore has rewritten it and nothing writes it again before the next suspend.
    let si = unsafe { &*crate::boot::start_info() };
    crate::grants::map_frames(xen)?;
    fronts.resumed(si);
    let xs = &mut store::connect(si).map_err(at("resume store"))?;
    blk.leave(&fronts, xs)?;
    net.leave(&fronts);
    let blk_back = blk.rejoin(&fronts, xs)?;
    let net_back = net.rejoin(&fronts, xs)?;
    let wrote = blk.finish(&fronts, xs)?;
    let read = blk.read_back(&fronts, xs, SEED_ACROSS)?;
    say!(
        "resumed fronts: blk reconnected in {} ms and replayed {} unanswered ring requests, net \
         reconnected in {} ms",
        crate::front::ms(blk_back.ns),
        blk.replayed(),
        crate::front::ms(net_back.ns)
    );
    blk.report(
        "pattern 2, written across the save and restore",
        wrote,
        read,
    )?;
    net.ping(&fronts, xs)?;
    blk.close(&fronts, xs)?;
    net.close(&fronts, xs)?;
    say!(
        "heap: {} KiB used; pages: {} of {} free",
        crate::heap::used() / 1024,
        fronts.free_pages(),
        crate::pages::PAGES
    );
    Ok(())
}

/// The disk pattern written before the save and restore, and the one written across it.
const SEED_BEFORE: u64 = 0x6d65_7461_6c31;
const SEED_ACROSS: u64 = 0x6d65_7461_6c32;

/// What the store told us.
struct Found {
    store: store::StoreClient,
    domid: u16,
    vifs: alloc::vec::Vec<store::Device>,
    vbds: alloc::vec::Vec<store::Device>,
}

/// Reads from xenstore through our own ring client: who we are, and the devices the toolstack gave
/// us, waiting (bounded) until each backend is ready for a front (InitWait or later).
fn xenstore(si: &StartInfo) -> Result<Found, Failure> {
    let mut c = store::connect(si).map_err(at("xenstore ring"))?;
    let name = c.read_string("name").map_err(at("xenstore read name"))?;
    let domid = c.read_string("domid").map_err(at("xenstore read domid"))?;
    say!("xenstore: name {name}, domid {domid}");
    let domid: u16 = domid
        .parse()
        .map_err(|_| at("xenstore read domid")("not a domain id"))?;
    let mut found = [alloc::vec::Vec::new(), alloc::vec::Vec::new()];
    for (kind, out) in ["vif", "vbd"].into_iter().zip(&mut found) {
        let devs = store::devices(&mut c, kind).map_err(at("xenstore devices"))?;
        if devs.is_empty() {
            return Err(at("xenstore devices")("none of a kind the config gives"));
        }
        for d in &devs {
            let backend_state = wait_ready(&mut c, &d.backend).map_err(at("xenstore backend"))?;
            say!(
                "xenstore: {} -> {} (domain {}), front state {}, back state {}",
                d.path,
                d.backend,
                d.backend_id,
                d.state,
                backend_state
            );
        }
        *out = devs;
    }
    let [vifs, vbds] = found;
    Ok(Found {
        store: c,
        domid,
        vifs,
        vbds,
    })
}

/// Backend state once it is at least InitWait (2), or the last value seen after a bounded wait.
fn wait_ready(
    c: &mut store::StoreClient,
    backend: &str,
) -> Result<alloc::string::String, xenpv_control::xs::client::Error> {
    let path = alloc::format!("{backend}/state");
    let mut state = alloc::string::String::new();
    for _ in 0..2000 {
        state = c
            .try_read(&path)?
            .map(|v| v.into_iter().map(char::from).collect())
            .unwrap_or_default();
        if state.parse::<u32>().is_ok_and(|s| s >= 2) {
            break;
        }
        let _ = Xen::new(crate::boot::hypercalls()).sched_yield();
    }
    Ok(state)
}

/// Prints an iterator of characters.
struct Text<I>(I);

impl<I: Iterator<Item = char> + Clone> fmt::Display for Text<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0
            .clone()
            .try_for_each(|c| fmt::Write::write_char(f, c))
    }
}
