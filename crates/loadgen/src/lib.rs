//! `c1m load`: open-loop connection load from many source addresses, with a mergeable report.
//!
//! # Brief overview
//! A [`LoadPlan`] (resolved from the command line by [`Request::resolve`]) splits exactly into shards
//! (`--shard I/N`, one per host) and [`Lane`]s (one per worker process). Each worker runs [`run_lane`]: an
//! open-loop schedule of non-blocking connects from a pool of source addresses, held on epoll, with connect
//! and echo latencies in HDR histograms ([`Latency`]). The coordinator ([`run`]) starts the workers through
//! the c1m-net supervisor, prints progress and merges their [`LoadReport`]s, which `c1m report merge`
//! merges again across hosts. Every failure is counted by phase and errno and mapped to a
//! [`c1m_kernel::Limit`]; the [`Verdict`] says in one sentence where and why a run stopped short.
#![deny(missing_docs)]

mod coordinator;
mod latency;
mod plan;
mod progress;
mod report;
mod request;
mod sources;
mod summary;
mod table;
mod verdict;
mod worker;

pub use coordinator::{ProgressMode, RunError, run, stop_bound};
pub use latency::{Latency, MergeError};
pub use plan::{CloseWith, Lane, LoadPlan, MessagePlan, Shard};
pub use progress::{DoneLine, ProgressLine, WorkerLine, WorkerProgress};
pub use report::{
    Counts, End, ErrorCount, LoadReport, Memory, Messages, PlanInfo, REPORT_KIND, Ramp, ReportMergeError,
};
pub use request::{Request, RequestError};
pub use sources::{SourceSpec, loopback_sources, sources_needed};
pub use summary::summary;
pub use verdict::Verdict;
pub use worker::{WorkerError, run_lane, run_worker_process};
