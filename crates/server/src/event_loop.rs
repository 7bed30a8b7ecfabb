use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use c1m_kernel::Limit;
use c1m_net::errno::{Clues, Phase, classify};
use c1m_net::{AcceptError, Conn, Events, Interest, Io, Listener, Poller, Readiness};

use crate::conn_table::ConnTable;
use crate::counters::ThreadCounters;
use crate::{Mode, ServerConfig};

/// Listeners take the top tokens; connection keys (u32) can never reach them.
const LISTENER_TOKEN_BASE: u64 = 1 << 32;
/// How long accepting pauses after EMFILE/ENFILE/ENOBUFS: long enough not to spin, short enough to resume
/// quickly when fds free up.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// The longest epoll wait: bounds how late a shutdown request or an idle sweep is noticed.
const TICK: Duration = Duration::from_millis(200);
/// One read buffer per thread; reads larger than this just take several calls.
const READ_BUFFER: usize = 64 * 1024;

/// One event-loop thread: its own epoll, its own SO_REUSEPORT listeners, its own connections.
pub(crate) struct EventLoop {
    poller: Poller,
    listeners: Vec<Listener>,
    conns: ConnTable,
    /// Echo bytes the peer has not taken yet, only for connections that have some.
    pending: HashMap<u32, Vec<u8>>,
    buf: Vec<u8>,
    config: Arc<ServerConfig>,
    counters: Arc<ThreadCounters>,
    stop: Arc<AtomicBool>,
    started: Instant,
    accept_paused_until: Option<Instant>,
    next_sweep: Instant,
}

impl EventLoop {
    pub(crate) fn new(
        listeners: Vec<Listener>,
        capacity: usize,
        config: Arc<ServerConfig>,
        counters: Arc<ThreadCounters>,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<EventLoop> {
        let poller = Poller::new()?;
        for (i, l) in listeners.iter().enumerate() {
            poller.register(l, LISTENER_TOKEN_BASE + i as u64, Interest::Read)?;
        }
        let started = Instant::now();
        Ok(EventLoop {
            poller,
            listeners,
            conns: ConnTable::with_capacity(if config.mode == Mode::Close { 0 } else { capacity }),
            pending: HashMap::new(),
            // Filled (not zeroed lazily) so its pages are resident before the RSS baseline is taken.
            buf: vec![1u8; READ_BUFFER],
            config,
            counters,
            stop,
            started,
            accept_paused_until: None,
            next_sweep: started,
        })
    }

    /// Serve until the stop flag is set, then close every connection.
    pub(crate) fn run(self) {
        if self.config.mode == Mode::Close
            && self.listeners.len() == 1
            && self.listeners[0].block_on_accept(TICK).is_ok()
        {
            self.accept_and_close();
        } else {
            self.poll();
        }
    }

    /// Close mode on one listener: the thread does nothing but accept, so it blocks in `accept4` (waking
    /// every tick for the stop flag) and skips the `epoll_wait` plus failed `accept4` that every emptied
    /// accept queue would otherwise cost.
    fn accept_and_close(mut self) {
        while !self.stop.load(Ordering::Relaxed) {
            match self.listeners[0].accept() {
                Ok(conn) => self.admit(conn, 0),
                Err(AcceptError::Drained | AcceptError::PeerGone) => {}
                Err(AcceptError::Exhausted(limit)) => {
                    self.counters.paused_by(limit);
                    std::thread::sleep(ACCEPT_PAUSE);
                }
                Err(AcceptError::Failed(e)) => {
                    eprintln!(
                        "c1m: accept on {} failed: {e}; pausing",
                        self.listeners[0].local_addr()
                    );
                    self.counters.paused_by(Limit::Memory);
                    std::thread::sleep(ACCEPT_PAUSE);
                }
            }
        }
    }

    fn poll(mut self) {
        let mut events = Events::with_capacity(256);
        self.accept_all();
        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let timeout = self
                .accept_paused_until
                .map_or(TICK, |t| t.saturating_duration_since(now).min(TICK));
            if self.poller.wait(&mut events, timeout).is_err() {
                break;
            }
            for ready in events.iter() {
                if ready.token >= LISTENER_TOKEN_BASE {
                    self.accept_all();
                } else {
                    self.on_ready(ready);
                }
            }
            let now = Instant::now();
            if self.accept_paused_until.is_some_and(|t| now >= t) {
                self.accept_paused_until = None;
                self.accept_all();
            }
            if now >= self.next_sweep {
                self.sweep_idle(now);
            }
        }
        self.listeners.clear();
        let open = self.conns.len() as u64;
        self.conns.clear();
        ThreadCounters::add(&self.counters.closed, open);
    }

    /// Coarse clock: seconds since the loop started. Connections only record the second of their last
    /// activity, so a busy connection costs no timer work at all.
    fn now_secs(&self) -> u32 {
        self.started.elapsed().as_secs() as u32
    }

    fn accept_all(&mut self) {
        if self.accept_paused_until.is_some() {
            return;
        }
        let now = self.now_secs();
        for i in 0..self.listeners.len() {
            loop {
                match self.listeners[i].accept() {
                    Ok(conn) => self.admit(conn, now),
                    Err(AcceptError::Drained) => break,
                    Err(AcceptError::PeerGone) => continue,
                    Err(AcceptError::Exhausted(limit)) => return self.pause_accepting(limit),
                    Err(AcceptError::Failed(e)) => {
                        eprintln!(
                            "c1m: accept on {} failed: {e}; pausing",
                            self.listeners[i].local_addr()
                        );
                        return self.pause_accepting(Limit::Memory);
                    }
                }
            }
        }
    }

    fn pause_accepting(&mut self, limit: Limit) {
        self.counters.paused_by(limit);
        self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
    }

    fn admit(&mut self, conn: Conn, now: u32) {
        ThreadCounters::add(&self.counters.accepted, 1);
        if self.config.mode == Mode::Close {
            drop(conn);
            ThreadCounters::add(&self.counters.closed, 1);
            return;
        }
        let interest = if self.config.mode == Mode::Echo {
            Interest::ReadWrite
        } else {
            Interest::Read
        };
        let key = self.conns.insert(conn, now);
        // Data that arrived before the registration is not lost: EPOLL_CTL_ADD reports current readiness.
        let registered = self
            .conns
            .get(key)
            .map(|c| self.poller.register(c, u64::from(key), interest));
        if let Some(Err(e)) = registered {
            let errno = e.raw_os_error().unwrap_or_default();
            let limit = classify(Phase::Epoll, errno, Clues::default()).unwrap_or(Limit::Memory);
            self.close(key);
            self.pause_accepting(limit);
        }
    }

    fn close(&mut self, key: u32) {
        if self.conns.remove(key).is_some() {
            self.pending.remove(&key);
            ThreadCounters::add(&self.counters.closed, 1);
        }
    }

    fn on_ready(&mut self, ready: Readiness) {
        let key = ready.token as u32;
        if self.config.mode == Mode::Echo
            && ready.writable
            && self.pending.contains_key(&key)
            && !self.flush(key)
        {
            return;
        }
        if ready.readable || ready.closed {
            self.read_all(key);
        }
    }

    /// Read until the socket is empty; returns with the connection closed on EOF or error.
    fn read_all(&mut self, key: u32) {
        let now = self.now_secs();
        let mut got_any = false;
        loop {
            let Some(conn) = self.conns.get(key) else { return };
            match conn.read(&mut self.buf) {
                Io::Moved(n) => {
                    got_any = true;
                    ThreadCounters::add(&self.counters.bytes_in, n as u64);
                    if self.config.mode == Mode::Echo && !self.echo(key, n) {
                        return;
                    }
                }
                Io::WouldBlock => break,
                Io::Eof | Io::Failed(_) => return self.close(key),
            }
        }
        if got_any {
            self.conns.touch(key, now);
        }
    }

    /// Send back the `n` bytes just read into the thread buffer; false if the connection was closed.
    fn echo(&mut self, key: u32, n: usize) -> bool {
        let cap = self.config.max_pending_bytes;
        if let Some(queued) = self.pending.get_mut(&key) {
            // Order matters: new bytes go behind the ones still waiting.
            if queued.len() + n > cap {
                ThreadCounters::add(&self.counters.closed_pending_cap, 1);
                self.close(key);
                return false;
            }
            queued.extend_from_slice(&self.buf[..n]);
            return true;
        }
        let Some(conn) = self.conns.get(key) else {
            return false;
        };
        let sent = match conn.write(&self.buf[..n]) {
            Io::Moved(m) => m,
            Io::WouldBlock => 0,
            Io::Eof | Io::Failed(_) => {
                self.close(key);
                return false;
            }
        };
        ThreadCounters::add(&self.counters.bytes_out, sent as u64);
        if sent < n {
            if n - sent > cap {
                ThreadCounters::add(&self.counters.closed_pending_cap, 1);
                self.close(key);
                return false;
            }
            self.pending.insert(key, self.buf[sent..n].to_vec());
        }
        true
    }

    /// Write queued echo bytes; false if the connection was closed.
    fn flush(&mut self, key: u32) -> bool {
        let Some(conn) = self.conns.get(key) else {
            return false;
        };
        let Some(queued) = self.pending.get_mut(&key) else {
            return true;
        };
        let mut sent = 0;
        let outcome = loop {
            if sent == queued.len() {
                break Io::Moved(sent);
            }
            match conn.write(&queued[sent..]) {
                Io::Moved(m) => sent += m,
                other => break other,
            }
        };
        ThreadCounters::add(&self.counters.bytes_out, sent as u64);
        if matches!(outcome, Io::Eof | Io::Failed(_)) {
            self.close(key);
            return false;
        }
        if sent == queued.len() {
            // Drop the buffer entirely: an idle echo connection owns no heap memory.
            self.pending.remove(&key);
        } else {
            queued.drain(..sent);
        }
        true
    }

    fn sweep_idle(&mut self, now: Instant) {
        let Some(timeout) = self.config.idle_timeout else {
            self.next_sweep = now + Duration::from_secs(3600);
            return;
        };
        // A full pass over this thread's table costs microseconds (its size is bounded by the fd limit);
        // sweeping four times per timeout keeps the overshoot under a quarter of it.
        self.next_sweep = now + (timeout / 4).max(TICK);
        // last_active < now - secs means at least `secs` whole seconds without traffic.
        let secs = timeout.as_secs().max(1) as u32;
        let cutoff = self.now_secs().saturating_sub(secs);
        for key in self.conns.idle_since(cutoff) {
            ThreadCounters::add(&self.counters.closed_idle, 1);
            self.close(key);
        }
    }
}
