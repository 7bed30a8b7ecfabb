use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use c1m_kernel::{NetCounters, ProcRoot, parse_u64, read_sysctl_parsed};
use c1m_net::{PortReservation, Supervisor, WorkerEvent};

use crate::metrics::spawn_responder;
use crate::status::{ReadyInfo, ServeEvent, ServeStatus, WorkerStatus};
use crate::worker::stop_on_signals;
use crate::{Counters, ServeError, ServerConfig, WorkerMessage};

/// The hidden subcommand (and its one option) that runs a worker: `c1m serve-worker --config JSON`.
pub const WORKER_COMMAND: [&str; 2] = ["serve-worker", "--config"];

/// How long workers get to bind their listeners before `serve` gives up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A whole `serve` run: the per-worker configuration plus what the supervisor does.
#[derive(Debug, Clone)]
pub struct ServePlan {
    /// What each worker runs (listen addresses may have port 0: one free port is picked for all).
    pub config: ServerConfig,
    /// Worker processes.
    pub workers: usize,
    /// Print JSON lines on stdout instead of a human ready line and console status lines.
    pub json: bool,
    /// Serve Prometheus text here.
    pub metrics: Option<SocketAddr>,
    /// After SIGTERM/SIGINT, how long workers get to close their connections before SIGKILL.
    pub drain_timeout: Duration,
}

#[derive(Debug, Default, Clone)]
struct WorkerState {
    ready: bool,
    counters: Counters,
    rss_bytes: u64,
    rss_baseline_bytes: u64,
}

/// Run the server: reserve the ports, start the workers, report until SIGTERM/SIGINT, then drain.
///
/// `out` gets the ready line and, with `json`, every status line; `console` gets the human status line.
/// Returns the final status.
pub fn serve(
    plan: ServePlan,
    out: &mut dyn Write,
    console: &mut dyn Write,
) -> Result<ServeStatus, ServeError> {
    let stop = stop_on_signals()?;
    // Held for the whole run: keeps a port picked for :0 ours while workers come and go.
    let reservations = plan
        .config
        .listen
        .iter()
        .map(|a| PortReservation::new(*a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut config = plan.config.clone();
    config.listen = reservations.iter().map(PortReservation::local_addr).collect();
    let somaxconn = read_sysctl_parsed(&ProcRoot::live(), "net.core.somaxconn", parse_u64)
        .ok()
        .flatten();
    let effective_backlog = somaxconn.map_or(u64::from(config.backlog), |s| s.min(u64::from(config.backlog)));
    let overflows_at_start = listen_overflows();

    let config_json = serde_json::to_string(&config).expect("the config serializes");
    let args = [WORKER_COMMAND[0], WORKER_COMMAND[1], config_json.as_str()];
    let mut sup = Supervisor::spawn_self(&args, plan.workers).map_err(ServeError::io("starting workers"))?;
    let mut workers = vec![WorkerState::default(); plan.workers];
    let mut retired = Counters::default();

    let deadline = Instant::now() + START_TIMEOUT;
    while workers.iter().any(|w| !w.ready) {
        if stop.load(Ordering::Relaxed) {
            sup.shutdown(plan.drain_timeout);
            return Ok(ServeStatus::from_counters(&retired));
        }
        if Instant::now() >= deadline {
            return Err(ServeError::StartTimeout(START_TIMEOUT));
        }
        match sup.next_event(Duration::from_millis(200)) {
            Some(WorkerEvent::Line { worker, line }) => apply(&mut workers[worker], worker, &line, console),
            Some(WorkerEvent::Exited { worker, status }) => {
                return Err(ServeError::WorkerStart { worker, status });
            }
            None => {}
        }
    }
    let ready = ReadyInfo {
        ts_ms: unix_ms(),
        listen: config.listen.clone(),
        mode: config.mode,
        workers: plan.workers,
        threads: config.threads,
        backlog: config.backlog,
        somaxconn,
        effective_backlog,
        metrics: None,
        pid: std::process::id(),
    };
    let metrics_text = Arc::new(Mutex::new(String::new()));
    let metrics_addr = plan
        .metrics
        .map(|addr| spawn_responder(addr, metrics_text.clone()))
        .transpose()?;
    let ready = ReadyInfo {
        metrics: metrics_addr,
        ..ready
    };
    if plan.json {
        emit(out, &ServeEvent::Ready(ready))?;
    } else {
        let listen: Vec<String> = ready.listen.iter().map(ToString::to_string).collect();
        let metrics = metrics_addr.map_or(String::new(), |a| format!(", metrics on http://{a}/metrics"));
        writeln!(
            out,
            "c1m serve: listening on {} (mode {}, {} worker{} x {} thread{}, effective backlog {}){metrics}",
            listen.join(" "),
            ready.mode,
            ready.workers,
            plural(ready.workers),
            ready.threads,
            plural(ready.threads),
            effective_backlog,
        )
        .and_then(|_| out.flush())
        .map_err(ServeError::io("writing to stdout"))?;
    }

    let started = Instant::now();
    let mut last = (started, 0u64);
    let mut next_report = started + config.report_interval;
    let status = |workers: &[WorkerState], retired: &Counters, sup: &Supervisor, last: (Instant, u64)| {
        let mut total = retired.clone();
        for w in workers {
            total.merge(&w.counters);
        }
        let mut s = ServeStatus::from_counters(&total);
        let now = Instant::now();
        s.ts_ms = unix_ms();
        s.uptime_s = now.duration_since(started).as_secs_f64();
        let dt = now.duration_since(last.0).as_secs_f64();
        s.accepts_per_sec = if dt > 0.0 {
            total.accepted.saturating_sub(last.1) as f64 / dt
        } else {
            0.0
        };
        s.rss_bytes = workers.iter().map(|w| w.rss_bytes).sum();
        s.rss_baseline_bytes = workers.iter().map(|w| w.rss_baseline_bytes).sum();
        s.user_bytes_per_connection = (s.connections > 0)
            .then(|| (s.rss_bytes as f64 - s.rss_baseline_bytes as f64) / s.connections as f64);
        s.workers_restarted = sup.restarts();
        s.effective_backlog = effective_backlog;
        s.listen_overflows = listen_overflows()
            .zip(overflows_at_start)
            .map(|(now, then)| now.saturating_sub(then));
        s.workers = workers
            .iter()
            .zip(sup.pids())
            .enumerate()
            .map(|(index, (w, pid))| WorkerStatus {
                index,
                pid,
                connections: w.counters.connections(),
                rss_bytes: w.rss_bytes,
            })
            .collect();
        s
    };

    while !stop.load(Ordering::Relaxed) {
        let wait = next_report
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(200));
        match sup.next_event(wait) {
            Some(WorkerEvent::Line { worker, line }) => apply(&mut workers[worker], worker, &line, console),
            Some(WorkerEvent::Exited { worker, .. }) => {
                // Its connections died with it: count them closed, keep its history, start a fresh one.
                let dead = std::mem::take(&mut workers[worker]);
                retired.merge(&dead.counters);
                retired.closed += dead.counters.connections();
                if !stop.load(Ordering::Relaxed)
                    && let Err(e) = sup.restart(worker)
                {
                    let _ = writeln!(console, "c1m: cannot restart worker {worker}: {e}");
                }
            }
            None => {}
        }
        if Instant::now() >= next_report {
            next_report += config.report_interval;
            let s = status(&workers, &retired, &sup, last);
            last = (Instant::now(), s.accepted);
            if let Ok(mut text) = metrics_text.lock() {
                *text = s.prometheus();
            }
            report(out, console, plan.json, &s)?;
        }
    }

    let statuses = sup.shutdown(plan.drain_timeout);
    while let Some(event) = sup.next_event(Duration::from_millis(100)) {
        if let WorkerEvent::Line { worker, line } = event {
            apply(&mut workers[worker], worker, &line, console);
        }
    }
    let killed = statuses.iter().flatten().filter(|s| !s.success()).count();
    let final_status = status(&workers, &retired, &sup, last);
    report(out, console, plan.json, &final_status)?;
    if !plan.json {
        let _ = writeln!(
            out,
            "c1m serve: stopped; {} connections closed in total{}",
            final_status.closed,
            if killed > 0 {
                format!(", {killed} worker(s) had to be killed")
            } else {
                String::new()
            }
        );
    }
    Ok(final_status)
}

fn apply(state: &mut WorkerState, worker: usize, line: &str, console: &mut dyn Write) {
    match serde_json::from_str::<WorkerMessage>(line) {
        Ok(WorkerMessage::Ready { rss_bytes, .. }) => {
            state.ready = true;
            state.rss_bytes = rss_bytes;
            state.rss_baseline_bytes = rss_bytes;
        }
        Ok(WorkerMessage::Stats { counters, rss_bytes }) => {
            state.counters = counters;
            state.rss_bytes = rss_bytes;
        }
        Err(_) => {
            let _ = writeln!(console, "c1m: worker {worker} wrote an unexpected line: {line}");
        }
    }
}

fn report(
    out: &mut dyn Write,
    console: &mut dyn Write,
    json: bool,
    s: &ServeStatus,
) -> Result<(), ServeError> {
    if json {
        emit(out, &ServeEvent::Stats(s.clone()))
    } else {
        // The console is informational: a closed stderr must not stop the server.
        let _ = writeln!(console, "{}", s.line());
        Ok(())
    }
}

fn emit(out: &mut dyn Write, event: &ServeEvent) -> Result<(), ServeError> {
    let line = serde_json::to_string(event).expect("serve events serialize");
    writeln!(out, "{line}")
        .and_then(|_| out.flush())
        .map_err(ServeError::io("writing to stdout"))
}

fn listen_overflows() -> Option<u64> {
    NetCounters::read(&ProcRoot::live())
        .ok()
        .flatten()
        .and_then(|c| c.listen_overflows())
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
