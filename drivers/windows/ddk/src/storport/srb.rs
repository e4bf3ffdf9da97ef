//! The request blocks a storport miniport receives: `SCSI_REQUEST_BLOCK` (srb.h) and, when the
//! miniport asks for it with `SRB_TYPE_FLAG_STORAGE_REQUEST_BLOCK`, the extended
//! `STORAGE_REQUEST_BLOCK` whose CDB, SCSI status and sense buffer live in an
//! `SRBEX_DATA_SCSI_CDB16` (or `_CDB32`) block and whose address is a `STOR_ADDR_BTL8`.

use core::ffi::c_void;
use core::mem::{align_of, offset_of, size_of};

/// `SCSI_REQUEST_BLOCK`.
#[repr(C)]
pub struct ScsiRequestBlock {
    pub length: u16,
    pub function: u8,
    pub srb_status: u8,
    pub scsi_status: u8,
    pub path_id: u8,
    pub target_id: u8,
    pub lun: u8,
    pub queue_tag: u8,
    pub queue_action: u8,
    pub cdb_length: u8,
    pub sense_info_buffer_length: u8,
    pub srb_flags: u32,
    pub data_transfer_length: u32,
    pub time_out_value: u32,
    pub data_buffer: *mut c_void,
    pub sense_info_buffer: *mut c_void,
    pub next_srb: *mut ScsiRequestBlock,
    pub original_request: *mut c_void,
    pub srb_extension: *mut c_void,
    pub internal_status: u32,
    pub reserved: u32,
    pub cdb: [u8; 16],
}

const _: () = assert!(size_of::<ScsiRequestBlock>() == 0x58);
const _: () = assert!(offset_of!(ScsiRequestBlock, cdb_length) == 0x0a);
const _: () = assert!(offset_of!(ScsiRequestBlock, srb_flags) == 0x0c);
const _: () = assert!(offset_of!(ScsiRequestBlock, data_transfer_length) == 0x10);
const _: () = assert!(offset_of!(ScsiRequestBlock, data_buffer) == 0x18);
const _: () = assert!(offset_of!(ScsiRequestBlock, sense_info_buffer) == 0x20);
const _: () = assert!(offset_of!(ScsiRequestBlock, srb_extension) == 0x38);
const _: () = assert!(offset_of!(ScsiRequestBlock, cdb) == 0x48);

/// `STORAGE_REQUEST_BLOCK` (`SRB_ALIGN`, pointers `POINTER_ALIGN`ed: 8 on x64). It is
/// `srb_length` bytes long: the address and the `SRBEX_DATA` blocks follow at the offsets it
/// gives, relative to its start.
#[repr(C, align(8))]
pub struct StorageRequestBlock {
    pub length: u16,
    /// Always [`SRB_FUNCTION_STORAGE_REQUEST_BLOCK`]; the real function is `srb_function`.
    pub function: u8,
    pub srb_status: u8,
    pub reserved_ulong1: u32,
    /// [`SRB_SIGNATURE`].
    pub signature: u32,
    /// [`STORAGE_REQUEST_BLOCK_VERSION_1`].
    pub version: u32,
    pub srb_length: u32,
    pub srb_function: u32,
    pub srb_flags: u32,
    pub reserved_ulong2: u32,
    pub request_tag: u32,
    pub request_priority: u16,
    pub request_attribute: u16,
    pub time_out_value: u32,
    pub system_status: u32,
    pub zero_guard1: u32,
    pub address_offset: u32,
    pub num_srb_ex_data: u32,
    pub data_transfer_length: u32,
    pub data_buffer: *mut c_void,
    pub zero_guard2: *mut c_void,
    pub original_request: *mut c_void,
    pub class_context: *mut c_void,
    pub port_context: *mut c_void,
    pub miniport_context: *mut c_void,
    pub next_srb: *mut StorageRequestBlock,
    /// `num_srb_ex_data` offsets follow (ANYSIZE_ARRAY).
    pub srb_ex_data_offset: [u32; 1],
}

const _: () = assert!(size_of::<StorageRequestBlock>() == 0x80);
const _: () = assert!(offset_of!(StorageRequestBlock, signature) == 0x08);
const _: () = assert!(offset_of!(StorageRequestBlock, srb_length) == 0x10);
const _: () = assert!(offset_of!(StorageRequestBlock, srb_function) == 0x14);
const _: () = assert!(offset_of!(StorageRequestBlock, srb_flags) == 0x18);
const _: () = assert!(offset_of!(StorageRequestBlock, address_offset) == 0x34);
const _: () = assert!(offset_of!(StorageRequestBlock, num_srb_ex_data) == 0x38);
const _: () = assert!(offset_of!(StorageRequestBlock, data_transfer_length) == 0x3c);
const _: () = assert!(offset_of!(StorageRequestBlock, data_buffer) == 0x40);
const _: () = assert!(offset_of!(StorageRequestBlock, miniport_context) == 0x68);
const _: () = assert!(offset_of!(StorageRequestBlock, srb_ex_data_offset) == 0x78);

/// `SRBEX_DATA`: the header every extended data block starts with.
#[repr(C, align(8))]
pub struct SrbExData {
    /// `SRBEXDATATYPE`.
    pub type_: u32,
    /// Bytes after this header.
    pub length: u32,
}

/// `SRBEX_DATA_SCSI_CDB16`.
#[repr(C, align(8))]
pub struct SrbExDataScsiCdb16 {
    pub type_: u32,
    pub length: u32,
    pub scsi_status: u8,
    pub sense_info_buffer_length: u8,
    pub cdb_length: u8,
    pub reserved: u8,
    pub reserved1: u32,
    pub sense_info_buffer: *mut c_void,
    pub cdb: [u8; 16],
}

const _: () = assert!(size_of::<SrbExDataScsiCdb16>() == 0x28);
const _: () = assert!(offset_of!(SrbExDataScsiCdb16, scsi_status) == 0x08);
const _: () = assert!(offset_of!(SrbExDataScsiCdb16, cdb_length) == 0x0a);
const _: () = assert!(offset_of!(SrbExDataScsiCdb16, sense_info_buffer) == 0x10);
const _: () = assert!(offset_of!(SrbExDataScsiCdb16, cdb) == 0x18);

/// `SRBEX_DATA_SCSI_CDB32`: as CDB16 with room for 32 CDB bytes.
#[repr(C, align(8))]
pub struct SrbExDataScsiCdb32 {
    pub type_: u32,
    pub length: u32,
    pub scsi_status: u8,
    pub sense_info_buffer_length: u8,
    pub cdb_length: u8,
    pub reserved: u8,
    pub reserved1: u32,
    pub sense_info_buffer: *mut c_void,
    pub cdb: [u8; 32],
}

const _: () = assert!(size_of::<SrbExDataScsiCdb32>() == 0x38);
const _: () = assert!(offset_of!(SrbExDataScsiCdb32, cdb) == 0x18);

/// `STOR_ADDR_BTL8` (`STOR_ADDRESS_ALIGN`: 8).
#[repr(C, align(8))]
pub struct StorAddrBtl8 {
    /// [`crate::storport::config::STORAGE_ADDRESS_TYPE_BTL8`].
    pub type_: u16,
    pub port: u16,
    pub address_length: u32,
    pub path: u8,
    pub target: u8,
    pub lun: u8,
    pub reserved: u8,
}

const _: () = assert!(size_of::<StorAddrBtl8>() == 0x10);
const _: () = assert!(align_of::<StorAddrBtl8>() == 8);
const _: () = assert!(offset_of!(StorAddrBtl8, path) == 0x08);
const _: () = assert!(offset_of!(StorAddrBtl8, lun) == 0x0a);

/// "SRBX" in ASCII.
pub const SRB_SIGNATURE: u32 = 0x5352_4258;
pub const STORAGE_REQUEST_BLOCK_VERSION_1: u32 = 1;

// SRBEXDATATYPE.
pub const SRB_EX_DATA_TYPE_SCSI_CDB16: u32 = 0x40;
pub const SRB_EX_DATA_TYPE_SCSI_CDB32: u32 = 0x41;

// SRB functions (srb.h).
pub const SRB_FUNCTION_EXECUTE_SCSI: u32 = 0x00;
pub const SRB_FUNCTION_IO_CONTROL: u32 = 0x02;
pub const SRB_FUNCTION_SHUTDOWN: u32 = 0x07;
pub const SRB_FUNCTION_FLUSH: u32 = 0x08;
pub const SRB_FUNCTION_ABORT_COMMAND: u32 = 0x10;
pub const SRB_FUNCTION_RESET_BUS: u32 = 0x12;
pub const SRB_FUNCTION_RESET_DEVICE: u32 = 0x13;
pub const SRB_FUNCTION_RESET_LOGICAL_UNIT: u32 = 0x20;
pub const SRB_FUNCTION_POWER: u32 = 0x24;
pub const SRB_FUNCTION_PNP: u32 = 0x25;
pub const SRB_FUNCTION_DUMP_POINTERS: u32 = 0x26;
pub const SRB_FUNCTION_FREE_DUMP_POINTERS: u32 = 0x27;
/// The `function` of every `STORAGE_REQUEST_BLOCK`.
pub const SRB_FUNCTION_STORAGE_REQUEST_BLOCK: u8 = 0x28;

// SRB status (srb.h).
pub const SRB_STATUS_PENDING: u8 = 0x00;
pub const SRB_STATUS_SUCCESS: u8 = 0x01;
pub const SRB_STATUS_ABORTED: u8 = 0x02;
pub const SRB_STATUS_ERROR: u8 = 0x04;
pub const SRB_STATUS_BUSY: u8 = 0x05;
pub const SRB_STATUS_INVALID_REQUEST: u8 = 0x06;
pub const SRB_STATUS_NO_DEVICE: u8 = 0x08;
pub const SRB_STATUS_DATA_OVERRUN: u8 = 0x12;
pub const SRB_STATUS_INVALID_LUN: u8 = 0x20;
pub const SRB_STATUS_INVALID_TARGET_ID: u8 = 0x21;
pub const SRB_STATUS_BAD_FUNCTION: u8 = 0x22;
pub const SRB_STATUS_AUTOSENSE_VALID: u8 = 0x80;

// SRB flags (srb.h).
pub const SRB_FLAGS_DISABLE_AUTOSENSE: u32 = 0x20;
pub const SRB_FLAGS_DATA_IN: u32 = 0x40;
pub const SRB_FLAGS_DATA_OUT: u32 = 0x80;
