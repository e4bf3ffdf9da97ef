//! Unplugging QEMU's emulated disks and NICs through the Xen platform PCI device's I/O ports
//! (Xen's docs/misc/hvm-emulated-unplug): so that Windows does not see each disk and NIC twice, once
//! emulated and once through the PV drivers.
//!
//! The exchange, from the driver's side: read the 16-bit magic 0x49d2 from port 0x10 (anything else:
//! no unplug support); read the 8-bit protocol version from port 0x12; from version 1 on, write the
//! 16-bit product number to port 0x12 and the 32-bit build number to port 0x10, then read the magic
//! again (0xd249 now means dom0 has blacklisted this product and build: stay off the PV path);
//! finally write the 16-bit mask of devices to unplug to port 0x10.
//!
//! The ports sit behind [`PortIo`], so the exchange is tested against a model of QEMU's side.

/// Port of the magic, the build number and the unplug mask.
pub const PORT_MAGIC: u16 = 0x10;
/// Port of the protocol version and the product number.
pub const PORT_VERSION: u16 = 0x12;

/// The magic of a device model that implements the protocol.
pub const MAGIC: u16 = 0x49d2;
/// The magic after the product check, when this driver build is blacklisted.
pub const MAGIC_BLACKLISTED: u16 = 0xd249;

/// Product number from xen/include/public/hvm/pvdrivers.h: "experimental", the number its
/// registry allows for drivers not yet released (a released xenpv would register its own).
pub const PRODUCT_EXPERIMENTAL: u16 = 0xffff;

/// Unplug mask bits.
pub const UNPLUG_ALL_DISKS: u16 = 1 << 0;
pub const UNPLUG_ALL_NICS: u16 = 1 << 1;
/// All IDE disks except the primary master (bit 0 overrides it).
pub const UNPLUG_AUX_IDE_DISKS: u16 = 1 << 2;
pub const UNPLUG_NVME_DISKS: u16 = 1 << 3;

/// Port I/O, as the home does it (`in`/`out`, or READ_PORT_USHORT and friends on Windows).
pub trait PortIo {
    fn inb(&mut self, port: u16) -> u8;
    fn inw(&mut self, port: u16) -> u16;
    fn outw(&mut self, port: u16, value: u16);
    fn outl(&mut self, port: u16, value: u32);
}

/// Why nothing was unplugged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnplugError {
    /// Port 0x10 did not answer with the magic: no Xen platform device, or a device model without
    /// the protocol. The value read is kept for the log.
    NoProtocol(u16),
    /// dom0 blacklisted this product and build: the emulated devices must stay, and the PV drivers
    /// should not take over.
    Blacklisted,
    /// After the product check the magic is neither value: the device model is broken.
    BadMagicAfterCheck(u16),
}

/// What the exchange found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unplugged {
    /// The protocol version the device model reported.
    pub version: u8,
    /// The mask written.
    pub mask: u16,
}

/// Runs the exchange and unplugs the devices in `mask` (bits `UNPLUG_*`). Unknown bits are not
/// sent: a device model may give them a meaning later.
pub fn unplug(
    io: &mut impl PortIo,
    product: u16,
    build: u32,
    mask: u16,
) -> Result<Unplugged, UnplugError> {
    let magic = io.inw(PORT_MAGIC);
    if magic != MAGIC {
        return Err(UnplugError::NoProtocol(magic));
    }
    let version = io.inb(PORT_VERSION);
    if version != 0 {
        io.outw(PORT_VERSION, product);
        io.outl(PORT_MAGIC, build);
        match io.inw(PORT_MAGIC) {
            MAGIC => {}
            MAGIC_BLACKLISTED => return Err(UnplugError::Blacklisted),
            other => return Err(UnplugError::BadMagicAfterCheck(other)),
        }
    }
    let mask =
        mask & (UNPLUG_ALL_DISKS | UNPLUG_ALL_NICS | UNPLUG_AUX_IDE_DISKS | UNPLUG_NVME_DISKS);
    io.outw(PORT_MAGIC, mask);
    Ok(Unplugged { version, mask })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// QEMU's side of the ports (hw/xen/xen_platform.c's behaviour as the protocol document states
    /// it): the magic, a version, a product/build check against a blacklist, the unplug write.
    struct DeviceModel {
        present: bool,
        version: u8,
        blacklist: Option<(u16, u32)>,
        product: Option<u16>,
        blacklisted: bool,
        /// Every write, in order: (port, width in bytes, value).
        writes: Vec<(u16, u8, u32)>,
        unplugged: Option<u16>,
    }

    impl DeviceModel {
        fn new(version: u8) -> Self {
            DeviceModel {
                present: true,
                version,
                blacklist: None,
                product: None,
                blacklisted: false,
                writes: Vec::new(),
                unplugged: None,
            }
        }
    }

    impl PortIo for DeviceModel {
        fn inb(&mut self, port: u16) -> u8 {
            match (self.present, port) {
                (true, PORT_VERSION) => self.version,
                _ => 0xff,
            }
        }
        fn inw(&mut self, port: u16) -> u16 {
            match (self.present, port) {
                (true, PORT_MAGIC) if self.blacklisted => MAGIC_BLACKLISTED,
                (true, PORT_MAGIC) => MAGIC,
                // A port nobody decodes floats high.
                _ => 0xffff,
            }
        }
        fn outw(&mut self, port: u16, value: u16) {
            self.writes.push((port, 2, value.into()));
            match port {
                PORT_VERSION => self.product = Some(value),
                PORT_MAGIC if !self.blacklisted => self.unplugged = Some(value),
                _ => {}
            }
        }
        fn outl(&mut self, port: u16, value: u32) {
            self.writes.push((port, 4, value));
            if port == PORT_MAGIC
                && self
                    .blacklist
                    .is_some_and(|b| Some(b.0) == self.product && b.1 == value)
            {
                self.blacklisted = true;
            }
        }
    }

    #[test]
    fn version_1_identifies_itself_then_unplugs() {
        let mut dm = DeviceModel::new(1);
        let r = unplug(
            &mut dm,
            PRODUCT_EXPERIMENTAL,
            42,
            UNPLUG_ALL_DISKS | UNPLUG_ALL_NICS,
        );
        assert_eq!(
            r,
            Ok(Unplugged {
                version: 1,
                mask: UNPLUG_ALL_DISKS | UNPLUG_ALL_NICS
            })
        );
        assert_eq!(
            dm.writes,
            [
                (PORT_VERSION, 2, u32::from(PRODUCT_EXPERIMENTAL)),
                (PORT_MAGIC, 4, 42),
                (PORT_MAGIC, 2, 3),
            ]
        );
        assert_eq!(dm.unplugged, Some(3));
    }

    #[test]
    fn version_0_skips_the_product_check() {
        let mut dm = DeviceModel::new(0);
        let r = unplug(&mut dm, PRODUCT_EXPERIMENTAL, 42, UNPLUG_ALL_NICS).unwrap();
        assert_eq!(r.version, 0);
        assert_eq!(dm.writes, [(PORT_MAGIC, 2, u32::from(UNPLUG_ALL_NICS))]);
    }

    #[test]
    fn no_protocol_writes_nothing() {
        let mut dm = DeviceModel::new(1);
        dm.present = false;
        assert_eq!(
            unplug(&mut dm, PRODUCT_EXPERIMENTAL, 1, UNPLUG_ALL_DISKS),
            Err(UnplugError::NoProtocol(0xffff))
        );
        assert!(dm.writes.is_empty());
    }

    #[test]
    fn a_blacklisted_build_unplugs_nothing() {
        let mut dm = DeviceModel::new(1);
        dm.blacklist = Some((PRODUCT_EXPERIMENTAL, 7));
        assert_eq!(
            unplug(&mut dm, PRODUCT_EXPERIMENTAL, 7, UNPLUG_ALL_DISKS),
            Err(UnplugError::Blacklisted)
        );
        assert_eq!(dm.unplugged, None);
        // Another build of the same product is fine.
        let mut dm = DeviceModel::new(1);
        dm.blacklist = Some((PRODUCT_EXPERIMENTAL, 7));
        assert!(unplug(&mut dm, PRODUCT_EXPERIMENTAL, 8, UNPLUG_ALL_DISKS).is_ok());
    }

    #[test]
    fn a_garbled_magic_after_the_check_is_an_error_and_unknown_bits_are_not_sent() {
        struct Garbled(u8);
        impl PortIo for Garbled {
            fn inb(&mut self, _: u16) -> u8 {
                1
            }
            fn inw(&mut self, _: u16) -> u16 {
                self.0 += 1;
                if self.0 == 1 {
                    MAGIC
                } else {
                    0x1234
                }
            }
            fn outw(&mut self, _: u16, _: u16) {}
            fn outl(&mut self, _: u16, _: u32) {}
        }
        assert_eq!(
            unplug(&mut Garbled(0), PRODUCT_EXPERIMENTAL, 1, 1),
            Err(UnplugError::BadMagicAfterCheck(0x1234))
        );
        let mut dm = DeviceModel::new(1);
        let r = unplug(&mut dm, PRODUCT_EXPERIMENTAL, 1, 0xfff0 | UNPLUG_NVME_DISKS).unwrap();
        assert_eq!(r.mask, UNPLUG_NVME_DISKS);
        assert_eq!(dm.unplugged, Some(UNPLUG_NVME_DISKS));
    }
}
