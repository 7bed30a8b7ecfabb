use serde::{Deserialize, Serialize};

use crate::file::{number, read_parsed};
use crate::{ParseError, ProcRoot, ReadError};

/// One line of `/proc/slabinfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlabCache {
    /// Cache name (`TCP`, `filp`, ...).
    pub name: String,
    /// Objects in use.
    pub active_objs: u64,
    /// Objects allocated (in use or free in partial slabs).
    pub num_objs: u64,
    /// Bytes per object, as the allocator lays it out (padding included).
    pub objsize: u64,
    /// Objects one slab holds.
    pub objperslab: u64,
    /// Pages one slab takes.
    pub pagesperslab: u64,
}

impl SlabCache {
    /// Bytes held by the objects in use.
    pub fn active_bytes(&self) -> u64 {
        self.active_objs * self.objsize
    }

    /// Slab memory one more object takes: its slab's pages shared among the objects that fit, so the tail
    /// a slab cannot use counts too (TCP: 8 pages hold 13 objects of 2,368 B, so 2,520 B each). This is
    /// what `/proc/meminfo`'s Slab rises by per object.
    pub fn bytes_per_object(&self, page_size: u64) -> u64 {
        (self.pagesperslab * page_size)
            .checked_div(self.objperslab)
            .map_or(self.objsize, |b| b.max(self.objsize))
    }
}

/// The socket-related caches of `/proc/slabinfo` (root only: the file is mode 0400).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlabInfo {
    /// The [`TRACKED`](SlabInfo::TRACKED) caches this kernel has, in file order.
    pub caches: Vec<SlabCache>,
}

impl SlabInfo {
    /// The caches kept: what one connection costs in the kernel, and the transient mini-sockets.
    pub const TRACKED: &'static [&'static str] = &[
        "TCP",
        "TCPv6",
        "sock_inode_cache",
        "filp",
        "dentry",
        "eventpoll_epi",
        "eventpoll_pwq",
        "tw_sock_TCP",
        "tw_sock_TCPv6",
        "request_sock_TCP",
        "request_sock_TCPv6",
        "tcp_bind_bucket",
        "tcp_bind2_bucket",
        "skbuff_head_cache",
    ];

    /// The caches one idle, epoll-registered IPv4 TCP socket holds an object in.
    pub const PER_SOCKET: &'static [&'static str] = &[
        "TCP",
        "sock_inode_cache",
        "filp",
        "dentry",
        "eventpoll_epi",
        "eventpoll_pwq",
    ];

    /// Parse `/proc/slabinfo` version 2.x, keeping only the [`TRACKED`](SlabInfo::TRACKED) caches.
    pub fn parse(text: &str) -> Result<SlabInfo, ParseError> {
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, first)) if first.starts_with("slabinfo - version: 2.") => {}
            _ => {
                return Err(ParseError::new(
                    1,
                    "expected 'slabinfo - version: 2.x' on the first line",
                ));
            }
        }
        let mut caches = Vec::new();
        for (i, line) in lines {
            if line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let Some(name) = fields.next() else { continue };
            if !Self::TRACKED.contains(&name) {
                continue;
            }
            let mut next = |what: &str| {
                let f = fields
                    .next()
                    .ok_or_else(|| ParseError::new(i + 1, format!("{name}: missing {what}")))?;
                number(f, what, i + 1)
            };
            let active_objs = next("active_objs")?;
            let num_objs = next("num_objs")?;
            let objsize = next("objsize")?;
            let objperslab = next("objperslab")?;
            let pagesperslab = next("pagesperslab")?;
            caches.push(SlabCache {
                name: name.to_string(),
                active_objs,
                num_objs,
                objsize,
                objperslab,
                pagesperslab,
            });
        }
        Ok(SlabInfo { caches })
    }

    /// Read `proc/slabinfo` under `root` (an error without root, `None` on a kernel without it).
    pub fn read(root: &ProcRoot) -> Result<Option<SlabInfo>, ReadError> {
        read_parsed(root, "proc/slabinfo", SlabInfo::parse)
    }

    /// A cache by name, if this kernel has it (SLUB may merge small caches into others).
    pub fn get(&self, name: &str) -> Option<&SlabCache> {
        self.caches.iter().find(|c| c.name == name)
    }

    /// Slab bytes one idle IPv4 TCP socket in an epoll set costs (see [`SlabCache::bytes_per_object`]),
    /// summed over the [`PER_SOCKET`](SlabInfo::PER_SOCKET) caches present, and the caches that were missing.
    pub fn socket_cost(&self, page_size: u64) -> (u64, Vec<&'static str>) {
        let mut missing = Vec::new();
        let mut bytes = 0;
        for &name in Self::PER_SOCKET {
            match self.get(name) {
                Some(c) => bytes += c.bytes_per_object(page_size),
                None => missing.push(name),
            }
        }
        (bytes, missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "slabinfo - version: 2.1
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
btrfs_delayed_node      0      0    312   13    1 : tunables    0    0    0 : slabdata      0      0      0
tw_sock_TCP           32     32    256   16    1 : tunables    0    0    0 : slabdata      2      2      0
TCP                   26     26   2368   13    8 : tunables    0    0    0 : slabdata      2      2      0
eventpoll_epi        224    224    128   32    1 : tunables    0    0    0 : slabdata      7      7      0
sock_inode_cache      76     76    832   19    4 : tunables    0    0    0 : slabdata      4      4      0
filp                 670    693    192   21    1 : tunables    0    0    0 : slabdata     33     33      0
dentry             99393  99393    192   21    1 : tunables    0    0    0 : slabdata   4733   4733      0
";

    #[test]
    fn keeps_tracked_caches() {
        let s = SlabInfo::parse(TEXT).unwrap();
        assert_eq!(s.caches.len(), 6);
        assert!(s.get("btrfs_delayed_node").is_none());
        let filp = s.get("filp").unwrap();
        assert_eq!((filp.active_objs, filp.num_objs, filp.objsize), (670, 693, 192));
        assert_eq!(s.get("TCP").unwrap().active_bytes(), 26 * 2368);
        // Per object, a slab's pages over the objects it holds: TCP 8 x 4096 / 13, sock_inode_cache
        // 4 x 4096 / 19, filp and dentry 4096 / 21, eventpoll_epi 4096 / 32 (no waste); eventpoll_pwq is
        // merged away on this kernel.
        assert_eq!(s.get("TCP").unwrap().bytes_per_object(4096), 2520);
        assert_eq!(
            s.socket_cost(4096),
            (2520 + 862 + 195 + 195 + 128, vec!["eventpoll_pwq"])
        );
    }

    #[test]
    fn malformed() {
        assert!(SlabInfo::parse("slabinfo - version: 1.1\n").is_err());
        assert!(SlabInfo::parse("slabinfo - version: 2.1\nTCP 1 2\n").is_err());
        assert!(SlabInfo::parse("slabinfo - version: 2.1\nTCP 1 2 x 4 5\n").is_err());
    }
}
