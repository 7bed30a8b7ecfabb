//! The terminal summary of a [`LoadReport`]: what `c1m load` prints at the end and `c1m report show` prints
//! for a saved or merged report.

use std::fmt::Write;

use crate::latency::Latency;
use crate::report::LoadReport;
use c1m_doctor::thousands;

/// Render `r` as a few aligned tables followed by the verdict.
pub fn summary(r: &LoadReport) -> String {
    let mut s = String::new();
    let c = &r.counts;
    let shards = if r.plan.shard_count > 1 {
        let list: Vec<String> = r
            .shards
            .iter()
            .map(|s| format!("{}/{}", s.index, s.count))
            .collect();
        format!(", shards {}", list.join(" "))
    } else {
        String::new()
    };
    let targets: Vec<String> = r.plan.targets.iter().map(ToString::to_string).collect();
    let sources = match r.plan.sources.len() {
        0 => "chosen by the kernel".to_string(),
        1 => r.plan.sources[0].to_string(),
        n => format!("{n} ({} .. {})", r.plan.sources[0], r.plan.sources[n - 1]),
    };
    let _ = writeln!(
        s,
        "c1m load: {} connections at {}/s to {}",
        thousands(r.plan.connections),
        thousands(r.plan.rate),
        targets.join(", ")
    );
    let _ = writeln!(
        s,
        "  sources {sources}; {} worker process(es){shards}; ended: {:?}",
        r.workers, r.end
    );
    let _ = writeln!(s);
    let rows = [
        ("planned", c.planned),
        ("established", c.established),
        ("failed", c.failed),
        ("skipped (limit hit)", c.skipped),
        ("not started (run ended)", c.not_started),
        ("in flight at end", c.in_flight_at_end),
        ("dropped while held", c.dropped),
        ("open at end", c.open_at_end),
    ];
    for (name, n) in rows {
        let _ = writeln!(s, "  {name:<26}{:>12}", thousands(n));
    }
    let secs = r.ramp.settled_ms as f64 / 1000.0;
    let rate = if secs > 0.0 {
        c.established as f64 / secs
    } else {
        0.0
    };
    let _ = writeln!(
        s,
        "  {:<26}{:>12.1} s ({} /s average)",
        "ramp settled after",
        secs,
        thousands(rate.round() as u64)
    );
    let _ = writeln!(
        s,
        "  {:<26}{:>12} ms max ({} starts more than 10 ms late)",
        "behind schedule",
        thousands(r.ramp.max_behind_schedule_ms),
        thousands(r.ramp.late_starts)
    );
    if let Some(per) = r.memory.bytes_per_connection() {
        let _ = writeln!(
            s,
            "  {:<26}{:>12.1} bytes per open connection (worker RSS growth)",
            "user-space memory", per
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "  {:<34}{:>8}{:>10}{:>10}{:>10}{:>10}{:>10}",
        "latency (us)", "count", "p50", "p90", "p99", "p99.9", "max"
    );
    latency_row(&mut s, "connect, from schedule", &r.connect_latency);
    latency_row(&mut s, "connect, from connect()", &r.connect_latency_from_start);
    if let Some(m) = &r.messages {
        latency_row(&mut s, "echo RTT, from schedule", &m.rtt);
        latency_row(&mut s, "echo RTT, from send", &m.rtt_from_send);
        let _ = writeln!(
            s,
            "  messages: {} sent, {} echoed",
            thousands(m.sent),
            thousands(m.echoed)
        );
    }
    if !r.errors.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "  {:<9}{:<15}{:>10}  {:<44}limit",
            "phase", "errno", "count", "source -> target"
        );
        for e in &r.errors {
            let route = format!(
                "{} -> {}",
                e.source.map_or("*".to_string(), |ip| ip.to_string()),
                e.target
            );
            let limit = e.limit.map_or("-", |l| l.key());
            let _ = writeln!(
                s,
                "  {:<9}{:<15}{:>10}  {route:<44}{limit}",
                e.phase.key(),
                e.name,
                thousands(e.count)
            );
        }
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "{}", r.verdict.sentence);
    s
}

fn latency_row(s: &mut String, name: &str, l: &Latency) {
    let _ = writeln!(
        s,
        "  {name:<34}{:>8}{:>10}{:>10}{:>10}{:>10}{:>10}",
        l.count(),
        l.quantile_us(0.5),
        l.quantile_us(0.9),
        l.quantile_us(0.99),
        l.quantile_us(0.999),
        l.max_us()
    );
}
