//! The rule table: one unit struct per [`Limit`], each judging the limit for a role and a target, with its
//! test right after it (ripgrep's `flags/defs.rs` layout).

use c1m_kernel::{FD_RESERVE_PER_PROCESS, Limit, Pid, Snapshot, Triple};

use crate::units::{bytes, round_up, thousands};
use crate::{CapacityPlan, Role, Setting, Status};

/// What a rule needs to judge: the machine, the role, the target and the capacity plan.
pub(crate) struct Context<'a> {
    pub snap: &'a Snapshot,
    pub role: Role,
    pub target: u64,
    pub plan: &'a CapacityPlan,
}

/// A rule's judgement, before the limit's name and symptom are attached.
#[derive(Debug)]
pub(crate) struct Verdict {
    pub status: Status,
    pub current: String,
    pub needed: String,
    pub why: String,
    pub fix: Option<String>,
    pub set: Option<Setting>,
}

impl Verdict {
    fn new(
        status: Status,
        current: impl Into<String>,
        needed: impl Into<String>,
        why: impl Into<String>,
    ) -> Verdict {
        Verdict {
            status,
            current: current.into(),
            needed: needed.into(),
            why: why.into(),
            fix: None,
            set: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Verdict {
        self.fix = Some(fix.into());
        self
    }

    /// Fix by writing a sysctl: the fix line is the command, and `tune` will apply it.
    fn set(mut self, setting: Setting) -> Verdict {
        self.fix = Some(setting.command());
        self.set = Some(setting);
        self
    }

    /// The key does not exist here: an older kernel, a module not loaded, or a key only the initial network
    /// namespace has.
    fn absent(key: &str) -> Verdict {
        Verdict::new(
            Status::Info,
            "absent",
            "-",
            format!(
                "{key} does not exist on this kernel or in this network namespace (global keys are visible only from the initial one)"
            ),
        )
    }
}

/// One limit's rule.
pub(crate) trait Rule: Sync {
    /// The limit it judges.
    fn limit(&self) -> Limit;
    /// The judgement, or `None` when the limit does not apply to the role.
    fn judge(&self, cx: &Context) -> Option<Verdict>;
}

/// Every rule, in the order doctor reports them.
pub(crate) const RULES: &[&dyn Rule] = &[
    &NofileSoft,
    &NofileHard,
    &NrOpen,
    &FileMax,
    &EpollMaxUserWatches,
    &EphemeralPorts,
    &ReservedPorts,
    &TwReuse,
    &FinTimeout,
    &MaxTwBuckets,
    &MaxOrphans,
    &Somaxconn,
    &ListenBacklog,
    &SynBacklog,
    &TcpMem,
    &TcpRmem,
    &TcpWmem,
    &ConntrackMax,
    &ConntrackBuckets,
    &NetdevMaxBacklog,
    &CongestionControl,
    &DefaultQdisc,
    &Memory,
];

/// fds one process needs to hold one side's N sockets by itself.
fn one_process_fds(target: u64) -> u64 {
    target.saturating_add(FD_RESERVE_PER_PROCESS)
}

fn limit_text(v: Option<u64>) -> String {
    v.map_or_else(|| "unlimited".to_string(), thousands)
}

struct NofileSoft;

impl Rule for NofileSoft {
    fn limit(&self) -> Limit {
        Limit::NofileSoft
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        let Some(limits) = cx.snap.process.limits else {
            return Some(Verdict::new(
                Status::Info,
                "unknown",
                "-",
                "no /proc/PID/limits to read",
            ));
        };
        let (soft, hard) = (limits.nofile.soft, limits.nofile.hard);
        let open = cx
            .snap
            .process
            .open_fds
            .map_or(String::new(), |n| format!(" ({} open)", thousands(n)));
        let current = format!("{}{open}", limit_text(soft));
        let needed = format!("the hard limit, {}", limit_text(hard));
        if soft == hard || soft.is_none() {
            return Some(Verdict::new(
                Status::Ok,
                current,
                needed,
                "the soft limit already equals the hard limit",
            ));
        }
        Some(match cx.snap.process.pid {
            Pid::Own => Verdict::new(
                Status::Info,
                current,
                needed,
                "c1m raises its own soft limit to the hard limit at start (setrlimit); other programs must do the same or get LimitNOFILE from their unit",
            ),
            Pid::Other(pid) if soft.is_some_and(|s| s < one_process_fds(cx.target)) => Verdict::new(
                Status::Warn,
                current,
                needed,
                format!("process {pid} hits EMFILE at its soft limit unless it raises it itself"),
            )
            .fix(format!(
                "prlimit --pid {pid} --nofile={0}:{0} (or LimitNOFILE= in its unit)",
                hard.map_or("unlimited".into(), |h| h.to_string())
            )),
            Pid::Other(_) => Verdict::new(Status::Ok, current, needed, "the soft limit covers the target"),
        })
    }
}

#[cfg(test)]
mod nofile_soft {
    use super::tests::*;
    use super::*;

    #[test]
    fn judged() {
        assert_eq!(
            judge(&NofileSoft, "this-host", Role::Both, 1_000_000).status,
            Status::Ok
        );
        let stock = judge(&NofileSoft, "stock-distro", Role::Server, 1_000_000);
        assert_eq!(stock.status, Status::Info, "c1m raises its own soft limit");
        assert!(stock.current.starts_with("1,024 (14 open)"), "{}", stock.current);
    }
}

struct NofileHard;

impl Rule for NofileHard {
    fn limit(&self) -> Limit {
        Limit::NofileHard
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        let Some(limits) = cx.snap.process.limits else {
            return Some(Verdict::new(
                Status::Info,
                "unknown",
                "-",
                "no /proc/PID/limits to read",
            ));
        };
        let one = one_process_fds(cx.target);
        let hard = limits.nofile.hard;
        let raisable = cx.plan.hard_limit_raisable;
        let mut current = limit_text(hard);
        if raisable == Some(false) {
            current.push_str(" (cannot be raised: no CAP_SYS_RESOURCE)");
        }
        if hard.is_none_or(|h| h >= one) {
            return Some(Verdict::new(
                Status::Ok,
                current,
                format!("{} for one process per side", thousands(one)),
                "one process per side can hold the whole target",
            ));
        }
        let mut split = Vec::new();
        if let Some(s) = cx.plan.server_processes {
            split.push(format!("{s} server"));
        }
        if let Some(c) = cx.plan.client_processes {
            split.push(format!("{c} client"));
        }
        let split = split.join(" + ");
        let needed = format!(
            "{} for one process; at this limit {split} processes",
            thousands(one)
        );
        let why = format!(
            "each process holds at most {} sockets (64 fds kept for listeners, epoll, pipes, stdio; servers add 10% for SO_REUSEPORT's uneven spread)",
            thousands(hard.unwrap_or(0).saturating_sub(FD_RESERVE_PER_PROCESS))
        );
        let commands = match cx.role {
            Role::Server => "c1m serve --workers auto does",
            Role::Client => "c1m load --workers auto does",
            Role::Both => "c1m serve and load with --workers auto do",
        };
        let fix = if raisable == Some(false) {
            format!(
                "run {split} processes ({commands}); the hard limit cannot be raised without CAP_SYS_RESOURCE"
            )
        } else {
            format!(
                "run {split} processes ({commands}), or raise the hard limit: LimitNOFILE={one}:{one} in the unit, prlimit --nofile={one}:{one}"
            )
        };
        Some(Verdict::new(Status::Warn, current, needed, why).fix(fix))
    }
}

#[cfg(test)]
mod nofile_hard {
    use super::tests::*;
    use super::*;

    #[test]
    fn this_host_needs_processes() {
        let v = judge(&NofileHard, "this-host", Role::Both, 1_000_000);
        assert_eq!(v.status, Status::Warn);
        assert!(v.current.contains("20,000 (cannot be raised"), "{}", v.current);
        assert!(
            v.needed.contains("56 server + 51 client processes"),
            "{}",
            v.needed
        );
        let server = judge(&NofileHard, "this-host", Role::Server, 1_000_000);
        assert!(
            server.needed.ends_with("56 server processes"),
            "{}",
            server.needed
        );
    }

    #[test]
    fn tuned_host_holds_a_million_in_one() {
        assert_eq!(
            judge(&NofileHard, "tuned-host", Role::Both, 1_000_000).status,
            Status::Ok
        );
        let stock = judge(&NofileHard, "stock-distro", Role::Server, 1_000_000);
        assert_eq!(stock.status, Status::Warn);
        assert!(
            stock.needed.ends_with("at this limit 3 server processes"),
            "{}",
            stock.needed
        );
        assert!(
            stock
                .fix
                .unwrap()
                .contains("cannot be raised without CAP_SYS_RESOURCE")
        );
        let root = judge_snapshot(
            &NofileHard,
            &privileged(fixture("stock-distro")),
            Role::Server,
            1_000_000,
        )
        .unwrap();
        assert!(root.fix.unwrap().contains("LimitNOFILE=1000064:1000064"));
    }
}

struct NrOpen;

impl Rule for NrOpen {
    fn limit(&self) -> Limit {
        Limit::NrOpen
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        let key = "fs.nr_open";
        let Some(value) = cx.snap.sysctl_u64(key) else {
            return Some(Verdict::absent(key));
        };
        let one = one_process_fds(cx.target);
        let needed = format!("{} for one process per side", thousands(one));
        if value >= one {
            return Some(Verdict::new(
                Status::Ok,
                thousands(value),
                needed,
                "a single process may hold the target",
            ));
        }
        let want = one.next_power_of_two().max(value);
        if cx.plan.hard_limit_raisable == Some(false) {
            return Some(Verdict::new(
                Status::Info,
                thousands(value),
                needed,
                "only matters for one big process; this process cannot raise its hard limit anyway, so c1m uses several",
            ));
        }
        Some(
            Verdict::new(
                Status::Warn,
                thousands(value),
                needed,
                "no process can get an fd limit above nr_open, not even root",
            )
            .set(Setting::new(key, want)),
        )
    }
}

#[cfg(test)]
mod nr_open {
    use super::tests::*;
    use super::*;

    #[test]
    fn judged() {
        assert_eq!(
            judge(&NrOpen, "this-host", Role::Both, 1_000_000).status,
            Status::Ok
        );
        assert_eq!(
            judge(&NrOpen, "this-host", Role::Both, 2_000_000).status,
            Status::Info
        );
        assert_eq!(
            judge(&NrOpen, "stock-distro", Role::Server, 2_000_000).status,
            Status::Info
        );
        let stock = judge_snapshot(
            &NrOpen,
            &privileged(fixture("stock-distro")),
            Role::Server,
            2_000_000,
        )
        .unwrap();
        assert_eq!(stock.status, Status::Warn);
        assert_eq!(stock.set, Some(Setting::new("fs.nr_open", 2_097_152)));
    }
}

struct FileMax;

impl Rule for FileMax {
    fn limit(&self) -> Limit {
        Limit::FileMax
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        let key = "fs.file-max";
        let (max, allocated) = match (cx.snap.file_nr, cx.snap.sysctl_u64(key)) {
            (Some(nr), _) => (nr.max, nr.allocated),
            (None, Some(max)) => (max, 0),
            (None, None) => return Some(Verdict::absent(key)),
        };
        let needed = cx.plan.file_handles.saturating_add(allocated);
        let share = needed as f64 / max.max(1) as f64 * 100.0;
        let current = format!("{} ({} open now)", thousands(max), thousands(allocated));
        let needed_text = format!("{} ({share:.0}% of the max)", thousands(needed));
        let why = format!(
            "{} sockets take one file handle each, plus the {} open now; root (CAP_SYS_ADMIN) bypasses the limit, other users do not",
            thousands(cx.plan.sockets),
            thousands(allocated)
        );
        let want = Setting::new(key, round_up(needed.saturating_mul(3) / 2).max(max));
        Some(match share {
            s if s > 100.0 => Verdict::new(Status::Fail, current, needed_text, why).set(want),
            s if s > 80.0 => Verdict::new(
                Status::Warn,
                current,
                needed_text,
                format!("{why}; little is left for the rest of the machine"),
            )
            .set(want),
            _ => Verdict::new(Status::Ok, current, needed_text, why),
        })
    }
}

#[cfg(test)]
mod file_max {
    use super::tests::*;
    use super::*;

    #[test]
    fn loopback_million_uses_81_percent_here() {
        let v = judge(&FileMax, "this-host", Role::Both, 1_000_000);
        assert_eq!(v.status, Status::Warn);
        assert!(v.needed.contains("(81% of the max)"), "{}", v.needed);
        assert_eq!(v.set.unwrap().value, "3010000");
        assert_eq!(
            judge(&FileMax, "this-host", Role::Server, 1_000_000).status,
            Status::Ok
        );
        assert_eq!(
            judge(&FileMax, "this-host", Role::Both, 2_000_000).status,
            Status::Fail
        );
    }

    #[test]
    fn systemd_long_max_is_fine() {
        assert_eq!(
            judge(&FileMax, "stock-distro", Role::Both, 10_000_000).status,
            Status::Ok
        );
    }
}

struct EpollMaxUserWatches;

impl Rule for EpollMaxUserWatches {
    fn limit(&self) -> Limit {
        Limit::EpollMaxUserWatches
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        let key = "fs.epoll.max_user_watches";
        let Some(value) = cx.snap.sysctl_u64(key) else {
            return Some(Verdict::absent(key));
        };
        let needed = cx.plan.sockets;
        let why = format!("{} sockets in epoll sets, all under one user", thousands(needed));
        Some(if value >= needed {
            Verdict::new(Status::Ok, thousands(value), thousands(needed), why)
        } else {
            Verdict::new(Status::Fail, thousands(value), thousands(needed), why)
                .set(Setting::new(key, round_up(needed.saturating_mul(11) / 10)))
        })
    }
}

#[cfg(test)]
mod epoll_max_user_watches {
    use super::tests::*;
    use super::*;

    #[test]
    fn judged() {
        assert_eq!(
            judge(&EpollMaxUserWatches, "this-host", Role::Both, 1_000_000).status,
            Status::Ok
        );
        let stock = judge(&EpollMaxUserWatches, "stock-distro", Role::Both, 1_000_000);
        assert_eq!(stock.status, Status::Fail);
        assert_eq!(
            stock.set,
            Some(Setting::new("fs.epoll.max_user_watches", 2_200_000))
        );
    }
}

struct EphemeralPorts;

impl Rule for EphemeralPorts {
    fn limit(&self) -> Limit {
        Limit::EphemeralPorts
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        if !cx.role.connects() {
            return None;
        }
        let key = "net.ipv4.ip_local_port_range";
        let (Some(range), Some(ports), Some(sources)) = (
            cx.snap.port_range(),
            cx.plan.ports_per_source,
            cx.plan.source_addresses,
        ) else {
            return Some(Verdict::absent(key));
        };
        let current = format!(
            "{}-{}: {} ports per source address",
            range.low,
            range.high,
            thousands(ports)
        );
        let needed = format!(
            "{} source address{} for one destination port",
            sources,
            if sources == 1 { "" } else { "es" }
        );
        let why = "connect() needs a free local port per (source IP, destination IP, destination port)";
        Some(if sources <= 1 {
            Verdict::new(Status::Ok, current, needed, why)
        } else {
            Verdict::new(Status::Warn, current, needed, format!("{why}; widening the range gains at most 2.3x"))
                .fix(format!("spread the load over {sources} source addresses (127.0.0.1 to 127.0.0.{sources} on loopback need no setup) or over {sources} server ports"))
        })
    }
}

#[cfg(test)]
mod ephemeral_ports {
    use super::tests::*;
    use super::*;

    #[test]
    fn thirty_six_sources_for_a_million() {
        let v = judge(&EphemeralPorts, "this-host", Role::Both, 1_000_000);
        assert_eq!(v.status, Status::Warn);
        assert!(v.current.starts_with("32768-60999: 28,232 ports"));
        assert!(v.needed.starts_with("36 source addresses"));
        assert_eq!(
            judge(&EphemeralPorts, "this-host", Role::Client, 20_000).status,
            Status::Ok
        );
        assert!(judge_opt(&EphemeralPorts, "this-host", Role::Server, 1_000_000).is_none());
        // 15000-64999 minus the reserved 30000-32767 leaves 47,232 ports: 22 sources.
        assert!(
            judge(&EphemeralPorts, "tuned-host", Role::Client, 1_000_000)
                .needed
                .starts_with("22 source")
        );
    }
}

struct ReservedPorts;

impl Rule for ReservedPorts {
    fn limit(&self) -> Limit {
        Limit::ReservedPorts
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        if !cx.role.connects() {
            return None;
        }
        let key = "net.ipv4.ip_local_reserved_ports";
        let (Some(text), Some(range)) = (cx.snap.sysctl(key), cx.snap.port_range()) else {
            return Some(Verdict::absent(key));
        };
        let current = if text.trim().is_empty() {
            "none".to_string()
        } else {
            text.trim().to_string()
        };
        let needed = "listening ports inside the ephemeral range";
        Some(if range.low < 32768 && text.trim().is_empty() {
            Verdict::new(
                Status::Warn,
                current,
                needed,
                format!("the range starts at {}, among service ports (3306, 5432, 8080, NodePorts 30000-32767), and none are reserved", range.low),
            )
            .fix(format!("sysctl -w {key}=PORTS, listing the ports your services listen on"))
        } else {
            Verdict::new(
                Status::Ok,
                current,
                needed,
                "the range does not cover the usual service ports, or they are reserved",
            )
        })
    }
}

#[cfg(test)]
mod reserved_ports {
    use super::tests::*;
    use super::*;

    #[test]
    fn judged() {
        let v = judge(&ReservedPorts, "this-host", Role::Both, 1_000);
        assert_eq!((v.status, v.current.as_str()), (Status::Ok, "none"));
        assert_eq!(
            judge(&ReservedPorts, "tuned-host", Role::Client, 1_000).current,
            "30000-32767"
        );
    }
}

struct TwReuse;

impl Rule for TwReuse {
    fn limit(&self) -> Limit {
        Limit::TwReuse
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        if !cx.role.connects() {
            return None;
        }
        let key = "net.ipv4.tcp_tw_reuse";
        let Some(value) = cx.snap.sysctl_u64(key) else {
            return Some(Verdict::absent(key));
        };
        let meaning = match value {
            0 => "0 (off)",
            1 => "1 (all destinations)",
            2 => "2 (loopback only)",
            _ => "unknown mode",
        };
        let why = "TIME_WAIT holds a closed connection's 4-tuple for 60 s; reuse lets connect() take it after 1 s (outgoing only)";
        Some(match (value, cx.role) {
            (1, _) | (2, Role::Both) => {
                Verdict::new(Status::Ok, meaning, "reuse for the destinations used", why)
            }
            _ => Verdict::new(
                Status::Warn,
                meaning,
                "1 for churn to a remote server",
                format!("{why}; without it churn is limited to ports/60 s per destination"),
            )
            .set(Setting::new(key, 1)),
        })
    }
}

#[cfg(test)]
mod tw_reuse {
    use super::tests::*;
    use super::*;

    #[test]
    fn loopback_default_is_enough_for_both() {
        assert_eq!(judge(&TwReuse, "this-host", Role::Both, 1_000).status, Status::Ok);
        let client = judge(&TwReuse, "this-host", Role::Client, 1_000);
        assert_eq!(client.status, Status::Warn);
        assert_eq!(client.set, Some(Setting::new("net.ipv4.tcp_tw_reuse", 1)));
        assert_eq!(
            judge(&TwReuse, "tuned-host", Role::Client, 1_000).status,
            Status::Ok
        );
    }
}

struct FinTimeout;

impl Rule for FinTimeout {
    fn limit(&self) -> Limit {
        Limit::FinTimeout
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        let key = "net.ipv4.tcp_fin_timeout";
        let Some(value) = cx.snap.sysctl_u64(key) else {
            return Some(Verdict::absent(key));
        };
        Some(Verdict::new(
            Status::Info,
            format!("{value} s"),
            "any",
            "it limits only orphaned FIN_WAIT_2 sockets; TIME_WAIT is a fixed 60 s that no sysctl changes (c1m doctor --explain fin_timeout)",
        ))
    }
}

#[cfg(test)]
mod fin_timeout {
    use super::tests::*;
    use super::*;

    #[test]
    fn always_a_note() {
        let v = judge(&FinTimeout, "stock-distro", Role::Server, 1_000);
        assert_eq!((v.status, v.current.as_str()), (Status::Info, "60 s"));
        assert!(v.why.contains("TIME_WAIT is a fixed 60 s"));
    }
}

struct MaxTwBuckets;

impl Rule for MaxTwBuckets {
    fn limit(&self) -> Limit {
        Limit::MaxTwBuckets
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        let key = "net.ipv4.tcp_max_tw_buckets";
        let Some(value) = cx.snap.sysctl_u64(key) else {
            return Some(Verdict::absent(key));
        };
        let overflowed = cx
            .snap
            .counters
            .as_ref()
            .and_then(|c| c.time_wait_overflow())
            .unwrap_or(0);
        let needed = "close rate x 60 s";
        if value >= cx.target && overflowed == 0 {
            return Some(Verdict::new(
                Status::Ok,
                thousands(value),
                needed,
                "even closing every connection at once fits",
            ));
        }
        let mut why = format!(
            "closing all {} connections within 60 s overflows it: the excess skips TIME_WAIT (harmless for a benchmark teardown, worth raising for a service with churn above {}/s)",
            thousands(cx.target),
            thousands(value / 60)
        );
        if overflowed > 0 {
            why = format!(
                "TCPTimeWaitOverflow = {} since boot; {why}",
                thousands(overflowed)
            );
        }
        Some(Verdict::new(Status::Info, thousands(value), needed, why))
    }
}

#[cfg(test)]
mod max_tw_buckets {
    use super::tests::*;
    use super::*;

    #[test]
    fn judged() {
        assert_eq!(
            judge(&MaxTwBuckets, "this-host", Role::Both, 1_000_000).status,
            Status::Info
        );
        assert_eq!(
            judge(&MaxTwBuckets, "tuned-host", Role::Both, 1_000_000).status,
            Status::Ok
        );
    }
}

struct MaxOrphans;

impl Rule for MaxOrphans {
    fn limit(&self) -> Limit {
        Limit::MaxOrphans
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        let key = "net.ipv4.tcp_max_orphans";
        let Some(value) = cx.snap.sysctl_u64(key) else {
            return Some(Verdict::absent(key));
        };
        let orphans = cx.snap.sockstat.map_or(0, |s| s.tcp_orphan);
        let current = format!("{} ({} orphans now)", thousands(value), thousands(orphans));
        let needed = "sockets closed with data or FIN still in flight";
        Some(if value >= cx.target {
            Verdict::new(
                Status::Ok,
                current,
                needed,
                "even closing every connection at once fits",
            )
        } else {
            Verdict::new(
                Status::Info,
                current,
                needed,
                format!(
                    "closing more than {} connections at once with data in flight resets the rest; held idle connections are unaffected",
                    thousands(value)
                ),
            )
        })
    }
}

#[cfg(test)]
mod max_orphans {
    use super::tests::*;
    use super::*;

    #[test]
    fn judged() {
        let v = judge(&MaxOrphans, "this-host", Role::Both, 1_000_000);
        assert_eq!(v.status, Status::Info);
        assert!(v.current.starts_with("131,072 (0 orphans now)"), "{}", v.current);
        assert_eq!(
            judge(&MaxOrphans, "tuned-host", Role::Both, 1_000_000).status,
            Status::Ok
        );
    }
}

/// The accept queue c1m's advice is sized for: the default since 5.4.
const BACKLOG: u64 = 4096;

struct Somaxconn;

impl Rule for Somaxconn {
    fn limit(&self) -> Limit {
        Limit::Somaxconn
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        if !cx.role.serves() {
            return None;
        }
        let key = "net.core.somaxconn";
        let Some(value) = cx.snap.sysctl_u64(key) else {
            return Some(Verdict::absent(key));
        };
        let why =
            "listen(backlog) is silently capped at somaxconn; the accept queue absorbs connection bursts";
        Some(if value >= BACKLOG {
            Verdict::new(
                Status::Ok,
                thousands(value),
                format!("at least {}", thousands(BACKLOG)),
                why,
            )
        } else {
            Verdict::new(
                Status::Warn,
                thousands(value),
                format!("at least {}", thousands(BACKLOG)),
                why,
            )
            .set(Setting::new(key, BACKLOG))
        })
    }
}

#[cfg(test)]
mod somaxconn {
    use super::tests::*;
    use super::*;

    #[test]
    fn judged() {
        assert_eq!(
            judge(&Somaxconn, "this-host", Role::Server, 1_000).status,
            Status::Ok
        );
        assert!(judge_opt(&Somaxconn, "this-host", Role::Client, 1_000).is_none());
        let mut snap = fixture("stock-distro");
        snap.sysctls
            .insert("net.core.somaxconn".into(), Some("128".into()));
        let v = judge_snapshot(&Somaxconn, &snap, Role::Server, 1_000).unwrap();
        assert_eq!(v.status, Status::Warn);
        assert_eq!(v.fix.as_deref(), Some("sysctl -w net.core.somaxconn=4096"));
    }
}

struct ListenBacklog;

impl Rule for ListenBacklog {
    fn limit(&self) -> Limit {
        Limit::ListenBacklog
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        if !cx.role.serves() {
            return None;
        }
        let key = "net.core.somaxconn";
        let Some(cap) = cx.snap.sysctl_u64(key) else {
            return Some(Verdict::absent(key));
        };
        let current = format!("min(listen backlog, {})", thousands(cap));
        let needed = "a backlog no larger than somaxconn";
        let overflows = cx
            .snap
            .counters
            .as_ref()
            .and_then(|c| c.listen_overflows())
            .unwrap_or(0);
        Some(if overflows > 0 {
            // A counter since boot (or since the namespace was made) tells of a past burst, not a setting in the
            // way now: a note to watch during the run, not a warning that would stick forever.
            Verdict::new(
                Status::Info,
                current,
                needed,
                format!(
                    "TcpExt ListenOverflows = {} since boot: an accept queue overflowed at some point; watch it during a run",
                    thousands(overflows)
                ),
            )
            .fix("raise the server's listen() backlog (and somaxconn to match), accept faster, and check ss -ltn Recv-Q")
        } else {
            Verdict::new(
                Status::Ok,
                current,
                needed,
                "no accept queue has overflowed since boot (ListenOverflows = 0)",
            )
        })
    }
}

#[cfg(test)]
mod listen_backlog {
    use super::tests::*;
    use super::*;

    #[test]
    fn past_overflows_are_noted() {
        assert_eq!(
            judge(&ListenBacklog, "tuned-host", Role::Server, 1_000).status,
            Status::Ok
        );
        let mut snap = fixture("tuned-host");
        let mut counters = snap.counters.take().unwrap();
        counters
            .parse_into("TcpExt: ListenOverflows\nTcpExt: 17\n")
            .unwrap();
        snap.counters = Some(counters);
        let v = judge_snapshot(&ListenBacklog, &snap, Role::Server, 1_000).unwrap();
        assert_eq!(v.status, Status::Info);
        assert!(v.why.contains("ListenOverflows = 17"));
    }
}

struct SynBacklog;

impl Rule for SynBacklog {
    fn limit(&self) -> Limit {
        Limit::SynBacklog
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        if !cx.role.serves() {
            return None;
        }
        let (key, cookies_key) = ("net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_syncookies");
        let (Some(value), Some(cookies)) = (cx.snap.sysctl_u64(key), cx.snap.sysctl_u64(cookies_key)) else {
            return Some(Verdict::absent(key));
        };
        let current = format!("{} (syncookies={cookies})", thousands(value));
        let drops = cx
            .snap
            .counters
            .as_ref()
            .and_then(|c| c.req_queue_full_drop())
            .unwrap_or(0);
        Some(if cookies == 0 {
            Verdict::new(
                Status::Warn,
                current,
                "syncookies=1",
                "without cookies a full SYN queue drops new connections",
            )
            .set(Setting::new(cookies_key, 1))
        } else if drops > 0 {
            Verdict::new(
                Status::Info,
                current,
                "syncookies=1",
                format!(
                    "TcpExt TCPReqQFullDrop = {} since boot: SYNs were dropped at some point",
                    thousands(drops)
                ),
            )
            .fix("raise the server's listen backlog and somaxconn")
        } else {
            Verdict::new(
                Status::Ok,
                current,
                "syncookies=1",
                "with syncookies on, tcp_max_syn_backlog is not used: the listen backlog bounds SYN_RECV and cookies take over",
            )
        })
    }
}

#[cfg(test)]
mod syn_backlog {
    use super::tests::*;
    use super::*;

    #[test]
    fn cookies_decide() {
        let v = judge(&SynBacklog, "this-host", Role::Server, 1_000);
        assert_eq!(
            (v.status, v.current.as_str()),
            (Status::Ok, "2,048 (syncookies=1)")
        );
        let mut snap = fixture("this-host");
        snap.sysctls
            .insert("net.ipv4.tcp_syncookies".into(), Some("0".into()));
        let v = judge_snapshot(&SynBacklog, &snap, Role::Server, 1_000).unwrap();
        assert_eq!(v.set, Some(Setting::new("net.ipv4.tcp_syncookies", 1)));
    }
}

struct TcpMem;

impl Rule for TcpMem {
    fn limit(&self) -> Limit {
        Limit::TcpMem
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        let key = "net.ipv4.tcp_mem";
        let Some(mem) = cx.snap.sysctl_triple(key) else {
            return Some(Verdict::absent(key));
        };
        let in_use = cx.snap.sockstat.map_or(0, |s| s.tcp_mem_pages);
        let needed = cx.plan.tcp_mem_pages.saturating_add(in_use);
        let page = cx.snap.page_size;
        let current = format!("{} pages (max {})", mem.to_sysctl(), bytes(mem.max * page));
        let needed_text = format!("max >= {} pages ({})", thousands(needed), bytes(needed * page));
        let why = format!(
            "a connection with any unread data charges about a page (measured: 1M loopback connections with 64 unread bytes = 999,676 pages); at max, TCP stops at {} busy connections",
            thousands(mem.max.saturating_sub(in_use))
        );
        let want = Triple {
            min: mem.min,
            mid: mem.mid.max(round_up(needed.saturating_mul(11) / 10)),
            max: mem.max.max(round_up(needed.saturating_mul(5) / 4)),
        };
        Some(if mem.max < needed {
            Verdict::new(Status::Fail, current, needed_text, why).set(Setting::new(key, want.to_sysctl()))
        } else if mem.mid < needed {
            Verdict::new(
                Status::Warn,
                current,
                needed_text,
                format!(
                    "{why}; above pressure ({} pages) buffers are trimmed",
                    thousands(mem.mid)
                ),
            )
            .set(Setting::new(key, want.to_sysctl()))
        } else {
            Verdict::new(
                Status::Ok,
                current,
                needed_text,
                "one page per busy connection fits below the pressure threshold",
            )
        })
    }
}

#[cfg(test)]
mod tcp_mem {
    use super::tests::*;
    use super::*;

    #[test]
    fn default_max_is_too_small_for_a_busy_million() {
        let v = judge(&TcpMem, "this-host", Role::Both, 1_000_000);
        assert_eq!(v.status, Status::Fail);
        let want = Triple::parse(&v.set.unwrap().value).unwrap();
        assert_eq!(want.min, 287_898);
        assert!(want.mid >= 1_100_000 && want.max >= 1_250_000 && want.mid < want.max);
        assert_eq!(
            judge(&TcpMem, "tuned-host", Role::Both, 1_000_000).status,
            Status::Ok
        );
        assert_eq!(
            judge(&TcpMem, "this-host", Role::Both, 100_000).status,
            Status::Ok
        );
    }
}

struct TcpRmem;

/// tcp_rmem's default since 4.20 ("tcp: up initial rmem to 128KB").
const RMEM_DEFAULT: u64 = 131_072;

impl Rule for TcpRmem {
    fn limit(&self) -> Limit {
        Limit::TcpRmem
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        let key = "net.ipv4.tcp_rmem";
        let Some(rmem) = cx.snap.sysctl_triple(key) else {
            return Some(Verdict::absent(key));
        };
        let new_kernel = cx.snap.kernel.as_ref().is_none_or(|k| k.at_least(4, 20));
        let needed = "the kernel default (131072)";
        let scale = at_scale(cx, rmem.mid, "receive queue");
        Some(if new_kernel && rmem.mid < RMEM_DEFAULT {
            let raised = Triple {
                mid: RMEM_DEFAULT,
                max: rmem.max.max(RMEM_DEFAULT),
                ..rmem
            };
            let why = format!(
                "the default was lowered below the kernel's own (old guides copy 87380): slower flows, no extra connections; {scale}"
            );
            Verdict::new(Status::Warn, rmem.to_sysctl(), needed, why)
                .set(Setting::new(key, raised.to_sysctl()))
        } else {
            Verdict::new(
                Status::Ok,
                rmem.to_sysctl(),
                needed,
                format!("allowances, not reservations: {scale}"),
            )
        })
    }
}

/// What a per-socket buffer default means at the target: sockets x default, against tcp_mem's cap.
fn at_scale(cx: &Context, per_socket: u64, queue: &str) -> String {
    let total = cx.plan.sockets.saturating_mul(per_socket);
    let cap = cx
        .snap
        .sysctl_triple("net.ipv4.tcp_mem")
        .map(|m| m.max.saturating_mul(cx.snap.page_size));
    let cap = cap.map_or(String::new(), |c| {
        format!(", but tcp_mem caps all TCP buffers at {}", bytes(c))
    });
    format!(
        "{} sockets x {} B = {} if every {queue} filled its default{cap}",
        thousands(cx.plan.sockets),
        thousands(per_socket),
        bytes(total)
    )
}

#[cfg(test)]
mod tcp_rmem {
    use super::tests::*;
    use super::*;

    #[test]
    fn article_value_is_lower() {
        assert_eq!(judge(&TcpRmem, "this-host", Role::Both, 1_000).status, Status::Ok);
        let mut snap = fixture("this-host");
        snap.sysctls
            .insert("net.ipv4.tcp_rmem".into(), Some("4096 87380 16777216".into()));
        let v = judge_snapshot(&TcpRmem, &snap, Role::Both, 1_000).unwrap();
        assert_eq!(
            v.set,
            Some(Setting::new("net.ipv4.tcp_rmem", "4096 131072 16777216"))
        );
    }
}

struct TcpWmem;

/// tcp_wmem's kernel default.
const WMEM_DEFAULT: u64 = 16_384;

impl Rule for TcpWmem {
    fn limit(&self) -> Limit {
        Limit::TcpWmem
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        let key = "net.ipv4.tcp_wmem";
        let Some(wmem) = cx.snap.sysctl_triple(key) else {
            return Some(Verdict::absent(key));
        };
        let needed = "the kernel default (16384)";
        Some(if wmem.mid > WMEM_DEFAULT {
            Verdict::new(
                Status::Warn,
                wmem.to_sysctl(),
                needed,
                format!("the article's 65536 is 4x the default: {}", at_scale(cx, wmem.mid, "send queue")),
            )
            .fix(format!("sysctl -w {key}=\"{} {WMEM_DEFAULT} {}\" (tune never lowers a value, so this one is yours to run)", wmem.min, wmem.max))
        } else {
            Verdict::new(
                Status::Ok,
                wmem.to_sysctl(),
                needed,
                format!(
                    "unsent data per socket starts small: {}",
                    at_scale(cx, wmem.mid, "send queue")
                ),
            )
        })
    }
}

#[cfg(test)]
mod tcp_wmem {
    use super::tests::*;
    use super::*;

    #[test]
    fn article_value_is_4x() {
        assert_eq!(
            judge(&TcpWmem, "stock-distro", Role::Both, 1_000).status,
            Status::Ok
        );
        let mut snap = fixture("this-host");
        snap.sysctls
            .insert("net.ipv4.tcp_wmem".into(), Some("4096 65536 16777216".into()));
        let v = judge_snapshot(&TcpWmem, &snap, Role::Server, 1_000_000).unwrap();
        assert_eq!(v.status, Status::Warn);
        assert!(v.why.contains("61.0 GiB"), "{}", v.why);
        assert_eq!(v.set, None, "tune never lowers");
    }
}

/// Conntrack entries the target needs: one per connection, with 20% headroom.
fn conntrack_needed(target: u64) -> u64 {
    round_up(target.saturating_mul(6) / 5)
}

/// Status for a conntrack shortfall: a module with no entries has no users (nothing hooks it), so a shortfall
/// is only a warning until a firewall or NAT rule starts tracking.
fn conntrack_shortfall(count: u64) -> (Status, &'static str) {
    if count == 0 {
        (
            Status::Warn,
            "nf_conntrack is loaded but tracks nothing now (count 0); once a firewall or NAT rule uses it, ",
        )
    } else {
        (Status::Fail, "nf_conntrack is tracking connections; ")
    }
}

struct ConntrackMax;

impl Rule for ConntrackMax {
    fn limit(&self) -> Limit {
        Limit::ConntrackMax
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        let needed = conntrack_needed(cx.target);
        let Some(ct) = cx.snap.conntrack else {
            return Some(Verdict::new(
                Status::Ok,
                "not loaded",
                "-",
                "without nf_conntrack there is no table to fill",
            ));
        };
        let current = format!("{} ({} in use)", thousands(ct.max), thousands(ct.count));
        if ct.max >= needed {
            return Some(Verdict::new(
                Status::Ok,
                current,
                thousands(needed),
                "the table holds every connection",
            ));
        }
        let (status, lead) = conntrack_shortfall(ct.count);
        Some(
            Verdict::new(
                status,
                current,
                thousands(needed),
                format!("{lead}new SYNs are dropped past {} entries", thousands(ct.max)),
            )
            .set(Setting::new("net.netfilter.nf_conntrack_max", needed)),
        )
    }
}

#[cfg(test)]
mod conntrack_max {
    use super::tests::*;
    use super::*;

    #[test]
    fn judged() {
        let here = judge(&ConntrackMax, "this-host", Role::Both, 1_000_000);
        assert_eq!(here.status, Status::Warn, "loaded, count 0");
        assert_eq!(
            here.set,
            Some(Setting::new("net.netfilter.nf_conntrack_max", 1_200_000))
        );
        assert_eq!(
            judge(&ConntrackMax, "stock-distro", Role::Server, 1_000_000).status,
            Status::Fail
        );
        assert_eq!(
            judge(&ConntrackMax, "tuned-host", Role::Server, 1_000_000).current,
            "not loaded"
        );
    }
}

struct ConntrackBuckets;

impl Rule for ConntrackBuckets {
    fn limit(&self) -> Limit {
        Limit::ConntrackBuckets
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        let Some(ct) = cx.snap.conntrack else {
            return Some(Verdict::new(
                Status::Ok,
                "not loaded",
                "-",
                "without nf_conntrack there is no hash to size",
            ));
        };
        let needed = conntrack_needed(cx.target);
        // Average chains of up to 4 entries are still cheap; beyond that every packet walks a list.
        let chains = needed.div_ceil(ct.buckets.max(1));
        let why = format!(
            "a full table of {} entries makes average hash chains of {chains}",
            thousands(needed)
        );
        let needed_text = format!(
            "{} (one per entry; chains over 4 slow every packet)",
            thousands(needed)
        );
        if chains <= 4 {
            return Some(Verdict::new(Status::Ok, thousands(ct.buckets), needed_text, why));
        }
        let status = if ct.count == 0 { Status::Info } else { Status::Warn };
        Some(
            Verdict::new(status, thousands(ct.buckets), needed_text, why)
                .set(Setting::new("net.netfilter.nf_conntrack_buckets", needed)),
        )
    }
}

#[cfg(test)]
mod conntrack_buckets {
    use super::tests::*;
    use super::*;

    #[test]
    fn judged() {
        assert_eq!(
            judge(&ConntrackBuckets, "this-host", Role::Both, 1_000_000).status,
            Status::Info,
            "count 0"
        );
        assert_eq!(
            judge(&ConntrackBuckets, "this-host", Role::Both, 200_000).status,
            Status::Ok
        );
        let stock = judge(&ConntrackBuckets, "stock-distro", Role::Both, 1_000_000);
        assert_eq!(stock.status, Status::Warn);
        assert!(stock.why.contains("average hash chains of 19"), "{}", stock.why);
    }
}

struct NetdevMaxBacklog;

impl Rule for NetdevMaxBacklog {
    fn limit(&self) -> Limit {
        Limit::NetdevMaxBacklog
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        let key = "net.core.netdev_max_backlog";
        let Some(value) = cx.snap.sysctl_u64(key) else {
            return Some(Verdict::absent(key));
        };
        Some(if value >= 1000 {
            Verdict::new(
                Status::Ok,
                thousands(value),
                "1,000 (more only if softnet_stat drops grow)",
                "loopback packets queue here per CPU; a fast ramp may need more",
            )
        } else {
            Verdict::new(
                Status::Warn,
                thousands(value),
                "1,000",
                "lowered below the kernel default: loopback bursts drop packets",
            )
            .set(Setting::new(key, 1000))
        })
    }
}

#[cfg(test)]
mod netdev_max_backlog {
    use super::tests::*;
    use super::*;

    #[test]
    fn judged() {
        assert_eq!(
            judge(&NetdevMaxBacklog, "this-host", Role::Both, 1_000).status,
            Status::Ok
        );
        let mut snap = fixture("this-host");
        snap.sysctls
            .insert("net.core.netdev_max_backlog".into(), Some("300".into()));
        assert_eq!(
            judge_snapshot(&NetdevMaxBacklog, &snap, Role::Both, 1_000)
                .unwrap()
                .status,
            Status::Warn
        );
    }
}

struct CongestionControl;

impl Rule for CongestionControl {
    fn limit(&self) -> Limit {
        Limit::CongestionControl
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        let key = "net.ipv4.tcp_congestion_control";
        let Some(cc) = cx.snap.sysctl(key) else {
            return Some(Verdict::absent(key));
        };
        let current = format!("{cc} (available: {})", cx.snap.congestion_available().join(" "));
        Some(Verdict::new(
            Status::Info,
            current,
            "any",
            "it shapes throughput per flow, not how many connections fit",
        ))
    }
}

#[cfg(test)]
mod congestion_control {
    use super::tests::*;
    use super::*;

    #[test]
    fn reports_what_is_loaded() {
        let v = judge(&CongestionControl, "this-host", Role::Both, 1_000);
        assert_eq!(v.current, "bbr (available: reno bbr cubic)");
    }
}

struct DefaultQdisc;

impl Rule for DefaultQdisc {
    fn limit(&self) -> Limit {
        Limit::DefaultQdisc
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        let key = "net.core.default_qdisc";
        let Some(qdisc) = cx.snap.sysctl(key) else {
            return Some(Verdict::absent(key));
        };
        let bbr = cx.snap.sysctl("net.ipv4.tcp_congestion_control") == Some("bbr");
        Some(if bbr && qdisc != "fq" {
            Verdict::new(
                Status::Info,
                qdisc,
                "fq with BBR",
                "BBR without fq paces with one timer per socket on real NICs (loopback has no qdisc)",
            )
            .fix("sysctl -w net.core.default_qdisc=fq (applies to interfaces created afterwards)")
        } else {
            Verdict::new(
                Status::Ok,
                qdisc,
                "any",
                "the qdisc does not bound connection count",
            )
        })
    }
}

#[cfg(test)]
mod default_qdisc {
    use super::tests::*;
    use super::*;

    #[test]
    fn bbr_wants_fq() {
        assert_eq!(
            judge(&DefaultQdisc, "this-host", Role::Both, 1_000).status,
            Status::Info
        );
        assert_eq!(
            judge(&DefaultQdisc, "tuned-host", Role::Both, 1_000).status,
            Status::Ok
        );
    }
}

struct Memory;

impl Rule for Memory {
    fn limit(&self) -> Limit {
        Limit::Memory
    }

    fn judge(&self, cx: &Context) -> Option<Verdict> {
        let p = cx.plan;
        let Some(available) = p.mem_available else {
            return Some(Verdict::new(
                Status::Info,
                "unknown",
                bytes(p.idle_bytes),
                "no /proc/meminfo to read",
            ));
        };
        let source = if p.slab_measured {
            "measured from slabinfo"
        } else {
            "typical: slabinfo unreadable, run as root to measure"
        };
        let current = format!("MemAvailable {}", bytes(available));
        let needed = format!(
            "{} idle ({} sockets x {} B, {source}); {} if each connection holds a page of data",
            bytes(p.idle_bytes),
            thousands(p.sockets),
            thousands(p.slab_bytes_per_socket),
            bytes(p.busy_bytes)
        );
        let largest = format!(
            "largest N that fits: {} idle, {} busy (kernel memory only)",
            thousands(p.largest_idle.unwrap_or(0)),
            thousands(p.largest_busy.unwrap_or(0))
        );
        Some(if p.idle_bytes > available {
            Verdict::new(Status::Fail, current, needed, largest)
                .fix("add RAM, or lower the target to the largest N that fits")
        } else if p.busy_bytes > available {
            Verdict::new(
                Status::Warn,
                current,
                needed,
                format!("{largest}; idle connections fit, busy ones do not"),
            )
            .fix("keep most connections idle, or lower the target")
        } else {
            Verdict::new(Status::Ok, current, needed, largest)
        })
    }
}

#[cfg(test)]
mod memory {
    use super::tests::*;
    use super::*;

    #[test]
    fn budget_from_measured_slab() {
        let v = judge(&Memory, "this-host", Role::Both, 1_000_000);
        assert_eq!(v.status, Status::Ok);
        assert!(
            v.needed
                .starts_with("7.3 GiB idle (2,000,000 sockets x 3,900 B, measured"),
            "{}",
            v.needed
        );
        // 8 GiB with 6.6 GiB available: 1M idle loopback connections need 2 x 3,772 B each (slab pages per
        // object: TCP 32768 / 14, pwq 4096 / 56, epi 128, sock_inode 16384 / 21, filp 256, dentry 4096 / 21).
        let stock = judge(&Memory, "stock-distro", Role::Both, 1_000_000);
        assert_eq!(stock.status, Status::Fail);
        assert!(
            stock
                .why
                .contains("largest N that fits: 938,260 idle, 608,096 busy"),
            "{}",
            stock.why
        );
        assert_eq!(
            judge(&Memory, "stock-distro", Role::Server, 1_000_000).status,
            Status::Warn
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use c1m_kernel::{ProcRoot, Snapshot};

    use super::*;

    /// A fixture snapshot from `tests/fixtures/NAME` at the repository root.
    pub(crate) fn fixture(name: &str) -> Snapshot {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/");
        Snapshot::read(&ProcRoot::at(format!("{dir}{name}")), Pid::Own).unwrap()
    }

    pub(crate) fn judge_snapshot(
        rule: &dyn Rule,
        snap: &Snapshot,
        role: Role,
        target: u64,
    ) -> Option<Verdict> {
        let plan = CapacityPlan::new(snap, role, target);
        rule.judge(&Context {
            snap,
            role,
            target,
            plan: &plan,
        })
    }

    pub(crate) fn judge_opt(rule: &dyn Rule, name: &str, role: Role, target: u64) -> Option<Verdict> {
        judge_snapshot(rule, &fixture(name), role, target)
    }

    /// The snapshot with every capability, as if the process ran with CAP_SYS_RESOURCE.
    pub(crate) fn privileged(mut snap: Snapshot) -> Snapshot {
        snap.process.status.as_mut().unwrap().cap_eff = Some(u64::MAX);
        snap
    }

    #[track_caller]
    pub(crate) fn judge(rule: &dyn Rule, name: &str, role: Role, target: u64) -> Verdict {
        judge_opt(rule, name, role, target).expect("the rule applies to this role")
    }

    #[test]
    fn one_rule_per_limit_in_report_order() {
        let limits: Vec<Limit> = RULES.iter().map(|r| r.limit()).collect();
        let expected: Vec<Limit> = Limit::ALL
            .iter()
            .copied()
            .filter(|&l| l != Limit::Refused)
            .collect();
        assert_eq!(limits, expected);
    }
}
