//! Outbound TCP syscalls: a non-blocking socket, a source address bound without a port, a per-socket
//! ephemeral port range, a non-blocking `connect`, and its outcome.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

/// `IP_LOCAL_PORT_RANGE` (Linux 6.3): libc 0.2 does not define it.
const IP_LOCAL_PORT_RANGE: libc::c_int = 51;

/// `socket(AF_INET[6], SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)`—A fresh non-blocking TCP socket.
pub fn tcp_socket(ipv6: bool) -> Result<OwnedFd, Errno> {
    let family = if ipv6 {
        AddressFamily::INET6
    } else {
        AddressFamily::INET
    };
    rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )
}

/// `setsockopt(IP_BIND_ADDRESS_NO_PORT, 1)`—Let a later `bind(ip, 0)` leave the port to `connect`, so ports
/// are shared by 4-tuple instead of reserved per socket.
pub fn set_bind_address_no_port(fd: impl AsFd) -> Result<(), Errno> {
    set_int_option(fd, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1)
}

/// `setsockopt(IP_LOCAL_PORT_RANGE, hi << 16 | lo)`—Clamp the ephemeral ports this socket may take to
/// `lo..=hi` inside the global range; the kernel then scans them one by one instead of by parity.
pub fn set_local_port_range(fd: impl AsFd, lo: u16, hi: u16) -> Result<(), Errno> {
    let packed = (u32::from(hi) << 16) | u32::from(lo);
    set_int_option(fd, libc::IPPROTO_IP, IP_LOCAL_PORT_RANGE, packed as libc::c_int)
}

fn set_int_option(
    fd: impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> Result<(), Errno> {
    // SAFETY: the fd is borrowed and open for the call; `value` lives on this frame for the duration of the
    // call and the length passed is exactly its size; the kernel only reads from it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_fd().as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::INVAL))
    }
}

/// `bind(fd, (ip, 0))`—Pick the source address; with [`set_bind_address_no_port`] the port waits for
/// `connect`.
pub fn bind_source(fd: impl AsFd, ip: IpAddr) -> Result<(), Errno> {
    rustix::net::bind(fd, &SocketAddr::new(ip, 0))
}

/// `connect(fd, addr)` on a non-blocking socket—`Ok(true)` if the handshake is under way (`EINPROGRESS`),
/// `Ok(false)` if it completed at once.
pub fn connect_start(fd: impl AsFd, addr: SocketAddr) -> Result<bool, Errno> {
    match rustix::net::connect(fd, &addr) {
        Ok(()) => Ok(false),
        Err(Errno::INPROGRESS) => Ok(true),
        Err(e) => Err(e),
    }
}

/// `getsockopt(SO_ERROR)`—How a non-blocking `connect` ended once the socket became writable.
pub fn connect_outcome(fd: impl AsFd) -> Result<(), Errno> {
    rustix::net::sockopt::socket_error(fd)?
}
