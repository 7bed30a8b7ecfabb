use serde::{Deserialize, Serialize};

use crate::ParseError;
use crate::error::quote;
use crate::file::number;

/// The fields of `/proc/PID/status` that show a process's memory and privilege.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcStatus {
    /// Resident set size now, in bytes (VmRSS).
    pub vm_rss_bytes: u64,
    /// Peak resident set size, in bytes (VmHWM).
    pub vm_hwm_bytes: u64,
    /// Number of threads.
    pub threads: u64,
    /// Effective capability bits (CapEff), if the kernel prints them.
    pub cap_eff: Option<u64>,
}

/// CAP_SYS_RESOURCE: the capability that lets a process raise its hard RLIMIT_NOFILE (up to fs.nr_open).
const CAP_SYS_RESOURCE: u32 = 24;

impl ProcStatus {
    /// Parse `/proc/PID/status` (`Key:\tvalue [kB]` lines). Kernel threads have no Vm lines: they read as 0.
    pub fn parse(text: &str) -> Result<ProcStatus, ParseError> {
        let mut status = ProcStatus {
            vm_rss_bytes: 0,
            vm_hwm_bytes: 0,
            threads: 0,
            cap_eff: None,
        };
        let mut saw_threads = false;
        for (i, line) in text.lines().enumerate() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            let kib = || number(value.trim_end_matches("kB").trim(), key, i + 1).map(|v| v * 1024);
            match key {
                "VmRSS" => status.vm_rss_bytes = kib()?,
                "VmHWM" => status.vm_hwm_bytes = kib()?,
                "Threads" => {
                    status.threads = number(value, key, i + 1)?;
                    saw_threads = true;
                }
                "CapEff" => {
                    let bits = u64::from_str_radix(value, 16).map_err(|_| {
                        ParseError::new(
                            i + 1,
                            format!("expected hex capability bits, found {}", quote(value)),
                        )
                    })?;
                    status.cap_eff = Some(bits);
                }
                _ => {}
            }
        }
        if !saw_threads {
            return Err(ParseError::new(
                0,
                "no 'Threads:' line: not a /proc/PID/status file",
            ));
        }
        Ok(status)
    }

    /// Whether the process may raise its hard fd limit (CAP_SYS_RESOURCE); `None` when unknown.
    pub fn can_raise_hard_nofile(&self) -> Option<bool> {
        self.cap_eff.map(|bits| bits & (1 << CAP_SYS_RESOURCE) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_memory_threads_caps() {
        let text =
            "Name:\tc1m\nVmHWM:\t    2024 kB\nVmRSS:\t    1000 kB\nThreads:\t3\nCapEff:\t000001fffeffffff\n";
        let s = ProcStatus::parse(text).unwrap();
        assert_eq!(s.vm_rss_bytes, 1000 * 1024);
        assert_eq!(s.vm_hwm_bytes, 2024 * 1024);
        assert_eq!(s.threads, 3);
        // 0x1fffeffffff has bit 24 cleared: the capability this machine's processes lack.
        assert_eq!(s.can_raise_hard_nofile(), Some(false));
        let full = ProcStatus::parse("Threads:\t1\nCapEff:\t000001ffffffffff\n").unwrap();
        assert_eq!(full.can_raise_hard_nofile(), Some(true));
    }

    #[test]
    fn rejects_other_files() {
        assert!(ProcStatus::parse("MemTotal: 1 kB\n").is_err());
        assert!(ProcStatus::parse("Threads:\tmany\n").is_err());
    }
}
