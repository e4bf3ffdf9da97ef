//! Reading a request block from its bytes, and writing its outcome back.
//!
//! Storport hands a miniport either a `SCSI_REQUEST_BLOCK` or, when the miniport declares
//! `SRB_TYPE_FLAG_STORAGE_REQUEST_BLOCK`, a `STORAGE_REQUEST_BLOCK`, whose address and CDB live in
//! blocks found through offsets inside it. Both arrive as memory the kernel glue turns into a byte
//! slice; everything here reads that slice with bounds checks, using the layouts of xenpv-ddk
//! (`offset_of!` on its structures, so the offsets have one source). A malformed block is a typed
//! [`SrbError`] (the request then fails with SRB_STATUS_INVALID_REQUEST), never a panic or a read
//! outside the block.

use core::fmt;
use core::mem::{offset_of, size_of};

use xenpv_datapath::scsi::{Sense, STATUS_CHECK_CONDITION, STATUS_GOOD};
use xenpv_ddk::storport::config::STORAGE_ADDRESS_TYPE_BTL8;
use xenpv_ddk::storport::srb::*;

/// Largest CDB carried (`SRBEX_DATA_SCSI_CDB32`).
pub const MAX_CDB: usize = 32;

/// Which block format the request came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrbFormat {
    Scsi,
    Storage,
}

/// Bus / target / LUN of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Address {
    pub path: u8,
    pub target: u8,
    pub lun: u8,
}

/// The data direction the SRB flags give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    None,
    In,
    Out,
    /// Both flags: the initiator did not say. Treated like none (no transfer).
    Unspecified,
}

/// What a request block says, read once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrbInfo {
    pub format: SrbFormat,
    /// `SRB_FUNCTION_*` (for an extended block, its `SrbFunction`).
    pub function: u32,
    pub flags: u32,
    pub data_transfer_length: u32,
    /// `DataBuffer` as an address (a system address when storport maps buffers).
    pub data_buffer: u64,
    pub address: Address,
    /// The SRB extension storport allocated for the miniport (`SrbExtension`, or for an
    /// extended block `MiniportContext`), as an address.
    pub srb_extension: u64,
    cdb: [u8; MAX_CDB],
    cdb_len: u8,
    /// `SenseInfoBuffer` as an address, and its length.
    pub sense_buffer: u64,
    pub sense_len: u8,
    /// Where the SCSI status and sense length bytes are in the block (absent: no CDB block).
    scsi_status_at: Option<usize>,
    sense_len_at: Option<usize>,
    transfer_length_at: usize,
}

/// A request block that cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrbError {
    /// Fewer bytes than the fixed part of the format.
    TooShort {
        have: usize,
        need: usize,
    },
    /// An extended block without the "SRBX" signature or with another version.
    Signature(u32),
    Version(u32),
    /// `SrbLength` is below the fixed part or beyond the memory given.
    Length(u32),
    /// The address lies outside the block, or is not a BTL8 address.
    AddressOffset(u32),
    AddressType(u16),
    /// An `SRBEX_DATA` block lies outside the block.
    ExDataOffset {
        index: u32,
        offset: u32,
    },
    /// A CDB longer than its block carries.
    CdbLength(u8),
}

impl fmt::Display for SrbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SrbError::TooShort { have, need } => write!(f, "{have} bytes, need {need}"),
            SrbError::Signature(s) => write!(f, "signature {s:#x} is not SRBX"),
            SrbError::Version(v) => write!(f, "version {v} unknown"),
            SrbError::Length(l) => write!(f, "SrbLength {l} out of bounds"),
            SrbError::AddressOffset(o) => write!(f, "address offset {o} out of bounds"),
            SrbError::AddressType(t) => write!(f, "address type {t} is not BTL8"),
            SrbError::ExDataOffset { index, offset } => {
                write!(f, "SRBEX_DATA {index} at {offset} out of bounds")
            }
            SrbError::CdbLength(l) => write!(f, "CDB length {l} too long"),
        }
    }
}

fn u8_at(b: &[u8], at: usize) -> Result<u8, SrbError> {
    b.get(at).copied().ok_or(SrbError::TooShort {
        have: b.len(),
        need: at + 1,
    })
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, SrbError> {
    Ok(u16::from_le_bytes(array(b, at)?))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, SrbError> {
    Ok(u32::from_le_bytes(array(b, at)?))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, SrbError> {
    Ok(u64::from_le_bytes(array(b, at)?))
}

fn array<const N: usize>(b: &[u8], at: usize) -> Result<[u8; N], SrbError> {
    let too_short = SrbError::TooShort {
        have: b.len(),
        need: at.saturating_add(N),
    };
    let s = b.get(at..at.checked_add(N).ok_or(too_short)?);
    Ok(s.ok_or(too_short)?.try_into().expect("N bytes"))
}

/// Largest extended block accepted (storport's are a few hundred bytes).
pub const MAX_SRB_LENGTH: usize = 4096;

/// How many bytes the request block starting with `head` spans: the fixed size of a
/// `SCSI_REQUEST_BLOCK`, or an extended block's `SrbLength` (at most [`MAX_SRB_LENGTH`]). `head`
/// must hold the first 0x14 bytes (enough for either); the kernel glue reads that much, then the
/// whole block.
pub fn srb_len(head: &[u8]) -> Result<usize, SrbError> {
    let function = u8_at(head, offset_of!(ScsiRequestBlock, function))?;
    if function != SRB_FUNCTION_STORAGE_REQUEST_BLOCK {
        return Ok(size_of::<ScsiRequestBlock>());
    }
    let len = u32_at(head, offset_of!(StorageRequestBlock, srb_length))?;
    if len as usize > MAX_SRB_LENGTH
        || (len as usize) < offset_of!(StorageRequestBlock, srb_ex_data_offset)
    {
        return Err(SrbError::Length(len));
    }
    Ok(len as usize)
}

/// Bytes [`srb_len`] needs to see.
pub const SRB_HEAD: usize = offset_of!(StorageRequestBlock, srb_length) + 4;

impl SrbInfo {
    /// Reads the request block in `bytes` (the block's memory; for an extended block at least
    /// its `SrbLength`).
    pub fn parse(bytes: &[u8]) -> Result<Self, SrbError> {
        let function = u8_at(bytes, offset_of!(ScsiRequestBlock, function))?;
        if function == SRB_FUNCTION_STORAGE_REQUEST_BLOCK {
            Self::parse_storage(bytes)
        } else {
            Self::parse_scsi(bytes)
        }
    }

    fn parse_scsi(b: &[u8]) -> Result<Self, SrbError> {
        type S = ScsiRequestBlock;
        if b.len() < size_of::<S>() {
            return Err(SrbError::TooShort {
                have: b.len(),
                need: size_of::<S>(),
            });
        }
        // Only EXECUTE_SCSI has the CDB, SCSI status and sense fields; the other functions'
        // blocks (power, PnP, WMI) share the header, flags, transfer and extension fields but
        // put other things there, which must be neither read as a CDB nor overwritten.
        let execute = u32::from(b[offset_of!(S, function)]) == SRB_FUNCTION_EXECUTE_SCSI;
        let cdb_len = if execute {
            b[offset_of!(S, cdb_length)]
        } else {
            0
        };
        if cdb_len as usize > 16 {
            return Err(SrbError::CdbLength(cdb_len));
        }
        let mut cdb = [0u8; MAX_CDB];
        let at = offset_of!(S, cdb);
        cdb[..cdb_len as usize].copy_from_slice(&b[at..at + cdb_len as usize]);
        let (sense_buffer, sense_len, scsi_status_at, sense_len_at) = if execute {
            (
                u64_at(b, offset_of!(S, sense_info_buffer))?,
                b[offset_of!(S, sense_info_buffer_length)],
                Some(offset_of!(S, scsi_status)),
                Some(offset_of!(S, sense_info_buffer_length)),
            )
        } else {
            (0, 0, None, None)
        };
        Ok(Self {
            format: SrbFormat::Scsi,
            function: u32::from(b[offset_of!(S, function)]),
            flags: u32_at(b, offset_of!(S, srb_flags))?,
            data_transfer_length: u32_at(b, offset_of!(S, data_transfer_length))?,
            data_buffer: u64_at(b, offset_of!(S, data_buffer))?,
            address: Address {
                path: b[offset_of!(S, path_id)],
                target: b[offset_of!(S, target_id)],
                lun: b[offset_of!(S, lun)],
            },
            srb_extension: u64_at(b, offset_of!(S, srb_extension))?,
            cdb,
            cdb_len,
            sense_buffer,
            sense_len,
            scsi_status_at,
            sense_len_at,
            transfer_length_at: offset_of!(S, data_transfer_length),
        })
    }

    fn parse_storage(b: &[u8]) -> Result<Self, SrbError> {
        type S = StorageRequestBlock;
        // The fixed part without the first SRBEX offset, which exists only if counted.
        let fixed = offset_of!(S, srb_ex_data_offset);
        if b.len() < fixed {
            return Err(SrbError::TooShort {
                have: b.len(),
                need: fixed,
            });
        }
        let signature = u32_at(b, offset_of!(S, signature))?;
        if signature != SRB_SIGNATURE {
            return Err(SrbError::Signature(signature));
        }
        let version = u32_at(b, offset_of!(S, version))?;
        if version != STORAGE_REQUEST_BLOCK_VERSION_1 {
            return Err(SrbError::Version(version));
        }
        let srb_length = u32_at(b, offset_of!(S, srb_length))?;
        if (srb_length as usize) < fixed || srb_length as usize > b.len() {
            return Err(SrbError::Length(srb_length));
        }
        // From here on only the block's own bytes count.
        let b = &b[..srb_length as usize];
        let address = Self::address(b, u32_at(b, offset_of!(S, address_offset))?)?;
        let mut info = Self {
            format: SrbFormat::Storage,
            function: u32_at(b, offset_of!(S, srb_function))?,
            flags: u32_at(b, offset_of!(S, srb_flags))?,
            data_transfer_length: u32_at(b, offset_of!(S, data_transfer_length))?,
            data_buffer: u64_at(b, offset_of!(S, data_buffer))?,
            address,
            srb_extension: u64_at(b, offset_of!(S, miniport_context))?,
            cdb: [0; MAX_CDB],
            cdb_len: 0,
            sense_buffer: 0,
            sense_len: 0,
            scsi_status_at: None,
            sense_len_at: None,
            transfer_length_at: offset_of!(S, data_transfer_length),
        };
        let count = u32_at(b, offset_of!(S, num_srb_ex_data))?;
        for index in 0..count {
            let at = (index as usize)
                .checked_mul(4)
                .and_then(|o| o.checked_add(fixed))
                .ok_or(SrbError::ExDataOffset { index, offset: 0 })?;
            let offset = u32_at(b, at).map_err(|_| SrbError::ExDataOffset { index, offset: 0 })?;
            let bad = SrbError::ExDataOffset { index, offset };
            let o = offset as usize;
            let type_ = u32_at(b, o).map_err(|_| bad)?;
            let (cdb_max, cdb_at) = match type_ {
                SRB_EX_DATA_TYPE_SCSI_CDB16 => (16, offset_of!(SrbExDataScsiCdb16, cdb)),
                SRB_EX_DATA_TYPE_SCSI_CDB32 => (32, offset_of!(SrbExDataScsiCdb32, cdb)),
                // Other blocks (I/O info, power, PnP, WMI) carry nothing this miniport uses.
                _ => continue,
            };
            if b.len() < o.saturating_add(cdb_at + cdb_max) {
                return Err(bad);
            }
            type C = SrbExDataScsiCdb16;
            let cdb_len = b[o + offset_of!(C, cdb_length)];
            if cdb_len as usize > cdb_max {
                return Err(SrbError::CdbLength(cdb_len));
            }
            info.cdb[..cdb_len as usize]
                .copy_from_slice(&b[o + cdb_at..o + cdb_at + cdb_len as usize]);
            info.cdb_len = cdb_len;
            info.sense_buffer = u64_at(b, o + offset_of!(C, sense_info_buffer))?;
            info.sense_len = b[o + offset_of!(C, sense_info_buffer_length)];
            info.scsi_status_at = Some(o + offset_of!(C, scsi_status));
            info.sense_len_at = Some(o + offset_of!(C, sense_info_buffer_length));
        }
        Ok(info)
    }

    fn address(b: &[u8], offset: u32) -> Result<Address, SrbError> {
        let o = offset as usize;
        if b.len() < o.saturating_add(size_of::<StorAddrBtl8>()) {
            return Err(SrbError::AddressOffset(offset));
        }
        let type_ = u16_at(b, o + offset_of!(StorAddrBtl8, type_))?;
        if type_ != STORAGE_ADDRESS_TYPE_BTL8 {
            return Err(SrbError::AddressType(type_));
        }
        Ok(Address {
            path: b[o + offset_of!(StorAddrBtl8, path)],
            target: b[o + offset_of!(StorAddrBtl8, target)],
            lun: b[o + offset_of!(StorAddrBtl8, lun)],
        })
    }

    /// The CDB (`CdbLength` bytes).
    pub fn cdb(&self) -> &[u8] {
        &self.cdb[..self.cdb_len as usize]
    }

    pub fn direction(&self) -> Direction {
        match (
            self.flags & SRB_FLAGS_DATA_IN != 0,
            self.flags & SRB_FLAGS_DATA_OUT != 0,
        ) {
            (false, false) => Direction::None,
            (true, false) => Direction::In,
            (false, true) => Direction::Out,
            (true, true) => Direction::Unspecified,
        }
    }

    /// Whether sense data may be returned with the status (autosense not disabled, a buffer
    /// given, and a place for the SCSI status).
    pub fn autosense(&self) -> bool {
        self.flags & SRB_FLAGS_DISABLE_AUTOSENSE == 0
            && self.sense_buffer != 0
            && self.sense_len > 0
            && self.scsi_status_at.is_some()
    }
}

/// How a request ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `SRB_STATUS_*`, without AUTOSENSE_VALID (added when sense is written).
    pub srb_status: u8,
    pub scsi_status: u8,
    /// Bytes transferred (the SRB's `DataTransferLength` on return).
    pub data_len: u32,
    /// CHECK CONDITION's sense.
    pub sense: Option<Sense>,
}

impl Outcome {
    /// Status GOOD with `data_len` bytes moved.
    pub fn good(data_len: u32) -> Self {
        Self {
            srb_status: SRB_STATUS_SUCCESS,
            scsi_status: STATUS_GOOD,
            data_len,
            sense: None,
        }
    }

    /// CHECK CONDITION with `sense`, nothing moved.
    pub fn check(sense: Sense) -> Self {
        Self {
            srb_status: SRB_STATUS_ERROR,
            scsi_status: STATUS_CHECK_CONDITION,
            data_len: 0,
            sense: Some(sense),
        }
    }

    /// A port-level status without a SCSI status (bad function, no device, busy, ...).
    pub fn port(srb_status: u8) -> Self {
        Self {
            srb_status,
            scsi_status: STATUS_GOOD,
            data_len: 0,
            sense: None,
        }
    }

    /// Writes the outcome into the request block `srb` (as read into `info`) and the sense data
    /// into `sense_buffer` (the SRB's sense buffer, `info.sense_len` bytes, or empty). Returns the
    /// SRB status written, AUTOSENSE_VALID included when sense was returned.
    pub fn write(&self, info: &SrbInfo, srb: &mut [u8], sense_buffer: &mut [u8]) -> u8 {
        let mut status = self.srb_status;
        let mut put = |at: usize, bytes: &[u8]| {
            if let Some(dst) = srb.get_mut(at..at + bytes.len()) {
                dst.copy_from_slice(bytes);
            }
        };
        put(info.transfer_length_at, &self.data_len.to_le_bytes());
        if let Some(at) = info.scsi_status_at {
            put(at, &[self.scsi_status]);
        }
        if let (Some(sense), true) = (self.sense, info.autosense()) {
            let limit = sense_buffer.len().min(info.sense_len as usize);
            let n = sense.write_fixed(&mut sense_buffer[..limit]);
            if let Some(at) = info.sense_len_at {
                put(at, &[n as u8]);
            }
            if n > 0 {
                status |= SRB_STATUS_AUTOSENSE_VALID;
            }
        }
        put(offset_of!(ScsiRequestBlock, srb_status), &[status]);
        status
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn put(b: &mut [u8], at: usize, v: &[u8]) {
        b[at..at + v.len()].copy_from_slice(v);
    }

    /// A SCSI_REQUEST_BLOCK image.
    pub(crate) fn scsi_srb(cdb: &[u8], flags: u32, len: u32, sense_len: u8) -> Vec<u8> {
        type S = ScsiRequestBlock;
        let mut b = vec![0u8; size_of::<S>()];
        put(
            &mut b,
            offset_of!(S, length),
            &(size_of::<S>() as u16).to_le_bytes(),
        );
        b[offset_of!(S, function)] = SRB_FUNCTION_EXECUTE_SCSI as u8;
        b[offset_of!(S, target_id)] = 0;
        b[offset_of!(S, cdb_length)] = cdb.len() as u8;
        b[offset_of!(S, sense_info_buffer_length)] = sense_len;
        put(&mut b, offset_of!(S, srb_flags), &flags.to_le_bytes());
        put(
            &mut b,
            offset_of!(S, data_transfer_length),
            &len.to_le_bytes(),
        );
        put(&mut b, offset_of!(S, data_buffer), &0x1000u64.to_le_bytes());
        put(
            &mut b,
            offset_of!(S, sense_info_buffer),
            &0x2000u64.to_le_bytes(),
        );
        put(&mut b, offset_of!(S, cdb), cdb);
        b
    }

    /// A STORAGE_REQUEST_BLOCK image: header, BTL8 address, one CDB16 block.
    pub(crate) fn storage_srb(cdb: &[u8], flags: u32, len: u32, lun: u8) -> Vec<u8> {
        type S = StorageRequestBlock;
        let address_at = size_of::<S>();
        let cdb_at = address_at + size_of::<StorAddrBtl8>();
        let total = cdb_at + size_of::<SrbExDataScsiCdb16>();
        let mut b = vec![0u8; total];
        b[offset_of!(S, function)] = SRB_FUNCTION_STORAGE_REQUEST_BLOCK;
        put(
            &mut b,
            offset_of!(S, signature),
            &SRB_SIGNATURE.to_le_bytes(),
        );
        put(&mut b, offset_of!(S, version), &1u32.to_le_bytes());
        put(
            &mut b,
            offset_of!(S, srb_length),
            &(total as u32).to_le_bytes(),
        );
        put(
            &mut b,
            offset_of!(S, srb_function),
            &SRB_FUNCTION_EXECUTE_SCSI.to_le_bytes(),
        );
        put(&mut b, offset_of!(S, srb_flags), &flags.to_le_bytes());
        put(
            &mut b,
            offset_of!(S, address_offset),
            &(address_at as u32).to_le_bytes(),
        );
        put(&mut b, offset_of!(S, num_srb_ex_data), &1u32.to_le_bytes());
        put(
            &mut b,
            offset_of!(S, data_transfer_length),
            &len.to_le_bytes(),
        );
        put(&mut b, offset_of!(S, data_buffer), &0x1000u64.to_le_bytes());
        put(
            &mut b,
            offset_of!(S, srb_ex_data_offset),
            &(cdb_at as u32).to_le_bytes(),
        );
        b[address_at + offset_of!(StorAddrBtl8, lun)] = lun;
        put(
            &mut b,
            address_at + offset_of!(StorAddrBtl8, address_length),
            &4u32.to_le_bytes(),
        );
        type C = SrbExDataScsiCdb16;
        put(&mut b, cdb_at, &SRB_EX_DATA_TYPE_SCSI_CDB16.to_le_bytes());
        put(
            &mut b,
            cdb_at + offset_of!(C, length),
            &0x20u32.to_le_bytes(),
        );
        b[cdb_at + offset_of!(C, cdb_length)] = cdb.len() as u8;
        b[cdb_at + offset_of!(C, sense_info_buffer_length)] = 32;
        put(
            &mut b,
            cdb_at + offset_of!(C, sense_info_buffer),
            &0x3000u64.to_le_bytes(),
        );
        put(&mut b, cdb_at + offset_of!(C, cdb), cdb);
        b
    }

    const READ10: [u8; 10] = [0x28, 0, 0, 0, 0, 8, 0, 0, 2, 0];

    #[test]
    fn a_scsi_request_block_is_read_field_by_field() {
        let b = scsi_srb(&READ10, SRB_FLAGS_DATA_IN, 1024, 18);
        let info = SrbInfo::parse(&b).unwrap();
        assert_eq!(info.format, SrbFormat::Scsi);
        assert_eq!(info.function, SRB_FUNCTION_EXECUTE_SCSI);
        assert_eq!(info.cdb(), READ10);
        assert_eq!(info.direction(), Direction::In);
        assert_eq!(info.data_transfer_length, 1024);
        assert_eq!(info.data_buffer, 0x1000);
        assert_eq!((info.sense_buffer, info.sense_len), (0x2000, 18));
        assert!(info.autosense());
    }

    #[test]
    fn a_storage_request_block_is_read_through_its_offsets() {
        let b = storage_srb(&READ10, SRB_FLAGS_DATA_OUT, 4096, 3);
        let info = SrbInfo::parse(&b).unwrap();
        assert_eq!(info.format, SrbFormat::Storage);
        assert_eq!(info.function, SRB_FUNCTION_EXECUTE_SCSI);
        assert_eq!(info.cdb(), READ10);
        assert_eq!(info.direction(), Direction::Out);
        assert_eq!(info.address.lun, 3);
        assert_eq!((info.sense_buffer, info.sense_len), (0x3000, 32));
        assert_eq!(info.data_transfer_length, 4096);
    }

    #[test]
    fn other_functions_in_the_classic_format_keep_their_own_fields() {
        // A SCSI_POWER_REQUEST_BLOCK: SrbPowerFlags where EXECUTE_SCSI has ScsiStatus, the
        // device power state where it has CdbLength.
        let mut b = scsi_srb(&[], 0, 0, 0);
        b[offset_of!(ScsiRequestBlock, function)] = SRB_FUNCTION_POWER as u8;
        b[offset_of!(ScsiRequestBlock, scsi_status)] = 0x5a;
        put(&mut b, 8, &4u32.to_le_bytes());
        b[offset_of!(ScsiRequestBlock, cdb_length)] = 0xee;
        let info = SrbInfo::parse(&b).unwrap();
        assert_eq!(info.function, SRB_FUNCTION_POWER);
        assert!(info.cdb().is_empty());
        assert!(!info.autosense());
        let status = Outcome::port(SRB_STATUS_SUCCESS).write(&info, &mut b, &mut []);
        assert_eq!(status, SRB_STATUS_SUCCESS);
        assert_eq!(
            b[offset_of!(ScsiRequestBlock, srb_status)],
            SRB_STATUS_SUCCESS
        );
        assert_eq!(
            b[offset_of!(ScsiRequestBlock, scsi_status)],
            0x5a,
            "power flags kept"
        );
        assert_eq!(
            b[offset_of!(ScsiRequestBlock, cdb_length)],
            0xee,
            "power state kept"
        );
    }

    #[test]
    fn the_length_of_either_block_comes_from_its_head() {
        let scsi = scsi_srb(&READ10, 0, 0, 0);
        assert_eq!(
            srb_len(&scsi[..SRB_HEAD]),
            Ok(size_of::<ScsiRequestBlock>())
        );
        let ext = storage_srb(&READ10, 0, 0, 0);
        assert_eq!(srb_len(&ext[..SRB_HEAD]), Ok(ext.len()));
        let mut big = ext.clone();
        put(
            &mut big,
            offset_of!(StorageRequestBlock, srb_length),
            &5000u32.to_le_bytes(),
        );
        assert_eq!(srb_len(&big[..SRB_HEAD]), Err(SrbError::Length(5000)));
        assert!(srb_len(&ext[..SRB_HEAD - 1]).is_err());
        // The extension address is read from the field each format keeps it in.
        let mut b = ext;
        put(
            &mut b,
            offset_of!(StorageRequestBlock, miniport_context),
            &0x4000u64.to_le_bytes(),
        );
        assert_eq!(SrbInfo::parse(&b).unwrap().srb_extension, 0x4000);
        let mut b = scsi;
        put(
            &mut b,
            offset_of!(ScsiRequestBlock, srb_extension),
            &0x5000u64.to_le_bytes(),
        );
        assert_eq!(SrbInfo::parse(&b).unwrap().srb_extension, 0x5000);
    }

    #[test]
    fn malformed_blocks_are_typed_errors() {
        type S = StorageRequestBlock;
        let good = storage_srb(&READ10, 0, 0, 0);
        let with = |at: usize, v: u32| {
            let mut b = good.clone();
            put(&mut b, at, &v.to_le_bytes());
            SrbInfo::parse(&b).unwrap_err()
        };
        assert_eq!(
            with(offset_of!(S, signature), 0x1234),
            SrbError::Signature(0x1234)
        );
        assert_eq!(with(offset_of!(S, version), 2), SrbError::Version(2));
        assert_eq!(
            with(offset_of!(S, srb_length), 10_000),
            SrbError::Length(10_000)
        );
        assert_eq!(with(offset_of!(S, srb_length), 8), SrbError::Length(8));
        assert_eq!(
            with(offset_of!(S, address_offset), 0xFFFF_FFF8),
            SrbError::AddressOffset(0xFFFF_FFF8)
        );
        assert_eq!(
            with(offset_of!(S, srb_ex_data_offset), 0xFFFF_FFF0),
            SrbError::ExDataOffset {
                index: 0,
                offset: 0xFFFF_FFF0
            }
        );
        // More SRBEX blocks counted than offsets present.
        assert!(matches!(
            with(offset_of!(S, num_srb_ex_data), u32::MAX),
            SrbError::ExDataOffset { .. }
        ));
        let mut b = good.clone();
        let cdb_at = size_of::<S>() + size_of::<StorAddrBtl8>();
        b[cdb_at + offset_of!(SrbExDataScsiCdb16, cdb_length)] = 17;
        assert_eq!(SrbInfo::parse(&b).unwrap_err(), SrbError::CdbLength(17));
        let mut b = good.clone();
        b[size_of::<S>()] = 1;
        assert_eq!(SrbInfo::parse(&b).unwrap_err(), SrbError::AddressType(1));
        // Truncated memory, at every length: an error, never a panic.
        for n in 0..good.len() {
            assert!(SrbInfo::parse(&good[..n]).is_err(), "{n} bytes");
        }
        let scsi = scsi_srb(&READ10, 0, 0, 0);
        for n in 0..scsi.len() {
            assert!(SrbInfo::parse(&scsi[..n]).is_err(), "{n} bytes");
        }
        let mut scsi = scsi;
        scsi[offset_of!(ScsiRequestBlock, cdb_length)] = 20;
        assert_eq!(SrbInfo::parse(&scsi).unwrap_err(), SrbError::CdbLength(20));
    }

    #[test]
    fn the_outcome_lands_in_either_format_with_sense() {
        let sense = Sense::lba_out_of_range();
        for mut b in [
            scsi_srb(&READ10, SRB_FLAGS_DATA_IN, 1024, 18),
            storage_srb(&READ10, SRB_FLAGS_DATA_IN, 1024, 0),
        ] {
            let info = SrbInfo::parse(&b).unwrap();
            let mut sense_buf = [0u8; 32];
            let status = Outcome::check(sense).write(&info, &mut b, &mut sense_buf);
            assert_eq!(status, SRB_STATUS_ERROR | SRB_STATUS_AUTOSENSE_VALID);
            let back = SrbInfo::parse(&b).unwrap();
            assert_eq!(back.data_transfer_length, 0);
            assert_eq!(back.sense_len, 18);
            assert_eq!(b[offset_of!(ScsiRequestBlock, srb_status)], status);
            assert_eq!(b[info.scsi_status_at.unwrap()], STATUS_CHECK_CONDITION);
            assert_eq!(sense_buf[..18], sense.to_fixed());
            // GOOD: the transfer length is what moved.
            let status = Outcome::good(512).write(&info, &mut b, &mut sense_buf);
            assert_eq!(status, SRB_STATUS_SUCCESS);
            assert_eq!(SrbInfo::parse(&b).unwrap().data_transfer_length, 512);
        }
    }

    #[test]
    fn without_autosense_no_sense_is_written() {
        let mut b = scsi_srb(
            &READ10,
            SRB_FLAGS_DATA_IN | SRB_FLAGS_DISABLE_AUTOSENSE,
            0,
            18,
        );
        let info = SrbInfo::parse(&b).unwrap();
        let mut sense_buf = [0u8; 18];
        let status = Outcome::check(Sense::not_ready()).write(&info, &mut b, &mut sense_buf);
        assert_eq!(status, SRB_STATUS_ERROR);
        assert_eq!(sense_buf, [0; 18]);
    }
}
