use c1m_kernel::Limit;
use serde::Serialize;

use crate::{Advice, advice};

/// The full story of one limit (or one piece of folklore) for `c1m doctor --explain KEY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The key it was looked up by (a [`Limit::key`] or an extra topic such as `tcp_tw_recycle`).
    pub key: &'static str,
    /// Human name.
    pub title: &'static str,
    /// The limit, when the topic is one.
    pub limit: Option<Limit>,
    /// The sysctl involved, if any.
    pub sysctl: Option<&'static str>,
    /// What the million-connections article (shared/seed) claims, when it says anything.
    pub article_claim: Option<&'static str>,
    /// How it really works on a 6.x kernel, and what to do.
    pub story: &'static str,
    /// Why / fix / symptom, for limits.
    pub advice: Option<Advice>,
}

/// Topics that are not limits but that the article gets wrong.
const FOLKLORE: &[(&str, &str, Option<&str>, &str, &str)] = &[
    (
        "tcp_tw_recycle",
        "tcp_tw_recycle",
        Some("net.ipv4.tcp_tw_recycle"),
        "enable tcp_tw_reuse and tcp_tw_recycle (with caution for NAT)",
        "tcp_tw_recycle was broken in 4.10 (per-connection timestamp offsets) and removed in 4.12 (commit 4396e46187ca). \
         The key no longer exists: a sysctl.conf line setting it makes `sysctl -p` fail with 'cannot stat \
         /proc/sys/net/ipv4/tcp_tw_recycle'. Delete the line. For client churn use tcp_tw_reuse=1 (outgoing only) and \
         more source addresses; nothing makes TIME_WAIT shorter than 60 s.",
    ),
    (
        "limits_conf",
        "limits.conf and ulimit",
        None,
        "edit /etc/security/limits.conf (* soft/hard nofile 1048576) and run ulimit -n",
        "limits.conf is applied by pam_limits at login only: services started by systemd never see it. A service takes \
         LimitNOFILE=N:N in its unit (or a drop-in /etc/systemd/system/UNIT.service.d/limits.conf), then \
         `systemctl daemon-reload` and a restart; verify in /proc/PID/limits. systemd services default to soft 1024, \
         hard 524288, and 1048576 is the default fs.nr_open, so nothing higher can be set without raising nr_open \
         first. Where the hard limit cannot be raised at all (a container without CAP_SYS_RESOURCE, as on the machine \
         c1m was built on: 20000), spread sockets over processes: c1m serve/load --workers auto does.",
    ),
    (
        "rmem_max",
        "net.core.rmem_max / wmem_max",
        Some("net.core.rmem_max"),
        "raise net.core.rmem_max and wmem_max to 16 MiB",
        "rmem_max and wmem_max cap only what an application asks for with setsockopt(SO_RCVBUF/SO_SNDBUF). TCP \
         autotuning is bounded by tcp_rmem[2]/tcp_wmem[2] instead. Neither changes how many connections fit.",
    ),
];

/// The story for `key`: a [`Limit::key`], a sysctl name, or one of the extra topics (`tcp_tw_recycle`,
/// `limits_conf`, `rmem_max`).
pub fn explain(key: &str) -> Option<Explanation> {
    if let Some(limit) = Limit::from_key(key) {
        let (article_claim, story) = limit_story(limit);
        return Some(Explanation {
            key: limit.key(),
            title: limit.title(),
            limit: Some(limit),
            sysctl: limit.sysctl(),
            article_claim,
            story,
            advice: Some(advice(limit)),
        });
    }
    FOLKLORE
        .iter()
        .find(|(k, _, sysctl, _, _)| *k == key || *sysctl == Some(key))
        .map(|&(key, title, sysctl, claim, story)| Explanation {
            key,
            title,
            limit: None,
            sysctl,
            article_claim: Some(claim),
            story,
            advice: None,
        })
}

/// Every key `explain` knows, for error messages and completion.
pub fn topics() -> Vec<&'static str> {
    Limit::ALL
        .iter()
        .map(|l| l.key())
        .chain(FOLKLORE.iter().map(|f| f.0))
        .collect()
}

fn limit_story(limit: Limit) -> (Option<&'static str>, &'static str) {
    match limit {
        Limit::NofileSoft => (
            Some("raise the per-process limit with ulimit -n / limits.conf"),
            "The kernel enforces the soft RLIMIT_NOFILE: socket() and accept() fail with EMFILE at that many fds. Any \
             process may raise its soft limit up to its hard limit with setrlimit, and c1m does so at start, so only \
             the hard limit matters for c1m. Other servers must do the same (Go does since 1.19) or get LimitNOFILE \
             from their unit. See also --explain limits_conf.",
        ),
        Limit::NofileHard => (
            Some("* hard nofile 1048576 in /etc/security/limits.conf"),
            "The hard limit is the ceiling for the soft limit, and only CAP_SYS_RESOURCE raises it (up to fs.nr_open). \
             In containers and sandboxes it is often capped and cannot be raised at all. Then the only way to hold N \
             sockets is to spread them over processes, each below its limit: c1m reserves 64 fds per process for \
             listeners, epoll, pipes and stdio, and a server adds 10% for SO_REUSEPORT's uneven spread. doctor prints \
             how many processes each side needs. limits.conf applies to login shells only (--explain limits_conf).",
        ),
        Limit::NrOpen => (
            None,
            "fs.nr_open (default 1048576 since 2.6.25) is the ceiling for any RLIMIT_NOFILE, soft or hard, even for \
             root: setrlimit above it fails with EPERM, and a unit with LimitNOFILE above it fails to start. The \
             article's 1048576 equals this default, so one process can never hold more than about 1M sockets unless \
             nr_open is raised first (sysctl.d is applied early at boot, before services start).",
        ),
        Limit::FileMax => (
            Some("sysctl -w fs.file-max=2097152 (at least twice your target connection count)"),
            "fs.file-max counts open files machine-wide. The kernel default is already about RAM/10 KiB (2.4M on this \
             24 GiB machine, 6.7M on 64 GiB), and systemd >= 240 may set it to LONG_MAX at boot, so the article's \
             2097152 usually LOWERS it. Never lower it; raise it only when file-nr's first field approaches it. A 1M \
             loopback benchmark uses 2M file handles (both ends are local). Processes with CAP_SYS_ADMIN (root) bypass \
             it; everyone else gets ENFILE.",
        ),
        Limit::EpollMaxUserWatches => (
            None,
            "Each fd registered in any epoll instance counts against fs.epoll.max_user_watches for its user (about 4% \
             of low memory divided by ~160 B per watch). All worker processes of one user share it; a server and a \
             load generator on one machine under the same user count twice. Past it, epoll_ctl(ADD) fails with ENOSPC.",
        ),
        Limit::EphemeralPorts => (
            Some("sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\" gives almost 64,000 ports"),
            "The port range matters only for outgoing connect(), and the limit is per (source IP, destination IP, \
             destination port), not per machine: the kernel checks the whole 4-tuple. 1024-65535 is legal but \
             overlaps service ports (3306, 5432, 6379, 8080, NodePorts 30000-32767) and gains only 2.3x (28,232 -> \
             64,512). To open 1M connections to one server port, use 36 source addresses with the default range \
             (127.0.0.1-127.0.0.36 on loopback need no setup), with IP_BIND_ADDRESS_NO_PORT so bind-before-connect \
             does not pin a port per socket. A server's accepted connections use no ephemeral ports at all.",
        ),
        Limit::ReservedPorts => (
            None,
            "ip_local_reserved_ports removes ports from automatic assignment (explicit bind() still works). If the \
             port range is widened below 32768, reserve the ports your services listen on, or a client socket may \
             hold one when the service restarts (EADDRINUSE).",
        ),
        Limit::TwReuse => (
            Some("sysctl -w net.ipv4.tcp_tw_reuse=1 lets new connections reuse TIME_WAIT sockets"),
            "tcp_tw_reuse applies only to OUTGOING connect() (the load generator), never to connections a server \
             accepts. Its default is already 2 (loopback only) since 4.19. 1 enables it for every destination; it is \
             safe because it requires TCP timestamps and waits at least 1 s (tcp_tw_reuse_delay on 6.13+). It helps \
             connection churn, not concurrency: held connections have no TIME_WAIT.",
        ),
        Limit::FinTimeout => (
            Some("sysctl -w net.ipv4.tcp_fin_timeout=30 (reducing the FIN timeout can also help TIME_WAIT)"),
            "tcp_fin_timeout limits only ORPHANED sockets in FIN_WAIT_2 (closed by the application, waiting for the \
             peer's FIN). TIME_WAIT is TCP_TIMEWAIT_LEN, a compile-time 60 s that no sysctl changes. Lowering \
             fin_timeout is harmless but does nothing for TIME_WAIT or for connection count.",
        ),
        Limit::MaxTwBuckets => (
            None,
            "tcp_max_tw_buckets caps TIME_WAIT minisockets (about 256 B each) per namespace; the default is half the \
             established hash (at most 262144). A close rate R per second keeps about 60 x R in TIME_WAIT. Past the \
             cap the kernel destroys the excess at once (TCPTimeWaitOverflow), losing 2MSL protection: harmless when \
             a benchmark tears down, worth raising for a service with sustained churn above cap/60 s.",
        ),
        Limit::MaxOrphans => (
            None,
            "tcp_max_orphans (global) caps sockets the application closed while data or FIN is still in flight. At \
             teardown of a large run many sockets become orphans at once; past the cap the kernel resets them \
             ('TCP: too many orphaned sockets'). Each orphan may pin up to 64 KB, so raise it only with memory to \
             spare.",
        ),
        Limit::Somaxconn => (
            Some("sysctl -w net.core.somaxconn=4096"),
            "4096 is already the default since 5.4, so the article's line does nothing on a current kernel. somaxconn \
             caps the backlog each listen() call asks for, silently. It governs how large a burst of connection \
             attempts a listener absorbs while the server is busy (a rate question), not how many connections it can \
             hold.",
        ),
        Limit::ListenBacklog => (
            Some("the application's listen() backlog must be at least as large as the kernel setting"),
            "Backwards. The kernel silently caps listen(backlog) at somaxconn: the accept queue is min(backlog, \
             somaxconn). Raise the application's backlog (nginx defaults to 511) and make somaxconn at least that. \
             Watch TcpExt ListenOverflows, and `ss -ltn` (Recv-Q = queue now, Send-Q = effective backlog).",
        ),
        Limit::SynBacklog => (
            Some("sysctl -w net.ipv4.tcp_max_syn_backlog=2048"),
            "The default is max(128, established-hash/128), 4096 on hosts with >= 64 GiB, so 2048 can LOWER it. With \
             tcp_syncookies=1 (the default) it is not used at all: the request queue is bounded by the listen \
             backlog, and when it is full the kernel answers with cookies. Keep syncookies on; raise the listen \
             backlog instead.",
        ),
        Limit::TcpMem => (
            None,
            "tcp_mem is in PAGES (values copied in bytes are 4096x wrong) and global. Idle sockets charge nothing, but a \
             socket with any unread data charges at least a page: measured here, 1M loopback connections with 64 \
             unread bytes each charged 999,676 pages, far past this machine's default max of 575,796. Size MAX at \
             about one page per busy connection (plus what bulk flows need) and PRESSURE a little below it; past \
             MAX the kernel logs 'TCP: out of memory -- consider tuning tcp_mem' and aborts orphans.",
        ),
        Limit::TcpRmem => (
            Some("sysctl -w net.ipv4.tcp_rmem=\"4096 87380 16777216\""),
            "The article's default 87380 is LOWER than today's 131072 (since 4.20), and its max may be lower than a \
             current kernel's (up to 32 MB on 6.16+). These are per-socket allowances, not reservations: nothing is \
             allocated until data arrives. They do not change how many connections fit; leave the defaults.",
        ),
        Limit::TcpWmem => (
            Some("sysctl -w net.ipv4.tcp_wmem=\"4096 65536 16777216\""),
            "The article's default 65536 is 4x the kernel's 16384: with 1M sockets holding unsent data that allows 64 \
             GiB of send buffers. Keep the default and bound unsent data with TCP_NOTSENT_LOWAT; tcp_mem caps the \
             total anyway.",
        ),
        Limit::ConntrackMax => (
            None,
            "The article misses the usual hidden ceiling: when nf_conntrack is loaded (Docker, kube-proxy, stateful \
             firewall, NAT) every connection takes a table entry, idle ESTABLISHED entries live 5 days, and the \
             default max is RAM/16 KiB capped at 262144. Past it new SYNs are silently dropped. Raise max to about \
             1.2 x N (a few hundred bytes per entry) with the hash size to match, persist with sysctl.d plus \
             modules-load.d (the keys exist only after the module loads), or exempt the port with NOTRACK. A loaded \
             module with count 0 and no users tracks nothing.",
        ),
        Limit::ConntrackBuckets => (
            None,
            "The conntrack hash size (nf_conntrack_buckets, module option hashsize) should be about the table size. \
             It is writable only in the initial network namespace; persist it with 'options nf_conntrack hashsize=N' \
             in /etc/modprobe.d.",
        ),
        Limit::NetdevMaxBacklog => (
            None,
            "net.core.netdev_max_backlog (default 1000) is the per-CPU queue for packets handed to the stack outside \
             NAPI, which includes everything sent over loopback. A fast connection ramp on one machine can overflow it \
             (column 2 of /proc/net/softnet_stat); raise it moderately if that column grows.",
        ),
        Limit::CongestionControl => (
            Some("set tcp_congestion_control to bbr if your network has a high bandwidth-delay product"),
            "The congestion control changes throughput and latency per flow, never how many connections fit. BBR no \
             longer needs the fq qdisc (since 4.13) but then paces with one high-resolution timer per socket, which \
             costs CPU with many active flows; pair it with net.core.default_qdisc=fq.",
        ),
        Limit::DefaultQdisc => (
            None,
            "default_qdisc applies to interfaces created afterwards (loopback uses noqueue). It matters for BBR pacing \
             on real NICs, not for connection count.",
        ),
        Limit::Memory => (
            Some(
                "the kernel is conservative by default; tuning parameters lets it manage a million connections",
            ),
            "No parameter makes a socket cheaper. An idle ESTABLISHED socket in an epoll set holds unswappable slab \
             objects: tcp_sock (~2.3 KB), socket inode (~0.8 KB), file, dentry, epoll item (read the real sizes from \
             /proc/slabinfo, as doctor does): about 3.7 KB, so 1M sockets need ~3.7 GB, and 1M loopback connections \
             (2M sockets) ~7.4 GB, before any queued data (a page per busy socket). The largest N a machine holds is \
             MemAvailable divided by that.",
        ),
        Limit::Refused => (
            None,
            "ECONNREFUSED means the destination answered with RST: nothing listens there, or the backlog is full with \
             tcp_abort_on_overflow=1, or a firewall rejects. It is not a kernel capacity limit.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_explains() {
        for key in topics() {
            let e = explain(key).unwrap_or_else(|| panic!("{key}"));
            assert!(e.story.len() > 80, "{key}: the story is the point");
        }
        assert_eq!(
            explain("net.ipv4.tcp_fin_timeout").unwrap().limit,
            Some(Limit::FinTimeout)
        );
        assert!(
            explain("net.ipv4.tcp_tw_recycle")
                .unwrap()
                .story
                .contains("removed in 4.12")
        );
        assert!(
            explain("fin_timeout")
                .unwrap()
                .story
                .contains("TIME_WAIT is TCP_TIMEWAIT_LEN")
        );
        assert!(explain("listen_backlog").unwrap().story.starts_with("Backwards"));
        assert!(explain("file_max").unwrap().story.contains("LOWERS"));
        assert!(explain("nonsense").is_none());
    }
}
