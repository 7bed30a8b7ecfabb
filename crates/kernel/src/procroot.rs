use std::path::{Path, PathBuf};

/// Where `/proc` lives: `/` on the running machine, or a directory holding a snapshot of another machine's
/// `proc/` tree (as `DIR/proc/...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcRoot {
    root: PathBuf,
}

impl ProcRoot {
    /// The running machine.
    pub fn live() -> Self {
        Self {
            root: PathBuf::from("/"),
        }
    }

    /// A snapshot directory that contains `proc/`.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { root: dir.into() }
    }

    /// Whether this root is the running machine (so live-only facts such as our own rlimits apply).
    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }

    /// The path of `rel` (for example `proc/net/sockstat`) under this root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }
}

impl Default for ProcRoot {
    fn default() -> Self {
        Self::live()
    }
}
