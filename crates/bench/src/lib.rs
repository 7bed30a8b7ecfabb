//! `c1m bench`: ramp serve + load on this machine, sample the kernel, and write the report.
//!
//! # Brief overview
//! [`run`] takes a [`BenchPlan`]: it asks doctor what will stop the target, applies `--tune` (restored by
//! the [`Guardian`] whatever way bench ends), creates the `--netns` pair, ramps `c1m serve` with one
//! `c1m load` child per step ([`ramp`]), samples memory and CPU of both sides ([`procs`]) and the kernel at
//! each step, tears down without TIME_WAIT, and returns one [`BenchReport`], which [`text`], JSON and
//! [`html`] render.
#![deny(missing_docs)]

mod baseline;
mod child;
pub mod guardian;
pub mod html;
pub mod load_html;
pub mod netns;
mod plan;
pub mod procs;
pub mod ramp;
mod report;
mod run;
pub mod svg;
mod sys;
pub mod text;

use std::io;
use std::path::PathBuf;

pub use guardian::{Cleanup, Guardian};
pub use plan::{BenchPlan, MAX_STEPS, Mode, Target};
pub use report::*;
pub use run::run;

/// What a run tells its caller while it goes (the CLI draws the live view from these).
#[derive(Debug)]
pub enum Event<'a> {
    /// Doctor's warnings and failures for the target, before anything starts.
    Preflight(&'a [PreflightNote]),
    /// Sysctls `--tune` changed (with `after` filled once restored).
    Tuned(&'a [SysctlChange]),
    /// A few times per second during a step.
    Progress(&'a Progress),
    /// A step was reached and sampled.
    Step(ServerKind, &'a StepSample),
    /// A ramp's connections were closed.
    Teardown(ServerKind, &'a Teardown),
    /// Something worth a line.
    Note(String),
}

/// The live state of a ramp.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// The server being ramped.
    pub server: ServerKind,
    /// The step in progress.
    pub step: u32,
    /// Connections established now.
    pub connections: u64,
    /// Connection attempts failed so far.
    pub failed: u64,
    /// Seconds since the server was ready.
    pub elapsed_s: f64,
}

/// Why a bench run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A child process could not be started.
    #[error("cannot start a child process: {0}")]
    Spawn(io::Error),
    /// A child failed in a way that leaves nothing to report.
    #[error("{0}")]
    Child(String),
    /// The guardian could not be told a duty, so the run must not change anything.
    #[error("cannot reach the guardian process: {0}")]
    Guardian(io::Error),
    /// Reading the kernel's state failed.
    #[error("cannot read the kernel's state: {0}")]
    Kernel(String),
    /// `--tune` failed.
    #[error("--tune: {0}")]
    Tune(String),
    /// `--netns` failed.
    #[error("--netns: {0}")]
    Netns(io::Error),
    /// `--compare` cannot run its baseline.
    #[error("--compare: {0}")]
    Baseline(String),
    /// A file or directory could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The reason.
        source: io::Error,
    },
}

/// A flag set by the first SIGINT or SIGTERM, so the ramp stops, tears down, restores and still reports; a
/// second signal exits at once (exit status 130), leaving the cleanup to the guardian.
pub fn interrupt_flag() -> io::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, std::sync::Arc::clone(&flag))?;
        signal_hook::flag::register(signal, std::sync::Arc::clone(&flag))?;
    }
    Ok(flag)
}
