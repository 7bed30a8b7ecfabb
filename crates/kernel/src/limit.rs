use std::fmt;

use serde::{Deserialize, Serialize};

/// A kernel or process limit that can stop a machine from holding more connections.
///
/// This is the shared vocabulary of c1m: doctor's rule table is keyed by it, `load` and `serve` map an errno
/// or a rising counter to it, and `watch` highlights it. The serialized form ([`Limit::key`]) is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// RLIMIT_NOFILE soft limit of a process (EMFILE).
    NofileSoft,
    /// RLIMIT_NOFILE hard limit of a process (the ceiling the soft limit can be raised to).
    NofileHard,
    /// fs.nr_open: ceiling for RLIMIT_NOFILE.
    NrOpen,
    /// fs.file-max: system-wide open files (ENFILE).
    FileMax,
    /// fs.epoll.max_user_watches: epoll registrations per user (ENOSPC from epoll_ctl).
    EpollMaxUserWatches,
    /// net.ipv4.ip_local_port_range: ephemeral ports per (source, destination, port) (EADDRNOTAVAIL).
    EphemeralPorts,
    /// net.ipv4.ip_local_reserved_ports: ports excluded from autobind.
    ReservedPorts,
    /// net.ipv4.tcp_tw_reuse: outgoing connect() reusing TIME_WAIT 4-tuples.
    TwReuse,
    /// net.ipv4.tcp_fin_timeout: lifetime of orphaned FIN_WAIT_2 sockets (not TIME_WAIT).
    FinTimeout,
    /// net.ipv4.tcp_max_tw_buckets: TIME_WAIT sockets per namespace (TCPTimeWaitOverflow).
    MaxTwBuckets,
    /// net.ipv4.tcp_max_orphans: sockets no longer attached to a file.
    MaxOrphans,
    /// net.core.somaxconn: cap on the listen() backlog.
    Somaxconn,
    /// The listen backlog a server asked for, min(backlog, somaxconn) (ListenOverflows).
    ListenBacklog,
    /// net.ipv4.tcp_max_syn_backlog (with tcp_syncookies): the SYN_RECV budget.
    SynBacklog,
    /// net.ipv4.tcp_mem: global TCP buffer memory in pages.
    TcpMem,
    /// net.ipv4.tcp_rmem: per-socket receive buffer sizes.
    TcpRmem,
    /// net.ipv4.tcp_wmem: per-socket send buffer sizes.
    TcpWmem,
    /// net.netfilter.nf_conntrack_max: tracked connections when conntrack is loaded.
    ConntrackMax,
    /// net.netfilter.nf_conntrack_buckets: the conntrack hash size.
    ConntrackBuckets,
    /// net.core.netdev_max_backlog: per-CPU input packet backlog.
    NetdevMaxBacklog,
    /// net.ipv4.tcp_congestion_control: the congestion control for new sockets.
    CongestionControl,
    /// net.core.default_qdisc: the default queueing discipline.
    DefaultQdisc,
    /// Physical memory: kernel slab per socket times sockets against MemAvailable.
    Memory,
    /// The connection target refused (nothing listening: ECONNREFUSED).
    Refused,
}

impl Limit {
    /// Every limit, in the order doctor reports them.
    pub const ALL: &'static [Limit] = &[
        Limit::NofileSoft,
        Limit::NofileHard,
        Limit::NrOpen,
        Limit::FileMax,
        Limit::EpollMaxUserWatches,
        Limit::EphemeralPorts,
        Limit::ReservedPorts,
        Limit::TwReuse,
        Limit::FinTimeout,
        Limit::MaxTwBuckets,
        Limit::MaxOrphans,
        Limit::Somaxconn,
        Limit::ListenBacklog,
        Limit::SynBacklog,
        Limit::TcpMem,
        Limit::TcpRmem,
        Limit::TcpWmem,
        Limit::ConntrackMax,
        Limit::ConntrackBuckets,
        Limit::NetdevMaxBacklog,
        Limit::CongestionControl,
        Limit::DefaultQdisc,
        Limit::Memory,
        Limit::Refused,
    ];

    /// The stable identifier used in JSON and on the command line (`c1m doctor --explain KEY`).
    pub fn key(self) -> &'static str {
        match self {
            Limit::NofileSoft => "nofile_soft",
            Limit::NofileHard => "nofile_hard",
            Limit::NrOpen => "nr_open",
            Limit::FileMax => "file_max",
            Limit::EpollMaxUserWatches => "epoll_max_user_watches",
            Limit::EphemeralPorts => "ephemeral_ports",
            Limit::ReservedPorts => "reserved_ports",
            Limit::TwReuse => "tw_reuse",
            Limit::FinTimeout => "fin_timeout",
            Limit::MaxTwBuckets => "max_tw_buckets",
            Limit::MaxOrphans => "max_orphans",
            Limit::Somaxconn => "somaxconn",
            Limit::ListenBacklog => "listen_backlog",
            Limit::SynBacklog => "syn_backlog",
            Limit::TcpMem => "tcp_mem",
            Limit::TcpRmem => "tcp_rmem",
            Limit::TcpWmem => "tcp_wmem",
            Limit::ConntrackMax => "conntrack_max",
            Limit::ConntrackBuckets => "conntrack_buckets",
            Limit::NetdevMaxBacklog => "netdev_max_backlog",
            Limit::CongestionControl => "congestion_control",
            Limit::DefaultQdisc => "default_qdisc",
            Limit::Memory => "memory",
            Limit::Refused => "refused",
        }
    }

    /// The sysctl key that governs this limit, if one does.
    pub fn sysctl(self) -> Option<&'static str> {
        Some(match self {
            Limit::NrOpen => "fs.nr_open",
            Limit::FileMax => "fs.file-max",
            Limit::EpollMaxUserWatches => "fs.epoll.max_user_watches",
            Limit::EphemeralPorts => "net.ipv4.ip_local_port_range",
            Limit::ReservedPorts => "net.ipv4.ip_local_reserved_ports",
            Limit::TwReuse => "net.ipv4.tcp_tw_reuse",
            Limit::FinTimeout => "net.ipv4.tcp_fin_timeout",
            Limit::MaxTwBuckets => "net.ipv4.tcp_max_tw_buckets",
            Limit::MaxOrphans => "net.ipv4.tcp_max_orphans",
            Limit::Somaxconn | Limit::ListenBacklog => "net.core.somaxconn",
            Limit::SynBacklog => "net.ipv4.tcp_max_syn_backlog",
            Limit::TcpMem => "net.ipv4.tcp_mem",
            Limit::TcpRmem => "net.ipv4.tcp_rmem",
            Limit::TcpWmem => "net.ipv4.tcp_wmem",
            Limit::ConntrackMax => "net.netfilter.nf_conntrack_max",
            Limit::ConntrackBuckets => "net.netfilter.nf_conntrack_buckets",
            Limit::NetdevMaxBacklog => "net.core.netdev_max_backlog",
            Limit::CongestionControl => "net.ipv4.tcp_congestion_control",
            Limit::DefaultQdisc => "net.core.default_qdisc",
            Limit::NofileSoft | Limit::NofileHard | Limit::Memory | Limit::Refused => return None,
        })
    }

    /// A short human name, as printed in tables and one-line verdicts.
    pub fn title(self) -> &'static str {
        match self {
            Limit::NofileSoft => "RLIMIT_NOFILE soft",
            Limit::NofileHard => "RLIMIT_NOFILE hard",
            Limit::NrOpen => "fs.nr_open",
            Limit::FileMax => "fs.file-max",
            Limit::EpollMaxUserWatches => "epoll watches per user",
            Limit::EphemeralPorts => "ephemeral ports",
            Limit::ReservedPorts => "reserved ports",
            Limit::TwReuse => "TIME_WAIT reuse",
            Limit::FinTimeout => "FIN_WAIT_2 timeout",
            Limit::MaxTwBuckets => "TIME_WAIT buckets",
            Limit::MaxOrphans => "orphan sockets",
            Limit::Somaxconn => "somaxconn",
            Limit::ListenBacklog => "listen backlog",
            Limit::SynBacklog => "SYN backlog",
            Limit::TcpMem => "TCP buffer memory (tcp_mem)",
            Limit::TcpRmem => "receive buffers (tcp_rmem)",
            Limit::TcpWmem => "send buffers (tcp_wmem)",
            Limit::ConntrackMax => "conntrack table",
            Limit::ConntrackBuckets => "conntrack hash",
            Limit::NetdevMaxBacklog => "netdev backlog",
            Limit::CongestionControl => "congestion control",
            Limit::DefaultQdisc => "default qdisc",
            Limit::Memory => "memory",
            Limit::Refused => "connection refused",
        }
    }

    /// Look a limit up by its [`key`](Limit::key) or its sysctl name.
    pub fn from_key(key: &str) -> Option<Limit> {
        Limit::ALL
            .iter()
            .copied()
            .find(|l| l.key() == key || l.sysctl() == Some(key))
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_round_trip() {
        for &l in Limit::ALL {
            assert_eq!(Limit::from_key(l.key()), Some(l));
            let json = serde_json_like(l);
            assert_eq!(json, l.key());
        }
        let mut keys: Vec<_> = Limit::ALL.iter().map(|l| l.key()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), Limit::ALL.len());
    }

    fn serde_json_like(l: Limit) -> String {
        // serde's snake_case renaming must agree with key(): the JSON schema promises it.
        format!("{l:?}")
            .chars()
            .enumerate()
            .flat_map(|(i, c)| {
                if c.is_uppercase() && i > 0 {
                    vec!['_', c.to_ascii_lowercase()]
                } else {
                    vec![c.to_ascii_lowercase()]
                }
            })
            .collect()
    }

    #[test]
    fn sysctl_lookup() {
        assert_eq!(
            Limit::from_key("net.ipv4.ip_local_port_range"),
            Some(Limit::EphemeralPorts)
        );
        assert_eq!(Limit::from_key("nonsense"), None);
    }
}
