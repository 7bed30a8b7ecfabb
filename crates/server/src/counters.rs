use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use c1m_kernel::Limit;
use serde::{Deserialize, Serialize};

/// What a set of event loops has done so far: cumulative counts, mergeable across threads and workers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections closed (by the peer, by an error, by the idle timeout, by the pending cap, or at once in
    /// close mode).
    pub closed: u64,
    /// Bytes read from peers.
    pub bytes_in: u64,
    /// Bytes written to peers.
    pub bytes_out: u64,
    /// Connections closed for being idle longer than the idle timeout.
    pub closed_idle: u64,
    /// Echo connections closed because their unsent bytes would exceed the pending cap.
    pub closed_pending_cap: u64,
    /// Times accepting was paused because a limit refused a new socket, by limit.
    pub accept_pauses: BTreeMap<Limit, u64>,
}

impl Counters {
    /// Connections open now.
    pub fn connections(&self) -> u64 {
        self.accepted.saturating_sub(self.closed)
    }

    /// Add `other` into `self`.
    pub fn merge(&mut self, other: &Counters) {
        self.accepted += other.accepted;
        self.closed += other.closed;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.closed_idle += other.closed_idle;
        self.closed_pending_cap += other.closed_pending_cap;
        for (limit, n) in &other.accept_pauses {
            *self.accept_pauses.entry(*limit).or_default() += n;
        }
    }
}

const LIMITS: usize = Limit::ALL.len();

/// The live counters of one event-loop thread: written by that thread only, read by the reporter.
#[derive(Debug, Default)]
pub(crate) struct ThreadCounters {
    pub(crate) accepted: AtomicU64,
    pub(crate) closed: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) closed_idle: AtomicU64,
    pub(crate) closed_pending_cap: AtomicU64,
    accept_pauses: [AtomicU64; LIMITS],
}

impl ThreadCounters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn paused_by(&self, limit: Limit) {
        let i = Limit::ALL
            .iter()
            .position(|l| *l == limit)
            .expect("every limit is in Limit::ALL");
        Self::add(&self.accept_pauses[i], 1);
    }

    pub(crate) fn snapshot(&self) -> Counters {
        // Read `closed` first so a concurrent accept+close can never make connections() negative.
        let closed = self.closed.load(Relaxed);
        Counters {
            accepted: self.accepted.load(Relaxed),
            closed,
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            closed_idle: self.closed_idle.load(Relaxed),
            closed_pending_cap: self.closed_pending_cap.load(Relaxed),
            accept_pauses: Limit::ALL
                .iter()
                .zip(&self.accept_pauses)
                .map(|(l, n)| (*l, n.load(Relaxed)))
                .filter(|(_, n)| *n > 0)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_and_merge() {
        let t = ThreadCounters::default();
        ThreadCounters::add(&t.accepted, 5);
        ThreadCounters::add(&t.closed, 2);
        t.paused_by(Limit::NofileSoft);
        let mut a = t.snapshot();
        assert_eq!(a.connections(), 3);
        a.merge(&t.snapshot());
        assert_eq!((a.accepted, a.connections()), (10, 6));
        assert_eq!(a.accept_pauses[&Limit::NofileSoft], 2);
        let json = serde_json::to_string(&a).unwrap();
        assert!(json.contains("\"accept_pauses\":{\"nofile_soft\":2}"), "{json}");
        assert_eq!(serde_json::from_str::<Counters>(&json).unwrap(), a);
    }
}
