//! SCSI status and fixed-format sense data (SPC-4 4.5.3): what a command that fails reports, and
//! why. Only the fixed format is produced: it is what STORPORT's autosense buffer and Windows'
//! class drivers read, and what every initiator accepts.

/// SAM status GOOD.
pub const STATUS_GOOD: u8 = 0x00;
/// SAM status CHECK CONDITION: the sense data says why.
pub const STATUS_CHECK_CONDITION: u8 = 0x02;

/// Bytes of fixed-format sense data with the additional length this module uses (10).
pub const FIXED_SENSE_LEN: usize = 18;

/// Response code of current-error fixed-format sense data.
const RESPONSE_CURRENT_FIXED: u8 = 0x70;

/// The sense keys this module reports (SPC-4 table 27).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SenseKey {
    NoSense = 0x0,
    NotReady = 0x2,
    MediumError = 0x3,
    IllegalRequest = 0x5,
    UnitAttention = 0x6,
    DataProtect = 0x7,
    AbortedCommand = 0xB,
}

/// Where in the CDB or the parameter list the offending field is (the SENSE KEY SPECIFIC field of
/// ILLEGAL REQUEST sense, SPC-4 4.5.2.4.2). Windows logs it; initiators use it to tell which
/// option a device lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldPointer {
    /// The field is in the CDB (C/D = 1), else in the parameter list sent as data-out.
    pub in_cdb: bool,
    /// Byte offset of the field.
    pub byte: u16,
    /// Most significant bit of the field inside that byte, when it does not start at bit 7 or
    /// the whole byte is not meant.
    pub bit: Option<u8>,
}

/// Why a command ended in CHECK CONDITION.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sense {
    pub key: SenseKey,
    /// ADDITIONAL SENSE CODE.
    pub asc: u8,
    /// ADDITIONAL SENSE CODE QUALIFIER.
    pub ascq: u8,
    /// Only for ILLEGAL REQUEST that names a field.
    pub field: Option<FieldPointer>,
}

impl Sense {
    const fn new(key: SenseKey, asc: u8, ascq: u8) -> Self {
        Self {
            key,
            asc,
            ascq,
            field: None,
        }
    }

    const fn pointing(key: SenseKey, asc: u8, ascq: u8, field: FieldPointer) -> Self {
        Self {
            key,
            asc,
            ascq,
            field: Some(field),
        }
    }

    /// ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE (20h/00h).
    pub const fn invalid_opcode() -> Self {
        Self::pointing(
            SenseKey::IllegalRequest,
            0x20,
            0x00,
            FieldPointer {
                in_cdb: true,
                byte: 0,
                bit: None,
            },
        )
    }

    /// ILLEGAL REQUEST, INVALID FIELD IN CDB (24h/00h) pointing at `byte` (and `bit`).
    pub const fn invalid_field_in_cdb(byte: u16, bit: Option<u8>) -> Self {
        Self::pointing(
            SenseKey::IllegalRequest,
            0x24,
            0x00,
            FieldPointer {
                in_cdb: true,
                byte,
                bit,
            },
        )
    }

    /// ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST (26h/00h).
    pub const fn invalid_field_in_parameter_list(byte: u16, bit: Option<u8>) -> Self {
        Self::pointing(
            SenseKey::IllegalRequest,
            0x26,
            0x00,
            FieldPointer {
                in_cdb: false,
                byte,
                bit,
            },
        )
    }

    /// ILLEGAL REQUEST, PARAMETER LIST LENGTH ERROR (1Ah/00h).
    pub const fn parameter_list_length_error() -> Self {
        Self::new(SenseKey::IllegalRequest, 0x1A, 0x00)
    }

    /// ILLEGAL REQUEST, LOGICAL BLOCK ADDRESS OUT OF RANGE (21h/00h).
    pub const fn lba_out_of_range() -> Self {
        Self::new(SenseKey::IllegalRequest, 0x21, 0x00)
    }

    /// ILLEGAL REQUEST, SAVING PARAMETERS NOT SUPPORTED (39h/00h): MODE SENSE asked for saved
    /// values, and nothing is ever saved.
    pub const fn saving_parameters_not_supported(byte: u16, bit: Option<u8>) -> Self {
        Self::pointing(
            SenseKey::IllegalRequest,
            0x39,
            0x00,
            FieldPointer {
                in_cdb: true,
                byte,
                bit,
            },
        )
    }

    /// UNIT ATTENTION, CAPACITY DATA HAS CHANGED (2Ah/09h).
    pub const fn capacity_data_changed() -> Self {
        Self::new(SenseKey::UnitAttention, 0x2A, 0x09)
    }

    /// DATA PROTECT, WRITE PROTECTED (27h/00h).
    pub const fn write_protected() -> Self {
        Self::new(SenseKey::DataProtect, 0x27, 0x00)
    }

    /// NOT READY, MEDIUM NOT PRESENT (3Ah/00h): the backend reports no sectors (an empty CD drive).
    pub const fn medium_not_present() -> Self {
        Self::new(SenseKey::NotReady, 0x3A, 0x00)
    }

    /// NOT READY, LOGICAL UNIT NOT READY, CAUSE NOT REPORTABLE (04h/00h).
    pub const fn not_ready() -> Self {
        Self::new(SenseKey::NotReady, 0x04, 0x00)
    }

    /// MEDIUM ERROR, UNRECOVERED READ ERROR (11h/00h).
    pub const fn unrecovered_read_error() -> Self {
        Self::new(SenseKey::MediumError, 0x11, 0x00)
    }

    /// MEDIUM ERROR, WRITE ERROR (0Ch/00h).
    pub const fn write_error() -> Self {
        Self::new(SenseKey::MediumError, 0x0C, 0x00)
    }

    /// ABORTED COMMAND, INSUFFICIENT RESOURCES (55h/03h): the initiator retries.
    pub const fn insufficient_resources() -> Self {
        Self::new(SenseKey::AbortedCommand, 0x55, 0x03)
    }

    /// NO SENSE, NO ADDITIONAL SENSE INFORMATION: what REQUEST SENSE returns when nothing is
    /// pending.
    pub const fn none() -> Self {
        Self::new(SenseKey::NoSense, 0x00, 0x00)
    }

    /// The 18 bytes of fixed-format sense data (SPC-4 table 48).
    pub fn to_fixed(&self) -> [u8; FIXED_SENSE_LEN] {
        let mut s = [0u8; FIXED_SENSE_LEN];
        s[0] = RESPONSE_CURRENT_FIXED;
        s[2] = self.key as u8;
        s[7] = (FIXED_SENSE_LEN - 8) as u8;
        s[12] = self.asc;
        s[13] = self.ascq;
        if let Some(f) = self.field {
            // SKSV | C/D | BPV | BIT POINTER, then the FIELD POINTER.
            let mut b = 0x80;
            if f.in_cdb {
                b |= 0x40;
            }
            if let Some(bit) = f.bit {
                b |= 0x08 | (bit & 0x07);
            }
            s[15] = b;
            s[16..18].copy_from_slice(&f.byte.to_be_bytes());
        }
        s
    }

    /// Writes the fixed-format sense data into `buf` (an SRB's sense buffer), truncated to its
    /// length; returns the bytes written.
    pub fn write_fixed(&self, buf: &mut [u8]) -> usize {
        let s = self.to_fixed();
        let n = s.len().min(buf.len());
        buf[..n].copy_from_slice(&s[..n]);
        n
    }
}
