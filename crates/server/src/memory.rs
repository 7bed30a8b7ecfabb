use c1m_kernel::{Pid, ProcRoot, read_status};

/// This process's resident set size in bytes (VmRSS), 0 if `/proc/self/status` cannot be read.
pub(crate) fn own_rss_bytes() -> u64 {
    read_status(&ProcRoot::live(), Pid::Own)
        .ok()
        .flatten()
        .map_or(0, |s| s.vm_rss_bytes)
}
