//! What XENVBD tells storport about itself, and the adapter controls it answers.
//!
//! XENVBD registers as a *physical* miniport on the `Internal` bus, not as a virtual one
//! (STOR_FEATURE_VIRTUAL_MINIPORT): storport loads only physical miniports into the crash-dump and
//! hibernation stack, and the PV disk is usually the boot and dump disk. The device is XENBUS's
//! child `XENPV\VBD` and has no resources (no access ranges, no interrupt): requests complete
//! from the event channel's DPC that XENBUS delivers, or, in dump mode, by polling.
//!
//! The blkif core copies data through its granted pages, so the miniport needs every data
//! buffer mapped (STOR_MAP_ALL_BUFFERS_INCLUDING_READ_WRITE) and never programs DMA from the
//! scatter/gather list. Both request block formats are accepted; the extended one is preferred.

use xenpv_abi::PAGE_SIZE;
use xenpv_ddk::storport::config::*;

/// How storport loaded this instance (PORT_CONFIGURATION_INFORMATION.DumpMode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The normal PnP instance.
    Normal,
    /// The crash-dump instance (DUMP_MODE_CRASH).
    CrashDump,
    /// Writing or reading the hibernation file (DUMP_MODE_HIBER, DUMP_MODE_RESUME).
    Hibernate,
    /// DUMP_MODE_MARK_MEMORY: storport only wants to know which memory the miniport uses; no
    /// I/O follows.
    MarkMemory,
}

impl Mode {
    /// The mode for a `DumpMode` value; an unknown non-zero value is treated as a crash dump,
    /// the most restricted mode (polled, reserved grants only).
    pub fn from_dump_mode(dump_mode: u8) -> Self {
        match dump_mode {
            0 => Mode::Normal,
            DUMP_MODE_HIBER | DUMP_MODE_RESUME => Mode::Hibernate,
            DUMP_MODE_MARK_MEMORY => Mode::MarkMemory,
            _ => Mode::CrashDump,
        }
    }

    /// Dump modes run without interrupts, DPCs or allocation.
    pub fn is_dump(self) -> bool {
        self != Mode::Normal
    }
}

/// Fills the fields of `HW_INITIALIZATION_DATA` that are not callbacks.
pub fn init_data(
    data: &mut HwInitializationData,
    device_extension_size: u32,
    srb_extension_size: u32,
) {
    data.adapter_interface_type = INTERNAL;
    data.device_extension_size = device_extension_size;
    data.srb_extension_size = srb_extension_size;
    data.number_of_access_ranges = 0;
    data.map_buffers = STOR_MAP_ALL_BUFFERS_INCLUDING_READ_WRITE;
    data.need_physical_addresses = 1;
    data.tagged_queuing = 1;
    data.auto_request_sense = 1;
    data.multiple_request_per_lu = 1;
    data.srb_type_flags = SRB_TYPE_FLAG_SCSI_REQUEST_BLOCK | SRB_TYPE_FLAG_STORAGE_REQUEST_BLOCK;
    data.address_type_flags = 1 << STORAGE_ADDRESS_TYPE_BTL8;
}

/// Fills `PORT_CONFIGURATION_INFORMATION` in HwFindAdapter for a disk whose largest transfer is
/// `max_transfer` bytes, and returns the mode storport loaded us in.
pub fn configure(config: &mut PortConfigurationInformation, max_transfer: u32) -> Mode {
    let mode = Mode::from_dump_mode(config.dump_mode);
    config.maximum_transfer_length = max_transfer;
    // A transfer not aligned to a page touches one more page than its length.
    config.number_of_physical_breaks = max_transfer.div_ceil(PAGE_SIZE as u32) + 1;
    config.alignment_mask = 0;
    config.number_of_buses = 1;
    config.maximum_number_of_targets = 1;
    config.maximum_number_of_logical_units = 1;
    config.scatter_gather = 1;
    config.master = 1;
    config.caches_data = 0;
    config.map_buffers = STOR_MAP_ALL_BUFFERS_INCLUDING_READ_WRITE;
    config.srb_type = SRB_TYPE_STORAGE_REQUEST_BLOCK;
    config.address_type = STORAGE_ADDRESS_TYPE_BTL8 as u8;
    // Completions come from a DPC while StartIo may run: full duplex.
    config.synchronization_model = STOR_SYNCHRONIZE_FULL_DUPLEX;
    config.virtual_device = 0;
    mode
}

/// The adapter controls XENVBD handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// ScsiQuerySupportedControlTypes: fill in the list.
    QuerySupported,
    /// ScsiStopAdapter (power down, or before a stop): disconnect from the backend; requests
    /// wait in the queues.
    Stop,
    /// ScsiRestartAdapter: connect again; waiting requests are replayed.
    Restart,
    /// Anything else: ScsiAdapterControlUnsuccessful.
    Unsupported,
}

impl Control {
    pub fn from_type(control_type: u32) -> Self {
        match control_type {
            SCSI_QUERY_SUPPORTED_CONTROL_TYPES => Control::QuerySupported,
            SCSI_STOP_ADAPTER => Control::Stop,
            SCSI_RESTART_ADAPTER => Control::Restart,
            _ => Control::Unsupported,
        }
    }
}

/// Marks the supported control types in `list` (the `SupportedTypeList` of
/// SCSI_SUPPORTED_CONTROL_TYPE_LIST, `MaxControlType` entries); entries beyond it stay untouched.
pub fn supported_control_types(list: &mut [u8]) {
    for t in [
        SCSI_QUERY_SUPPORTED_CONTROL_TYPES,
        SCSI_STOP_ADAPTER,
        SCSI_RESTART_ADAPTER,
    ] {
        if let Some(entry) = list.get_mut(t as usize) {
            *entry = 1;
        }
    }
}

/// The vbd number in an instance id (XENBUS names each `XENPV\VBD` child by its
/// `device/vbd/N`): decimal digits only, fitting a u16.
pub fn vbd_number(id: &[u16]) -> Option<u16> {
    if id.is_empty() || id.len() > 5 {
        return None;
    }
    let mut n: u32 = 0;
    for &c in id {
        let digit = c.checked_sub(u16::from(b'0')).filter(|d| *d < 10)?;
        n = n * 10 + u32::from(digit);
    }
    u16::try_from(n).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zeroed_config() -> PortConfigurationInformation {
        // SAFETY: integers and raw pointers only; all-zero is valid for each.
        unsafe { core::mem::zeroed() }
    }

    #[test]
    fn dump_modes_are_recognised_and_unknown_ones_are_the_strictest() {
        assert_eq!(Mode::from_dump_mode(0), Mode::Normal);
        assert_eq!(Mode::from_dump_mode(DUMP_MODE_CRASH), Mode::CrashDump);
        assert_eq!(Mode::from_dump_mode(DUMP_MODE_HIBER), Mode::Hibernate);
        assert_eq!(Mode::from_dump_mode(DUMP_MODE_RESUME), Mode::Hibernate);
        assert_eq!(
            Mode::from_dump_mode(DUMP_MODE_MARK_MEMORY),
            Mode::MarkMemory
        );
        assert_eq!(Mode::from_dump_mode(0x7f), Mode::CrashDump);
        assert!(!Mode::Normal.is_dump());
        assert!(Mode::Hibernate.is_dump());
    }

    #[test]
    fn the_port_configuration_describes_one_disk_with_its_transfer_limit() {
        let mut c = zeroed_config();
        c.dump_mode = DUMP_MODE_HIBER;
        assert_eq!(configure(&mut c, 11 * 4096), Mode::Hibernate);
        assert_eq!(c.maximum_transfer_length, 45056);
        assert_eq!(c.number_of_physical_breaks, 12);
        assert_eq!(
            (
                c.maximum_number_of_targets,
                c.maximum_number_of_logical_units
            ),
            (1, 1)
        );
        assert_eq!(c.map_buffers, STOR_MAP_ALL_BUFFERS_INCLUDING_READ_WRITE);
        assert_eq!(c.srb_type, SRB_TYPE_STORAGE_REQUEST_BLOCK);
        assert_eq!(c.synchronization_model, STOR_SYNCHRONIZE_FULL_DUPLEX);
        let mut c = zeroed_config();
        assert_eq!(configure(&mut c, 1 << 20), Mode::Normal);
        assert_eq!(c.number_of_physical_breaks, 257);
    }

    #[test]
    fn init_data_is_a_physical_internal_miniport_taking_both_srb_formats() {
        let mut d = HwInitializationData::new();
        init_data(&mut d, 64, 128);
        assert_eq!(d.hw_initialization_data_size, 0xd0);
        assert_eq!(d.adapter_interface_type, INTERNAL);
        assert_eq!(d.feature_support & STOR_FEATURE_VIRTUAL_MINIPORT, 0);
        assert_eq!((d.device_extension_size, d.srb_extension_size), (64, 128));
        assert_eq!(d.srb_type_flags, 3);
        assert_eq!(d.address_type_flags, 1);
        assert_eq!(d.map_buffers, STOR_MAP_ALL_BUFFERS_INCLUDING_READ_WRITE);
    }

    #[test]
    fn instance_ids_are_vbd_numbers_or_nothing() {
        let id = |s: &str| s.encode_utf16().collect::<std::vec::Vec<u16>>();
        assert_eq!(vbd_number(&id("51712")), Some(51712));
        assert_eq!(vbd_number(&id("0")), Some(0));
        assert_eq!(vbd_number(&id("65536")), None);
        assert_eq!(vbd_number(&id("123456")), None);
        assert_eq!(vbd_number(&id("")), None);
        assert_eq!(vbd_number(&id("12a")), None);
        assert_eq!(vbd_number(&id("-1")), None);
        assert_eq!(
            vbd_number(&[0x0661]),
            None,
            "an Arabic-Indic digit is not a digit here"
        );
    }

    #[test]
    fn control_types_are_decoded_and_listed_within_the_callers_bound() {
        assert_eq!(Control::from_type(0), Control::QuerySupported);
        assert_eq!(Control::from_type(1), Control::Stop);
        assert_eq!(Control::from_type(2), Control::Restart);
        assert_eq!(Control::from_type(3), Control::Unsupported);
        assert_eq!(Control::from_type(0xffff_ffff), Control::Unsupported);
        let mut list = [0u8; 6];
        supported_control_types(&mut list);
        assert_eq!(list, [1, 1, 1, 0, 0, 0]);
        let mut short = [0u8; 2];
        supported_control_types(&mut short);
        assert_eq!(short, [1, 1]);
    }
}
