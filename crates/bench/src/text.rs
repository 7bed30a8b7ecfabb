//! The terminal summary of a [`BenchReport`].

use std::fmt::Write;

use crate::report::{BenchReport, RunReport};
use c1m_doctor::{bytes, thousands};

/// One sentence: how many connections were held, at what cost per connection, and what stopped the ramp.
pub fn verdict(report: &BenchReport) -> String {
    let Some(run) = report.c1m_run() else {
        return "no ramp ran".to_string();
    };
    let mut s = format!("held {} connections", thousands(run.held_max));
    if let Some(step) = run.last_step() {
        let _ = write!(
            s,
            " ({:.1} s ramp); per connection: kernel {:.0} B, server user space {:.1} B, load user space {:.1} B",
            run.ramp_seconds,
            step.kernel_bytes_per_connection,
            step.server.bytes_per_connection,
            step.load.bytes_per_connection
        );
    }
    match &run.stopped_by {
        Some(stop) => {
            let _ = write!(s, "; stopped by {}", stop.reason);
        }
        None => match report.plan.connections {
            Some(n) if run.held_max < n => {
                let _ = write!(
                    s,
                    "; {} short of the target: dropped while held (see the load logs)",
                    n - run.held_max
                );
            }
            Some(_) => s.push_str("; target reached"),
            None => {}
        },
    }
    s
}

/// The multi-line summary printed at the end of a run.
pub fn summary(report: &BenchReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "c1m bench: {}", verdict(report));
    for run in &report.runs {
        run_lines(&mut s, run);
    }
    if !report.comparison.is_empty() {
        let _ = writeln!(
            s,
            "\n{:<36} {:>14} {:>14} {:>10}",
            "figure", "c1m", "baseline", "ratio"
        );
        for c in &report.comparison {
            let ratio = c.ratio.map_or("-".to_string(), |r| format!("{r:.2}x"));
            let _ = writeln!(
                s,
                "{:<36} {:>14.1} {:>14.1} {:>10}  ({})",
                c.figure,
                c.c1m,
                c.other,
                ratio,
                c.baseline.name()
            );
        }
    }
    for t in &report.tuned {
        let state = if t.after == t.before {
            "restored"
        } else {
            "NOT RESTORED"
        };
        let _ = writeln!(
            s,
            "tuned {} = {} for the run (was {}; now {}: {state})",
            t.key, t.during, t.before, t.after
        );
    }
    s
}

fn run_lines(s: &mut String, run: &RunReport) {
    let _ = writeln!(
        s,
        "\n{} server: {} connections held",
        run.server.name(),
        thousands(run.held_max)
    );
    let _ = writeln!(
        s,
        "{:>4} {:>7} {:>11} {:>9} {:>9} {:>9} {:>10} {:>10} {:>8} {:>8} {:>14}",
        "step",
        "t (s)",
        "conns",
        "rate/s",
        "slab B",
        "sock B",
        "server B",
        "load B",
        "srv cpu",
        "load cpu",
        "rtt p50/p99 us"
    );
    for st in &run.steps {
        let rtt = st
            .rtt
            .map_or("-".to_string(), |r| format!("{:.0}/{:.0}", r.p50_us, r.p99_us));
        let _ = writeln!(
            s,
            "{:>4} {:>7.1} {:>11} {:>9.0} {:>9.0} {:>9.0} {:>10.1} {:>10.1} {:>8.2} {:>8.2} {:>14}",
            st.step,
            st.t_s,
            thousands(st.connections),
            st.ramp_rate,
            st.kernel_bytes_per_connection,
            st.socket_slab_bytes_per_connection,
            st.server.bytes_per_connection,
            st.load.bytes_per_connection,
            st.server.cpu_seconds,
            st.load.cpu_seconds,
            rtt
        );
    }
    if let Some(st) = run.last_step() {
        let _ = writeln!(
            s,
            "memory: kernel slab +{}, server RSS {} ({} processes), load RSS {} ({} processes), MemAvailable {}",
            bytes(st.kernel_bytes),
            bytes(st.server.rss_bytes),
            st.server.processes,
            bytes(st.load.rss_bytes),
            st.load.processes,
            bytes(st.mem_available_bytes)
        );
    }
    let t = &run.teardown;
    let _ = writeln!(
        s,
        "teardown: {} in {:.2} s (destroy {:.2} s), TIME_WAIT after {}, TIME_WAIT overflow {}",
        t.method, t.seconds, t.destroy_seconds, t.time_wait_after, t.time_wait_overflow
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests_support::sample_report;

    #[test]
    fn verdict_names_costs_and_outcome() {
        let mut r = sample_report();
        let v = verdict(&r);
        assert!(v.starts_with("held 5,000 connections"), "{v}");
        assert!(
            v.contains("kernel 7900 B") && v.ends_with("target reached"),
            "{v}"
        );
        r.runs[0].stopped_by = Some(crate::report::Stop {
            limit: None,
            reason: "memory: MemAvailable below the 15% margin".into(),
        });
        assert!(verdict(&r).ends_with("stopped by memory: MemAvailable below the 15% margin"));
    }

    #[test]
    fn summary_lists_steps_ratios_and_restores() {
        let s = summary(&sample_report());
        assert!(s.contains("c1m server: 5,000 connections held"));
        assert!(s.contains("go server"));
        assert!(s.contains("ramp seconds"));
        assert!(s.contains("fs.file-max = 4194304 for the run (was 2466174; now 2466174: restored)"));
    }
}
