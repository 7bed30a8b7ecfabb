//! Worker processes: the same binary re-executed under a hidden subcommand, reporting on stdout.
//!
//! Both `c1m serve` and `c1m load` need more sockets than one process may hold (RLIMIT_NOFILE is per
//! process and often capped), so they shard over workers. The [`Supervisor`]:
//! - spawns `count` workers as `current_exe() ARGS...` with [`WORKER_INDEX_ENV`] set to the worker's index
//!   (0-based), stdin closed, stderr inherited, and each worker's soft RLIMIT_NOFILE raised to its hard limit
//!   before exec;
//! - reads each worker's stdout as newline-delimited messages (JSON by convention) and yields them as
//!   [`WorkerEvent::Line`], and a worker's end as [`WorkerEvent::Exited`] with its status; the end is seen
//!   through a lifeline pipe on the worker's highest fd, which a dying process closes before its sockets
//!   (stdout, fd 1, closes after them: seconds later for a worker holding thousands);
//! - restarts a dead worker when the caller asks ([`Supervisor::restart`]; the policy is the caller's),
//!   counting restarts and logging each on stderr;
//! - shuts down by sending SIGTERM to every worker, waiting up to a bound, then SIGKILL
//!   ([`Supervisor::shutdown`]); dropping a supervisor kills what is left, so no worker outlives it.
//!
//! # Example
//! ```no_run
//! use std::time::Duration;
//! use c1m_net::{Supervisor, WorkerEvent};
//!
//! let args = ["serve-worker", "--listen", "127.0.0.1:7000"];
//! let mut sup = Supervisor::spawn_self(&args, 4)?;
//! while let Some(event) = sup.next_event(Duration::from_secs(1)) {
//!     match event {
//!         WorkerEvent::Line { worker, line } => println!("worker {worker}: {line}"),
//!         WorkerEvent::Exited { worker, .. } => sup.restart(worker)?,
//!     }
//!     # break;
//! }
//! let statuses = sup.shutdown(Duration::from_secs(10));
//! # Ok::<(), std::io::Error>(())
//! ```

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread;
use std::time::{Duration, Instant};

use crate::sys::process;

/// The environment variable that tells a worker its index (0-based, stable across restarts).
pub const WORKER_INDEX_ENV: &str = "C1M_WORKER_INDEX";

/// Something that happened to one worker.
#[derive(Debug)]
pub enum WorkerEvent {
    /// The worker wrote one line (without its newline) to stdout.
    Line {
        /// Index of the worker.
        worker: usize,
        /// The line.
        line: String,
    },
    /// The worker exited, or is exiting (see [`WorkerEvent::Exited::status`]); every line it wrote came first.
    Exited {
        /// Index of the worker.
        worker: usize,
        /// How it ended, or `None` while the kernel is still tearing the process down (a worker holding
        /// thousands of sockets takes seconds to close them; the supervisor does not wait for that before
        /// reporting, so a restart is not delayed by it, and reaps the process later).
        status: Option<ExitStatus>,
    },
}

/// Spawns, watches, restarts and stops a group of worker processes. See the module docs.
#[derive(Debug)]
pub struct Supervisor {
    program: PathBuf,
    args: Vec<OsString>,
    workers: Vec<Worker>,
    /// Workers that closed their stdout but had not finished exiting when reported: reaped later.
    exiting: Vec<Child>,
    tx: Sender<Message>,
    rx: Receiver<Message>,
    restarts: u64,
}

#[derive(Debug)]
struct Worker {
    child: Option<Child>,
    generation: u64,
    last_status: Option<ExitStatus>,
}

/// A line from a worker's stdout, or `None` once it has exited; `generation` drops messages of a replaced
/// worker.
#[derive(Debug)]
struct Message {
    worker: usize,
    generation: u64,
    line: Option<String>,
}

impl Supervisor {
    /// Spawn `count` workers running this executable with `args`.
    pub fn spawn_self(args: &[impl AsRef<OsStr>], count: usize) -> io::Result<Supervisor> {
        Supervisor::spawn(std::env::current_exe()?, args, count)
    }

    /// Spawn `count` workers running `program` with `args`.
    pub fn spawn(
        program: impl Into<PathBuf>,
        args: &[impl AsRef<OsStr>],
        count: usize,
    ) -> io::Result<Supervisor> {
        let (tx, rx) = channel();
        let mut sup = Supervisor {
            program: program.into(),
            args: args.iter().map(|a| a.as_ref().to_owned()).collect(),
            workers: Vec::with_capacity(count),
            exiting: Vec::new(),
            tx,
            rx,
            restarts: 0,
        };
        for index in 0..count {
            sup.workers.push(Worker {
                child: None,
                generation: 0,
                last_status: None,
            });
            sup.start(index)?;
        }
        Ok(sup)
    }

    fn start(&mut self, index: usize) -> io::Result<u32> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .env(WORKER_INDEX_ENV, index.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let lifeline = process::prepare_worker(&mut cmd)?;
        let mut child = cmd.spawn()?;
        drop(lifeline.write);
        let pid = child.id();
        let stdout = child.stdout.take().expect("stdout was piped");
        let worker = &mut self.workers[index];
        worker.generation += 1;
        worker.child = Some(child);
        let generation = worker.generation;
        process::set_nonblocking(&stdout)?;
        let tx = self.tx.clone();
        thread::Builder::new()
            .name(format!("worker-{index}-stdout"))
            .spawn(move || forward_lines(stdout, lifeline.read, index, generation, tx))?;
        Ok(pid)
    }

    /// The next event, or `None` if nothing happened within `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> Option<WorkerEvent> {
        let deadline = Instant::now() + timeout;
        self.exiting
            .retain_mut(|child| !matches!(child.try_wait(), Ok(Some(_))));
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = match self.rx.recv_timeout(left) {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            };
            let worker = &mut self.workers[msg.worker];
            if msg.generation != worker.generation {
                continue;
            }
            match msg.line {
                Some(line) => {
                    return Some(WorkerEvent::Line {
                        worker: msg.worker,
                        line,
                    });
                }
                None => {
                    // The process is exiting, and closing its sockets can take seconds at scale. Wait
                    // briefly for the exit status, then report without it.
                    let Some(child) = worker.child.take() else {
                        continue;
                    };
                    let status = reap_within(child, EXIT_WAIT, &mut self.exiting);
                    worker.last_status = status;
                    return Some(WorkerEvent::Exited {
                        worker: msg.worker,
                        status,
                    });
                }
            }
        }
    }

    /// Start worker `index` again after it exited; logs the restart on stderr and counts it.
    pub fn restart(&mut self, index: usize) -> io::Result<()> {
        if self.workers[index].child.is_some() {
            return Ok(());
        }
        let pid = self.start(index)?;
        self.restarts += 1;
        let how = self.workers[index].last_status.map_or_else(
            || "killed or exited, still closing its sockets".to_string(),
            |s| s.to_string(),
        );
        eprintln!(
            "c1m: worker {index} ended ({how}); restarted as pid {pid} (restart #{})",
            self.restarts
        );
        Ok(())
    }

    /// How many restarts happened.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// Number of workers (alive or not).
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// True when there are no workers at all.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// Process id of each worker, `None` for one that has exited and not been restarted.
    pub fn pids(&self) -> Vec<Option<u32>> {
        self.workers
            .iter()
            .map(|w| w.child.as_ref().map(Child::id))
            .collect()
    }

    /// Send SIGTERM to every live worker, wait up to `grace` for all to exit, then SIGKILL the rest.
    /// Returns each worker's final status (`None` for one that was already gone).
    pub fn shutdown(&mut self, grace: Duration) -> Vec<Option<ExitStatus>> {
        for pid in self.pids().into_iter().flatten() {
            let _ = process::terminate(pid);
        }
        let deadline = Instant::now() + grace;
        let mut statuses: Vec<Option<ExitStatus>> = self.workers.iter().map(|w| w.last_status).collect();
        loop {
            let mut alive = false;
            for (w, status) in self.workers.iter_mut().zip(statuses.iter_mut()) {
                if let Some(child) = &mut w.child {
                    match child.try_wait() {
                        Ok(Some(s)) => {
                            *status = Some(s);
                            w.child = None;
                        }
                        _ => alive = true,
                    }
                }
            }
            if !alive || Instant::now() >= deadline {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        for (w, status) in self.workers.iter_mut().zip(statuses.iter_mut()) {
            if let Some(mut child) = w.child.take() {
                let _ = child.kill();
                *status = child.wait().ok();
            }
        }
        self.reap_exiting();
        statuses
    }

    /// SIGKILL every live worker at once (the second Ctrl-C).
    pub fn kill_all(&mut self) {
        for w in &mut self.workers {
            if let Some(mut child) = w.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        self.reap_exiting();
    }

    /// Wait for the workers that were reported exited before they finished, so none is left a zombie.
    fn reap_exiting(&mut self) {
        for mut child in self.exiting.drain(..) {
            let _ = child.wait();
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// How long `next_event` waits for an exiting worker's status before it reports the exit without it: enough
/// for a worker with few sockets, far less than one with thousands needs.
const EXIT_WAIT: Duration = Duration::from_millis(50);

/// The exit status of `child` if it ends within `wait`; otherwise `None`, and `child` joins `exiting`.
fn reap_within(mut child: Child, wait: Duration, exiting: &mut Vec<Child>) -> Option<ExitStatus> {
    let deadline = Instant::now() + wait;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(2)),
            Ok(None) => {
                exiting.push(child);
                return None;
            }
            Err(_) => return None,
        }
    }
}

/// Send each line the worker writes, then `None` once it has exited: at the end of its stdout or, if its
/// lifeline closes first, as soon as everything it wrote before it died has been read (a dead process
/// writes no more, so what is in the pipe then is all there is).
fn forward_lines(
    mut stdout: ChildStdout,
    lifeline: File,
    worker: usize,
    generation: u64,
    tx: Sender<Message>,
) {
    let send = |line: Option<String>| {
        tx.send(Message {
            worker,
            generation,
            line,
        })
        .is_ok()
    };
    let mut pending = Vec::new();
    let mut chunk = [0u8; 8192];
    'watch: while let Ok(dead) = process::wait_for_worker(&stdout, &lifeline) {
        loop {
            match stdout.read(&mut chunk) {
                Ok(0) => break 'watch,
                Ok(n) => pending.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && dead => break 'watch,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => break 'watch,
            }
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if !send(Some(String::from_utf8_lossy(&line[..end]).into_owned())) {
                    return;
                }
            }
        }
    }
    if !pending.is_empty() {
        send(Some(String::from_utf8_lossy(&pending).into_owned()));
    }
    send(None);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str, count: usize) -> Supervisor {
        Supervisor::spawn("/bin/sh", &["-c", script], count).unwrap()
    }

    fn collect(sup: &mut Supervisor, until: impl Fn(&[WorkerEvent]) -> bool) -> Vec<WorkerEvent> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        while !until(&seen) && Instant::now() < deadline {
            if let Some(e) = sup.next_event(Duration::from_millis(200)) {
                seen.push(e);
            }
        }
        seen
    }

    #[test]
    fn workers_get_their_index_and_a_raised_fd_limit() {
        let mut sup = shell("echo \"$C1M_WORKER_INDEX $(ulimit -Sn) $(ulimit -Hn)\"", 3);
        let events = collect(&mut sup, |e| {
            e.iter()
                .filter(|e| matches!(e, WorkerEvent::Exited { .. }))
                .count()
                == 3
        });
        let mut lines: Vec<String> = events
            .iter()
            .filter_map(|e| match e {
                WorkerEvent::Line { worker, line } => Some(format!("{worker}:{line}")),
                _ => None,
            })
            .collect();
        lines.sort();
        assert_eq!(lines.len(), 3, "{events:?}");
        for (i, line) in lines.iter().enumerate() {
            let f: Vec<&str> = line.split([':', ' ']).collect();
            assert_eq!(f[0], i.to_string());
            assert_eq!(f[1], i.to_string(), "the env var names the worker");
            assert_eq!(f[2], f[3], "soft limit raised to hard: {line}");
        }
    }

    #[test]
    fn restarts_a_dead_worker_and_counts_it() {
        let mut sup = shell("echo up; exec sleep 30", 2);
        let _ = collect(&mut sup, |e| e.len() == 2);
        let victim = sup.pids()[1].unwrap();
        process::kill_for_test(victim);
        let events = collect(&mut sup, |e| {
            e.iter().any(|e| matches!(e, WorkerEvent::Exited { .. }))
        });
        assert!(
            matches!(events.last(), Some(WorkerEvent::Exited { worker: 1, status }) if status.is_none_or(|s| !s.success()))
        );
        sup.restart(1).unwrap();
        assert_eq!(sup.restarts(), 1);
        let events = collect(&mut sup, |e| !e.is_empty());
        assert!(matches!(&events[0], WorkerEvent::Line { worker: 1, line } if line == "up"));
        assert_ne!(sup.pids()[1], Some(victim));
        let statuses = sup.shutdown(Duration::from_secs(10));
        assert_eq!(statuses.len(), 2);
        assert!(sup.pids().iter().all(Option::is_none));
    }

    /// A bash worker that runs `script` after starting a child that keeps the stdout pipe open for 20 s but
    /// closes the lifeline, as the kernel effectively does when a dying worker still has thousands of
    /// sockets to close after fd 1. The worker's first line is that child's pid.
    fn worker_with_stdout_held_open(script: &str) -> Supervisor {
        let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .maximum
            .unwrap_or(u64::MAX);
        let lifeline = process::lifeline_fd(hard);
        let script = format!("sleep 20 {lifeline}>&- & echo $!; {script}");
        Supervisor::spawn("/bin/bash", &["-c", &script], 1).unwrap()
    }

    #[test]
    fn every_line_comes_before_the_exit_even_when_the_lifeline_ends_first() {
        let mut sup = worker_with_stdout_held_open("seq 1 20000");
        let events = collect(&mut sup, |e| {
            e.iter().any(|e| matches!(e, WorkerEvent::Exited { .. }))
        });
        let lines: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                WorkerEvent::Line { line, .. } => Some(line.as_str()),
                _ => None,
            })
            .collect();
        process::kill_for_test(lines[0].parse().unwrap());
        assert!(matches!(events.last(), Some(WorkerEvent::Exited { .. })));
        assert_eq!(lines.len(), 20_001, "the pid line and all of seq's");
        assert_eq!(lines.last(), Some(&"20000"));
    }

    #[test]
    fn a_killed_worker_is_reported_while_its_stdout_is_still_open() {
        let mut sup = worker_with_stdout_held_open("exec sleep 20");
        let events = collect(&mut sup, |e| !e.is_empty());
        let Some(WorkerEvent::Line { line, .. }) = events.first() else {
            panic!("no line from the worker: {events:?}");
        };
        let holder: u32 = line.parse().unwrap();
        process::kill_for_test(sup.pids()[0].unwrap());
        let started = Instant::now();
        let exited = sup.next_event(Duration::from_secs(15));
        process::kill_for_test(holder);
        assert!(
            matches!(exited, Some(WorkerEvent::Exited { worker: 0, .. })),
            "the lifeline reports the death before stdout closes (20 s later): {exited:?} after {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn shutdown_escalates_to_sigkill_after_the_grace_period() {
        let mut sup = shell("trap '' TERM; echo up; while true; do sleep 1; done", 1);
        let _ = collect(&mut sup, |e| !e.is_empty());
        let start = Instant::now();
        let statuses = sup.shutdown(Duration::from_millis(300));
        assert!(start.elapsed() < Duration::from_secs(20));
        assert!(statuses[0].is_some_and(|s| !s.success()));
    }
}
