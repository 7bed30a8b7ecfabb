use serde::{Deserialize, Serialize};

use crate::{ProcRoot, ReadError, parse_u64, read_sysctl_parsed};

/// The connection-tracking table, present only when `nf_conntrack` is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conntrack {
    /// Entries now (`nf_conntrack_count`).
    pub count: u64,
    /// Table size limit (`nf_conntrack_max`).
    pub max: u64,
    /// Hash buckets (`nf_conntrack_buckets`).
    pub buckets: u64,
}

impl Conntrack {
    /// Read the three sysctls under `root`; `None` when the module is not loaded.
    pub fn read(root: &ProcRoot) -> Result<Option<Conntrack>, ReadError> {
        let key = |k: &str| read_sysctl_parsed(root, k, parse_u64);
        let (Some(count), Some(max), Some(buckets)) = (
            key("net.netfilter.nf_conntrack_count")?,
            key("net.netfilter.nf_conntrack_max")?,
            key("net.netfilter.nf_conntrack_buckets")?,
        ) else {
            return Ok(None);
        };
        Ok(Some(Conntrack { count, max, buckets }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_when_not_loaded_present_when_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let root = ProcRoot::at(dir.path());
        assert_eq!(Conntrack::read(&root).unwrap(), None);
        let nf = dir.path().join("proc/sys/net/netfilter");
        std::fs::create_dir_all(&nf).unwrap();
        for (k, v) in [
            ("nf_conntrack_count", "3\n"),
            ("nf_conntrack_max", "262144\n"),
            ("nf_conntrack_buckets", "262144\n"),
        ] {
            std::fs::write(nf.join(k), v).unwrap();
        }
        assert_eq!(
            Conntrack::read(&root).unwrap(),
            Some(Conntrack {
                count: 3,
                max: 262144,
                buckets: 262144
            })
        );
        std::fs::write(nf.join("nf_conntrack_max"), "lots\n").unwrap();
        assert!(Conntrack::read(&root).is_err());
    }
}
