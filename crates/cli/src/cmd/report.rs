use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use c1m_loadgen::{LoadReport, REPORT_KIND};

/// Arguments of `c1m report`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Merge load reports of different shards into one (counts add, histograms add exactly)
    Merge {
        /// Report files from `c1m load --json`, or logs with the report as one JSON line (`--json -`)
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Write the merged report here instead of stdout (the summary then goes to stdout)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Print the terminal summary of a load report (and write it as an HTML page with --html)
    Show {
        /// A report file (or a log holding one as a JSON line)
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Print the report as JSON instead
        #[arg(long)]
        json: bool,
        /// Also write a self-contained HTML page (summary, latency percentile plot, the JSON) to this file
        #[arg(long, value_name = "OUT")]
        html: Option<PathBuf>,
    },
}

/// Run `c1m report`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Merge { files, out } => {
            let reports = files
                .iter()
                .map(|f| read_report(f))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let merged = LoadReport::merge_shards(reports)?;
            match out {
                Some(path) => {
                    super::load::write_report(&merged, &path)?;
                    print!("{}", c1m_loadgen::summary(&merged));
                }
                None => println!("{}", serde_json::to_string_pretty(&merged)?),
            }
        }
        Command::Show { file, json, html } => {
            let report = read_report(&file)?;
            if let Some(out) = html {
                fs::write(&out, c1m_bench::load_html::render_load(&report))
                    .with_context(|| format!("cannot write {}", out.display()))?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", c1m_loadgen::summary(&report));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Read a load report: the whole file as JSON, or else the last line of it that is one (a pod's log).
fn read_report(path: &Path) -> anyhow::Result<LoadReport> {
    let text = fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let whole = serde_json::from_str::<serde_json::Value>(&text);
    let value = match whole {
        Ok(v) => v,
        Err(_) => text
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v.get("kind").and_then(|k| k.as_str()) == Some(REPORT_KIND))
            .with_context(|| {
                format!(
                    "{} holds no c1m load report: expected the JSON written by `c1m load --json`",
                    path.display()
                )
            })?,
    };
    match value.get("kind").and_then(|k| k.as_str()) {
        Some(REPORT_KIND) => {}
        other => anyhow::bail!(
            "{} is not a c1m load report (kind {}): expected the JSON written by `c1m load --json`",
            path.display(),
            other.map_or("missing".to_string(), |k| format!("'{k}'"))
        ),
    }
    serde_json::from_value(value).with_context(|| format!("{} is a damaged c1m load report", path.display()))
}
