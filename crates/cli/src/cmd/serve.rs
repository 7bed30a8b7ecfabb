use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use c1m_server::{Mode, ServePlan, ServerConfig};

use crate::value;

/// Arguments of `c1m serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on (repeat for several, e.g. IPv4 and IPv6); port 0 picks one free port for all
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:7000")]
    listen: Vec<SocketAddr>,
    /// hold: keep connections; echo: write back; close: accept and close at once; discard: read and count
    #[arg(long, default_value = "hold", value_parser = clap::value_parser!(Mode))]
    mode: Mode,
    /// Event-loop threads per worker process [default: all CPUs with one worker, else 1]
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// Worker processes, or `auto` to size them from --target and the RLIMIT_NOFILE hard limit
    #[arg(long, value_name = "W|auto", default_value = "auto", value_parser = workers)]
    workers: Workers,
    /// Connections the server should be able to hold (sizes `--workers auto`)
    #[arg(long, value_name = "N", value_parser = value::count)]
    target: Option<u64>,
    /// listen(2) backlog; the kernel caps it at net.core.somaxconn [default: somaxconn]
    #[arg(long, value_name = "B", value_parser = clap::value_parser!(u32).range(1..))]
    backlog: Option<u32>,
    /// Echo mode: close a connection whose unsent bytes would exceed this
    #[arg(long, value_name = "K", default_value = "64KiB", value_parser = value::bytes)]
    max_pending_bytes: u64,
    /// Close connections without traffic for this long (at least 1s; coarse, to the second)
    #[arg(long, value_name = "D", value_parser = value::duration)]
    idle_timeout: Option<Duration>,
    /// Serve Prometheus text on this address (a bare port means 127.0.0.1:PORT)
    #[arg(long, value_name = "127.0.0.1:PORT", value_parser = metrics_addr)]
    metrics: Option<SocketAddr>,
    /// Print JSON lines on stdout (a `ready` line, then `stats` lines; schema in docs/serve.md)
    #[arg(long)]
    json: bool,
    /// How often to print the status line / JSON stats
    #[arg(long, value_name = "D", default_value = "1s", value_parser = value::duration)]
    interval: Duration,
    /// After SIGTERM/SIGINT, how long connections get to close before workers are killed
    #[arg(long, value_name = "D", default_value = "10s", value_parser = value::duration)]
    drain_timeout: Duration,
}

/// `--workers auto` refuses plans beyond this many processes: each costs a few MiB before holding anything,
/// so a typo'd target would otherwise eat the machine's memory in idle workers.
const MAX_AUTO_WORKERS: u64 = 512;

#[derive(Debug, Clone, Copy)]
enum Workers {
    Auto,
    Fixed(usize),
}

fn workers(s: &str) -> Result<Workers, String> {
    if s == "auto" {
        return Ok(Workers::Auto);
    }
    match s.parse::<usize>() {
        Ok(n @ 1..=1024) => Ok(Workers::Fixed(n)),
        _ => Err(format!(
            "invalid worker count '{s}': expected auto or a number from 1 to 1024"
        )),
    }
}

fn metrics_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse()
        .map_err(|_| format!("invalid metrics address '{s}': expected 127.0.0.1:PORT or a bare PORT"))
}

/// Run `c1m serve`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.idle_timeout.is_some_and(|d| d < Duration::from_secs(1)) {
        anyhow::bail!("invalid --idle-timeout: at least 1s (the idle clock counts whole seconds)");
    }
    if args.interval < Duration::from_millis(100) {
        anyhow::bail!("invalid --interval: at least 100ms");
    }
    let hard = c1m_kernel::own_nofile().hard.unwrap_or(1 << 20);
    let workers = match args.workers {
        Workers::Fixed(n) => {
            // A fixed count that cannot hold --target would only show up as EMFILE pauses under load.
            if let Some(target) = args.target {
                let needed =
                    c1m_kernel::workers_needed(target, hard, c1m_kernel::SERVER_SPREAD_HEADROOM_PERCENT);
                if (n as u64) < needed {
                    anyhow::bail!(
                        "--workers {n} cannot hold --target {target} at an fd limit of {hard} per process; use \
                         --workers auto or at least {needed}"
                    );
                }
            }
            n
        }
        Workers::Auto => {
            let target = args.target.unwrap_or(1);
            let needed = c1m_kernel::workers_needed(target, hard, c1m_kernel::SERVER_SPREAD_HEADROOM_PERCENT);
            if needed > MAX_AUTO_WORKERS {
                anyhow::bail!(
                    "--target {target} needs {needed} worker processes at an fd limit of {hard} each (more than \
                     {MAX_AUTO_WORKERS}); raise the hard RLIMIT_NOFILE (systemd LimitNOFILE=) or lower --target"
                );
            }
            needed as usize
        }
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = args
        .threads
        .map_or(if workers == 1 { cpus } else { 1 }, usize::from);
    let somaxconn = c1m_kernel::read_sysctl_parsed(
        &c1m_kernel::ProcRoot::live(),
        "net.core.somaxconn",
        c1m_kernel::parse_u64,
    )
    .ok()
    .flatten();
    let backlog = args
        .backlog
        .unwrap_or_else(|| somaxconn.map_or(4096, |s| s.min(u64::from(u32::MAX)) as u32));
    let plan = ServePlan {
        config: ServerConfig {
            listen: args.listen,
            mode: args.mode,
            threads,
            backlog,
            max_pending_bytes: usize::try_from(args.max_pending_bytes).unwrap_or(usize::MAX),
            idle_timeout: args.idle_timeout,
            report_interval: args.interval,
        },
        workers,
        json: args.json,
        metrics: args.metrics,
        drain_timeout: args.drain_timeout,
    };
    let mut out = std::io::stdout();
    let mut console = anstream::stderr();
    c1m_server::serve(plan, &mut out, &mut console)?;
    out.flush().context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// Arguments of the hidden `c1m serve-worker` process.
#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// The worker's configuration as JSON (written by `c1m serve`)
    #[arg(long)]
    config: String,
}

/// Run one `serve` worker process.
pub fn run_worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let config: ServerConfig = serde_json::from_str(&args.config)
        .context("invalid --config: expected the JSON written by `c1m serve`")?;
    c1m_server::run_worker(config, &mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_counts() {
        assert!(matches!(workers("auto"), Ok(Workers::Auto)));
        assert!(matches!(workers("12"), Ok(Workers::Fixed(12))));
        for bad in ["0", "-1", "many", "1025"] {
            assert!(workers(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn metrics_addresses() {
        assert_eq!(metrics_addr("9100"), Ok("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(metrics_addr("0.0.0.0:9100"), Ok("0.0.0.0:9100".parse().unwrap()));
        assert!(metrics_addr("localhost").is_err());
    }
}
