//! `c1m`: the thin binary. Each subcommand parses its arguments here and hands a typed plan to a library crate.

mod cmd;
mod value;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Hold a million TCP connections on one Linux machine, prove it, and name the limit in the way.
#[derive(Parser, Debug)]
#[command(name = "c1m", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check every limit that stands between this machine and N connections
    Doctor(cmd::doctor::Args),
    /// Apply (or roll back) the sysctl fixes doctor proposes
    Tune(cmd::tune::Args),
    /// Run the epoll server that holds connections
    Serve(cmd::serve::Args),
    /// Open N connections at a set rate and report what stopped them
    Load(cmd::load::Args),
    /// Live socket-state counts and kernel memory per connection
    Watch(cmd::watch::Args),
    /// Ramp serve + load on this machine and write a report
    Bench(cmd::bench::Args),
    /// Merge and render load/bench reports
    Report(cmd::report::Args),
    /// Internal: a server worker process started by `serve` (not for direct use)
    #[command(hide = true, name = "serve-worker")]
    ServeWorker(cmd::serve::WorkerArgs),
    /// Internal: a load worker process started by `load` (not for direct use)
    #[command(hide = true, name = "load-worker")]
    LoadWorker(cmd::load::WorkerArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints --help/--version on stdout with exit 0; everything else is a usage error (2).
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Doctor(a) => cmd::doctor::run(a),
        Command::Tune(a) => cmd::tune::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Load(a) => cmd::load::run(a),
        Command::Watch(a) => cmd::watch::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::ServeWorker(a) => cmd::serve::run_worker(a),
        Command::LoadWorker(a) => cmd::load::run_worker(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if err.chain().any(is_broken_pipe) {
                return ExitCode::SUCCESS;
            }
            eprintln!("c1m: {}", one_line(&err));
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// The error and its causes on one line, like anyhow's `{:#}`, but without repeating a cause that a library
/// error already quoted in its own message (many `thiserror` types print their source inline).
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}
