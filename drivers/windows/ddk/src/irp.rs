//! I/O request packets: `IRP`, `IO_STACK_LOCATION`, major and minor function codes, and the
//! stack-location helpers that wdm.h defines as inline functions (they are not exported by the
//! kernel, so they are re-implemented here from their documented behaviour).
//!
//! Sizes and offsets: wdm.h of the Windows 10 SDK 10.0.19041 for x64, the same declarations as in
//! mingw-w64 `ddk/wdm.h`; measured again by `tests/conformance.rs`.

use core::ffi::c_void;
use core::mem::{offset_of, size_of};

use crate::object::DeviceObject;
use crate::status::NtStatus;

/// `IO_STATUS_BLOCK`. `Status` shares its 8 bytes with a `PVOID Pointer` that no driver here uses.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IoStatusBlock {
    pub status: NtStatus,
    _pointer_high: u32,
    pub information: usize,
}

const _: () = assert!(size_of::<IoStatusBlock>() == 0x10);
const _: () = assert!(offset_of!(IoStatusBlock, information) == 0x8);

/// `IRP`. The fields the drivers use are spelled out; the unions in between are opaque.
#[repr(C)]
pub struct Irp {
    pub type_: i16,
    pub size: u16,
    pub allocation_processor_number: u16,
    _reserved: u16,
    pub mdl_address: *mut c_void,
    pub flags: u32,
    pub associated_irp: *mut c_void,
    _thread_list_entry: [usize; 2],
    pub io_status: IoStatusBlock,
    pub requestor_mode: i8,
    pub pending_returned: u8,
    pub stack_count: i8,
    pub current_location: i8,
    pub cancel: u8,
    pub cancel_irql: u8,
    pub apc_environment: i8,
    pub allocation_flags: u8,
    /// `UserIosb` through `Tail.Overlay` up to `CurrentStackLocation`: nothing a driver here reads.
    _user_iosb_to_tail: [usize; 14],
    /// `Tail.Overlay.CurrentStackLocation`.
    pub current_stack_location: *mut IoStackLocation,
    pub original_file_object: *mut c_void,
    _irp_extension: *mut c_void,
}

const _: () = assert!(size_of::<Irp>() == 0xd0);
const _: () = assert!(offset_of!(Irp, flags) == 0x10);
const _: () = assert!(offset_of!(Irp, io_status) == 0x30);
const _: () = assert!(offset_of!(Irp, pending_returned) == 0x41);
const _: () = assert!(offset_of!(Irp, stack_count) == 0x42);
const _: () = assert!(offset_of!(Irp, current_location) == 0x43);
const _: () = assert!(offset_of!(Irp, cancel) == 0x44);
const _: () = assert!(offset_of!(Irp, current_stack_location) == 0xb8);
const _: () = assert!(offset_of!(Irp, original_file_object) == 0xc0);

/// `IO_COMPLETION_ROUTINE`.
pub type IoCompletionRoutine =
    unsafe extern "system" fn(*mut DeviceObject, *mut Irp, *mut c_void) -> NtStatus;

/// `IO_STACK_LOCATION`. `Parameters` is a union of 32 bytes; the accessors below read the members
/// the drivers use.
#[repr(C)]
pub struct IoStackLocation {
    pub major_function: u8,
    pub minor_function: u8,
    pub flags: u8,
    pub control: u8,
    pub parameters: [usize; 4],
    pub device_object: *mut DeviceObject,
    pub file_object: *mut c_void,
    pub completion_routine: Option<IoCompletionRoutine>,
    pub context: *mut c_void,
}

const _: () = assert!(size_of::<IoStackLocation>() == 0x48);
const _: () = assert!(offset_of!(IoStackLocation, control) == 0x3);
const _: () = assert!(offset_of!(IoStackLocation, parameters) == 0x8);
const _: () = assert!(offset_of!(IoStackLocation, device_object) == 0x28);
const _: () = assert!(offset_of!(IoStackLocation, file_object) == 0x30);
const _: () = assert!(offset_of!(IoStackLocation, completion_routine) == 0x38);
const _: () = assert!(offset_of!(IoStackLocation, context) == 0x40);

/// `Parameters.StartDevice.AllocatedResources` and `AllocatedResourcesTranslated` are the first two
/// pointers of the union (offsets 0x8 and 0x10 of the stack location).
pub const START_DEVICE_RESOURCES_INDEX: usize = 0;
pub const START_DEVICE_RESOURCES_TRANSLATED_INDEX: usize = 1;

impl IoStackLocation {
    /// The raw and translated resource lists of an `IRP_MN_START_DEVICE` (either may be null).
    pub fn start_device_resources(&self) -> (*const c_void, *const c_void) {
        (
            self.parameters[START_DEVICE_RESOURCES_INDEX] as *const c_void,
            self.parameters[START_DEVICE_RESOURCES_TRANSLATED_INDEX] as *const c_void,
        )
    }
}

// Major function codes (wdm.h).
pub const IRP_MJ_CREATE: u8 = 0x00;
pub const IRP_MJ_CLOSE: u8 = 0x02;
pub const IRP_MJ_CLEANUP: u8 = 0x12;
pub const IRP_MJ_DEVICE_CONTROL: u8 = 0x0e;
pub const IRP_MJ_INTERNAL_DEVICE_CONTROL: u8 = 0x0f;
pub const IRP_MJ_POWER: u8 = 0x16;
pub const IRP_MJ_SYSTEM_CONTROL: u8 = 0x17;
pub const IRP_MJ_PNP: u8 = 0x1b;
pub const IRP_MJ_MAXIMUM_FUNCTION: u8 = 0x1b;

// PnP minor function codes (wdm.h).
pub const IRP_MN_START_DEVICE: u8 = 0x00;
pub const IRP_MN_QUERY_REMOVE_DEVICE: u8 = 0x01;
pub const IRP_MN_REMOVE_DEVICE: u8 = 0x02;
pub const IRP_MN_CANCEL_REMOVE_DEVICE: u8 = 0x03;
pub const IRP_MN_STOP_DEVICE: u8 = 0x04;
pub const IRP_MN_QUERY_STOP_DEVICE: u8 = 0x05;
pub const IRP_MN_CANCEL_STOP_DEVICE: u8 = 0x06;
pub const IRP_MN_QUERY_DEVICE_RELATIONS: u8 = 0x07;
pub const IRP_MN_QUERY_INTERFACE: u8 = 0x08;
pub const IRP_MN_QUERY_CAPABILITIES: u8 = 0x09;
pub const IRP_MN_QUERY_PNP_DEVICE_STATE: u8 = 0x14;
pub const IRP_MN_SURPRISE_REMOVAL: u8 = 0x17;

// IO_STACK_LOCATION.Control (wdm.h).
pub const SL_PENDING_RETURNED: u8 = 0x01;
pub const SL_INVOKE_ON_CANCEL: u8 = 0x20;
pub const SL_INVOKE_ON_SUCCESS: u8 = 0x40;
pub const SL_INVOKE_ON_ERROR: u8 = 0x80;

/// `IO_NO_INCREMENT`: the priority boost when completing an IRP without waking a waiting thread.
pub const IO_NO_INCREMENT: i8 = 0;

/// `IoGetCurrentIrpStackLocation`.
///
/// # Safety
/// `irp` points to a valid IRP owned by the caller's driver.
pub unsafe fn current_stack_location(irp: *mut Irp) -> *mut IoStackLocation {
    // SAFETY: the caller hands us a valid IRP.
    unsafe { (*irp).current_stack_location }
}

/// `IoGetNextIrpStackLocation`: the location the driver below will see.
///
/// # Safety
/// `irp` points to a valid IRP owned by the caller's driver, with a location below the current one.
pub unsafe fn next_stack_location(irp: *mut Irp) -> *mut IoStackLocation {
    // SAFETY: stack locations are an array and the current one is not the first (the caller's
    // promise), so one below is inside it.
    unsafe { (*irp).current_stack_location.sub(1) }
}

/// `IoSkipCurrentIrpStackLocation`: the driver below sees this driver's location unchanged.
///
/// # Safety
/// `irp` points to a valid IRP owned by the caller, about to be passed down with `IofCallDriver`.
pub unsafe fn skip_current_stack_location(irp: *mut Irp) {
    // SAFETY: IofCallDriver moves one location down again before the next driver runs, so the
    // pointer is back inside the array before anyone dereferences it.
    unsafe {
        (*irp).current_location += 1;
        (*irp).current_stack_location = (*irp).current_stack_location.add(1);
    }
}

/// `IoCopyCurrentIrpStackLocationToNext`: everything but the completion routine and its context.
///
/// # Safety
/// As for [`next_stack_location`].
pub unsafe fn copy_current_stack_location_to_next(irp: *mut Irp) {
    // SAFETY: both locations are valid and distinct (the caller's promise); the copied prefix ends
    // before `completion_routine`, the field wdm.h's inline stops at.
    unsafe {
        let current = current_stack_location(irp);
        let next = next_stack_location(irp);
        core::ptr::copy_nonoverlapping(
            current.cast::<u8>(),
            next.cast::<u8>(),
            offset_of!(IoStackLocation, completion_routine),
        );
        (*next).control = 0;
    }
}

/// `IoSetCompletionRoutine` with all three of success, error and cancel set.
///
/// # Safety
/// As for [`next_stack_location`]; `context` must stay valid until the routine has run.
pub unsafe fn set_completion_routine(
    irp: *mut Irp,
    routine: IoCompletionRoutine,
    context: *mut c_void,
) {
    // SAFETY: as for next_stack_location.
    unsafe {
        let next = next_stack_location(irp);
        (*next).completion_routine = Some(routine);
        (*next).context = context;
        (*next).control = SL_INVOKE_ON_SUCCESS | SL_INVOKE_ON_ERROR | SL_INVOKE_ON_CANCEL;
    }
}

/// `IoMarkIrpPending`.
///
/// # Safety
/// `irp` points to a valid IRP owned by the caller's driver.
pub unsafe fn mark_pending(irp: *mut Irp) {
    // SAFETY: the current location of a valid IRP is valid.
    unsafe { (*current_stack_location(irp)).control |= SL_PENDING_RETURNED };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::boxed::Box;
    use std::vec::Vec;

    /// An IRP with `N` zeroed stack locations whose current location is the last one, as the I/O
    /// manager hands it to the top driver. The locations are reached only through the returned
    /// base pointer (derived from the whole array, as the kernel's pointer arithmetic needs); the
    /// vector only keeps them alive (a Vec, not a Box, so moving it does not invalidate `base`).
    fn irp_with_locations<const N: usize>() -> (Box<Irp>, Vec<IoStackLocation>, *mut IoStackLocation)
    {
        // SAFETY: all-zero bytes are a valid value of these plain-data structs (null pointers,
        // `None` function pointers, zero integers).
        let mut irp: Box<Irp> = Box::new(unsafe { core::mem::zeroed() });
        let mut stack: Vec<IoStackLocation> =
            (0..N).map(|_| unsafe { core::mem::zeroed() }).collect();
        let base = stack.as_mut_ptr();
        irp.stack_count = N as i8;
        irp.current_location = N as i8;
        // SAFETY: N - 1 is inside the array.
        irp.current_stack_location = unsafe { base.add(N - 1) };
        (irp, stack, base)
    }

    #[test]
    fn skip_then_the_lower_drivers_view_is_the_same_location() {
        let (mut irp, _stack, _) = irp_with_locations::<2>();
        let irp: *mut Irp = &mut *irp;
        // SAFETY: the IRP and its stack outlive the calls.
        unsafe {
            let mine = current_stack_location(irp);
            skip_current_stack_location(irp);
            assert_eq!((*irp).current_location, 3);
            // IofCallDriver steps down one location before calling the next driver.
            (*irp).current_location -= 1;
            (*irp).current_stack_location = (*irp).current_stack_location.sub(1);
            assert_eq!(current_stack_location(irp), mine);
        }
    }

    #[test]
    fn copy_to_next_copies_parameters_but_not_the_completion_routine() {
        unsafe extern "system" fn done(
            _: *mut DeviceObject,
            _: *mut Irp,
            _: *mut c_void,
        ) -> NtStatus {
            0
        }
        let (mut irp, _stack, base) = irp_with_locations::<2>();
        let irp: *mut Irp = &mut *irp;
        // SAFETY: the IRP and its stack outlive the calls; the stack is only reached through
        // `base` and the IRP's own pointer, both derived from the whole array.
        unsafe {
            let current = current_stack_location(irp);
            (*current).major_function = IRP_MJ_PNP;
            (*current).minor_function = IRP_MN_START_DEVICE;
            (*current).parameters = [1, 2, 3, 4];
            (*current).control = SL_PENDING_RETURNED;
            (*current).completion_routine = Some(done);
            copy_current_stack_location_to_next(irp);
            let next = base;
            assert_eq!((*next).major_function, IRP_MJ_PNP);
            assert_eq!((*next).parameters, [1, 2, 3, 4]);
            assert_eq!((*next).control, 0);
            assert!((*next).completion_routine.is_none());

            let mut context = 7u32;
            let context: *mut c_void = (&mut context as *mut u32).cast();
            set_completion_routine(irp, done, context);
            assert!((*next).completion_routine.is_some());
            assert_eq!((*next).context, context);
            assert_eq!((*next).control, 0xe0);
            mark_pending(irp);
            assert_eq!(
                (*current).control & SL_PENDING_RETURNED,
                SL_PENDING_RETURNED
            );
        }
    }

    #[test]
    fn start_device_resources_are_the_first_two_parameters() {
        let (mut irp, _stack, _) = irp_with_locations::<1>();
        // SAFETY: the IRP's current location is inside its stack.
        let location = unsafe { &mut *current_stack_location(&mut *irp) };
        location.parameters = [0x1000, 0x2000, 0, 0];
        assert_eq!(
            location.start_device_resources(),
            (0x1000 as *const c_void, 0x2000 as *const c_void)
        );
    }
}
