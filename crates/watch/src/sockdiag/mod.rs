//! Socket-state counts from sock_diag netlink dumps: filtered in the kernel, parsed one byte per socket.

mod bytecode;
mod message;
mod sys;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::{PortFilter, StateCounts, TcpState};

/// What went wrong talking to sock_diag.
#[derive(Debug, thiserror::Error)]
pub enum DiagError {
    /// The netlink socket could not be opened, written or read.
    #[error("sock_diag netlink socket: {0}")]
    Io(#[from] std::io::Error),
    /// The kernel refused the request.
    #[error("the kernel refused the sock_diag dump: {0}")]
    Kernel(std::io::Error),
    /// The answer did not have the expected shape.
    #[error("malformed sock_diag answer: {0}")]
    Malformed(String),
}

/// A LISTEN socket and its accept queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    /// The address it listens on.
    pub local: SocketAddr,
    /// Connections waiting to be accepted now.
    pub accept_queue: u32,
    /// The accept queue's capacity: min(listen() backlog, somaxconn).
    pub backlog: u32,
}

impl Listener {
    /// How full the accept queue is, 0.0 to 1.0 (1.0 for a zero backlog).
    pub fn fill(&self) -> f64 {
        if self.backlog == 0 {
            1.0
        } else {
            f64::from(self.accept_queue) / f64::from(self.backlog)
        }
    }
}

/// What one dump cost: the figure that keeps the observer from becoming the load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DumpCost {
    /// Wall time from sending the request to the end-of-dump message, in microseconds.
    pub wall_us: u64,
    /// Sockets received.
    pub sockets: u64,
    /// Bytes received.
    pub bytes: u64,
    /// `recv` calls made.
    pub reads: u64,
}

/// Per-state counts of one dump, by family, plus every LISTEN socket.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Census {
    /// IPv4 sockets by state.
    pub ipv4: StateCounts,
    /// IPv6 sockets by state (including v4-mapped peers on IPv6 sockets).
    pub ipv6: StateCounts,
    /// LISTEN sockets with their accept queues.
    pub listeners: Vec<Listener>,
    /// What the dump cost.
    pub cost: DumpCost,
}

impl Census {
    /// Both families together.
    pub fn total(&self) -> StateCounts {
        let mut all = self.ipv4;
        all += self.ipv6;
        all
    }

    /// Add another census of disjoint sockets (another family or other states) to this one.
    pub fn absorb(&mut self, other: Census) {
        self.ipv4 += other.ipv4;
        self.ipv6 += other.ipv6;
        self.listeners.extend(other.listeners);
        self.cost.wall_us += other.cost.wall_us;
        self.cost.sockets += other.cost.sockets;
        self.cost.bytes += other.cost.bytes;
        self.cost.reads += other.cost.reads;
    }

    fn tally(&mut self, buf: &[u8], seq: u32) -> Result<bool, DiagError> {
        for record in message::records(buf, seq) {
            match record? {
                message::Record::Socket(msg) => {
                    self.cost.sockets += 1;
                    let state = msg.state();
                    if msg.is_ipv6() {
                        self.ipv6.add_number(state)
                    } else {
                        self.ipv4.add_number(state)
                    }
                    if state == TcpState::Listen.number() {
                        self.listeners.push(Listener {
                            local: msg.local(),
                            accept_queue: msg.rqueue(),
                            backlog: msg.wqueue(),
                        });
                    }
                }
                message::Record::Done => return Ok(true),
                message::Record::Foreign => {}
            }
        }
        Ok(false)
    }
}

/// A sock_diag connection to the network namespace the calling thread was in when it was opened.
#[derive(Debug)]
pub struct SockDiag {
    socket: sys::DiagSocket,
    buf: Vec<u8>,
    seq: u32,
}

/// The kernel fills at most 32 KiB per datagram for a dump; twice that leaves room for any future change.
const RECV_BUF: usize = 64 << 10;

impl SockDiag {
    /// Open a sock_diag socket in the current network namespace.
    pub fn open() -> Result<Self, DiagError> {
        Ok(Self {
            socket: sys::DiagSocket::open()?,
            buf: vec![0; RECV_BUF],
            seq: 0,
        })
    }

    /// Count every TCP socket (IPv4 and IPv6) by state, keeping those matching any of `ports` (all if
    /// empty), in one walk of the kernel's socket tables.
    pub fn census(&mut self, ports: &[PortFilter]) -> Result<Census, DiagError> {
        self.census_states(message::ALL_STATES, ports)
    }

    /// Like [`census`](Self::census) but only for sockets in `states`: the kernel skips the others
    /// without sending them.
    pub fn census_of(&mut self, states: &[TcpState], ports: &[PortFilter]) -> Result<Census, DiagError> {
        self.census_states(state_mask(states), ports)
    }

    /// Count IPv6 sockets in `states` only (`SOCK_DIAG_BY_FAMILY`); the kernel still walks every socket
    /// but sends only the IPv6 ones.
    pub fn census_ipv6(&mut self, states: &[TcpState]) -> Result<Census, DiagError> {
        self.seq = self.seq.wrapping_add(1);
        let request = message::ipv6_dump_request(self.seq, state_mask(states));
        self.run(&request)
    }

    fn census_states(&mut self, states: u32, ports: &[PortFilter]) -> Result<Census, DiagError> {
        self.seq = self.seq.wrapping_add(1);
        let request = message::dump_request(self.seq, states, bytecode::compile(ports).as_deref());
        self.run(&request)
    }

    fn run(&mut self, request: &[u8]) -> Result<Census, DiagError> {
        let started = Instant::now();
        self.socket.send(request)?;
        let mut census = Census::default();
        loop {
            let n = self.socket.recv(&mut self.buf)?;
            census.cost.reads += 1;
            census.cost.bytes += n as u64;
            if n == 0 {
                return Err(DiagError::Malformed(
                    "the dump ended without a done message".into(),
                ));
            }
            if census.tally(&self.buf[..n], self.seq)? {
                break;
            }
        }
        census.cost.wall_us = duration_us(started.elapsed());
        Ok(census)
    }
}

fn state_mask(states: &[TcpState]) -> u32 {
    states.iter().fold(0u32, |m, s| m | 1 << s.number())
}

/// Microseconds in `d`, saturating.
pub(crate) fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dump captured on Linux 6.18 in a fresh netns holding: LISTEN 127.0.0.1:16010 (backlog 5, two
    /// connections waiting), those two connections (4 ESTABLISHED sockets), LISTEN [::1]:16011 (backlog 7)
    /// and one IPv6 connection whose server end closed (FIN_WAIT2 and CLOSE_WAIT). Request seq 9.
    const MIXED: &[u8] = include_bytes!("../../testdata/dump-mixed-6.18.bin");

    #[test]
    fn counts_a_captured_dump() {
        let mut census = Census::default();
        assert!(
            census.tally(MIXED, 9).unwrap(),
            "the capture ends with NLMSG_DONE"
        );
        assert_eq!(census.ipv4.get(TcpState::Listen), 1);
        assert_eq!(census.ipv4.get(TcpState::Established), 4);
        assert_eq!(census.ipv4.total(), 5);
        assert_eq!(census.ipv6.get(TcpState::Listen), 1);
        assert_eq!(census.ipv6.get(TcpState::FinWait2), 1);
        assert_eq!(census.ipv6.get(TcpState::CloseWait), 1);
        assert_eq!(census.ipv6.total(), 3);
        assert_eq!(census.cost.sockets, 8);
        let mut listeners = census.listeners.clone();
        listeners.sort_by_key(|l| l.local.port());
        assert_eq!(
            listeners,
            vec![
                Listener {
                    local: "127.0.0.1:16010".parse().unwrap(),
                    accept_queue: 2,
                    backlog: 5
                },
                Listener {
                    local: "[::1]:16011".parse().unwrap(),
                    accept_queue: 0,
                    backlog: 7
                },
            ]
        );
        assert!((listeners[0].fill() - 0.4).abs() < 1e-9);
    }

    #[test]
    fn another_sequence_is_ignored() {
        let mut census = Census::default();
        assert!(!census.tally(MIXED, 10).unwrap());
        assert_eq!(census.total().total(), 0);
    }

    #[test]
    fn agrees_with_netlink_packet_sock_diag() {
        use netlink_packet_core::Parseable;
        use netlink_packet_sock_diag::inet::InetResponseHeader;
        let mut seen = 0;
        let mut off = 0;
        while off < MIXED.len() {
            let len = u32::from_ne_bytes(MIXED[off..off + 4].try_into().unwrap()) as usize;
            let one = &MIXED[off..off + len];
            off += (len + 3) & !3;
            let Some(Ok(message::Record::Socket(ours))) = message::records(one, 9).next() else {
                continue;
            };
            let theirs = InetResponseHeader::parse(&one[16..]).unwrap();
            assert_eq!(ours.state(), theirs.state);
            assert_eq!(ours.is_ipv6(), theirs.family == 10);
            assert_eq!(ours.local().ip(), theirs.socket_id.source_address);
            assert_eq!(ours.local().port(), theirs.socket_id.source_port);
            assert_eq!(ours.remote().ip(), theirs.socket_id.destination_address);
            assert_eq!(ours.remote().port(), theirs.socket_id.destination_port);
            assert_eq!(
                (ours.rqueue(), ours.wqueue()),
                (theirs.recv_queue, theirs.send_queue)
            );
            seen += 1;
        }
        assert_eq!(seen, 8);
    }
}
