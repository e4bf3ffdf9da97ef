//! Device connection states of io/xenbus.h, as written to a device's `state` xenstore key.

/// C `enum xenbus_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum XenbusState {
    Unknown = 0,
    Initialising = 1,
    /// Waiting for information from the peer (backend) or hotplug scripts.
    InitWait = 2,
    /// Waiting for a connection from the peer (frontend).
    Initialised = 3,
    Connected = 4,
    /// The device is being closed due to an error or an unplug event.
    Closing = 5,
    Closed = 6,
    /// Reconfiguring a connected device.
    Reconfiguring = 7,
    Reconfigured = 8,
}

impl XenbusState {
    /// The state with wire value `value`, or `None` for a value the protocol does not define.
    pub const fn from_u32(value: u32) -> Option<Self> {
        Some(match value {
            0 => Self::Unknown,
            1 => Self::Initialising,
            2 => Self::InitWait,
            3 => Self::Initialised,
            4 => Self::Connected,
            5 => Self::Closing,
            6 => Self::Closed,
            7 => Self::Reconfiguring,
            8 => Self::Reconfigured,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::XenbusState;

    #[test]
    fn every_state_round_trips_through_its_wire_value() {
        let all = [
            XenbusState::Unknown,
            XenbusState::Initialising,
            XenbusState::InitWait,
            XenbusState::Initialised,
            XenbusState::Connected,
            XenbusState::Closing,
            XenbusState::Closed,
            XenbusState::Reconfiguring,
            XenbusState::Reconfigured,
        ];
        for state in all {
            assert_eq!(XenbusState::from_u32(state as u32), Some(state));
        }
    }

    #[test]
    fn values_outside_the_protocol_are_rejected() {
        for bad in [9, 10, 0xffff, u32::MAX] {
            assert_eq!(XenbusState::from_u32(bad), None);
        }
    }
}
