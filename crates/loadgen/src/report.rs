//! The load report: one type that a worker produces for its lane, that workers and shards merge into exactly
//! (counts add, histograms add), and that every output (summary table, JSON, `report show`) renders.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use c1m_kernel::Limit;
use c1m_net::errno::{Clues, Phase, classify, errno_name};
use serde::{Deserialize, Serialize};

use crate::latency::{Latency, MergeError};
use crate::plan::{LoadPlan, MessagePlan, Shard};
use crate::verdict::Verdict;

/// Identifies the JSON document; bumped when a field changes meaning.
pub const REPORT_KIND: &str = "c1m-load-report/1";

/// The full result of a run, a shard, or several merged shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Always [`REPORT_KIND`].
    pub kind: String,
    /// What was asked for (the same in every shard of one run).
    pub plan: PlanInfo,
    /// The shards this report covers, sorted.
    pub shards: Vec<Shard>,
    /// Worker processes that contributed.
    pub workers: u32,
    /// How the connections ended up.
    pub counts: Counts,
    /// How well the schedule was kept.
    pub ramp: Ramp,
    /// Connect latency measured from each connection's scheduled start (coordinated-omission safe).
    pub connect_latency: Latency,
    /// Connect latency measured from the moment `connect()` was actually called.
    pub connect_latency_from_start: Latency,
    /// Echo round trips, when `--message` was given.
    pub messages: Option<Messages>,
    /// Failures by (phase, errno, source, target), each with the limit it names.
    pub errors: Vec<ErrorCount>,
    /// User-space memory of the load workers.
    pub memory: Memory,
    /// Whether every worker could give its sockets a private slice of ports (IP_LOCAL_PORT_RANGE, Linux 6.3+).
    pub port_slices: bool,
    /// Why the run ended.
    pub end: End,
    /// The one-sentence conclusion (recomputed after every merge).
    pub verdict: Verdict,
}

/// The plan as the report records it: the parts every shard shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanInfo {
    /// Connections over all shards.
    pub connections: u64,
    /// Connections per second over all shards.
    pub rate: u64,
    /// Destinations.
    pub targets: Vec<SocketAddr>,
    /// Source addresses (empty: chosen by the kernel).
    pub sources: Vec<IpAddr>,
    /// Connect timeout in milliseconds.
    pub connect_timeout_ms: u64,
    /// Hold time after the ramp in milliseconds.
    pub hold_ms: u64,
    /// Bound on the run in milliseconds.
    pub duration_ms: u64,
    /// Echo messages per connection.
    pub message: Option<MessagePlan>,
    /// How many shards the run was split into.
    pub shard_count: u32,
}

impl From<&LoadPlan> for PlanInfo {
    fn from(p: &LoadPlan) -> PlanInfo {
        PlanInfo {
            connections: p.connections,
            rate: p.rate,
            targets: p.targets.clone(),
            sources: p.sources.clone(),
            connect_timeout_ms: p.connect_timeout_ms,
            hold_ms: p.hold_ms,
            duration_ms: p.duration_ms,
            message: p.message,
            shard_count: p.shard.count,
        }
    }
}

/// Connection counts. `planned = attempted + skipped + not_started` and
/// `attempted = established + failed + in_flight_at_end`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Connections this report's shards were to open.
    pub planned: u64,
    /// `connect()` calls made (including those that failed before reaching the network).
    pub attempted: u64,
    /// Connections that completed the handshake.
    pub established: u64,
    /// Attempts that failed or timed out.
    pub failed: u64,
    /// Not attempted because their (source, target) pair had run out of ports or the worker out of fds.
    pub skipped: u64,
    /// Not attempted because the run ended (--duration or interrupt) before they were due.
    pub not_started: u64,
    /// Attempts still in progress when the run ended.
    pub in_flight_at_end: u64,
    /// Established connections lost while held (closed or reset by the peer).
    pub dropped: u64,
    /// Connections open when the run ended.
    pub open_at_end: u64,
    /// The most connections open at once, summed over workers.
    pub peak_open: u64,
}

/// How the ramp went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ramp {
    /// From the start until the last connection settled (established or failed); the slowest worker's.
    pub settled_ms: u64,
    /// The worst delay between a connection's scheduled and actual start.
    pub max_behind_schedule_ms: u64,
    /// Connections that started more than 10 ms after their scheduled time.
    pub late_starts: u64,
}

impl Ramp {
    /// A start later than this counts as late.
    pub const LATE_MS: u64 = 10;
}

/// Echo message statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Messages {
    /// Messages sent.
    pub sent: u64,
    /// Messages whose echo came back completely.
    pub echoed: u64,
    /// Round trip from the message's scheduled send time (coordinated-omission safe).
    pub rtt: Latency,
    /// Round trip from the actual send.
    pub rtt_from_send: Latency,
}

/// One row of the error table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCount {
    /// The failing step.
    pub phase: Phase,
    /// The raw errno (0: orderly close by the peer).
    pub errno: i32,
    /// Its symbolic name.
    pub name: String,
    /// Source address (absent when the kernel chose it).
    pub source: Option<IpAddr>,
    /// Destination.
    pub target: SocketAddr,
    /// Occurrences.
    pub count: u64,
    /// The limit this failure names, if any.
    pub limit: Option<Limit>,
}

/// User-space resident memory of the workers, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    /// RSS before the first connection.
    pub rss_before_bytes: u64,
    /// RSS once the ramp settled.
    pub rss_after_ramp_bytes: u64,
    /// Connections open when the second sample was taken.
    pub open_at_sample: u64,
}

impl Memory {
    /// RSS growth per open connection during the ramp, if anything was open.
    pub fn bytes_per_connection(&self) -> Option<f64> {
        (self.open_at_sample > 0).then(|| {
            self.rss_after_ramp_bytes.saturating_sub(self.rss_before_bytes) as f64
                / self.open_at_sample as f64
        })
    }
}

/// Why a run ended; merging keeps the most abrupt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// The schedule finished and the hold time passed.
    #[default]
    Completed,
    /// `--duration` ran out first.
    Duration,
    /// SIGINT or SIGTERM.
    Interrupted,
    /// A worker process died without a report.
    WorkerLost,
}

/// Reports that cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum ReportMergeError {
    /// The plans differ in more than the shard.
    #[error("the reports come from different plans ({0}); merge only shards of one `c1m load` command")]
    DifferentPlans(String),
    /// The same shard appears twice.
    #[error("shard {0}/{1} appears in more than one report")]
    DuplicateShard(u32, u32),
    /// Histograms that do not add.
    #[error(transparent)]
    Histogram(#[from] MergeError),
    /// Nothing to merge.
    #[error("no reports to merge")]
    Empty,
}

type ErrorKey = (Phase, i32, Option<IpAddr>, SocketAddr);

/// Failure counts by key while a worker runs.
#[derive(Debug, Default)]
pub struct ErrorTable(BTreeMap<ErrorKey, u64>);

impl ErrorTable {
    /// Count one failure.
    pub fn add(&mut self, phase: Phase, errno: i32, source: Option<IpAddr>, target: SocketAddr) {
        *self.0.entry((phase, errno, source, target)).or_default() += 1;
    }

    /// The rows, each classified with `clues`.
    pub fn rows(&self, clues: Clues) -> Vec<ErrorCount> {
        self.0
            .iter()
            .map(|(&(phase, errno, source, target), &count)| ErrorCount {
                phase,
                errno,
                name: errno_name(errno),
                source,
                target,
                count,
                limit: classify(phase, errno, clues),
            })
            .collect()
    }
}

impl LoadReport {
    /// Add `other` (another worker or shard of the same plan) into this report.
    pub fn merge(&mut self, other: &LoadReport) -> Result<(), ReportMergeError> {
        if self.plan != other.plan {
            return Err(ReportMergeError::DifferentPlans(plan_difference(
                &self.plan,
                &other.plan,
            )));
        }
        self.connect_latency.merge(&other.connect_latency)?;
        self.connect_latency_from_start
            .merge(&other.connect_latency_from_start)?;
        self.messages = match (self.messages.take(), &other.messages) {
            (Some(mut a), Some(b)) => {
                a.sent += b.sent;
                a.echoed += b.echoed;
                a.rtt.merge(&b.rtt)?;
                a.rtt_from_send.merge(&b.rtt_from_send)?;
                Some(a)
            }
            (a, b) => a.or_else(|| b.clone()),
        };
        self.shards.extend(other.shards.iter().copied());
        self.shards.sort();
        self.shards.dedup();
        self.workers += other.workers;
        let (c, o) = (&mut self.counts, &other.counts);
        c.planned += o.planned;
        c.attempted += o.attempted;
        c.established += o.established;
        c.failed += o.failed;
        c.skipped += o.skipped;
        c.not_started += o.not_started;
        c.in_flight_at_end += o.in_flight_at_end;
        c.dropped += o.dropped;
        c.open_at_end += o.open_at_end;
        c.peak_open += o.peak_open;
        self.ramp.settled_ms = self.ramp.settled_ms.max(other.ramp.settled_ms);
        self.ramp.max_behind_schedule_ms = self
            .ramp
            .max_behind_schedule_ms
            .max(other.ramp.max_behind_schedule_ms);
        self.ramp.late_starts += other.ramp.late_starts;
        for e in &other.errors {
            match self
                .errors
                .iter_mut()
                .find(|m| (m.phase, m.errno, m.source, m.target) == (e.phase, e.errno, e.source, e.target))
            {
                Some(m) => {
                    m.count += e.count;
                    m.limit = m.limit.or(e.limit);
                }
                None => self.errors.push(e.clone()),
            }
        }
        self.errors.sort_by(|a, b| {
            b.count.cmp(&a.count).then_with(|| {
                (a.phase, a.errno, a.source, a.target).cmp(&(b.phase, b.errno, b.source, b.target))
            })
        });
        self.memory.rss_before_bytes += other.memory.rss_before_bytes;
        self.memory.rss_after_ramp_bytes += other.memory.rss_after_ramp_bytes;
        self.memory.open_at_sample += other.memory.open_at_sample;
        self.port_slices &= other.port_slices;
        self.end = self.end.max(other.end);
        self.verdict = Verdict::of(self);
        Ok(())
    }

    /// Merge several reports of one shard (its workers) into one.
    pub fn merge_all(reports: impl IntoIterator<Item = LoadReport>) -> Result<LoadReport, ReportMergeError> {
        let mut iter = reports.into_iter();
        let mut total = iter.next().ok_or(ReportMergeError::Empty)?;
        for r in iter {
            total.merge(&r)?;
        }
        total.verdict = Verdict::of(&total);
        Ok(total)
    }

    /// Merge the reports of different shards (`c1m report merge`): each shard may appear only once.
    pub fn merge_shards(reports: Vec<LoadReport>) -> Result<LoadReport, ReportMergeError> {
        let mut seen: Vec<Shard> = Vec::new();
        for s in reports.iter().flat_map(|r| &r.shards) {
            if seen.contains(s) {
                return Err(ReportMergeError::DuplicateShard(s.index, s.count));
            }
            seen.push(*s);
        }
        LoadReport::merge_all(reports)
    }

    /// Re-classify every error with `clues` gathered on the machine that ran the load, and redo the verdict.
    pub fn classify(&mut self, clues: Clues) {
        for e in &mut self.errors {
            e.limit = classify(e.phase, e.errno, clues);
        }
        self.verdict = Verdict::of(self);
    }
}

fn plan_difference(a: &PlanInfo, b: &PlanInfo) -> String {
    let fields: [(&str, bool); 8] = [
        ("connections", a.connections != b.connections),
        ("rate", a.rate != b.rate),
        ("targets", a.targets != b.targets),
        ("sources", a.sources != b.sources),
        ("connect timeout", a.connect_timeout_ms != b.connect_timeout_ms),
        ("hold", a.hold_ms != b.hold_ms || a.duration_ms != b.duration_ms),
        ("message", a.message != b.message),
        ("shard count", a.shard_count != b.shard_count),
    ];
    let differ: Vec<&str> = fields.iter().filter(|f| f.1).map(|f| f.0).collect();
    format!("{} differ", differ.join(", "))
}

/// An error row of `count` connect failures with `errno` from `source` to the sample target, for tests.
#[cfg(test)]
pub(crate) fn error(errno: i32, source: &str, count: u64) -> ErrorCount {
    let mut table = ErrorTable::default();
    for _ in 0..count {
        table.add(
            Phase::Connect,
            errno,
            Some(source.parse().unwrap()),
            "127.0.0.1:13000".parse().unwrap(),
        );
    }
    table.rows(Clues::default()).remove(0)
}

/// A small report of `established` of `planned` connections for tests of merging and verdicts.
#[cfg(test)]
pub(crate) fn sample(shard: Shard, planned: u64, established: u64) -> LoadReport {
    let plan = PlanInfo {
        connections: 1000,
        rate: 100,
        targets: vec!["127.0.0.1:13000".parse().unwrap()],
        sources: vec!["127.0.0.1".parse().unwrap()],
        connect_timeout_ms: 1000,
        hold_ms: 0,
        duration_ms: 60_000,
        message: None,
        shard_count: shard.count,
    };
    let mut latency = Latency::default();
    for i in 0..established {
        latency.record(std::time::Duration::from_micros(100 + i));
    }
    let mut r = LoadReport {
        kind: REPORT_KIND.to_string(),
        plan,
        shards: vec![shard],
        workers: 1,
        counts: Counts {
            planned,
            attempted: planned,
            established,
            failed: planned - established,
            ..Counts::default()
        },
        ramp: Ramp::default(),
        connect_latency: latency.clone(),
        connect_latency_from_start: latency,
        messages: None,
        errors: Vec::new(),
        memory: Memory::default(),
        port_slices: true,
        end: End::Completed,
        verdict: Verdict {
            ok: false,
            limit: None,
            sentence: String::new(),
        },
    };
    r.verdict = Verdict::of(&r);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_counts_errors_and_histograms() {
        let mut a = sample(Shard { index: 0, count: 2 }, 500, 400);
        a.errors.push(error(libc::EADDRNOTAVAIL, "127.0.0.1", 100));
        let mut b = sample(Shard { index: 1, count: 2 }, 500, 450);
        b.errors.push(error(libc::EADDRNOTAVAIL, "127.0.0.1", 30));
        b.errors.push(error(libc::ECONNREFUSED, "127.0.0.1", 20));
        b.end = End::Interrupted;
        let m = LoadReport::merge_shards(vec![a, b]).unwrap();
        assert_eq!(
            (m.counts.planned, m.counts.established, m.counts.failed),
            (1000, 850, 150)
        );
        assert_eq!(m.connect_latency.count(), 850);
        assert_eq!(m.errors.len(), 2);
        assert_eq!(
            (m.errors[0].name.as_str(), m.errors[0].count),
            ("EADDRNOTAVAIL", 130)
        );
        assert_eq!(m.errors[0].limit, Some(Limit::EphemeralPorts));
        assert_eq!(m.end, End::Interrupted);
        assert_eq!(m.shards.len(), 2);
        assert_eq!(m.workers, 2);
        assert_eq!(m.verdict.limit, Some(Limit::EphemeralPorts));
    }

    #[test]
    fn merge_refuses_mismatches() {
        let a = sample(Shard { index: 0, count: 2 }, 500, 500);
        let same = sample(Shard { index: 0, count: 2 }, 500, 500);
        assert!(matches!(
            LoadReport::merge_shards(vec![a.clone(), same]),
            Err(ReportMergeError::DuplicateShard(0, 2))
        ));
        let mut other = sample(Shard { index: 1, count: 2 }, 500, 500);
        other.plan.rate = 7;
        let err = LoadReport::merge_shards(vec![a, other]).unwrap_err().to_string();
        assert!(err.contains("(rate differ)"), "{err}");
        assert!(matches!(
            LoadReport::merge_shards(Vec::new()),
            Err(ReportMergeError::Empty)
        ));
    }

    #[test]
    fn classify_uses_the_clues() {
        let mut r = sample(Shard::WHOLE, 10, 9);
        r.errors.push(error(libc::ETIMEDOUT, "127.0.0.1", 1));
        r.classify(Clues {
            listen_overflows_rising: false,
        });
        assert_eq!(r.errors[0].limit, None);
        r.classify(Clues {
            listen_overflows_rising: true,
        });
        assert_eq!(r.errors[0].limit, Some(Limit::ListenBacklog));
        assert_eq!(r.verdict.limit, Some(Limit::ListenBacklog));
    }

    #[test]
    fn memory_per_connection() {
        let m = Memory {
            rss_before_bytes: 1000,
            rss_after_ramp_bytes: 4200,
            open_at_sample: 100,
        };
        assert_eq!(m.bytes_per_connection(), Some(32.0));
        assert_eq!(Memory::default().bytes_per_connection(), None);
    }
}
