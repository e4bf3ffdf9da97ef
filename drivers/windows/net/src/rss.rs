//! Receive-side scaling: `OID_GEN_RECEIVE_SCALE_PARAMETERS` parsed into the ctrl ring's terms
//! (Toeplitz key, `XEN_NETIF_CTRL_HASH_TYPE_*` flags, a mapping table of queue numbers), and the
//! ctrl ring requests that configure the backend.
//!
//! NDIS's indirection table names processors; the backend's names queues. Queue `q` is served on
//! the processor the home binds it to, so processor `n` maps to queue `n % queues`.

use arrayvec::ArrayVec;
use xenpv_abi::netif::{
    XEN_NETIF_CTRL_HASH_TYPE_IPV4, XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP,
    XEN_NETIF_CTRL_HASH_TYPE_IPV6, XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP,
};
use xenpv_datapath::netif::ctrl::CtrlOp;
use xenpv_ddk::ndis::nbl::{
    NDIS_HASH_FUNCTION_MASK, NDIS_HASH_FUNCTION_TOEPLITZ, NDIS_HASH_IPV4, NDIS_HASH_IPV6,
    NDIS_HASH_TCP_IPV4, NDIS_HASH_TCP_IPV6, NDIS_HASH_TYPE_MASK,
};
use xenpv_ddk::ndis::oid::{
    NdisReceiveScaleParameters, NDIS_RSS_HASH_SECRET_KEY_MAX_SIZE_REVISION_2,
    NDIS_RSS_INDIRECTION_TABLE_MAX_SIZE_REVISION_2, NDIS_RSS_PARAM_FLAG_DISABLE_RSS,
    NDIS_RSS_PARAM_FLAG_HASH_INFO_UNCHANGED, NDIS_RSS_PARAM_FLAG_HASH_KEY_UNCHANGED,
    NDIS_RSS_PARAM_FLAG_ITABLE_UNCHANGED, NDIS_SIZEOF_RECEIVE_SCALE_PARAMETERS_REVISION_1,
    PROCESSOR_NUMBER_SIZE,
};

/// Most indirection table entries (`NDIS_RSS_INDIRECTION_TABLE_MAX_SIZE_REVISION_2`).
pub const MAX_TABLE: usize = NDIS_RSS_INDIRECTION_TABLE_MAX_SIZE_REVISION_2 / PROCESSOR_NUMBER_SIZE;
/// Longest key.
pub const MAX_KEY: usize = NDIS_RSS_HASH_SECRET_KEY_MAX_SIZE_REVISION_2;
/// The NDIS hash types this miniport computes (the backend's four).
pub const SUPPORTED_HASH_TYPES: u32 =
    NDIS_HASH_IPV4 | NDIS_HASH_TCP_IPV4 | NDIS_HASH_IPV6 | NDIS_HASH_TCP_IPV6;

/// Why a receive-scale setting was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RssError {
    /// The buffer is shorter than the structure or than what it points to.
    Length { needed: usize },
    /// A hash function other than Toeplitz.
    HashFunction(u32),
    /// Hash types the backend cannot compute.
    HashTypes(u32),
    /// An indirection table that is empty, not whole entries, not a power of two or too long.
    TableSize(usize),
    /// A key longer than 40 bytes (or an empty one).
    KeySize(usize),
    /// An `UNCHANGED` flag with nothing set before.
    NothingToKeep,
}

/// RSS as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RssConfig {
    pub key: ArrayVec<u8, MAX_KEY>,
    /// The NDIS hash types (for queries and receive indications).
    pub hash_types: u32,
    /// The queue of each table entry.
    pub table: ArrayVec<u32, MAX_TABLE>,
}

impl RssConfig {
    /// The `XEN_NETIF_CTRL_HASH_TYPE_*` flags of the NDIS hash types.
    pub fn xen_flags(&self) -> u32 {
        [
            (NDIS_HASH_IPV4, XEN_NETIF_CTRL_HASH_TYPE_IPV4),
            (NDIS_HASH_TCP_IPV4, XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP),
            (NDIS_HASH_IPV6, XEN_NETIF_CTRL_HASH_TYPE_IPV6),
            (NDIS_HASH_TCP_IPV6, XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP),
        ]
        .iter()
        .filter(|(ndis, _)| self.hash_types & ndis != 0)
        .fold(0, |acc, (_, xen)| acc | xen)
    }

    /// The ctrl ring requests that make the backend hash and steer this way, in the order
    /// netif.h asks for (algorithm first, flags last so that hashing starts fully configured).
    pub fn ctrl_ops(&self) -> [CtrlOp<'_>; 5] {
        [
            CtrlOp::SetToeplitz,
            CtrlOp::SetHashKey(&self.key),
            CtrlOp::SetMappingSize(self.table.len() as u32),
            CtrlOp::SetMapping(&self.table),
            CtrlOp::SetHashFlags(self.xen_flags()),
        ]
    }
}

fn field<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&buf[at..at + N]);
    out
}

/// Parses an `NDIS_RECEIVE_SCALE_PARAMETERS` set for `queues` queues: `Ok(None)` turns RSS off;
/// the flags' UNCHANGED bits keep the parts of `current`.
pub fn parse(
    buf: &[u8],
    queues: u32,
    current: Option<&RssConfig>,
) -> Result<Option<RssConfig>, RssError> {
    const FLAGS: usize = core::mem::offset_of!(NdisReceiveScaleParameters, flags);
    const HASH_INFO: usize = core::mem::offset_of!(NdisReceiveScaleParameters, hash_information);
    const TABLE_SIZE: usize =
        core::mem::offset_of!(NdisReceiveScaleParameters, indirection_table_size);
    const TABLE_OFFSET: usize =
        core::mem::offset_of!(NdisReceiveScaleParameters, indirection_table_offset);
    const KEY_SIZE: usize = core::mem::offset_of!(NdisReceiveScaleParameters, hash_secret_key_size);
    const KEY_OFFSET: usize =
        core::mem::offset_of!(NdisReceiveScaleParameters, hash_secret_key_offset);
    if buf.len() < NDIS_SIZEOF_RECEIVE_SCALE_PARAMETERS_REVISION_1 {
        return Err(RssError::Length {
            needed: NDIS_SIZEOF_RECEIVE_SCALE_PARAMETERS_REVISION_1,
        });
    }
    let flags = u16::from_le_bytes(field(buf, FLAGS));
    if flags & NDIS_RSS_PARAM_FLAG_DISABLE_RSS != 0 {
        return Ok(None);
    }
    let keep = |bit: u16| -> Result<Option<&RssConfig>, RssError> {
        if flags & bit == 0 {
            Ok(None)
        } else {
            current.map(Some).ok_or(RssError::NothingToKeep)
        }
    };
    let slice = |offset: usize, len: usize| -> Result<&[u8], RssError> {
        let end = offset
            .checked_add(len)
            .ok_or(RssError::Length { needed: usize::MAX })?;
        buf.get(offset..end).ok_or(RssError::Length { needed: end })
    };

    let hash_types = match keep(NDIS_RSS_PARAM_FLAG_HASH_INFO_UNCHANGED)? {
        Some(c) => c.hash_types,
        None => {
            let info = u32::from_le_bytes(field(buf, HASH_INFO));
            let function = info & NDIS_HASH_FUNCTION_MASK;
            if function != NDIS_HASH_FUNCTION_TOEPLITZ {
                return Err(RssError::HashFunction(function));
            }
            let types = info & NDIS_HASH_TYPE_MASK;
            if types & !SUPPORTED_HASH_TYPES != 0 || types == 0 {
                return Err(RssError::HashTypes(types));
            }
            types
        }
    };
    let key = match keep(NDIS_RSS_PARAM_FLAG_HASH_KEY_UNCHANGED)? {
        Some(c) => c.key.clone(),
        None => {
            let size = usize::from(u16::from_le_bytes(field(buf, KEY_SIZE)));
            if size == 0 || size > MAX_KEY {
                return Err(RssError::KeySize(size));
            }
            let offset = u32::from_le_bytes(field(buf, KEY_OFFSET)) as usize;
            ArrayVec::try_from(slice(offset, size)?).map_err(|_| RssError::KeySize(size))?
        }
    };
    let table = match keep(NDIS_RSS_PARAM_FLAG_ITABLE_UNCHANGED)? {
        Some(c) => c.table.clone(),
        None => {
            let size = usize::from(u16::from_le_bytes(field(buf, TABLE_SIZE)));
            let entries = size / PROCESSOR_NUMBER_SIZE;
            if !size.is_multiple_of(PROCESSOR_NUMBER_SIZE)
                || entries == 0
                || entries > MAX_TABLE
                || !entries.is_power_of_two()
            {
                return Err(RssError::TableSize(size));
            }
            let offset = u32::from_le_bytes(field(buf, TABLE_OFFSET)) as usize;
            let raw = slice(offset, size)?;
            raw.chunks_exact(PROCESSOR_NUMBER_SIZE)
                .map(|p| {
                    // PROCESSOR_NUMBER: USHORT Group, UCHAR Number, UCHAR Reserved; 64 per group.
                    let group = u32::from(u16::from_le_bytes([p[0], p[1]]));
                    (group * 64 + u32::from(p[2])) % queues.max(1)
                })
                .collect()
        }
    };
    Ok(Some(RssConfig {
        key,
        hash_types,
        table,
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::vec::Vec;
    use xenpv_ddk::ndis::oid::NDIS_RECEIVE_SCALE_PARAMETERS_REVISION_2;
    use xenpv_ddk::ndis::{ObjectHeader, NDIS_OBJECT_TYPE_RSS_PARAMETERS};

    /// An RSS parameters buffer: header, table of `cpus` at 40, key after it.
    pub fn params(flags: u16, hash_info: u32, cpus: &[u8], key: &[u8]) -> Vec<u8> {
        let p = NdisReceiveScaleParameters {
            header: ObjectHeader::new(
                NDIS_OBJECT_TYPE_RSS_PARAMETERS,
                NDIS_RECEIVE_SCALE_PARAMETERS_REVISION_2,
                0x28,
            ),
            flags,
            base_cpu_number: 0,
            hash_information: hash_info,
            indirection_table_size: (cpus.len() * 4) as u16,
            indirection_table_offset: 0x28,
            hash_secret_key_size: key.len() as u16,
            hash_secret_key_offset: (0x28 + cpus.len() * 4) as u32,
            ..Default::default()
        };
        // SAFETY: a plain repr(C) structure of integers, viewed as its bytes.
        let head = unsafe {
            core::slice::from_raw_parts(
                (&p as *const NdisReceiveScaleParameters).cast::<u8>(),
                0x28,
            )
        };
        let mut v = head.to_vec();
        for &c in cpus {
            v.extend_from_slice(&[0, 0, c, 0]);
        }
        v.extend_from_slice(key);
        v
    }

    const TCP4: u32 = NDIS_HASH_FUNCTION_TOEPLITZ | NDIS_HASH_TCP_IPV4 | NDIS_HASH_IPV4;

    #[test]
    fn a_table_of_processors_becomes_queues_with_key_and_flags() {
        let key = [0x6d; 40];
        let buf = params(0, TCP4, &[0, 1, 2, 3, 4, 5, 6, 7], &key);
        let c = parse(&buf, 2, None).unwrap().unwrap();
        assert_eq!(c.table.as_slice(), [0, 1, 0, 1, 0, 1, 0, 1]);
        assert_eq!(c.key.as_slice(), key);
        assert_eq!(
            c.xen_flags(),
            XEN_NETIF_CTRL_HASH_TYPE_IPV4 | XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP
        );
        let ops = c.ctrl_ops();
        assert_eq!(ops[0], CtrlOp::SetToeplitz);
        assert_eq!(ops[2], CtrlOp::SetMappingSize(8));
        // Unchanged table and key keep the current ones.
        let only_flags = params(
            NDIS_RSS_PARAM_FLAG_ITABLE_UNCHANGED | NDIS_RSS_PARAM_FLAG_HASH_KEY_UNCHANGED,
            NDIS_HASH_FUNCTION_TOEPLITZ | NDIS_HASH_IPV6,
            &[],
            &[],
        );
        let d = parse(&only_flags, 2, Some(&c)).unwrap().unwrap();
        assert_eq!(
            (d.table.clone(), d.key.clone()),
            (c.table.clone(), c.key.clone())
        );
        assert_eq!(d.hash_types, NDIS_HASH_IPV6);
        assert_eq!(
            parse(
                &params(NDIS_RSS_PARAM_FLAG_DISABLE_RSS, 0, &[], &[]),
                2,
                Some(&c)
            ),
            Ok(None)
        );
    }

    #[test]
    fn bad_tables_keys_and_hashes_are_refused() {
        let key = [1u8; 40];
        // Three entries: not a power of two.
        assert_eq!(
            parse(&params(0, TCP4, &[0, 1, 2], &key), 2, None),
            Err(RssError::TableSize(12))
        );
        assert_eq!(
            parse(&params(0, TCP4, &[], &key), 2, None),
            Err(RssError::TableSize(0))
        );
        let too_many: Vec<u8> = (0..=128u32).map(|i| i as u8).collect();
        assert!(matches!(
            parse(&params(0, TCP4, &too_many, &key), 2, None),
            Err(RssError::TableSize(_))
        ));
        assert_eq!(
            parse(&params(0, TCP4, &[0, 1], &[1u8; 41]), 2, None),
            Err(RssError::KeySize(41))
        );
        assert_eq!(
            parse(&params(0, 0x2 | NDIS_HASH_IPV4, &[0, 1], &key), 2, None),
            Err(RssError::HashFunction(2))
        );
        assert_eq!(
            parse(
                &params(0, NDIS_HASH_FUNCTION_TOEPLITZ | 0x800, &[0, 1], &key),
                2,
                None
            ),
            Err(RssError::HashTypes(0x800)),
            "IPv6 extension-header hashing is not offered"
        );
        // Offsets pointing past the buffer.
        let mut short = params(0, TCP4, &[0, 1], &key);
        short.truncate(short.len() - 1);
        assert_eq!(
            parse(&short, 2, None),
            Err(RssError::Length {
                needed: 0x28 + 8 + 40
            })
        );
        assert_eq!(
            parse(&short[..20], 2, None),
            Err(RssError::Length { needed: 0x1c })
        );
        let keep = params(NDIS_RSS_PARAM_FLAG_ITABLE_UNCHANGED, TCP4, &[], &key);
        assert_eq!(parse(&keep, 2, None), Err(RssError::NothingToKeep));
    }
}
