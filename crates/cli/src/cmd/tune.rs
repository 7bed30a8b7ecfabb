use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anstyle::{AnsiColor, Style};
use c1m_doctor::tune::{self, Applied, RolledBack, STATE_DIR_ENV, TuneOptions, TunePlan};
use c1m_doctor::{Role, thousands};
use c1m_kernel::{Pid, ProcRoot, Snapshot};
use serde::Serialize;

use crate::value;

/// Arguments of `c1m tune`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Which side this machine plays: server, client, or both (a loopback benchmark)
    #[arg(long, default_value = "both", value_name = "ROLE")]
    role: Role,
    /// Concurrent connections to tune for (1000000, 100k, 2M)
    #[arg(long, default_value = "1000000", value_name = "N", value_parser = value::count)]
    target: u64,
    /// Print what would change and change nothing (no root needed)
    #[arg(long, conflicts_with = "rollback")]
    dry_run: bool,
    /// Also write /etc/sysctl.d/60-c1m.conf (and /etc/modules-load.d/c1m.conf for conntrack keys) so the values
    /// survive a reboot
    #[arg(long)]
    persist: bool,
    /// Restore the values and files saved by a tune run: FILE, or the latest backup not yet rolled back
    #[arg(long, value_name = "FILE", num_args = 0..=1, conflicts_with = "persist")]
    rollback: Option<Option<PathBuf>>,
    /// Where backups are kept
    #[arg(long, value_name = "DIR", env = STATE_DIR_ENV, default_value = tune::DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    /// Root under which etc/sysctl.d and etc/modules-load.d are written (for tests)
    #[arg(
        long,
        value_name = "DIR",
        env = "C1M_ETC_ROOT",
        default_value = "/",
        hide = true
    )]
    etc_root: PathBuf,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

/// Run `c1m tune`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = TuneOptions {
        state_dir: args.state_dir.clone(),
        etc_root: args.etc_root.clone(),
        ..TuneOptions::live(args.persist)
    };
    if let Some(file) = &args.rollback {
        let done = tune::rollback(file.as_deref(), &opts)?;
        emit(&done, args.json, print_rollback)?;
        return Ok(if done.failed.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        });
    }
    let snapshot = Snapshot::read(&ProcRoot::live(), Pid::Own)?;
    let plan = tune::plan(&snapshot, args.role, args.target);
    if args.dry_run {
        emit(&plan, args.json, |out, p| print_plan(out, p, "would change"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let applied = tune::apply(&plan, &opts)?;
    #[derive(Serialize)]
    struct Run<'a> {
        plan: &'a TunePlan,
        applied: &'a Applied,
    }
    emit(
        &Run {
            plan: &plan,
            applied: &applied,
        },
        args.json,
        |out, run| {
            print_plan(out, run.plan, "changing")?;
            print_applied(out, run.applied)
        },
    )?;
    Ok(if applied.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Print `value` as JSON or through `human`.
fn emit<T: Serialize>(
    value: &T,
    json: bool,
    human: impl FnOnce(&mut dyn Write, &T) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let mut out = anstream::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, value)?;
        writeln!(out)?;
    } else {
        human(&mut out, value)?;
    }
    Ok(())
}

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const GREEN: Style = AnsiColor::Green.on_default();
const RED: Style = AnsiColor::Red.on_default().bold();

fn print_plan(out: &mut dyn Write, p: &TunePlan, verb: &str) -> std::io::Result<()> {
    writeln!(
        out,
        "{BOLD}c1m tune{BOLD:#}: role {}, target {} connections",
        p.role,
        thousands(p.target)
    )?;
    if p.changes.is_empty() {
        writeln!(
            out,
            "nothing to change: every sysctl doctor would fix is already at or above what is needed"
        )?;
    } else {
        writeln!(out, "{verb}:")?;
        let width = p.changes.iter().map(|c| c.key.len()).max().unwrap_or(0);
        for c in &p.changes {
            let scope = if c.namespaced {
                "this network namespace"
            } else {
                "machine-wide"
            };
            // The kernel separates multi-value sysctls with tabs; show them as sysctl -w takes them.
            let from = c.from.split_whitespace().collect::<Vec<_>>().join(" ");
            writeln!(
                out,
                "  {:<width$}  {from} -> {GREEN}{}{GREEN:#}  {DIM}({}; {scope}){DIM:#}",
                c.key,
                c.to,
                c.limit.title()
            )?;
        }
    }
    for s in &p.skipped {
        writeln!(out, "  {DIM}left alone{DIM:#} {}: {}", s.key, s.reason)?;
    }
    writeln!(
        out,
        "{DIM}fd limits are not sysctls: for a service set LimitNOFILE=N:N in a systemd drop-in; /etc/security/limits.d applies to login shells only{DIM:#}"
    )
}

fn print_applied(out: &mut dyn Write, a: &Applied) -> std::io::Result<()> {
    for f in &a.failed {
        writeln!(out, "{RED}not changed{RED:#} {}: {}", f.key, f.error)?;
    }
    for f in &a.files {
        writeln!(out, "wrote {}", f.display())?;
    }
    if let Some(backup) = &a.backup {
        writeln!(
            out,
            "{} values written; backup {}",
            a.written.len(),
            backup.display()
        )?;
        writeln!(out, "undo with: c1m tune --rollback {}", backup.display())?;
    }
    Ok(())
}

fn print_rollback(out: &mut dyn Write, r: &RolledBack) -> std::io::Result<()> {
    writeln!(out, "{BOLD}c1m tune --rollback{BOLD:#}: {}", r.backup.display())?;
    for key in &r.restored {
        writeln!(out, "  restored  {key}")?;
    }
    for key in &r.unchanged {
        writeln!(out, "  {DIM}unchanged {key} (already at its saved value){DIM:#}")?;
    }
    for f in &r.failed {
        writeln!(out, "  {RED}failed{RED:#}    {}: {}", f.key, f.error)?;
    }
    for f in &r.files_restored {
        writeln!(out, "  restored  {}", f.display())?;
    }
    for f in &r.files_removed {
        writeln!(out, "  removed   {} (tune had created it)", f.display())?;
    }
    Ok(())
}
