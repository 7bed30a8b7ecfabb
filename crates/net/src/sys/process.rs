//! Process-level calls: RLIMIT_NOFILE, signals to workers, and the pre-exec hook that raises a worker's limit.

use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::io::Errno;
use rustix::process::{
    Pid, Resource, Rlimit, Signal, getrlimit, kill_process, set_parent_process_death_signal, setrlimit,
};

/// `setrlimit(RLIMIT_NOFILE, {hard, hard})`: raise the soft limit to the hard one.
fn raise_nofile_to_hard() -> Result<(), Errno> {
    let r = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: r.maximum,
            maximum: r.maximum,
        },
    )
}

/// Make `cmd`'s child raise its soft RLIMIT_NOFILE to its hard limit between fork and exec, and die with
/// SIGKILL when the thread that spawned it exits.
pub(crate) fn raise_nofile_before_exec(cmd: &mut Command) {
    // SAFETY: the hook runs in the forked child before exec; it only makes the getrlimit, setrlimit and
    // prctl(PR_SET_PDEATHSIG) syscalls (no allocation, no locks), which are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            raise_nofile_to_hard()?;
            // A worker must not outlive its supervisor (a killed supervisor would leave it holding the port).
            set_parent_process_death_signal(Some(Signal::KILL))?;
            Ok(())
        });
    }
}

/// `kill(pid, SIGTERM)`.
pub(crate) fn terminate(pid: u32) -> Result<(), Errno> {
    let pid = Pid::from_raw(pid as i32).ok_or(Errno::SRCH)?;
    kill_process(pid, Signal::TERM)
}

/// `kill(pid, SIGKILL)`, for tests that play a crashing worker.
#[cfg(test)]
pub(crate) fn kill_for_test(pid: u32) {
    let pid = Pid::from_raw(pid as i32).expect("a live pid");
    kill_process(pid, Signal::KILL).expect("kill");
}
