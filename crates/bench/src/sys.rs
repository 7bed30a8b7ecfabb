//! How bench starts and stops its children: the only place with `unsafe`.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::process::{Pid, Signal, kill_process_group, set_parent_process_death_signal};

/// Start the command in its own process group (so a terminal's Ctrl-C reaches bench alone, which then tears
/// down in order) and have the kernel SIGKILL it if bench dies first.
pub fn own_group_dying_with_parent(cmd: &mut Command) -> &mut Command {
    cmd.process_group(0);
    // SAFETY: the closure runs in the forked child before exec and only makes the prctl(PR_SET_PDEATHSIG)
    // system call, which is async-signal-safe: it allocates nothing and takes no locks.
    unsafe {
        cmd.pre_exec(|| set_parent_process_death_signal(Some(Signal::KILL)).map_err(io::Error::from));
    }
    cmd
}

/// Start the command in its own process group, surviving bench (the guardian must outlive it).
pub fn own_group(cmd: &mut Command) -> &mut Command {
    cmd.process_group(0)
}

/// Send `signal` to every process of the group `pgid`; `Ok(false)` when the group no longer exists.
pub fn signal_group(pgid: u32, signal: Signal) -> io::Result<bool> {
    let Some(pid) = i32::try_from(pgid).ok().and_then(Pid::from_raw) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid process group {pgid}"),
        ));
    };
    match kill_process_group(pid, signal) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::SRCH) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
