use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use c1m_kernel::{
    Conntrack, FileNr, Limit, MemInfo, NetCounters, Pid, ProcRoot, ReadError, SlabInfo, SockStat, SockStat6,
    Triple, open_fd_count, page_size, parse_u64, read_limits, read_sysctl_parsed,
};

use crate::sockdiag::duration_us;
use crate::{
    Alert, Census, DiagError, EstablishedSource, KernelMemory, PortFilter, ProcessFds, Sample, SampleCost,
    SlabLayout, SockDiag, TcpState, counter_deltas,
};

/// What to sample.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchOptions {
    /// Count only sockets matching any of these ports (evaluated in the kernel). A port filter makes
    /// every count come from the dump.
    pub ports: Vec<PortFilter>,
    /// Processes whose open files to compare with their RLIMIT_NOFILE.
    pub pids: Vec<u32>,
    /// Count ESTABLISHED from the dump even without a port filter (the kernel then sends every socket).
    pub exact: bool,
}

/// Why a sample could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// sock_diag failed.
    #[error(transparent)]
    Diag(#[from] DiagError),
    /// A `/proc` source could not be read or parsed.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// Takes [`Sample`]s of the network namespace it was created in, with counter deltas between them.
#[derive(Debug)]
pub struct Sampler {
    options: WatchOptions,
    diag: SockDiag,
    root: ProcRoot,
    previous: Option<(Instant, NetCounters)>,
}

impl Sampler {
    /// A sampler of the current network namespace.
    pub fn new(options: WatchOptions) -> Result<Self, WatchError> {
        Ok(Self {
            options,
            diag: SockDiag::open()?,
            root: ProcRoot::live(),
            previous: None,
        })
    }

    /// Take one sample.
    pub fn sample(&mut self) -> Result<Sample, WatchError> {
        let started = Instant::now();
        let (census, counters, established_from) = self.census()?;
        let states = census.total();
        let root = &self.root;
        let sockstat = SockStat::read(root)?;
        let meminfo = MemInfo::read(root)?;
        // Reading slabinfo needs root; without it the memory section shows only meminfo and sockstat.
        let slab = SlabInfo::read(root).or_else(|e| {
            if e.is_permission_denied() {
                Ok(None)
            } else {
                Err(e)
            }
        })?;
        let tcp_mem = read_sysctl_parsed(root, "net.ipv4.tcp_mem", Triple::parse)?;
        let sys_slab = Path::new("/sys/kernel/slab");
        let memory = KernelMemory::attribute(
            slab.as_ref(),
            |name| SlabLayout::read(sys_slab, name, page_size()),
            sockstat.as_ref(),
            meminfo.as_ref(),
            tcp_mem,
            states.get(TcpState::Established),
        );
        let files = FileNr::read(root)?;
        let conntrack = Conntrack::read(root)?;
        let processes = self
            .options
            .pids
            .iter()
            .map(|&pid| process_fds(root, pid))
            .collect::<Result<_, _>>()?;
        let counter_list = counter_deltas(&counters, self.previous.as_ref().map(|(_, c)| c));
        let mut listeners = census.listeners;
        listeners.sort_by(|a, b| b.fill().total_cmp(&a.fill()));

        let limits = Limits {
            tw_buckets: read_sysctl_parsed(root, "net.ipv4.tcp_max_tw_buckets", parse_u64)?,
            orphans: read_sysctl_parsed(root, "net.ipv4.tcp_max_orphans", parse_u64)?,
        };
        let mut sample = Sample {
            unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            interval_ms: self
                .previous
                .as_ref()
                .map(|(at, _)| started.duration_since(*at).as_millis() as u64),
            ports: self.options.ports.clone(),
            states,
            ipv4: census.ipv4,
            ipv6: census.ipv6,
            established_from,
            listeners,
            memory,
            sockstat,
            counters: counter_list,
            files,
            conntrack,
            processes,
            alerts: Vec::new(),
            cost: SampleCost {
                dump_us: census.cost.wall_us,
                dumped_sockets: census.cost.sockets,
                dump_reads: census.cost.reads,
                total_us: 0,
            },
        };
        sample.alerts = alerts(&sample, limits);
        sample.cost.total_us = duration_us(started.elapsed());
        self.previous = Some((started, counters));
        Ok(sample)
    }

    /// Count sockets by state. Without a port filter the kernel is asked only for sockets *not* in
    /// ESTABLISHED (a handful even at millions of connections), plus IPv6 ESTABLISHED ones if any IPv6
    /// socket exists, and IPv4 ESTABLISHED follows from `Tcp.CurrEstab`: at 2M sockets the kernel still
    /// walks its tables but sends a few records instead of 2M (filling them is ~90% of a full dump's cost).
    fn census(&mut self) -> Result<(Census, NetCounters, EstablishedSource), WatchError> {
        if self.options.exact || !self.options.ports.is_empty() {
            let census = self.diag.census(&self.options.ports)?;
            return Ok((census, read_counters(&self.root)?, EstablishedSource::Dump));
        }
        let others: Vec<TcpState> = TcpState::ALL
            .into_iter()
            .filter(|s| *s != TcpState::Established)
            .collect();
        let mut census = self.diag.census_of(&others, &[])?;
        // Every hashed IPv6 socket counts in sockstat6's inuse: when there is none, a second walk of the
        // socket tables for IPv6 ESTABLISHED ones would find nothing.
        if SockStat6::read(&self.root)?.is_some_and(|s| s.tcp6_inuse > 0) {
            census.absorb(self.diag.census_ipv6(&[TcpState::Established])?);
        }
        let counters = read_counters(&self.root)?;
        let Some(curr_estab) = counters.curr_estab() else {
            let census = self.diag.census(&[])?;
            return Ok((census, counters, EstablishedSource::Dump));
        };
        let close_wait = census.total().get(TcpState::CloseWait);
        let ipv6 = census.ipv6.get(TcpState::Established);
        census.ipv4.add(
            TcpState::Established,
            curr_estab.saturating_sub(close_wait).saturating_sub(ipv6),
        );
        Ok((census, counters, EstablishedSource::Counter))
    }
}

fn read_counters(root: &ProcRoot) -> Result<NetCounters, ReadError> {
    Ok(NetCounters::read(root)?.unwrap_or_default())
}

fn process_fds(root: &ProcRoot, pid: u32) -> Result<ProcessFds, ReadError> {
    let open_fds = open_fd_count(root, Pid::Other(pid))?;
    let nofile_soft = read_limits(root, Pid::Other(pid))?.and_then(|l| l.nofile.soft);
    Ok(ProcessFds {
        pid,
        open_fds,
        nofile_soft,
    })
}

/// Namespace limits read for the alerts only.
#[derive(Debug, Clone, Copy)]
struct Limits {
    tw_buckets: Option<u64>,
    orphans: Option<u64>,
}

fn alerts(s: &Sample, limits: Limits) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut near = |limit, what: &str, current: Option<u64>, max: Option<u64>| {
        if let (Some(current), Some(max)) = (current, max) {
            out.extend(Alert::near(limit, what, current, max));
        }
    };
    near(
        Limit::FileMax,
        "open files",
        s.files.map(|f| f.allocated),
        s.files.map(|f| f.max),
    );
    near(
        Limit::ConntrackMax,
        "conntrack entries",
        s.conntrack.map(|c| c.count),
        s.conntrack.map(|c| c.max),
    );
    near(
        Limit::TcpMem,
        "TCP buffer pages",
        s.memory.tcp_buffer_pages,
        s.memory.tcp_mem.map(|t| t.max),
    );
    near(
        Limit::MaxTwBuckets,
        "TIME_WAIT sockets",
        s.sockstat.map(|t| t.tcp_tw),
        limits.tw_buckets,
    );
    near(
        Limit::MaxOrphans,
        "orphan sockets",
        s.sockstat.map(|t| t.tcp_orphan),
        limits.orphans,
    );
    let used = s
        .memory
        .mem_total
        .zip(s.memory.mem_available)
        .map(|(t, a)| t.saturating_sub(a));
    near(Limit::Memory, "memory in use", used, s.memory.mem_total);
    for p in &s.processes {
        near(
            Limit::NofileSoft,
            &format!("pid {} open files", p.pid),
            p.open_fds,
            p.nofile_soft,
        );
    }
    for l in &s.listeners {
        near(
            Limit::ListenBacklog,
            &format!("accept queue of {}", l.local),
            Some(u64::from(l.accept_queue)),
            Some(u64::from(l.backlog)),
        );
    }
    for c in s.counters.iter().filter(|c| c.is_rising()) {
        out.push(Alert {
            limit: c.limit,
            what: format!("{} +{}", c.name, c.delta.unwrap_or(0)),
        });
    }
    out
}
