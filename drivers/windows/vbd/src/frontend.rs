//! The control plane around the miniport: the vbd's frontend driver (xenpv-control) moved by
//! the store's watch events, from the first handshake to reconnects after a backend restart or
//! a protocol error. The home decides how it waits ([`handshake`]'s `idle`) and when it pumps
//! (a work item on Windows, at PASSIVE_LEVEL, with the request path quiesced).

use xenpv_control::vbd::{VbdDeviceError, VbdFrontend};
use xenpv_control::xenbus::{DriverError, FrontendDriver};
use xenpv_control::xs::client::{Client, Transport};
use xenpv_datapath::platform::Platform;

use crate::miniport::Window;

/// The frontend driver of a disk whose buffers are the miniport's windows.
pub type VbdDriver<P, B> = FrontendDriver<VbdFrontend<P, Window<B>>>;

/// What stopped the frontend.
pub type FrontError = DriverError<VbdDeviceError>;

/// Hands every watch event the store has for us to the driver (backend state) and to the device
/// (online resize). Never waits.
pub fn pump<T, P, B>(client: &mut Client<T>, driver: &mut VbdDriver<P, B>) -> Result<(), FrontError>
where
    T: Transport,
    P: Platform,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    client.process_pending().map_err(DriverError::Store)?;
    while let Some(event) = client.try_event() {
        driver.on_watch(client, &event)?;
        let paths = driver.paths().clone();
        driver
            .device_mut()
            .on_watch(client, &paths, &event)
            .map_err(DriverError::Device)?;
    }
    Ok(())
}

/// Why a handshake did not end connected.
#[derive(Debug)]
pub enum HandshakeError {
    Front(FrontError),
    /// Still not connected after the rounds allowed.
    Timeout,
}

/// Asks for the device to connect and pumps until it is, calling `idle` between rounds (the
/// home waits there for the store), at most `rounds` times.
pub fn handshake<T, P, B>(
    client: &mut Client<T>,
    driver: &mut VbdDriver<P, B>,
    rounds: usize,
    mut idle: impl FnMut(&mut Client<T>),
) -> Result<(), HandshakeError>
where
    T: Transport,
    P: Platform,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    driver.connect(client).map_err(HandshakeError::Front)?;
    for _ in 0..rounds {
        pump(client, driver).map_err(HandshakeError::Front)?;
        if driver.machine().is_connected() {
            return Ok(());
        }
        idle(client);
    }
    Err(HandshakeError::Timeout)
}

/// After a queue reported a protocol error: closes the device (Linux blkfront does the same);
/// [`recover`] connects it again once it is closed.
pub fn close<T, P, B>(
    client: &mut Client<T>,
    driver: &mut VbdDriver<P, B>,
) -> Result<(), FrontError>
where
    T: Transport,
    P: Platform,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    driver.close(client)
}

/// One round of the running device: pump the events; a device that ended up closed (after
/// [`close`]) is connected again. Requests in the queues are replayed by the core on the new
/// connection.
pub fn recover<T, P, B>(
    client: &mut Client<T>,
    driver: &mut VbdDriver<P, B>,
) -> Result<(), FrontError>
where
    T: Transport,
    P: Platform,
    B: AsRef<[u8]> + AsMut<[u8]>,
{
    pump(client, driver)?;
    if driver.machine().state() == xenpv_abi::xenbus::XenbusState::Closed {
        driver.connect(client)?;
        pump(client, driver)?;
    }
    Ok(())
}
