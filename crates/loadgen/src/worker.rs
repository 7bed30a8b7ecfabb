//! One worker's event loop: start the lane's connections on schedule (open loop, never faster), finish them
//! on epoll, hold them, optionally echo messages, and count everything into a [`LoadReport`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use c1m_kernel::{Pid, ProcRoot, read_status};
use c1m_net::connector::{Connector, Failure, Started, finish_connect, local_addr};
use c1m_net::errno::{Clues, Phase};
use c1m_net::{Conn, Events, Interest, Io, Poller, Readiness};

use crate::latency::Latency;
use crate::plan::{CloseWith, Lane, LoadPlan};
use crate::progress::{WorkerLine, WorkerProgress};
use crate::report::{Counts, End, ErrorTable, LoadReport, Memory, Messages, PlanInfo, REPORT_KIND, Ramp};
use crate::table::FdTable;
use crate::verdict::Verdict;

/// Connections started per loop turn at most, so completions are reaped while far behind schedule.
const START_BATCH: usize = 512;
/// Longest sleep of the loop: bounds how late a stop flag or the end of the run is noticed.
const MAX_SLEEP: Duration = Duration::from_millis(100);
/// Readiness events taken per `epoll_wait`.
const EVENTS_PER_WAIT: usize = 1024;
/// How often a worker reports progress.
const PROGRESS_EVERY_US: u64 = 250_000;

/// The worker could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// No epoll instance or signal handler.
    #[error("cannot set up the load worker: {0}")]
    Setup(#[from] std::io::Error),
    /// The worker index is outside the plan.
    #[error("worker index {0} is outside the plan's {1} workers")]
    Index(u32, u32),
}

/// One connection: a 4-byte fd plus timing and message state, 32 bytes in all.
#[derive(Debug)]
struct Slot {
    conn: Conn,
    pair: u32,
    /// Connecting: the scheduled start. Established with messages: the scheduled time of the current or next
    /// message.
    scheduled_us: u64,
    /// How long after `scheduled_us` the connect or the current message really started (saturating).
    start_lag_us: u32,
    unsent: u32,
    unechoed: u32,
    connecting: bool,
}

impl Slot {
    fn started_us(&self) -> u64 {
        self.scheduled_us + u64::from(self.start_lag_us)
    }
}

/// The lane's schedule: the next connection due, and which pairs (and the worker) can still take more.
struct Schedule<'a> {
    plan: &'a LoadPlan,
    lane: Lane,
    len: u64,
    next: u64,
    pairs: usize,
    exhausted: Vec<bool>,
    exhausted_count: usize,
    out_of_fds: bool,
    /// The source address the kernel chose for each pair without one, learned from its first connection, so
    /// errors name a real address.
    learned: Vec<Option<IpAddr>>,
}

impl Schedule<'_> {
    fn due_us(&self) -> Option<u64> {
        (self.next < self.len).then(|| self.plan.scheduled(self.lane.global(self.next)).as_micros() as u64)
    }

    fn give_up(&self) -> bool {
        self.out_of_fds || self.exhausted_count == self.pairs
    }

    /// Source (given or learned) and target of `pair`.
    fn route(&self, pair: usize) -> (Option<IpAddr>, SocketAddr) {
        let (source, target) = self.plan.pair(pair);
        (source.or(self.learned[pair]), target)
    }
}

/// Run `lane` of `plan` until it completes, `plan.duration_ms` passes or `stop` is set; `emit` receives progress
/// lines. Returns the lane's report (classified without clues: the coordinator re-classifies).
pub fn run_lane(
    plan: &LoadPlan,
    lane: Lane,
    stop: &AtomicBool,
    emit: &mut dyn FnMut(&WorkerLine),
) -> Result<LoadReport, WorkerError> {
    let mut w = Worker::new(plan, lane)?;
    let end = w.run(stop, emit);
    Ok(w.into_report(end))
}

/// The body of a worker process: run lane `worker` of `plan` until done or SIGINT/SIGTERM, writing progress
/// and then the report to `out` as JSON lines ([`WorkerLine`]). A write failure (the coordinator is gone)
/// stops the lane early; the sockets close with the process.
pub fn run_worker_process(plan: &LoadPlan, worker: u32, out: &mut dyn Write) -> Result<(), WorkerError> {
    if worker >= plan.workers {
        return Err(WorkerError::Index(worker, plan.workers));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let mut write = |line: &WorkerLine| {
        let ok = serde_json::to_string(line)
            .is_ok_and(|s| writeln!(out, "{s}").and_then(|()| out.flush()).is_ok());
        if !ok {
            stop.store(true, Ordering::Relaxed);
        }
    };
    let report = run_lane(plan, plan.lane(worker), &stop, &mut write)?;
    write(&WorkerLine::Report(Box::new(report)));
    Ok(())
}

struct Worker<'a> {
    schedule: Schedule<'a>,
    poller: Poller,
    events: Events,
    ready: Vec<Readiness>,
    connector: Connector,
    table: FdTable<Slot>,
    timeouts: VecDeque<(u64, usize)>,
    message_due: BinaryHeap<Reverse<(u64, usize)>>,
    message: Vec<u8>,
    read_buf: Vec<u8>,
    start: Instant,
    counts: Counts,
    ramp: Ramp,
    errors: ErrorTable,
    connect_latency: Latency,
    connect_latency_from_start: Latency,
    messages: Option<Messages>,
    memory: Memory,
    settled_at_us: Option<u64>,
    connecting: u64,
    behind_us: u64,
}

impl<'a> Worker<'a> {
    fn new(plan: &'a LoadPlan, lane: Lane) -> Result<Worker<'a>, WorkerError> {
        let len = lane.len(plan.connections);
        let pairs = plan.pairs();
        Ok(Worker {
            schedule: Schedule {
                plan,
                lane,
                len,
                next: 0,
                pairs,
                exhausted: vec![false; pairs],
                exhausted_count: 0,
                out_of_fds: false,
                learned: vec![None; pairs],
            },
            poller: Poller::new()?,
            events: Events::with_capacity(EVENTS_PER_WAIT),
            ready: Vec::with_capacity(EVENTS_PER_WAIT),
            connector: Connector::default(),
            // The lane's sockets plus the process's own fds.
            table: FdTable::with_capacity(len as usize + c1m_kernel::FD_RESERVE_PER_PROCESS as usize),
            timeouts: VecDeque::new(),
            message_due: BinaryHeap::new(),
            message: plan
                .message
                .map(|m| vec![b'c'; m.bytes as usize])
                .unwrap_or_default(),
            read_buf: vec![0; 64 * 1024],
            start: Instant::now(),
            counts: Counts {
                planned: len,
                ..Counts::default()
            },
            ramp: Ramp::default(),
            errors: ErrorTable::default(),
            connect_latency: Latency::default(),
            connect_latency_from_start: Latency::default(),
            messages: plan.message.map(|_| Messages::default()),
            memory: Memory::default(),
            settled_at_us: None,
            connecting: 0,
            behind_us: 0,
        })
    }

    fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn run(&mut self, stop: &AtomicBool, emit: &mut dyn FnMut(&WorkerLine)) -> End {
        self.memory.rss_before_bytes = own_rss();
        self.start = Instant::now();
        let duration_us = self.schedule.plan.duration_ms * 1000;
        let hold_us = self.schedule.plan.hold_ms * 1000;
        let mut next_progress = 0;
        loop {
            let now = self.now_us();
            if stop.load(Ordering::Relaxed) {
                return End::Interrupted;
            }
            if now >= duration_us {
                return End::Duration;
            }
            let more_due = self.start_due(now);
            let settled = self.schedule.next == self.schedule.len && self.connecting == 0;
            if settled && self.settled_at_us.is_none() {
                self.settled_at_us = Some(now);
                self.ramp.settled_ms = now / 1000;
                self.memory.rss_after_ramp_bytes = own_rss();
                self.memory.open_at_sample = self.open();
                next_progress = now;
            }
            if now >= next_progress {
                emit(&WorkerLine::Progress(self.progress(now)));
                next_progress = now + PROGRESS_EVERY_US;
            }
            if self.settled_at_us.is_some_and(|t| now >= t + hold_us) {
                return End::Completed;
            }
            let sleep = if more_due {
                Duration::ZERO
            } else {
                self.sleep_until_next(now, duration_us, next_progress)
            };
            if self.poller.wait(&mut self.events, sleep).is_err() {
                continue;
            }
            // Handling an event needs `&mut self`, so the events are copied into a buffer kept across turns.
            let mut ready = std::mem::take(&mut self.ready);
            ready.extend(self.events.iter());
            let now = self.now_us();
            for r in ready.drain(..) {
                self.on_ready(
                    r.token as usize,
                    r.readable || r.closed,
                    r.writable || r.closed,
                    now,
                );
            }
            self.ready = ready;
            self.expire(now);
            self.send_due_messages(now);
        }
    }

    fn open(&self) -> u64 {
        self.table.len() as u64 - self.connecting
    }

    fn progress(&self, now: u64) -> WorkerProgress {
        WorkerProgress {
            t_ms: now / 1000,
            open: self.open(),
            established: self.counts.established,
            failed: self.counts.failed,
            behind_schedule_ms: self.behind_us / 1000,
            settled: self.settled_at_us.is_some(),
            rss_before_bytes: self.memory.rss_before_bytes,
        }
    }

    fn sleep_until_next(&self, now: u64, duration_us: u64, next_progress: u64) -> Duration {
        let mut until = duration_us.min(next_progress);
        if let Some(due) = self.schedule.due_us() {
            until = until.min(due);
        }
        if let Some(&(deadline, _)) = self.timeouts.front() {
            until = until.min(deadline);
        }
        if let Some(Reverse((due, _))) = self.message_due.peek() {
            until = until.min(*due);
        }
        Duration::from_micros(until.saturating_sub(now)).min(MAX_SLEEP)
    }

    /// Start every connection that is due (up to a batch); true if more are due right now.
    fn start_due(&mut self, now: u64) -> bool {
        self.behind_us = 0;
        for _ in 0..START_BATCH {
            let Some(due) = self.schedule.due_us() else {
                return false;
            };
            if self.schedule.give_up() {
                // Nothing left can succeed: the remaining connections are skipped, not attempted.
                self.counts.skipped += self.schedule.len - self.schedule.next;
                self.schedule.next = self.schedule.len;
                return false;
            }
            if due > now {
                return false;
            }
            let j = self.schedule.next;
            self.schedule.next += 1;
            let pair = self.schedule.lane.pair(j, self.schedule.pairs);
            if self.schedule.exhausted[pair] {
                self.counts.skipped += 1;
                continue;
            }
            let late = now - due;
            self.behind_us = self.behind_us.max(late);
            self.ramp.max_behind_schedule_ms = self.ramp.max_behind_schedule_ms.max(late / 1000);
            if late > Ramp::LATE_MS * 1000 {
                self.ramp.late_starts += 1;
            }
            self.start_one(pair, due, now);
        }
        self.schedule.due_us().is_some_and(|d| d <= now)
    }

    fn start_one(&mut self, pair: usize, due: u64, now: u64) {
        let plan = self.schedule.plan;
        let (source, target) = plan.pair(pair);
        self.counts.attempted += 1;
        let started = match self
            .connector
            .start(source, target, plan.port_slice(self.schedule.lane))
        {
            Ok(s) => s,
            Err(f) => return self.fail_start(pair, f),
        };
        let (conn, connecting) = match started {
            Started::InProgress(c) => (c, true),
            Started::Connected(c) => (c, false),
        };
        let key = conn.as_fd().as_raw_fd() as usize;
        if let Err(e) = self.poller.register(&conn, key as u64, Interest::ReadWrite) {
            let errno = e.raw_os_error().unwrap_or(0);
            return self.fail_start(
                pair,
                Failure {
                    phase: Phase::Epoll,
                    errno,
                },
            );
        }
        let start_lag_us = u32::try_from(now - due).unwrap_or(u32::MAX);
        let slot = Slot {
            conn,
            pair: pair as u32,
            scheduled_us: due,
            start_lag_us,
            unsent: 0,
            unechoed: 0,
            connecting,
        };
        self.table.insert(key, slot);
        self.connecting += 1;
        if connecting {
            self.timeouts
                .push_back((now + plan.connect_timeout_ms * 1000, key));
        } else {
            self.established(key, now);
        }
    }

    fn fail_start(&mut self, pair: usize, f: Failure) {
        self.counts.failed += 1;
        let (source, target) = self.schedule.route(pair);
        self.errors.add(f.phase, f.errno, source, target);
        match c1m_net::errno::classify(f.phase, f.errno, Clues::default()) {
            Some(c1m_kernel::Limit::EphemeralPorts) if !self.schedule.exhausted[pair] => {
                self.schedule.exhausted[pair] = true;
                self.schedule.exhausted_count += 1;
            }
            Some(c1m_kernel::Limit::NofileSoft | c1m_kernel::Limit::FileMax) => {
                self.schedule.out_of_fds = true
            }
            _ => {}
        }
    }

    fn established(&mut self, key: usize, now: u64) {
        let slot = &mut self.table[key];
        slot.connecting = false;
        self.connecting -= 1;
        self.counts.established += 1;
        self.connect_latency
            .record(Duration::from_micros(now - slot.scheduled_us));
        self.connect_latency_from_start
            .record(Duration::from_micros(now - slot.started_us()));
        let pair = slot.pair as usize;
        if self.schedule.learned[pair].is_none() && self.schedule.plan.sources.is_empty() {
            self.schedule.learned[pair] = local_addr(&slot.conn).map(|a| a.ip());
        }
        if let Some(m) = self.schedule.plan.message {
            slot.scheduled_us = now + 1_000_000 / m.rate.max(1);
            self.message_due.push(Reverse((slot.scheduled_us, key)));
        }
        self.counts.peak_open = self.counts.peak_open.max(self.open());
    }

    fn on_ready(&mut self, key: usize, readable: bool, writable: bool, now: u64) {
        let Some(slot) = self.table.get(key) else { return };
        if slot.connecting {
            if !writable {
                return;
            }
            match finish_connect(&slot.conn) {
                Ok(()) => self.established(key, now),
                Err(f) => {
                    self.connecting -= 1;
                    self.counts.failed += 1;
                    self.drop_slot(key, f, false);
                    return;
                }
            }
        }
        if writable && self.table.get(key).is_some_and(|s| s.unsent > 0) {
            self.push_message(key);
        }
        if readable {
            self.drain(key, now);
        }
    }

    fn drop_slot(&mut self, key: usize, f: Failure, was_established: bool) {
        let Some(slot) = self.table.remove(key) else {
            return;
        };
        let (source, target) = self.schedule.route(slot.pair as usize);
        self.errors.add(f.phase, f.errno, source, target);
        if was_established {
            self.counts.dropped += 1;
        }
    }

    fn drain(&mut self, key: usize, now: u64) {
        loop {
            let slot = &mut self.table[key];
            match slot.conn.read(&mut self.read_buf) {
                Io::Moved(n) => {
                    if slot.unechoed > 0 {
                        slot.unechoed = slot.unechoed.saturating_sub(n as u32);
                        if slot.unechoed == 0 && slot.unsent == 0 {
                            self.echoed(key, now);
                        }
                    }
                }
                Io::WouldBlock => return,
                Io::Eof => {
                    return self.drop_slot(
                        key,
                        Failure {
                            phase: Phase::Read,
                            errno: 0,
                        },
                        true,
                    );
                }
                Io::Failed(e) => return self.drop_slot(key, Failure::new(Phase::Read, e), true),
            }
        }
    }

    fn echoed(&mut self, key: usize, now: u64) {
        let Some(m) = self.schedule.plan.message else {
            return;
        };
        let slot = &mut self.table[key];
        if let Some(stats) = &mut self.messages {
            stats.echoed += 1;
            stats
                .rtt
                .record(Duration::from_micros(now.saturating_sub(slot.scheduled_us)));
            stats
                .rtt_from_send
                .record(Duration::from_micros(now - slot.started_us()));
        }
        // The next message keeps its place on the schedule even if this echo was late.
        slot.scheduled_us += 1_000_000 / m.rate.max(1);
        if slot.scheduled_us <= now {
            self.begin_message(key, now);
        } else {
            self.message_due.push(Reverse((slot.scheduled_us, key)));
        }
    }

    fn send_due_messages(&mut self, now: u64) {
        while let Some(&Reverse((due, key))) = self.message_due.peek() {
            if due > now {
                return;
            }
            self.message_due.pop();
            // Entries of closed connections (or reused keys) are stale: only an idle slot due at `due` sends.
            if self
                .table
                .get(key)
                .is_some_and(|s| !s.connecting && s.unechoed == 0 && s.scheduled_us == due)
            {
                self.begin_message(key, now);
            }
        }
    }

    fn begin_message(&mut self, key: usize, now: u64) {
        let len = self.message.len() as u32;
        let slot = &mut self.table[key];
        slot.start_lag_us = u32::try_from(now.saturating_sub(slot.scheduled_us)).unwrap_or(u32::MAX);
        slot.unsent = len;
        slot.unechoed = len;
        if let Some(stats) = &mut self.messages {
            stats.sent += 1;
        }
        self.push_message(key);
    }

    fn push_message(&mut self, key: usize) {
        loop {
            let slot = &mut self.table[key];
            if slot.unsent == 0 {
                return;
            }
            let from = self.message.len() - slot.unsent as usize;
            match slot.conn.write(&self.message[from..]) {
                Io::Moved(n) => slot.unsent -= n as u32,
                Io::WouldBlock => return,
                Io::Eof => {
                    return self.drop_slot(
                        key,
                        Failure {
                            phase: Phase::Write,
                            errno: 0,
                        },
                        true,
                    );
                }
                Io::Failed(e) => return self.drop_slot(key, Failure::new(Phase::Write, e), true),
            }
        }
    }

    /// Time out connections still connecting past their deadline, and drop the queue entries of connections
    /// that already settled so the queue stays as short as the oldest handshake in progress.
    fn expire(&mut self, now: u64) {
        let timeout_us = self.schedule.plan.connect_timeout_ms * 1000;
        while let Some(&(deadline, key)) = self.timeouts.front() {
            // A settled connection's fd may already carry a newer one: only its own deadline matches.
            let live = self
                .table
                .get(key)
                .is_some_and(|s| s.connecting && s.started_us() + timeout_us == deadline);
            if live && deadline > now {
                return;
            }
            self.timeouts.pop_front();
            if live {
                self.connecting -= 1;
                self.counts.failed += 1;
                self.drop_slot(
                    key,
                    Failure::new(Phase::Connect, rustix::io::Errno::TIMEDOUT),
                    false,
                );
            }
        }
    }

    fn into_report(mut self, end: End) -> LoadReport {
        let plan = self.schedule.plan;
        self.counts.not_started = self.schedule.len - self.schedule.next;
        self.counts.in_flight_at_end = self.connecting;
        self.counts.open_at_end = self.open();
        if self.settled_at_us.is_none() {
            self.ramp.settled_ms = self.now_us() / 1000;
        }
        let mut report = LoadReport {
            kind: REPORT_KIND.to_string(),
            plan: PlanInfo::from(plan),
            shards: vec![plan.shard],
            workers: 1,
            counts: self.counts,
            ramp: self.ramp,
            connect_latency: std::mem::take(&mut self.connect_latency),
            connect_latency_from_start: std::mem::take(&mut self.connect_latency_from_start),
            messages: self.messages.take(),
            errors: self.errors.rows(Clues::default()),
            memory: self.memory,
            port_slices: self.connector.port_slices_work(),
            end,
            verdict: Verdict {
                ok: false,
                limit: None,
                sentence: String::new(),
            },
        };
        report.verdict = Verdict::of(&report);
        // Close every socket now, before the report is written, so the coordinator sees them gone.
        match plan.close_with {
            CloseWith::Fin => self.table.clear(),
            CloseWith::Reset => self.table.drain().for_each(|slot| slot.conn.reset()),
        }
        report
    }
}

fn own_rss() -> u64 {
    read_status(&ProcRoot::live(), Pid::Own)
        .ok()
        .flatten()
        .map_or(0, |s| s.vm_rss_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_connection_costs_32_bytes_of_table() {
        // The memory-per-connection target (under 64 bytes of user space) rests on this.
        assert_eq!(size_of::<Option<Slot>>(), 32);
    }
}
