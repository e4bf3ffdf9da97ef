//! Operation codes and a bounds-checked view of a CDB.

use super::sense::Sense;

// Operation codes (SPC-4 / SBC-3 annex; only those this module answers).
pub const TEST_UNIT_READY: u8 = 0x00;
pub const REQUEST_SENSE: u8 = 0x03;
pub const READ_6: u8 = 0x08;
pub const WRITE_6: u8 = 0x0A;
pub const INQUIRY: u8 = 0x12;
pub const MODE_SENSE_6: u8 = 0x1A;
pub const START_STOP_UNIT: u8 = 0x1B;
pub const PREVENT_ALLOW_MEDIUM_REMOVAL: u8 = 0x1E;
pub const READ_CAPACITY_10: u8 = 0x25;
pub const READ_10: u8 = 0x28;
pub const WRITE_10: u8 = 0x2A;
pub const VERIFY_10: u8 = 0x2F;
pub const SYNCHRONIZE_CACHE_10: u8 = 0x35;
pub const WRITE_SAME_10: u8 = 0x41;
pub const UNMAP: u8 = 0x42;
pub const MODE_SENSE_10: u8 = 0x5A;
pub const READ_16: u8 = 0x88;
pub const WRITE_16: u8 = 0x8A;
pub const VERIFY_16: u8 = 0x8F;
pub const SYNCHRONIZE_CACHE_16: u8 = 0x91;
pub const WRITE_SAME_16: u8 = 0x93;
pub const SERVICE_ACTION_IN_16: u8 = 0x9E;
pub const REPORT_LUNS: u8 = 0xA0;
pub const READ_12: u8 = 0xA8;
pub const WRITE_12: u8 = 0xAA;
pub const VERIFY_12: u8 = 0xAF;

/// SERVICE ACTION IN (16) service action READ CAPACITY (16).
pub const SA_READ_CAPACITY_16: u8 = 0x10;

/// NACA bit of the CONTROL byte.
const CONTROL_NACA: u8 = 0x04;

/// A big-endian number from its bytes (CDB fields and parameter lists).
pub fn be(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0, |v, b| (v << 8) | u64::from(b))
}

/// A CDB whose length fits its operation code's group. Field reads past the end yield 0 rather
/// than panic, although the length check already keeps every handler inside the CDB.
#[derive(Clone, Copy, Debug)]
pub struct Cdb<'a> {
    bytes: &'a [u8],
}

/// CDB length of an operation code's group (SPC-4 4.3.4); `None` for the groups with variable
/// or vendor-specific lengths, none of which this module implements.
fn group_len(opcode: u8) -> Option<usize> {
    match opcode >> 5 {
        0 => Some(6),
        1 | 2 => Some(10),
        4 => Some(16),
        5 => Some(12),
        _ => None,
    }
}

impl<'a> Cdb<'a> {
    /// Checks that `raw` (the SRB's CDB, `CdbLength` bytes) holds a whole CDB of its group, and
    /// that the CONTROL byte asks for nothing this device lacks. Extra trailing bytes are
    /// ignored, as STORPORT may hand a 16-byte buffer for a shorter CDB.
    pub fn parse(raw: &'a [u8]) -> Result<Self, Sense> {
        let opcode = *raw.first().ok_or(Sense::invalid_opcode())?;
        let len = group_len(opcode).ok_or(Sense::invalid_opcode())?;
        if raw.len() < len {
            // The field that should have been there is missing.
            return Err(Sense::invalid_field_in_cdb(raw.len() as u16, None));
        }
        let cdb = Self { bytes: &raw[..len] };
        // SAM-5: NACA = 1 needs NormACA support, which INQUIRY says we lack (NORMACA = 0).
        if cdb.u8(len - 1) & CONTROL_NACA != 0 {
            return Err(Sense::invalid_field_in_cdb((len - 1) as u16, Some(2)));
        }
        Ok(cdb)
    }

    pub fn opcode(&self) -> u8 {
        self.u8(0)
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn u8(&self, i: usize) -> u8 {
        self.bytes.get(i).copied().unwrap_or(0)
    }

    /// Bit `bit` of byte `i`.
    pub fn bit(&self, i: usize, bit: u8) -> bool {
        self.u8(i) & (1 << bit) != 0
    }

    fn be(&self, i: usize, n: usize) -> u64 {
        be((i..i + n).map(|j| self.u8(j)))
    }

    pub fn be16(&self, i: usize) -> u16 {
        self.be(i, 2) as u16
    }

    pub fn be32(&self, i: usize) -> u32 {
        self.be(i, 4) as u32
    }

    pub fn be64(&self, i: usize) -> u64 {
        self.be(i, 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_follow_the_group() {
        assert_eq!(Cdb::parse(&[0x12, 0, 0, 0, 0x24, 0]).unwrap().len(), 6);
        assert_eq!(
            Cdb::parse(&[0x28; 16]).unwrap().len(),
            10,
            "trailing bytes ignored"
        );
        assert_eq!(
            Cdb::parse(&[0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0x04]).unwrap_err(),
            Sense::invalid_field_in_cdb(9, Some(2)),
            "NACA in the CONTROL byte"
        );
        assert!(
            Cdb::parse(&[0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0xFB]).is_ok(),
            "only NACA is checked"
        );
        assert_eq!(Cdb::parse(&[0x88; 16]).unwrap().len(), 16);
        assert_eq!(Cdb::parse(&[0xA0; 12]).unwrap().len(), 12);
        assert_eq!(
            Cdb::parse(&[0x7F; 16]).unwrap_err(),
            Sense::invalid_opcode()
        );
        assert_eq!(
            Cdb::parse(&[0xC0; 16]).unwrap_err(),
            Sense::invalid_opcode()
        );
        assert_eq!(Cdb::parse(&[]).unwrap_err(), Sense::invalid_opcode());
        assert_eq!(
            Cdb::parse(&[0x28, 0, 0]).unwrap_err(),
            Sense::invalid_field_in_cdb(3, None)
        );
    }

    #[test]
    fn fields_are_big_endian() {
        let c = Cdb::parse(&[0x88, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0xA, 0xB, 0xC, 0xD, 0, 0]).unwrap();
        assert_eq!(c.be64(2), 0x0102030405060708);
        assert_eq!(c.be32(10), 0x0A0B0C0D);
        assert_eq!(c.be16(12), 0x0C0D);
        assert!(c.bit(3, 1) && !c.bit(3, 0));
        assert_eq!(c.u8(99), 0, "past the end reads as zero");
    }
}
