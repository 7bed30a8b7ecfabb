use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

use c1m_doctor::{bytes, thousands};
use c1m_kernel::Limit;
use serde::Serialize;

use crate::{Counters, Mode};

/// What `serve --json` prints: one `ready` line, then a `stats` line per interval (schema in docs/serve.md).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServeEvent {
    /// Every worker is listening.
    Ready(ReadyInfo),
    /// Periodic (and final) status.
    Stats(ServeStatus),
}

/// The one-time facts printed once every worker listens.
#[derive(Debug, Clone, Serialize)]
pub struct ReadyInfo {
    /// Unix time in milliseconds.
    pub ts_ms: u64,
    /// The bound addresses (real ports when 0 was asked for).
    pub listen: Vec<SocketAddr>,
    /// What connections get.
    pub mode: Mode,
    /// Worker processes.
    pub workers: usize,
    /// Event-loop threads per worker.
    pub threads: usize,
    /// The backlog asked for.
    pub backlog: u32,
    /// net.core.somaxconn, if readable.
    pub somaxconn: Option<u64>,
    /// min(backlog, somaxconn): the accept queue the kernel really gives each listener.
    pub effective_backlog: u64,
    /// Where Prometheus text is served, if asked for.
    pub metrics: Option<SocketAddr>,
    /// The supervisor's process id.
    pub pid: u32,
}

/// The state of the whole server at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct ServeStatus {
    /// Unix time in milliseconds.
    pub ts_ms: u64,
    /// Seconds since the workers were ready.
    pub uptime_s: f64,
    /// Connections held now (all workers).
    pub connections: u64,
    /// Connections accepted since start (including workers since restarted).
    pub accepted: u64,
    /// Connections closed since start.
    pub closed: u64,
    /// Bytes read from peers.
    pub bytes_in: u64,
    /// Bytes written to peers.
    pub bytes_out: u64,
    /// Accepts per second over the last interval.
    pub accepts_per_sec: f64,
    /// Connections closed by the idle timeout.
    pub closed_idle: u64,
    /// Echo connections closed at the pending-bytes cap.
    pub closed_pending_cap: u64,
    /// Accept pauses by the limit that refused a socket.
    pub accept_pauses: BTreeMap<Limit, u64>,
    /// Sum of the workers' VmRSS now.
    pub rss_bytes: u64,
    /// Sum of the workers' VmRSS when they became ready (before any connection).
    pub rss_baseline_bytes: u64,
    /// (rss_bytes - rss_baseline_bytes) / connections: the user-space cost of a held connection.
    pub user_bytes_per_connection: Option<f64>,
    /// Worker processes restarted after dying.
    pub workers_restarted: u64,
    /// min(backlog, somaxconn).
    pub effective_backlog: u64,
    /// `TcpExt.ListenOverflows` since start (machine-wide: the accept queue of some listener was full).
    pub listen_overflows: Option<u64>,
    /// Per worker.
    pub workers: Vec<WorkerStatus>,
}

/// One worker's share.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerStatus {
    /// Index (stable across restarts).
    pub index: usize,
    /// Process id, `None` while it is being restarted.
    pub pid: Option<u32>,
    /// Connections it holds.
    pub connections: u64,
    /// Its VmRSS.
    pub rss_bytes: u64,
}

impl ServeStatus {
    /// Fill the derived fields from merged counters.
    pub(crate) fn from_counters(c: &Counters) -> ServeStatus {
        ServeStatus {
            ts_ms: 0,
            uptime_s: 0.0,
            connections: c.connections(),
            accepted: c.accepted,
            closed: c.closed,
            bytes_in: c.bytes_in,
            bytes_out: c.bytes_out,
            accepts_per_sec: 0.0,
            closed_idle: c.closed_idle,
            closed_pending_cap: c.closed_pending_cap,
            accept_pauses: c.accept_pauses.clone(),
            rss_bytes: 0,
            rss_baseline_bytes: 0,
            user_bytes_per_connection: None,
            workers_restarted: 0,
            effective_backlog: 0,
            listen_overflows: None,
            workers: Vec::new(),
        }
    }

    /// The console status line.
    pub fn line(&self) -> String {
        let (min, max) = self.workers.iter().fold((u64::MAX, 0), |(lo, hi), w| {
            (lo.min(w.connections), hi.max(w.connections))
        });
        let per_conn = self
            .user_bytes_per_connection
            .map_or("-".to_string(), |b| format!("{b:.1} B"));
        let mut line = format!(
            "held {} | {:.0} accepts/s | accepted {} closed {} | in {} out {} | user {}/conn | {} workers (min {} max {})",
            thousands(self.connections),
            self.accepts_per_sec,
            thousands(self.accepted),
            thousands(self.closed),
            bytes(self.bytes_in),
            bytes(self.bytes_out),
            per_conn,
            self.workers.len(),
            thousands(if self.workers.is_empty() { 0 } else { min }),
            thousands(max),
        );
        if self.workers_restarted > 0 {
            let _ = write!(line, " | restarts {}", self.workers_restarted);
        }
        if let Some(n) = self.listen_overflows.filter(|n| *n > 0) {
            let _ = write!(line, " | ListenOverflows {}", thousands(n));
        }
        for (limit, n) in &self.accept_pauses {
            let _ = write!(line, " | paused by {limit}: {n}");
        }
        line
    }

    /// Prometheus text exposition (version 0.0.4).
    pub fn prometheus(&self) -> String {
        let mut s = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
            let _ = writeln!(
                s,
                "# HELP c1m_serve_{name} {help}\n# TYPE c1m_serve_{name} {kind}\nc1m_serve_{name} {value}"
            );
        };
        metric(
            "connections",
            "gauge",
            "Connections held now.",
            self.connections as f64,
        );
        metric(
            "accepted_total",
            "counter",
            "Connections accepted.",
            self.accepted as f64,
        );
        metric(
            "closed_total",
            "counter",
            "Connections closed.",
            self.closed as f64,
        );
        metric(
            "bytes_in_total",
            "counter",
            "Bytes read from peers.",
            self.bytes_in as f64,
        );
        metric(
            "bytes_out_total",
            "counter",
            "Bytes written to peers.",
            self.bytes_out as f64,
        );
        metric(
            "closed_idle_total",
            "counter",
            "Connections closed by the idle timeout.",
            self.closed_idle as f64,
        );
        metric(
            "closed_pending_cap_total",
            "counter",
            "Echo connections closed at the pending cap.",
            self.closed_pending_cap as f64,
        );
        metric(
            "rss_bytes",
            "gauge",
            "Resident memory of all workers.",
            self.rss_bytes as f64,
        );
        metric(
            "rss_baseline_bytes",
            "gauge",
            "Resident memory of all workers before any connection.",
            self.rss_baseline_bytes as f64,
        );
        metric(
            "user_bytes_per_connection",
            "gauge",
            "User-space bytes per held connection.",
            self.user_bytes_per_connection.unwrap_or(0.0),
        );
        metric(
            "workers_restarted_total",
            "counter",
            "Worker processes restarted.",
            self.workers_restarted as f64,
        );
        metric(
            "effective_backlog",
            "gauge",
            "min(backlog, somaxconn).",
            self.effective_backlog as f64,
        );
        metric(
            "listen_overflows_total",
            "counter",
            "TcpExt ListenOverflows since start.",
            self.listen_overflows.unwrap_or(0) as f64,
        );
        let _ = writeln!(
            s,
            "# HELP c1m_serve_accept_pauses_total Accept pauses by the limit that refused a socket.\n# TYPE c1m_serve_accept_pauses_total counter"
        );
        for (limit, n) in &self.accept_pauses {
            let _ = writeln!(
                s,
                "c1m_serve_accept_pauses_total{{limit=\"{}\"}} {n}",
                limit.key()
            );
        }
        let _ = writeln!(
            s,
            "# HELP c1m_serve_worker_connections Connections held by each worker.\n# TYPE c1m_serve_worker_connections gauge"
        );
        for w in &self.workers {
            let _ = writeln!(
                s,
                "c1m_serve_worker_connections{{worker=\"{}\"}} {}",
                w.index, w.connections
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ServeStatus {
        let mut c = Counters {
            accepted: 1_234_567,
            closed: 567,
            bytes_in: 2048,
            ..Counters::default()
        };
        c.accept_pauses.insert(Limit::NofileSoft, 3);
        let mut s = ServeStatus::from_counters(&c);
        s.user_bytes_per_connection = Some(8.25);
        s.workers = vec![
            WorkerStatus {
                index: 0,
                pid: Some(10),
                connections: 600_000,
                rss_bytes: 1,
            },
            WorkerStatus {
                index: 1,
                pid: None,
                connections: 634_000,
                rss_bytes: 1,
            },
        ];
        s
    }

    #[test]
    fn console_line() {
        let line = sample().line();
        assert!(line.starts_with("held 1,234,000 |"), "{line}");
        assert!(line.contains("in 2.0 KiB out 0 B"), "{line}");
        assert!(line.contains("user 8.2 B/conn"), "{line}");
        assert!(line.contains("2 workers (min 600,000 max 634,000)"), "{line}");
        assert!(line.contains("paused by RLIMIT_NOFILE soft: 3"), "{line}");
    }

    #[test]
    fn prometheus_text() {
        let text = sample().prometheus();
        assert!(text.contains("\nc1m_serve_connections 1234000\n"), "{text}");
        assert!(
            text.contains("c1m_serve_accept_pauses_total{limit=\"nofile_soft\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("c1m_serve_worker_connections{worker=\"1\"} 634000"),
            "{text}"
        );
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "bad sample line: {line}");
        }
    }

    #[test]
    fn stats_json_is_tagged() {
        let json = serde_json::to_value(ServeEvent::Stats(sample())).unwrap();
        assert_eq!(json["type"], "stats");
        assert_eq!(json["connections"], 1_234_000);
        assert_eq!(json["accept_pauses"]["nofile_soft"], 3);
    }
}
