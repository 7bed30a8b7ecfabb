//! The self-contained HTML page of a load report (one run or shards merged): the same summary the terminal
//! shows, latency percentile curves as SVG, and the JSON report embedded. `c1m report show --html` writes it.

use std::fmt::Write;

use c1m_loadgen::{Latency, LoadReport, summary};

use crate::html::{CSS, end_with_data};
use crate::svg::{LineChart, Series, escape};

/// Id of the latency plot (tests look for it).
pub const LATENCY_PLOT_ID: &str = "plot-latency";

/// Percentiles the latency curves are drawn through.
const PERCENTILES: &[f64] = &[0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0];

/// Render `report` as one HTML document.
pub fn render_load(report: &LoadReport) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>c1m load: {} connections</title>\
         <style>{CSS}</style></head><body><h1>c1m load</h1><p class=\"verdict\">{}</p><pre>{}</pre>",
        report.plan.connections,
        escape(&report.verdict.sentence),
        escape(&summary(report))
    );
    let mut series = vec![
        curve("connect, from schedule", &report.connect_latency),
        curve("connect, from connect()", &report.connect_latency_from_start),
    ];
    if let Some(m) = &report.messages {
        series.push(curve("echo round trip, from schedule", &m.rtt));
        series.push(curve("echo round trip, from send", &m.rtt_from_send));
    }
    let chart = LineChart {
        id: LATENCY_PLOT_ID.to_string(),
        title: "Latency percentiles".to_string(),
        x_label: "percentile".to_string(),
        y_label: "milliseconds".to_string(),
        series,
    };
    let _ = write!(h, "<div class=\"plots\">{}</div>", chart.to_svg());
    end_with_data(&mut h, report);
    h
}

/// A latency histogram as (percentile, milliseconds) points; empty when it holds no sample.
fn curve(name: &str, latency: &Latency) -> Series {
    let points = if latency.count() == 0 {
        Vec::new()
    } else {
        PERCENTILES
            .iter()
            .map(|&p| (p, latency.quantile_us(p / 100.0) as f64 / 1000.0))
            .collect()
    };
    Series {
        name: name.to_string(),
        points,
    }
}
