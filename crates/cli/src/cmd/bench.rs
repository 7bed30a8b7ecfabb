use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use c1m_bench::{BenchPlan, BenchReport, Event, Guardian, MAX_STEPS, MessagePlan, Mode, ServerKind, Target};

use crate::value;

/// Arguments of `c1m bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Connections to hold: a count such as 100k or 1M, or max (ramp until memory or a limit stops it)
    #[arg(short = 'c', long, default_value = "200k", value_parser = connections)]
    connections: Target,
    /// What the server does with them: hold (idle) or echo (the load sends --message at --message-rate)
    #[arg(long, default_value = "hold", value_parser = ["hold", "echo"])]
    mode: String,
    /// New connections per second
    #[arg(long, default_value = "25k/s", value_parser = value::rate)]
    rate: u64,
    /// Steps of the ramp to the target (a sample is taken after each)
    #[arg(long, default_value = "4", value_parser = steps)]
    steps: u32,
    /// Connections per step with --connections max
    #[arg(long, default_value = "250k", value_parser = value::count)]
    step_size: u64,
    /// Raise the sysctls doctor asks for during the run and restore them afterwards (needs root)
    #[arg(long)]
    tune: bool,
    /// Run the server and the load in two network namespaces joined by a veth pair (needs root)
    #[arg(long)]
    netns: bool,
    /// Write report.json, report.html and the children's logs into DIR
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Also ramp a baseline server from bench/serve/ and compare
    #[arg(long, value_parser = ["go", "tokio"])]
    compare: Option<String>,
    /// With --connections max, the share of MemTotal to leave available, in percent
    #[arg(long, default_value = "15", value_parser = percent)]
    memory_margin: u32,
    /// Echo mode: bytes per message
    #[arg(long, default_value = "64", value_parser = value::bytes)]
    message: u64,
    /// Echo mode: messages per second per connection
    #[arg(long, default_value = "1/s", value_parser = value::rate)]
    message_rate: u64,
    /// Print the JSON report on stdout instead of the summary
    #[arg(long)]
    json: bool,
    /// The repository's bench/ directory, where --compare finds its baselines
    #[arg(long, value_name = "DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench"))]
    baselines: PathBuf,
    /// Internal: run as the guardian that undoes a bench's changes when it exits
    #[arg(long, hide = true)]
    guardian: bool,
}

fn connections(s: &str) -> Result<Target, String> {
    if s == "max" {
        return Ok(Target::Max);
    }
    value::count(s)
        .map(Target::Connections)
        .map_err(|e| format!("{e}; or max to ramp until memory or a limit stops it"))
}

fn steps(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if (1..=MAX_STEPS).contains(&n) => Ok(n),
        _ => Err(format!(
            "invalid steps '{s}': expected a whole number from 1 to {MAX_STEPS}"
        )),
    }
}

fn percent(s: &str) -> Result<u32, String> {
    match s.trim_end_matches('%').parse::<u32>() {
        Ok(n) if n < 100 => Ok(n),
        _ => Err(format!(
            "invalid margin '{s}': expected a percentage from 0 to 99"
        )),
    }
}

/// Run `c1m bench`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.guardian {
        c1m_bench::guardian::guard(std::io::stdin().lock(), std::io::stdout().lock());
        return Ok(ExitCode::SUCCESS);
    }
    if let Target::Connections(n) = args.connections
        && u64::from(args.steps) > n
    {
        anyhow::bail!(
            "invalid steps {}: more steps than the {n} connections to open",
            args.steps
        );
    }
    if args.compare.is_some() && args.mode == "echo" {
        anyhow::bail!("--compare runs the baselines' hold servers only: drop --mode echo to compare");
    }
    let exe = std::env::current_exe().context("cannot find the c1m binary to start children from")?;
    let (work_dir, temporary) = match &args.out {
        Some(out) => (out.join("logs"), false),
        None => (
            std::env::temp_dir().join(format!("c1m-bench-{}", std::process::id())),
            true,
        ),
    };
    let plan = BenchPlan {
        target: args.connections,
        mode: if args.mode == "echo" {
            Mode::Echo
        } else {
            Mode::Hold
        },
        rate: args.rate,
        steps: args.steps,
        step_size: args.step_size,
        tune: args.tune,
        netns: args.netns,
        compare: args.compare.as_deref().map(|c| {
            if c == "go" {
                ServerKind::Go
            } else {
                ServerKind::Tokio
            }
        }),
        memory_margin_percent: args.memory_margin,
        message: MessagePlan {
            bytes: args.message,
            rate: args.message_rate,
        },
        probe_connections: 100,
        step_grace: Duration::from_secs(60),
        work_dir: work_dir.clone(),
        exe: exe.clone(),
        baselines_dir: args.baselines.clone(),
    };
    let stop = c1m_bench::interrupt_flag().context("cannot install the Ctrl-C handler")?;
    let mut guardian_cmd = Command::new(&exe);
    guardian_cmd.args(["bench", "--guardian"]);
    let mut guardian = Guardian::spawn(guardian_cmd).context("cannot start the guardian process")?;
    let mut view = LiveView {
        live: std::io::stderr().is_terminal(),
        dirty: false,
    };
    let outcome = c1m_bench::run(&plan, &mut guardian, &stop, &mut |e| view.show(e));
    view.clear();
    let cleanup = guardian
        .release()
        .context("the guardian did not finish its cleanup")?;
    if !cleanup.is_empty() {
        eprintln!(
            "c1m: the guardian had to clean up after bench: {}",
            serde_json::to_string(&cleanup)?
        );
    }
    if temporary {
        let _ = std::fs::remove_dir_all(&work_dir);
    }
    let report = outcome?;
    if let Some(out) = &args.out {
        write_reports(&report, out)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", c1m_bench::text::summary(&report));
        if let Some(out) = &args.out {
            println!("reports: {0}/report.json, {0}/report.html", out.display());
        }
    }
    let reached = report.runs.iter().all(|r| r.stopped_by.is_none()) || args.connections == Target::Max;
    let interrupted = stop.load(Ordering::Relaxed);
    Ok(if reached && !interrupted {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn write_reports(report: &BenchReport, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let json = out.join("report.json");
    std::fs::write(&json, serde_json::to_string_pretty(report)? + "\n")
        .with_context(|| format!("cannot write {}", json.display()))?;
    let html = out.join("report.html");
    std::fs::write(&html, c1m_bench::html::render(report))
        .with_context(|| format!("cannot write {}", html.display()))
}

/// Progress on stderr: one line redrawn in place on a terminal, a line per step otherwise.
struct LiveView {
    live: bool,
    dirty: bool,
}

impl LiveView {
    fn line(&mut self, text: &str) {
        self.clear();
        eprintln!("{text}");
    }

    fn clear(&mut self) {
        if self.dirty {
            eprint!("\r\x1b[2K");
            self.dirty = false;
        }
    }

    fn show(&mut self, event: Event) {
        match event {
            Event::Preflight(notes) => {
                for n in notes {
                    self.line(&format!("doctor: {} {}", n.status, n.message));
                }
            }
            Event::Progress(p) if self.live => {
                eprint!(
                    "\r\x1b[2K{} step {}: {} connections, {} failed, {:.1} s",
                    p.server.name(),
                    p.step,
                    c1m_doctor::thousands(p.connections),
                    p.failed,
                    p.elapsed_s
                );
                let _ = std::io::stderr().flush();
                self.dirty = true;
            }
            Event::Progress(_) => {}
            Event::Step(kind, s) => self.line(&format!(
                "{} step {}: {} connections at {:.1} s ({:.0}/s); kernel {:.0} B, server {:.1} B, load {:.1} B per connection",
                kind.name(),
                s.step,
                c1m_doctor::thousands(s.connections),
                s.t_s,
                s.ramp_rate,
                s.kernel_bytes_per_connection,
                s.server.bytes_per_connection,
                s.load.bytes_per_connection
            )),
            Event::Teardown(kind, t) => {
                self.line(&format!("{} teardown: {:.2} s, TIME_WAIT after {}", kind.name(), t.seconds, t.time_wait_after))
            }
            Event::Tuned(_) => {}
            Event::Note(text) => self.line(&format!("note: {text}")),
        }
    }
}
