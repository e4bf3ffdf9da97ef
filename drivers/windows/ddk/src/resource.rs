//! Hardware resource lists a function driver receives with `IRP_MN_START_DEVICE` (wdm.h
//! `CM_RESOURCE_LIST`, `CM_FULL_RESOURCE_DESCRIPTOR`, `CM_PARTIAL_RESOURCE_LIST`,
//! `CM_PARTIAL_RESOURCE_DESCRIPTOR`).
//!
//! The lists are variable-length and declared under `#include <pshpack4.h>` (4-byte packing, so
//! 64-bit members sit at multiples of 4 only), which is why they are described here as byte
//! offsets for a byte-reading parser (xenpv-wdm's `resources`) rather than as Rust structs. The
//! values are the x64 headers' (Windows 10 SDK 10.0.19041; mingw-w64 `ddk/wdm.h` agrees), measured
//! again by `tests/conformance.rs`.

/// `CM_RESOURCE_LIST.Count` (`ULONG`) and the first of `Count` full descriptors.
pub const RESOURCE_LIST_COUNT_OFFSET: usize = 0;
pub const RESOURCE_LIST_FIRST_FULL_OFFSET: usize = 4;

/// `CM_FULL_RESOURCE_DESCRIPTOR`: `InterfaceType`, `BusNumber`, then the partial list.
pub const FULL_DESCRIPTOR_PARTIAL_LIST_OFFSET: usize = 8;
/// `CM_PARTIAL_RESOURCE_LIST`: `USHORT Version`, `USHORT Revision`, `ULONG Count`, descriptors.
pub const PARTIAL_LIST_COUNT_OFFSET: usize = 4;
pub const PARTIAL_LIST_FIRST_DESCRIPTOR_OFFSET: usize = 8;

/// `CM_PARTIAL_RESOURCE_DESCRIPTOR`: `UCHAR Type`, `UCHAR ShareDisposition`, `USHORT Flags`,
/// then a 16-byte union.
pub const PARTIAL_DESCRIPTOR_SIZE: usize = 0x14;
pub const PARTIAL_DESCRIPTOR_TYPE_OFFSET: usize = 0;
pub const PARTIAL_DESCRIPTOR_FLAGS_OFFSET: usize = 2;
/// `u.Memory.Start` / `u.Port.Start` (`PHYSICAL_ADDRESS`) and `u.Memory.Length` / `u.Port.Length`
/// / `u.Memory40.Length40` … (`ULONG`).
pub const MEMORY_START_OFFSET: usize = 4;
pub const MEMORY_LENGTH_OFFSET: usize = 12;
/// `u.Interrupt.Level`, `Vector` and `Affinity` (`KAFFINITY`).
pub const INTERRUPT_LEVEL_OFFSET: usize = 4;
pub const INTERRUPT_VECTOR_OFFSET: usize = 8;
pub const INTERRUPT_AFFINITY_OFFSET: usize = 12;

// CM_PARTIAL_RESOURCE_DESCRIPTOR.Type.
pub const CM_RESOURCE_TYPE_PORT: u8 = 1;
pub const CM_RESOURCE_TYPE_INTERRUPT: u8 = 2;
pub const CM_RESOURCE_TYPE_MEMORY: u8 = 3;
pub const CM_RESOURCE_TYPE_DEVICE_SPECIFIC: u8 = 5;
pub const CM_RESOURCE_TYPE_MEMORY_LARGE: u8 = 7;

// CM_PARTIAL_RESOURCE_DESCRIPTOR.Flags.
pub const CM_RESOURCE_INTERRUPT_LATCHED: u16 = 0x0001;
pub const CM_RESOURCE_INTERRUPT_MESSAGE: u16 = 0x0002;
/// The three size flags of `CmResourceTypeMemoryLarge`: the length is in units of 2^8, 2^16 or
/// 2^32 bytes.
pub const CM_RESOURCE_MEMORY_LARGE: u16 = 0x0E00;
pub const CM_RESOURCE_MEMORY_LARGE_40: u16 = 0x0200;
pub const CM_RESOURCE_MEMORY_LARGE_48: u16 = 0x0400;
pub const CM_RESOURCE_MEMORY_LARGE_64: u16 = 0x0800;
