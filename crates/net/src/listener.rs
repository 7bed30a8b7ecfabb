use std::net::SocketAddr;

use c1m_kernel::Limit;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;

use crate::Conn;
use crate::errno::{Clues, Phase, classify};
use crate::sys::socket;

/// A non-blocking TCP listening socket with `SO_REUSEPORT`, so each event-loop thread (and each worker
/// process) can own one on the same address and the kernel spreads incoming connections over them.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    local: SocketAddr,
}

/// Why binding a listener failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {errno}")]
pub struct BindError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// What the kernel said.
    pub errno: std::io::Error,
}

/// Why an `accept4` did not produce a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AcceptError {
    /// The accept queue is empty (EAGAIN): wait for the next readiness edge.
    #[error("no pending connection")]
    Drained,
    /// A process or kernel limit refused the new socket (EMFILE, ENFILE, ENOBUFS/ENOMEM); retrying at once
    /// would only spin, so the caller should pause accepting.
    #[error("accept refused by {0}")]
    Exhausted(Limit),
    /// The peer was gone before it could be accepted (ECONNABORTED, EPROTO, ...): try the next one.
    #[error("peer vanished before accept")]
    PeerGone,
    /// Anything else: the listener itself is broken.
    #[error("accept failed: {0}")]
    Failed(Errno),
}

impl Listener {
    /// Bind and listen on `addr` with `SO_REUSEPORT`. The kernel silently caps `backlog` at
    /// `net.core.somaxconn`; the caller reports the effective value.
    pub fn bind(addr: SocketAddr, backlog: u32) -> Result<Listener, BindError> {
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        let (fd, local) = socket::bind_stream(addr, true, Some(backlog)).map_err(|e| BindError {
            addr,
            errno: e.into(),
        })?;
        Ok(Listener { fd, local })
    }

    /// The address this listener is bound to (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Make [`accept`](Listener::accept) wait up to `timeout` for a connection instead of returning
    /// [`AcceptError::Drained`] at once: for a thread that does nothing but accept, this saves the
    /// `epoll_wait` (and the failed `accept4`) that each empty accept queue would otherwise cost.
    pub fn block_on_accept(&self, timeout: std::time::Duration) -> std::io::Result<()> {
        Ok(socket::set_blocking_with_timeout(&self.fd, timeout)?)
    }

    /// One `accept4`; the new connection is non-blocking and close-on-exec.
    pub fn accept(&self) -> Result<Conn, AcceptError> {
        loop {
            return match socket::accept(&self.fd) {
                Ok(fd) => Ok(Conn::from_owned(fd)),
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => Err(AcceptError::Drained),
                Err(e @ (Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)) => {
                    let limit =
                        classify(Phase::Accept, e.raw_os_error(), Clues::default()).unwrap_or(Limit::Memory);
                    Err(AcceptError::Exhausted(limit))
                }
                Err(
                    Errno::CONNABORTED | Errno::PROTO | Errno::PERM | Errno::NETDOWN | Errno::HOSTUNREACH,
                ) => Err(AcceptError::PeerGone),
                Err(e) => Err(AcceptError::Failed(e)),
            };
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A socket bound with `SO_REUSEPORT` but not listening: it holds a port (for example one the kernel picked
/// for port 0) so worker processes can all bind the same one, without ever receiving connections itself.
#[derive(Debug)]
pub struct PortReservation {
    _fd: OwnedFd,
    local: SocketAddr,
}

impl PortReservation {
    /// Reserve `addr` (port 0 picks a free port).
    pub fn new(addr: SocketAddr) -> Result<PortReservation, BindError> {
        let (fd, local) = socket::bind_stream(addr, true, None).map_err(|e| BindError {
            addr,
            errno: e.into(),
        })?;
        Ok(PortReservation { _fd: fd, local })
    }

    /// The reserved address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_drains() {
        let l = Listener::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        assert_eq!(l.accept().unwrap_err(), AcceptError::Drained);
        let _c = std::net::TcpStream::connect(l.local_addr()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match l.accept() {
                Ok(_) => break,
                Err(AcceptError::Drained) if std::time::Instant::now() < deadline => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn blocking_accept_times_out_then_accepts() {
        let l = Listener::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        l.block_on_accept(std::time::Duration::from_millis(50)).unwrap();
        let start = std::time::Instant::now();
        assert_eq!(l.accept().unwrap_err(), AcceptError::Drained);
        assert!(
            start.elapsed() >= std::time::Duration::from_millis(40),
            "it waited"
        );
        let _c = std::net::TcpStream::connect(l.local_addr()).unwrap();
        assert!(l.accept().is_ok());
    }

    #[test]
    fn reservation_lets_listeners_share_the_port() {
        let r = PortReservation::new("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_ne!(r.local_addr().port(), 0);
        let a = Listener::bind(r.local_addr(), 16).unwrap();
        let b = Listener::bind(r.local_addr(), 16).unwrap();
        assert_eq!(a.local_addr(), b.local_addr());
    }
}
