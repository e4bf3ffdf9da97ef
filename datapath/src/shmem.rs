//! Memory shared with another domain: the only place xenpv touches it.
//!
//! The peer (a backend in another domain, or a simulated one on another thread) may write any
//! byte of shared memory at any time, including while we read it. Rust's memory model makes a
//! plain or volatile read that races with a write undefined behaviour, so every access here is
//! atomic:
//!
//! - ring indices are 32-bit atomics with Acquire loads and Release stores (io/ring.h's
//!   `xen_rmb`/`xen_wmb` pairs), plus a full fence (`xen_mb`);
//! - entries and buffers are copied in and out with Relaxed atomic loads and stores, 32 bits at a
//!   time where the address is 4-byte aligned and a byte at a time otherwise;
//! - packet and block data ([`SharedMem::read_data`], [`SharedMem::write_data`]) is copied 64
//!   bits at a time: bytes up to the first 8-byte boundary, then aligned 64-bit words, then the
//!   bytes after the last boundary. Data moves in page-sized pieces, where the width of each
//!   access bounds the copy's speed.
//!
//! A concurrent peer write can then only give us a mix of old and new bytes (which the caller
//! validates, because the value was copied out once into a local), never undefined behaviour. On
//! x86 and Arm these compile to ordinary loads and stores.
//!
//! Both sides of a ring copy a given slot with the same split into words and bytes, because the
//! split depends only on the slot's address and the entry's length. Rust does not allow racing
//! atomic accesses of different sizes to overlap, so memory must not be accessed concurrently
//! through differently aligned or sized views (a ring never does). Data buffers are accessed
//! only with the data copies, over the ranges the frontend described, so they follow the same
//! rule; keeping data and ring memory apart also keeps Miri, whose weak-memory emulation cannot
//! follow 64-bit and 32-bit atomics on the same bytes, able to check both.
//!
//! Ordering of entry copies relative to the peer comes from the index accesses: the producer
//! writes entries, then publishes its index with Release; the consumer loads the index with
//! Acquire, then reads entries.
//!
//! Offsets are computed by our own code from validated indices, so an out-of-range or misaligned
//! offset is a bug in xenpv and panics; nothing read from the peer reaches an assertion here.

use alloc::alloc::{alloc_zeroed, dealloc, Layout};
use alloc::sync::Arc;
use core::fmt;
use core::marker::PhantomData;
use core::mem::{size_of, ManuallyDrop, MaybeUninit};
use core::ptr::NonNull;
use core::sync::atomic::{fence, AtomicU32, AtomicU64, AtomicU8, Ordering};
use xenpv_abi::PAGE_SIZE;

use zerocopy::{FromBytes, Immutable, IntoBytes};

/// A view of contiguous memory shared with a peer.
///
/// Cloning a `SharedMem` gives another view of the same memory. A view made by
/// [`SharedPages::mem`] keeps its pages alive; a view made by [`SharedMem::new`] relies on the
/// caller's promise.
#[derive(Clone)]
pub struct SharedMem {
    ptr: NonNull<u8>,
    len: usize,
    /// Keeps an owned allocation alive for as long as any view of it exists.
    _owner: Option<Arc<PageAlloc>>,
}

// SAFETY: a SharedMem is a pointer to memory that is, by the contract of `new` (or by
// `SharedPages`), valid for the life of every view and accessed by everyone — us on any thread,
// and the peer — only with atomic operations or from outside this program. All methods take
// `&self` and perform only atomic accesses, so using views from several threads at once cannot
// cause a data race. The owner Arc is itself Send + Sync.
unsafe impl Send for SharedMem {}
// SAFETY: see `Send` above: every access through `&SharedMem` is atomic.
unsafe impl Sync for SharedMem {}

impl fmt::Debug for SharedMem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedMem")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .finish()
    }
}

impl SharedMem {
    /// Makes a view of `len` bytes at `ptr`.
    ///
    /// # Safety
    ///
    /// For as long as this view or any clone of it exists:
    /// - `ptr..ptr + len` must be valid for reads and writes (mapped, not freed, not unmapped);
    /// - inside this program, that memory must be accessed only through `SharedMem` views or
    ///   other atomic operations (no `&`/`&mut` references to it, no plain reads or writes).
    ///   Accesses by another domain or device, outside this program, are allowed at any time.
    pub unsafe fn new(ptr: NonNull<u8>, len: usize) -> Self {
        Self {
            ptr,
            len,
            _owner: None,
        }
    }

    /// Length of the view in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the view is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Start of the view, for handing the memory to a platform (e.g. to grant its frames).
    #[inline]
    pub fn as_ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// A view of `len` bytes starting at `off` within this one (e.g. one ring out of a page that
    /// holds several, or a ring smaller than a page in tests).
    pub fn sub(&self, off: usize, len: usize) -> SharedMem {
        self.check_range(off, len);
        SharedMem {
            // SAFETY: `off + len <= self.len`, so the result stays inside (or one past) the view
            // and is non-null because the view's start is.
            ptr: unsafe { self.ptr.add(off) },
            len,
            _owner: self._owner.clone(),
        }
    }

    /// Loads the `u32` at `off` with Acquire ordering: everything the peer wrote before its
    /// Release store of this value is visible afterwards.
    #[inline]
    pub fn load_u32_acquire(&self, off: usize) -> u32 {
        self.atomic_u32(off).load(Ordering::Acquire)
    }

    /// Stores `v` at `off` with Release ordering: everything we wrote before is visible to a
    /// peer that observes `v` with an Acquire load.
    #[inline]
    pub fn store_u32_release(&self, off: usize, v: u32) {
        self.atomic_u32(off).store(v, Ordering::Release)
    }

    /// [`load_u32_acquire`](Self::load_u32_acquire) without its range and alignment checks,
    /// for a caller that made them once (a ring, for its header).
    ///
    /// # Safety
    ///
    /// `off + 4` must not exceed [`len`](Self::len), and `as_ptr() + off` must be 4-byte
    /// aligned.
    #[inline]
    pub(crate) unsafe fn load_u32_acquire_unchecked(&self, off: usize) -> u32 {
        // SAFETY: forwarded from the caller.
        unsafe { self.atomic_u32_unchecked(off) }.load(Ordering::Acquire)
    }

    /// [`store_u32_release`](Self::store_u32_release) without its checks.
    ///
    /// # Safety
    ///
    /// As for [`load_u32_acquire_unchecked`](Self::load_u32_acquire_unchecked).
    #[inline]
    pub(crate) unsafe fn store_u32_release_unchecked(&self, off: usize, v: u32) {
        // SAFETY: forwarded from the caller.
        unsafe { self.atomic_u32_unchecked(off) }.store(v, Ordering::Release)
    }

    /// Full memory barrier (io/ring.h's `xen_mb`): orders our earlier stores before our later
    /// loads, as the notification hold-off protocol needs.
    #[inline]
    pub fn fence(&self) {
        fence(Ordering::SeqCst)
    }

    /// Copies a `T` out of shared memory at `off`, once. The peer cannot change the result
    /// afterwards; a concurrent peer write gives some mix of bytes, which `FromBytes` makes a
    /// valid `T` that the caller validates.
    #[inline]
    pub fn read<T: FromBytes>(&self, off: usize) -> T {
        self.check_range(off, size_of::<T>());
        // SAFETY: the range was just checked, so the entry lies inside the view; no alignment
        // is promised.
        unsafe { read_entry::<T, false>(self.ptr.as_ptr().add(off)) }
    }

    /// Copies `v` into shared memory at `off`.
    #[inline]
    pub fn write<T: IntoBytes + Immutable>(&self, off: usize, v: &T) {
        self.check_range(off, size_of::<T>());
        // SAFETY: as in read.
        unsafe { write_entry::<T, false>(self.ptr.as_ptr().add(off), v) }
    }

    /// The `count` slots of `stride` bytes from `off` on, each holding a `T` (a ring's slot
    /// area), checked here once so that copying an entry in or out needs no further check.
    ///
    /// Panics if `count` is not a power of two, a `T` does not fit in `stride` bytes, the slots
    /// do not fit inside the view or do not all start 4-byte aligned: a layout bug in xenpv,
    /// never input from the peer.
    #[inline]
    pub fn slot_array<T>(&self, off: usize, stride: usize, count: u32) -> SlotArray<'_, T> {
        let bytes = (count as usize).saturating_mul(stride);
        // One test and a cold call, so that rings can inline this once per batch.
        if !(count.is_power_of_two()
            && size_of::<T>() <= stride
            && off.checked_add(bytes).is_some_and(|end| end <= self.len)
            && self.ptr.as_ptr().addr().wrapping_add(off).is_multiple_of(4)
            && stride.is_multiple_of(4))
        {
            self.bad_slot_array(off, stride, count, size_of::<T>());
        }
        // SAFETY: `off <= self.len` (just checked), so the pointer is inside (or one past) the
        // view and non-null because the view's start is.
        let base = unsafe { self.ptr.add(off) };
        SlotArray {
            base,
            stride,
            mask: count - 1,
            _mem: PhantomData,
            _entry: PhantomData,
        }
    }

    /// Says which of `slot_array`'s checks failed.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn bad_slot_array(&self, off: usize, stride: usize, count: u32, entry: usize) -> ! {
        assert!(
            count.is_power_of_two() && entry <= stride,
            "{count} slots of {stride} bytes cannot hold {entry}-byte entries"
        );
        self.check_range(off, (count as usize).saturating_mul(stride));
        panic!("slots of {stride} bytes at offset {off} are not all 4-byte aligned")
    }

    /// Copies `dst.len()` bytes out of shared memory starting at `off`.
    #[inline]
    pub fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout, and copy_out only writes
        // initialised bytes into it, so `dst` stays initialised.
        let dst = unsafe {
            core::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<MaybeUninit<u8>>(), dst.len())
        };
        self.check_range(off, dst.len());
        // SAFETY: the range was just checked; no alignment is promised.
        unsafe { self.copy_out::<false>(off, dst) }
    }

    /// Copies `src` into shared memory starting at `off`.
    #[inline]
    pub fn write_bytes(&self, off: usize, src: &[u8]) {
        self.check_range(off, src.len());
        // SAFETY: the range was just checked; no alignment is promised.
        unsafe { self.copy_in::<false>(off, src) }
    }

    /// Copies `dst.len()` bytes of packet or block data out of shared memory starting at `off`,
    /// 64 bits at a time. Memory read and written this way must not be accessed through the
    /// entry or byte copies as well (see the module comment).
    #[inline]
    pub fn read_data(&self, off: usize, dst: &mut [u8]) {
        // SAFETY: as in read_bytes.
        let dst = unsafe {
            core::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<MaybeUninit<u8>>(), dst.len())
        };
        self.check_range(off, dst.len());
        // SAFETY: the range was just checked.
        unsafe { self.bulk_out(off, dst) }
    }

    /// Copies packet or block data `src` into shared memory starting at `off`, 64 bits at a time
    /// (see [`read_data`](Self::read_data)).
    #[inline]
    pub fn write_data(&self, off: usize, src: &[u8]) {
        self.check_range(off, src.len());
        // SAFETY: the range was just checked.
        unsafe { self.bulk_in(off, src) }
    }

    /// Copies `len` bytes of data from `src` at `src_off` to this memory at `off`, as one
    /// [`read_data`](Self::read_data) of the source range followed by one
    /// [`write_data`](Self::write_data) of the destination range would, but without a bounce
    /// buffer when both ranges start at the same alignment modulo 8: then their splits into
    /// head bytes, words and tail bytes coincide, and each word moves with one atomic load and
    /// one atomic store (a backend copying from one guest's grant to another's). Otherwise the
    /// bytes go through a buffer of `len` (at most a page) on the stack.
    ///
    /// Panics if either range is outside its view or `len` exceeds a page.
    pub fn copy_from_shared(&self, off: usize, src: &SharedMem, src_off: usize, len: usize) {
        self.check_range(off, len);
        src.check_range(src_off, len);
        assert!(
            len <= PAGE_SIZE,
            "shared copy of {len} bytes exceeds a page"
        );
        // SAFETY: both ranges were just checked.
        let (dst_base, head, words) = unsafe { self.bulk_split(off, len) };
        // SAFETY: as above.
        let (src_base, src_head, _) = unsafe { src.bulk_split(src_off, len) };
        if head != src_head {
            let mut bounce = [0u8; PAGE_SIZE];
            src.read_data(src_off, &mut bounce[..len]);
            self.write_data(off, &bounce[..len]);
            return;
        }
        // SAFETY (all accesses below): byte and word `i` lie inside both checked ranges; words
        // start at `head`, where both bases are 8-byte aligned; both views are only accessed
        // atomically inside this program, with this same split (module comment).
        let byte = |i: usize| unsafe {
            let v = AtomicU8::from_ptr(src_base.add(i)).load(Ordering::Relaxed);
            AtomicU8::from_ptr(dst_base.add(i)).store(v, Ordering::Relaxed);
        };
        (0..head).for_each(byte);
        for w in 0..words {
            let i = head + w * 8;
            // SAFETY: see above.
            unsafe {
                let v = AtomicU64::from_ptr(src_base.add(i).cast()).load(Ordering::Relaxed);
                AtomicU64::from_ptr(dst_base.add(i).cast()).store(v, Ordering::Relaxed);
            }
        }
        (head + words * 8..len).for_each(byte);
    }

    #[inline]
    fn check_range(&self, off: usize, len: usize) {
        assert!(
            off.checked_add(len).is_some_and(|end| end <= self.len),
            "shared memory access {off}+{len} outside {} bytes",
            self.len
        );
    }

    #[inline]
    fn atomic_u32(&self, off: usize) -> &AtomicU32 {
        self.check_range(off, 4);
        assert!(
            (self.ptr.as_ptr() as usize + off).is_multiple_of(4),
            "misaligned shared index at {off}"
        );
        // SAFETY: just checked.
        unsafe { self.atomic_u32_unchecked(off) }
    }

    /// # Safety
    ///
    /// `off + 4 <= self.len` and `self.ptr + off` is 4-byte aligned.
    #[inline]
    unsafe fn atomic_u32_unchecked(&self, off: usize) -> &AtomicU32 {
        // SAFETY: `off + 4 <= len` (caller), so the pointer is inside the view.
        let p = unsafe { self.ptr.as_ptr().add(off) };
        // SAFETY: `p` is in bounds, 4-byte aligned (caller) and valid for reads and writes for
        // the life of `self` (contract of `new` / ownership by `SharedPages`); all accesses to
        // it inside this program are atomic, as `AtomicU32::from_ptr` requires.
        unsafe { AtomicU32::from_ptr(p.cast()) }
    }

    /// Copies `dst.len()` bytes from `off` as [`words_out`] does.
    ///
    /// # Safety
    ///
    /// `off + dst.len()` must not exceed `self.len`; if `ALIGNED`, `self.ptr + off` is 4-byte
    /// aligned.
    #[inline]
    unsafe fn copy_out<const ALIGNED: bool>(&self, off: usize, dst: &mut [MaybeUninit<u8>]) {
        // SAFETY: forwarded from the caller; the range lies inside the view.
        unsafe { words_out::<ALIGNED>(self.ptr.as_ptr().add(off), dst) }
    }

    /// Copies `src` to `off` as [`words_in`] does.
    ///
    /// # Safety
    ///
    /// As for [`copy_out`](Self::copy_out) with `src.len()`.
    #[inline]
    unsafe fn copy_in<const ALIGNED: bool>(&self, off: usize, src: &[u8]) {
        // SAFETY: forwarded from the caller; the range lies inside the view.
        unsafe { words_in::<ALIGNED>(self.ptr.as_ptr().add(off), src) }
    }

    /// Splits `off..off + len` for a bulk copy: `(base, head, words)` — `head` bytes up to the
    /// first 8-byte boundary, then `words` aligned 64-bit words, then the remaining bytes.
    ///
    /// # Safety
    ///
    /// `off + len` must not exceed `self.len`.
    #[inline]
    unsafe fn bulk_split(&self, off: usize, len: usize) -> (*mut u8, usize, usize) {
        // SAFETY: `off + len <= self.len` (caller), so the pointer is inside (or one past) the
        // view.
        let base = unsafe { self.ptr.as_ptr().add(off) };
        let head = (base.addr().wrapping_neg() % 8).min(len);
        (base, head, (len - head) / 8)
    }

    /// # Safety
    ///
    /// `off + dst.len()` must not exceed `self.len`.
    #[inline]
    unsafe fn bulk_out(&self, off: usize, dst: &mut [MaybeUninit<u8>]) {
        // SAFETY: forwarded from the caller.
        let (base, head, words) = unsafe { self.bulk_split(off, dst.len()) };
        let out = dst.as_mut_ptr().cast::<u8>();
        let byte = |i: usize| {
            // SAFETY: byte i lies in bounds (caller's guarantee) and is only accessed atomically
            // inside this program (contract of the view).
            unsafe { AtomicU8::from_ptr(base.add(i)) }.load(Ordering::Relaxed)
        };
        for i in 0..head {
            // SAFETY: i < dst.len(), which we may write.
            unsafe { out.add(i).write(byte(i)) };
        }
        for w in 0..words {
            let i = head + w * 8;
            // SAFETY: bytes i..i+8 lie in bounds, `base + head` is 8-byte aligned so this word
            // is too, and it is only accessed atomically inside this program.
            let v = unsafe { AtomicU64::from_ptr(base.add(i).cast()) }.load(Ordering::Relaxed);
            // SAFETY: i + 8 <= dst.len(); write_unaligned has no alignment requirement.
            unsafe { out.add(i).cast::<u64>().write_unaligned(v) };
        }
        for i in head + words * 8..dst.len() {
            // SAFETY: i < dst.len(), which we may write.
            unsafe { out.add(i).write(byte(i)) };
        }
    }

    /// # Safety
    ///
    /// `off + src.len()` must not exceed `self.len`.
    #[inline]
    unsafe fn bulk_in(&self, off: usize, src: &[u8]) {
        // SAFETY: forwarded from the caller.
        let (base, head, words) = unsafe { self.bulk_split(off, src.len()) };
        let byte = |i: usize| {
            // SAFETY: as in bulk_out.
            unsafe { AtomicU8::from_ptr(base.add(i)) }.store(src[i], Ordering::Relaxed)
        };
        (0..head).for_each(byte);
        for w in 0..words {
            let i = head + w * 8;
            // SAFETY: bytes i..i+8 are inside `src`.
            let v = unsafe { src.as_ptr().add(i).cast::<u64>().read_unaligned() };
            // SAFETY: as in bulk_out.
            unsafe { AtomicU64::from_ptr(base.add(i).cast()) }.store(v, Ordering::Relaxed);
        }
        (head + words * 8..src.len()).for_each(byte);
    }
}

/// A ring's slot area inside a [`SharedMem`]: `count` (a power of two) 4-byte aligned slots of
/// `stride` bytes, each holding a `T`, made by [`SharedMem::slot_array`] once the whole area was
/// checked to lie inside the view. A ring index is masked to a slot, so no entry access needs a
/// check, and entries are copied as whole words with no per-address alignment test.
///
/// It is `Copy` and holds the slots' address rather than the view: a ring copies a batch of
/// entries through a local `SlotArray`, which the compiler keeps in registers. (Fields reached
/// through a reference would be reloaded after every entry, because the compiler must assume
/// that an atomic store into shared memory may have changed them.)
pub struct SlotArray<'a, T> {
    /// The first slot; `count * stride` bytes from here lie inside the view.
    base: NonNull<u8>,
    stride: usize,
    /// `count - 1`.
    mask: u32,
    _mem: PhantomData<&'a SharedMem>,
    _entry: PhantomData<fn(T) -> T>,
}

impl<T> Clone for SlotArray<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SlotArray<'_, T> {}

impl<T> fmt::Debug for SlotArray<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotArray")
            .field("base", &self.base)
            .field("stride", &self.stride)
            .field("slots", &(self.mask as u64 + 1))
            .finish()
    }
}

impl<T> SlotArray<'_, T> {
    /// Address of the slot of ring index `index`.
    #[inline]
    fn slot(self, index: u32) -> *mut u8 {
        let slot = (index & self.mask) as usize;
        // SAFETY: slot < count, and the `count * stride` bytes from `base` lie inside the view
        // (checked by `SharedMem::slot_array`), so the slot's start does too.
        unsafe { self.base.as_ptr().add(slot * self.stride) }
    }

    /// Copies the entry at ring index `index` (free-running: the slot is `index` modulo the
    /// number of slots) out of shared memory, once; see [`SharedMem::read`].
    #[inline]
    pub fn read(self, index: u32) -> T
    where
        T: FromBytes,
    {
        // SAFETY: the slot lies inside the view and holds a whole `T` (`slot_array` checked
        // `size_of::<T>() <= stride`); it is 4-byte aligned, as `slot_array` checked the first
        // slot is and the stride is a multiple of 4.
        unsafe { read_entry::<T, true>(self.slot(index)) }
    }

    /// Copies `v` into the slot of ring index `index`.
    #[inline]
    pub fn write(self, index: u32, v: &T)
    where
        T: IntoBytes + Immutable,
    {
        // SAFETY: as in read.
        unsafe { write_entry::<T, true>(self.slot(index), v) }
    }
}

/// Copies a `T` out of shared memory at `src`, as [`words_out`] does.
///
/// # Safety
///
/// As for [`words_out`] with `size_of::<T>()` bytes.
#[inline]
unsafe fn read_entry<T: FromBytes, const ALIGNED: bool>(src: *mut u8) -> T {
    let mut out = MaybeUninit::<T>::uninit();
    // SAFETY: `out` is a local of size_of::<T>() bytes, valid for writes; viewing it as
    // `MaybeUninit<u8>` makes no claim about its contents.
    let dst = unsafe {
        core::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<MaybeUninit<u8>>(), size_of::<T>())
    };
    // SAFETY: forwarded from the caller.
    unsafe { words_out::<ALIGNED>(src, dst) };
    // SAFETY: words_out initialised all size_of::<T>() bytes, and T: FromBytes accepts any
    // initialised bytes.
    unsafe { out.assume_init() }
}

/// A value copied into a word-aligned local.
#[repr(C, align(4))]
struct WordAligned<T>(ManuallyDrop<T>);

/// Copies `v` into shared memory at `dst`, as [`words_in`] does.
///
/// # Safety
///
/// As for [`words_in`] with `size_of::<T>()` bytes.
#[inline]
unsafe fn write_entry<T: IntoBytes + Immutable, const ALIGNED: bool>(dst: *mut u8, v: &T) {
    // Stage the value in a word-aligned local with one whole-value copy before the word-wise
    // stores. Reading `v` word by word directly would load words that straddle its fields (e.g.
    // two u16 just written to the stack), which the CPU cannot forward from the pending stores;
    // a whole-value copy lets the compiler build the words in registers.
    // SAFETY: `v` is a valid, aligned `T`. The bitwise copy is never dropped (ManuallyDrop) and
    // only its bytes are read, so it takes over no ownership; `T: Immutable` has no interior
    // mutability through which the two could differ.
    let staged = WordAligned(ManuallyDrop::new(unsafe { core::ptr::read(v) }));
    // SAFETY: forwarded from the caller.
    unsafe { words_in::<ALIGNED>(dst, staged.0.as_bytes()) }
}

/// How many whole 4-byte words a copy of `len` bytes at `base` moves before its trailing bytes:
/// none if `base` is not 4-byte aligned. Both directions of copy use the same split, so the two
/// sides of a ring access each slot with atomics of the same size. `ALIGNED` says the caller
/// knows `base` is aligned, which lets the compiler drop the byte-wise path.
#[inline]
fn word_count<const ALIGNED: bool>(base: *mut u8, len: usize) -> usize {
    if ALIGNED || base.cast::<u32>().is_aligned() {
        len / 4
    } else {
        0
    }
}

/// Copies `dst.len()` bytes out of shared memory at `src`: Relaxed 32-bit atomic loads where
/// `src` is 4-byte aligned, then (or otherwise only) byte loads.
///
/// # Safety
///
/// `src..src + dst.len()` must lie inside a [`SharedMem`] view (whose memory is valid and only
/// accessed atomically inside this program); if `ALIGNED`, `src` must be 4-byte aligned.
#[inline]
unsafe fn words_out<const ALIGNED: bool>(src: *mut u8, dst: &mut [MaybeUninit<u8>]) {
    let words = word_count::<ALIGNED>(src, dst.len());
    let out = dst.as_mut_ptr().cast::<u8>();
    for i in 0..words {
        // SAFETY: word i lies in bounds (caller's guarantee), is 4-byte aligned, and is only
        // accessed atomically inside this program (contract of the view).
        let v = unsafe { AtomicU32::from_ptr(src.add(i * 4).cast()) }.load(Ordering::Relaxed);
        // SAFETY: bytes i*4..i*4+4 are inside `dst` (words * 4 <= dst.len()), which we may
        // write; write_unaligned has no alignment requirement.
        unsafe { out.add(i * 4).cast::<u32>().write_unaligned(v) };
    }
    for (i, d) in dst.iter_mut().enumerate().skip(words * 4) {
        // SAFETY: the byte lies in bounds and is only accessed atomically in this program.
        let v = unsafe { AtomicU8::from_ptr(src.add(i)) }.load(Ordering::Relaxed);
        d.write(v);
    }
}

/// Copies `src` into shared memory at `dst`, split as [`words_out`] splits it.
///
/// # Safety
///
/// As for [`words_out`], for `dst..dst + src.len()`.
#[inline]
unsafe fn words_in<const ALIGNED: bool>(dst: *mut u8, src: &[u8]) {
    let words = word_count::<ALIGNED>(dst, src.len());
    for i in 0..words {
        // SAFETY: bytes i*4..i*4+4 are inside `src` (words * 4 <= src.len()).
        let v = unsafe { src.as_ptr().add(i * 4).cast::<u32>().read_unaligned() };
        // SAFETY: as in words_out.
        unsafe { AtomicU32::from_ptr(dst.add(i * 4).cast()) }.store(v, Ordering::Relaxed);
    }
    for (i, &b) in src.iter().enumerate().skip(words * 4) {
        // SAFETY: as in words_out.
        unsafe { AtomicU8::from_ptr(dst.add(i)) }.store(b, Ordering::Relaxed);
    }
}

/// Allocation failure for [`SharedPages`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageAllocError {
    /// Number of pages asked for.
    pub pages: usize,
}

impl fmt::Display for PageAllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot allocate {} zeroed shared page(s)", self.pages)
    }
}

/// An owned, zeroed, page-aligned allocation of whole pages, to be shared with a peer (ring pages
/// that a home allocates itself, the sim, tests). Freed when the last view of it is dropped.
#[derive(Clone, Debug)]
pub struct SharedPages {
    alloc: Arc<PageAlloc>,
}

#[derive(Debug)]
struct PageAlloc {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: PageAlloc only owns the allocation and frees it on drop; the memory itself is accessed
// only through SharedMem views, which are atomic (see SharedMem's Send/Sync).
unsafe impl Send for PageAlloc {}
// SAFETY: as for Send; `&PageAlloc` gives no access to the memory.
unsafe impl Sync for PageAlloc {}

impl Drop for PageAlloc {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed(self.layout)` and is freed only here, once.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

impl SharedPages {
    /// Allocates `pages` zeroed pages aligned to [`PAGE_SIZE`].
    pub fn new(pages: usize) -> Result<Self, PageAllocError> {
        let err = PageAllocError { pages };
        let size = pages.checked_mul(PAGE_SIZE).ok_or(err)?;
        if size == 0 {
            return Err(err);
        }
        let layout = Layout::from_size_align(size, PAGE_SIZE).map_err(|_| err)?;
        // SAFETY: `layout` has a non-zero size.
        let ptr = NonNull::new(unsafe { alloc_zeroed(layout) }).ok_or(err)?;
        Ok(Self {
            alloc: Arc::new(PageAlloc { ptr, layout }),
        })
    }

    /// Number of pages.
    pub fn pages(&self) -> usize {
        self.alloc.layout.size() / PAGE_SIZE
    }

    /// A view of all the pages; it keeps them alive.
    pub fn mem(&self) -> SharedMem {
        SharedMem {
            ptr: self.alloc.ptr,
            len: self.alloc.layout.size(),
            _owner: Some(self.alloc.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::vec;
    use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

    #[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, PartialEq, Eq)]
    #[repr(C)]
    struct Pair {
        a: u32,
        b: u16,
        c: u16,
    }

    #[test]
    fn pages_are_zeroed_aligned_and_sized() {
        let pages = SharedPages::new(2).unwrap();
        let mem = pages.mem();
        assert_eq!(pages.pages(), 2);
        assert_eq!(mem.len(), 2 * PAGE_SIZE);
        assert_eq!(mem.as_ptr().as_ptr() as usize % PAGE_SIZE, 0);
        let mut buf = vec![0xffu8; mem.len()];
        mem.read_bytes(0, &mut buf);
        assert!(buf.iter().all(|&b| b == 0));
    }

    #[test]
    fn zero_pages_is_an_error() {
        assert_eq!(
            SharedPages::new(0).unwrap_err(),
            PageAllocError { pages: 0 }
        );
        assert!(SharedPages::new(usize::MAX).is_err());
    }

    #[test]
    fn typed_and_byte_copies_round_trip_at_any_alignment() {
        let pages = SharedPages::new(1).unwrap();
        let mem = pages.mem();
        let p = Pair {
            a: 0x1122_3344,
            b: 0x5566,
            c: 0x7788,
        };
        // Each case gets its own 64 bytes: overlapping atomics of different sizes are not
        // allowed (see the module comment).
        for (i, misalign) in [0, 1, 2, 3, 4].into_iter().enumerate() {
            let off = i * 64 + misalign;
            mem.write(off, &p);
            assert_eq!(mem.read::<Pair>(off), p, "offset {off}");
        }
        mem.write(PAGE_SIZE - 8, &p);
        assert_eq!(mem.read::<Pair>(PAGE_SIZE - 8), p);
        let src: [u8; 11] = core::array::from_fn(|i| i as u8 + 1);
        for off in [1024, 1024 + 64 + 5, PAGE_SIZE - 64 - 11] {
            mem.write_bytes(off, &src);
            let mut dst = [0u8; 11];
            mem.read_bytes(off, &mut dst);
            assert_eq!(dst, src, "offset {off}");
        }
        // Typed and byte views agree on layout.
        mem.write(2048, &p);
        let mut raw = [0u8; 8];
        mem.read_bytes(2048, &mut raw);
        assert_eq!(raw, *p.as_bytes());
    }

    /// Data copies split into head bytes, 64-bit words and tail bytes by address: every start
    /// alignment and every length around a word boundary lands each byte where it belongs and
    /// leaves its neighbours alone. Each case has its own bytes, read back with the same split
    /// as written (see the module comment on mixing access sizes).
    #[test]
    fn data_copies_are_exact_at_every_alignment_and_length() {
        let pages = SharedPages::new(4).unwrap();
        let mem = pages.mem();
        let src: vec::Vec<u8> = (0..40u8)
            .map(|b| b.wrapping_mul(7).wrapping_add(1))
            .collect();
        let mut area = 0;
        for misalign in 0..8 {
            for len in 0..=25 {
                let off = area * 64 + 16 + misalign;
                area += 1;
                mem.write_data(off, &src[..len]);
                let mut back = vec![0xeeu8; len];
                mem.read_data(off, &mut back);
                assert_eq!(back, &src[..len], "{misalign}+{len}");
                let (mut before, mut after) = ([0xeeu8; 8], [0xeeu8; 8]);
                mem.read_data(off - 8, &mut before);
                mem.read_data(off + len, &mut after);
                assert_eq!((before, after), ([0; 8], [0; 8]), "{misalign}+{len}");
            }
        }
    }

    #[test]
    fn sub_views_address_the_same_memory() {
        let pages = SharedPages::new(1).unwrap();
        let mem = pages.mem();
        let sub = mem.sub(100, 20);
        assert_eq!(sub.len(), 20);
        sub.write(4, &0x0102_0304u32);
        assert_eq!(mem.read::<u32>(104), 0x0102_0304);
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn sub_view_out_of_range_is_caught() {
        let pages = SharedPages::new(1).unwrap();
        pages.mem().sub(4000, 97);
    }

    #[test]
    fn indices_round_trip() {
        let pages = SharedPages::new(1).unwrap();
        let mem = pages.mem();
        mem.store_u32_release(12, 0xdead_beef);
        assert_eq!(mem.load_u32_acquire(12), 0xdead_beef);
        assert_eq!(mem.read::<u32>(12), 0xdead_beef);
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn out_of_range_access_is_caught() {
        let pages = SharedPages::new(1).unwrap();
        pages.mem().read::<u64>(PAGE_SIZE - 4);
    }

    #[test]
    #[should_panic(expected = "misaligned")]
    fn misaligned_index_is_caught() {
        let pages = SharedPages::new(1).unwrap();
        pages.mem().load_u32_acquire(2);
    }

    #[test]
    fn view_keeps_pages_alive_after_owner_dropped() {
        let mem = SharedPages::new(1).unwrap().mem();
        mem.write(0, &7u64);
        assert_eq!(mem.read::<u64>(0), 7);
    }

    /// A producer thread publishes entries with Release; a consumer reading them after an
    /// Acquire load sees them whole. A third thread scribbles on another region concurrently
    /// (a hostile peer), which must be harmless: Miri checks there is no data race.
    #[test]
    fn message_passing_between_threads() {
        const N: u32 = 20;
        let pages = SharedPages::new(1).unwrap();
        let (prod, cons, evil) = (pages.mem(), pages.mem(), pages.mem());
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..N {
                    prod.write(
                        64 + 8 * i as usize,
                        &Pair {
                            a: i,
                            b: i as u16,
                            c: !(i as u16),
                        },
                    );
                    prod.store_u32_release(0, i + 1);
                }
            });
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    evil.write_bytes(1024, &[0xa5; 13]);
                    std::thread::yield_now();
                }
            });
            let mut seen = 0;
            while seen < N {
                let prod_idx = cons.load_u32_acquire(0);
                while seen < prod_idx {
                    let p: Pair = cons.read(64 + 8 * seen as usize);
                    assert_eq!(
                        p,
                        Pair {
                            a: seen,
                            b: seen as u16,
                            c: !(seen as u16)
                        }
                    );
                    seen += 1;
                }
                let mut junk = [0u8; 13];
                cons.read_bytes(1024, &mut junk);
                std::thread::yield_now();
            }
            stop.store(true, Ordering::Relaxed);
        });
    }

    /// Shared-to-shared copies land every byte where it belongs at matching and mismatched
    /// alignments (word path and bounce path), and touch nothing around the range. Each case
    /// has fresh pages, written and read back with the same split as the copy uses (see the
    /// module comment on mixing access sizes).
    #[test]
    fn shmem_shared_to_shared_copies_are_exact() {
        let data: vec::Vec<u8> = (0..PAGE_SIZE).map(|i| (i * 7 + 3) as u8).collect();
        // (src_off, dst_off, len): same alignment, different alignment, whole page, empty.
        for (k, &(s, d, len)) in [(3, 11, 29), (5, 2, 21), (0, 0, PAGE_SIZE), (9, 9, 0)]
            .iter()
            .enumerate()
        {
            let a = SharedPages::new(1).unwrap().mem();
            let b = SharedPages::new(1).unwrap().mem();
            a.write_data(s, &data[s..s + len]);
            b.copy_from_shared(d, &a, s, len);
            let mut out = vec![0xeeu8; len];
            b.read_data(d, &mut out);
            assert_eq!(out, &data[s..s + len], "case {k}");
            let mut around = vec![0xeeu8; d];
            b.read_data(0, &mut around);
            assert!(around.iter().all(|&x| x == 0), "case {k}: before");
            let mut around = vec![0xeeu8; PAGE_SIZE - d - len];
            b.read_data(d + len, &mut around);
            assert!(around.iter().all(|&x| x == 0), "case {k}: after");
        }
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn shmem_shared_copy_past_the_source_is_caught() {
        let a = SharedPages::new(1).unwrap().mem();
        let b = SharedPages::new(1).unwrap().mem();
        b.copy_from_shared(0, &a, PAGE_SIZE - 4, 8);
    }

    /// A slot array reduces free-running ring indices to slots (wrapping at u32::MAX) and puts
    /// each entry where a plain typed copy at the slot's offset finds it.
    #[test]
    fn slot_arrays_mask_indices_to_slots() {
        let pages = SharedPages::new(1).unwrap();
        let mem = pages.mem();
        let pair = |i: u32| Pair {
            a: i,
            b: i as u16 ^ 0x5a5a,
            c: !(i as u16),
        };
        // (offset, stride): slots wider than the entry, then exactly as wide.
        for (off, stride) in [(64, 12), (1024, 8)] {
            let slots = mem.slot_array::<Pair>(off, stride, 4);
            for index in [5, 6, u32::MAX, 0] {
                slots.write(index, &pair(index));
            }
            for (slot, index) in [(1, 5), (2, 6), (3, u32::MAX), (0, 0)] {
                assert_eq!(
                    mem.read::<Pair>(off + slot * stride),
                    pair(index),
                    "{off}/{slot}"
                );
                // The same slot through a different index of the same residue.
                let again = slots.read(index.wrapping_add(8));
                assert_eq!(again, pair(index), "{off}/{slot}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn slot_array_past_the_view_is_caught() {
        let pages = SharedPages::new(1).unwrap();
        pages.mem().slot_array::<Pair>(64, 12, 512);
    }

    #[test]
    #[should_panic(expected = "not all 4-byte aligned")]
    fn misaligned_slot_array_is_caught() {
        let pages = SharedPages::new(1).unwrap();
        pages.mem().slot_array::<Pair>(64, 10, 4);
    }

    #[test]
    #[should_panic(expected = "cannot hold 8-byte entries")]
    fn slot_array_too_narrow_for_its_entries_is_caught() {
        let pages = SharedPages::new(1).unwrap();
        pages.mem().slot_array::<Pair>(64, 4, 8);
    }

    #[test]
    #[should_panic(expected = "cannot hold")]
    fn slot_array_of_non_power_of_two_slots_is_caught() {
        let pages = SharedPages::new(1).unwrap();
        pages.mem().slot_array::<Pair>(64, 8, 6);
    }
}
