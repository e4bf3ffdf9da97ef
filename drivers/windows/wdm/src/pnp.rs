//! The Plug and Play state of a WDM function device, and what its dispatch routine does with each
//! `IRP_MJ_PNP` request.
//!
//! The rules are the ones Microsoft documents for function drivers ("Starting a Device",
//! "Stopping a Device", "Removing a Device", "Handling an IRP_MN_SURPRISE_REMOVAL Request"):
//! start and the two cancels go down first and are finished on the way up; query-stop,
//! query-remove, stop and surprise removal are answered with success and passed down; remove
//! releases the hardware (unless surprise removal already did), waits on the remove lock for the
//! requests in flight, passes the IRP down and then deletes the device. Requests the driver does
//! not handle go down untouched. The driver keeps one [`PnpDevice`] per function device object and
//! calls it with the device's PnP lock semantics (PnP IRPs for one device are never concurrent).

use xenpv_ddk::irp::*;
use xenpv_ddk::status::{NtStatus, STATUS_DEVICE_NOT_READY, STATUS_SUCCESS};

/// A PnP request, from the IRP's minor function code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PnpRequest {
    Start,
    QueryStop,
    CancelStop,
    Stop,
    QueryRemove,
    CancelRemove,
    SurpriseRemoval,
    Remove,
    /// Any other minor code: passed down untouched.
    Other(u8),
}

impl PnpRequest {
    pub fn from_minor(minor: u8) -> Self {
        match minor {
            IRP_MN_START_DEVICE => PnpRequest::Start,
            IRP_MN_QUERY_STOP_DEVICE => PnpRequest::QueryStop,
            IRP_MN_CANCEL_STOP_DEVICE => PnpRequest::CancelStop,
            IRP_MN_STOP_DEVICE => PnpRequest::Stop,
            IRP_MN_QUERY_REMOVE_DEVICE => PnpRequest::QueryRemove,
            IRP_MN_CANCEL_REMOVE_DEVICE => PnpRequest::CancelRemove,
            IRP_MN_SURPRISE_REMOVAL => PnpRequest::SurpriseRemoval,
            IRP_MN_REMOVE_DEVICE => PnpRequest::Remove,
            other => PnpRequest::Other(other),
        }
    }
}

/// Where the device is in its PnP life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PnpState {
    /// Created by AddDevice, not started yet.
    NotStarted,
    Started,
    /// Query-stop succeeded; a stop or a cancel follows.
    StopPending,
    /// Stopped for resource rebalancing; a start follows.
    Stopped,
    /// Query-remove succeeded; a remove or a cancel follows.
    RemovePending,
    /// The device is gone; only the remove follows.
    SurpriseRemoved,
    /// Remove has been handled; the device object is being deleted.
    Removed,
}

/// What the dispatch routine does with a PnP IRP when it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Skip this driver's stack location and pass the IRP down. With `status`, write it to
    /// `IoStatus.Status` first (PnP requires a driver that handles a request to set it). With
    /// `stop_hardware`, release the device's hardware before passing it down.
    PassDown {
        status: Option<NtStatus>,
        stop_hardware: bool,
    },
    /// Send the IRP down with a completion routine, wait for the drivers below, then call
    /// [`PnpDevice::completed_below`] with their status.
    ForwardAndWait,
    /// Complete the IRP here with this status; it does not go down.
    Complete(NtStatus),
    /// The device goes away: release the hardware if `stop_hardware`, wait on the remove lock for
    /// requests in flight, pass the IRP down with success, detach from the stack and delete the
    /// device object.
    Remove { stop_hardware: bool },
}

/// What the dispatch routine does once the drivers below have finished a forwarded request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterLower {
    /// Start the hardware, report the result with [`PnpDevice::hardware_started`], and complete the
    /// IRP with the status that returns.
    StartHardware,
    /// Complete the IRP with this status.
    Complete(NtStatus),
}

/// The PnP state of one function device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PnpDevice {
    state: PnpState,
    /// The state a query-stop or query-remove left, restored by its cancel.
    before_query: PnpState,
    /// Whether the hardware is in use (started and not yet released).
    hardware_running: bool,
}

impl Default for PnpDevice {
    fn default() -> Self {
        Self::new()
    }
}

impl PnpDevice {
    /// A device just created by AddDevice.
    pub const fn new() -> Self {
        PnpDevice {
            state: PnpState::NotStarted,
            before_query: PnpState::NotStarted,
            hardware_running: false,
        }
    }

    pub fn state(&self) -> PnpState {
        self.state
    }

    pub fn hardware_running(&self) -> bool {
        self.hardware_running
    }

    /// Decides what to do with `request` as it arrives, and moves the state for the requests that
    /// are answered on the way down.
    pub fn dispatch(&mut self, request: PnpRequest) -> Action {
        let succeed = |stop_hardware| Action::PassDown {
            status: Some(STATUS_SUCCESS),
            stop_hardware,
        };
        match request {
            PnpRequest::Start => match self.state {
                PnpState::NotStarted | PnpState::Stopped => Action::ForwardAndWait,
                // The PnP manager starts a device only from those two states; anything else is a
                // request this device cannot honour.
                _ => Action::Complete(STATUS_DEVICE_NOT_READY),
            },
            PnpRequest::QueryStop | PnpRequest::QueryRemove => {
                if matches!(
                    self.state,
                    PnpState::NotStarted | PnpState::Started | PnpState::Stopped
                ) {
                    self.before_query = self.state;
                    self.state = if request == PnpRequest::QueryStop {
                        PnpState::StopPending
                    } else {
                        PnpState::RemovePending
                    };
                }
                succeed(false)
            }
            PnpRequest::CancelStop | PnpRequest::CancelRemove => Action::ForwardAndWait,
            PnpRequest::Stop => {
                let stop_hardware = self.release_hardware();
                if self.state != PnpState::SurpriseRemoved {
                    self.state = PnpState::Stopped;
                }
                succeed(stop_hardware)
            }
            PnpRequest::SurpriseRemoval => {
                let stop_hardware = self.release_hardware();
                self.state = PnpState::SurpriseRemoved;
                succeed(stop_hardware)
            }
            PnpRequest::Remove => {
                let stop_hardware = self.release_hardware();
                self.state = PnpState::Removed;
                Action::Remove { stop_hardware }
            }
            PnpRequest::Other(_) => Action::PassDown {
                status: None,
                stop_hardware: false,
            },
        }
    }

    /// The drivers below finished a request that [`Action::ForwardAndWait`] sent down.
    pub fn completed_below(&mut self, request: PnpRequest, status: NtStatus) -> AfterLower {
        match request {
            PnpRequest::Start if xenpv_ddk::status::nt_success(status) => AfterLower::StartHardware,
            PnpRequest::CancelStop if self.state == PnpState::StopPending => {
                self.state = self.before_query;
                AfterLower::Complete(STATUS_SUCCESS)
            }
            PnpRequest::CancelRemove if self.state == PnpState::RemovePending => {
                self.state = self.before_query;
                AfterLower::Complete(STATUS_SUCCESS)
            }
            // A cancel for a query this driver never saw succeed (it failed further up), or a
            // failed start: the state stays, the status is the lower drivers'.
            _ => AfterLower::Complete(status),
        }
    }

    /// The hardware start that [`AfterLower::StartHardware`] asked for finished; returns the status
    /// to complete the start IRP with.
    pub fn hardware_started(&mut self, result: Result<(), NtStatus>) -> NtStatus {
        match result {
            Ok(()) => {
                self.state = PnpState::Started;
                self.hardware_running = true;
                STATUS_SUCCESS
            }
            Err(status) => status,
        }
    }

    /// Marks the hardware released; true when it was running (the caller must stop it).
    fn release_hardware(&mut self) -> bool {
        core::mem::replace(&mut self.hardware_running, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xenpv_ddk::status::{STATUS_INSUFFICIENT_RESOURCES, STATUS_NOT_SUPPORTED};

    const SUCCEED: Action = Action::PassDown {
        status: Some(STATUS_SUCCESS),
        stop_hardware: false,
    };
    const SUCCEED_AND_STOP: Action = Action::PassDown {
        status: Some(STATUS_SUCCESS),
        stop_hardware: true,
    };

    fn started() -> PnpDevice {
        let mut device = PnpDevice::new();
        assert_eq!(device.dispatch(PnpRequest::Start), Action::ForwardAndWait);
        assert_eq!(
            device.completed_below(PnpRequest::Start, STATUS_SUCCESS),
            AfterLower::StartHardware
        );
        assert_eq!(device.hardware_started(Ok(())), STATUS_SUCCESS);
        assert_eq!(device.state(), PnpState::Started);
        assert!(device.hardware_running());
        device
    }

    fn cancel(device: &mut PnpDevice, request: PnpRequest) -> AfterLower {
        assert_eq!(device.dispatch(request), Action::ForwardAndWait);
        device.completed_below(request, STATUS_SUCCESS)
    }

    #[test]
    fn minor_codes_map_to_requests() {
        assert_eq!(PnpRequest::from_minor(0x00), PnpRequest::Start);
        assert_eq!(PnpRequest::from_minor(0x01), PnpRequest::QueryRemove);
        assert_eq!(PnpRequest::from_minor(0x02), PnpRequest::Remove);
        assert_eq!(PnpRequest::from_minor(0x03), PnpRequest::CancelRemove);
        assert_eq!(PnpRequest::from_minor(0x04), PnpRequest::Stop);
        assert_eq!(PnpRequest::from_minor(0x05), PnpRequest::QueryStop);
        assert_eq!(PnpRequest::from_minor(0x06), PnpRequest::CancelStop);
        assert_eq!(PnpRequest::from_minor(0x17), PnpRequest::SurpriseRemoval);
        assert_eq!(
            PnpRequest::from_minor(IRP_MN_QUERY_CAPABILITIES),
            PnpRequest::Other(IRP_MN_QUERY_CAPABILITIES)
        );
    }

    #[test]
    fn a_start_the_lower_drivers_fail_leaves_the_device_unstarted() {
        let mut device = PnpDevice::new();
        assert_eq!(device.dispatch(PnpRequest::Start), Action::ForwardAndWait);
        assert_eq!(
            device.completed_below(PnpRequest::Start, STATUS_NOT_SUPPORTED),
            AfterLower::Complete(STATUS_NOT_SUPPORTED)
        );
        assert_eq!(device.state(), PnpState::NotStarted);
        assert!(!device.hardware_running());
    }

    #[test]
    fn a_hardware_start_that_fails_is_reported_and_the_device_stays_unstarted() {
        let mut device = PnpDevice::new();
        device.dispatch(PnpRequest::Start);
        device.completed_below(PnpRequest::Start, STATUS_SUCCESS);
        assert_eq!(
            device.hardware_started(Err(STATUS_INSUFFICIENT_RESOURCES)),
            STATUS_INSUFFICIENT_RESOURCES
        );
        assert_eq!(device.state(), PnpState::NotStarted);
        // Nothing to release on remove.
        assert_eq!(
            device.dispatch(PnpRequest::Remove),
            Action::Remove {
                stop_hardware: false
            }
        );
    }

    #[test]
    fn a_started_device_cannot_be_started_again() {
        let mut device = started();
        assert_eq!(
            device.dispatch(PnpRequest::Start),
            Action::Complete(STATUS_DEVICE_NOT_READY)
        );
        assert_eq!(device.state(), PnpState::Started);
    }

    #[test]
    fn query_stop_then_cancel_returns_to_started_with_hardware_untouched() {
        let mut device = started();
        assert_eq!(device.dispatch(PnpRequest::QueryStop), SUCCEED);
        assert_eq!(device.state(), PnpState::StopPending);
        assert_eq!(
            cancel(&mut device, PnpRequest::CancelStop),
            AfterLower::Complete(STATUS_SUCCESS)
        );
        assert_eq!(device.state(), PnpState::Started);
        assert!(device.hardware_running());
    }

    #[test]
    fn stop_releases_the_hardware_and_a_new_start_acquires_it_again() {
        let mut device = started();
        device.dispatch(PnpRequest::QueryStop);
        assert_eq!(device.dispatch(PnpRequest::Stop), SUCCEED_AND_STOP);
        assert_eq!(device.state(), PnpState::Stopped);
        assert!(!device.hardware_running());
        assert_eq!(device.dispatch(PnpRequest::Start), Action::ForwardAndWait);
        device.completed_below(PnpRequest::Start, STATUS_SUCCESS);
        device.hardware_started(Ok(()));
        assert_eq!(device.state(), PnpState::Started);
    }

    #[test]
    fn cancel_remove_restores_the_state_before_the_query() {
        let mut device = started();
        device.dispatch(PnpRequest::QueryStop);
        device.dispatch(PnpRequest::Stop);
        assert_eq!(device.dispatch(PnpRequest::QueryRemove), SUCCEED);
        assert_eq!(device.state(), PnpState::RemovePending);
        cancel(&mut device, PnpRequest::CancelRemove);
        assert_eq!(device.state(), PnpState::Stopped);

        let mut device = started();
        device.dispatch(PnpRequest::QueryRemove);
        cancel(&mut device, PnpRequest::CancelRemove);
        assert_eq!(device.state(), PnpState::Started);
    }

    #[test]
    fn a_cancel_without_its_query_changes_nothing_and_keeps_the_lower_status() {
        let mut device = started();
        assert_eq!(
            device.dispatch(PnpRequest::CancelStop),
            Action::ForwardAndWait
        );
        assert_eq!(
            device.completed_below(PnpRequest::CancelStop, STATUS_SUCCESS),
            AfterLower::Complete(STATUS_SUCCESS)
        );
        assert_eq!(device.state(), PnpState::Started);
        // A cancel-remove while a stop is pending does not end the stop.
        device.dispatch(PnpRequest::QueryStop);
        cancel(&mut device, PnpRequest::CancelRemove);
        assert_eq!(device.state(), PnpState::StopPending);
    }

    #[test]
    fn query_remove_then_remove_stops_the_hardware_once() {
        let mut device = started();
        device.dispatch(PnpRequest::QueryRemove);
        assert_eq!(
            device.dispatch(PnpRequest::Remove),
            Action::Remove {
                stop_hardware: true
            }
        );
        assert_eq!(device.state(), PnpState::Removed);
    }

    #[test]
    fn surprise_removal_stops_the_hardware_and_the_remove_after_it_does_not() {
        let mut device = started();
        assert_eq!(
            device.dispatch(PnpRequest::SurpriseRemoval),
            SUCCEED_AND_STOP
        );
        assert_eq!(device.state(), PnpState::SurpriseRemoved);
        // A query after surprise removal does not bring the device back.
        assert_eq!(device.dispatch(PnpRequest::QueryRemove), SUCCEED);
        assert_eq!(device.state(), PnpState::SurpriseRemoved);
        assert_eq!(
            device.dispatch(PnpRequest::Remove),
            Action::Remove {
                stop_hardware: false
            }
        );
    }

    #[test]
    fn surprise_removal_of_a_stopped_device_has_no_hardware_to_stop() {
        let mut device = started();
        device.dispatch(PnpRequest::QueryStop);
        device.dispatch(PnpRequest::Stop);
        assert_eq!(device.dispatch(PnpRequest::SurpriseRemoval), SUCCEED);
    }

    #[test]
    fn other_requests_go_down_untouched() {
        let mut device = started();
        assert_eq!(
            device.dispatch(PnpRequest::Other(IRP_MN_QUERY_DEVICE_RELATIONS)),
            Action::PassDown {
                status: None,
                stop_hardware: false
            }
        );
        assert_eq!(device.state(), PnpState::Started);
    }
}
