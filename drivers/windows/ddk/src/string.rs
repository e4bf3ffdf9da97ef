//! Counted strings and list heads as the kernel passes them.

use core::mem::{offset_of, size_of};

/// `UNICODE_STRING` (wdm.h / ntdef.h): a counted UTF-16 string; lengths are in bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct UnicodeString {
    pub length: u16,
    pub maximum_length: u16,
    pub buffer: *mut u16,
}

// Sizes and offsets from ntdef.h (Windows 10 SDK 10.0.19041, x64; mingw-w64 include/ntdef.h agrees).
const _: () = assert!(size_of::<UnicodeString>() == 0x10);
const _: () = assert!(offset_of!(UnicodeString, buffer) == 0x8);

/// `LIST_ENTRY` (ntdef.h): a doubly linked list link, embedded in kernel structures.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ListEntry {
    pub flink: *mut ListEntry,
    pub blink: *mut ListEntry,
}

const _: () = assert!(size_of::<ListEntry>() == 0x10);
