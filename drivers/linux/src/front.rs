//! What both fronts' homes share: their command line and the store side of their loop.

use std::fmt::Debug;

use xenpv_control::xenbus::{DriverError, FrontendDevice, FrontendDriver};
use xenpv_control::xs::client::{StreamTransport, WatchEvent};

use crate::xenbus::{Store, XenbusDev};

/// `<id> [--<dev-flag> DEV]`, also `--<id-flag> <id>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceArgs {
    /// The xenbus device id (vif index, vbd number).
    pub id: u16,
    /// The local device to expose it as.
    pub dev: String,
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
                s if !s.starts_with('-') && id.is_none() => id = Some(s.to_string()),
                s => return Err(Usage(format!("unexpected argument {s:?}"))),
            }
        }
        let raw = id.ok_or(Usage("missing the device id".into()))?;
        let id = raw
            .parse::<u16>()
            .map_err(|_| Usage(format!("device id {raw:?} is not a number below 65536")))?;
        Ok(DeviceArgs { id, dev })
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
            eprintln!("{name}: frontend {before:?} -> {after:?}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
                dev: "/dev/nbd0".into()
            })
        );
        assert_eq!(
            parse(&["--vbd", "51712", "--nbd", "/dev/nbd3"]),
            Ok(DeviceArgs {
                id: 51712,
                dev: "/dev/nbd3".into()
            })
        );
        assert_eq!(
            parse(&["--nbd", "/dev/nbd1", "7"]).unwrap().dev,
            "/dev/nbd1"
        );
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
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
