use c1m_kernel::Limit;
use serde::Serialize;

/// What to say about a limit when it has been hit, without a snapshot or target at hand: the load generator
/// finishes "stopped at N connections: <limit>; fix: <fix>" with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Advice {
    /// One line on why the limit stops connections.
    pub why: &'static str,
    /// The fix, as a command or a file line.
    pub fix: &'static str,
    /// What hitting it looks like: errno, counter or kernel log line.
    pub symptom: &'static str,
}

/// The advice for `limit`.
pub fn advice(limit: Limit) -> Advice {
    let (why, fix, symptom) = match limit {
        Limit::NofileSoft => (
            "every socket is a file descriptor, and a process cannot hold more than its soft RLIMIT_NOFILE",
            "raise the soft limit to the hard limit (c1m does this at start); for a service set LimitNOFILE=N:N in its unit",
            "socket()/accept() fail with EMFILE (Too many open files); no counter, but ListenOverflows rises as the accept queue fills",
        ),
        Limit::NofileHard => (
            "the soft fd limit cannot go above the hard limit, and raising the hard limit needs CAP_SYS_RESOURCE",
            "run more processes (c1m serve/load --workers auto), or raise the hard limit: LimitNOFILE=N:N in the unit, or prlimit --nofile=N:N as root with CAP_SYS_RESOURCE",
            "EMFILE once each process holds its hard limit; setrlimit fails with EPERM",
        ),
        Limit::NrOpen => (
            "fs.nr_open is the ceiling for any RLIMIT_NOFILE, enforced even for root",
            "sysctl -w fs.nr_open=N (N at least the per-process fd limit you need), persisted in /etc/sysctl.d",
            "setrlimit/LimitNOFILE above it fails with EPERM; the service does not start",
        ),
        Limit::FileMax => (
            "fs.file-max caps open files on the whole machine; 1M loopback connections use 2M file handles",
            "sysctl -w fs.file-max=N (never lower it: the kernel default is already about RAM/10 KiB)",
            "ENFILE (Too many open files in system) for non-root processes; kernel log 'VFS: file-max limit N reached'",
        ),
        Limit::EpollMaxUserWatches => (
            "every socket registered in epoll counts against a per-user budget across all processes of that user",
            "sysctl -w fs.epoll.max_user_watches=N",
            "epoll_ctl(EPOLL_CTL_ADD) fails with ENOSPC",
        ),
        Limit::EphemeralPorts => (
            "connect() picks a local port per (source IP, destination IP, destination port); one source reaches one destination at most range-size times",
            "spread connections over more source addresses (127.0.0.2, 127.0.0.3, ... on loopback need no setup) or destination ports; widening ip_local_port_range gains at most 2.3x",
            "connect() fails with EADDRNOTAVAIL (Cannot assign requested address); bind(port 0) fails with EADDRINUSE",
        ),
        Limit::ReservedPorts => (
            "an outgoing socket may take a port a service later wants to listen on",
            "sysctl -w net.ipv4.ip_local_reserved_ports=PORTS (for example 3306,5432,8080,30000-32767)",
            "a service restart fails with EADDRINUSE because a client socket holds its port",
        ),
        Limit::TwReuse => (
            "after close, TIME_WAIT holds a 4-tuple for 60 s; without reuse a client can open only range/60 s new connections per destination",
            "sysctl -w net.ipv4.tcp_tw_reuse=1 on the load generator (2, the default, covers loopback only)",
            "connect() fails with EADDRNOTAVAIL under connection churn; TcpExt TWRecycled stays flat",
        ),
        Limit::FinTimeout => (
            "tcp_fin_timeout bounds orphaned FIN_WAIT_2 sockets only; TIME_WAIT is a fixed 60 s",
            "none needed; lowering it does not shorten TIME_WAIT",
            "orphaned FIN_WAIT_2 sockets linger up to the timeout and count in sockstat tw",
        ),
        Limit::MaxTwBuckets => (
            "TIME_WAIT minisockets per namespace are capped; closing faster than cap/60 s overflows it",
            "sysctl -w net.ipv4.tcp_max_tw_buckets=N (256 B each) if close rate x 60 s exceeds it",
            "TcpExt TCPTimeWaitOverflow rises; the excess sockets skip TIME_WAIT protection",
        ),
        Limit::MaxOrphans => (
            "sockets closed by the application but still sending (FIN_WAIT1, LAST_ACK) are capped machine-wide",
            "sysctl -w net.ipv4.tcp_max_orphans=N after checking memory (each can pin up to 64 KB)",
            "kernel log 'TCP: too many orphaned sockets'; peers get RST; TcpExt TCPAbortOnMemory rises",
        ),
        Limit::Somaxconn => (
            "the kernel silently caps every listen() backlog at somaxconn",
            "sysctl -w net.core.somaxconn=N and make the server's listen() backlog match",
            "TcpExt ListenOverflows and ListenDrops rise; clients see slow connects or ETIMEDOUT during bursts",
        ),
        Limit::ListenBacklog => (
            "the accept queue is min(listen backlog, somaxconn): it absorbs connection bursts while the server is busy",
            "raise the server's listen() backlog (and somaxconn to at least that); accept faster with one SO_REUSEPORT listener per thread",
            "TcpExt ListenOverflows rises; SYNs are dropped and clients retry after 1 s, 3 s, 7 s",
        ),
        Limit::SynBacklog => (
            "half-open connections (SYN_RECV) are bounded; with syncookies on, the listen backlog bounds them and cookies take over",
            "keep net.ipv4.tcp_syncookies=1; raise the listen backlog rather than tcp_max_syn_backlog",
            "kernel log 'Possible SYN flooding on port N. Sending cookies.'; TcpExt TCPReqQFullDoCookies or TCPReqQFullDrop rise",
        ),
        Limit::TcpMem => (
            "tcp_mem (in pages) caps memory for queued TCP data on the whole machine; a socket with any unread data costs about a page",
            "sysctl -w net.ipv4.tcp_mem=\"MIN PRESSURE MAX\" in pages, MAX at least one page per busy connection",
            "kernel log 'TCP: out of memory -- consider tuning tcp_mem'; TcpExt TCPMemoryPressures and TCPAbortOnMemory rise; sends stall",
        ),
        Limit::TcpRmem => (
            "tcp_rmem's default is each socket's initial receive allowance; at scale, what is queued decides memory, not these",
            "leave the kernel defaults (4096 131072 6291456 or larger); do not copy 87380 from old guides",
            "lower defaults shrink throughput per connection; they do not add connections",
        ),
        Limit::TcpWmem => (
            "tcp_wmem's default lets every socket queue that much unsent data: N sockets x default bytes",
            "leave the kernel default 16384; bound unsent data with TCP_NOTSENT_LOWAT",
            "memory pressure (TcpExt TCPMemoryPressures) once many sockets hold unsent data",
        ),
        Limit::ConntrackMax => (
            "with nf_conntrack loaded and in use, every connection takes a table entry (idle ones stay 5 days)",
            "sysctl -w net.netfilter.nf_conntrack_max=N (and the hash size), or exempt the port with a NOTRACK rule",
            "kernel log 'nf_conntrack: table full, dropping packet'; new SYNs are dropped and clients time out",
        ),
        Limit::ConntrackBuckets => (
            "the conntrack hash should have about one bucket per entry; long chains slow every packet",
            "sysctl -w net.netfilter.nf_conntrack_buckets=N (initial namespace) and 'options nf_conntrack hashsize=N' in /etc/modprobe.d",
            "softirq CPU time rises with the table size; no error",
        ),
        Limit::NetdevMaxBacklog => (
            "loopback and non-NAPI packets queue per CPU before the stack processes them",
            "sysctl -w net.core.netdev_max_backlog=N if /proc/net/softnet_stat column 2 grows",
            "/proc/net/softnet_stat column 2 (dropped) grows; SYNs are lost and retried after 1 s",
        ),
        Limit::CongestionControl => (
            "the congestion control shapes throughput per flow, not how many connections fit",
            "none needed for connection count; for BBR set net.core.default_qdisc=fq",
            "none for connection count",
        ),
        Limit::DefaultQdisc => (
            "the qdisc of new interfaces; BBR without fq paces with one timer per socket",
            "sysctl -w net.core.default_qdisc=fq when using BBR on real NICs",
            "higher CPU with many BBR flows; none for connection count",
        ),
        Limit::Memory => (
            "every open socket holds about 3.7 KB of unswappable kernel slab (socket, inode, file, dentry, epoll item), plus a page when it holds data",
            "add RAM, or hold fewer connections per machine",
            "allocation failures (ENOMEM/ENOBUFS), the OOM killer, or TCP memory pressure",
        ),
        Limit::Refused => (
            "nothing is listening on the destination (or a firewall rejects)",
            "start the server first and check the address and port",
            "connect() fails with ECONNREFUSED",
        ),
    };
    Advice { why, fix, symptom }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_has_advice() {
        for &limit in Limit::ALL {
            let a = advice(limit);
            assert!(
                !a.why.is_empty() && !a.fix.is_empty() && !a.symptom.is_empty(),
                "{limit:?}"
            );
            assert!(
                !a.fix.ends_with('.') && !a.why.ends_with('.'),
                "{limit:?}: no final period"
            );
        }
        assert!(advice(Limit::EphemeralPorts).symptom.contains("EADDRNOTAVAIL"));
    }
}
