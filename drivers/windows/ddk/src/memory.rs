//! Memory constants of the Mm* calls (wdm.h; mingw-w64 `ddk/wdm.h` agrees, measured by
//! `tests/conformance.rs`).

/// `MEMORY_CACHING_TYPE::MmNonCached`.
pub const MM_NON_CACHED: u32 = 0;
/// `MEMORY_CACHING_TYPE::MmCached`: ordinary RAM, as the pages shared with Xen backends are.
pub const MM_CACHED: u32 = 1;
/// `MEMORY_CACHING_TYPE::MmWriteCombined`.
pub const MM_WRITE_COMBINED: u32 = 2;
