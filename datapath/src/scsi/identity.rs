//! Who the disk says it is: INQUIRY vendor / product / revision, the unit serial number (VPD 80h)
//! and the device identification descriptors (VPD 83h).
//!
//! Upstream XenVbd copies pages 80h and 83h from the backend's `sm-data/scsi/0x12/0x80` and
//! `.../0x83` keys (base64 of the physical LUN's whole VPD page) when the toolstack provides them,
//! so that a guest sees the same identifiers as the storage array has; otherwise it makes them
//! up from the target number. Here the fallback is derived from the vbd's virtual-device number,
//! which the toolstack keeps stable across reboots and migration (the backend path is not: it
//! contains the guest's domain id).

use alloc::vec::Vec;
use core::fmt;

/// T10 vendor identification the derived identifiers use; the same as upstream XenVbd so that
/// Windows builds the same hardware ids (`SCSI\DiskXENSRC__PVDISK__...`).
const VENDOR: &[u8; 8] = b"XENSRC  ";
const PRODUCT: &[u8; 16] = b"PVDISK          ";
const REVISION: &[u8; 4] = b"2.0 ";

/// Designation descriptor header fields (SPC-4 7.8.6.1).
const CODE_SET_ASCII: u8 = 0x2;
const DESIGNATOR_VENDOR_SPECIFIC: u8 = 0x0;
const DESIGNATOR_T10_VENDOR_ID: u8 = 0x1;

/// Characters of a textual UUID (8-4-4-4-12 hex digits).
const UUID_LEN: usize = 36;

/// A VPD page from the backend that cannot be used (the derived identity stays in place).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityError {
    /// The `sm-data` value is not base64.
    Base64,
    /// `sm-data/vdi-uuid` is not a 36-character UUID.
    VdiUuid,
    /// Shorter than the 4-byte page header.
    Truncated,
    /// The page is not one this setter takes (80h or 83h).
    PageCode(u8),
    /// PAGE LENGTH claims more bytes than the page has.
    PageLength { declared: usize, actual: usize },
    /// The serial number is empty or not printable ASCII.
    Serial,
    /// A designation descriptor at this offset runs past the page end, or there is none.
    Descriptor(usize),
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityError::Base64 => f.write_str("sm-data value is not base64"),
            IdentityError::VdiUuid => f.write_str("vdi-uuid is not a UUID"),
            IdentityError::Truncated => f.write_str("VPD page shorter than its header"),
            IdentityError::PageCode(c) => write!(f, "VPD page code {c:#04x} is not 80h or 83h"),
            IdentityError::PageLength { declared, actual } => {
                write!(
                    f,
                    "VPD page length {declared} but {actual} bytes follow the header"
                )
            }
            IdentityError::Serial => f.write_str("unit serial number empty or not printable ASCII"),
            IdentityError::Descriptor(o) => write!(f, "bad designation descriptor at offset {o}"),
        }
    }
}

/// Identification data, built once at setup (it allocates), read on every INQUIRY.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// PRODUCT SERIAL NUMBER of VPD 80h (printable ASCII).
    serial: Vec<u8>,
    /// The designation descriptors of VPD 83h, back to back.
    designators: Vec<u8>,
    /// `sm-data/vdi-uuid`: served after `designators` as a vendor specific designator, as
    /// upstream XenVbd does, so that tools in the guest can name the VDI behind a disk.
    vdi_uuid: Option<[u8; UUID_LEN]>,
}

impl Identity {
    /// Identifiers made up from the vbd's virtual-device number (`virtual-device` / the vbd id):
    /// serial is its decimal form, and the LU is named by a T10 vendor ID designator
    /// "XENSRC  " + that serial.
    pub fn derived(vdev: u32) -> Self {
        let mut serial = Vec::new();
        push_decimal(&mut serial, vdev);
        let mut designators = Vec::with_capacity(4 + VENDOR.len() + serial.len());
        // Association 0 (the logical unit), PIV 0, protocol identifier 0.
        designators.extend_from_slice(&[
            CODE_SET_ASCII,
            DESIGNATOR_T10_VENDOR_ID,
            0,
            (VENDOR.len() + serial.len()) as u8,
        ]);
        designators.extend_from_slice(VENDOR);
        designators.extend_from_slice(&serial);
        Self {
            serial,
            designators,
            vdi_uuid: None,
        }
    }

    /// [`Identity::set_vpd_page`] for a value as read from `sm-data/scsi/0x12/0x80` or `0x83`
    /// (base64 of the page).
    pub fn set_sm_data_page(&mut self, value: &str) -> Result<(), IdentityError> {
        let page = super::base64::decode(value.as_bytes()).ok_or(IdentityError::Base64)?;
        self.set_vpd_page(&page)
    }

    /// Adds the VDI's UUID (`sm-data/vdi-uuid`) to the device identification page.
    pub fn set_vdi_uuid(&mut self, uuid: &str) -> Result<(), IdentityError> {
        let b = uuid.as_bytes();
        let well_formed = b.len() == UUID_LEN
            && b.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            });
        if !well_formed {
            return Err(IdentityError::VdiUuid);
        }
        let mut u = [0; UUID_LEN];
        u.copy_from_slice(b);
        self.vdi_uuid = Some(u);
        Ok(())
    }

    /// Replaces page 80h's serial or page 83h's descriptors with a whole VPD page as the backend
    /// provides it (the decoded value of `sm-data/scsi/0x12/0x80` or `0x83`). The page's
    /// peripheral byte is the physical LUN's and is not kept. Bytes after PAGE LENGTH are
    /// ignored. On error nothing changes.
    pub fn set_vpd_page(&mut self, page: &[u8]) -> Result<(), IdentityError> {
        if page.len() < 4 {
            return Err(IdentityError::Truncated);
        }
        let declared = usize::from(u16::from_be_bytes([page[2], page[3]]));
        let body = page[4..].get(..declared).ok_or(IdentityError::PageLength {
            declared,
            actual: page.len() - 4,
        })?;
        match page[1] {
            0x80 => {
                if body.is_empty() || !body.iter().all(|b| (0x20..0x7F).contains(b)) {
                    return Err(IdentityError::Serial);
                }
                self.serial = body.to_vec();
            }
            0x83 => {
                check_designators(body)?;
                // Room for the VDI designator: PAGE LENGTH is 16 bits.
                if body.len() > usize::from(u16::MAX) - (4 + UUID_LEN) {
                    return Err(IdentityError::PageLength {
                        declared,
                        actual: body.len(),
                    });
                }
                self.designators = body.to_vec();
            }
            other => return Err(IdentityError::PageCode(other)),
        }
        Ok(())
    }

    pub fn vendor(&self) -> &[u8; 8] {
        VENDOR
    }

    pub fn product(&self) -> &[u8; 16] {
        PRODUCT
    }

    pub fn revision(&self) -> &[u8; 4] {
        REVISION
    }

    pub fn serial(&self) -> &[u8] {
        &self.serial
    }

    /// The designation descriptors of VPD 83h, back to back.
    pub fn designators(&self) -> &[u8] {
        &self.designators
    }

    /// The vendor specific designator that follows [`Identity::designators`] when the VDI's
    /// UUID is known: its 4-byte header and the UUID text.
    pub fn vdi_designator(&self) -> Option<([u8; 4], &[u8])> {
        let u = self.vdi_uuid.as_ref()?;
        Some((
            [
                CODE_SET_ASCII,
                DESIGNATOR_VENDOR_SPECIFIC,
                0,
                UUID_LEN as u8,
            ],
            &u[..],
        ))
    }
}

/// Every descriptor's DESIGNATOR LENGTH keeps it inside the page, and there is at least one.
fn check_designators(body: &[u8]) -> Result<(), IdentityError> {
    if body.is_empty() {
        return Err(IdentityError::Descriptor(4));
    }
    let mut at = 0;
    while at < body.len() {
        let start = at;
        let len = *body
            .get(at + 3)
            .ok_or(IdentityError::Descriptor(4 + start))?;
        at += 4 + usize::from(len);
        if at > body.len() {
            return Err(IdentityError::Descriptor(4 + start));
        }
    }
    Ok(())
}

fn push_decimal(out: &mut Vec<u8>, mut v: u32) {
    let start = out.len();
    loop {
        out.push(b'0' + (v % 10) as u8);
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out[start..].reverse();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_identity_names_the_vdev() {
        let id = Identity::derived(51712);
        assert_eq!(id.serial(), b"51712");
        assert_eq!(&id.designators()[..4], &[0x02, 0x01, 0x00, 13]);
        assert_eq!(&id.designators()[4..], b"XENSRC  51712");
        assert_eq!(Identity::derived(0).serial(), b"0");
        assert_eq!(Identity::derived(u32::MAX).serial(), b"4294967295");
    }

    #[test]
    fn backend_pages_replace_the_derived_ones() {
        let mut id = Identity::derived(768);
        id.set_vpd_page(b"\x00\x80\x00\x0aSN12345678trailing")
            .unwrap();
        assert_eq!(id.serial(), b"SN12345678");
        // An NAA 6 designator (binary code set, type 3) of 16 bytes.
        let mut p83 = std::vec![0x00, 0x83, 0x00, 20, 0x01, 0x03, 0x00, 16];
        p83.extend_from_slice(&[0x60, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
        id.set_vpd_page(&p83).unwrap();
        assert_eq!(id.designators(), &p83[4..]);
    }

    #[test]
    fn sm_data_values_are_base64_pages() {
        let mut id = Identity::derived(768);
        // base64 of 00 80 00 04 "XYZ1".
        id.set_sm_data_page("AIAABFhZWjE=").unwrap();
        assert_eq!(id.serial(), b"XYZ1");
        assert_eq!(
            id.set_sm_data_page("AIAABFhZWjE"),
            Err(IdentityError::Base64)
        );
        assert_eq!(id.set_sm_data_page("AIAA"), Err(IdentityError::Truncated));
        assert_eq!(id.serial(), b"XYZ1");
    }

    #[test]
    fn vdi_uuid_designator() {
        let mut id = Identity::derived(768);
        assert_eq!(id.vdi_designator(), None);
        let uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
        id.set_vdi_uuid(uuid).unwrap();
        let (header, text) = id.vdi_designator().unwrap();
        assert_eq!(header, [0x02, 0x00, 0x00, 36]);
        assert_eq!(text, uuid.as_bytes());
        for bad in [
            "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f",
            "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1fg",
            "0f1e2d3c4b5a-6978-8796-a5b4c3d2e1f0a",
            "",
        ] {
            assert_eq!(id.set_vdi_uuid(bad), Err(IdentityError::VdiUuid), "{bad}");
        }
        assert_eq!(id.vdi_designator().unwrap().1, uuid.as_bytes(), "unchanged");
    }

    #[test]
    fn bad_pages_are_refused_and_change_nothing() {
        let mut id = Identity::derived(768);
        let before = id.clone();
        assert_eq!(
            id.set_vpd_page(b"\x00\x80\x00"),
            Err(IdentityError::Truncated)
        );
        assert_eq!(
            id.set_vpd_page(b"\x00\x80\x00\x10short"),
            Err(IdentityError::PageLength {
                declared: 16,
                actual: 5
            })
        );
        assert_eq!(
            id.set_vpd_page(b"\x00\x80\x00\x02a\x01"),
            Err(IdentityError::Serial)
        );
        assert_eq!(
            id.set_vpd_page(b"\x00\x80\x00\x00"),
            Err(IdentityError::Serial)
        );
        assert_eq!(
            id.set_vpd_page(b"\x00\xb0\x00\x00"),
            Err(IdentityError::PageCode(0xB0))
        );
        assert_eq!(
            id.set_vpd_page(b"\x00\x83\x00\x00"),
            Err(IdentityError::Descriptor(4))
        );
        // Second descriptor claims 9 bytes where 2 remain.
        assert_eq!(
            id.set_vpd_page(b"\x00\x83\x00\x0b\x02\x01\x00\x01X\x02\x01\x00\x09ab"),
            Err(IdentityError::Descriptor(9))
        );
        // A header cut short.
        assert_eq!(
            id.set_vpd_page(b"\x00\x83\x00\x07\x02\x01\x00\x01X\x02\x01"),
            Err(IdentityError::Descriptor(9))
        );
        assert_eq!(id, before);
    }
}
