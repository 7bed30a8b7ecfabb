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
        Failure {
            phase,
            errno: e.raw_os_error(),
        }
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
        Connector {
            port_slices_work: true,
        }
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
        let in_progress =
            sys::connect::connect_start(&fd, target).map_err(|e| Failure::new(Phase::Connect, e))?;
        let conn = Conn::from_owned(fd);
        Ok(if in_progress {
            Started::InProgress(conn)
        } else {
            Started::Connected(conn)
        })
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Events, Interest, Listener, Poller};

    /// Start a connection and wait (on epoll, up to 10 s) for its outcome.
    fn settle(
        connector: &mut Connector,
        source: Option<IpAddr>,
        target: SocketAddr,
        ports: Option<PortSlice>,
    ) -> Result<Conn, Failure> {
        let conn = match connector.start(source, target, ports)? {
            Started::Connected(c) => return Ok(c),
            Started::InProgress(c) => c,
        };
        let poller = Poller::new().unwrap();
        poller.register(&conn, 1, Interest::ReadWrite).unwrap();
        let mut events = Events::with_capacity(4);
        poller.wait(&mut events, Duration::from_secs(10)).unwrap();
        finish_connect(&conn).map(|()| conn)
    }

    #[test]
    fn binds_the_source_and_takes_a_port_from_the_slice() {
        let listener = Listener::bind("127.0.0.1:0".parse().unwrap(), 64).unwrap();
        let mut connector = Connector::default();
        let slice = PortSlice { lo: 45000, hi: 45099 };
        let source: IpAddr = "127.0.0.2".parse().unwrap();
        let conn = settle(&mut connector, Some(source), listener.local_addr(), Some(slice)).unwrap();
        let local = local_addr(&conn).unwrap();
        assert_eq!(local.ip(), source);
        if connector.port_slices_work() {
            assert!(
                (slice.lo..=slice.hi).contains(&local.port()),
                "port {} outside the slice",
                local.port()
            );
        }
    }

    #[test]
    fn failures_carry_phase_and_errno() {
        // Nothing listens on the port of a listener that was just closed.
        let target = Listener::bind("127.0.0.1:0".parse().unwrap(), 1)
            .unwrap()
            .local_addr();
        let mut connector = Connector::default();
        let refused = settle(&mut connector, None, target, None).map(|_| ());
        assert_eq!(
            refused,
            Err(Failure {
                phase: Phase::Connect,
                errno: libc::ECONNREFUSED
            })
        );
        // A source address that is not on this host fails in bind, not connect.
        let err = connector
            .start(Some("192.0.2.1".parse().unwrap()), target, None)
            .unwrap_err();
        assert_eq!(
            err,
            Failure {
                phase: Phase::Bind,
                errno: libc::EADDRNOTAVAIL
            }
        );
    }
}
