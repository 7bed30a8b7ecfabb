use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use c1m_net::Listener;

use crate::counters::{Counters, ThreadCounters};
use crate::event_loop::EventLoop;
use crate::memory::own_rss_bytes;
use crate::{ServeError, ServerConfig, WorkerMessage};

/// Run one worker process: `config.threads` event loops, each with its own SO_REUSEPORT listeners, reporting
/// [`WorkerMessage`] lines on `out` until SIGTERM/SIGINT (a second signal exits at once).
///
/// On the first signal every loop stops accepting, closes its connections and ends; the final counters are
/// reported and the function returns.
pub fn run_worker(config: ServerConfig, out: &mut dyn Write) -> Result<(), ServeError> {
    let stop = stop_on_signals()?;
    run_worker_until(config, out, stop)
}

/// Set a flag on the first SIGTERM/SIGINT and exit at once on the second.
pub(crate) fn stop_on_signals() -> Result<Arc<AtomicBool>, ServeError> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        // Order matters: the conditional exit must see the flag before the first signal sets it.
        signal_hook::flag::register_conditional_shutdown(sig, 130, stop.clone())
            .and_then(|_| signal_hook::flag::register(sig, stop.clone()))
            .map_err(ServeError::io("installing signal handlers"))?;
    }
    Ok(stop)
}

fn run_worker_until(
    config: ServerConfig,
    out: &mut dyn Write,
    stop: Arc<AtomicBool>,
) -> Result<(), ServeError> {
    let threads = config.threads.max(1);
    let soft = c1m_kernel::own_nofile().soft.unwrap_or(1 << 20);
    let per_thread_capacity = (soft as usize).div_ceil(threads);
    let config = Arc::new(config);
    let ready = Arc::new(Barrier::new(threads + 1));
    let mut loops = Vec::with_capacity(threads);
    let mut counters = Vec::with_capacity(threads);
    let mut bound = Vec::new();
    for t in 0..threads {
        let listeners = config
            .listen
            .iter()
            .map(|a| Listener::bind(*a, config.backlog))
            .collect::<Result<Vec<_>, _>>()?;
        if t == 0 {
            bound = listeners.iter().map(Listener::local_addr).collect();
        }
        let c = Arc::new(ThreadCounters::default());
        counters.push(c.clone());
        let event_loop = EventLoop::new(listeners, per_thread_capacity, config.clone(), c, stop.clone())
            .map_err(ServeError::io("creating an epoll instance"))?;
        let ready = ready.clone();
        let handle = thread::Builder::new()
            .name(format!("serve-loop-{t}"))
            .spawn(move || {
                ready.wait();
                event_loop.run();
            })
            .map_err(ServeError::io("starting an event-loop thread"))?;
        loops.push(handle);
    }
    ready.wait();
    let report = |out: &mut dyn Write, msg: &WorkerMessage| -> Result<(), ServeError> {
        let line = serde_json::to_string(msg).expect("worker messages serialize");
        writeln!(out, "{line}")
            .and_then(|_| out.flush())
            .map_err(ServeError::io("reporting to the supervisor"))
    };
    report(
        out,
        &WorkerMessage::Ready {
            listen: bound,
            rss_bytes: own_rss_bytes(),
        },
    )?;
    let stats = || {
        let mut total = Counters::default();
        for c in &counters {
            total.merge(&c.snapshot());
        }
        WorkerMessage::Stats {
            counters: total,
            rss_bytes: own_rss_bytes(),
        }
    };
    let mut next = Instant::now() + config.report_interval;
    while !stop.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_millis(50).min(config.report_interval));
        if Instant::now() >= next {
            next += config.report_interval;
            if report(out, &stats()).is_err() {
                // The supervisor is gone: nobody is left to report to, so stop serving.
                stop.store(true, Ordering::Relaxed);
            }
        }
    }
    for handle in loops {
        let _ = handle.join();
    }
    let _ = report(out, &stats());
    Ok(())
}
