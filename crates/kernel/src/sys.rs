//! The only place this crate calls the kernel directly (through rustix's safe wrappers).

use std::io;

use rustix::process::{Resource, Rlimit as RawRlimit, getrlimit, setrlimit};

use crate::Rlimit;

/// `getrlimit(RLIMIT_NOFILE)` of this process.
pub(crate) fn nofile() -> Rlimit {
    let raw = getrlimit(Resource::Nofile);
    Rlimit {
        soft: raw.current,
        hard: raw.maximum,
    }
}

/// `setrlimit(RLIMIT_NOFILE, {soft, hard})`.
pub(crate) fn set_nofile(limit: Rlimit) -> io::Result<()> {
    setrlimit(
        Resource::Nofile,
        RawRlimit {
            current: limit.soft,
            maximum: limit.hard,
        },
    )
    .map_err(io::Error::from)
}

/// The size of a memory page, the unit of `tcp_mem` and sockstat `mem`.
pub(crate) fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

/// `geteuid() == 0`.
pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}
