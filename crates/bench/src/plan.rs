use std::path::PathBuf;
use std::time::Duration;

use crate::report::{MessagePlan, PlanSummary, ServerKind};

/// How many connections to ramp to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Exactly this many, in [`BenchPlan::steps`] equal steps.
    Connections(u64),
    /// Steps of [`BenchPlan::step_size`] until memory (keeping the margin) or a limit stops the ramp.
    Max,
}

/// What the server does with the connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Hold them idle.
    Hold,
    /// Echo what the load sends ([`BenchPlan::message`]).
    Echo,
}

impl Mode {
    /// The word `c1m serve --mode` takes.
    pub fn word(self) -> &'static str {
        match self {
            Mode::Hold => "hold",
            Mode::Echo => "echo",
        }
    }
}

/// A bench run, as the command line asked for it.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    /// Connections to reach.
    pub target: Target,
    /// Server mode.
    pub mode: Mode,
    /// New connections per second.
    pub rate: u64,
    /// Steps for [`Target::Connections`].
    pub steps: u32,
    /// Connections per step for [`Target::Max`].
    pub step_size: u64,
    /// Raise the sysctls doctor asks for during the run, and restore them.
    pub tune: bool,
    /// Server and load in two network namespaces.
    pub netns: bool,
    /// Ramp this baseline too, after c1m.
    pub compare: Option<ServerKind>,
    /// Share of MemTotal `--connections max` leaves available, in percent.
    pub memory_margin_percent: u32,
    /// Echo mode: bytes per message and messages per second per connection.
    pub message: MessagePlan,
    /// Connections of the RTT probe run at each step in echo mode.
    pub probe_connections: u64,
    /// How long a step may take beyond its schedule before the ramp gives up on it.
    pub step_grace: Duration,
    /// Where logs, load reports and the tune backup go.
    pub work_dir: PathBuf,
    /// The c1m binary (children are started from it).
    pub exe: PathBuf,
    /// Directory holding the baseline servers (`bench/` of the source tree) for `--compare`.
    pub baselines_dir: PathBuf,
}

/// Steps of the ramp never exceed this: each step gets its own /24 of source addresses.
pub const MAX_STEPS: u32 = 250;

impl BenchPlan {
    /// Connections each step adds.
    pub fn step_connections(&self) -> u64 {
        match self.target {
            Target::Connections(n) => n.div_ceil(u64::from(self.steps.max(1))),
            Target::Max => self.step_size,
        }
    }

    /// The plan as the report records it.
    pub fn summary(&self) -> PlanSummary {
        PlanSummary {
            connections: match self.target {
                Target::Connections(n) => Some(n),
                Target::Max => None,
            },
            mode: self.mode.word().to_string(),
            rate: self.rate,
            steps: match self.target {
                Target::Connections(_) => self.steps,
                Target::Max => 0,
            },
            step_connections: self.step_connections(),
            tune: self.tune,
            netns: self.netns,
            memory_margin_percent: self.memory_margin_percent,
            message: (self.mode == Mode::Echo).then_some(self.message.clone()),
        }
    }
}
