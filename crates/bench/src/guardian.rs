//! The guardian: a small process that outlives bench and undoes what bench did to the machine, whatever way
//! bench ends (orderly exit, error, Ctrl-C, even SIGKILL).
//!
//! Bench starts it first (the same binary, `c1m bench --guardian`, in its own process group so a terminal's
//! Ctrl-C does not reach it) and keeps the write end of a pipe to its stdin. Before bench changes anything it
//! writes the matching duty on the pipe: `group PGID` before a child runs, `netns NAME` before a namespace is
//! created, `tune DIR` before `--tune` saves its backup in DIR and writes sysctls. A line written to a pipe
//! is the kernel's, not bench's, so the guardian reads it even if bench dies a moment later. When the pipe
//! closes (which the kernel does for any exit of bench), the guardian kills the process groups, deletes the
//! namespaces, rolls the sysctls back from DIR's backup and exits, printing what it did as one JSON line.
//! In an orderly run bench has done all of that itself already, and the guardian's pass finds nothing left.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};

use c1m_doctor::tune::{self, TuneError, TuneOptions};
use rustix::process::Signal;
use serde::{Deserialize, Serialize};

use crate::netns;
use crate::sys;

/// Something the guardian undoes when bench is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Duty {
    /// Kill this process group (a serve or load child and its workers).
    Group(u32),
    /// Delete this network namespace.
    Netns(String),
    /// Roll back the latest tune backup in this directory.
    Tune(PathBuf),
}

impl Duty {
    fn line(&self) -> String {
        match self {
            Duty::Group(pgid) => format!("group {pgid}\n"),
            Duty::Netns(name) => format!("netns {name}\n"),
            Duty::Tune(dir) => format!("tune {}\n", dir.display()),
        }
    }

    fn parse(line: &str) -> Option<Duty> {
        let (word, arg) = line.trim_end_matches('\n').split_once(' ')?;
        match word {
            "group" => arg.parse().ok().map(Duty::Group),
            "netns" => Some(Duty::Netns(arg.to_string())),
            "tune" => Some(Duty::Tune(PathBuf::from(arg))),
            _ => None,
        }
    }
}

/// What the guardian found still to undo and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cleanup {
    /// Process groups that still had processes and were killed.
    pub killed_groups: Vec<u32>,
    /// Namespaces that still existed and were deleted.
    pub deleted_netns: Vec<String>,
    /// Sysctl keys written back to their value before the run.
    pub restored_sysctls: Vec<String>,
    /// What could not be undone.
    pub errors: Vec<String>,
}

impl Cleanup {
    /// Whether the guardian had to do anything (after an orderly run it should not).
    pub fn is_empty(&self) -> bool {
        self.killed_groups.is_empty() && self.deleted_netns.is_empty() && self.restored_sysctls.is_empty()
    }
}

/// Bench's end of the guardian.
#[derive(Debug)]
pub struct Guardian {
    child: Child,
    pipe: ChildStdin,
}

impl Guardian {
    /// Start the guardian; `cmd` runs [`guard`] (bench passes `current_exe() bench --guardian`).
    pub fn spawn(mut cmd: Command) -> io::Result<Guardian> {
        sys::own_group(&mut cmd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn()?;
        let pipe = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("guardian stdin was not piped"))?;
        Ok(Guardian { child, pipe })
    }

    /// Hand the guardian a duty; call it before doing what the duty undoes.
    pub fn watch(&mut self, duty: &Duty) -> io::Result<()> {
        self.pipe.write_all(duty.line().as_bytes())?;
        self.pipe.flush()
    }

    /// Close the pipe and wait for the guardian's final pass.
    pub fn release(self) -> io::Result<Cleanup> {
        let Guardian { mut child, pipe } = self;
        drop(pipe);
        let mut out = String::new();
        if let Some(mut stdout) = child.stdout.take() {
            stdout.read_to_string(&mut out)?;
        }
        let status = child.wait()?;
        if !status.success() {
            return Err(io::Error::other(format!("the guardian exited with {status}")));
        }
        serde_json::from_str(out.trim()).map_err(|e| io::Error::other(format!("the guardian's report: {e}")))
    }
}

/// The guardian process: collect duties from `input` until it closes, then undo them all and write the
/// [`Cleanup`] as one JSON line on `output`.
pub fn guard(input: impl Read, mut output: impl Write) -> Cleanup {
    let mut duties = Vec::new();
    for line in BufReader::new(input).lines() {
        let Ok(line) = line else { break };
        if let Some(duty) = Duty::parse(&line) {
            duties.push(duty);
        }
    }
    let cleanup = undo(&duties);
    // Bench may be gone: nobody reads this then, and that is fine.
    let _ = writeln!(output, "{}", serde_json::to_string(&cleanup).unwrap_or_default());
    for err in &cleanup.errors {
        eprintln!("c1m bench guardian: {err}");
    }
    cleanup
}

/// Undo in dependency order: processes first (they hold sockets in the namespaces), then namespaces, then the
/// sysctls the sockets needed.
fn undo(duties: &[Duty]) -> Cleanup {
    let mut done = Cleanup::default();
    for duty in duties {
        if let Duty::Group(pgid) = duty {
            match sys::signal_group(*pgid, Signal::KILL) {
                Ok(true) => done.killed_groups.push(*pgid),
                Ok(false) => {}
                Err(e) => done.errors.push(format!("cannot kill process group {pgid}: {e}")),
            }
        }
    }
    for duty in duties {
        if let Duty::Netns(name) = duty {
            match netns::delete(name) {
                Ok(true) => done.deleted_netns.push(name.clone()),
                Ok(false) => {}
                Err(e) => done
                    .errors
                    .push(format!("cannot delete network namespace {name}: {e}")),
            }
        }
    }
    for duty in duties {
        if let Duty::Tune(dir) = duty {
            match rollback(dir.clone()) {
                Ok(keys) => done.restored_sysctls.extend(keys),
                Err(e) => done.errors.push(format!(
                    "cannot restore the sysctls saved in {}: {e}",
                    dir.display()
                )),
            }
        }
    }
    done
}

/// Roll back the latest backup in `state_dir`; no backup (nothing was changed, or bench restored already) is
/// nothing to do.
pub fn rollback(state_dir: PathBuf) -> Result<Vec<String>, TuneError> {
    let opts = TuneOptions {
        state_dir,
        ..TuneOptions::live(false)
    };
    match tune::rollback(None, &opts) {
        Ok(done) => {
            if let Some(f) = done.failed.first() {
                return Err(TuneError::Io {
                    path: done.backup,
                    source: io::Error::other(format!("{}: {}", f.key, f.error)),
                });
            }
            Ok(done.restored)
        }
        Err(TuneError::NoBackup(_)) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duties_round_trip_through_their_lines() {
        for d in [
            Duty::Group(42),
            Duty::Netns("c1m-bench-1-s".into()),
            Duty::Tune("/tmp/a b".into()),
        ] {
            assert_eq!(Duty::parse(&d.line()), Some(d.clone()));
        }
        assert_eq!(Duty::parse("group x"), None);
        assert_eq!(Duty::parse("reboot now"), None);
    }

    #[test]
    fn kills_the_groups_it_was_given_when_the_pipe_closes() {
        let mut cmd = Command::new("sleep");
        cmd.arg("60");
        let mut child = sys::own_group(&mut cmd).spawn().unwrap();
        let input = format!("group {}\nnonsense\n", child.id());
        let mut out = Vec::new();
        let cleanup = guard(input.as_bytes(), &mut out);
        assert_eq!(cleanup.killed_groups, vec![child.id()]);
        assert!(!child.wait().unwrap().success());
        let reported: Cleanup = serde_json::from_slice(&out).unwrap();
        assert_eq!(reported, cleanup);
        // A second pass finds nothing left.
        assert!(guard(input.as_bytes(), io::sink()).is_empty());
    }

    #[test]
    fn a_tune_dir_without_backup_is_nothing_to_do() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(rollback(dir.path().to_path_buf()).unwrap(), Vec::<String>::new());
    }
}
