use c1m_kernel::Limit;
use serde::{Deserialize, Serialize};

/// Version of the JSON report layout; bumped when a field changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything one `c1m bench` run measured: the single result type behind the terminal summary, the JSON
/// report and the HTML report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BenchReport {
    /// [`SCHEMA_VERSION`] of this document.
    pub schema_version: u32,
    /// Wall-clock start of the run, milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// The machine the run happened on.
    pub machine: Machine,
    /// What was asked for.
    pub plan: PlanSummary,
    /// Doctor's findings for role `both` and the target, printed before the ramp: what can stop the run short.
    pub preflight: Vec<PreflightNote>,
    /// Sysctls `--tune` changed for the duration and what they were restored to.
    pub tuned: Vec<SysctlChange>,
    /// One ramp per server: c1m first, then the `--compare` baseline if any.
    pub runs: Vec<RunReport>,
    /// Baseline against c1m, one row per figure, when `--compare` ran.
    pub comparison: Vec<Ratio>,
}

/// The machine a run happened on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    /// `/proc/sys/kernel/osrelease`.
    pub kernel: String,
    /// Online CPUs.
    pub cpus: u32,
    /// MemTotal in bytes.
    pub mem_total_bytes: u64,
    /// MemAvailable in bytes before the run.
    pub mem_available_bytes: u64,
    /// RLIMIT_NOFILE hard limit of bench itself (what each worker process can raise its soft limit to).
    pub fd_limit: u64,
}

/// The command line as the run understood it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlanSummary {
    /// Target connections, or `None` for `--connections max`.
    pub connections: Option<u64>,
    /// `hold` or `echo`.
    pub mode: String,
    /// Connect rate per second asked of the load generator.
    pub rate: u64,
    /// Steps of the ramp (for `max`: the step size is `step_connections`).
    pub steps: u32,
    /// Connections added per step.
    pub step_connections: u64,
    /// Whether `--tune` was given.
    pub tune: bool,
    /// Whether server and load ran in two network namespaces joined by a veth pair.
    pub netns: bool,
    /// Share of MemTotal kept free by `--connections max`, in percent.
    pub memory_margin_percent: u32,
    /// Echo mode: message size in bytes and messages per second per load process.
    pub message: Option<MessagePlan>,
}

/// The echo traffic asked of the load generator.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessagePlan {
    /// Bytes per message.
    pub bytes: u64,
    /// Messages per second per connection.
    pub rate: u64,
}

/// One line of doctor's verdict that matters for this run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PreflightNote {
    /// The limit judged.
    pub limit: Limit,
    /// `ok`, `warn`, `fail` or `info`, as doctor says.
    pub status: String,
    /// Doctor's sentence: current value, what is needed and the fix.
    pub message: String,
}

/// One sysctl changed by `--tune`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SysctlChange {
    /// The key, e.g. `fs.file-max`.
    pub key: String,
    /// Value before the run.
    pub before: String,
    /// Value during the run.
    pub during: String,
    /// Value read back after the restore (equal to `before` when the restore worked).
    pub after: String,
}

/// Which server a ramp ran against.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ServerKind {
    /// `c1m serve`.
    C1m,
    /// The Go baseline from bench/serve/.
    Go,
    /// The tokio baseline from bench/serve/.
    Tokio,
}

impl ServerKind {
    /// Name used in tables and plot legends.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::C1m => "c1m",
            ServerKind::Go => "go",
            ServerKind::Tokio => "tokio",
        }
    }
}

/// One ramp against one server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunReport {
    /// The server that held the connections.
    pub server: ServerKind,
    /// The most connections held at once.
    pub held_max: u64,
    /// Seconds from the first connect to the last step reached.
    pub ramp_seconds: f64,
    /// Why the ramp ended before the target, or `None` when it reached it.
    pub stopped_by: Option<Stop>,
    /// One sample per step, taken once the step's connections were established.
    pub steps: Vec<StepSample>,
    /// Connections held over time, sampled a few times per second.
    pub timeline: Vec<TimePoint>,
    /// How the connections were closed and what that cost.
    pub teardown: Teardown,
}

/// What ended a ramp before its target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stop {
    /// The limit that stopped it, when one is known.
    pub limit: Option<Limit>,
    /// The sentence explaining it.
    pub reason: String,
}

/// A point of the connections-over-time curve.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct TimePoint {
    /// Seconds since the server was ready.
    pub t_s: f64,
    /// Connections established by the load side at that moment.
    pub connections: u64,
}

/// What was measured once a step of the ramp was reached.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepSample {
    /// 1-based step number.
    pub step: u32,
    /// Seconds since the server was ready.
    pub t_s: f64,
    /// Connections held (established on the load side).
    pub connections: u64,
    /// Connections this step added per second of its duration.
    pub ramp_rate: f64,
    /// Rise of the kernel's slab memory since before the ramp (`/proc/meminfo` Slab), in bytes.
    pub kernel_bytes: u64,
    /// `kernel_bytes` per connection; both socket ends are counted because both live in this kernel.
    pub kernel_bytes_per_connection: f64,
    /// Rise of the objects in use in the per-socket slab caches (`/proc/slabinfo`: TCP, sock_inode_cache,
    /// filp, dentry, eventpoll_epi, eventpoll_pwq) per connection: less exposed than Slab to unrelated activity.
    pub socket_slab_bytes_per_connection: f64,
    /// Server side user space.
    pub server: SideUsage,
    /// Load side user space.
    pub load: SideUsage,
    /// MemAvailable at the sample, in bytes.
    pub mem_available_bytes: u64,
    /// Socket counts at the sample.
    pub sockets: SocketCounts,
    /// Round-trip percentiles in echo mode.
    pub rtt: Option<Percentiles>,
}

/// The user-space cost of one side (server or load), over all of its processes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SideUsage {
    /// Live processes (supervisor and workers).
    pub processes: u32,
    /// Sum of VmRSS, in bytes.
    pub rss_bytes: u64,
    /// Sum of each process's VmRSS above the smallest bench saw for it, in bytes.
    pub rss_growth_bytes: u64,
    /// `rss_growth_bytes` per connection.
    pub bytes_per_connection: f64,
    /// User plus system CPU seconds, including processes that already exited.
    pub cpu_seconds: f64,
}

/// Socket counts from the kernel's O(1) counters, summed over the server's and the load's namespaces.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct SocketCounts {
    /// ESTABLISHED and CLOSE_WAIT sockets (`Tcp: CurrEstab`); both ends of a connection count.
    pub established: u64,
    /// TIME_WAIT sockets (`/proc/net/sockstat` `tw`).
    pub time_wait: u64,
    /// Hashed TCP sockets, listeners included (`/proc/net/sockstat` `inuse`).
    pub in_use: u64,
}

/// Round-trip time percentiles, microseconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    /// Samples behind the percentiles.
    pub count: u64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest sample.
    pub max_us: f64,
}

/// How the held connections were closed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Teardown {
    /// What closed them (e.g. `sock_destroy` then kill).
    pub method: String,
    /// Seconds until every connection was gone and every child process had exited.
    pub seconds: f64,
    /// Seconds until every connection was closed (the load children's resets, then `ss -K` for any left).
    pub destroy_seconds: f64,
    /// TIME_WAIT sockets of the server's port left right after (`ss state time-wait`).
    pub time_wait_after: u64,
    /// Rise of `TcpExt: TCPTimeWaitOverflow` during the teardown (must stay 0).
    pub time_wait_overflow: u64,
}

/// One figure of a baseline next to c1m's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ratio {
    /// What is compared, e.g. `server user bytes per connection`.
    pub figure: String,
    /// The baseline's name.
    pub baseline: ServerKind,
    /// c1m's value.
    pub c1m: f64,
    /// The baseline's value.
    pub other: f64,
    /// `other / c1m` (above 1: the baseline's figure is larger); `None` when c1m's figure is 0.
    pub ratio: Option<f64>,
}

impl BenchReport {
    /// The c1m run, which every report has once a ramp started.
    pub fn c1m_run(&self) -> Option<&RunReport> {
        self.runs.iter().find(|r| r.server == ServerKind::C1m)
    }
}

impl RunReport {
    /// The last step sample, the one the summary quotes.
    pub fn last_step(&self) -> Option<&StepSample> {
        self.steps.last()
    }
}

/// Reads one compared figure from a run.
type Figure = fn(&RunReport) -> Option<f64>;

/// The figures compared between servers, read from a run's last step.
const COMPARED: &[(&str, Figure)] = &[
    ("connections held", |r| Some(r.held_max as f64)),
    ("ramp seconds", |r| Some(r.ramp_seconds)),
    ("server user bytes per connection", |r| {
        r.last_step().map(|s| s.server.bytes_per_connection)
    }),
    ("kernel bytes per connection", |r| {
        r.last_step().map(|s| s.kernel_bytes_per_connection)
    }),
    ("server cpu seconds", |r| {
        r.last_step().map(|s| s.server.cpu_seconds)
    }),
    ("teardown seconds", |r| Some(r.teardown.seconds)),
];

/// Ratios of every baseline run against the c1m run.
pub fn compare(runs: &[RunReport]) -> Vec<Ratio> {
    let Some(c1m) = runs.iter().find(|r| r.server == ServerKind::C1m) else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for other in runs.iter().filter(|r| r.server != ServerKind::C1m) {
        for (figure, read) in COMPARED {
            let (Some(a), Some(b)) = (read(c1m), read(other)) else {
                continue;
            };
            let ratio = (a > 0.0).then(|| b / a);
            rows.push(Ratio {
                figure: (*figure).to_string(),
                baseline: other.server,
                c1m: a,
                other: b,
                ratio,
            });
        }
    }
    rows
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A two-step c1m run plus a baseline, as a ramp would produce it.
    pub(crate) fn sample_report() -> BenchReport {
        let step = |step: u32, connections: u64| StepSample {
            step,
            t_s: f64::from(step) * 2.5,
            connections,
            ramp_rate: 20_000.0,
            kernel_bytes: connections * 7_900,
            kernel_bytes_per_connection: 7_900.0,
            socket_slab_bytes_per_connection: 7_400.0,
            server: SideUsage {
                processes: 3,
                rss_bytes: 12 << 20,
                rss_growth_bytes: connections * 40,
                bytes_per_connection: 40.0,
                cpu_seconds: 0.5 * f64::from(step),
            },
            load: SideUsage {
                processes: 4,
                bytes_per_connection: 60.0,
                ..SideUsage::default()
            },
            mem_available_bytes: 20 << 30,
            sockets: SocketCounts {
                established: 2 * connections,
                time_wait: 0,
                in_use: 2 * connections + 1,
            },
            rtt: Some(Percentiles {
                count: 1000,
                p50_us: 50.0,
                p90_us: 80.0,
                p99_us: 120.0,
                p999_us: 400.0,
                max_us: 900.0,
            }),
        };
        let run = |server, held: u64| RunReport {
            server,
            held_max: held,
            ramp_seconds: 5.0,
            stopped_by: None,
            steps: vec![step(1, held / 2), step(2, held)],
            timeline: vec![
                TimePoint {
                    t_s: 0.0,
                    connections: 0,
                },
                TimePoint {
                    t_s: 5.0,
                    connections: held,
                },
            ],
            teardown: Teardown {
                method: "sock_destroy".into(),
                seconds: 0.4,
                ..Teardown::default()
            },
        };
        let runs = vec![run(ServerKind::C1m, 5_000), run(ServerKind::Go, 5_000)];
        BenchReport {
            schema_version: SCHEMA_VERSION,
            started_unix_ms: 1_700_000_000_000,
            machine: Machine {
                kernel: "6.18.44".into(),
                cpus: 2,
                mem_total_bytes: 24 << 30,
                mem_available_bytes: 23 << 30,
                fd_limit: 20_000,
            },
            plan: PlanSummary {
                connections: Some(5_000),
                mode: "echo".into(),
                rate: 20_000,
                steps: 2,
                step_connections: 2_500,
                tune: true,
                netns: false,
                memory_margin_percent: 15,
                message: Some(MessagePlan {
                    bytes: 64,
                    rate: 1000,
                }),
            },
            preflight: vec![PreflightNote {
                limit: Limit::MaxTwBuckets,
                status: "warn".into(),
                message: "tcp_max_tw_buckets 131072 < 5000 </script>".into(),
            }],
            tuned: vec![SysctlChange {
                key: "fs.file-max".into(),
                before: "2466174".into(),
                during: "4194304".into(),
                after: "2466174".into(),
            }],
            comparison: compare(&runs),
            runs,
        }
    }

    #[test]
    fn compare_divides_baseline_by_c1m() {
        let mut r = sample_report();
        r.runs[1].ramp_seconds = 10.0;
        let rows = compare(&r.runs);
        let ramp = rows.iter().find(|row| row.figure == "ramp seconds").unwrap();
        assert_eq!((ramp.c1m, ramp.other, ramp.ratio), (5.0, 10.0, Some(2.0)));
        let teardown = rows.iter().find(|row| row.figure == "teardown seconds").unwrap();
        assert_eq!(teardown.ratio, Some(1.0));
    }
}
