//! The block the normal instance leaves for its dump instance (storport's
//! `PORT_CONFIGURATION_INFORMATION.MiniportDumpData`): set in normal mode by HwFindAdapter, kept
//! alive (non-paged) until the adapter is freed, handed by storport to HwFindAdapter in dump mode.
//!
//! Everything that needs pool or PnP is done in normal mode and lives here: the dump interface
//! table XENBUS gave (the dump instance cannot send IRPs), the pages of the dump ring and pool,
//! granted through the reserved references, and the queue and miniport built over them (the
//! dump path's `P`). What the dump instance still has to do is allocation-free: take the vbd
//! over through the polled store ([`crate::dump_store::take_over`]) and run SRBs by polling.
//!
//! The block is read by another image of the same driver (storport loads the dump stack's copy
//! of xenvbd.sys beside the normal one), so it starts with a magic number, a layout version and
//! its size, all checked before anything else is used.

use alloc::boxed::Box;
use core::ffi::c_void;
use core::fmt;
use core::mem::size_of;

/// `xenvbdDD`, little-endian.
pub const DUMP_DATA_MAGIC: u64 = u64::from_le_bytes(*b"xenvbdDD");
/// Bumped whenever the layout of [`DumpData`] changes.
pub const DUMP_DATA_VERSION: u32 = 1;

/// Longest store path the block holds.
pub const MAX_PATH: usize = 96;

/// A store path in fixed storage.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct StorePath {
    len: u32,
    bytes: [u8; MAX_PATH],
}

impl StorePath {
    /// `None` for a path too long, empty, or with bytes a store path cannot have.
    pub fn new(path: &str) -> Option<StorePath> {
        let mut p = StorePath {
            len: path.len() as u32,
            bytes: [0; MAX_PATH],
        };
        p.bytes
            .get_mut(..path.len())?
            .copy_from_slice(path.as_bytes());
        p.valid().then_some(p)
    }

    fn valid(&self) -> bool {
        let len = self.len as usize;
        len > 0
            && len <= MAX_PATH
            && self.bytes[..len]
                .iter()
                .all(|&c| c.is_ascii_graphic() && c != b'\\')
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..(self.len as usize).min(MAX_PATH)]
    }
}

impl fmt::Debug for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", core::str::from_utf8(self.as_bytes()))
    }
}

/// What the dump instance needs for the store handshake.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Handshake {
    /// The frontend directory (`device/vbd/N`).
    pub frontend: StorePath,
    /// The backend directory, as the frontend's `backend` key named it in normal mode.
    pub backend: StorePath,
    /// The prepared ring's reference and event channel, to publish.
    pub ring_ref: u32,
    pub port: u32,
}

/// Why a pointer is not a usable block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpDataError {
    /// Storport passed nothing: the normal instance set no block (it failed to prepare one).
    Missing,
    Misaligned,
    /// Not a block of this driver.
    Magic(u64),
    /// A block of another build of this driver.
    Version(u32),
    Size(u32),
    /// A path in the block is not a store path.
    Path,
}

impl fmt::Display for DumpDataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpDataError::Missing => f.write_str("no dump data from the normal instance"),
            DumpDataError::Misaligned => f.write_str("dump data misaligned"),
            DumpDataError::Magic(m) => write!(f, "dump data magic {m:#x}"),
            DumpDataError::Version(v) => write!(f, "dump data version {v}"),
            DumpDataError::Size(s) => write!(f, "dump data of {s} bytes"),
            DumpDataError::Path => f.write_str("dump data path invalid"),
        }
    }
}

/// The block: a checked header, the handshake, and the prepared dump path `P`.
#[repr(C)]
pub struct DumpData<P> {
    magic: u64,
    version: u32,
    size: u32,
    pub handshake: Handshake,
    pub path: P,
}

impl<P> DumpData<P> {
    /// A block for storport (`MiniportDumpData`); [`Self::free`] takes it back.
    pub fn into_raw(handshake: Handshake, path: P) -> *mut c_void {
        Box::into_raw(Box::new(DumpData {
            magic: DUMP_DATA_MAGIC,
            version: DUMP_DATA_VERSION,
            size: size_of::<Self>() as u32,
            handshake,
            path,
        }))
        .cast()
    }

    /// The block behind storport's pointer, checked.
    ///
    /// # Safety
    /// `ptr` is null or points to at least 16 readable bytes; if those hold this driver's magic,
    /// version and size, it is a block made by [`Self::into_raw`] with the same `P` (the same
    /// build), alive and not used by anyone else while the reference lives.
    pub unsafe fn from_raw<'a>(ptr: *mut c_void) -> Result<&'a mut Self, DumpDataError> {
        if ptr.is_null() {
            return Err(DumpDataError::Missing);
        }
        if !(ptr as usize).is_multiple_of(core::mem::align_of::<Self>()) {
            return Err(DumpDataError::Misaligned);
        }
        let header = ptr.cast::<u8>();
        // SAFETY: the caller's promise of 16 readable bytes; read unaligned-safe as plain words.
        let (magic, version, size) = unsafe {
            (
                header.cast::<u64>().read(),
                header.add(8).cast::<u32>().read(),
                header.add(12).cast::<u32>().read(),
            )
        };
        if magic != DUMP_DATA_MAGIC {
            return Err(DumpDataError::Magic(magic));
        }
        if version != DUMP_DATA_VERSION {
            return Err(DumpDataError::Version(version));
        }
        if size as usize != size_of::<Self>() {
            return Err(DumpDataError::Size(size));
        }
        // SAFETY: magic, version and size say this is such a block (the caller's promise).
        let data = unsafe { &mut *ptr.cast::<Self>() };
        if !data.handshake.frontend.valid() || !data.handshake.backend.valid() {
            return Err(DumpDataError::Path);
        }
        Ok(data)
    }

    /// Frees a block of [`Self::into_raw`] (the normal instance, when its adapter goes).
    ///
    /// # Safety
    /// `ptr` came from [`Self::into_raw`] with this `P` and nobody uses the block any more.
    pub unsafe fn free(ptr: *mut c_void) {
        // SAFETY: the caller's promise.
        drop(unsafe { Box::from_raw(ptr.cast::<Self>()) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake() -> Handshake {
        Handshake {
            frontend: StorePath::new("device/vbd/51712").unwrap(),
            backend: StorePath::new("/local/domain/0/backend/vbd/1/51712").unwrap(),
            ring_ref: 8,
            port: 5,
        }
    }

    #[test]
    fn a_block_round_trips_through_storports_pointer() {
        let ptr = DumpData::into_raw(handshake(), [7u64; 3]);
        // SAFETY: just made, with this P.
        let data = unsafe { DumpData::<[u64; 3]>::from_raw(ptr) }.unwrap();
        assert_eq!(data.handshake.frontend.as_bytes(), b"device/vbd/51712");
        assert_eq!(
            data.handshake.backend.as_bytes(),
            b"/local/domain/0/backend/vbd/1/51712"
        );
        assert_eq!((data.handshake.ring_ref, data.handshake.port), (8, 5));
        assert_eq!(data.path, [7; 3]);
        data.path[1] = 9;
        // SAFETY: as above; the write is seen through a second look.
        assert_eq!(
            unsafe { DumpData::<[u64; 3]>::from_raw(ptr) }.unwrap().path[1],
            9
        );
        // SAFETY: made by into_raw, no reference alive.
        unsafe { DumpData::<[u64; 3]>::free(ptr) };
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        // SAFETY: null is allowed.
        assert_eq!(
            unsafe { DumpData::<u64>::from_raw(core::ptr::null_mut()) }.err(),
            Some(DumpDataError::Missing)
        );
        let mut words = [0u64; 8];
        // SAFETY: 64 readable bytes.
        assert_eq!(
            unsafe { DumpData::<u64>::from_raw(words.as_mut_ptr().cast()) }.err(),
            Some(DumpDataError::Magic(0))
        );
        words[0] = DUMP_DATA_MAGIC;
        words[1] = 2;
        // SAFETY: as above.
        assert_eq!(
            unsafe { DumpData::<u64>::from_raw(words.as_mut_ptr().cast()) }.err(),
            Some(DumpDataError::Version(2))
        );
        words[1] = u64::from(DUMP_DATA_VERSION) | 40 << 32;
        // SAFETY: as above.
        assert_eq!(
            unsafe { DumpData::<u64>::from_raw(words.as_mut_ptr().cast()) }.err(),
            Some(DumpDataError::Size(40))
        );
        // A block of another P (another layout) is refused by its size.
        let ptr = DumpData::into_raw(handshake(), 1u8);
        // SAFETY: readable; its size field says u8's layout, not [u64; 40]'s.
        assert!(matches!(
            unsafe { DumpData::<[u64; 40]>::from_raw(ptr) }.err(),
            Some(DumpDataError::Size(_))
        ));
        // SAFETY: made by into_raw with u8.
        unsafe { DumpData::<u8>::free(ptr) };
        // A corrupted path is refused.
        let ptr = DumpData::into_raw(handshake(), 0u64);
        // SAFETY: made just now; the path is corrupted through the block's own field.
        unsafe { (*ptr.cast::<DumpData<u64>>()).handshake.backend.len = 500 };
        // SAFETY: as above.
        assert_eq!(
            unsafe { DumpData::<u64>::from_raw(ptr) }.err(),
            Some(DumpDataError::Path)
        );
        // SAFETY: made by into_raw.
        unsafe { DumpData::<u64>::free(ptr) };
        assert!(StorePath::new("").is_none());
        assert!(StorePath::new(&"a".repeat(MAX_PATH + 1)).is_none());
        assert!(StorePath::new("device/vbd/5 1").is_none());
    }
}
