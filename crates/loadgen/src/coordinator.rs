//! The coordinator: start one worker process per lane through the c1m-net supervisor, show progress, stop
//! them on SIGINT/SIGTERM or at the bound, and merge their reports into the run's report.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use c1m_kernel::{NetCounters, ProcRoot};
use c1m_net::errno::Clues;
use c1m_net::{Supervisor, WorkerEvent};

use crate::plan::LoadPlan;
use crate::progress::{DoneLine, ProgressLine, WorkerLine, WorkerProgress, total};
use crate::report::{End, LoadReport, ReportMergeError};
use c1m_doctor::thousands;

/// How long a run holding `connections` may take to close them and exit once told to stop, before it
/// counts as stuck and is killed: a fixed grace plus time for the closes, at a rate a busy 2-core machine
/// beats (measured here: 1,000,000 resets from 56 processes in 28 s, ~36,000/s). Killing a worker early
/// loses its report, and its sockets then close with FINs into TIME_WAIT.
pub fn stop_bound(connections: u64) -> Duration {
    const GRACE: Duration = Duration::from_secs(15);
    const CLOSES_PER_SECOND: u64 = 10_000;
    GRACE + Duration::from_secs(connections / CLOSES_PER_SECOND)
}
/// How long after `--duration` a worker may take to report before it counts as lost.
const REPORT_SLACK: Duration = Duration::from_secs(30);

/// Where progress goes while the run ramps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Nothing.
    Off,
    /// A status line on stderr, redrawn in place (only when stderr is a terminal).
    Human,
    /// One [`ProgressLine`] JSON object per second on stdout, then a [`DoneLine`].
    Json,
}

/// The run could not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Workers could not be started.
    #[error("cannot start load workers: {0}")]
    Spawn(#[from] std::io::Error),
    /// No worker reported anything.
    #[error("no load worker produced a report (see their messages above)")]
    NoReports,
    /// Worker reports did not merge.
    #[error(transparent)]
    Merge(#[from] ReportMergeError),
    /// The plan could not be passed to the workers.
    #[error("cannot encode the plan for the workers: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Run `plan` over `plan.workers` processes of this executable, started as `worker_args... --plan JSON` (the
/// hidden worker subcommand), and return the merged report.
pub fn run(plan: &LoadPlan, worker_args: &[&str], mode: ProgressMode) -> Result<LoadReport, RunError> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let overflows_before = listen_overflows();
    let plan_json = serde_json::to_string(plan)?;
    let mut args: Vec<&str> = worker_args.to_vec();
    args.extend(["--plan", &plan_json]);
    let workers = plan.workers as usize;
    let mut sup = Supervisor::spawn_self(&args, workers)?;
    let mut board = Board::new(plan, mode);
    let mut reports: Vec<Option<LoadReport>> = vec![None; workers];
    let mut exited = vec![false; workers];
    let deadline = Instant::now() + Duration::from_millis(plan.duration_ms) + REPORT_SLACK;
    let mut stopping = false;
    while exited.iter().zip(&reports).any(|(e, r)| !e && r.is_none()) {
        if !stopping && (stop.load(Ordering::Relaxed) || Instant::now() >= deadline) {
            // Workers in our process group got the same SIGINT; SIGTERM reaches those that did not.
            stopping = true;
            sup.shutdown(stop_bound(plan.shard_connections()));
        }
        match sup.next_event(Duration::from_millis(100)) {
            Some(WorkerEvent::Line { worker, line }) => match serde_json::from_str::<WorkerLine>(&line) {
                Ok(WorkerLine::Progress(p)) => board.latest[worker] = p,
                Ok(WorkerLine::Report(r)) => reports[worker] = Some(*r),
                Err(_) => eprintln!("c1m: load worker {worker} said: {line}"),
            },
            Some(WorkerEvent::Exited { worker, .. }) => exited[worker] = true,
            None if stopping => break,
            None => {}
        }
        board.tick();
    }
    board.finish();
    drop(sup);
    let lost: Vec<usize> = (0..workers).filter(|&w| reports[w].is_none()).collect();
    let mut report = LoadReport::merge_all(reports.into_iter().flatten()).map_err(|e| match e {
        ReportMergeError::Empty => RunError::NoReports,
        e => RunError::Merge(e),
    })?;
    for w in lost {
        let planned = plan.lane(w as u32).len(plan.connections);
        report.counts.planned += planned;
        report.counts.not_started += planned;
        report.end = End::WorkerLost;
    }
    let rising = matches!((overflows_before, listen_overflows()), (Some(a), Some(b)) if b > a);
    report.classify(Clues {
        listen_overflows_rising: rising,
    });
    Ok(report)
}

fn listen_overflows() -> Option<u64> {
    NetCounters::read(&ProcRoot::live())
        .ok()
        .flatten()
        .and_then(|c| c.listen_overflows())
}

/// The progress display: the latest snapshot of every worker, printed once per second.
struct Board {
    mode: ProgressMode,
    target: u64,
    latest: Vec<WorkerProgress>,
    start: Instant,
    last_print: Instant,
    last_established: u64,
    done_printed: bool,
}

impl Board {
    fn new(plan: &LoadPlan, mode: ProgressMode) -> Board {
        let mode = if mode == ProgressMode::Human && !std::io::stderr().is_terminal() {
            ProgressMode::Off
        } else {
            mode
        };
        Board {
            mode,
            target: plan.shard_connections(),
            latest: vec![WorkerProgress::default(); plan.workers as usize],
            start: Instant::now(),
            last_print: Instant::now(),
            last_established: 0,
            done_printed: false,
        }
    }

    fn tick(&mut self) {
        let now = self.start.elapsed();
        let sum = total(&self.latest);
        if sum.settled && !self.done_printed && self.mode == ProgressMode::Json {
            self.done_printed = true;
            let done = DoneLine {
                done: true,
                t_ms: now.as_millis() as u64,
                established: sum.open,
                target: self.target,
                failed: sum.failed,
            };
            println_json(&done);
        }
        let since = self.last_print.elapsed();
        if since < Duration::from_secs(1) {
            return;
        }
        let rate_now =
            (sum.established - self.last_established.min(sum.established)) as f64 / since.as_secs_f64();
        self.last_print = Instant::now();
        self.last_established = sum.established;
        let line = ProgressLine {
            t_ms: now.as_millis() as u64,
            established: sum.open,
            target: self.target,
            failed: sum.failed,
            rate_now: (rate_now * 10.0).round() / 10.0,
            behind_schedule_ms: sum.behind_schedule_ms,
            workers_rss_before_bytes: sum.rss_before_bytes,
        };
        match self.mode {
            ProgressMode::Off => {}
            ProgressMode::Json => println_json(&line),
            ProgressMode::Human => {
                let left = self.target.saturating_sub(sum.established + sum.failed);
                let eta = if rate_now >= 1.0 {
                    format!("{:.0}s", left as f64 / rate_now)
                } else {
                    "-".into()
                };
                let state = if sum.settled {
                    "holding".to_string()
                } else {
                    format!("ETA {eta}")
                };
                eprint!(
                    "\r\x1b[2K{} / {} open  {:>8.0}/s  {} failed  behind {} ms  {state}",
                    thousands(sum.open),
                    thousands(self.target),
                    rate_now,
                    thousands(sum.failed),
                    sum.behind_schedule_ms
                );
            }
        }
    }

    fn finish(&self) {
        if self.mode == ProgressMode::Human {
            eprint!("\r\x1b[2K");
        }
    }
}

fn println_json(value: &impl serde::Serialize) {
    let mut out = std::io::stdout().lock();
    if let Ok(s) = serde_json::to_string(value) {
        // A closed stdout (the driver went away) must not kill the run: the report still gets written.
        let _ = writeln!(out, "{s}").and_then(|()| out.flush());
    }
}
