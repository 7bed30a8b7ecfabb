//! Failed syscalls in the vocabulary of limits: which step failed, with which errno, and which kernel or
//! process limit that names. `load`, `serve` and `watch` share it so they blame the same thing.

use std::fmt;

use c1m_kernel::Limit;
use serde::{Deserialize, Serialize};

/// The step of a connection's life in which a syscall failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// `socket()`: no descriptor or no memory for a new socket.
    Socket,
    /// `bind()` to the source address.
    Bind,
    /// `connect()`, its asynchronous outcome, or the connect timeout.
    Connect,
    /// Reading from an established connection (including the peer closing it).
    Read,
    /// Writing to an established connection.
    Write,
    /// Registering the socket with epoll.
    Epoll,
    /// `accept()` on a listener.
    Accept,
}

impl Phase {
    /// The stable name used in JSON and tables.
    pub fn key(self) -> &'static str {
        match self {
            Phase::Socket => "socket",
            Phase::Bind => "bind",
            Phase::Connect => "connect",
            Phase::Read => "read",
            Phase::Write => "write",
            Phase::Epoll => "epoll",
            Phase::Accept => "accept",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Evidence beyond the errno that decides an ambiguous failure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clues {
    /// `TcpExt: ListenOverflows` rose during the run: a listener dropped handshakes because its accept queue
    /// was full, which is what turns into connect timeouts and resets on the client side.
    pub listen_overflows_rising: bool,
}

/// The limit that a failed syscall names, if the errno names one.
///
/// `EADDRNOTAVAIL` from `bind` is not a port shortage (the source address is not on this host), so the phase
/// matters as much as the errno.
pub fn classify(phase: Phase, errno: i32, clues: Clues) -> Option<Limit> {
    match (phase, errno) {
        (_, libc::EMFILE) => Some(Limit::NofileSoft),
        (_, libc::ENFILE) => Some(Limit::FileMax),
        (Phase::Epoll, libc::ENOSPC) => Some(Limit::EpollMaxUserWatches),
        (Phase::Connect, libc::EADDRNOTAVAIL) => Some(Limit::EphemeralPorts),
        (Phase::Bind | Phase::Connect, libc::EADDRINUSE) => Some(Limit::EphemeralPorts),
        (_, libc::ENOBUFS) => Some(Limit::TcpMem),
        (_, libc::ENOMEM) => Some(Limit::Memory),
        (Phase::Connect, libc::ECONNREFUSED) => Some(Limit::Refused),
        (Phase::Connect | Phase::Read, libc::ETIMEDOUT | libc::ECONNRESET)
            if clues.listen_overflows_rising =>
        {
            Some(Limit::ListenBacklog)
        }
        _ => None,
    }
}

/// The symbolic name of an errno (`EADDRNOTAVAIL`), or `errno N` for one c1m does not expect.
pub fn errno_name(errno: i32) -> String {
    let known = match errno {
        0 => "EOF",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::ENOSPC => "ENOSPC",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::ENOBUFS => "ENOBUFS",
        libc::ENOMEM => "ENOMEM",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ECONNRESET => "ECONNRESET",
        libc::ECONNABORTED => "ECONNABORTED",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::EPIPE => "EPIPE",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::EINVAL => "EINVAL",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        _ => return format!("errno {errno}"),
    };
    known.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Clues = Clues {
        listen_overflows_rising: false,
    };
    const OVERFLOWING: Clues = Clues {
        listen_overflows_rising: true,
    };

    #[test]
    fn errnos_name_their_limits() {
        assert_eq!(
            classify(Phase::Connect, libc::EADDRNOTAVAIL, NONE),
            Some(Limit::EphemeralPorts)
        );
        assert_eq!(
            classify(Phase::Bind, libc::EADDRINUSE, NONE),
            Some(Limit::EphemeralPorts)
        );
        assert_eq!(
            classify(Phase::Socket, libc::EMFILE, NONE),
            Some(Limit::NofileSoft)
        );
        assert_eq!(classify(Phase::Accept, libc::ENFILE, NONE), Some(Limit::FileMax));
        assert_eq!(
            classify(Phase::Epoll, libc::ENOSPC, NONE),
            Some(Limit::EpollMaxUserWatches)
        );
        assert_eq!(classify(Phase::Write, libc::ENOBUFS, NONE), Some(Limit::TcpMem));
        assert_eq!(classify(Phase::Socket, libc::ENOMEM, NONE), Some(Limit::Memory));
        assert_eq!(
            classify(Phase::Connect, libc::ECONNREFUSED, NONE),
            Some(Limit::Refused)
        );
    }

    #[test]
    fn phase_disambiguates() {
        // A source address that is not local is a configuration error, not a port shortage.
        assert_eq!(classify(Phase::Bind, libc::EADDRNOTAVAIL, NONE), None);
        // ENOSPC outside epoll (say, a full disk) is not the watch limit.
        assert_eq!(classify(Phase::Write, libc::ENOSPC, NONE), None);
    }

    #[test]
    fn timeouts_blame_the_backlog_only_with_evidence() {
        assert_eq!(classify(Phase::Connect, libc::ETIMEDOUT, NONE), None);
        assert_eq!(
            classify(Phase::Connect, libc::ETIMEDOUT, OVERFLOWING),
            Some(Limit::ListenBacklog)
        );
        assert_eq!(
            classify(Phase::Read, libc::ECONNRESET, OVERFLOWING),
            Some(Limit::ListenBacklog)
        );
        assert_eq!(classify(Phase::Read, libc::ECONNRESET, NONE), None);
    }

    #[test]
    fn names() {
        assert_eq!(errno_name(libc::EADDRNOTAVAIL), "EADDRNOTAVAIL");
        assert_eq!(errno_name(0), "EOF");
        assert_eq!(errno_name(4095), "errno 4095");
    }
}
