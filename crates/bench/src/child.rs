//! A child process of bench (a server, a load step, an RTT probe): its own process group that dies with
//! bench, stderr kept in a log file, stdout read as JSON lines on a thread.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use rustix::process::Signal;

use crate::sys;

/// A running child.
#[derive(Debug)]
pub struct Child {
    /// Name in messages (`server`, `load step 2`).
    pub name: String,
    process: std::process::Child,
    lines: Option<Receiver<String>>,
    log: PathBuf,
    exited: Option<ExitStatus>,
}

impl Child {
    /// Start `cmd` in its own process group, stderr to `log`, and (with `read_stdout`) its stdout lines
    /// collected for [`Child::lines`]; otherwise stdout goes to the log too.
    pub fn spawn(mut cmd: Command, name: &str, log: &Path, read_stdout: bool) -> io::Result<Child> {
        let err = File::create(log)?;
        let out = if read_stdout {
            Stdio::piped()
        } else {
            Stdio::from(err.try_clone()?)
        };
        sys::own_group_dying_with_parent(&mut cmd)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let mut process = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot start {name} ({:?}): {e}", cmd.get_program()),
            )
        })?;
        let lines = process.stdout.take().map(|stdout| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        });
        Ok(Child {
            name: name.to_string(),
            process,
            lines,
            log: log.to_path_buf(),
            exited: None,
        })
    }

    /// The process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Stdout lines received since the last call.
    pub fn lines(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(rx) = &self.lines {
            while let Ok(line) = rx.try_recv() {
                out.push(line);
            }
        }
        out
    }

    /// The exit status once the process has ended (reaped), without waiting.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.process.try_wait().ok().flatten();
        }
        self.exited
    }

    /// Signal the whole process group (the child and the workers it started).
    pub fn signal(&self, signal: Signal) -> io::Result<bool> {
        sys::signal_group(self.pid(), signal)
    }

    /// Wait up to `bound` for the child to exit; SIGKILL its group after that. Returns whether it exited by
    /// itself.
    pub fn wait_or_kill(&mut self, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                // The child is gone; its workers may linger a moment longer: they go with the group.
                let _ = self.signal(Signal::KILL);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.signal(Signal::KILL);
        let _ = self.process.wait().map(|s| self.exited = Some(s));
        false
    }

    /// The last lines of the child's log, for an error message.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(3)..].join(" | ");
        if tail.is_empty() {
            format!("no output (log: {})", self.log.display())
        } else {
            tail
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.signal(Signal::KILL);
        if self.exited().is_none() {
            let _ = self.process.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_keeps_the_log_and_kills_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo '{\"a\":1}'; echo oops >&2; sleep 60 & sleep 60"]);
        let mut child = Child::spawn(cmd, "test", &dir.path().join("log"), true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut got = Vec::new();
        while got.is_empty() && Instant::now() < deadline {
            got = child.lines();
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(got, vec!["{\"a\":1}".to_string()]);
        while !child.log_tail().contains("oops") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(child.log_tail(), "oops");
        assert!(!child.wait_or_kill(Duration::from_millis(50)));
        // The background sleep goes with the group (it may take a moment to be reaped).
        while child.signal(Signal::KILL).unwrap() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!child.signal(Signal::KILL).unwrap());
    }
}
