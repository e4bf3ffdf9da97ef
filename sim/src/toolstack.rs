//! What the toolstack (libxl) does in xenstore to create and destroy a paravirtual device, for
//! any device class: the frontend directory in the guest's home and the backend directory in the
//! backend domain's, each owned by its domain and readable by the other, both in state
//! Initialising, written in one transaction.

use xenpv_abi::xenbus::XenbusState;
use xenpv_abi::DomId;
use xenpv_control::xs::{Access, Perm, XsError};

use crate::xenstored::{domain_path, LocalConnection, StoreOps};

/// A device to create.
#[derive(Clone, Copy, Debug)]
pub struct DeviceSpec<'a> {
    /// `vif`, `vbd`, ...
    pub class: &'a str,
    /// Device number within the class (`handle`, `devid`).
    pub id: u32,
    /// The guest.
    pub frontend: DomId,
    /// The domain running the backend.
    pub backend: DomId,
    /// Extra frontend keys (e.g. a vif's `mac`).
    pub frontend_keys: &'a [(&'a str, &'a str)],
    /// Extra backend keys (e.g. a vbd's `params`).
    pub backend_keys: &'a [(&'a str, &'a str)],
}

/// Where a created device lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// `/local/domain/<frontend>/device/<class>/<id>`.
    pub frontend: String,
    /// `/local/domain/<backend>/backend/<class>/<frontend>/<id>`.
    pub backend: String,
}

impl DeviceSpec<'_> {
    /// The directories of this device.
    pub fn paths(&self) -> Device {
        Device {
            frontend: format!(
                "{}/device/{}/{}",
                domain_path(self.frontend),
                self.class,
                self.id
            ),
            backend: format!(
                "{}/backend/{}/{}/{}",
                domain_path(self.backend),
                self.class,
                self.frontend,
                self.id
            ),
        }
    }
}

/// Creates the device's two directories (dom0's connection `store` does it, as libxl does).
pub fn create_device(store: &LocalConnection, spec: &DeviceSpec<'_>) -> Result<Device, XsError> {
    let dev = spec.paths();
    let initialising = (XenbusState::Initialising as u32).to_string();
    let id = spec.id.to_string();
    // The frontend owns its directory and the backend may read it; and the other way round.
    let front_perms = [
        Perm::new(spec.frontend, Access::None),
        Perm::new(spec.backend, Access::Read),
    ];
    let back_perms = [
        Perm::new(spec.backend, Access::None),
        Perm::new(spec.frontend, Access::Read),
    ];
    let fe_id = spec.frontend.to_string();
    let be_id = spec.backend.to_string();
    loop {
        let tx = store.transaction()?;
        let write_dir = |dir: &str, keys: &[(&str, &str)], perms: &[Perm]| {
            tx.mkdir(dir)?;
            tx.set_perms(dir, perms)?;
            for (k, v) in keys {
                let path = format!("{dir}/{k}");
                tx.write(&path, v)?;
                tx.set_perms(&path, perms)?;
            }
            Ok::<(), XsError>(())
        };
        let front_keys: Vec<(&str, &str)> = [
            ("backend", dev.backend.as_str()),
            ("backend-id", be_id.as_str()),
            ("state", initialising.as_str()),
            ("handle", id.as_str()),
        ]
        .into_iter()
        .chain(spec.frontend_keys.iter().copied())
        .collect();
        let back_keys: Vec<(&str, &str)> = [
            ("frontend", dev.frontend.as_str()),
            ("frontend-id", fe_id.as_str()),
            ("state", initialising.as_str()),
            ("online", "1"),
            ("handle", id.as_str()),
        ]
        .into_iter()
        .chain(spec.backend_keys.iter().copied())
        .collect();
        write_dir(&dev.frontend, &front_keys, &front_perms)?;
        write_dir(&dev.backend, &back_keys, &back_perms)?;
        match tx.commit() {
            Ok(()) => return Ok(dev),
            Err(XsError::EAGAIN) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Removes both directories (device unplugged or domain destroyed).
pub fn destroy_device(store: &LocalConnection, dev: &Device) -> Result<(), XsError> {
    for dir in [&dev.frontend, &dev.backend] {
        match store.rm(dir) {
            Ok(()) | Err(XsError::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xenstored::{Config, Xenstored};

    #[test]
    fn each_side_owns_its_directory_and_reads_the_other() {
        let xs = Xenstored::new(Config::default());
        xs.introduce_domain(3).unwrap();
        let dom0 = xs.connect(0);
        let spec = DeviceSpec {
            class: "vif",
            id: 0,
            frontend: 3,
            backend: 0,
            frontend_keys: &[("mac", "00:16:3e:00:00:01")],
            backend_keys: &[],
        };
        let dev = create_device(&dom0, &spec).unwrap();
        assert_eq!(dev.frontend, "/local/domain/3/device/vif/0");
        assert_eq!(dev.backend, "/local/domain/0/backend/vif/3/0");
        let guest = xs.connect(3);
        assert_eq!(
            guest
                .read_string(&format!("{}/backend", dev.frontend))
                .unwrap(),
            dev.backend
        );
        assert_eq!(
            guest
                .read_string(&format!("{}/state", dev.backend))
                .unwrap(),
            "1"
        );
        guest
            .write(&format!("{}/state", dev.frontend), "3")
            .unwrap();
        assert_eq!(
            guest.write(&format!("{}/state", dev.backend), "6"),
            Err(XsError::EACCES),
            "the guest cannot touch the backend's directory"
        );
        let other = {
            xs.introduce_domain(4).unwrap();
            xs.connect(4)
        };
        assert_eq!(
            other.read(&format!("{}/mac", dev.frontend)),
            Err(XsError::EACCES),
            "a third domain sees nothing"
        );
        destroy_device(&dom0, &dev).unwrap();
        assert!(!dom0.exists(&dev.frontend).unwrap());
        destroy_device(&dom0, &dev).unwrap();
    }
}
