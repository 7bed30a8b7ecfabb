//! The one sentence at the end of a run: everything held, or where and why it stopped short and the fix.

use std::fmt::Write;

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
            let sentence = format!("all {} connections established and held", group(c.established));
            return Verdict { ok: true, limit: None, sentence };
        }
        let head = if short {
            format!("stopped at {} of {} connections", group(c.established), group(c.planned))
        } else {
            format!("all {} connections established, but {} dropped while held", group(c.established), group(c.dropped))
        };
        if let Some((limit, row, pairs)) = blamed(&r.errors) {
            let mut s = format!("{head}: {limit} for {}", route(row));
            if pairs > 1 {
                let _ = write!(s, " (and {} more pairs)", pairs - 1);
            }
            if let Some(key) = limit.sysctl() {
                let _ = write!(s, " ({key})");
            }
            let _ = write!(s, "; fix: {}", c1m_doctor::advice(limit).fix);
            return Verdict { ok: false, limit: Some(limit), sentence: s };
        }
        let sentence = if let Some(row) = r.errors.first() {
            format!(
                "{head}: {} x {} in {} for {}; no kernel limit explains it (check the target and the network)",
                group(row.count),
                row.name,
                row.phase,
                route(row)
            )
        } else {
            let why = match r.end {
                End::Duration => "--duration ran out before the schedule finished; raise --duration or --rate",
                End::Interrupted => "interrupted",
                End::WorkerLost => "a load worker process died (see its message above)",
                End::Completed => "connections were still in progress when the run ended; raise --connect-timeout",
            };
            format!("{head}: {why}")
        };
        Verdict { ok: false, limit: None, sentence }
    }
}

/// The limit with the most failures, its worst (source, target) row, and how many pairs hit it.
fn blamed(errors: &[ErrorCount]) -> Option<(Limit, &ErrorCount, usize)> {
    let mut best: Option<(Limit, u64)> = None;
    for limit in errors.iter().filter_map(|e| e.limit) {
        let total: u64 = errors.iter().filter(|e| e.limit == Some(limit)).map(|e| e.count).sum();
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

/// `1234567` as `1,234,567`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
