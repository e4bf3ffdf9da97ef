//! The store over /dev/xen/xenbus: the kernel relays each message written to xenstored (watches
//! included, whose events it queues for `read()`), so the control crate's stream transport runs on
//! it unchanged. Each message must reach the kernel in one `write()`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use xenpv_control::xs::client::{ByteStream, Client, Error, StreamTransport};

use crate::fd::{errno, open_rw, readable_now};

/// An open /dev/xen/xenbus.
#[derive(Debug)]
pub struct XenbusDev {
    fd: OwnedFd,
}

/// The store client of a Linux guest's user space.
pub type Store = Client<StreamTransport<XenbusDev>>;

impl XenbusDev {
    pub fn open() -> std::io::Result<Self> {
        Ok(XenbusDev {
            fd: open_rw(c"/dev/xen/xenbus")?,
        })
    }
}

/// Opens the store connection; the descriptor is for poll() (the client owns the device).
pub fn open_store() -> std::io::Result<(Store, RawFd)> {
    let dev = XenbusDev::open()?;
    let fd = dev.fd.as_raw_fd();
    Ok((Client::new(StreamTransport::new(dev)), fd))
}

impl AsFd for XenbusDev {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl ByteStream for XenbusDev {
    fn write_message(&mut self, bytes: &[u8]) -> Result<(), Error> {
        loop {
            // SAFETY: writing from a live slice of the given length.
            let n = unsafe {
                libc::write(
                    self.fd.as_raw_fd(),
                    bytes.as_ptr() as *const libc::c_void,
                    bytes.len(),
                )
            };
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            if n < 0 {
                return Err(Error::Io(errno()));
            }
            // The device takes a message whole or fails; a short count would split it.
            return if n as usize == bytes.len() {
                Ok(())
            } else {
                Err(Error::Io(libc::EIO))
            };
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        loop {
            // SAFETY: reading into a live mutable slice of the given length.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                )
            };
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            if n < 0 {
                return Err(Error::Io(errno()));
            }
            return Ok(n as usize);
        }
    }

    fn try_read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        let ready =
            readable_now(&self.fd).map_err(|e| Error::Io(e.raw_os_error().unwrap_or(-1)))?;
        if !ready {
            return Ok(None);
        }
        self.read(buf).map(Some)
    }
}
