use c1m_kernel::{SERVER_SPREAD_HEADROOM_PERCENT, Snapshot, workers_needed};
use serde::{Deserialize, Serialize};

use crate::Role;

/// Slab bytes per idle socket when `/proc/slabinfo` cannot be read: the sum measured on a 6.18 x86-64 kernel,
/// slab pages per object (TCP 2520 + sock_inode_cache 862 + filp 195 + dentry 195 + eventpoll_epi 128).
/// The Slab rise measured there is ~4,200 B per socket: the rest is objects outside these caches (bind
/// buckets, security blobs).
pub const TYPICAL_SLAB_PER_SOCKET: u64 = 3900;

/// What N connections cost this machine, and how far it can go: fds, processes, ports, memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapacityPlan {
    /// The role judged.
    pub role: Role,
    /// Connections wanted.
    pub target: u64,
    /// Sockets on this machine: the target, twice over for `both`.
    pub sockets: u64,
    /// File handles those sockets take machine-wide (one each).
    pub file_handles: u64,
    /// The fd limit each process can reach: its hard RLIMIT_NOFILE (fs.nr_open when unlimited).
    pub fd_limit_per_process: Option<u64>,
    /// Whether the process can raise its hard limit (CAP_SYS_RESOURCE); `None` when unknown.
    pub hard_limit_raisable: Option<bool>,
    /// Server processes needed at that limit (with SO_REUSEPORT headroom).
    pub server_processes: Option<u64>,
    /// Load-generator processes needed at that limit.
    pub client_processes: Option<u64>,
    /// Ephemeral ports usable per (source, destination, port): the range minus reserved ports.
    pub ports_per_source: Option<u64>,
    /// Source addresses the client needs to reach one destination port N times.
    pub source_addresses: Option<u64>,
    /// Kernel slab bytes per idle socket.
    pub slab_bytes_per_socket: u64,
    /// Whether that figure was measured from this kernel's slabinfo (otherwise [`TYPICAL_SLAB_PER_SOCKET`]).
    pub slab_measured: bool,
    /// Slab bytes for all sockets while idle.
    pub idle_bytes: u64,
    /// Pages a busy connection charges to tcp_mem (one page per connection with unread data).
    pub tcp_mem_pages: u64,
    /// Idle bytes plus one page per connection with unread data.
    pub busy_bytes: u64,
    /// MemAvailable now.
    pub mem_available: Option<u64>,
    /// The largest N whose idle slab fits in MemAvailable.
    pub largest_idle: Option<u64>,
    /// The largest N that fits when every connection also holds a page of data.
    pub largest_busy: Option<u64>,
}

impl CapacityPlan {
    /// Work out the plan for `target` connections in `role` on the machine `snapshot` describes.
    pub fn new(snapshot: &Snapshot, role: Role, target: u64) -> CapacityPlan {
        let per_conn_sockets = role.sockets_per_connection();
        let sockets = target.saturating_mul(per_conn_sockets);
        let nofile = snapshot.process.limits.map(|l| l.nofile);
        let fd_limit = nofile.and_then(|n| n.hard.or_else(|| snapshot.sysctl_u64("fs.nr_open")));
        let processes = |headroom| fd_limit.map(|limit| workers_needed(target, limit, headroom));
        let ports = snapshot
            .port_range()
            .map(|r| r.len().saturating_sub(snapshot.reserved_ports().overlap(r)));
        let measured = snapshot
            .slab
            .as_ref()
            .map(|slab| slab.socket_cost(snapshot.page_size))
            .filter(|(bytes, _)| *bytes > 0);
        let slab_bytes_per_socket = measured.as_ref().map_or(TYPICAL_SLAB_PER_SOCKET, |(b, _)| *b);
        let idle_per_conn = slab_bytes_per_socket * per_conn_sockets;
        let busy_per_conn = idle_per_conn + snapshot.page_size;
        let mem_available = snapshot.meminfo.map(|m| m.available);
        CapacityPlan {
            role,
            target,
            sockets,
            file_handles: sockets,
            fd_limit_per_process: fd_limit,
            hard_limit_raisable: snapshot.process.status.and_then(|s| s.can_raise_hard_nofile()),
            server_processes: if role.serves() {
                processes(SERVER_SPREAD_HEADROOM_PERCENT)
            } else {
                None
            },
            client_processes: if role.connects() { processes(0) } else { None },
            ports_per_source: ports,
            source_addresses: if role.connects() {
                ports.map(|p| target.div_ceil(p.max(1)))
            } else {
                None
            },
            slab_bytes_per_socket,
            slab_measured: measured.is_some(),
            idle_bytes: target.saturating_mul(idle_per_conn),
            tcp_mem_pages: target,
            busy_bytes: target.saturating_mul(busy_per_conn),
            mem_available,
            largest_idle: mem_available.map(|m| m / idle_per_conn),
            largest_busy: mem_available.map(|m| m / busy_per_conn),
        }
    }
}
