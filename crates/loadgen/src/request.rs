//! From command-line intent to a [`LoadPlan`]: resolve targets, refuse remote ones unless allowed, read this
//! machine's port range and fd limit, pick sources and workers, and check the plan fits.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::plan::{CloseWith, LoadPlan, MessagePlan, Shard};
use crate::sources::{SourceSpec, loopback_sources, sources_needed};
use c1m_kernel::{PortRange, ProcRoot, ReservedPorts, raise_nofile_soft, read_sysctl, workers_needed};

/// Slack added to the default `--duration` beyond twice the ramp, the connect timeout and the hold.
const DEFAULT_DURATION_SLACK: Duration = Duration::from_secs(30);
/// Largest echo message: one message must fit a socket buffer comfortably.
const MAX_MESSAGE_BYTES: u32 = 1 << 20;

/// What the user asked `c1m load` for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `host:port` targets as typed.
    pub targets: Vec<String>,
    /// Connections over all shards.
    pub connections: u64,
    /// Connections per second over all shards.
    pub rate: u64,
    /// `--sources`.
    pub sources: SourceSpec,
    /// `--workers`; `None` is auto (as many as the fd limit needs).
    pub workers: Option<u32>,
    /// `--hold`.
    pub hold: Duration,
    /// `--connect-timeout`.
    pub connect_timeout: Duration,
    /// `--message` and `--message-rate`.
    pub message: Option<MessagePlan>,
    /// `--duration`; `None` is twice the ramp + connect timeout + hold + 30 s.
    pub duration: Option<Duration>,
    /// `--shard`.
    pub shard: Shard,
    /// `--allow-remote`.
    pub allow_remote: bool,
    /// `--close-with`.
    pub close_with: CloseWith,
}

/// A request that cannot become a plan. Every message names the bad input and what to do.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// A target does not parse or resolve.
    #[error("invalid target '{0}': expected host:port such as 127.0.0.1:7000")]
    BadTarget(String),
    /// A target outside loopback without `--allow-remote`.
    #[error(
        "target {0} is not a loopback address; c1m load refuses remote targets unless --allow-remote is given"
    )]
    Remote(SocketAddr),
    /// Source and target address families differ.
    #[error(
        "source {src} and target {target} are different address families; use sources of the targets' family"
    )]
    Family {
        /// The source.
        src: std::net::IpAddr,
        /// The target.
        target: SocketAddr,
    },
    /// `--sources auto` cannot be satisfied.
    #[error("{0}")]
    Sources(String),
    /// Too few workers for the fd limit.
    #[error(
        "--workers {workers} cannot hold {connections} connections with {fd_limit} fds per process; use --workers auto or at least {needed}"
    )]
    TooFewWorkers {
        /// Requested workers.
        workers: u32,
        /// Connections of this shard.
        connections: u64,
        /// The soft fd limit.
        fd_limit: u64,
        /// Workers that would do.
        needed: u64,
    },
    /// `--workers 0`.
    #[error("invalid --workers 0: expected at least 1, or auto")]
    ZeroWorkers,
    /// A message size out of range.
    #[error("invalid --message {0}: expected 1 to 1048576 bytes")]
    MessageSize(u64),
    /// The shard has no connection.
    #[error("shard {0}/{1} gets no connection of {2}; use fewer shards than connections")]
    EmptyShard(u32, u32, u64),
}

impl Request {
    /// Turn the request into a plan for this machine.
    pub fn resolve(&self) -> Result<LoadPlan, RequestError> {
        let targets = self.resolve_targets()?;
        let root = ProcRoot::live();
        let port_range = read_sysctl(&root, "net.ipv4.ip_local_port_range")
            .ok()
            .flatten()
            .and_then(|t| PortRange::parse(&t).ok())
            .unwrap_or(PortRange::DEFAULT);
        let reserved = read_sysctl(&root, "net.ipv4.ip_local_reserved_ports")
            .ok()
            .flatten()
            .and_then(|t| ReservedPorts::parse(&t).ok())
            .map_or(0, |r| r.overlap(port_range));
        let sources = match &self.sources {
            SourceSpec::Kernel => Vec::new(),
            SourceSpec::List(list) => list.clone(),
            SourceSpec::Auto => {
                let usable = port_range.len().saturating_sub(reserved);
                loopback_sources(&targets, sources_needed(self.connections, targets.len(), usable))
                    .map_err(RequestError::Sources)?
            }
        };
        if let Some((&source, &target)) = sources
            .iter()
            .flat_map(|s| targets.iter().map(move |t| (s, t)))
            .find(|(s, t)| s.is_ipv4() != t.is_ipv4())
        {
            return Err(RequestError::Family { src: source, target });
        }
        if let Some(m) = self.message
            && (m.bytes == 0 || m.bytes > MAX_MESSAGE_BYTES)
        {
            return Err(RequestError::MessageSize(u64::from(m.bytes)));
        }
        let mut plan = LoadPlan {
            connections: self.connections,
            rate: self.rate,
            targets,
            sources,
            port_range,
            connect_timeout_ms: self.connect_timeout.as_millis() as u64,
            hold_ms: self.hold.as_millis() as u64,
            duration_ms: 0,
            message: self.message,
            shard: self.shard,
            workers: 1,
            close_with: self.close_with,
        };
        let shard_connections = plan.shard_connections();
        if shard_connections == 0 {
            return Err(RequestError::EmptyShard(
                self.shard.index,
                self.shard.count,
                self.connections,
            ));
        }
        // Raise the soft fd limit first: workers inherit it (and raise their own again before exec).
        let fd_limit = raise_nofile_soft().unwrap_or_else(|_| c1m_kernel::own_nofile().soft.unwrap_or(1024));
        let needed = workers_needed(shard_connections, fd_limit, 0);
        plan.workers = match self.workers {
            None => needed as u32,
            Some(0) => return Err(RequestError::ZeroWorkers),
            Some(w) if u64::from(w) < needed => {
                return Err(RequestError::TooFewWorkers {
                    workers: w,
                    connections: shard_connections,
                    fd_limit,
                    needed,
                });
            }
            Some(w) => w,
        };
        let ramp = plan.ramp();
        plan.duration_ms = self
            .duration
            .unwrap_or(2 * ramp + self.connect_timeout + self.hold + DEFAULT_DURATION_SLACK)
            .as_millis() as u64;
        Ok(plan)
    }

    fn resolve_targets(&self) -> Result<Vec<SocketAddr>, RequestError> {
        let mut out: Vec<SocketAddr> = Vec::new();
        for t in &self.targets {
            let addr = t
                .to_socket_addrs()
                .ok()
                .and_then(|mut addrs| addrs.next())
                .ok_or_else(|| RequestError::BadTarget(t.clone()))?;
            if addr.port() == 0 {
                return Err(RequestError::BadTarget(t.clone()));
            }
            if !self.allow_remote && !addr.ip().is_loopback() {
                return Err(RequestError::Remote(addr));
            }
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
        if out.is_empty() {
            return Err(RequestError::BadTarget(String::new()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(targets: &[&str]) -> Request {
        Request {
            targets: targets.iter().map(|s| s.to_string()).collect(),
            connections: 1000,
            rate: 1000,
            sources: SourceSpec::Kernel,
            workers: None,
            hold: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(5),
            message: None,
            duration: None,
            shard: Shard::WHOLE,
            allow_remote: false,
            close_with: CloseWith::Fin,
        }
    }

    #[test]
    fn default_duration_covers_ramp_timeout_and_hold() {
        let plan = request(&["127.0.0.1:13000"]).resolve().unwrap();
        // Twice the ramp: a run at half the asked rate still completes.
        assert_eq!(plan.duration_ms, 2 * 1000 + 5000 + 1000 + 30_000);
        assert!(plan.workers >= 1);
    }

    #[test]
    fn refuses_remote_targets_unless_allowed() {
        let err = request(&["10.1.2.3:80"]).resolve().unwrap_err();
        assert!(err.to_string().contains("--allow-remote"), "{err}");
        let mut r = request(&["10.1.2.3:80"]);
        r.allow_remote = true;
        assert!(r.resolve().is_ok());
    }

    #[test]
    fn bad_targets_and_families() {
        for bad in ["127.0.0.1", "nonsense:x", "127.0.0.1:0", ""] {
            assert!(
                matches!(request(&[bad]).resolve(), Err(RequestError::BadTarget(_))),
                "{bad}"
            );
        }
        let mut r = request(&["[::1]:13000"]);
        r.sources = SourceSpec::List(vec!["127.0.0.1".parse().unwrap()]);
        assert!(matches!(r.resolve(), Err(RequestError::Family { .. })));
        r.sources = SourceSpec::Auto;
        assert!(matches!(r.resolve(), Err(RequestError::Sources(_))));
    }

    #[test]
    fn auto_sources_follow_the_port_range() {
        let mut r = request(&["127.0.0.1:13000"]);
        r.sources = SourceSpec::Auto;
        r.connections = 1_000_000;
        let plan = r.resolve().unwrap();
        let half = plan.port_range.len() / 2;
        assert!(plan.sources.len() as u64 * half >= 1_000_000);
    }

    #[test]
    fn too_few_workers_is_refused() {
        let mut r = request(&["127.0.0.1:13000"]);
        r.connections = 10_000_000;
        r.workers = Some(1);
        assert!(matches!(r.resolve(), Err(RequestError::TooFewWorkers { .. })));
        r.workers = Some(0);
        assert!(matches!(r.resolve(), Err(RequestError::ZeroWorkers)));
    }

    #[test]
    fn empty_shard_is_refused() {
        let mut r = request(&["127.0.0.1:13000"]);
        r.connections = 2;
        r.shard = Shard { index: 2, count: 3 };
        assert!(matches!(r.resolve(), Err(RequestError::EmptyShard(2, 3, 2))));
    }
}
