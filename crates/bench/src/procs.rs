//! The user-space cost of one side of the bench (the server or the load generator): every process descended
//! from the children bench started, their resident memory and CPU time.
//!
//! A side's "bytes per connection" is the sum over its processes of VmRSS growth above a baseline, so fixed
//! costs such as the binary's pages and start-up allocations are not charged to connections. The baseline is,
//! in order of preference: what the processes below a root reported as their own RSS right before their first
//! connect ([`Side::report_baseline`]; c1m load's workers do; their coordinator's is its RSS at that first
//! report); the RSS when bench last called
//! [`Side::rebase`] (bench does once the server is up, before the first connection); else the smallest VmRSS
//! bench saw (polled every tenth of a second from the spawn; the smallest, not the first: a child first seen
//! between fork and exec still shows bench's own pages).

use std::collections::BTreeMap;
use std::fs;

use c1m_kernel::{Pid, ProcRoot, read_status};

use crate::report::SideUsage;

/// Utime + stime of a process, from the text of `/proc/PID/stat`, in clock ticks.
///
/// The command name (field 2) may contain spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name: state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15).
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The direct children of a process: the union of `/proc/PID/task/*/children`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        if let Ok(text) = fs::read_to_string(task.path().join("children")) {
            out.extend(text.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
    }
    out
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    root: u32,
    low_rss: u64,
    rss: u64,
    cpu_ticks: u64,
    alive: bool,
}

/// The processes of one side, followed from their roots (the children bench spawned) down.
#[derive(Debug, Default)]
pub struct Side {
    roots: Vec<u32>,
    seen: BTreeMap<u32, Seen>,
    /// Per root: the RSS its descendants reported as their own baseline, summed.
    reported: BTreeMap<u32, u64>,
}

impl Side {
    /// Follow the process tree below `pid` too.
    pub fn add_root(&mut self, pid: u32) {
        self.roots.push(pid);
        self.refresh();
    }

    /// Every live process of the side, roots first.
    pub fn pids(&self) -> Vec<u32> {
        self.seen
            .iter()
            .filter(|(_, s)| s.alive)
            .map(|(p, _)| *p)
            .collect()
    }

    /// Re-read the tree and every process's memory and CPU time.
    pub fn refresh(&mut self) {
        for s in self.seen.values_mut() {
            s.alive = false;
        }
        let mut todo: Vec<(u32, u32)> = self.roots.iter().map(|&r| (r, r)).collect();
        while let Some((pid, root)) = todo.pop() {
            let Some((rss, cpu_ticks)) = read_usage(pid) else {
                continue;
            };
            let entry = self.seen.entry(pid).or_insert(Seen {
                root,
                low_rss: rss,
                rss,
                cpu_ticks,
                alive: true,
            });
            entry.rss = rss;
            entry.low_rss = entry.low_rss.min(rss);
            entry.cpu_ticks = entry.cpu_ticks.max(cpu_ticks);
            entry.alive = true;
            todo.extend(children(pid).into_iter().map(|c| (c, root)));
        }
    }

    /// From now on, charge connections only with growth above each live process's current RSS.
    pub fn rebase(&mut self) {
        for s in self.seen.values_mut().filter(|s| s.alive) {
            s.low_rss = s.rss;
        }
    }

    /// The processes below `root` (not `root` itself) say that, before their first connection, they held
    /// `bytes` of RSS between them. `root` coordinates them and holds no connection: on its first report its
    /// current RSS becomes its baseline (it may have been first seen before its own start-up).
    pub fn report_baseline(&mut self, root: u32, bytes: u64) {
        if self.reported.insert(root, bytes).is_none()
            && let Some(s) = self.seen.get_mut(&root)
        {
            s.low_rss = s.rss;
        }
    }

    /// RSS growth of the live processes, against the baselines described in the module docs.
    fn rss_growth(&self) -> u64 {
        let live = || self.seen.iter().filter(|(_, s)| s.alive);
        let mut growth = 0;
        for (&pid, s) in live() {
            if pid == s.root || !self.reported.contains_key(&s.root) {
                growth += s.rss.saturating_sub(s.low_rss);
            }
        }
        for (&root, &baseline) in &self.reported {
            let below: u64 = live()
                .filter(|(pid, s)| s.root == root && **pid != root)
                .map(|(_, s)| s.rss)
                .sum();
            growth += below.saturating_sub(baseline);
        }
        growth
    }

    /// The side's cost now, with `connections` held.
    pub fn usage(&self, connections: u64) -> SideUsage {
        let ticks_per_second = rustix::param::clock_ticks_per_second() as f64;
        let live = || self.seen.values().filter(|s| s.alive);
        let rss_growth_bytes = self.rss_growth();
        SideUsage {
            processes: live().count() as u32,
            rss_bytes: live().map(|s| s.rss).sum(),
            rss_growth_bytes,
            bytes_per_connection: per_connection(rss_growth_bytes, connections),
            cpu_seconds: self.seen.values().map(|s| s.cpu_ticks).sum::<u64>() as f64 / ticks_per_second,
        }
    }
}

/// `bytes / connections`, 0 with no connections.
pub fn per_connection(bytes: u64, connections: u64) -> f64 {
    if connections == 0 {
        0.0
    } else {
        bytes as f64 / connections as f64
    }
}

/// VmRSS bytes and CPU ticks of a live process; `None` once it is gone (or a zombie without memory).
fn read_usage(pid: u32) -> Option<(u64, u64)> {
    let status = read_status(&ProcRoot::live(), Pid::Other(pid)).ok()??;
    let ticks = parse_cpu_ticks(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
    Some((status.vm_rss_bytes, ticks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_after_a_hostile_name() {
        let stat =
            "4242 (c1m (worker) 3) S 1 4242 4242 0 -1 4194560 1300 0 0 0 17 5 0 0 20 0 3 0 100 1000 200";
        assert_eq!(parse_cpu_ticks(stat), Some(22));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        assert_eq!(parse_cpu_ticks("1 (x) S 1 2"), None);
    }

    fn seen(root: u32, low_rss: u64, rss: u64) -> Seen {
        Seen {
            root,
            low_rss,
            rss,
            cpu_ticks: 0,
            alive: true,
        }
    }

    #[test]
    fn growth_uses_reported_baselines_then_rebase_then_the_smallest_rss() {
        let mut side = Side {
            roots: vec![10, 20],
            seen: BTreeMap::from([
                (10, seen(10, 100, 150)),
                (11, seen(10, 50, 500)),
                (20, seen(20, 100, 110)),
                (21, seen(20, 10, 400)),
                (22, seen(20, 20, 300)),
            ]),
            reported: BTreeMap::new(),
        };
        assert_eq!(side.rss_growth(), 50 + 450 + 10 + 390 + 280);
        side.report_baseline(20, 600);
        assert_eq!(
            side.rss_growth(),
            50 + 450 + (400 + 300 - 600),
            "root 20 rebased on its first report"
        );
        side.seen.get_mut(&20).unwrap().rss = 130;
        side.report_baseline(20, 600);
        assert_eq!(
            side.rss_growth(),
            50 + 450 + 20 + (400 + 300 - 600),
            "but only on its first"
        );
        side.seen.get_mut(&22).unwrap().alive = false;
        assert_eq!(
            side.rss_growth(),
            50 + 450 + 20,
            "a dead worker's baseline is not clawed back"
        );
        side.rebase();
        assert_eq!(side.rss_growth(), 0);
    }

    #[test]
    fn follows_a_child_and_counts_its_cpu() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 5"])
            .spawn()
            .unwrap();
        let mut side = Side::default();
        side.add_root(std::process::id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut usage = side.usage(10);
        while usage.cpu_seconds < 0.05 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
            side.refresh();
            usage = side.usage(10);
        }
        assert!(side.pids().contains(&child.id()));
        assert!(usage.processes >= 2 && usage.rss_bytes > 0, "{usage:?}");
        assert!(usage.cpu_seconds >= 0.05, "{usage:?}");
        child.kill().unwrap();
        child.wait().unwrap();
        side.refresh();
        assert!(!side.pids().contains(&child.id()));
        assert!(
            side.usage(10).cpu_seconds >= usage.cpu_seconds,
            "exited processes keep their CPU time"
        );
    }
}
