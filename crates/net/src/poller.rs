use std::time::Duration;

use rustix::fd::{AsFd, OwnedFd};

use crate::sys::epoll::{self, Event, EventFlags};

/// One epoll instance. Registrations are edge-triggered: after an event, drain the socket until
/// [`crate::Io::WouldBlock`] (or [`crate::AcceptError::Drained`]) or no further event will come.
#[derive(Debug)]
pub struct Poller {
    ep: OwnedFd,
}

/// What a registration waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Readable (and peer hang-up).
    Read,
    /// Readable and writable: for connections that may have to wait to send.
    ReadWrite,
}

/// A reusable buffer of readiness events filled by [`Poller::wait`].
pub struct Events(Vec<Event>);

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Readiness of one registered fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    /// The token given at registration.
    pub token: u64,
    /// Data (or EOF) can be read.
    pub readable: bool,
    /// The send buffer has room.
    pub writable: bool,
    /// The peer hung up or the socket has an error: reading will tell which.
    pub closed: bool,
}

impl Poller {
    /// A new epoll instance.
    pub fn new() -> std::io::Result<Poller> {
        Ok(Poller { ep: epoll::create()? })
    }

    /// Register `fd` edge-triggered under `token`.
    pub fn register(&self, fd: impl AsFd, token: u64, interest: Interest) -> std::io::Result<()> {
        let mut flags = EventFlags::IN | EventFlags::RDHUP | EventFlags::ET;
        if interest == Interest::ReadWrite {
            flags |= EventFlags::OUT;
        }
        Ok(epoll::add(&self.ep, fd, token, flags)?)
    }

    /// Remove `fd` (closing an fd also removes it; this is for fds that stay open).
    pub fn deregister(&self, fd: impl AsFd) -> std::io::Result<()> {
        Ok(epoll::delete(&self.ep, fd)?)
    }

    /// Wait up to `timeout` for events; a signal interrupting the wait yields no events.
    pub fn wait(&self, events: &mut Events, timeout: Duration) -> std::io::Result<()> {
        Ok(epoll::wait(&self.ep, &mut events.0, timeout)?)
    }
}

impl Events {
    /// Room for up to `capacity` events per wait.
    pub fn with_capacity(capacity: usize) -> Events {
        Events(Vec::with_capacity(capacity))
    }

    /// The events of the last wait.
    pub fn iter(&self) -> impl Iterator<Item = Readiness> + '_ {
        self.0.iter().map(|e| {
            let flags = e.flags;
            Readiness {
                token: e.data.u64(),
                readable: flags.intersects(EventFlags::IN | EventFlags::PRI),
                writable: flags.contains(EventFlags::OUT),
                closed: flags.intersects(EventFlags::HUP | EventFlags::ERR | EventFlags::RDHUP),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::{Io, Listener};

    #[test]
    fn reports_readable_connection() {
        let l = Listener::bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let p = Poller::new().unwrap();
        p.register(&l, 0, Interest::Read).unwrap();
        let mut client = std::net::TcpStream::connect(l.local_addr()).unwrap();
        let mut events = Events::with_capacity(8);
        p.wait(&mut events, Duration::from_secs(10)).unwrap();
        assert_eq!(
            events.iter().next().map(|r| (r.token, r.readable)),
            Some((0, true))
        );
        let conn = l.accept().unwrap();
        p.register(&conn, 7, Interest::Read).unwrap();
        client.write_all(b"hi").unwrap();
        p.wait(&mut events, Duration::from_secs(10)).unwrap();
        assert_eq!(
            events.iter().next().map(|r| (r.token, r.readable)),
            Some((7, true))
        );
        let mut buf = [0u8; 8];
        assert_eq!(conn.read(&mut buf), Io::Moved(2));
        assert_eq!(conn.read(&mut buf), Io::WouldBlock);
        drop(client);
        p.wait(&mut events, Duration::from_secs(10)).unwrap();
        assert!(events.iter().next().is_some_and(|r| r.closed || r.readable));
        assert_eq!(conn.read(&mut buf), Io::Eof);
    }
}
