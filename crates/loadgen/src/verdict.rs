//! The one sentence at the end of a run: everything held, or where and why it stopped short and the fix.

use std::fmt::Write;

use c1m_doctor::thousands;
use c1m_kernel::Limit;
use serde::{Deserialize, Serialize};

use crate::report::{End, ErrorCount, LoadReport};

/// The conclusion of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// True when every planned connection was established and none was lost while held.
    pub ok: bool,
    /// The limit that stopped the run, when an error names one.
    pub limit: Option<Limit>,
    /// The sentence.
    pub sentence: String,
}

impl Verdict {
    /// Judge a report from its counts and error table.
    pub fn of(r: &LoadReport) -> Verdict {
        let c = &r.counts;
        let short = c.established < c.planned;
        if !short && c.dropped == 0 {
            let sentence = format!(
                "all {} connections established and held",
                thousands(c.established)
            );
            return Verdict {
                ok: true,
                limit: None,
                sentence,
            };
        }
        let head = if short {
            format!(
                "stopped at {} of {} connections",
                thousands(c.established),
                thousands(c.planned)
            )
        } else {
            format!(
                "all {} connections established, but {} dropped while held",
                thousands(c.established),
                thousands(c.dropped)
            )
        };
        if let Some((limit, row, pairs)) = blamed(&r.errors) {
            let mut s = format!("{head}: {limit} for {}", route(row));
            if pairs > 1 {
                let more = pairs - 1;
                let _ = write!(s, " (and {more} more pair{})", if more == 1 { "" } else { "s" });
            }
            if let Some(key) = limit.sysctl() {
                let _ = write!(s, " ({key})");
            }
            let _ = write!(s, "; fix: {}", c1m_doctor::advice(limit).fix);
            return Verdict {
                ok: false,
                limit: Some(limit),
                sentence: s,
            };
        }
        let sentence = if let Some(row) = r.errors.first() {
            format!(
                "{head}: {} x {} in {} for {}; no kernel limit explains it (check the target and the network)",
                thousands(row.count),
                row.name,
                row.phase,
                route(row)
            )
        } else {
            let why = match r.end {
                End::Duration => {
                    "--duration ran out before the schedule finished; raise --duration or --rate"
                }
                End::Interrupted => "interrupted",
                End::WorkerLost => "a load worker process died (see its message above)",
                End::Completed => {
                    "connections were still in progress when the run ended; raise --connect-timeout"
                }
            };
            format!("{head}: {why}")
        };
        Verdict {
            ok: false,
            limit: None,
            sentence,
        }
    }
}

/// The limit with the most failures, its worst (source, target) row, and how many pairs hit it.
fn blamed(errors: &[ErrorCount]) -> Option<(Limit, &ErrorCount, usize)> {
    let mut best: Option<(Limit, u64)> = None;
    for limit in errors.iter().filter_map(|e| e.limit) {
        let total: u64 = errors
            .iter()
            .filter(|e| e.limit == Some(limit))
            .map(|e| e.count)
            .sum();
        if best.is_none_or(|(_, t)| total > t) {
            best = Some((limit, total));
        }
    }
    let (limit, _) = best?;
    let rows: Vec<&ErrorCount> = errors.iter().filter(|e| e.limit == Some(limit)).collect();
    let worst = rows.iter().max_by_key(|e| e.count)?;
    let mut pairs: Vec<_> = rows.iter().map(|e| (e.source, e.target)).collect();
    pairs.sort();
    pairs.dedup();
    Some((limit, worst, pairs.len()))
}

fn route(row: &ErrorCount) -> String {
    match row.source {
        Some(src) => format!("{src} -> {}", row.target),
        None => format!("(kernel-chosen source) -> {}", row.target),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Shard;
    use crate::report::{error, sample};

    fn with_errors(mut r: LoadReport, rows: &[(i32, &str, u64)]) -> LoadReport {
        r.errors = rows
            .iter()
            .map(|&(errno, source, count)| error(errno, source, count))
            .collect();
        r.errors.sort_by_key(|e| std::cmp::Reverse(e.count));
        r.verdict = Verdict::of(&r);
        r
    }

    #[test]
    fn everything_held() {
        let v = sample(Shard::WHOLE, 1000, 1000).verdict;
        assert!(v.ok);
        assert_eq!(v.sentence, "all 1,000 connections established and held");
    }

    #[test]
    fn names_the_limit_the_worst_pair_and_the_fix() {
        let r = with_errors(
            sample(Shard::WHOLE, 100_000, 56_000),
            &[
                (libc::EADDRNOTAVAIL, "127.0.0.1", 10),
                (libc::EADDRNOTAVAIL, "127.0.0.2", 30),
                (libc::ECONNREFUSED, "127.0.0.1", 5),
            ],
        );
        let v = r.verdict;
        assert_eq!(v.limit, Some(Limit::EphemeralPorts));
        assert_eq!(
            v.sentence,
            format!(
                "stopped at 56,000 of 100,000 connections: ephemeral ports for 127.0.0.2 -> 127.0.0.1:13000 (and 1 more \
                 pair) (net.ipv4.ip_local_port_range); fix: {}",
                c1m_doctor::advice(Limit::EphemeralPorts).fix
            )
        );
    }

    #[test]
    fn unexplained_errors_and_early_ends() {
        let r = with_errors(
            sample(Shard::WHOLE, 10, 7),
            &[(libc::EHOSTUNREACH, "127.0.0.1", 3)],
        );
        assert!(
            r.verdict
                .sentence
                .contains("3 x EHOSTUNREACH in connect for 127.0.0.1 -> 127.0.0.1:13000; no kernel limit")
        );
        let mut r = sample(Shard::WHOLE, 10, 7);
        r.counts.failed = 0;
        r.counts.not_started = 3;
        r.end = End::Duration;
        assert!(
            Verdict::of(&r)
                .sentence
                .ends_with("--duration ran out before the schedule finished; raise --duration or --rate")
        );
        r.counts.not_started = 0;
        r.counts.established = 10;
        r.counts.dropped = 2;
        assert!(
            Verdict::of(&r)
                .sentence
                .starts_with("all 10 connections established, but 2 dropped while held")
        );
    }
}
