//! Listening sockets, accept4, and non-blocking reads and writes on connected sockets.

use std::net::SocketAddr;

use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{self, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType, sockopt};

/// `socket(2)` + `SO_REUSEADDR` (+ `SO_REUSEPORT`) + `bind(2)` (+ `listen(2)` when `backlog` is given), all
/// non-blocking and close-on-exec. Returns the socket and the address it is bound to (the real port for 0).
pub(crate) fn bind_stream(
    addr: SocketAddr,
    reuseport: bool,
    backlog: Option<i32>,
) -> Result<(OwnedFd, SocketAddr), Errno> {
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    if reuseport {
        sockopt::set_socket_reuseport(&fd, true)?;
    }
    net::bind(&fd, &addr)?;
    if let Some(backlog) = backlog {
        net::listen(&fd, backlog)?;
    }
    let local = local_addr(&fd)?;
    Ok((fd, local))
}

/// `getsockname(2)` as a std address.
pub(crate) fn local_addr(fd: impl AsFd) -> Result<SocketAddr, Errno> {
    SocketAddr::try_from(net::getsockname(fd)?).map_err(|_| Errno::AFNOSUPPORT)
}

/// `accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)`.
pub(crate) fn accept(fd: impl AsFd) -> Result<OwnedFd, Errno> {
    net::accept_with(fd, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC)
}

/// `recv(fd, buf, 0)`: 0 means the peer closed its side.
pub(crate) fn recv(fd: impl AsFd, buf: &mut [u8]) -> Result<usize, Errno> {
    net::recv(fd, buf, RecvFlags::empty()).map(|(n, _)| n)
}

/// `send(fd, buf, MSG_NOSIGNAL)`: a peer that went away is an `EPIPE`, never a SIGPIPE.
pub(crate) fn send(fd: impl AsFd, buf: &[u8]) -> Result<usize, Errno> {
    net::send(fd, buf, SendFlags::NOSIGNAL)
}

/// `ioctl(FIONBIO, 0)` + `SO_RCVTIMEO`: make `fd` blocking, with reads and accepts giving up (EAGAIN) after
/// `timeout`.
pub(crate) fn set_blocking_with_timeout(fd: impl AsFd, timeout: std::time::Duration) -> Result<(), Errno> {
    rustix::io::ioctl_fionbio(&fd, false)?;
    sockopt::set_socket_timeout(&fd, sockopt::Timeout::Recv, Some(timeout))
}

/// `SO_LINGER {on, 0}`: closing the socket then sends a reset instead of a FIN.
pub(crate) fn set_linger_zero(fd: impl AsFd) -> Result<(), Errno> {
    sockopt::set_socket_linger(&fd, Some(std::time::Duration::ZERO))
}
