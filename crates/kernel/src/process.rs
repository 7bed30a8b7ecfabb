use std::fs;
use std::io;

use serde::{Deserialize, Serialize};

use crate::file::read_parsed;
use crate::{ProcLimits, ProcRoot, ProcStatus, ReadError, Rlimit, read_sysctl, sys};

/// Which process to look at: this one (`/proc/self`) or another by PID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Pid {
    /// The calling process.
    #[default]
    Own,
    /// Another process.
    Other(u32),
}

impl Pid {
    /// The process's directory relative to a root: `proc/self` or `proc/1234`.
    pub fn dir(self) -> String {
        match self {
            Pid::Own => "proc/self".to_string(),
            Pid::Other(pid) => format!("proc/{pid}"),
        }
    }
}

/// `/proc/PID/limits` of a process; `None` when it does not exist (no such process).
pub fn read_limits(root: &ProcRoot, pid: Pid) -> Result<Option<ProcLimits>, ReadError> {
    read_parsed(root, &format!("{}/limits", pid.dir()), ProcLimits::parse)
}

/// `/proc/PID/status` of a process; `None` when it does not exist.
pub fn read_status(root: &ProcRoot, pid: Pid) -> Result<Option<ProcStatus>, ReadError> {
    read_parsed(root, &format!("{}/status", pid.dir()), ProcStatus::parse)
}

/// How many file descriptors a process has open (the entries of `/proc/PID/fd`); `None` when the directory
/// does not exist. Reading another user's fds needs root.
pub fn open_fd_count(root: &ProcRoot, pid: Pid) -> Result<Option<u64>, ReadError> {
    let path = root.path(&format!("{}/fd", pid.dir()));
    match fs::read_dir(&path) {
        Ok(entries) => Ok(Some(entries.count() as u64)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ReadError::Io { path, source }),
    }
}

/// RLIMIT_NOFILE of this process, straight from `getrlimit`.
pub fn own_nofile() -> Rlimit {
    sys::nofile()
}

/// `setrlimit(RLIMIT_NOFILE)`—Raise this process's soft fd limit to its hard limit, and return the soft limit
/// really in force afterwards.
///
/// An unlimited hard limit is clamped to `fs.nr_open`, the kernel's ceiling for any fd limit. Raising the
/// hard limit itself needs CAP_SYS_RESOURCE and is not attempted: on a machine where the hard limit is capped,
/// c1m spreads sockets over several processes instead (see [`workers_needed`](crate::workers_needed)).
///
/// # References
///  - [Linux](https://man7.org/linux/man-pages/man2/setrlimit.2.html)
#[doc(alias = "setrlimit")]
pub fn raise_nofile_soft() -> io::Result<u64> {
    let now = sys::nofile();
    let target = match now.hard {
        Some(hard) => hard,
        None => read_sysctl(&ProcRoot::live(), "fs.nr_open")
            .ok()
            .flatten()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1 << 20),
    };
    if now.soft.is_some_and(|soft| soft < target) {
        sys::set_nofile(Rlimit {
            soft: Some(target),
            hard: now.hard,
        })?;
    }
    Ok(sys::nofile().soft.unwrap_or(target))
}

/// Whether this process runs as root (effective uid 0), as writing `/proc/sys` requires.
pub fn is_root() -> bool {
    sys::is_root()
}

/// The size of a memory page on this machine (the unit of `tcp_mem` and of sockstat's `mem`).
pub fn page_size() -> u64 {
    sys::page_size()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_views_agree() {
        let root = ProcRoot::live();
        let limits = read_limits(&root, Pid::Own).unwrap().unwrap();
        assert_eq!(limits.nofile, own_nofile());
        let fds = open_fd_count(&root, Pid::Own).unwrap().unwrap();
        assert!(fds >= 3, "stdio plus the directory handle, got {fds}");
        let status = read_status(&root, Pid::Own).unwrap().unwrap();
        assert!(status.threads >= 1 && status.vm_rss_bytes > 0);
        assert_eq!(read_limits(&root, Pid::Other(u32::MAX)).unwrap(), None);
    }

    #[test]
    fn raise_reaches_the_hard_limit() {
        let raised = raise_nofile_soft().unwrap();
        let now = own_nofile();
        assert_eq!(now.soft, Some(raised));
        if let Some(hard) = now.hard {
            assert_eq!(raised, hard);
        }
    }
}
