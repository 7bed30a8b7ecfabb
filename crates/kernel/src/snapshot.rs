use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    Conntrack, FileNr, KernelVersion, Limit, MemInfo, NetCounters, Pid, PortRange, ProcLimits, ProcRoot,
    ProcStatus, ReadError, ReservedPorts, SlabInfo, SockStat, SockStat6, Triple, open_fd_count, page_size,
    read_limits, read_status, read_sysctl,
};

/// Sysctls a snapshot reads besides the ones a [`Limit`] names.
const EXTRA_SYSCTLS: &[&str] = &[
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_timestamps",
    "net.ipv4.tcp_ehash_entries",
    "net.ipv4.tcp_available_congestion_control",
    "net.ipv4.tcp_abort_on_overflow",
    "net.netfilter.nf_conntrack_count",
    "kernel.osrelease",
];

/// The process a snapshot describes: its fd limits, open fds and memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessView {
    /// Which process.
    pub pid: Pid,
    /// `/proc/PID/limits`.
    pub limits: Option<ProcLimits>,
    /// `/proc/PID/status`.
    pub status: Option<ProcStatus>,
    /// Entries of `/proc/PID/fd`.
    pub open_fds: Option<u64>,
}

/// A source that exists but could not be read or parsed; the snapshot goes on without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    /// The file, relative to the root (`proc/slabinfo`).
    pub source: String,
    /// Why, in one line.
    pub error: String,
}

/// Everything c1m reads from a kernel, at one moment: what doctor judges and bench records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Whether this is the running machine (rather than a copied `/proc` tree).
    pub live: bool,
    /// Bytes per page (the unit of `tcp_mem` and sockstat `mem`); 4096 for a copied tree.
    pub page_size: u64,
    /// `kernel.osrelease`.
    pub kernel: Option<KernelVersion>,
    /// Every sysctl read, by dotted key; `None` when this kernel does not have it.
    pub sysctls: BTreeMap<String, Option<String>>,
    /// The process whose fd limits apply.
    pub process: ProcessView,
    /// `/proc/net/sockstat`.
    pub sockstat: Option<SockStat>,
    /// `/proc/net/sockstat6`.
    pub sockstat6: Option<SockStat6>,
    /// `/proc/net/netstat` + `/proc/net/snmp`.
    pub counters: Option<NetCounters>,
    /// `/proc/meminfo`.
    pub meminfo: Option<MemInfo>,
    /// `/proc/slabinfo` (root only).
    pub slab: Option<SlabInfo>,
    /// `/proc/sys/fs/file-nr`.
    pub file_nr: Option<FileNr>,
    /// Conntrack, when loaded.
    pub conntrack: Option<Conntrack>,
    /// Sources present but unreadable (for example slabinfo without root).
    pub unreadable: Vec<Unreadable>,
}

/// Why a snapshot could not be taken at all.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The root has no `proc/` directory.
    #[error(
        "no proc/ directory under {0}: pass the directory that contains proc/ (for example a copy made as in tests/fixtures/README.md)"
    )]
    NoProc(String),
    /// The process asked for does not exist.
    #[error("no process with pid {0} (no {1})")]
    NoProcess(u32, String),
}

/// A read's value, or `None` with the failure noted in `unreadable`.
fn keep_readable<T>(
    unreadable: &mut Vec<Unreadable>,
    r: Result<Option<T>, ReadError>,
    source: &str,
) -> Option<T> {
    r.unwrap_or_else(|e| {
        unreadable.push(Unreadable {
            source: source.to_string(),
            error: e.to_string(),
        });
        None
    })
}

impl Snapshot {
    /// Every sysctl key a snapshot reads.
    pub fn sysctl_keys() -> impl Iterator<Item = &'static str> {
        let mut keys: Vec<&str> = Limit::ALL
            .iter()
            .filter_map(|l| l.sysctl())
            .chain(EXTRA_SYSCTLS.iter().copied())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter()
    }

    /// Read everything under `root`, for process `pid`. A missing source is `None`; a source that fails to read
    /// is recorded in [`unreadable`](Snapshot::unreadable) and the snapshot goes on.
    pub fn read(root: &ProcRoot, pid: Pid) -> Result<Snapshot, SnapshotError> {
        if !root.path("proc").is_dir() {
            return Err(SnapshotError::NoProc(root.path("").display().to_string()));
        }
        let mut unreadable = Vec::new();
        let limits = keep_readable(&mut unreadable, read_limits(root, pid), "proc/PID/limits");
        if let (Pid::Other(n), None) = (pid, &limits) {
            return Err(SnapshotError::NoProcess(
                n,
                root.path(&format!("{}/limits", pid.dir())).display().to_string(),
            ));
        }
        let process = ProcessView {
            pid,
            limits,
            status: keep_readable(&mut unreadable, read_status(root, pid), "proc/PID/status"),
            open_fds: keep_readable(&mut unreadable, open_fd_count(root, pid), "proc/PID/fd"),
        };
        let mut sysctls = BTreeMap::new();
        for key in Snapshot::sysctl_keys() {
            let value = keep_readable(&mut unreadable, read_sysctl(root, key), key);
            sysctls.insert(key.to_string(), value);
        }
        Ok(Snapshot {
            live: root.is_live(),
            page_size: if root.is_live() { page_size() } else { 4096 },
            kernel: keep_readable(
                &mut unreadable,
                KernelVersion::read(root),
                "proc/sys/kernel/osrelease",
            ),
            sysctls,
            process,
            sockstat: keep_readable(&mut unreadable, SockStat::read(root), "proc/net/sockstat"),
            sockstat6: keep_readable(&mut unreadable, SockStat6::read(root), "proc/net/sockstat6"),
            counters: keep_readable(&mut unreadable, NetCounters::read(root), "proc/net/netstat"),
            meminfo: keep_readable(&mut unreadable, MemInfo::read(root), "proc/meminfo"),
            slab: keep_readable(&mut unreadable, SlabInfo::read(root), "proc/slabinfo"),
            file_nr: keep_readable(&mut unreadable, FileNr::read(root), "proc/sys/fs/file-nr"),
            conntrack: keep_readable(&mut unreadable, Conntrack::read(root), "proc/sys/net/netfilter"),
            unreadable,
        })
    }

    /// A sysctl's text as `sysctl -n` prints it; `None` when absent or not read.
    pub fn sysctl(&self, key: &str) -> Option<&str> {
        self.sysctls.get(key)?.as_deref()
    }

    /// A single-number sysctl; `None` when absent or not a number.
    pub fn sysctl_u64(&self, key: &str) -> Option<u64> {
        self.sysctl(key)?.trim().parse().ok()
    }

    /// A three-number sysctl (`tcp_mem`, `tcp_rmem`, `tcp_wmem`).
    pub fn sysctl_triple(&self, key: &str) -> Option<Triple> {
        Triple::parse(self.sysctl(key)?).ok()
    }

    /// `net.ipv4.ip_local_port_range`.
    pub fn port_range(&self) -> Option<PortRange> {
        PortRange::parse(self.sysctl("net.ipv4.ip_local_port_range")?).ok()
    }

    /// `net.ipv4.ip_local_reserved_ports` (empty when the key is absent).
    pub fn reserved_ports(&self) -> ReservedPorts {
        self.sysctl("net.ipv4.ip_local_reserved_ports")
            .and_then(|t| ReservedPorts::parse(t).ok())
            .unwrap_or_default()
    }

    /// The congestion control algorithms this kernel has loaded.
    pub fn congestion_available(&self) -> Vec<&str> {
        self.sysctl("net.ipv4.tcp_available_congestion_control")
            .map(|t| t.split_whitespace().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_snapshot_has_the_basics() {
        let s = Snapshot::read(&ProcRoot::live(), Pid::Own).unwrap();
        assert!(s.live);
        assert!(s.kernel.is_some() && s.meminfo.is_some() && s.sockstat.is_some() && s.file_nr.is_some());
        assert!(s.process.limits.is_some() && s.process.open_fds.is_some());
        assert!(s.sysctl_u64("net.core.somaxconn").is_some());
        assert!(s.sysctls.contains_key("net.ipv4.tcp_mem"));
    }

    fn fixture(name: &str) -> Snapshot {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/");
        Snapshot::read(&ProcRoot::at(format!("{dir}{name}")), Pid::Own).unwrap()
    }

    #[test]
    fn this_host_fixture_parses_completely() {
        let s = fixture("this-host");
        assert!(!s.live && s.unreadable.is_empty(), "{:?}", s.unreadable);
        assert_eq!(s.kernel.as_ref().unwrap().release, "6.18.44-fc-v669");
        assert_eq!(s.process.limits.unwrap().nofile.hard, Some(20_000));
        assert_eq!(s.process.status.unwrap().can_raise_hard_nofile(), Some(false));
        assert_eq!(s.sysctl_triple("net.ipv4.tcp_mem").unwrap().max, 575_796);
        assert_eq!(s.port_range(), Some(PortRange::DEFAULT));
        assert_eq!(s.file_nr.unwrap().max, 2_466_170);
        assert_eq!(s.conntrack.unwrap().max, 262_144);
        assert_eq!(s.slab.as_ref().unwrap().get("TCP").unwrap().objsize, 2368);
        assert_eq!(s.meminfo.unwrap().total, 24_684_084 * 1024);
        let counters = s.counters.as_ref().unwrap();
        assert_eq!(counters.listen_overflows(), Some(0));
        assert!(counters.curr_estab().is_some() && counters.get("IpExt.InOctets").is_some());
        assert!(s.sockstat.is_some() && s.sockstat6.is_some());
        assert_eq!(s.congestion_available(), ["reno", "bbr", "cubic"]);
    }

    #[test]
    fn hand_made_fixtures_parse() {
        let stock = fixture("stock-distro");
        assert!(stock.unreadable.is_empty(), "{:?}", stock.unreadable);
        assert_eq!(
            stock.process.limits.unwrap().nofile,
            crate::Rlimit {
                soft: Some(1024),
                hard: Some(524_288)
            }
        );
        assert_eq!(stock.process.open_fds, Some(14));
        assert_eq!(stock.conntrack.unwrap().count, 412);
        assert_eq!(stock.slab.as_ref().unwrap().socket_cost(4096), (3772, vec![]));
        let tuned = fixture("tuned-host");
        assert!(tuned.unreadable.is_empty(), "{:?}", tuned.unreadable);
        assert_eq!(tuned.conntrack, None, "not loaded");
        assert_eq!(tuned.reserved_ports().overlap(tuned.port_range().unwrap()), 2768);
        assert_eq!(tuned.counters.as_ref().unwrap().passive_opens(), Some(2_003_100));
    }

    #[test]
    fn bad_roots_and_pids() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Snapshot::read(&ProcRoot::at(dir.path()), Pid::Own),
            Err(SnapshotError::NoProc(_))
        ));
        assert!(matches!(
            Snapshot::read(&ProcRoot::live(), Pid::Other(u32::MAX)),
            Err(SnapshotError::NoProcess(..))
        ));
        // An empty proc/ is a machine that has nothing: every source absent, no error.
        std::fs::create_dir(dir.path().join("proc")).unwrap();
        let s = Snapshot::read(&ProcRoot::at(dir.path()), Pid::Own).unwrap();
        assert!(s.sockstat.is_none() && s.slab.is_none() && s.sysctls.values().all(Option::is_none));
    }
}
