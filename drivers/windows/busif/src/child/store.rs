//! A xenstore connection over a store session: [`BusTransport`] is a control-plane `Transport`,
//! so [`BusStore`] is the control plane's own `Client` (watches, transactions, the vif/vbd
//! device machines) on a child.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::ffi::c_void;

use xenpv_control::xs::client::{Client, Error as ClientError, Transport};
use xenpv_control::xs::wire::{Decoder, Message};

use super::{call, Bus};
use crate::abi::BusStatus;
use crate::error::BusError;
use crate::provider::MAX_MESSAGE;

/// How a child waits for its session: `wake` is called (from any thread, up to DISPATCH_LEVEL)
/// when a message arrives; `wait` blocks until a `wake` since the previous `wait` returned (an
/// auto-reset KEVENT on Windows), so no wake-up is lost.
pub trait StoreWaker: Send + Sync {
    fn wake(&self);
    fn wait(&self);
}

/// One store session of a child.
pub struct BusTransport<W: StoreWaker> {
    bus: Arc<Bus>,
    session: u64,
    waker: Arc<W>,
    buf: Vec<u8>,
}

/// The control plane's xenstore client over a store session (implements `Store`).
pub type BusStore<W> = Client<BusTransport<W>>;

/// Opens a store session on `bus`, woken through `waker`.
pub fn open_store<W: StoreWaker + 'static>(
    bus: &Arc<Bus>,
    waker: Arc<W>,
) -> Result<BusStore<W>, BusError> {
    Ok(Client::new(BusTransport::open(bus.clone(), waker)?))
}

unsafe extern "C" fn wake<W: StoreWaker>(ctx: *mut c_void) {
    // SAFETY: `ctx` is the transport's Arc<W>, alive until after the session is closed.
    unsafe { (*(ctx as *const W)).wake() }
}

/// A bus failure as the client sees it: the connection is gone.
fn io(e: BusError) -> ClientError {
    ClientError::Io(-(BusStatus::from(e).code as i32))
}

impl<W: StoreWaker + 'static> BusTransport<W> {
    pub fn open(bus: Arc<Bus>, waker: Arc<W>) -> Result<Self, BusError> {
        let mut session = 0;
        let ctx = Arc::as_ptr(&waker) as *mut c_void;
        call!(bus, store_open, Some(wake::<W>), ctx, &mut session)?;
        Ok(BusTransport {
            bus,
            session,
            waker,
            buf: vec![0; MAX_MESSAGE],
        })
    }

    pub fn session(&self) -> u64 {
        self.session
    }
}

impl<W: StoreWaker> Drop for BusTransport<W> {
    fn drop(&mut self) {
        // After this the provider no longer calls `wake` with our waker, so it may go.
        let _ = call!(self.bus, store_close, self.session);
    }
}

impl<W: StoreWaker> Transport for BusTransport<W> {
    fn send(&mut self, msg: &Message) -> Result<(), ClientError> {
        let bytes = msg.to_bytes();
        call!(
            self.bus,
            store_send,
            self.session,
            bytes.as_ptr(),
            bytes.len()
        )
        .map_err(io)
    }

    fn recv(&mut self) -> Result<Message, ClientError> {
        loop {
            if let Some(m) = self.try_recv()? {
                return Ok(m);
            }
            self.waker.wait();
        }
    }

    fn try_recv(&mut self) -> Result<Option<Message>, ClientError> {
        let mut len = 0;
        let r = call!(
            self.bus,
            store_recv,
            self.session,
            self.buf.as_mut_ptr(),
            self.buf.len(),
            &mut len
        );
        match r {
            Ok(()) => {}
            Err(BusError::Empty) => return Ok(None),
            Err(e) => return Err(io(e)),
        }
        // The provider's message is framed again here: one whole message, nothing more.
        let mut bytes = self.buf.get(..len).ok_or(io(BusError::BadMessage))?;
        let mut decoder = Decoder::new();
        match decoder.feed(&mut bytes).map_err(ClientError::Decode)? {
            Some(m) if bytes.is_empty() => Ok(Some(m)),
            _ => Err(io(BusError::BadMessage)),
        }
    }
}
