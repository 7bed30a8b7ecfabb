//! Progress while a run ramps: what each worker tells the coordinator, and the per-second line the
//! coordinator prints (`--progress json` drives the bench ramp with it).

use serde::{Deserialize, Serialize};

use crate::report::LoadReport;

/// One line a worker writes on stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerLine {
    /// A periodic snapshot.
    Progress(WorkerProgress),
    /// The worker's final report (its last line).
    Report(Box<LoadReport>),
}

/// A worker's counters at one moment (cumulative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerProgress {
    /// Milliseconds since the worker started its schedule.
    pub t_ms: u64,
    /// Connections open now.
    pub open: u64,
    /// Connections established so far.
    pub established: u64,
    /// Attempts failed so far.
    pub failed: u64,
    /// How far behind schedule the next due connection is, in milliseconds (0 when on time).
    pub behind_schedule_ms: u64,
    /// Every connection of the lane has been attempted and settled.
    pub settled: bool,
    /// The worker's resident memory right before its first connect: the baseline of its per-connection cost.
    #[serde(default)]
    pub rss_before_bytes: u64,
}

/// The coordinator's line: once per second on stdout with `--progress json`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProgressLine {
    /// Milliseconds since the run started.
    pub t_ms: u64,
    /// Connections open now.
    pub established: u64,
    /// Connections this run (shard) is to open.
    pub target: u64,
    /// Attempts failed so far.
    pub failed: u64,
    /// Connections established per second over the last interval.
    pub rate_now: f64,
    /// The worst worker's delay behind schedule, in milliseconds.
    pub behind_schedule_ms: u64,
    /// The workers' resident memory right before their first connect, summed: what a driver subtracts from
    /// their RSS to get the cost of the connections alone (their start-up is not a per-connection cost).
    #[serde(default)]
    pub workers_rss_before_bytes: u64,
}

/// Printed once with `--progress json` when every connection has settled and the survivors are being held.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DoneLine {
    /// Always true: lets a driver match `"done":true`.
    pub done: bool,
    /// Milliseconds since the run started.
    pub t_ms: u64,
    /// Connections open (held) now.
    pub established: u64,
    /// Connections this run (shard) is to open.
    pub target: u64,
    /// Attempts that failed.
    pub failed: u64,
}

/// Sum of the latest progress of every worker.
pub fn total(latest: &[WorkerProgress]) -> WorkerProgress {
    latest.iter().fold(
        WorkerProgress {
            settled: true,
            ..Default::default()
        },
        |acc, p| WorkerProgress {
            t_ms: acc.t_ms.max(p.t_ms),
            open: acc.open + p.open,
            established: acc.established + p.established,
            failed: acc.failed + p.failed,
            behind_schedule_ms: acc.behind_schedule_ms.max(p.behind_schedule_ms),
            settled: acc.settled && p.settled,
            rss_before_bytes: acc.rss_before_bytes + p.rss_before_bytes,
        },
    )
}
