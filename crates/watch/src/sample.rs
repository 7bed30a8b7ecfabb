use c1m_kernel::{Conntrack, FileNr, SockStat};
use serde::Serialize;

use crate::{Alert, CounterDelta, KernelMemory, Listener, PortFilter, StateCounts};

/// Where the ESTABLISHED count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EstablishedSource {
    /// Every ESTABLISHED socket was sent by sock_diag and counted.
    Dump,
    /// IPv4: `Tcp.CurrEstab` (ESTABLISHED + CLOSE_WAIT, per namespace) minus the dumped CLOSE_WAIT and
    /// IPv6 ESTABLISHED sockets; the kernel then only sends the few sockets in other states.
    Counter,
}

/// A process's open files against its RLIMIT_NOFILE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessFds {
    /// The process id.
    pub pid: u32,
    /// Open file descriptors (`None` if the process is gone).
    pub open_fds: Option<u64>,
    /// The soft RLIMIT_NOFILE (`None`: unlimited or the process is gone).
    pub nofile_soft: Option<u64>,
}

/// What the sample cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SampleCost {
    /// Wall time of the sock_diag dumps, microseconds.
    pub dump_us: u64,
    /// Sockets the kernel sent.
    pub dumped_sockets: u64,
    /// `recv` calls for the dumps.
    pub dump_reads: u64,
    /// Wall time of the whole sample (dumps and every `/proc` read), microseconds.
    pub total_us: u64,
}

/// One snapshot: socket states, kernel memory, limits in motion. Every output (screen, lines, JSON) renders
/// this type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Wall-clock time of the sample, milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// Milliseconds since the previous sample (`None` for the first).
    pub interval_ms: Option<u64>,
    /// The port filters applied in the kernel (empty: every socket).
    pub ports: Vec<PortFilter>,
    /// Sockets by state, both families.
    pub states: StateCounts,
    /// IPv4 sockets by state.
    pub ipv4: StateCounts,
    /// IPv6 sockets by state.
    pub ipv6: StateCounts,
    /// How ESTABLISHED was counted.
    pub established_from: EstablishedSource,
    /// LISTEN sockets, fullest accept queue first.
    pub listeners: Vec<Listener>,
    /// Kernel memory held by connections.
    pub memory: KernelMemory,
    /// `/proc/net/sockstat` (namespace-wide, unfiltered).
    pub sockstat: Option<SockStat>,
    /// Trouble counters and their rise since the previous sample.
    pub counters: Vec<CounterDelta>,
    /// Open files system-wide against `fs.file-max`.
    pub files: Option<FileNr>,
    /// The conntrack table, if the module is loaded.
    pub conntrack: Option<Conntrack>,
    /// Each `--pid`'s open files against its RLIMIT_NOFILE.
    pub processes: Vec<ProcessFds>,
    /// Limits within 10% and counters that rose, with the limit they name.
    pub alerts: Vec<Alert>,
    /// What taking this sample cost.
    pub cost: SampleCost,
}
