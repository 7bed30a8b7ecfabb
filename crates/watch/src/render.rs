//! Human renderings of a [`Sample`]: a one-line summary per interval and a full report, both built from
//! the same text the live screen shows.

use std::fmt::Write;

use crate::{EstablishedSource, Sample, TcpState};

/// How a report line should stand out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emphasis {
    /// A section title.
    Heading,
    /// Ordinary text.
    Plain,
    /// A limit close to being hit or a rising trouble counter.
    Alert,
}

/// One line of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLine {
    /// How it should stand out.
    pub emphasis: Emphasis,
    /// The text.
    pub text: String,
}

/// One line per sample for logs and pipes: every state, memory per connection, and the sampling cost.
pub fn summary_line(s: &Sample) -> String {
    let mut out = String::new();
    for (state, n) in s.states.iter() {
        let _ = write!(out, "{}={} ", state.ss_name().to_ascii_lowercase(), n);
    }
    if let Some(b) = s.memory.bytes_per_established {
        let _ = write!(out, "slab/estab={b}B ");
    }
    if let Some(a) = s.memory.mem_available {
        let _ = write!(out, "avail={} ", bytes(a));
    }
    let _ = write!(
        out,
        "alerts={} dump={} sample={}",
        s.alerts.len(),
        micros(s.cost.dump_us),
        micros(s.cost.total_us)
    );
    out
}

/// A full report: states, listeners, memory, counters, limits, alerts and cost.
pub fn report(s: &Sample) -> Vec<ReportLine> {
    let mut r = Vec::new();
    let head = |r: &mut Vec<ReportLine>, t: &str| {
        r.push(ReportLine {
            emphasis: Emphasis::Heading,
            text: t.into(),
        })
    };
    let plain = |r: &mut Vec<ReportLine>, t: String| {
        r.push(ReportLine {
            emphasis: Emphasis::Plain,
            text: t,
        })
    };

    let filter = if s.ports.is_empty() {
        "all ports".to_string()
    } else {
        s.ports
            .iter()
            .map(|p| format!("port {p}"))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    head(&mut r, &format!("TCP sockets ({filter})"));
    plain(
        &mut r,
        format!("  {:<12}{:>12}{:>12}{:>12}", "state", "total", "ipv4", "ipv6"),
    );
    for state in TcpState::ALL {
        let total = s.states.get(state);
        if total > 0
            || matches!(
                state,
                TcpState::Established | TcpState::TimeWait | TcpState::Listen
            )
        {
            plain(
                &mut r,
                format!(
                    "  {:<12}{:>12}{:>12}{:>12}",
                    state.ss_name(),
                    total,
                    s.ipv4.get(state),
                    s.ipv6.get(state)
                ),
            );
        }
    }
    plain(&mut r, format!("  {:<12}{:>12}", "all", s.states.total()));
    if s.established_from == EstablishedSource::Counter {
        plain(
            &mut r,
            "  (IPv4 ESTAB from Tcp.CurrEstab; --exact dumps every socket)".into(),
        );
    }
    if !s.listeners.is_empty() {
        head(&mut r, "Listeners (accept queue now / backlog)");
        for l in s.listeners.iter().take(8) {
            plain(
                &mut r,
                format!(
                    "  {:<28}{:>8} / {:<8}",
                    l.local.to_string(),
                    l.accept_queue,
                    l.backlog
                ),
            );
        }
        if s.listeners.len() > 8 {
            plain(&mut r, format!("  ... and {} more", s.listeners.len() - 8));
        }
    }
    head(&mut r, "Kernel memory");
    let m = &s.memory;
    for u in &m.slab {
        plain(
            &mut r,
            format!(
                "  {:<20}{:>12} x {:>5} B = {:>10}",
                u.cache,
                u.objects,
                u.footprint,
                bytes(u.bytes)
            ),
        );
    }
    plain(
        &mut r,
        format!(
            "  sockets {}   /proc/PID/fd entries {}   minisockets {}",
            bytes(m.socket_slab_bytes),
            bytes(m.proc_fd_slab_bytes),
            bytes(m.minisocket_slab_bytes)
        ),
    );
    if let (Some(b), Some(with_proc)) = (m.bytes_per_established, m.bytes_per_established_with_proc_fd) {
        plain(
            &mut r,
            format!("  per ESTABLISHED socket {b} B ({with_proc} B with /proc/PID/fd entries)"),
        );
    }
    if let (Some(slab), Some(avail)) = (m.slab_total, m.mem_available) {
        plain(
            &mut r,
            format!("  Slab {}   MemAvailable {}", bytes(slab), bytes(avail)),
        );
    }
    if let Some(pages) = m.tcp_buffer_pages {
        let mem = m.tcp_mem.map_or(String::new(), |t| {
            format!(" (tcp_mem {} {} {})", t.min, t.mid, t.max)
        });
        plain(&mut r, format!("  TCP buffers {pages} pages{mem}"));
    }
    head(&mut r, "Limits");
    if let Some(f) = s.files {
        plain(&mut r, format!("  open files {} of {}", f.allocated, f.max));
    }
    if let Some(c) = s.conntrack {
        plain(&mut r, format!("  conntrack {} of {}", c.count, c.max));
    }
    for p in &s.processes {
        let show = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        plain(
            &mut r,
            format!(
                "  pid {} fds {} of {}",
                p.pid,
                show(p.open_fds),
                show(p.nofile_soft)
            ),
        );
    }
    for c in &s.counters {
        let delta = c.delta.map_or(String::new(), |d| format!(" (+{d})"));
        plain(&mut r, format!("  {:<28}{:>12}{delta}", c.name, c.value));
    }
    if !s.alerts.is_empty() {
        head(&mut r, "Alerts");
        for a in &s.alerts {
            r.push(ReportLine {
                emphasis: Emphasis::Alert,
                text: format!("  ! {a}"),
            });
        }
    }
    plain(
        &mut r,
        format!(
            "sampled in {} (sock_diag {} for {} sockets in {} reads)",
            micros(s.cost.total_us),
            micros(s.cost.dump_us),
            s.cost.dumped_sockets,
            s.cost.dump_reads
        ),
    );
    r
}

fn micros(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.0}ms", us as f64 / 1000.0)
    } else {
        format!("{:.2}ms", us as f64 / 1000.0)
    }
}

fn bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut unit = "B";
    for u in UNITS {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    if unit == "B" {
        format!("{b} B")
    } else {
        format!("{v:.1} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(micros(1500), "1.50ms");
        assert_eq!(micros(250_000), "250ms");
    }
}
