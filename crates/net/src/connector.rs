//! Outbound connections: bind a source address without taking a port (`IP_BIND_ADDRESS_NO_PORT`), optionally
//! clamp the ephemeral ports to a slice (`IP_LOCAL_PORT_RANGE`), and start a non-blocking `connect`.

use std::net::{IpAddr, SocketAddr};

use rustix::io::Errno;

use crate::Conn;
use crate::errno::Phase;
use crate::sys;

/// A slice `lo..=hi` of the ephemeral port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSlice {
    /// First port of the slice.
    pub lo: u16,
    /// Last port of the slice (inclusive).
    pub hi: u16,
}

/// A syscall that failed while opening or using a connection: the step and the errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{phase} failed: {}", crate::errno::errno_name(*.errno))]
pub struct Failure {
    /// The step that failed.
    pub phase: Phase,
    /// The raw errno (0 for an orderly close by the peer).
    pub errno: i32,
}

impl Failure {
    /// A failure of `phase` with the errno `e`.
    pub fn new(phase: Phase, e: Errno) -> Failure {
        Failure { phase, errno: e.raw_os_error() }
    }
}

/// How a connection attempt started.
#[derive(Debug)]
pub enum Started {
    /// The handshake is under way: wait for the socket to become writable, then call [`finish_connect`].
    InProgress(Conn),
    /// The connection completed at once (possible on loopback).
    Connected(Conn),
}

/// Opens outbound connections, remembering whether this kernel knows `IP_LOCAL_PORT_RANGE`.
#[derive(Debug)]
pub struct Connector {
    port_slices_work: bool,
}

impl Default for Connector {
    fn default() -> Self {
        Connector { port_slices_work: true }
    }
}

impl Connector {
    /// Whether per-socket port slices are in effect (Linux 6.3+); false once the kernel refused one.
    pub fn port_slices_work(&self) -> bool {
        self.port_slices_work
    }

    /// Start a non-blocking connection to `target`, from `source` if given (port chosen at connect time),
    /// with its ephemeral port taken from `ports` if given and supported.
    pub fn start(
        &mut self,
        source: Option<IpAddr>,
        target: SocketAddr,
        ports: Option<PortSlice>,
    ) -> Result<Started, Failure> {
        let fd = sys::connect::tcp_socket(target.is_ipv6()).map_err(|e| Failure::new(Phase::Socket, e))?;
        if let Some(ip) = source {
            sys::connect::set_bind_address_no_port(&fd).map_err(|e| Failure::new(Phase::Bind, e))?;
            sys::connect::bind_source(&fd, ip).map_err(|e| Failure::new(Phase::Bind, e))?;
        }
        if let (Some(slice), true) = (ports, self.port_slices_work) {
            match sys::connect::set_local_port_range(&fd, slice.lo, slice.hi) {
                Ok(()) => {}
                // Kernels before 6.3 do not know the option; the global range still applies.
                Err(Errno::NOPROTOOPT | Errno::INVAL) => self.port_slices_work = false,
                Err(e) => return Err(Failure::new(Phase::Connect, e)),
            }
        }
        let in_progress = sys::connect::connect_start(&fd, target).map_err(|e| Failure::new(Phase::Connect, e))?;
        let conn = Conn::from_owned(fd);
        Ok(if in_progress { Started::InProgress(conn) } else { Started::Connected(conn) })
    }
}

/// The outcome of a connection that was [`Started::InProgress`], once its socket reported writable or hung up.
pub fn finish_connect(conn: &Conn) -> Result<(), Failure> {
    sys::connect::connect_outcome(conn).map_err(|e| Failure::new(Phase::Connect, e))
}

/// The local address (source IP and port) the kernel gave a connected socket.
pub fn local_addr(conn: &Conn) -> Option<SocketAddr> {
    sys::socket::local_addr(conn).ok()
}
