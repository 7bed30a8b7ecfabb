use serde::{Deserialize, Serialize};

use crate::file::{number, read_parsed};
use crate::{ParseError, ProcRoot, ReadError};

/// The parts of `/proc/meminfo` that bound how many connections fit, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemInfo {
    /// MemTotal.
    pub total: u64,
    /// MemFree.
    pub free: u64,
    /// MemAvailable: what can be allocated without swapping (the budget for new sockets).
    pub available: u64,
    /// Slab: all slab memory.
    pub slab: u64,
    /// SReclaimable: slab the kernel can give back (dentries of closed files, caches).
    pub slab_reclaimable: u64,
    /// SUnreclaim: slab pinned by live objects (socket structs are here).
    pub slab_unreclaimable: u64,
}

impl MemInfo {
    /// Parse `/proc/meminfo` (`Key:   value kB` lines).
    pub fn parse(text: &str) -> Result<MemInfo, ParseError> {
        let mut m = MemInfo::default();
        let mut saw_available = false;
        for (i, line) in text.lines().enumerate() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let slot = match key {
                "MemTotal" => &mut m.total,
                "MemFree" => &mut m.free,
                "MemAvailable" => {
                    saw_available = true;
                    &mut m.available
                }
                "Slab" => &mut m.slab,
                "SReclaimable" => &mut m.slab_reclaimable,
                "SUnreclaim" => &mut m.slab_unreclaimable,
                _ => continue,
            };
            let value = value.trim();
            let (digits, scale) = match value.strip_suffix("kB") {
                Some(kib) => (kib.trim(), 1024),
                None => (value, 1),
            };
            *slot = number(digits, key, i + 1)? * scale;
        }
        if !saw_available || m.total == 0 {
            return Err(ParseError::new(
                0,
                "no MemTotal/MemAvailable lines: not a /proc/meminfo file (or a kernel older than 3.14)",
            ));
        }
        Ok(m)
    }

    /// Read `proc/meminfo` under `root`.
    pub fn read(root: &ProcRoot) -> Result<Option<MemInfo>, ReadError> {
        read_parsed(root, "proc/meminfo", MemInfo::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kib() {
        let text = "MemTotal:       24684084 kB\nMemFree:        1000 kB\nMemAvailable:   24212728 kB\nBuffers: 1 kB\nSlab:             213456 kB\nSReclaimable:     176340 kB\nSUnreclaim:        37116 kB\nHugePages_Total:       0\n";
        let m = MemInfo::parse(text).unwrap();
        assert_eq!(m.total, 24684084 * 1024);
        assert_eq!(m.available, 24212728 * 1024);
        assert_eq!(m.slab_unreclaimable, 37116 * 1024);
        assert!(MemInfo::parse("MemTotal: 5 kB\n").is_err());
        assert!(MemInfo::parse("MemTotal: x kB\nMemAvailable: 1 kB\n").is_err());
    }
}
