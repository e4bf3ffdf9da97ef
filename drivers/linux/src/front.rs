//! What both fronts' homes share: their command line and the store side of their loop.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use xenpv_control::xenbus::{DriverError, FrontendDevice, FrontendDriver};
use xenpv_control::xs::client::{StreamTransport, WatchEvent};

use crate::xenbus::{Store, XenbusDev};

/// `<id> [--<dev-flag> DEV] [--queues N]`, also `--<id-flag> <id>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceArgs {
    /// The xenbus device id (vif index, vbd number).
    pub id: u16,
    /// The local device to expose it as.
    pub dev: String,
    /// `--queues N`: at most this many queues (the backend may allow fewer).
    pub max_queues: Option<u16>,
}

/// Queues asked for when `--queues` is not given: what Linux's blkfront allows by default
/// (`max_queues` = 4), at most one per vCPU (more queues than vCPUs only add rings to poll).
pub const DEFAULT_MAX_QUEUES: u16 = 4;

/// How many queues to ask the backend for: `--queues` as given, or else [`DEFAULT_MAX_QUEUES`]
/// capped at one per vCPU; at least one. An explicit count is honoured beyond the vCPUs (the
/// queues then share them; it is how the testbed's one-vCPU guest runs several rings). The
/// backend's `multi-queue-max-queues` caps it again at negotiation.
pub fn queue_wish(flag: Option<u16>, cpus: usize) -> u16 {
    let cpus = u16::try_from(cpus).unwrap_or(u16::MAX);
    flag.unwrap_or(DEFAULT_MAX_QUEUES.min(cpus)).max(1)
}

/// The vCPUs this process may run on.
pub fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[derive(Debug, PartialEq, Eq)]
pub struct Usage(pub String);

impl DeviceArgs {
    pub fn parse(
        args: &[String],
        id_flag: &str,
        dev_flag: &str,
        default_dev: &str,
    ) -> Result<DeviceArgs, Usage> {
        let mut id = None;
        let mut dev = default_dev.to_string();
        let mut max_queues = None;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |what: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| Usage(format!("{a} needs {what}")))
            };
            match a.as_str() {
                f if f == dev_flag => dev = value("a device")?,
                f if f == id_flag => id = Some(value("an id")?),
                "--queues" => {
                    let raw = value("a count")?;
                    match raw.parse::<u16>() {
                        Ok(n) if n > 0 => max_queues = Some(n),
                        _ => return Err(Usage(format!("--queues {raw:?} is not a count from 1"))),
                    }
                }
                s if !s.starts_with('-') && id.is_none() => id = Some(s.to_string()),
                s => return Err(Usage(format!("unexpected argument {s:?}"))),
            }
        }
        let raw = id.ok_or(Usage("missing the device id".into()))?;
        let id = raw
            .parse::<u16>()
            .map_err(|_| Usage(format!("device id {raw:?} is not a number below 65536")))?;
        Ok(DeviceArgs {
            id,
            dev,
            max_queues,
        })
    }
}

/// Files what the store sent and passes each watch event to the driver's state machine, then to
/// `extra` (device-specific watches). A device error closes the device (the machine does that)
/// and is only logged, since the backend may come back; a store error ends the front.
pub fn pump_store<D>(
    xs: &mut Store,
    driver: &mut FrontendDriver<D>,
    name: &str,
    mut extra: impl FnMut(&mut Store, &mut FrontendDriver<D>, &WatchEvent),
) -> Result<(), DriverError<D::Error>>
where
    D: FrontendDevice<StreamTransport<XenbusDev>>,
    D::Error: Debug,
{
    xs.process_pending().map_err(DriverError::Store)?;
    while let Some(ev) = xs.try_event() {
        let before = driver.machine().state();
        match driver.on_watch(xs, &ev) {
            Ok(()) => {}
            Err(DriverError::Device(e)) => eprintln!("{name}: device error: {e:?}"),
            Err(e) => return Err(e),
        }
        extra(xs, driver, &ev);
        let after = driver.machine().state();
        if before != after {
            eprintln!(
                "{name}: frontend {before:?} -> {after:?} (backend {:?})",
                driver.machine().backend()
            );
        }
    }
    Ok(())
}

/// A change of the connection worth a log line: the backend went away under a connected device,
/// or came back after that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkChange {
    /// The device was connected and is not any more (the backend closed, died or restarted).
    Lost,
    /// Connected again, `after` the loss; `drops` counts the losses so far.
    Back { after: Duration, drops: u32 },
}

/// Follows whether a device is connected, to report drops and reconnects (the first connect is
/// neither: the home reports it itself).
#[derive(Debug, Default)]
pub struct LinkWatch {
    connected: bool,
    lost_at: Option<Instant>,
    drops: u32,
}

impl LinkWatch {
    /// The owner is closing the device: what follows is not a drop.
    pub fn stop(&mut self) {
        self.connected = false;
        self.lost_at = None;
    }

    /// Feeds the device's current state; returns the change, if this is one.
    pub fn observe(&mut self, connected: bool, now: Instant) -> Option<LinkChange> {
        let was = std::mem::replace(&mut self.connected, connected);
        match (was, connected) {
            (true, false) => {
                self.lost_at = Some(now);
                self.drops += 1;
                Some(LinkChange::Lost)
            }
            (false, true) => self.lost_at.take().map(|t| LinkChange::Back {
                after: now.saturating_duration_since(t),
                drops: self.drops,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_follow_the_flag_or_else_the_vcpus() {
        assert_eq!(queue_wish(None, 1), 1);
        assert_eq!(queue_wish(None, 2), 2);
        assert_eq!(queue_wish(None, 64), DEFAULT_MAX_QUEUES);
        assert_eq!(queue_wish(Some(8), 64), 8);
        assert_eq!(queue_wish(Some(1), 64), 1);
        assert_eq!(queue_wish(Some(3), 2), 3, "asked for: beyond the vCPUs");
        assert_eq!(queue_wish(None, 0), 1, "never below one queue");
        assert_eq!(queue_wish(Some(u16::MAX), 1 << 20), u16::MAX);
    }

    #[test]
    fn link_watch_reports_drops_and_returns_but_not_the_first_connect() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut w = LinkWatch::default();
        assert_eq!(w.observe(false, at(0)), None);
        assert_eq!(w.observe(true, at(10)), None, "first connect");
        assert_eq!(w.observe(true, at(20)), None);
        assert_eq!(w.observe(false, at(100)), Some(LinkChange::Lost));
        assert_eq!(w.observe(false, at(200)), None);
        assert_eq!(
            w.observe(true, at(1100)),
            Some(LinkChange::Back {
                after: Duration::from_millis(1000),
                drops: 1
            })
        );
        assert_eq!(w.observe(false, at(1200)), Some(LinkChange::Lost));
        let mut closing = LinkWatch::default();
        closing.observe(true, at(0));
        closing.stop();
        assert_eq!(closing.observe(false, at(1)), None, "our own close");
        assert_eq!(closing.observe(true, at(2)), None);
        assert_eq!(
            w.observe(true, at(1250)),
            Some(LinkChange::Back {
                after: Duration::from_millis(50),
                drops: 2
            })
        );
    }

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn parse(a: &[&str]) -> Result<DeviceArgs, Usage> {
        DeviceArgs::parse(&strings(a), "--vbd", "--nbd", "/dev/nbd0")
    }

    #[test]
    fn an_id_and_an_optional_device() {
        assert_eq!(
            parse(&["51728"]),
            Ok(DeviceArgs {
                id: 51728,
                dev: "/dev/nbd0".into(),
                max_queues: None,
            })
        );
        assert_eq!(
            parse(&["--vbd", "51712", "--nbd", "/dev/nbd3"]),
            Ok(DeviceArgs {
                id: 51712,
                dev: "/dev/nbd3".into(),
                max_queues: None,
            })
        );
        assert_eq!(
            parse(&["--nbd", "/dev/nbd1", "7"]).unwrap().dev,
            "/dev/nbd1"
        );
        assert_eq!(parse(&["7", "--queues", "2"]).unwrap().max_queues, Some(2));
    }

    #[test]
    fn bad_command_lines_are_usage_errors() {
        for bad in [
            &[][..],
            &["70000"],
            &["xvdb"],
            &["1", "2"],
            &["--nbd"],
            &["--vbd"],
            &["-x"],
            &["--tap", "x", "1"],
            &["1", "--queues"],
            &["1", "--queues", "0"],
            &["1", "--queues", "two"],
            &["1", "--queues", "70000"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
