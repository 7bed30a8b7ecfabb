//! One ramp against one server: start the server, add one `c1m load` child per step (each holding its
//! share with its own /24 of source addresses), sample once each step has settled, then tear down.
//!
//! Why one load process per step rather than one load process driven step by step: a `c1m load` run is an
//! open-loop schedule that ends with a `done` line once all of its connections are settled, so a step is
//! exactly one run, the ramp pauses between steps for a quiet sample, and a step that fails names its limit
//! in its own report. Distinct source ranges keep the steps from competing for the same ephemeral ports.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use c1m_kernel::{Limit, MemInfo, NetCounters, ProcRoot, SlabInfo, SockStat};
use c1m_loadgen::{DoneLine, LoadReport, ProgressLine};
use rustix::process::Signal;

use crate::child::Child;
use crate::guardian::{Duty, Guardian};
use crate::netns::NetnsPair;
use crate::plan::{BenchPlan, Mode, Target};
use crate::procs::{Side, per_connection};
use crate::report::{
    Percentiles, RunReport, ServerKind, SocketCounts, StepSample, Stop, Teardown, TimePoint,
};
use crate::{BenchError, Event, Progress};

/// How often the ramp looks at its children and the kernel.
const TICK: Duration = Duration::from_millis(100);
/// How long a server may take to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server's set of listening sockets must stay the same before it counts as started.
const LISTENERS_SETTLED: Duration = Duration::from_millis(300);
/// How long a child may take to exit once told to.
const EXIT_BOUND: Duration = Duration::from_secs(15);
/// How long load children hold their connections if nobody stops them (bench always does sooner).
const HOLD: &str = "1h";

/// Where the ramp runs: the host's loopback or the namespace pair.
pub struct Topology<'a> {
    /// The namespaces, with `--netns`.
    pub netns: Option<&'a NetnsPair>,
    /// Where the server listens.
    pub server: SocketAddr,
}

impl Topology<'_> {
    fn server_ns(&self) -> Option<&str> {
        self.netns.map(|n| n.server.as_str())
    }

    fn client_ns(&self) -> Option<&str> {
        self.netns.map(|n| n.client.as_str())
    }

    fn namespaces(&self) -> Vec<Option<&str>> {
        match self.netns {
            Some(n) => vec![Some(n.server.as_str()), Some(n.client.as_str())],
            None => vec![None],
        }
    }

    fn sources(&self, step: u32) -> String {
        match self.netns {
            Some(_) => NetnsPair::sources(step),
            None => format!("127.{}.0.0/24", step.min(253)),
        }
    }

    fn probe_source(&self) -> &'static str {
        if self.netns.is_some() {
            "10.232.254.1"
        } else {
            "127.254.0.1"
        }
    }
}

/// `program args...`, run inside `ns` when given (through `ip netns exec`, which execs it: same pid).
pub fn in_ns(ns: Option<&str>, program: &Path, args: &[String]) -> Command {
    match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(program).args(args);
            c
        }
        None => {
            let mut c = Command::new(program);
            c.args(args);
            c
        }
    }
}

/// Text of `/proc/net/NAME` as seen from `ns` (the host's when `None`).
fn net_file(ns: Option<&str>, name: &str) -> String {
    let path = format!("/proc/net/{name}");
    match ns {
        None => std::fs::read_to_string(&path).unwrap_or_default(),
        Some(ns) => Command::new("ip")
            .args(["netns", "exec", ns, "cat", &path])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default(),
    }
}

fn counters(ns: Option<&str>) -> NetCounters {
    let mut c = NetCounters::default();
    for name in ["netstat", "snmp"] {
        let _ = c.parse_into(&net_file(ns, name));
    }
    c
}

fn socket_counts(topology: &Topology) -> SocketCounts {
    let mut total = SocketCounts::default();
    for ns in topology.namespaces() {
        let stat = SockStat::parse(&net_file(ns, "sockstat")).unwrap_or_default();
        total.established += counters(ns).curr_estab().unwrap_or(0);
        total.time_wait += stat.tcp_tw;
        total.in_use += stat.tcp_inuse;
    }
    total
}

/// TIME_WAIT sockets to or from the server's port, in every namespace of the run (others' are not ours).
fn time_wait_on_port(topology: &Topology) -> u64 {
    let port = topology.server.port();
    let filter = format!("( sport = :{port} or dport = :{port} )");
    let args = ["-Htn", "state", "time-wait", &filter].map(String::from);
    topology
        .namespaces()
        .into_iter()
        .filter_map(|ns| ss_count(ns, &args).ok())
        .sum()
}

/// How many sockets `ss ARGS` (with `-H`: no header) lists in `ns`.
fn ss_count(ns: Option<&str>, args: &[String]) -> std::io::Result<u64> {
    let out = in_ns(ns, Path::new("ss"), args).output()?;
    Ok(count_lines(&out.stdout))
}

/// Non-empty lines of `ss` output: one per socket with `-H`.
fn count_lines(out: &[u8]) -> u64 {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count() as u64
}

fn time_wait_overflows(topology: &Topology) -> u64 {
    topology
        .namespaces()
        .into_iter()
        .map(|ns| counters(ns).time_wait_overflow().unwrap_or(0))
        .sum()
}

/// `/proc/meminfo` now.
pub fn meminfo() -> Result<MemInfo, BenchError> {
    MemInfo::read(&ProcRoot::live())
        .map_err(|e| BenchError::Kernel(e.to_string()))?
        .ok_or_else(|| BenchError::Kernel("/proc/meminfo is missing".into()))
}

/// Bytes held by objects in use in the caches one socket takes an object from (0 when slabinfo is unreadable).
fn socket_slab_bytes() -> u64 {
    let Ok(Some(slab)) = SlabInfo::read(&ProcRoot::live()) else {
        return 0;
    };
    SlabInfo::PER_SOCKET
        .iter()
        .filter_map(|name| slab.get(name))
        .map(|c| c.active_bytes())
        .sum()
}

/// One step's load child and what it reported.
struct LoadStep {
    child: Child,
    step: u32,
    target: u64,
    established: u64,
    failed: u64,
    done: bool,
    started: Instant,
    report: std::path::PathBuf,
    /// Its workers' RSS before their first connect, summed (0 until its first progress line).
    workers_rss_before: u64,
}

impl LoadStep {
    fn read_lines(&mut self) {
        for line in self.child.lines() {
            if let Ok(done) = serde_json::from_str::<DoneLine>(&line) {
                self.established = done.established;
                self.failed = done.failed;
                self.done = true;
            } else if let Ok(p) = serde_json::from_str::<ProgressLine>(&line) {
                self.established = p.established;
                self.failed = p.failed;
                self.workers_rss_before = p.workers_rss_before_bytes;
            }
        }
    }
}

/// Everything a running ramp holds; torn down by [`Ramp::teardown`].
struct Ramp<'a> {
    plan: &'a BenchPlan,
    kind: ServerKind,
    topology: &'a Topology<'a>,
    server: Child,
    loads: Vec<LoadStep>,
    server_side: Side,
    load_side: Side,
    start: Instant,
    before: MemInfo,
    socket_slab_before: u64,
    timeline: Vec<TimePoint>,
    steps: Vec<StepSample>,
}

/// Ramp `kind` up as `plan` says and tear it down; `stop` ends the ramp early (Ctrl-C).
pub fn run(
    plan: &BenchPlan,
    kind: ServerKind,
    topology: &Topology,
    server_cmd: Command,
    guardian: &mut Guardian,
    stop: &AtomicBool,
    on_event: &mut dyn FnMut(Event),
) -> Result<RunReport, BenchError> {
    let before = meminfo()?;
    let server = Child::spawn(
        server_cmd,
        &format!("{} server", kind.name()),
        &plan.work_dir.join(format!("{}-server.log", kind.name())),
        false,
    )
    .map_err(BenchError::Spawn)?;
    guardian
        .watch(&Duty::Group(server.pid()))
        .map_err(BenchError::Guardian)?;
    let mut server_side = Side::default();
    server_side.add_root(server.pid());
    let mut ramp = Ramp {
        plan,
        kind,
        topology,
        server,
        loads: Vec::new(),
        server_side,
        load_side: Side::default(),
        start: Instant::now(),
        before,
        socket_slab_before: socket_slab_bytes(),
        timeline: Vec::new(),
        steps: Vec::new(),
    };
    let outcome = ramp
        .wait_listening(stop)
        .and_then(|()| ramp.climb(guardian, stop, on_event));
    let teardown = ramp.teardown();
    on_event(Event::Teardown(kind, &teardown));
    let stopped_by = match outcome {
        Ok(stopped_by) => stopped_by,
        // A failure after the first step still leaves measurements worth reporting.
        Err(e) if !ramp.steps.is_empty() => Some(Stop {
            limit: None,
            reason: e.to_string(),
        }),
        Err(e) => return Err(e),
    };
    let stopped_by = stopped_by.map(|stop| ramp.explain(stop));
    let held_max = ramp.steps.iter().map(|s| s.connections).max().unwrap_or(0);
    let ramp_seconds = ramp.steps.last().map_or(0.0, |s| s.t_s);
    Ok(RunReport {
        server: kind,
        held_max,
        ramp_seconds,
        stopped_by,
        steps: ramp.steps,
        timeline: ramp.timeline,
        teardown,
    })
}

impl Ramp<'_> {
    fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Wait until the server's port is in LISTEN and the number of its listening sockets has stopped
    /// changing (asked of the kernel, so it works for any server): a sharded server is then fully up, and
    /// its memory from here on is what connections cost.
    fn wait_listening(&mut self, stop: &AtomicBool) -> Result<(), BenchError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let port = self.topology.server.port().to_string();
        let filter = format!("( sport = :{port} )");
        let args = ["-Hltn".to_string(), filter];
        let (mut listeners, mut unchanged_since) = (0, Instant::now());
        loop {
            let now_listening = ss_count(self.topology.server_ns(), &args).map_err(BenchError::Spawn)?;
            if now_listening != listeners {
                (listeners, unchanged_since) = (now_listening, Instant::now());
            }
            if listeners > 0 && unchanged_since.elapsed() >= LISTENERS_SETTLED {
                self.start = Instant::now();
                return Ok(());
            }
            if let Some(status) = self.server.exited() {
                return Err(BenchError::Child(format!(
                    "{} exited with {status} before listening: {}",
                    self.server.name,
                    self.server.log_tail()
                )));
            }
            if Instant::now() > deadline || stop.load(Ordering::Relaxed) {
                return Err(BenchError::Child(format!(
                    "{} did not listen on {} within {READY_TIMEOUT:?}: {}",
                    self.server.name,
                    self.topology.server,
                    self.server.log_tail()
                )));
            }
            std::thread::sleep(TICK / 4);
        }
    }

    fn held(&self) -> u64 {
        self.loads.iter().map(|l| l.established).sum()
    }

    /// Step until the target, a limit, the memory budget or `stop`; `Ok(Some(stop))` when it ended short.
    fn climb(
        &mut self,
        guardian: &mut Guardian,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Option<Stop>, BenchError> {
        let per_step = self.plan.step_connections();
        // The server is up and holds nothing yet: what it holds from now on is what connections cost.
        self.server_side.refresh();
        self.server_side.rebase();
        for step in 1..=crate::plan::MAX_STEPS {
            let want = match self.plan.target {
                Target::Connections(n) => per_step.min(n.saturating_sub(per_step * u64::from(step - 1))),
                Target::Max => per_step,
            };
            if want == 0 {
                return Ok(None);
            }
            self.start_step(step, want, guardian)?;
            if let Some(stopped) = self.settle(stop, on_event)? {
                return Ok(Some(stopped));
            }
            let sample = self.sample(step)?;
            on_event(Event::Step(self.kind, &sample));
            self.steps.push(sample);
            let load = self.loads.last().expect("a step was started");
            if load.failed > 0 {
                return Ok(Some(Stop {
                    limit: None,
                    reason: format!(
                        "step {step}: {} of {} connections failed",
                        load.failed, load.target
                    ),
                }));
            }
            if self.plan.target == Target::Max
                && let Some(stopped) = self.memory_stop()
            {
                return Ok(Some(stopped));
            }
        }
        Ok(match self.plan.target {
            Target::Max => Some(Stop {
                limit: None,
                reason: format!("the ramp's {} steps are used up", crate::plan::MAX_STEPS),
            }),
            Target::Connections(_) => None,
        })
    }

    fn load_args(&self, connections: u64, sources: &str, report: &Path) -> Vec<String> {
        let mut args = vec![
            "load".to_string(),
            self.topology.server.to_string(),
            "--connections".into(),
            connections.to_string(),
            "--rate".into(),
            format!("{}/s", self.plan.rate),
            "--sources".into(),
            sources.to_string(),
            "--json".into(),
            report.display().to_string(),
            // Teardown: SIGINT ends the run; resets close as fast as FINs without leaving TIME_WAIT, and
            // about twice as fast as `ss -K` from outside (bench/teardown/run.sh).
            "--close-with".into(),
            "reset".into(),
        ];
        if self.plan.mode == Mode::Echo {
            args.extend([
                "--message".into(),
                self.plan.message.bytes.to_string(),
                "--message-rate".into(),
                format!("{}/s", self.plan.message.rate),
            ]);
        }
        if self.topology.netns.is_some() {
            args.push("--allow-remote".into());
        }
        args
    }

    fn start_step(&mut self, step: u32, connections: u64, guardian: &mut Guardian) -> Result<(), BenchError> {
        let report = self
            .plan
            .work_dir
            .join(format!("{}-load-step{step}.json", self.kind.name()));
        let mut args = self.load_args(connections, &self.topology.sources(step), &report);
        args.extend(["--hold".into(), HOLD.into(), "--progress".into(), "json".into()]);
        let cmd = in_ns(self.topology.client_ns(), &self.plan.exe, &args);
        let log = self
            .plan
            .work_dir
            .join(format!("{}-load-step{step}.log", self.kind.name()));
        let child = Child::spawn(cmd, &format!("load step {step}"), &log, true).map_err(BenchError::Spawn)?;
        guardian
            .watch(&Duty::Group(child.pid()))
            .map_err(BenchError::Guardian)?;
        self.load_side.add_root(child.pid());
        self.loads.push(LoadStep {
            child,
            step,
            target: connections,
            established: 0,
            failed: 0,
            done: false,
            started: Instant::now(),
            report,
            workers_rss_before: 0,
        });
        Ok(())
    }

    /// Follow the current step until its load child says `done`.
    fn settle(
        &mut self,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Option<Stop>, BenchError> {
        let (target, started) = {
            let l = self.loads.last().expect("a step was started");
            (l.target, l.started)
        };
        let schedule = Duration::from_secs_f64(target as f64 / self.plan.rate as f64);
        let deadline = started + schedule + self.plan.step_grace;
        loop {
            for l in &mut self.loads {
                l.read_lines();
                if l.workers_rss_before > 0 {
                    self.load_side
                        .report_baseline(l.child.pid(), l.workers_rss_before);
                }
            }
            self.server_side.refresh();
            self.load_side.refresh();
            let held = self.held();
            let t_s = self.elapsed();
            self.timeline.push(TimePoint {
                t_s,
                connections: held,
            });
            let (step, done) = self
                .loads
                .last()
                .map(|l| (l.step, l.done))
                .expect("a step was started");
            on_event(Event::Progress(&Progress {
                server: self.kind,
                step,
                connections: held,
                failed: self.loads.iter().map(|l| l.failed).sum(),
                elapsed_s: t_s,
            }));
            if done {
                return Ok(None);
            }
            if stop.load(Ordering::Relaxed) {
                return Ok(Some(Stop {
                    limit: None,
                    reason: "interrupted".into(),
                }));
            }
            if let Some(status) = self.server.exited() {
                return Err(BenchError::Child(format!(
                    "{} exited with {status}: {}",
                    self.server.name,
                    self.server.log_tail()
                )));
            }
            if let Some(dead) = self
                .loads
                .iter_mut()
                .find_map(|l| l.child.exited().map(|s| (l.step, s)))
            {
                let l = self.loads.iter().find(|l| l.step == dead.0).expect("found above");
                return Ok(Some(Stop {
                    limit: None,
                    reason: format!(
                        "load step {} exited with {}: {}",
                        dead.0,
                        dead.1,
                        l.child.log_tail()
                    ),
                }));
            }
            if Instant::now() > deadline {
                return Ok(Some(Stop {
                    limit: None,
                    reason: format!(
                        "step {step} did not settle within {:.0} s ({held} connections held)",
                        (deadline - started).as_secs_f64()
                    ),
                }));
            }
            std::thread::sleep(TICK);
        }
    }

    fn sample(&mut self, step: u32) -> Result<StepSample, BenchError> {
        let now = meminfo()?;
        let connections = self.held();
        let kernel_bytes = now.slab.saturating_sub(self.before.slab);
        let current = self.loads.last().expect("a step was started");
        let step_seconds = current.started.elapsed().as_secs_f64();
        let rtt = match self.plan.mode {
            Mode::Echo => self.probe_rtt(step)?,
            Mode::Hold => None,
        };
        Ok(StepSample {
            step,
            t_s: self.elapsed(),
            connections,
            ramp_rate: if step_seconds > 0.0 {
                current.established as f64 / step_seconds
            } else {
                0.0
            },
            kernel_bytes,
            kernel_bytes_per_connection: per_connection(kernel_bytes, connections),
            socket_slab_bytes_per_connection: per_connection(
                socket_slab_bytes().saturating_sub(self.socket_slab_before),
                connections,
            ),
            server: self.server_side.usage(connections),
            load: self.load_side.usage(connections),
            mem_available_bytes: now.available,
            sockets: socket_counts(self.topology),
            rtt,
        })
    }

    /// Echo mode: a short extra load run with a few connections measures the round trip while every held
    /// connection exchanges messages at the configured rate.
    fn probe_rtt(&self, step: u32) -> Result<Option<Percentiles>, BenchError> {
        let report = self
            .plan
            .work_dir
            .join(format!("{}-probe-step{step}.json", self.kind.name()));
        let mut args = self.load_args(self.plan.probe_connections, self.topology.probe_source(), &report);
        args.extend(["--hold".into(), "3s".into(), "--progress".into(), "off".into()]);
        let cmd = in_ns(self.topology.client_ns(), &self.plan.exe, &args);
        let log = self
            .plan
            .work_dir
            .join(format!("{}-probe-step{step}.log", self.kind.name()));
        let mut probe = Child::spawn(cmd, "rtt probe", &log, false).map_err(BenchError::Spawn)?;
        probe.wait_or_kill(Duration::from_secs(60));
        let Some(report) = read_load_report(&report) else {
            return Err(BenchError::Child(format!(
                "the rtt probe wrote no report: {}",
                probe.log_tail()
            )));
        };
        Ok(report
            .messages
            .filter(|m| m.rtt.count() > 0)
            .map(|m| Percentiles {
                count: m.rtt.count(),
                p50_us: m.rtt.quantile_us(0.5) as f64,
                p90_us: m.rtt.quantile_us(0.9) as f64,
                p99_us: m.rtt.quantile_us(0.99) as f64,
                p999_us: m.rtt.quantile_us(0.999) as f64,
                max_us: m.rtt.max_us() as f64,
            }))
    }

    /// `--connections max`: stop when one more step, at the memory each connection has cost so far (kernel
    /// and user space, from MemAvailable), would leave less than the margin.
    fn memory_stop(&self) -> Option<Stop> {
        let now = meminfo().ok()?;
        let held = self.held();
        // What connections really hold: the Slab rise and both sides' user-space growth. Not the drop of
        // MemAvailable: it counts socket dentries and inodes as reclaimable though open sockets pin them,
        // and so understates the cost by ~40% (measured at 1M: MemAvailable -4.7 GiB, Slab +7.8 GiB); a max
        // run trusting it would step into the OOM killer.
        let spent = now.slab.saturating_sub(self.before.slab)
            + self.server_side.usage(held).rss_growth_bytes
            + self.load_side.usage(held).rss_growth_bytes;
        let per_conn = per_connection(spent, held);
        let available = self.before.available.saturating_sub(spent).min(now.available);
        let next = per_conn * self.plan.step_connections() as f64;
        let floor = now.total as f64 * f64::from(self.plan.memory_margin_percent) / 100.0;
        (available as f64 - next < floor).then(|| Stop {
            limit: Some(Limit::Memory),
            reason: format!(
                "memory: another {} connections at {:.0} B each would leave less than the {}% margin ({}) available",
                self.plan.step_connections(),
                per_conn,
                self.plan.memory_margin_percent,
                c1m_doctor::bytes(floor as u64)
            ),
        })
    }

    /// Close everything fast without TIME_WAIT: the load children end on SIGINT and close their
    /// connections with resets (`--close-with reset`: one packet each, no TIME_WAIT on either end; each
    /// worker closes its own sockets), then `ss -K` aborts any left (a probe's, a stuck child's), then the
    /// server ends.
    fn teardown(&mut self) -> Teardown {
        let start = Instant::now();
        let overflow_before = time_wait_overflows(self.topology);
        let port = self.topology.server.port();
        // One load child at a time: each already spreads its closes over its workers and both CPUs, and
        // each bounds its workers' stop by its own connections (c1m_loadgen::stop_bound), a bound that
        // all children closing at once would overrun (2.25M: every child lost workers to it).
        let mut killed = 0;
        for l in &mut self.loads {
            let _ = l.child.signal(Signal::INT);
            if !l.child.wait_or_kill(c1m_loadgen::stop_bound(l.established)) {
                killed += 1;
            }
        }
        let left = [
            destroy_all(self.topology.client_ns(), &format!("( dport = :{port} )")),
            destroy_all(self.topology.server_ns(), &format!("( sport = :{port} )")),
        ];
        let stragglers: u64 = left.iter().filter_map(|r| r.as_ref().ok()).sum();
        let destroy_seconds = start.elapsed().as_secs_f64();
        let _ = self.server.signal(Signal::TERM);
        self.server.wait_or_kill(EXIT_BOUND);
        let mut method =
            "SIGINT to load (it closes with resets, SO_LINGER 0), then SIGTERM to the server".to_string();
        if killed > 0 {
            method = format!("{method}; {killed} load children killed at their stop bound");
        }
        if stragglers > 0 {
            method = format!("{method}; ss -K aborted {stragglers} connections left after load exited");
        }
        if left.iter().any(Result::is_err) {
            method.push_str("; ss -K failed");
        }
        Teardown {
            method,
            seconds: start.elapsed().as_secs_f64(),
            destroy_seconds,
            time_wait_after: time_wait_on_port(self.topology),
            time_wait_overflow: time_wait_overflows(self.topology).saturating_sub(overflow_before),
        }
    }

    /// Name the limit behind a stop from the failing load step's own verdict, once its report is written.
    fn explain(&self, stop: Stop) -> Stop {
        if stop.limit.is_some() {
            return stop;
        }
        let failing = self.loads.iter().rev().find(|l| l.failed > 0 || !l.done);
        let Some(report) = failing.and_then(|l| read_load_report(&l.report)) else {
            return stop;
        };
        if report.verdict.ok {
            return stop;
        }
        Stop {
            limit: report.verdict.limit.or(stop.limit),
            reason: format!("{}: {}", stop.reason, report.verdict.sentence),
        }
    }
}

fn read_load_report(path: &Path) -> Option<LoadReport> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// `ss -K` for the established sockets matching `filter`, in `ns`, until none is left: the kernel aborts
/// each (a reset to the peer), so neither end goes through TIME_WAIT. Several passes, because destroying
/// sockets while the dump walks the hash table makes the walk skip some. Returns how many it destroyed.
fn destroy_all(ns: Option<&str>, filter: &str) -> std::io::Result<u64> {
    const PASSES: usize = 20;
    let args = ["-K", "-Htn", "state", "established", filter].map(String::from);
    let mut destroyed = 0;
    for _ in 0..PASSES {
        let out = in_ns(ns, Path::new("ss"), &args)
            .stderr(std::process::Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!("ss -K exited with {}", out.status)));
        }
        // ss prints each socket it destroyed.
        let listed = count_lines(&out.stdout);
        if listed == 0 {
            break;
        }
        destroyed += listed;
    }
    Ok(destroyed)
}
