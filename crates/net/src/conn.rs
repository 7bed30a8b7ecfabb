use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;

use crate::sys::socket;

/// An accepted, non-blocking TCP connection: exactly one fd, 4 bytes, closed on drop.
///
/// `Option<Conn>` is also 4 bytes (an fd is never -1), which keeps per-connection tables tiny.
#[derive(Debug)]
#[repr(transparent)]
pub struct Conn(OwnedFd);

/// What one non-blocking read or write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    /// This many bytes moved (never 0).
    Moved(usize),
    /// The socket buffer is empty (read) or full (write): wait for the next edge.
    WouldBlock,
    /// The peer closed its sending side (read returned 0).
    Eof,
    /// The connection failed (ECONNRESET, EPIPE, ETIMEDOUT, ...).
    Failed(Errno),
}

impl Conn {
    pub(crate) fn from_owned(fd: OwnedFd) -> Conn {
        Conn(fd)
    }

    /// One `recv` into `buf`.
    pub fn read(&self, buf: &mut [u8]) -> Io {
        loop {
            return match socket::recv(&self.0, buf) {
                Ok(0) => Io::Eof,
                Ok(n) => Io::Moved(n),
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => Io::WouldBlock,
                Err(e) => Io::Failed(e),
            };
        }
    }

    /// Close with a reset (SO_LINGER 0) instead of a FIN: neither end keeps the connection in TIME_WAIT,
    /// so its 4-tuple (and this side's port) is free at once, and the close costs one packet, not four.
    pub fn reset(self) {
        // A failure leaves a plain close, which is still a close.
        let _ = socket::set_linger_zero(&self.0);
    }

    /// One `send` of `buf` (without SIGPIPE).
    pub fn write(&self, buf: &[u8]) -> Io {
        loop {
            return match socket::send(&self.0, buf) {
                Ok(n) => Io::Moved(n),
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => Io::WouldBlock,
                Err(e) => Io::Failed(e),
            };
        }
    }
}

impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_conn_is_four_bytes() {
        assert_eq!(std::mem::size_of::<Option<Conn>>(), 4);
    }
}
