//! `FILE_OBJECT` (the kernel's side of a handle) and the IRP parameters of the requests a handle
//! brings: IRP_MJ_CREATE / CLEANUP / CLOSE and IRP_MJ_DEVICE_CONTROL.

use core::ffi::c_void;
use core::mem::{offset_of, size_of};

use crate::irp::IoStackLocation;
use crate::userio::guid::Guid;

/// `FILE_OBJECT`: the fields up to `FsContext2` are spelled out; a driver of a device (not a file
/// system) may keep its per-handle context in `FsContext`. The kernel allocates it; drivers only
/// reach it through `IO_STACK_LOCATION.FileObject`.
#[repr(C)]
pub struct FileObject {
    pub type_: i16,
    pub size: i16,
    pub device_object: *mut c_void,
    pub vpb: *mut c_void,
    pub fs_context: *mut c_void,
    pub fs_context2: *mut c_void,
}

const _: () = assert!(offset_of!(FileObject, device_object) == 0x8);
const _: () = assert!(offset_of!(FileObject, fs_context) == 0x18);
const _: () = assert!(offset_of!(FileObject, fs_context2) == 0x20);

/// `Parameters.DeviceIoControl`: `OutputBufferLength`, then (each `POINTER_ALIGNMENT`, 8 on x64)
/// `InputBufferLength`, `IoControlCode`, `Type3InputBuffer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceIoControl {
    pub output_buffer_length: u32,
    pub input_buffer_length: u32,
    pub io_control_code: u32,
}

/// Offsets of the DeviceIoControl members inside `Parameters`.
pub const DEVICE_IO_CONTROL_OUTPUT_LENGTH: usize = 0;
pub const DEVICE_IO_CONTROL_INPUT_LENGTH: usize = 8;
pub const DEVICE_IO_CONTROL_CODE: usize = 16;

/// `Parameters.QueryInterface`: `InterfaceType`, `Size`, `Version`, `Interface`,
/// `InterfaceSpecificData`.
pub const QUERY_INTERFACE_TYPE: usize = 0;
pub const QUERY_INTERFACE_SIZE: usize = 8;
pub const QUERY_INTERFACE_VERSION: usize = 10;
pub const QUERY_INTERFACE_INTERFACE: usize = 16;
pub const QUERY_INTERFACE_SPECIFIC_DATA: usize = 24;

const _: () = assert!(size_of::<[usize; 4]>() == 32);

impl IoStackLocation {
    fn parameter_bytes(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for (i, word) in self.parameters.iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&word.to_le_bytes());
        }
        b
    }

    fn parameter_u32(&self, offset: usize) -> u32 {
        let b = self.parameter_bytes();
        u32::from_le_bytes([b[offset], b[offset + 1], b[offset + 2], b[offset + 3]])
    }

    /// The parameters of an IRP_MJ_DEVICE_CONTROL.
    pub fn device_io_control(&self) -> DeviceIoControl {
        DeviceIoControl {
            output_buffer_length: self.parameter_u32(DEVICE_IO_CONTROL_OUTPUT_LENGTH),
            input_buffer_length: self.parameter_u32(DEVICE_IO_CONTROL_INPUT_LENGTH),
            io_control_code: self.parameter_u32(DEVICE_IO_CONTROL_CODE),
        }
    }

    /// Fills in the parameters of an IRP_MN_QUERY_INTERFACE.
    pub fn set_query_interface(
        &mut self,
        interface_type: *const Guid,
        size: u16,
        version: u16,
        interface: *mut c_void,
    ) {
        self.parameters = [
            interface_type as usize,
            usize::from(size) | (usize::from(version) << 16),
            interface as usize,
            0,
        ];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location() -> IoStackLocation {
        // SAFETY: all-zero bytes are a valid IO_STACK_LOCATION (null pointers, no routine).
        unsafe { core::mem::zeroed() }
    }

    #[test]
    fn device_io_control_reads_each_member_from_its_slot() {
        let mut l = location();
        // High halves are padding the kernel may leave dirty: they must not leak in.
        l.parameters = [0xdead_0000_0000_0010, 0xbeef_0000_0000_0020, 0x0022_6000, 0];
        assert_eq!(
            l.device_io_control(),
            DeviceIoControl {
                output_buffer_length: 0x10,
                input_buffer_length: 0x20,
                io_control_code: 0x0022_6000,
            }
        );
    }

    #[test]
    fn query_interface_packs_size_and_version_into_the_second_word() {
        let mut l = location();
        let guid = Guid {
            data1: 1,
            data2: 2,
            data3: 3,
            data4: [4; 8],
        };
        l.set_query_interface(&guid, 0xb0, 1, core::ptr::without_provenance_mut(0x1000));
        let b = l.parameter_bytes();
        assert_eq!(l.parameters[0], &guid as *const Guid as usize);
        assert_eq!(
            &b[QUERY_INTERFACE_SIZE..QUERY_INTERFACE_SIZE + 2],
            &[0xb0, 0]
        );
        assert_eq!(
            &b[QUERY_INTERFACE_VERSION..QUERY_INTERFACE_VERSION + 2],
            &[1, 0]
        );
        assert_eq!(l.parameters[2], 0x1000);
        assert_eq!(l.parameters[3], 0);
    }
}
