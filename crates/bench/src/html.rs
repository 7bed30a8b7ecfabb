//! The self-contained HTML report: tables and hand-written SVG plots rendered from a [`BenchReport`], with
//! the JSON report embedded. No scripts run and nothing is fetched.

use std::fmt::Write;

use c1m_doctor::bytes;

use crate::report::{BenchReport, RunReport, StepSample};
use crate::svg::{LineChart, Series, escape, si};

/// Ids of the plots every report contains (tests look for them).
pub const PLOT_IDS: &[&str] = &[
    "plot-connections",
    "plot-kernel-bytes",
    "plot-user-bytes",
    "plot-ramp-rate",
    "plot-rtt",
    "plot-cpu",
];

/// Render the report as one HTML document.
pub fn render(report: &BenchReport) -> String {
    let mut h = String::new();
    let target = report
        .plan
        .connections
        .map_or("max".to_string(), |n| n.to_string());
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>c1m bench: {} connections</title><style>{CSS}</style></head><body>",
        escape(&target)
    );
    let _ = write!(
        h,
        "<h1>c1m bench</h1><p class=\"verdict\">{}</p>",
        escape(&crate::text::verdict(report))
    );
    machine_table(&mut h, report);
    for run in &report.runs {
        run_section(&mut h, run);
    }
    plots(&mut h, report);
    comparison_table(&mut h, report);
    preflight_table(&mut h, report);
    tuned_table(&mut h, report);
    end_with_data(&mut h, report);
    h
}

/// Close the document after embedding `data` as JSON (inert: a `application/json` script never runs), so
/// the page carries the machine-readable report it was drawn from.
pub(crate) fn end_with_data(h: &mut String, data: &impl serde::Serialize) {
    let json = serde_json::to_string(data)
        .unwrap_or_default()
        .replace("</", "<\\/");
    let _ = write!(
        h,
        "<script type=\"application/json\" id=\"report-data\">{json}</script></body></html>"
    );
}

pub(crate) const CSS: &str = "body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
th{background:#f4f4f4}td.l,th.l{text-align:left}.verdict{font-size:1.2em}.plots svg{margin:8px 0;display:block}\
.bad{color:#b00}";

fn machine_table(h: &mut String, r: &BenchReport) {
    let m = &r.machine;
    let p = &r.plan;
    let rows = [
        ("kernel", m.kernel.clone()),
        ("cpus", m.cpus.to_string()),
        (
            "memory",
            format!(
                "{} total, {} available",
                bytes(m.mem_total_bytes),
                bytes(m.mem_available_bytes)
            ),
        ),
        ("fd limit per process", m.fd_limit.to_string()),
        (
            "target",
            p.connections
                .map_or("max (until memory or a limit stops it)".into(), |n| n.to_string()),
        ),
        ("mode", p.mode.clone()),
        ("rate", format!("{}/s", p.rate)),
        ("steps", format!("{} of {}", p.steps, p.step_connections)),
        ("tune", p.tune.to_string()),
        ("network namespaces", p.netns.to_string()),
    ];
    h.push_str("<h2>Set-up</h2><table>");
    for (k, v) in rows {
        let _ = write!(
            h,
            "<tr><th class=\"l\">{k}</th><td class=\"l\">{}</td></tr>",
            escape(&v)
        );
    }
    h.push_str("</table>");
}

fn run_section(h: &mut String, run: &RunReport) {
    let _ = write!(
        h,
        "<h2>{} server: {} connections held</h2><p>ramp {:.1} s; {}</p>",
        run.server.name(),
        run.held_max,
        run.ramp_seconds,
        escape(
            &run.stopped_by
                .as_ref()
                .map_or("reached the target".to_string(), |s| s.reason.clone())
        )
    );
    h.push_str(
        "<table><tr><th>step</th><th>t (s)</th><th>connections</th><th>ramp rate/s</th><th>Slab B/conn</th><th>socket caches B/conn</th>\
         <th>server B/conn</th><th>load B/conn</th><th>server CPU s</th><th>load CPU s</th><th>processes</th>\
         <th>MemAvailable</th><th>RTT p50/p99 (µs)</th></tr>",
    );
    for s in &run.steps {
        step_row(h, s);
    }
    let t = &run.teardown;
    let _ = write!(
        h,
        "</table><p>teardown: {} in {:.2} s (destroy {:.2} s); TIME_WAIT after: {}; TIME_WAIT overflow: <span class=\"{}\">{}</span></p>",
        escape(&t.method),
        t.seconds,
        t.destroy_seconds,
        t.time_wait_after,
        if t.time_wait_overflow > 0 { "bad" } else { "" },
        t.time_wait_overflow
    );
}

fn step_row(h: &mut String, s: &StepSample) {
    let rtt = s
        .rtt
        .map_or("-".to_string(), |r| format!("{:.0} / {:.0}", r.p50_us, r.p99_us));
    let _ = write!(
        h,
        "<tr><td>{}</td><td>{:.1}</td><td>{}</td><td>{:.0}</td><td>{:.0}</td><td>{:.0}</td><td>{:.1}</td><td>{:.1}</td>\
         <td>{:.2}</td><td>{:.2}</td><td>{} + {}</td><td>{}</td><td>{rtt}</td></tr>",
        s.step,
        s.t_s,
        s.connections,
        s.ramp_rate,
        s.kernel_bytes_per_connection,
        s.socket_slab_bytes_per_connection,
        s.server.bytes_per_connection,
        s.load.bytes_per_connection,
        s.server.cpu_seconds,
        s.load.cpu_seconds,
        s.server.processes,
        s.load.processes,
        bytes(s.mem_available_bytes)
    );
}

/// One curve per run of `value` against connections at each step.
fn per_step(report: &BenchReport, label: &str, value: impl Fn(&StepSample) -> Option<f64>) -> Vec<Series> {
    report
        .runs
        .iter()
        .map(|run| Series {
            name: format!("{} {label}", run.server.name()).trim().to_string(),
            points: run
                .steps
                .iter()
                .filter_map(|s| value(s).map(|v| (s.connections as f64, v)))
                .collect(),
        })
        .collect()
}

fn plots(h: &mut String, r: &BenchReport) {
    let chart = |id: &str, title: &str, x: &str, y: &str, series: Vec<Series>| {
        LineChart {
            id: id.into(),
            title: title.into(),
            x_label: x.into(),
            y_label: y.into(),
            series,
        }
        .to_svg()
    };
    let timeline = r
        .runs
        .iter()
        .map(|run| Series {
            name: run.server.name().to_string(),
            points: run
                .timeline
                .iter()
                .map(|p| (p.t_s, p.connections as f64))
                .collect(),
        })
        .collect();
    let mut kernel = per_step(r, "Slab", |s| Some(s.kernel_bytes_per_connection));
    kernel.extend(per_step(r, "socket caches", |s| {
        Some(s.socket_slab_bytes_per_connection)
    }));
    let mut user = per_step(r, "server", |s| Some(s.server.bytes_per_connection));
    user.extend(per_step(r, "load", |s| Some(s.load.bytes_per_connection)));
    let mut rtt = per_step(r, "p50", |s| s.rtt.map(|p| p.p50_us));
    rtt.extend(per_step(r, "p99", |s| s.rtt.map(|p| p.p99_us)));
    rtt.extend(per_step(r, "p99.9", |s| s.rtt.map(|p| p.p999_us)));
    let mut cpu = per_step(r, "server", |s| Some(s.server.cpu_seconds));
    cpu.extend(per_step(r, "load", |s| Some(s.load.cpu_seconds)));
    let svgs = [
        chart(
            PLOT_IDS[0],
            "Connections held over time",
            "seconds",
            "connections",
            timeline,
        ),
        chart(
            PLOT_IDS[1],
            "Kernel slab bytes per connection (both ends)",
            "connections",
            "bytes per connection",
            kernel,
        ),
        chart(
            PLOT_IDS[2],
            "User-space bytes per connection",
            "connections",
            "bytes per connection",
            user,
        ),
        chart(
            PLOT_IDS[3],
            "Ramp rate per step",
            "connections",
            "new connections per second",
            per_step(r, "", |s| Some(s.ramp_rate)),
        ),
        chart(
            PLOT_IDS[4],
            "Echo round trip (echo mode only)",
            "connections",
            "microseconds",
            rtt,
        ),
        chart(
            PLOT_IDS[5],
            "CPU seconds (cumulative)",
            "connections",
            "CPU seconds",
            cpu,
        ),
    ];
    h.push_str("<h2>Plots</h2><div class=\"plots\">");
    for svg in svgs {
        h.push_str(&svg);
    }
    h.push_str("</div>");
}

fn comparison_table(h: &mut String, r: &BenchReport) {
    if r.comparison.is_empty() {
        return;
    }
    h.push_str("<h2>Comparison</h2><table><tr><th class=\"l\">figure</th><th>c1m</th><th class=\"l\">baseline</th><th>baseline value</th><th>baseline / c1m</th></tr>");
    for c in &r.comparison {
        let ratio = c.ratio.map_or("-".to_string(), |x| format!("{x:.2}×"));
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td class=\"l\">{}</td><td>{}</td><td>{ratio}</td></tr>",
            escape(&c.figure),
            si(c.c1m),
            c.baseline.name(),
            si(c.other)
        );
    }
    h.push_str("</table>");
}

fn preflight_table(h: &mut String, r: &BenchReport) {
    h.push_str("<h2>Doctor before the run</h2>");
    if r.preflight.is_empty() {
        h.push_str("<p>nothing stands in the way of the target</p>");
        return;
    }
    h.push_str(
        "<table><tr><th class=\"l\">limit</th><th class=\"l\">status</th><th class=\"l\">finding</th></tr>",
    );
    for n in &r.preflight {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
            escape(n.limit.title()),
            escape(&n.status),
            escape(&n.message)
        );
    }
    h.push_str("</table>");
}

fn tuned_table(h: &mut String, r: &BenchReport) {
    if r.tuned.is_empty() {
        return;
    }
    h.push_str("<h2>Sysctls tuned for the run</h2><table><tr><th class=\"l\">key</th><th class=\"l\">before</th><th class=\"l\">during</th><th class=\"l\">after</th></tr>");
    for t in &r.tuned {
        let class = if t.after == t.before { "l" } else { "l bad" };
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"{class}\">{}</td></tr>",
            escape(&t.key),
            escape(&t.before),
            escape(&t.during),
            escape(&t.after)
        );
    }
    h.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests_support::sample_report;

    #[test]
    fn contains_every_plot_and_the_embedded_json() {
        let report = sample_report();
        let html = render(&report);
        for id in PLOT_IDS {
            assert!(html.contains(&format!("id=\"{id}\"")), "missing {id}");
        }
        // Self-contained: nothing to fetch (the SVG namespace URI is a name, not a request).
        for fetch in ["src=", "href=", "url(", "@import", "https://"] {
            assert!(!html.contains(fetch), "{fetch} in the report");
        }
        let start = html.find("id=\"report-data\">").unwrap() + "id=\"report-data\">".len();
        let end = html[start..].find("</script>").unwrap();
        let back: BenchReport =
            serde_json::from_str(&html[start..start + end].replace("<\\/", "</")).unwrap();
        assert_eq!(back, report);
    }
}
