use c1m_kernel::{MemInfo, SlabInfo, SockStat, Triple};
use serde::Serialize;

use crate::SlabLayout;

/// What one object of a cache is charged per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Basis {
    /// Every object of the cache belongs to TCP (its objects in use are charged).
    Own,
    /// One object per socket file (the count of `sock_inode_cache`), at most the cache's own count.
    Socket,
    /// One object per epoll registration of a socket (`eventpoll_epi`, at most one per socket).
    EpollWatch,
    /// One object per `/proc/PID/fd` entry of a socket that someone listed, beyond what `Socket` charged.
    ProcFd,
}

/// The slab caches one open TCP socket in an epoll set takes objects from (Linux 6.x): the socket itself,
/// its inode, file and dentry, their security blobs, and the epoll item, wait hook and per-file head.
const SOCKET_CACHES: &[(&str, Basis)] = &[
    ("TCP", Basis::Own),
    ("TCPv6", Basis::Own),
    ("sock_inode_cache", Basis::Own),
    ("filp", Basis::Socket),
    ("dentry", Basis::Socket),
    ("lsm_file_cache", Basis::Socket),
    ("lsm_inode_cache", Basis::Socket),
    ("eventpoll_epi", Basis::Socket),
    ("eventpoll_pwq", Basis::EpollWatch),
    ("ep_head", Basis::EpollWatch),
];
/// Listing `/proc/PID/fd` (`ls`, `lsof`, monitoring agents) makes the kernel create a proc inode, a dentry
/// and an LSM blob per fd, kept until memory pressure reclaims them: a cost of sockets being fds on a
/// machine where something looks at them, counted apart.
const PROC_FD_CACHES: &[(&str, Basis)] = &[
    ("proc_inode_cache", Basis::ProcFd),
    ("dentry", Basis::ProcFd),
    ("lsm_inode_cache", Basis::ProcFd),
];
/// Minisockets that replace a closed connection (TIME_WAIT) or precede an accepted one (SYN_RECV).
const MINISOCKET_CACHES: &[(&str, Basis)] = &[
    ("tw_sock_TCP", Basis::Own),
    ("tw_sock_TCPv6", Basis::Own),
    ("request_sock_TCP", Basis::Own),
    ("request_sock_TCPv6", Basis::Own),
];

/// One slab cache's share of connection memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlabUse {
    /// The cache name.
    pub cache: String,
    /// What the objects are charged for: `socket`, `proc_fd` or `minisocket`.
    pub role: &'static str,
    /// Objects charged to connections.
    pub objects: u64,
    /// Bytes per object as `/proc/slabinfo` or `/sys/kernel/slab` gives it.
    pub objsize: u64,
    /// Slab bytes per object, packing waste included (equal to `objsize` when the layout is unknown).
    pub footprint: u64,
    /// `objects × footprint`.
    pub bytes: u64,
}

/// What TCP connections cost the kernel now.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KernelMemory {
    /// Slab attributable to connections, by cache (empty without read access to `/proc/slabinfo`).
    pub slab: Vec<SlabUse>,
    /// Slab of full sockets: the socket, inode, file, dentry, LSM blobs and epoll entries.
    pub socket_slab_bytes: u64,
    /// Slab of `/proc/PID/fd` entries for sockets, present when something listed them.
    pub proc_fd_slab_bytes: u64,
    /// Slab of TIME_WAIT and SYN_RECV minisockets.
    pub minisocket_slab_bytes: u64,
    /// `socket_slab_bytes` / ESTABLISHED sockets: the kernel cost of one more idle connection end.
    pub bytes_per_established: Option<u64>,
    /// (`socket_slab_bytes` + `proc_fd_slab_bytes`) / ESTABLISHED sockets: the same with the `/proc/PID/fd`
    /// entries, what the rise of `/proc/meminfo` Slab shows on a machine where something lists fds.
    pub bytes_per_established_with_proc_fd: Option<u64>,
    /// `/proc/meminfo` Slab, bytes.
    pub slab_total: Option<u64>,
    /// `/proc/meminfo` MemAvailable, bytes.
    pub mem_available: Option<u64>,
    /// `/proc/meminfo` MemTotal, bytes.
    pub mem_total: Option<u64>,
    /// Socket buffer memory charged to `tcp_mem` (sockstat `mem`), pages.
    pub tcp_buffer_pages: Option<u64>,
    /// `net.ipv4.tcp_mem` (min, pressure, max) in pages.
    pub tcp_mem: Option<Triple>,
}

impl KernelMemory {
    /// Attribute slab to connections. Caches only TCP uses are charged whole; caches shared with the rest
    /// of the system (files, dentries, epoll, proc inodes) are charged one object per socket, never more
    /// than they hold. `layout` gives a cache's slab layout and count (see [`SlabLayout`]); it also covers
    /// caches `/proc/slabinfo` (as the kernel crate reads it) leaves out, and caches SLUB merged into others.
    /// Slab is machine-wide: for the per-socket figures to mean anything the ESTABLISHED count should be too
    /// (one namespace holding the connections).
    pub fn attribute(
        slab: Option<&SlabInfo>,
        layout: impl Fn(&str) -> Option<SlabLayout>,
        sockstat: Option<&SockStat>,
        meminfo: Option<&MemInfo>,
        tcp_mem: Option<Triple>,
        established: u64,
    ) -> KernelMemory {
        let mut memory = KernelMemory {
            slab_total: meminfo.map(|m| m.slab),
            mem_available: meminfo.map(|m| m.available),
            mem_total: meminfo.map(|m| m.total),
            tcp_buffer_pages: sockstat.map(|s| s.tcp_mem_pages),
            tcp_mem,
            ..KernelMemory::default()
        };
        let Some(slab) = slab else { return memory };
        // (objects in use, object size, footprint) of a cache, slabinfo's count first.
        let cache = |name: &str| -> Option<(u64, u64, u64)> {
            let layout = layout(name);
            let listed = slab.get(name);
            let objects = listed.map(|c| c.active_objs).or(layout.map(|l| l.objects))?;
            let objsize = listed.map(|c| c.objsize).or(layout.map(|l| l.object_size))?;
            Some((
                objects,
                objsize,
                layout.map_or(objsize, |l| l.footprint.max(objsize)),
            ))
        };
        let count = |name: &str| cache(name).map_or(0, |c| c.0);
        let sockets = count("sock_inode_cache");
        let watches = count("eventpoll_epi").min(sockets);
        let proc_fds = count("proc_inode_cache").min(sockets);
        let mut charged: Vec<SlabUse> = Vec::new();
        let mut charge = |caches: &[(&str, Basis)], role: &'static str| -> u64 {
            let mut sum = 0u64;
            for &(name, basis) in caches {
                let Some((held, objsize, footprint)) = cache(name) else {
                    continue;
                };
                let before: u64 = charged
                    .iter()
                    .filter(|u| u.cache == name)
                    .map(|u| u.objects)
                    .sum();
                let objects = match basis {
                    Basis::Own => held,
                    Basis::Socket => held.min(sockets),
                    Basis::EpollWatch => held.min(watches),
                    Basis::ProcFd => held.saturating_sub(before).min(proc_fds),
                };
                // Saturating: a damaged slabinfo must not overflow (figures that large are visibly absurd).
                let bytes = objects.saturating_mul(footprint);
                sum = sum.saturating_add(bytes);
                charged.push(SlabUse {
                    cache: name.to_string(),
                    role,
                    objects,
                    objsize,
                    footprint,
                    bytes,
                });
            }
            sum
        };
        memory.socket_slab_bytes = charge(SOCKET_CACHES, "socket");
        memory.proc_fd_slab_bytes = charge(PROC_FD_CACHES, "proc_fd");
        memory.minisocket_slab_bytes = charge(MINISOCKET_CACHES, "minisocket");
        memory.slab = charged;
        memory.bytes_per_established = memory.socket_slab_bytes.checked_div(established);
        let with_proc = memory.socket_slab_bytes.saturating_add(memory.proc_fd_slab_bytes);
        memory.bytes_per_established_with_proc_fd = with_proc.checked_div(established);
        memory
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLABINFO: &str = "slabinfo - version: 2.1
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
tw_sock_TCP          100    128    256   16    1 : tunables    0    0    0 : slabdata      8      8      0
TCP                 1000   1001   2368   13    8 : tunables    0    0    0 : slabdata     77     77      0
sock_inode_cache    1100   1121    832   19    4 : tunables    0    0    0 : slabdata     59     59      0
filp                5000   5019    192   21    1 : tunables    0    0    0 : slabdata    239    239      0
dentry             90000  90006    192   21    1 : tunables    0    0    0 : slabdata   4286   4286      0
eventpoll_epi       1000   1024    128   32    1 : tunables    0    0    0 : slabdata     32     32      0
";

    /// TCP packs 13 objects into 8 pages; eventpoll_pwq exists but was merged into a cache of 5000
    /// objects; 1500 proc inodes exist (the kernel crate's slabinfo reader does not keep that cache).
    fn layout(name: &str) -> Option<SlabLayout> {
        match name {
            "TCP" => Some(SlabLayout {
                object_size: 2304,
                footprint: 32768 / 13,
                objects: 1000,
            }),
            "eventpoll_pwq" => Some(SlabLayout {
                object_size: 64,
                footprint: 64,
                objects: 5000,
            }),
            "proc_inode_cache" => Some(SlabLayout {
                object_size: 696,
                footprint: 700,
                objects: 1500,
            }),
            _ => None,
        }
    }

    #[test]
    fn shared_caches_are_charged_per_socket() {
        let slab = SlabInfo::parse(SLABINFO).unwrap();
        let sockstat = SockStat {
            tcp_mem_pages: 3,
            ..SockStat::default()
        };
        let m = KernelMemory::attribute(Some(&slab), layout, Some(&sockstat), None, None, 1000);
        let full = 1000 * (32768 / 13) + 1100 * 832 + 1100 * 192 + 1100 * 192 + 1000 * 128 + 1000 * 64;
        assert_eq!(m.socket_slab_bytes, full);
        assert_eq!(m.minisocket_slab_bytes, 100 * 256);
        assert_eq!(m.bytes_per_established, Some(full / 1000));
        assert_eq!(m.tcp_buffer_pages, Some(3));
        let dentry = m.slab.iter().find(|s| s.cache == "dentry").unwrap();
        assert_eq!((dentry.objects, dentry.bytes), (1100, 1100 * 192));
        let pwq = m.slab.iter().find(|s| s.cache == "eventpoll_pwq").unwrap();
        assert_eq!(
            pwq.objects, 1000,
            "one per epoll registration, found through sysfs"
        );
        assert!(
            m.slab.iter().all(|s| s.cache != "lsm_file_cache"),
            "a cache this kernel lacks is skipped"
        );
        // proc fd entries: up to one per socket (1100), with the dentries not already charged to sockets.
        let proc_fd: Vec<_> = m.slab.iter().filter(|s| s.role == "proc_fd").collect();
        assert_eq!(proc_fd.len(), 2, "proc inodes and dentries; no lsm cache here");
        assert_eq!((proc_fd[0].objects, proc_fd[1].objects), (1100, 1100));
        assert_eq!(m.proc_fd_slab_bytes, 1100 * 700 + 1100 * 192);
        assert_eq!(
            m.bytes_per_established_with_proc_fd,
            Some((full + 1100 * 892) / 1000)
        );
    }

    #[test]
    fn nothing_established_means_no_per_socket_figure() {
        let slab = SlabInfo::parse(SLABINFO).unwrap();
        let m = KernelMemory::attribute(Some(&slab), layout, None, None, None, 0);
        assert_eq!(m.bytes_per_established, None);
        let none = KernelMemory::attribute(None, layout, None, None, None, 10);
        assert!(none.slab.is_empty());
        assert_eq!(none.bytes_per_established, None);
    }
}
