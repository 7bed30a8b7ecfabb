//! What the kernel says: readers for `/proc` and `/proc/sys`, rlimits, and the [`Limit`] vocabulary.
//!
//! # Brief overview
//! Every source is a pure `parse(&str)` function (tested on fixture files) plus a thin reader rooted at a
//! [`ProcRoot`], so a snapshot of another machine's `/proc` can be diagnosed as easily as the live one.
//! A file or key the running kernel does not have is a typed absence (`Ok(None)`), never a panic.
//!
//! [`Limit`] names every kernel or process limit that can stop a connection count; doctor keys its rules by
//! it and the server and load generator map errnos and rising counters to it.
//!
//! - sysctls: [`read_sysctl`], [`write_sysctl`], with [`Triple`], [`PortRange`] and [`ReservedPorts`] for
//!   the multi-value keys;
//! - processes: [`read_limits`], [`read_status`], [`open_fd_count`], [`raise_nofile_soft`],
//!   [`workers_needed`];
//! - counters and memory: [`SockStat`], [`SockStat6`], [`NetCounters`], [`MemInfo`], [`SlabInfo`],
//!   [`FileNr`], [`Conntrack`], [`KernelVersion`];
//! - everything at once: [`Snapshot::read`].
#![deny(missing_docs)]

mod conntrack;
mod error;
mod file;
mod filenr;
mod limit;
mod limits;
mod meminfo;
mod netstat;
mod ports;
mod process;
mod procroot;
mod slabinfo;
mod snapshot;
mod sockstat;
mod status;
mod sys;
mod sysctl;
mod version;
mod workers;

pub use conntrack::Conntrack;
pub use error::{ParseError, ReadError, WriteError};
pub use filenr::FileNr;
pub use limit::Limit;
pub use limits::{ProcLimits, Rlimit};
pub use meminfo::MemInfo;
pub use netstat::NetCounters;
pub use ports::{PortRange, ReservedPorts};
pub use process::{
    Pid, is_root, open_fd_count, own_nofile, page_size, raise_nofile_soft, read_limits, read_status,
};
pub use procroot::ProcRoot;
pub use slabinfo::{SlabCache, SlabInfo};
pub use snapshot::{ProcessView, Snapshot, SnapshotError, Unreadable};
pub use sockstat::{SockStat, SockStat6};
pub use status::ProcStatus;
pub use sysctl::{Triple, parse_u64, read_sysctl, read_sysctl_parsed, sysctl_path, write_sysctl};
pub use version::KernelVersion;
pub use workers::{FD_RESERVE_PER_PROCESS, SERVER_SPREAD_HEADROOM_PERCENT, workers_needed};
