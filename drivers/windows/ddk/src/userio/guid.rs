//! `GUID` (guiddef.h).

use core::mem::{offset_of, size_of};

/// A GUID as laid out in memory: written `{data1-data2-data3-data4[0..2]-data4[2..8]}`, the
/// first three fields little-endian integers.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Guid {
    pub data1: u32,
    pub data2: u16,
    pub data3: u16,
    pub data4: [u8; 8],
}

const _: () = assert!(size_of::<Guid>() == 16);
const _: () = assert!(offset_of!(Guid, data4) == 8);
