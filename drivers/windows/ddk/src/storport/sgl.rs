//! `STOR_SCATTER_GATHER_LIST` (the physical pages of an SRB's data buffer, from
//! `StorPortGetScatterGatherList`) and `STOR_DPC`.
//!
//! The scatter/gather structures have the layout of wdm.h's `SCATTER_GATHER_LIST` /
//! `SCATTER_GATHER_ELEMENT`, which is what `tests/conformance.rs` measures (mingw-w64's storport.h
//! does not compile next to its srb.h).

use core::mem::{offset_of, size_of};

use crate::sync::{KDpc, KSpinLock};

/// `STOR_SCATTER_GATHER_ELEMENT`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct StorScatterGatherElement {
    pub physical_address: i64,
    pub length: u32,
    pub reserved: usize,
}

const _: () = assert!(size_of::<StorScatterGatherElement>() == 0x18);
const _: () = assert!(offset_of!(StorScatterGatherElement, length) == 0x08);

/// `STOR_SCATTER_GATHER_LIST`: `number_of_elements` elements follow the header.
#[repr(C)]
pub struct StorScatterGatherList {
    pub number_of_elements: u32,
    pub reserved: usize,
    pub list: [StorScatterGatherElement; 0],
}

const _: () = assert!(offset_of!(StorScatterGatherList, list) == 0x10);

impl StorScatterGatherList {
    /// The elements.
    ///
    /// # Safety
    /// `self` is a list storport built, with `number_of_elements` elements after the header.
    pub unsafe fn elements(&self) -> &[StorScatterGatherElement] {
        // SAFETY: the caller's promise.
        unsafe { core::slice::from_raw_parts(self.list.as_ptr(), self.number_of_elements as usize) }
    }
}

/// `STOR_DPC`: a DPC with the spin lock storport keeps for it.
#[repr(C)]
pub struct StorDpc {
    pub dpc: KDpc,
    pub lock: KSpinLock,
}

const _: () = assert!(size_of::<StorDpc>() == 0x48);
