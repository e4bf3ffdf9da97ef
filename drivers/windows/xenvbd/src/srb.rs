//! SRB memory as xenpv-winvbd reads it: the request block, its data buffer and its sense buffer
//! as byte slices, and completion back to storport.

use core::ffi::c_void;
use core::ptr::NonNull;

use xenpv_ddk::storport::imports::request_complete;
use xenpv_winvbd::miniport::Finished;
use xenpv_winvbd::srb::{srb_len, Outcome, SrbInfo, SRB_HEAD};

/// An SRB's data buffer (storport maps every buffer: `DataBuffer` is a system address, valid
/// until the SRB is completed).
#[derive(Debug)]
pub struct SrbBuffer {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the buffer belongs to one SRB, which is handled by one CPU at a time (under the
// adapter's lock once submitted); only this value refers to it.
unsafe impl Send for SrbBuffer {}

impl AsRef<[u8]> for SrbBuffer {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr..ptr+len` is the SRB's mapped buffer (see `buffer`), alive until the SRB
        // completes, which happens only after this value is handed back.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl AsMut<[u8]> for SrbBuffer {
    fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `as_ref`; this value is the only reference to the buffer.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

/// The request block at `srb` as bytes, or `None` if its head says it is malformed.
///
/// # Safety
/// `srb` is an SRB storport handed to this miniport and not yet completed.
pub unsafe fn image<'a>(srb: *mut c_void) -> Option<&'a mut [u8]> {
    let bytes = srb.cast::<u8>();
    // SAFETY: every request block is at least SRB_HEAD bytes long (both formats' fixed parts
    // are larger), and `srb_len` bounds the rest by what the block itself declares.
    unsafe {
        let len = srb_len(core::slice::from_raw_parts(bytes, SRB_HEAD)).ok()?;
        Some(core::slice::from_raw_parts_mut(bytes, len))
    }
}

/// The data buffer `info` describes, if it has one.
///
/// # Safety
/// `info` was read from an SRB that is not yet completed.
pub unsafe fn buffer(info: &SrbInfo) -> Option<SrbBuffer> {
    let ptr = NonNull::new(info.data_buffer as *mut u8)?;
    (info.data_transfer_length > 0).then_some(SrbBuffer {
        ptr,
        len: info.data_transfer_length as usize,
    })
}

/// Writes `outcome` into the SRB at `srb` and completes it.
///
/// # Safety
/// `srb` is an SRB storport handed to this miniport and not yet completed; `extension` is the
/// adapter's device extension.
pub unsafe fn finish(extension: *mut c_void, srb: *mut c_void, outcome: &Outcome) {
    // SAFETY: the caller's promise; the sense buffer is the SRB's, `sense_len` bytes.
    unsafe {
        if let Some(image) = image(srb) {
            if let Ok(info) = SrbInfo::parse(image) {
                let sense: &mut [u8] = match NonNull::new(info.sense_buffer as *mut u8) {
                    Some(p) => core::slice::from_raw_parts_mut(p.as_ptr(), info.sense_len.into()),
                    None => &mut [],
                };
                outcome.write(&info, image, sense);
            }
        }
        request_complete(extension, srb);
    }
}

/// Completes a request the miniport finished.
///
/// # Safety
/// As [`finish`]; `done.handle` is the SRB's address.
pub unsafe fn complete(extension: *mut c_void, done: Finished<SrbBuffer>) {
    // SAFETY: the caller's promise.
    unsafe { finish(extension, done.handle as *mut c_void, &done.outcome) }
}
