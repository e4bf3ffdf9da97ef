//! `NTSTATUS` values the drivers return or test (ntstatus.h; also mingw-w64 `include/ntstatus.h`).

/// An `NTSTATUS`: negative values (severity bits 11) are errors.
pub type NtStatus = i32;

pub const STATUS_SUCCESS: NtStatus = 0;
pub const STATUS_PENDING: NtStatus = 0x0000_0103;
pub const STATUS_UNSUCCESSFUL: NtStatus = 0xC000_0001_u32 as NtStatus;
pub const STATUS_NO_SUCH_DEVICE: NtStatus = 0xC000_000E_u32 as NtStatus;
pub const STATUS_MORE_PROCESSING_REQUIRED: NtStatus = 0xC000_0016_u32 as NtStatus;
pub const STATUS_DELETE_PENDING: NtStatus = 0xC000_0056_u32 as NtStatus;
pub const STATUS_INSUFFICIENT_RESOURCES: NtStatus = 0xC000_009A_u32 as NtStatus;
pub const STATUS_DEVICE_NOT_READY: NtStatus = 0xC000_00A3_u32 as NtStatus;
pub const STATUS_NOT_SUPPORTED: NtStatus = 0xC000_00BB_u32 as NtStatus;
pub const STATUS_DEVICE_CONFIGURATION_ERROR: NtStatus = 0xC000_0182_u32 as NtStatus;
// What XENIFACE answers user space with.
pub const STATUS_BUFFER_OVERFLOW: NtStatus = 0x8000_0005_u32 as NtStatus;
pub const STATUS_DEVICE_BUSY: NtStatus = 0x8000_0011_u32 as NtStatus;
pub const STATUS_NOT_IMPLEMENTED: NtStatus = 0xC000_0002_u32 as NtStatus;
pub const STATUS_INVALID_HANDLE: NtStatus = 0xC000_0008_u32 as NtStatus;
pub const STATUS_INVALID_PARAMETER: NtStatus = 0xC000_000D_u32 as NtStatus;
pub const STATUS_INVALID_DEVICE_REQUEST: NtStatus = 0xC000_0010_u32 as NtStatus;
pub const STATUS_ACCESS_DENIED: NtStatus = 0xC000_0022_u32 as NtStatus;
pub const STATUS_BUFFER_TOO_SMALL: NtStatus = 0xC000_0023_u32 as NtStatus;
pub const STATUS_OBJECT_NAME_NOT_FOUND: NtStatus = 0xC000_0034_u32 as NtStatus;
pub const STATUS_OBJECT_NAME_COLLISION: NtStatus = 0xC000_0035_u32 as NtStatus;
pub const STATUS_QUOTA_EXCEEDED: NtStatus = 0xC000_0044_u32 as NtStatus;
pub const STATUS_DIRECTORY_NOT_EMPTY: NtStatus = 0xC000_0101_u32 as NtStatus;
pub const STATUS_CANCELLED: NtStatus = 0xC000_0120_u32 as NtStatus;
pub const STATUS_IO_DEVICE_ERROR: NtStatus = 0xC000_0185_u32 as NtStatus;
pub const STATUS_RETRY: NtStatus = 0xC000_022D_u32 as NtStatus;
pub const STATUS_NOT_FOUND: NtStatus = 0xC000_0225_u32 as NtStatus;

/// `NT_SUCCESS()`: success and informational codes are non-negative.
pub const fn nt_success(status: NtStatus) -> bool {
    status >= 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_not_success_but_pending_is() {
        assert!(nt_success(STATUS_SUCCESS));
        assert!(nt_success(STATUS_PENDING));
        assert!(!nt_success(STATUS_UNSUCCESSFUL));
        assert!(!nt_success(STATUS_MORE_PROCESSING_REQUIRED));
        assert!(!nt_success(STATUS_DELETE_PENDING));
    }
}
