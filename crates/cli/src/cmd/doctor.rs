use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anstyle::{AnsiColor, Style};
use anyhow::Context as _;
use c1m_doctor::{Explanation, Finding, Report, Role, Status, bytes, explain, thousands, topics};
use c1m_kernel::{Pid, ProcRoot, Snapshot};

use crate::value;

/// Arguments of `c1m doctor`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Which side this machine plays: server, client, or both (a loopback benchmark: everything counts twice)
    #[arg(long, default_value = "both", value_name = "ROLE")]
    role: Role,
    /// Concurrent connections to plan for (1000000, 100k, 2M)
    #[arg(long, default_value = "1000000", value_name = "N", value_parser = value::count)]
    target: u64,
    /// Print the report as JSON (schema in docs/doctor.md)
    #[arg(long)]
    json: bool,
    /// Judge a copied /proc tree instead of this machine: DIR contains proc/
    #[arg(long, value_name = "DIR")]
    proc_root: Option<PathBuf>,
    /// Judge the fd limits of this process instead of c1m's own
    #[arg(long, value_name = "PID")]
    pid: Option<u32>,
    /// Print the full story of one limit (a key such as fin_timeout, or a sysctl name) and exit
    #[arg(long, value_name = "KEY")]
    explain: Option<String>,
}

/// Run `c1m doctor`: exit 0 when every finding is ok or info, 1 with warnings only, 2 with any failure.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let root = args.proc_root.clone().map_or_else(ProcRoot::live, ProcRoot::at);
    let pid = args.pid.map_or(Pid::Own, Pid::Other);
    if let Some(key) = &args.explain {
        let topic = explain(key).with_context(|| {
            format!(
                "unknown key '{key}' for --explain: expected a sysctl name or one of {}",
                topics().join(", ")
            )
        })?;
        let snapshot = Snapshot::read(&root, pid)?;
        let finding = topic.limit.and_then(|l| {
            Report::new(&snapshot, args.role, args.target)
                .findings
                .into_iter()
                .find(|f| f.limit == l)
        });
        print_explanation(&topic, finding.as_ref(), args.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let snapshot = Snapshot::read(&root, pid)?;
    let report = Report::new(&snapshot, args.role, args.target);
    if args.json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        print_report(
            &report,
            args.proc_root.as_deref().map(|p| p.display().to_string()),
        )?;
    }
    Ok(ExitCode::from(report.exit_code))
}

fn status_style(status: Status) -> Style {
    match status {
        Status::Ok => AnsiColor::Green.on_default(),
        Status::Info => AnsiColor::Cyan.on_default(),
        Status::Warn => AnsiColor::Yellow.on_default().bold(),
        Status::Fail => AnsiColor::Red.on_default().bold(),
    }
}

const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();
/// Width of the limit column; the longest title is "TCP buffer memory (tcp_mem)".
const TITLE_WIDTH: usize = 28;

fn print_report(r: &Report, proc_root: Option<String>) -> anyhow::Result<()> {
    let mut out = anstream::stdout().lock();
    let machine = match (&proc_root, r.pid) {
        (Some(dir), _) => format!("snapshot {dir}"),
        (None, Some(pid)) => format!("this machine, fd limits of pid {pid}"),
        (None, None) => "this machine".to_string(),
    };
    writeln!(
        out,
        "{BOLD}c1m doctor{BOLD:#}: role {}, target {} connections, kernel {} ({machine})\n",
        r.role,
        thousands(r.target),
        r.kernel.as_deref().unwrap_or("unknown"),
    )?;
    for f in &r.findings {
        print_finding(&mut out, f)?;
    }
    print_plan(&mut out, r)?;
    for u in &r.unreadable {
        writeln!(out, "{DIM}not read:{DIM:#} {}: {}", u.source, u.error)?;
    }
    let s = r.summary;
    writeln!(
        out,
        "\n{BOLD}summary{BOLD:#}: {} ok, {} info, {} warn, {} fail: exit {} (0 all ok, 1 warnings only, 2 any failure)",
        s.ok, s.info, s.warn, s.fail, r.exit_code
    )?;
    if r.findings
        .iter()
        .any(|f| f.set.is_some() && f.status > Status::Info)
    {
        writeln!(
            out,
            "apply the sysctl fixes: c1m tune --role {} --target {} (--dry-run to preview, --persist to keep them after reboot)",
            r.role, r.target
        )?;
    }
    Ok(())
}

fn print_finding(out: &mut impl Write, f: &Finding) -> anyhow::Result<()> {
    let style = status_style(f.status);
    let pad = " ".repeat(6 + TITLE_WIDTH);
    writeln!(
        out,
        "{style}{:>4}{style:#}  {:<TITLE_WIDTH$}{}",
        f.status.word(),
        f.title,
        f.current
    )?;
    writeln!(out, "{pad}{DIM}needed {DIM:#} {}", f.needed)?;
    writeln!(out, "{pad}{DIM}why    {DIM:#} {}", f.why)?;
    if f.status > Status::Ok {
        if let Some(fix) = &f.fix {
            writeln!(out, "{pad}{DIM}fix    {DIM:#} {fix}")?;
        }
        if f.status > Status::Info {
            writeln!(out, "{pad}{DIM}symptom{DIM:#} {}", f.symptom)?;
        }
    }
    Ok(())
}

fn print_plan(out: &mut impl Write, r: &Report) -> anyhow::Result<()> {
    let p = &r.plan;
    writeln!(
        out,
        "\n{BOLD}capacity plan{BOLD:#}: {} connections = {} sockets on this machine",
        thousands(p.target),
        thousands(p.sockets)
    )?;
    writeln!(out, "  file handles      {}", thousands(p.file_handles))?;
    if let Some(limit) = p.fd_limit_per_process {
        let raisable = match p.hard_limit_raisable {
            Some(false) => " (hard limit; cannot be raised: no CAP_SYS_RESOURCE)",
            Some(true) => " (hard limit; raisable with CAP_SYS_RESOURCE)",
            None => " (hard limit)",
        };
        let mut processes = Vec::new();
        if let Some(s) = p.server_processes {
            processes.push(format!("{s} server"));
        }
        if let Some(c) = p.client_processes {
            processes.push(format!("{c} client"));
        }
        writeln!(out, "  fds per process   {}{raisable}", thousands(limit))?;
        writeln!(out, "  processes         {}", processes.join(" + "))?;
    }
    if let (Some(sources), Some(ports)) = (p.source_addresses, p.ports_per_source) {
        writeln!(
            out,
            "  source addresses  {sources} for one server port ({} ephemeral ports each)",
            thousands(ports)
        )?;
    }
    let measured = if p.slab_measured {
        "measured from /proc/slabinfo"
    } else {
        "typical; slabinfo not readable"
    };
    writeln!(
        out,
        "  kernel memory     {} B per socket ({measured}): {} idle, {} with a page of data per connection",
        thousands(p.slab_bytes_per_socket),
        bytes(p.idle_bytes),
        bytes(p.busy_bytes)
    )?;
    if let (Some(avail), Some(idle), Some(busy)) = (p.mem_available, p.largest_idle, p.largest_busy) {
        writeln!(out, "  MemAvailable      {}", bytes(avail))?;
        writeln!(
            out,
            "  largest N         {} idle, {} busy",
            thousands(idle),
            thousands(busy)
        )?;
    }
    Ok(())
}

fn print_explanation(e: &Explanation, finding: Option<&Finding>, json: bool) -> anyhow::Result<()> {
    let mut out = anstream::stdout().lock();
    if json {
        let value = serde_json::json!({ "explanation": e, "finding": finding });
        serde_json::to_writer_pretty(&mut out, &value)?;
        writeln!(out)?;
        return Ok(());
    }
    let sysctl = e.sysctl.map_or(String::new(), |s| format!(" ({s})"));
    writeln!(out, "{BOLD}{}{BOLD:#}{sysctl}\n", e.title)?;
    if let Some(claim) = e.article_claim {
        writeln!(out, "{BOLD}the article says{BOLD:#}: {claim}\n")?;
    }
    writeln!(out, "{BOLD}in fact{BOLD:#}: {}\n", wrap(e.story, 100))?;
    if let Some(a) = e.advice {
        writeln!(out, "{DIM}why    {DIM:#} {}", a.why)?;
        writeln!(out, "{DIM}fix    {DIM:#} {}", a.fix)?;
        writeln!(out, "{DIM}symptom{DIM:#} {}", a.symptom)?;
    }
    if let Some(f) = finding {
        writeln!(out, "\n{BOLD}here{BOLD:#}:")?;
        print_finding(&mut out, f)?;
    }
    Ok(())
}

/// Break `text` into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / width);
    let mut line = 0;
    for word in text.split_whitespace() {
        if line > 0 && line + 1 + word.len() > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}
