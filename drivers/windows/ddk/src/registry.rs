//! Reading a driver's registry values (its service key's `Parameters`, which its INF fills in).
//!
//! Layouts and values: wdm.h / ntdef.h of the Windows 10 SDK 10.0.19041, x64 (`OBJECT_ATTRIBUTES`,
//! `KEY_VALUE_PARTIAL_INFORMATION`, `KEY_READ`, `OBJ_*`, `REG_DWORD`); mingw-w64 declares the same.

use core::ffi::c_void;
use core::mem::{offset_of, size_of};

use crate::string::UnicodeString;

/// `OBJECT_ATTRIBUTES`.
#[repr(C)]
pub struct ObjectAttributes {
    pub length: u32,
    pub root_directory: *mut c_void,
    pub object_name: *mut UnicodeString,
    pub attributes: u32,
    pub security_descriptor: *mut c_void,
    pub security_quality_of_service: *mut c_void,
}

const _: () = assert!(size_of::<ObjectAttributes>() == 48);
const _: () = assert!(offset_of!(ObjectAttributes, object_name) == 16);
const _: () = assert!(offset_of!(ObjectAttributes, attributes) == 24);

pub const OBJ_CASE_INSENSITIVE: u32 = 0x0000_0040;
/// A handle only kernel mode can use (a driver's handles must not land in a user process).
pub const OBJ_KERNEL_HANDLE: u32 = 0x0000_0200;
/// `KEY_READ`: STANDARD_RIGHTS_READ | KEY_QUERY_VALUE | KEY_ENUMERATE_SUB_KEYS | KEY_NOTIFY.
pub const KEY_READ: u32 = 0x0002_0019;
/// `KEY_VALUE_INFORMATION_CLASS::KeyValuePartialInformation`.
pub const KEY_VALUE_PARTIAL_INFORMATION: u32 = 2;
pub const REG_DWORD: u32 = 4;

/// The header of `KEY_VALUE_PARTIAL_INFORMATION`; the data follows it.
#[repr(C)]
pub struct KeyValuePartialInformation {
    pub title_index: u32,
    pub value_type: u32,
    pub data_length: u32,
}

/// Offset of `Data` in `KEY_VALUE_PARTIAL_INFORMATION`.
pub const KEY_VALUE_PARTIAL_DATA_OFFSET: usize = 12;
const _: () = assert!(size_of::<KeyValuePartialInformation>() == KEY_VALUE_PARTIAL_DATA_OFFSET);

/// The DWORD in a `KEY_VALUE_PARTIAL_INFORMATION` answer of `len` bytes, if it is one.
pub fn partial_dword(answer: &[u8]) -> Option<u32> {
    let word = |i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(answer.get(i..i + 4)?.try_into().ok()?))
    };
    let (value_type, data_length) = (word(4)?, word(8)?);
    if value_type != REG_DWORD || data_length != 4 {
        return None;
    }
    word(KEY_VALUE_PARTIAL_DATA_OFFSET)
}

#[cfg(windows)]
#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    pub fn ZwOpenKey(
        key_handle: *mut *mut c_void,
        desired_access: u32,
        object_attributes: *mut ObjectAttributes,
    ) -> crate::status::NtStatus;
    pub fn ZwQueryValueKey(
        key_handle: *mut c_void,
        value_name: *mut UnicodeString,
        class: u32,
        information: *mut c_void,
        length: u32,
        result_length: *mut u32,
    ) -> crate::status::NtStatus;
    pub fn ZwClose(handle: *mut c_void) -> crate::status::NtStatus;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_whole_dword_is_a_dword() {
        let mut a = [0u8; 16];
        a[4..8].copy_from_slice(&REG_DWORD.to_le_bytes());
        a[8..12].copy_from_slice(&4u32.to_le_bytes());
        a[12..16].copy_from_slice(&7u32.to_le_bytes());
        assert_eq!(partial_dword(&a), Some(7));
        assert_eq!(partial_dword(&a[..15]), None, "truncated");
        let mut s = a;
        s[4] = 1; // REG_SZ
        assert_eq!(partial_dword(&s), None);
        let mut l = a;
        l[8] = 8; // a QWORD's length
        assert_eq!(partial_dword(&l), None);
    }
}
