use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use c1m_watch::{PortFilter, Sampler, WatchOptions, render};

use crate::value;

/// Arguments of `c1m watch`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Time between samples
    #[arg(long, default_value = "1s", value_parser = value::duration)]
    interval: Duration,
    /// Count only sockets with this port, filtered in the kernel: PORT (either end), local=PORT or
    /// remote=PORT; repeat to OR several
    #[arg(long = "port", value_name = "P")]
    ports: Vec<PortFilter>,
    /// Show this process's open files against its RLIMIT_NOFILE (repeatable)
    #[arg(long = "pid", value_name = "PID")]
    pids: Vec<u32>,
    /// One JSON object per sample on stdout
    #[arg(long)]
    json: bool,
    /// Take one sample, print it and exit
    #[arg(long)]
    once: bool,
    /// Stop after this many samples
    #[arg(long, value_name = "N", value_parser = value::count)]
    samples: Option<u64>,
    /// Sample the network namespace NAME (from `ip netns list`) instead of this one
    #[arg(long, value_name = "NAME")]
    netns: Option<String>,
    /// Count ESTABLISHED sockets from the dump too, instead of from Tcp.CurrEstab (slower at scale)
    #[arg(long)]
    exact: bool,
}

/// Run `c1m watch`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.interval.is_zero() {
        anyhow::bail!("invalid --interval 0s: expected a positive duration such as 500ms or 2s");
    }
    if let Some(pid) = args
        .pids
        .iter()
        .find(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
    {
        anyhow::bail!("no process with --pid {pid}: check the number (ps -p {pid})");
    }
    if let Some(name) = &args.netns {
        c1m_watch::enter_netns(name)?;
    }
    let mut sampler = Sampler::new(WatchOptions {
        ports: args.ports,
        pids: args.pids,
        exact: args.exact,
    })
    .context("starting the sampler")?;
    let limit = if args.once { Some(1) } else { args.samples };
    let mut out = std::io::stdout().lock();
    if !args.json && limit != Some(1) && out.is_terminal() {
        drop(out);
        c1m_watch::run_screen(&mut sampler, args.interval, limit)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut taken = 0u64;
    loop {
        let started = Instant::now();
        let sample = sampler.sample()?;
        taken += 1;
        if args.json {
            serde_json::to_writer(&mut out, &sample)?;
            writeln!(out)?;
        } else if limit == Some(1) {
            for line in render::report(&sample) {
                writeln!(out, "{}", line.text)?;
            }
        } else {
            writeln!(out, "{}", render::summary_line(&sample))?;
            for alert in &sample.alerts {
                writeln!(out, "  ! {alert}")?;
            }
        }
        out.flush()?;
        if limit.is_some_and(|l| taken >= l) {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(args.interval.saturating_sub(started.elapsed()));
    }
}
