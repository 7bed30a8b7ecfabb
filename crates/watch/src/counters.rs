use c1m_kernel::{Limit, NetCounters};
use serde::Serialize;

/// The TcpExt/Tcp counters that signal trouble, and the limit a rise points at (if one does).
pub const WATCHED_COUNTERS: &[(&str, Option<Limit>)] = &[
    ("TcpExt.ListenOverflows", Some(Limit::ListenBacklog)),
    ("TcpExt.ListenDrops", Some(Limit::ListenBacklog)),
    ("TcpExt.TCPTimeWaitOverflow", Some(Limit::MaxTwBuckets)),
    ("TcpExt.TCPAbortOnMemory", Some(Limit::TcpMem)),
    ("TcpExt.TCPMemoryPressures", Some(Limit::TcpMem)),
    ("TcpExt.TCPReqQFullDoCookies", Some(Limit::SynBacklog)),
    ("TcpExt.TCPReqQFullDrop", Some(Limit::SynBacklog)),
    ("TcpExt.SyncookiesSent", Some(Limit::SynBacklog)),
    ("TcpExt.TCPAbortOnTimeout", None),
    ("Tcp.AttemptFails", Some(Limit::Refused)),
    ("Tcp.EstabResets", None),
];

/// One watched counter now and its rise since the previous sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CounterDelta {
    /// `Group.Name` as in `/proc/net/netstat` or `/proc/net/snmp`.
    pub name: &'static str,
    /// The value now.
    pub value: u64,
    /// The rise since the previous sample (`None` on the first).
    pub delta: Option<u64>,
    /// The limit a rise points at.
    pub limit: Option<Limit>,
}

impl CounterDelta {
    /// Whether the counter went up since the previous sample.
    pub fn is_rising(&self) -> bool {
        self.delta.is_some_and(|d| d > 0)
    }
}

/// The watched counters of `now`, with deltas against `before`; counters this kernel lacks are left out.
pub fn counter_deltas(now: &NetCounters, before: Option<&NetCounters>) -> Vec<CounterDelta> {
    WATCHED_COUNTERS
        .iter()
        .filter_map(|&(name, limit)| {
            let value = now.get(name)?;
            let delta = before.and_then(|b| b.get(name)).map(|b| value.saturating_sub(b));
            Some(CounterDelta {
                name,
                value,
                delta,
                limit,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_against_the_previous_sample() {
        let before = NetCounters::parse(
            "TcpExt: ListenOverflows ListenDrops\nTcpExt: 5 5\nTcp: AttemptFails\nTcp: 1\n",
        )
        .unwrap();
        let now = NetCounters::parse(
            "TcpExt: ListenOverflows ListenDrops\nTcpExt: 9 5\nTcp: AttemptFails\nTcp: 1\n",
        )
        .unwrap();
        let first = counter_deltas(&now, None);
        assert_eq!(first.len(), 3, "counters the kernel lacks are left out");
        assert!(first.iter().all(|c| c.delta.is_none() && !c.is_rising()));
        let d = counter_deltas(&now, Some(&before));
        let overflows = d.iter().find(|c| c.name == "TcpExt.ListenOverflows").unwrap();
        assert_eq!(
            (overflows.value, overflows.delta, overflows.limit),
            (9, Some(4), Some(Limit::ListenBacklog))
        );
        assert!(overflows.is_rising());
        assert!(
            !d.iter()
                .find(|c| c.name == "TcpExt.ListenDrops")
                .unwrap()
                .is_rising()
        );
    }
}
