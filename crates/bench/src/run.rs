//! A whole bench run: doctor's preflight, `--tune`, `--netns`, the c1m ramp and the baseline's, the restore.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use c1m_doctor::tune::{self, TuneOptions, TunePlan};
use c1m_doctor::{CapacityPlan, Role, Status, evaluate};
use c1m_kernel::{KernelVersion, Pid, ProcRoot, Snapshot, own_nofile, read_sysctl, sysctl_path};

use crate::baseline;
use crate::guardian::{self, Duty, Guardian};
use crate::netns::{self, NetnsPair};
use crate::plan::{BenchPlan, Target};
use crate::ramp::{self, Topology, in_ns};
use crate::report::{self, BenchReport, Machine, PreflightNote, SCHEMA_VERSION, ServerKind, SysctlChange};
use crate::{BenchError, Event};

/// The port the server listens on inside its own namespace (nothing else can hold it there).
const NETNS_PORT: u16 = 20000;

/// Run the bench `plan` describes. `guardian` undoes what this run changes if it dies; `stop` (set on
/// Ctrl-C) ends the ramp early and still tears down, restores and reports.
pub fn run(
    plan: &BenchPlan,
    guardian: &mut Guardian,
    stop: &AtomicBool,
    on_event: &mut dyn FnMut(Event),
) -> Result<BenchReport, BenchError> {
    std::fs::create_dir_all(&plan.work_dir).map_err(|source| BenchError::Io {
        path: plan.work_dir.clone(),
        source,
    })?;
    let started_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let before = ramp::meminfo()?;
    let root = ProcRoot::live();
    let machine = Machine {
        kernel: KernelVersion::read(&root)
            .ok()
            .flatten()
            .map_or_else(String::new, |v| v.release),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        mem_total_bytes: before.total,
        mem_available_bytes: before.available,
        fd_limit: own_nofile().hard.unwrap_or(u64::MAX),
    };
    let snapshot = Snapshot::read(&root, Pid::Own).map_err(|e| BenchError::Kernel(e.to_string()))?;
    let target = doctor_target(plan, &snapshot);
    let preflight: Vec<PreflightNote> = evaluate(&snapshot, Role::Both, target)
        .into_iter()
        .filter(|f| f.status >= Status::Warn)
        .map(|f| PreflightNote {
            limit: f.limit,
            status: f.status.word().to_string(),
            message: format!(
                "{}: {} now, {} needed; {}",
                f.title,
                f.current,
                f.needed,
                f.fix.unwrap_or(f.why)
            ),
        })
        .collect();
    on_event(Event::Preflight(&preflight));

    let tune_dir = plan.work_dir.join("tune-state");
    let mut tuned = Vec::new();
    let mut namespaced = Vec::new();
    if plan.tune {
        let mut tune_plan = tune::plan(&snapshot, Role::Both, target);
        if plan.netns {
            // Per-namespace keys go into the run's own namespaces (thrown away after), not the host.
            let (ns, host): (Vec<_>, Vec<_>) = tune_plan.changes.into_iter().partition(|c| c.namespaced);
            namespaced = ns;
            tune_plan.changes = host;
        }
        tuned = apply_tune(&tune_plan, &tune_dir, guardian, on_event)?;
    }
    // From here on, whatever happens, the sysctls are restored before returning.
    let result = ramps(plan, target, &namespaced, guardian, stop, on_event);
    let restored = if plan.tune {
        restore(&tune_dir, &mut tuned)
    } else {
        Ok(())
    };
    on_event(Event::Tuned(&tuned));
    let runs = result?;
    restored?;
    Ok(BenchReport {
        schema_version: SCHEMA_VERSION,
        started_unix_ms,
        machine,
        plan: plan.summary(),
        preflight,
        tuned,
        comparison: report::compare(&runs),
        runs,
    })
}

/// The connection count doctor judges (and `--tune` sizes sysctls for): the target, or for `max` all that
/// fits in memory. Not less: the ramp's memory check keeps the margin, and a sysctl sized below what fits
/// would end the run before memory does (it did: epoll watches stopped a max run at 2,745,216).
fn doctor_target(plan: &BenchPlan, snapshot: &Snapshot) -> u64 {
    match plan.target {
        Target::Connections(n) => n,
        Target::Max => CapacityPlan::new(snapshot, Role::Both, 1)
            .largest_idle
            .unwrap_or(1_000_000)
            .max(plan.step_size),
    }
}

fn apply_tune(
    tune_plan: &TunePlan,
    dir: &std::path::Path,
    guardian: &mut Guardian,
    on_event: &mut dyn FnMut(Event),
) -> Result<Vec<SysctlChange>, BenchError> {
    std::fs::create_dir_all(dir).map_err(|source| BenchError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    // The guardian learns where the backup goes before tune saves it and writes the first value.
    guardian
        .watch(&Duty::Tune(dir.to_path_buf()))
        .map_err(BenchError::Guardian)?;
    let opts = TuneOptions {
        state_dir: dir.to_path_buf(),
        ..TuneOptions::live(false)
    };
    let applied = tune::apply(tune_plan, &opts).map_err(|e| BenchError::Tune(e.to_string()))?;
    for f in &applied.failed {
        on_event(Event::Note(format!(
            "--tune could not set {}: {}",
            f.key, f.error
        )));
    }
    Ok(applied
        .written
        .iter()
        .map(|c| SysctlChange {
            key: c.key.clone(),
            before: c.from.clone(),
            during: c.to.clone(),
            after: String::new(),
        })
        .collect())
}

/// Roll the tune backup back and record what each key reads afterwards.
fn restore(dir: &std::path::Path, tuned: &mut [SysctlChange]) -> Result<(), BenchError> {
    let outcome = guardian::rollback(dir.to_path_buf()).map_err(|e| BenchError::Tune(e.to_string()));
    for t in tuned.iter_mut() {
        t.after = read_sysctl(&ProcRoot::live(), &t.key)
            .ok()
            .flatten()
            .unwrap_or_default();
    }
    outcome.map(|_| ())
}

fn ramps(
    plan: &BenchPlan,
    target: u64,
    namespaced: &[tune::Change],
    guardian: &mut Guardian,
    stop: &AtomicBool,
    on_event: &mut dyn FnMut(Event),
) -> Result<Vec<report::RunReport>, BenchError> {
    let pair = if plan.netns {
        Some(make_netns(namespaced, guardian, on_event)?)
    } else {
        None
    };
    let server = match &pair {
        Some(_) => SocketAddr::from((netns::SERVER_ADDR, NETNS_PORT)),
        None => SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?)),
    };
    let topology = Topology {
        netns: pair.as_ref(),
        server,
    };
    let mut runs = Vec::new();
    for kind in std::iter::once(ServerKind::C1m).chain(plan.compare) {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let cmd = match kind {
            ServerKind::C1m => c1m_server(plan, &topology, target),
            other => baseline::command(other, plan, &topology, target)?,
        };
        runs.push(ramp::run(plan, kind, &topology, cmd, guardian, stop, on_event)?);
    }
    Ok(runs)
}

fn c1m_server(plan: &BenchPlan, topology: &Topology, target: u64) -> Command {
    let args = [
        "serve",
        "--listen",
        &topology.server.to_string(),
        "--mode",
        plan.mode.word(),
        "--workers",
        "auto",
        "--target",
        &target.to_string(),
        "--json",
    ]
    .map(String::from);
    in_ns(topology.netns.map(|n| n.server.as_str()), &plan.exe, &args)
}

fn make_netns(
    namespaced: &[tune::Change],
    guardian: &mut Guardian,
    on_event: &mut dyn FnMut(Event),
) -> Result<NetnsPair, BenchError> {
    for name in netns::remove_stale().map_err(BenchError::Netns)? {
        on_event(Event::Note(format!(
            "removed the network namespace {name} left by a crashed bench"
        )));
    }
    let pid = std::process::id();
    let (s, c) = netns::names(pid);
    guardian.watch(&Duty::Netns(s)).map_err(BenchError::Guardian)?;
    guardian.watch(&Duty::Netns(c)).map_err(BenchError::Guardian)?;
    let pair = NetnsPair::create(pid).map_err(BenchError::Netns)?;
    for ns in [&pair.server, &pair.client] {
        for change in namespaced {
            let Some(path) = sysctl_path(&change.key) else {
                continue;
            };
            let status = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    ns,
                    "sh",
                    "-c",
                    "printf '%s\\n' \"$1\" > \"/$2\"",
                    "sh",
                    &change.to,
                    &path,
                ])
                .status();
            if !status.is_ok_and(|s| s.success()) {
                on_event(Event::Note(format!(
                    "--tune could not set {} in {ns}",
                    change.key
                )));
            }
        }
    }
    Ok(pair)
}

/// A free port on 127.0.0.1, chosen by the kernel (port 0), for a server that must be told its port.
fn free_port() -> Result<u16, BenchError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(BenchError::Spawn)?;
    Ok(listener.local_addr().map_err(BenchError::Spawn)?.port())
}
