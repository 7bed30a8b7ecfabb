//! The load plan and how it splits: shards (hosts) and workers (processes) each take an exact, interleaved
//! slice of the connections, every connection keeps its place on the global schedule, and each slice cycles
//! through all (source, target) pairs with its own slice of the ephemeral port range.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use c1m_kernel::PortRange;
use c1m_net::connector::PortSlice;
use serde::{Deserialize, Serialize};

/// Port slices narrower than this are not worth it: the kernel's per-socket scan would wrap too often.
const MIN_PORTS_PER_SLICE: u64 = 64;

/// Everything one `c1m load` run (or one shard of it) does. Serialized into each worker's command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadPlan {
    /// Connections over all shards.
    pub connections: u64,
    /// New connections per second over all shards.
    pub rate: u64,
    /// Destinations (host:port); several ports multiply the 4-tuple space.
    pub targets: Vec<SocketAddr>,
    /// Source addresses; empty lets the kernel pick (one source per target).
    pub sources: Vec<IpAddr>,
    /// The ephemeral port range of this machine, used to give each slice its own ports.
    pub port_range: PortRange,
    /// A connection not established after this long counts as `ETIMEDOUT`.
    pub connect_timeout_ms: u64,
    /// How long to hold the connections after the last one settled.
    pub hold_ms: u64,
    /// Hard bound on the whole run.
    pub duration_ms: u64,
    /// Echo messages on every established connection, if any.
    pub message: Option<MessagePlan>,
    /// Which slice of the plan this run executes.
    pub shard: Shard,
    /// Worker processes this shard runs.
    pub workers: u32,
    /// How the connections still open end when the run does.
    #[serde(default)]
    pub close_with: CloseWith,
}

/// How `c1m load` closes the connections it still holds at the end of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseWith {
    /// An orderly close: this side keeps each connection's 4-tuple in TIME_WAIT for 60 s.
    #[default]
    Fin,
    /// SO_LINGER 0: a reset; no TIME_WAIT on either side, the ports are free at once.
    Reset,
}

impl CloseWith {
    /// Parse `fin` or `reset`.
    pub fn parse(s: &str) -> Result<CloseWith, String> {
        match s {
            "fin" => Ok(CloseWith::Fin),
            "reset" => Ok(CloseWith::Reset),
            _ => Err("expected fin or reset".to_string()),
        }
    }
}

/// Echo traffic on each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePlan {
    /// Bytes per message.
    pub bytes: u32,
    /// Messages per second per connection.
    pub rate: u64,
}

/// The `I/N` of `--shard`: this run executes the I-th of N interleaved slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shard {
    /// 0-based index.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
}

impl Shard {
    /// The whole plan.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Parse `I/N` with `I < N`.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let err = || format!("invalid shard '{s}': expected I/N with 0 <= I < N, such as 0/4");
        let (i, n) = s.split_once('/').ok_or_else(err)?;
        let index: u32 = i.trim().parse().map_err(|_| err())?;
        let count: u32 = n.trim().parse().map_err(|_| err())?;
        if count == 0 || index >= count {
            return Err(err());
        }
        Ok(Shard { index, count })
    }
}

/// The connections one worker of one shard opens: global indices `shard.index + (worker + j * workers) *
/// shard.count` for `j = 0, 1, ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lane {
    /// The shard.
    pub shard: Shard,
    /// This worker's index in the shard.
    pub worker: u32,
    /// Workers in the shard.
    pub workers: u32,
}

impl LoadPlan {
    /// Connections this shard opens.
    pub fn shard_connections(&self) -> u64 {
        interleaved_count(
            self.connections,
            u64::from(self.shard.index),
            u64::from(self.shard.count),
        )
    }

    /// The lane of worker `worker` of this shard.
    pub fn lane(&self, worker: u32) -> Lane {
        Lane {
            shard: self.shard,
            worker,
            workers: self.workers,
        }
    }

    /// (source, target) pairs: every source with every target.
    pub fn pairs(&self) -> usize {
        self.sources.len().max(1) * self.targets.len()
    }

    /// Source and target of pair `p`.
    pub fn pair(&self, p: usize) -> (Option<IpAddr>, SocketAddr) {
        let t = self.targets.len();
        (self.sources.get(p / t).copied(), self.targets[p % t])
    }

    /// When connection `index` (global) is due, measured from the start of the run.
    pub fn scheduled(&self, index: u64) -> Duration {
        Duration::from_nanos((u128::from(index) * 1_000_000_000 / u128::from(self.rate.max(1))) as u64)
    }

    /// Connections each (source, target) pair of this shard carries (the largest share).
    pub fn connections_per_pair(&self) -> u64 {
        self.shard_connections().div_ceil(self.pairs() as u64)
    }

    /// How long the ramp lasts on schedule.
    pub fn ramp(&self) -> Duration {
        self.scheduled(self.connections)
    }

    /// The ports of `lane`: one slice of the range per worker of this shard, so workers never scan each
    /// other's ports. Shards are not sliced: a shard normally runs alone in its own host or pod (its own
    /// network namespace) and needs the whole range there; shards that do share a host carry 1/N of the
    /// connections each, so the kernel's 4-tuple check lets them share the same slices.
    pub fn port_slice(&self, lane: Lane) -> Option<PortSlice> {
        let lanes = u64::from(lane.workers);
        let width = self.port_range.len() / lanes.max(1);
        if width < MIN_PORTS_PER_SLICE {
            return Some(PortSlice {
                lo: self.port_range.low,
                hi: self.port_range.high,
            });
        }
        let slot = u64::from(lane.worker);
        let lo = u64::from(self.port_range.low) + slot * width;
        Some(PortSlice {
            lo: lo as u16,
            hi: (lo + width - 1) as u16,
        })
    }
}

impl Lane {
    /// Connections in this lane, of the plan's `connections`.
    pub fn len(&self, connections: u64) -> u64 {
        let shard = interleaved_count(
            connections,
            u64::from(self.shard.index),
            u64::from(self.shard.count),
        );
        interleaved_count(shard, u64::from(self.worker), u64::from(self.workers))
    }

    /// True when the lane opens nothing.
    pub fn is_empty(&self, connections: u64) -> bool {
        self.len(connections) == 0
    }

    /// Global index of the lane's `j`-th connection.
    pub fn global(&self, j: u64) -> u64 {
        u64::from(self.shard.index)
            + (u64::from(self.worker) + j * u64::from(self.workers)) * u64::from(self.shard.count)
    }

    /// The pair of the lane's `j`-th connection: each lane cycles through all pairs, starting at a different
    /// one, so every pair gets an even share from every lane.
    pub fn pair(&self, j: u64, pairs: usize) -> usize {
        ((j + u64::from(self.worker)) % pairs as u64) as usize
    }
}

/// How many of `0..n` are congruent to `index` modulo `count`.
fn interleaved_count(n: u64, index: u64, count: u64) -> u64 {
    if index >= n {
        0
    } else {
        (n - index).div_ceil(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(connections: u64, shard: Shard, workers: u32) -> LoadPlan {
        LoadPlan {
            connections,
            rate: 1000,
            targets: vec![
                "127.0.0.1:13000".parse().unwrap(),
                "127.0.0.1:13001".parse().unwrap(),
            ],
            sources: vec![
                "127.0.0.1".parse().unwrap(),
                "127.0.0.2".parse().unwrap(),
                "127.0.0.3".parse().unwrap(),
            ],
            port_range: PortRange::DEFAULT,
            connect_timeout_ms: 5000,
            hold_ms: 0,
            close_with: CloseWith::Fin,
            duration_ms: 60_000,
            message: None,
            shard,
            workers,
        }
    }

    #[test]
    fn shards_and_workers_cover_every_connection_once() {
        for (n, shards, workers) in [
            (1000u64, 1u32, 1u32),
            (1001, 2, 3),
            (7, 4, 5),
            (20_000, 3, 7),
            (2, 2, 2),
        ] {
            let mut seen = vec![0u32; n as usize];
            let mut total = 0;
            for s in 0..shards {
                let p = plan(
                    n,
                    Shard {
                        index: s,
                        count: shards,
                    },
                    workers,
                );
                let mut in_shard = 0;
                for w in 0..workers {
                    let lane = p.lane(w);
                    for j in 0..lane.len(n) {
                        seen[lane.global(j) as usize] += 1;
                    }
                    in_shard += lane.len(n);
                }
                assert_eq!(in_shard, p.shard_connections());
                total += in_shard;
            }
            assert_eq!(total, n);
            assert!(
                seen.iter().all(|&c| c == 1),
                "n={n} shards={shards} workers={workers}"
            );
        }
    }

    #[test]
    fn every_lane_spreads_evenly_over_pairs() {
        let p = plan(60_000, Shard::WHOLE, 4);
        assert_eq!(p.pairs(), 6);
        for w in 0..4 {
            let lane = p.lane(w);
            let mut per_pair = [0u64; 6];
            for j in 0..lane.len(p.connections) {
                per_pair[lane.pair(j, p.pairs())] += 1;
            }
            assert!(
                per_pair.iter().max().unwrap() - per_pair.iter().min().unwrap() <= 1,
                "{per_pair:?}"
            );
        }
        assert_eq!(p.pair(0), (Some("127.0.0.1".parse().unwrap()), p.targets[0]));
        assert_eq!(p.pair(5), (Some("127.0.0.3".parse().unwrap()), p.targets[1]));
    }

    #[test]
    fn port_slices_are_disjoint_and_inside_the_range() {
        let p = plan(1000, Shard { index: 1, count: 2 }, 6);
        let mut all: Vec<PortSlice> = (0..6).map(|w| p.port_slice(p.lane(w)).unwrap()).collect();
        all.sort_by_key(|s| s.lo);
        assert_eq!(all[0].lo, 32768);
        for pair in all.windows(2) {
            assert!(pair[0].hi < pair[1].lo);
        }
        assert!(all[5].hi <= 60999);
        assert!(
            all[5].hi >= 60999 - 6,
            "the workers of one shard cover the whole range: {all:?}"
        );
        // Another shard (normally another host) gets the same whole range, not a fraction of it.
        let other = plan(1000, Shard { index: 0, count: 2 }, 6);
        assert_eq!(other.port_slice(other.lane(0)), p.port_slice(p.lane(0)));
        // Too many lanes for useful slices: every lane uses the whole range (still scanned without parity).
        let crowded = plan(1000, Shard { index: 0, count: 1 }, 1000);
        assert_eq!(
            crowded.port_slice(crowded.lane(7)),
            Some(PortSlice { lo: 32768, hi: 60999 })
        );
    }

    #[test]
    fn schedule_is_global() {
        let p = plan(1000, Shard::WHOLE, 1);
        assert_eq!(p.scheduled(0), Duration::ZERO);
        assert_eq!(p.scheduled(500), Duration::from_millis(500));
        assert_eq!(p.ramp(), Duration::from_secs(1));
        assert_eq!(p.connections_per_pair(), 167, "1000 over 3 sources x 2 targets");
    }

    #[test]
    fn shard_parsing() {
        assert_eq!(Shard::parse("1/4"), Ok(Shard { index: 1, count: 4 }));
        for bad in ["4/4", "1", "a/b", "0/0", "-1/2", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
