/// File descriptors each process keeps for things other than connections: listeners, epoll, pipes to the
/// supervisor, stdio, timers, `/proc` reads.
pub const FD_RESERVE_PER_PROCESS: u64 = 64;

/// Extra share a server adds because SO_REUSEPORT spreads connections over listeners only roughly evenly.
pub const SERVER_SPREAD_HEADROOM_PERCENT: u64 = 10;

/// How many processes it takes to hold `connections` sockets when each process may open `fd_limit` fds.
///
/// Each process keeps [`FD_RESERVE_PER_PROCESS`] fds (at most half its limit) for itself; the rest hold one
/// socket each. `headroom_percent` inflates the socket count first: servers pass
/// [`SERVER_SPREAD_HEADROOM_PERCENT`], a load generator (which splits its plan exactly) passes 0.
/// `serve --workers auto`, `load --workers auto` and `doctor` all use this, so they agree. Never returns 0.
pub fn workers_needed(connections: u64, fd_limit: u64, headroom_percent: u64) -> u64 {
    let reserve = FD_RESERVE_PER_PROCESS.min(fd_limit / 2);
    let per_process = fd_limit.saturating_sub(reserve).max(1);
    let sockets = connections.saturating_mul(100 + headroom_percent).div_ceil(100);
    sockets.div_ceil(per_process).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn million_under_this_machines_cap() {
        // 20000 - 64 = 19936 sockets per process.
        assert_eq!(workers_needed(1_000_000, 20_000, 0), 51);
        assert_eq!(
            workers_needed(1_000_000, 20_000, SERVER_SPREAD_HEADROOM_PERCENT),
            56
        );
    }

    #[test]
    fn edges() {
        assert_eq!(workers_needed(0, 20_000, 10), 1);
        assert_eq!(workers_needed(19_936, 20_000, 0), 1);
        assert_eq!(workers_needed(19_937, 20_000, 0), 2);
        // A tiny limit (tests lower it) still leaves room for sockets: 100 keeps 50 for itself.
        assert_eq!(workers_needed(1000, 100, 0), 20);
        assert_eq!(workers_needed(5, 1, 0), 5);
        assert!(workers_needed(u64::MAX, 20_000, 10) > 1);
    }
}
