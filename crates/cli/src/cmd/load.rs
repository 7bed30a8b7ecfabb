use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use c1m_loadgen::{
    CloseWith, LoadPlan, LoadReport, MessagePlan, ProgressMode, Request, RequestError, Shard, SourceSpec,
};

use crate::value;

/// Arguments of `c1m load`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to connect: one or more host:port (several ports multiply the 4-tuple space)
    #[arg(required = true, value_name = "TARGET")]
    targets: Vec<String>,
    /// Connections to open (over all shards), e.g. 100k or 1M
    #[arg(short = 'c', long = "connections", default_value = "1000", value_parser = value::count)]
    connections: u64,
    /// New connections per second (over all shards), e.g. 20000/s; never exceeded
    #[arg(long, default_value = "10000/s", value_parser = value::rate)]
    rate: u64,
    /// Source addresses: a CIDR (127.0.0.0/24), a list (127.0.0.1,127.0.0.2) or auto (as many 127.x
    /// addresses as the port range needs); default: the kernel picks one
    #[arg(long, value_parser = SourceSpec::parse)]
    sources: Option<SourceSpec>,
    /// Worker processes, or auto (enough to stay under the per-process fd limit)
    #[arg(long, default_value = "auto", value_parser = workers)]
    workers: Workers,
    /// How long to hold the connections once every one has settled
    #[arg(long, default_value = "5s", value_parser = value::duration)]
    hold: Duration,
    /// A connection not established after this long counts as ETIMEDOUT
    #[arg(long, default_value = "10s", value_parser = value::nonzero_duration)]
    connect_timeout: Duration,
    /// Send messages of this many bytes on every connection and time their echo (use `serve --mode echo`)
    #[arg(long, value_parser = value::bytes)]
    message: Option<u64>,
    /// Messages per second per connection (with --message)
    #[arg(long, default_value = "1/s", value_parser = value::rate, requires = "message")]
    message_rate: u64,
    /// Stop after this long whatever happens (default: twice the ramp + connect timeout + hold + 30s)
    #[arg(long, value_parser = value::nonzero_duration)]
    duration: Option<Duration>,
    /// Write the full report (histograms included) as JSON to FILE, or `-` for one line on stdout
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Run only the I-th of N interleaved slices of the plan (for many hosts; merge with `c1m report merge`)
    #[arg(long, env = "C1M_SHARD", value_parser = Shard::parse, value_name = "I/N")]
    shard: Option<Shard>,
    /// Progress while ramping: auto (a live line on a terminal), json (one line per second on stdout), off
    #[arg(long, default_value = "auto", value_parser = ["auto", "json", "off"])]
    progress: String,
    /// Same as --progress off
    #[arg(long)]
    no_progress: bool,
    /// Allow targets outside loopback (refused by default so a typo cannot load someone else's server)
    #[arg(long)]
    allow_remote: bool,
    /// How connections still open end with the run: fin (orderly; this side keeps TIME_WAIT for 60 s) or
    /// reset (SO_LINGER 0: no TIME_WAIT anywhere, ports free at once; the server sees ECONNRESET)
    #[arg(long, default_value = "fin", value_parser = CloseWith::parse)]
    close_with: CloseWith,
}

/// `--workers auto` or a count.
#[derive(Debug, Clone, Copy)]
struct Workers(Option<u32>);

fn workers(s: &str) -> Result<Workers, String> {
    if s == "auto" {
        return Ok(Workers(None));
    }
    s.parse()
        .map(|n| Workers(Some(n)))
        .map_err(|_| format!("invalid workers '{s}': expected auto or a number of processes such as 4"))
}

/// Run `c1m load`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let request = Request {
        targets: args.targets,
        connections: args.connections,
        rate: args.rate,
        sources: args.sources.unwrap_or(SourceSpec::Kernel),
        workers: args.workers.0,
        hold: args.hold,
        connect_timeout: args.connect_timeout,
        message: args
            .message
            .map(|bytes| {
                let bytes = u32::try_from(bytes).map_err(|_| RequestError::MessageSize(bytes))?;
                Ok::<_, RequestError>(MessagePlan {
                    bytes,
                    rate: args.message_rate,
                })
            })
            .transpose()?,
        duration: args.duration,
        shard: args.shard.unwrap_or(Shard::WHOLE),
        allow_remote: args.allow_remote,
        close_with: args.close_with,
    };
    let plan = request.resolve()?;
    let half_range = plan.port_range.len() / 2;
    if plan.connections_per_pair() > half_range {
        eprintln!(
            "c1m: note: {} connections per (source, target) pair is more than half the {} ephemeral ports; \
             connects slow down past half and fail past all of them; --sources auto spreads them",
            plan.connections_per_pair(),
            plan.port_range.len()
        );
    }
    let mode = match (args.no_progress, args.progress.as_str()) {
        (true, _) | (_, "off") => ProgressMode::Off,
        (_, "json") => ProgressMode::Json,
        _ => ProgressMode::Human,
    };
    let report = c1m_loadgen::run(&plan, &["load-worker"], mode)?;
    // stdout carries JSON when a driver reads it; the human summary then goes to stderr.
    let summary = c1m_loadgen::summary(&report);
    let json_on_stdout = args.json.as_deref() == Some(std::path::Path::new("-"));
    if mode == ProgressMode::Json || json_on_stdout {
        eprint!("{summary}");
    } else {
        print!("{summary}");
    }
    if let Some(path) = &args.json {
        write_report(&report, path)?;
    }
    Ok(if report.verdict.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Write `report` as pretty JSON to `path`, or as one line on stdout for `-`.
pub fn write_report(report: &LoadReport, path: &std::path::Path) -> anyhow::Result<()> {
    if path == std::path::Path::new("-") {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::to_string(report)?)?;
        return Ok(());
    }
    let text = serde_json::to_string_pretty(report)?;
    fs::write(path, text + "\n").with_context(|| format!("cannot write the report to {}", path.display()))
}

/// Arguments of the hidden `c1m load-worker` process.
#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// The plan, as JSON, from the coordinator
    #[arg(long)]
    plan: String,
}

/// Run one `load` worker process (its index comes from the supervisor's environment variable).
pub fn run_worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let plan: LoadPlan = serde_json::from_str(&args.plan).context("load-worker got an invalid --plan")?;
    let index: u32 = std::env::var(c1m_net::WORKER_INDEX_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("load-worker needs {} set to its index", c1m_net::WORKER_INDEX_ENV))?;
    c1m_loadgen::run_worker_process(&plan, index, &mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}
