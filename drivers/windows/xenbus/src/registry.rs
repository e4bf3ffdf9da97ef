//! XENBUS's registry settings, read once in DriverEntry from the service key's `Parameters`.

use alloc::vec::Vec;
use core::ffi::c_void;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicU16, Ordering};

use xenpv_ddk::registry::*;
use xenpv_ddk::status::nt_success;
use xenpv_ddk::string::UnicodeString;
use xenpv_xenbus_core::settings::{unplug_mask, UNPLUG_DISKS, UNPLUG_NICS};

/// The emulated devices to unplug at start (`xenpv_xen::unplug::UNPLUG_*`).
static UNPLUG: AtomicU16 = AtomicU16::new(0);

pub fn unplug() -> u16 {
    UNPLUG.load(Ordering::Relaxed)
}

fn utf16(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

/// A counted string over `text` (which must outlive its use).
fn counted(text: &mut [u16]) -> UnicodeString {
    // A longer string is cut at the largest even byte count (registry paths are far shorter).
    let bytes = u16::try_from(text.len() * 2).unwrap_or(0xfffe);
    UnicodeString {
        length: bytes,
        maximum_length: bytes,
        buffer: text.as_mut_ptr(),
    }
}

/// Reads the settings under `service\Parameters`; a missing key or value keeps the defaults.
///
/// # Safety
/// `service` is DriverEntry's registry path; PASSIVE_LEVEL.
pub unsafe fn read(service: *const UnicodeString) {
    // SAFETY: the caller's promise.
    let values = unsafe { read_dwords(service, &[UNPLUG_DISKS, UNPLUG_NICS]) };
    UNPLUG.store(unplug_mask(values[0], values[1]), Ordering::Relaxed);
}

/// # Safety
/// As for [`read`].
unsafe fn read_dwords<const N: usize>(
    service: *const UnicodeString,
    names: &[&str; N],
) -> [Option<u32>; N] {
    let mut out = [None; N];
    // SAFETY: the caller's promise: a valid counted string.
    let service = unsafe {
        let s = &*service;
        if s.buffer.is_null() {
            return out;
        }
        core::slice::from_raw_parts(s.buffer, usize::from(s.length) / 2)
    };
    let mut path: Vec<u16> = service.to_vec();
    path.extend(utf16("\\Parameters"));
    let mut path_us = counted(&mut path);
    let mut attributes = ObjectAttributes {
        length: core::mem::size_of::<ObjectAttributes>() as u32,
        root_directory: null_mut(),
        object_name: &mut path_us,
        attributes: OBJ_CASE_INSENSITIVE | OBJ_KERNEL_HANDLE,
        security_descriptor: null_mut(),
        security_quality_of_service: null_mut(),
    };
    let mut key: *mut c_void = null_mut();
    // SAFETY: arguments as documented, all alive for the call.
    if !nt_success(unsafe { ZwOpenKey(&mut key, KEY_READ, &mut attributes) }) {
        return out;
    }
    for (slot, name) in out.iter_mut().zip(names) {
        let mut name = utf16(name);
        let mut name_us = counted(&mut name);
        let mut answer = [0u8; KEY_VALUE_PARTIAL_DATA_OFFSET + 4];
        let mut len = 0u32;
        // SAFETY: the key is open; the buffer is ours with its length.
        let status = unsafe {
            ZwQueryValueKey(
                key,
                &mut name_us,
                KEY_VALUE_PARTIAL_INFORMATION,
                answer.as_mut_ptr().cast(),
                answer.len() as u32,
                &mut len,
            )
        };
        if nt_success(status) {
            *slot = partial_dword(answer.get(..len as usize).unwrap_or(&answer));
        }
    }
    // SAFETY: opened above.
    unsafe { ZwClose(key) };
    out
}
