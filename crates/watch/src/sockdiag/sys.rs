//! The `NETLINK_SOCK_DIAG` socket: the only syscalls of this crate besides `setns`.

use std::io;
use std::os::fd::OwnedFd;

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType, netlink, sockopt};

/// Large enough that the kernel's receive queue never throttles a dump between our reads.
const RECV_QUEUE: usize = 4 << 20;

/// A netlink socket talking to the sock_diag subsystem of the network namespace it was opened in.
#[derive(Debug)]
pub(crate) struct DiagSocket {
    fd: OwnedFd,
}

impl DiagSocket {
    /// `socket(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG)`—Open a sock_diag socket.
    pub(crate) fn open() -> io::Result<Self> {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            Some(netlink::SOCK_DIAG),
        )?;
        // The forced size needs CAP_NET_ADMIN; without it the capped size still works, only with more reads.
        if sockopt::set_socket_recv_buffer_size_force(&fd, RECV_QUEUE).is_err() {
            sockopt::set_socket_recv_buffer_size(&fd, RECV_QUEUE)?;
        }
        Ok(Self { fd })
    }

    /// `send(fd, request)`—Send one request to the kernel.
    pub(crate) fn send(&self, request: &[u8]) -> io::Result<()> {
        let sent = rustix::net::send(&self.fd, request, SendFlags::empty())?;
        if sent != request.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short send of a sock_diag request",
            ));
        }
        Ok(())
    }

    /// `recv(fd, buf)`—Receive one datagram (a batch of dump records).
    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match rustix::net::recv(&self.fd, &mut *buf, RecvFlags::empty()) {
                Ok((n, _)) => return Ok(n),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}
