//! `--compare go|tokio`: the baseline servers of `bench/serve/`, started through `bench/compare/start-baseline`
//! (which builds them when needed and runs one SO_REUSEPORT process per share of the fd limit).

use std::path::Path;
use std::process::Command;

use c1m_kernel::{SERVER_SPREAD_HEADROOM_PERCENT, own_nofile, workers_needed};

use crate::BenchError;
use crate::plan::BenchPlan;
use crate::ramp::{Topology, in_ns};
use crate::report::ServerKind;

/// The script, relative to the baselines directory.
pub const SCRIPT: &str = "compare/start-baseline";

/// The command that runs baseline `kind` listening where `topology` says, sized for `target` connections.
pub fn command(
    kind: ServerKind,
    plan: &BenchPlan,
    topology: &Topology,
    target: u64,
) -> Result<Command, BenchError> {
    let script = plan.baselines_dir.join(SCRIPT);
    if !script.exists() {
        return Err(BenchError::Baseline(format!(
            "{} not found: run bench from the source tree or pass --baselines DIR (the repository's bench/ directory)",
            script.display()
        )));
    }
    let fd_limit = own_nofile().hard.unwrap_or(1024);
    let workers = workers_needed(target, fd_limit, SERVER_SPREAD_HEADROOM_PERCENT);
    let args = [
        script.display().to_string(),
        kind.name().to_string(),
        topology.server.to_string(),
        workers.to_string(),
    ];
    Ok(in_ns(
        topology.netns.map(|n| n.server.as_str()),
        Path::new("sh"),
        &args,
    ))
}
