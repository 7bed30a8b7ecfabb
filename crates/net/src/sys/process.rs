//! Process-level calls: RLIMIT_NOFILE, signals to workers, the pre-exec hook that raises a worker's limit
//! and gives it a lifeline, and waiting on a worker's pipes.

use std::fs::File;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::Errno;
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::process::{
    Pid, Resource, Rlimit, Signal, getrlimit, kill_process, set_parent_process_death_signal, setrlimit,
};

/// `setrlimit(RLIMIT_NOFILE, {hard, hard})`: raise the soft limit to the hard one; returns the new soft limit.
fn raise_nofile_to_hard() -> Result<u64, Errno> {
    let r = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: r.maximum,
            maximum: r.maximum,
        },
    )?;
    Ok(r.maximum.unwrap_or(u64::MAX))
}

/// A pipe whose write end a worker holds on its highest fd (up to a cap): reading `read` returns end-of-file
/// as soon as the worker starts to exit.
///
/// Why: a killed process closes its files in one batch whose order the kernel does not promise (since
/// Linux 6.0 the last fd goes first; before, the first). A worker's stdout is fd 1 and its sockets come after
/// it, so on current kernels stdout reaches end-of-file only after every socket is closed, which takes
/// seconds for tens of thousands of them. The lifeline sits on the highest fd the worker may open, so on
/// current kernels it closes first; on older ones stdout does. Watching both sees a death at once.
pub(crate) struct Lifeline {
    /// Read end, kept by the supervisor.
    pub(crate) read: File,
    /// Write end; drop it right after the spawn so only the worker holds it.
    pub(crate) write: OwnedFd,
}

/// Make `cmd`'s child raise its soft RLIMIT_NOFILE to its hard limit between fork and exec, die with SIGKILL
/// when the thread that spawned it exits, and hold the write end of the returned [`Lifeline`].
pub(crate) fn prepare_worker(cmd: &mut Command) -> io::Result<Lifeline> {
    let (read, write) = pipe_with(PipeFlags::CLOEXEC)?;
    let write_fd: RawFd = write.as_raw_fd();
    // SAFETY: the hook runs in the forked child before exec; it only makes the getrlimit, setrlimit,
    // prctl(PR_SET_PDEATHSIG) and dup2 syscalls (no allocation, no locks), which are async-signal-safe.
    // `write_fd` is open in the child (inherited across fork; the parent keeps it open until the spawn
    // returns). Both OwnedFds are wrapped in ManuallyDrop so the hook closes nothing: the original closes at
    // exec (close-on-exec) and the copy, which dup2 makes without close-on-exec, survives it.
    unsafe {
        cmd.pre_exec(move || {
            let limit = raise_nofile_to_hard()?;
            // A worker must not outlive its supervisor (a killed supervisor would leave it holding the port).
            set_parent_process_death_signal(Some(Signal::KILL))?;
            let write = ManuallyDrop::new(OwnedFd::from_raw_fd(write_fd));
            let mut lifeline = ManuallyDrop::new(OwnedFd::from_raw_fd(lifeline_fd(limit)));
            rustix::io::dup2(&*write, &mut lifeline)?;
            Ok(())
        });
    }
    Ok(Lifeline {
        read: File::from(read),
        write,
    })
}

/// Where a worker with this soft RLIMIT_NOFILE keeps its lifeline: its highest fd, up to a cap. The kernel
/// sizes a process's fd table to its highest fd (8 bytes a slot), and containers often allow a billion fds;
/// a worker holding more sockets than the cap still works, its death is only seen later.
pub(crate) fn lifeline_fd(soft_limit: u64) -> RawFd {
    const CAP: u64 = 1 << 18;
    RawFd::try_from(soft_limit.clamp(2, CAP) - 1).unwrap_or(RawFd::MAX)
}

/// Make reads from a worker's stdout return `WouldBlock` instead of waiting (the worker's end is unaffected).
pub(crate) fn set_nonblocking(pipe: impl AsFd) -> io::Result<()> {
    Ok(rustix::io::ioctl_fionbio(pipe, true)?)
}

/// Block until a worker's stdout has data (or end-of-file) or its lifeline has closed; returns whether the
/// lifeline has closed (the worker is dead).
pub(crate) fn wait_for_worker(stdout: impl AsFd, lifeline: impl AsFd) -> io::Result<bool> {
    let mut fds = [
        PollFd::new(&stdout, PollFlags::IN),
        PollFd::new(&lifeline, PollFlags::IN),
    ];
    loop {
        match poll(&mut fds, None) {
            Ok(_) => return Ok(!fds[1].revents().is_empty()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
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
