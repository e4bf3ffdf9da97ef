//! The hardware resources of a device, decoded from the `CM_RESOURCE_LIST` that comes with
//! IRP_MN_START_DEVICE (wdm.h; the layout constants are xenpv-ddk's, measured against the
//! headers). For the Xen platform PCI device they are its I/O port BAR, its memory BAR (where the
//! grant table frames go) and its line interrupt (the event channel upcall).
//!
//! A list is variable-length and arrives as a pointer. The driver first asks [`encoded_len`] how
//! many bytes it spans, reading only the count fields through a callback, then hands those bytes
//! to [`parse`]. Both refuse absurd counts instead of walking off into memory.

use alloc::vec::Vec;

use xenpv_ddk::resource::*;

/// One hardware resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// An I/O port range.
    Port { start: u64, length: u32 },
    /// A memory range (`CmResourceTypeMemory`, or `CmResourceTypeMemoryLarge` with its length
    /// scaled back to bytes).
    Memory { start: u64, length: u64 },
    /// An interrupt: line-based (`latched` for edge-triggered) or message-signalled.
    Interrupt {
        level: u32,
        vector: u32,
        affinity: u64,
        latched: bool,
        message: bool,
    },
    /// A resource type the drivers do not use (DMA, bus number, device-specific data, …).
    Other { kind: u8 },
}

/// Why a resource list cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceListError {
    /// The bytes end before the list does.
    Truncated { needed: usize, available: usize },
    /// More full descriptors than any device has ([`MAX_FULL_DESCRIPTORS`]).
    TooManyFullDescriptors(u32),
    /// More partial descriptors in one full descriptor than any device has
    /// ([`MAX_PARTIAL_DESCRIPTORS`]).
    TooManyPartialDescriptors(u32),
    /// A `CmResourceTypeMemoryLarge` descriptor without exactly one of the size flags.
    BadLargeMemoryFlags(u16),
}

impl core::fmt::Display for ResourceListError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ResourceListError::Truncated { needed, available } => {
                write!(f, "resource list needs {needed} bytes, has {available}")
            }
            ResourceListError::TooManyFullDescriptors(n) => write!(f, "{n} full descriptors"),
            ResourceListError::TooManyPartialDescriptors(n) => {
                write!(f, "{n} partial descriptors")
            }
            ResourceListError::BadLargeMemoryFlags(flags) => {
                write!(f, "large memory descriptor with flags {flags:#x}")
            }
        }
    }
}

/// A device sits on one bus: the PnP manager gives one full descriptor per list.
pub const MAX_FULL_DESCRIPTORS: u32 = 8;
/// Far more than a PCI device's six BARs, an expansion ROM and its interrupts.
pub const MAX_PARTIAL_DESCRIPTORS: u32 = 256;

/// The size in bytes of the list whose `u32` at byte offset `o` is `read_u32(o)`; reads only
/// count fields, each after checking the counts before it.
pub fn encoded_len(read_u32: impl Fn(usize) -> u32) -> Result<usize, ResourceListError> {
    let full = read_u32(RESOURCE_LIST_COUNT_OFFSET);
    if full > MAX_FULL_DESCRIPTORS {
        return Err(ResourceListError::TooManyFullDescriptors(full));
    }
    let mut offset = RESOURCE_LIST_FIRST_FULL_OFFSET;
    for _ in 0..full {
        let partial_list = offset + FULL_DESCRIPTOR_PARTIAL_LIST_OFFSET;
        let partial = read_u32(partial_list + PARTIAL_LIST_COUNT_OFFSET);
        if partial > MAX_PARTIAL_DESCRIPTORS {
            return Err(ResourceListError::TooManyPartialDescriptors(partial));
        }
        offset = partial_list
            + PARTIAL_LIST_FIRST_DESCRIPTOR_OFFSET
            + partial as usize * PARTIAL_DESCRIPTOR_SIZE;
    }
    Ok(offset)
}

/// Decodes every partial descriptor of every full descriptor, in order.
pub fn parse(bytes: &[u8]) -> Result<Vec<Resource>, ResourceListError> {
    let mut resources = Vec::new();
    let full = read_u32(bytes, RESOURCE_LIST_COUNT_OFFSET)?;
    if full > MAX_FULL_DESCRIPTORS {
        return Err(ResourceListError::TooManyFullDescriptors(full));
    }
    let mut offset = RESOURCE_LIST_FIRST_FULL_OFFSET;
    for _ in 0..full {
        let partial_list = offset + FULL_DESCRIPTOR_PARTIAL_LIST_OFFSET;
        let partial = read_u32(bytes, partial_list + PARTIAL_LIST_COUNT_OFFSET)?;
        if partial > MAX_PARTIAL_DESCRIPTORS {
            return Err(ResourceListError::TooManyPartialDescriptors(partial));
        }
        offset = partial_list + PARTIAL_LIST_FIRST_DESCRIPTOR_OFFSET;
        for _ in 0..partial {
            let descriptor = slice(bytes, offset, PARTIAL_DESCRIPTOR_SIZE)?;
            resources.push(decode(descriptor)?);
            offset += PARTIAL_DESCRIPTOR_SIZE;
        }
    }
    Ok(resources)
}

/// One `CM_PARTIAL_RESOURCE_DESCRIPTOR` (exactly [`PARTIAL_DESCRIPTOR_SIZE`] bytes).
fn decode(descriptor: &[u8]) -> Result<Resource, ResourceListError> {
    let kind = descriptor[PARTIAL_DESCRIPTOR_TYPE_OFFSET];
    let flags = u16::from_le_bytes([
        descriptor[PARTIAL_DESCRIPTOR_FLAGS_OFFSET],
        descriptor[PARTIAL_DESCRIPTOR_FLAGS_OFFSET + 1],
    ]);
    let u32_at = |at: usize| u32::from_le_bytes(descriptor[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(descriptor[at..at + 8].try_into().unwrap());
    Ok(match kind {
        CM_RESOURCE_TYPE_PORT => Resource::Port {
            start: u64_at(MEMORY_START_OFFSET),
            length: u32_at(MEMORY_LENGTH_OFFSET),
        },
        CM_RESOURCE_TYPE_MEMORY => Resource::Memory {
            start: u64_at(MEMORY_START_OFFSET),
            length: u64::from(u32_at(MEMORY_LENGTH_OFFSET)),
        },
        CM_RESOURCE_TYPE_MEMORY_LARGE => {
            let shift = match flags & CM_RESOURCE_MEMORY_LARGE {
                CM_RESOURCE_MEMORY_LARGE_40 => 8,
                CM_RESOURCE_MEMORY_LARGE_48 => 16,
                CM_RESOURCE_MEMORY_LARGE_64 => 32,
                _ => return Err(ResourceListError::BadLargeMemoryFlags(flags)),
            };
            Resource::Memory {
                start: u64_at(MEMORY_START_OFFSET),
                length: u64::from(u32_at(MEMORY_LENGTH_OFFSET)) << shift,
            }
        }
        CM_RESOURCE_TYPE_INTERRUPT => Resource::Interrupt {
            level: u32_at(INTERRUPT_LEVEL_OFFSET),
            vector: u32_at(INTERRUPT_VECTOR_OFFSET),
            affinity: u64_at(INTERRUPT_AFFINITY_OFFSET),
            latched: flags & CM_RESOURCE_INTERRUPT_LATCHED != 0,
            message: flags & CM_RESOURCE_INTERRUPT_MESSAGE != 0,
        },
        kind => Resource::Other { kind },
    })
}

fn slice(bytes: &[u8], at: usize, len: usize) -> Result<&[u8], ResourceListError> {
    bytes.get(at..at + len).ok_or(ResourceListError::Truncated {
        needed: at + len,
        available: bytes.len(),
    })
}

fn read_u32(bytes: &[u8], at: usize) -> Result<u32, ResourceListError> {
    Ok(u32::from_le_bytes(slice(bytes, at, 4)?.try_into().unwrap()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// Builds a list the way the PnP manager lays it out: `lists` full descriptors, each with its
    /// partial descriptors as (type, flags, 16 bytes of union).
    fn encode(lists: &[&[(u8, u16, [u8; 16])]]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(lists.len() as u32).to_le_bytes());
        for partials in lists {
            out.extend_from_slice(&5u32.to_le_bytes()); // InterfaceType: PCIBus
            out.extend_from_slice(&0u32.to_le_bytes()); // BusNumber
            out.extend_from_slice(&1u16.to_le_bytes()); // Version
            out.extend_from_slice(&1u16.to_le_bytes()); // Revision
            out.extend_from_slice(&(partials.len() as u32).to_le_bytes());
            for (kind, flags, union) in partials.iter() {
                out.push(*kind);
                out.push(1); // ShareDisposition: CmResourceShareDeviceExclusive
                out.extend_from_slice(&flags.to_le_bytes());
                out.extend_from_slice(union);
            }
        }
        out
    }

    fn range(start: u64, length: u32) -> [u8; 16] {
        let mut union = [0; 16];
        union[..8].copy_from_slice(&start.to_le_bytes());
        union[8..12].copy_from_slice(&length.to_le_bytes());
        union
    }

    fn interrupt(level: u32, vector: u32, affinity: u64) -> [u8; 16] {
        let mut union = [0; 16];
        union[..4].copy_from_slice(&level.to_le_bytes());
        union[4..8].copy_from_slice(&vector.to_le_bytes());
        union[8..].copy_from_slice(&affinity.to_le_bytes());
        union
    }

    fn len_of(bytes: &[u8]) -> Result<usize, ResourceListError> {
        encoded_len(|at| read_u32(bytes, at).expect("encoded_len reads inside the list"))
    }

    #[test]
    fn the_platform_devices_port_memory_and_interrupt() {
        let bytes = encode(&[&[
            (CM_RESOURCE_TYPE_PORT, 0, range(0xc000, 0x100)),
            (CM_RESOURCE_TYPE_MEMORY, 0, range(0xf000_0000, 0x100_0000)),
            (CM_RESOURCE_TYPE_INTERRUPT, 0, interrupt(5, 0x51, 0xf)),
            (CM_RESOURCE_TYPE_DEVICE_SPECIFIC, 0, [0; 16]),
        ]]);
        assert_eq!(len_of(&bytes), Ok(bytes.len()));
        assert_eq!(
            parse(&bytes),
            Ok(vec![
                Resource::Port {
                    start: 0xc000,
                    length: 0x100
                },
                Resource::Memory {
                    start: 0xf000_0000,
                    length: 0x100_0000
                },
                Resource::Interrupt {
                    level: 5,
                    vector: 0x51,
                    affinity: 0xf,
                    latched: false,
                    message: false
                },
                Resource::Other {
                    kind: CM_RESOURCE_TYPE_DEVICE_SPECIFIC
                },
            ])
        );
    }

    #[test]
    fn interrupt_flags_and_large_memory_lengths() {
        let bytes = encode(&[
            &[(
                CM_RESOURCE_TYPE_INTERRUPT,
                CM_RESOURCE_INTERRUPT_LATCHED | CM_RESOURCE_INTERRUPT_MESSAGE,
                interrupt(0, 0xb0, 1),
            )],
            &[
                (
                    CM_RESOURCE_TYPE_MEMORY_LARGE,
                    CM_RESOURCE_MEMORY_LARGE_40,
                    range(1 << 40, 3),
                ),
                (
                    CM_RESOURCE_TYPE_MEMORY_LARGE,
                    CM_RESOURCE_MEMORY_LARGE_64,
                    range(0, 2),
                ),
            ],
        ]);
        assert_eq!(len_of(&bytes), Ok(bytes.len()));
        let resources = parse(&bytes).unwrap();
        assert!(matches!(
            resources[0],
            Resource::Interrupt {
                latched: true,
                message: true,
                ..
            }
        ));
        assert_eq!(
            resources[1],
            Resource::Memory {
                start: 1 << 40,
                length: 3 << 8
            }
        );
        assert_eq!(
            resources[2],
            Resource::Memory {
                start: 0,
                length: 2 << 32
            }
        );
    }

    #[test]
    fn large_memory_needs_exactly_one_size_flag() {
        for flags in [0, CM_RESOURCE_MEMORY_LARGE_40 | CM_RESOURCE_MEMORY_LARGE_48] {
            let bytes = encode(&[&[(CM_RESOURCE_TYPE_MEMORY_LARGE, flags, range(0, 1))]]);
            assert_eq!(
                parse(&bytes),
                Err(ResourceListError::BadLargeMemoryFlags(flags))
            );
        }
    }

    #[test]
    fn an_empty_list_has_no_resources() {
        let bytes = encode(&[]);
        assert_eq!(len_of(&bytes), Ok(4));
        assert_eq!(parse(&bytes), Ok(vec![]));
    }

    #[test]
    fn truncated_lists_are_refused_wherever_they_end() {
        let bytes = encode(&[&[
            (CM_RESOURCE_TYPE_PORT, 0, range(0xc000, 0x100)),
            (CM_RESOURCE_TYPE_MEMORY, 0, range(0xf000_0000, 0x100_0000)),
        ]]);
        for cut in 0..bytes.len() {
            assert!(
                matches!(
                    parse(&bytes[..cut]),
                    Err(ResourceListError::Truncated { available, .. }) if available == cut
                ),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn absurd_counts_are_refused_before_anything_is_read_past_them() {
        let mut bytes = encode(&[&[(CM_RESOURCE_TYPE_PORT, 0, range(0, 1))]]);
        bytes[..4].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(
            len_of(&bytes),
            Err(ResourceListError::TooManyFullDescriptors(1000))
        );
        assert_eq!(
            parse(&bytes),
            Err(ResourceListError::TooManyFullDescriptors(1000))
        );

        let mut bytes = encode(&[&[(CM_RESOURCE_TYPE_PORT, 0, range(0, 1))]]);
        bytes[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            len_of(&bytes),
            Err(ResourceListError::TooManyPartialDescriptors(u32::MAX))
        );
        assert_eq!(
            parse(&bytes),
            Err(ResourceListError::TooManyPartialDescriptors(u32::MAX))
        );
    }
}
