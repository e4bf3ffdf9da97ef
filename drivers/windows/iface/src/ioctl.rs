//! The IOCTL codes of the XENIFACE device interface and the interface's GUID.
//!
//! Codes are built as devioctl.h's `CTL_CODE(DeviceType, Function, Method, Access)` does:
//! `DeviceType << 16 | Access << 14 | Function << 2 | Method`. Function numbers from 0x800 up are
//! the ones Microsoft leaves to vendors. Every code is METHOD_BUFFERED (the I/O manager copies the
//! caller's buffers, so the driver never touches user addresses) except [`Ioctl::GrantAccess`],
//! which is METHOD_OUT_DIRECT: there the output buffer *is* the memory to grant, and the I/O
//! manager probes and locks it into an MDL for the driver (with its own exception handling, which
//! Rust code cannot provide).

use xenpv_ddk::userio::guid::Guid;

/// `FILE_DEVICE_UNKNOWN`: the device type of XENIFACE's device object and of its codes.
pub const DEVICE_TYPE: u32 = 0x22;

/// `METHOD_BUFFERED`.
pub const METHOD_BUFFERED: u32 = 0;
/// `METHOD_OUT_DIRECT`.
pub const METHOD_OUT_DIRECT: u32 = 2;
/// `FILE_READ_ACCESS`: the handle must have been opened for reading.
pub const FILE_READ_ACCESS: u32 = 1;
/// `FILE_WRITE_ACCESS`: the handle must have been opened for writing.
pub const FILE_WRITE_ACCESS: u32 = 2;

/// devioctl.h's `CTL_CODE`.
pub const fn ctl_code(device_type: u32, function: u32, method: u32, access: u32) -> u32 {
    (device_type << 16) | (access << 14) | (function << 2) | method
}

/// The method bits of a code (`METHOD_FROM_CTL_CODE`).
pub const fn method_of(code: u32) -> u32 {
    code & 3
}

/// The device interface class user space opens XENIFACE through (SetupDiGetClassDevs /
/// CM_Get_Device_Interface_List with this GUID, then CreateFile on the path):
/// `{6a1d5c43-0b39-4d1e-9c57-58e16b1a1f02}`, generated for xenpv.
pub const INTERFACE_GUID: Guid = Guid {
    data1: 0x6a1d_5c43,
    data2: 0x0b39,
    data3: 0x4d1e,
    data4: [0x9c, 0x57, 0x58, 0xe1, 0x6b, 0x1a, 0x1f, 0x02],
};

macro_rules! ioctls {
    ($( $(#[$doc:meta])* $name:ident = $function:literal, $method:ident, $access:expr; )*) => {
        /// Every operation of the interface.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Ioctl {
            $( $(#[$doc])* $name, )*
        }

        impl Ioctl {
            /// Every operation, for tables and tests.
            pub const ALL: &'static [Ioctl] = &[$( Ioctl::$name, )*];

            /// The control code user space passes to DeviceIoControl.
            pub const fn code(self) -> u32 {
                match self {
                    $( Ioctl::$name => ctl_code(DEVICE_TYPE, $function, $method, $access), )*
                }
            }

            /// The operation a control code names, if any.
            pub fn from_code(code: u32) -> Option<Ioctl> {
                Ioctl::ALL.iter().copied().find(|i| i.code() == code)
            }
        }
    };
}

const RW: u32 = FILE_READ_ACCESS | FILE_WRITE_ACCESS;

ioctls! {
    /// In: `tx:u32, path NUL`. Out: the value's bytes.
    StoreRead = 0x800, METHOD_BUFFERED, FILE_READ_ACCESS;
    /// In: `tx:u32, path NUL, value bytes` (binary, to the end of the buffer). Out: nothing.
    StoreWrite = 0x801, METHOD_BUFFERED, RW;
    /// In: `tx:u32, path NUL`. Out: each child's name followed by a NUL.
    StoreDirectory = 0x802, METHOD_BUFFERED, FILE_READ_ACCESS;
    /// In: `tx:u32, path NUL`. Out: nothing.
    StoreRemove = 0x803, METHOD_BUFFERED, RW;
    /// In: `event:u64, path NUL`; `event` is a handle to a Win32 event the driver sets whenever the
    /// watch fires, or 0 to collect the firings with [`Ioctl::StoreWatchWait`]. Out: `watch:u32`.
    StoreWatchAdd = 0x804, METHOD_BUFFERED, FILE_READ_ACCESS;
    /// In: `watch:u32`. Out: nothing.
    StoreWatchRemove = 0x805, METHOD_BUFFERED, FILE_READ_ACCESS;
    /// In: nothing. Pends until a watch of this handle without an event fires. Out: `watch:u32,
    /// path NUL` (the path that changed).
    StoreWatchWait = 0x806, METHOD_BUFFERED, FILE_READ_ACCESS;
    /// In: nothing. Out: `tx:u32`, the transaction to pass to the store operations.
    TransactionStart = 0x807, METHOD_BUFFERED, RW;
    /// In: `tx:u32, commit:u32` (1 commit, 0 abort). Out: nothing; a conflicting commit fails
    /// with STATUS_RETRY and the caller runs its transaction again.
    TransactionEnd = 0x808, METHOD_BUFFERED, RW;
    /// In: `remote_domain:u16, 0:u16, remote_port:u32, event:u64`. Out: `port:u32`. The driver
    /// sets `event` (a Win32 event handle, required) on every event of the port.
    EvtchnBindInterdomain = 0x810, METHOD_BUFFERED, RW;
    /// In: `remote_domain:u16, 0:u16, 0:u32, event:u64`. Out: `port:u32`.
    EvtchnAllocUnbound = 0x811, METHOD_BUFFERED, RW;
    /// In: `port:u32`. Out: nothing.
    EvtchnNotify = 0x812, METHOD_BUFFERED, RW;
    /// In: `port:u32`. Out: nothing.
    EvtchnClose = 0x813, METHOD_BUFFERED, RW;
    /// In: `remote_domain:u16, flags:u16 (bit 0: read-only), id:u32`; the output buffer is the
    /// memory to grant (page-aligned, whole pages). Pends while the pages are granted: the
    /// request is the lease that keeps them locked. Completes when [`Ioctl::GrantRevoke`] (or
    /// closing the handle) has ended every grant.
    GrantAccess = 0x820, METHOD_OUT_DIRECT, RW;
    /// In: `id:u32`. Out: `count:u32`, then `count` grant references (`u32` each).
    GrantRefs = 0x821, METHOD_BUFFERED, FILE_READ_ACCESS;
    /// In: `id:u32`. Out: nothing; fails with STATUS_DEVICE_BUSY while the remote domain still
    /// maps a page (the grant stays, try again later).
    GrantRevoke = 0x822, METHOD_BUFFERED, RW;
    /// In: nothing. Pends until the toolstack asks for a shutdown action. Out: `action:u32`
    /// (see `agent::Action`). The OS shutdown itself is user mode's job (ExitWindowsEx).
    AgentWaitAction = 0x830, METHOD_BUFFERED, RW;
    /// In: nothing. Out: `count:u32`, how many times the domain has resumed since the driver
    /// started. A change means a suspend (or a migration) happened: event channels bound
    /// before it are gone and grants may need making again.
    SuspendCount = 0x831, METHOD_BUFFERED, FILE_READ_ACCESS;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_ctl_code_and_are_distinct() {
        // CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS) is the classic
        // 0x222000 of the DDK samples; reading adds 1 << 14.
        assert_eq!(
            ctl_code(DEVICE_TYPE, 0x800, METHOD_BUFFERED, 0),
            0x0022_2000
        );
        assert_eq!(Ioctl::StoreRead.code(), 0x0022_6000);
        for (i, a) in Ioctl::ALL.iter().enumerate() {
            assert_eq!(Ioctl::from_code(a.code()), Some(*a));
            for b in &Ioctl::ALL[i + 1..] {
                assert_ne!(a.code(), b.code(), "{a:?} and {b:?}");
            }
        }
        assert_eq!(Ioctl::from_code(0x0022_2000), None);
    }

    #[test]
    fn only_the_grant_uses_direct_io() {
        for ioctl in Ioctl::ALL {
            let expected = if *ioctl == Ioctl::GrantAccess {
                METHOD_OUT_DIRECT
            } else {
                METHOD_BUFFERED
            };
            assert_eq!(method_of(ioctl.code()), expected, "{ioctl:?}");
        }
    }
}
