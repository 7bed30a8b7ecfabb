use std::io;

/// Why `serve` (or one of its workers) could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listen address could not be bound.
    #[error(transparent)]
    Bind(#[from] c1m_net::BindError),
    /// The metrics address could not be bound.
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// What the kernel said.
        source: io::Error,
    },
    /// A worker process ended before it was listening (its own message is on stderr above).
    #[error("worker {worker} exited before it was listening ({})", status.map_or_else(|| "still exiting".to_string(), |s| s.to_string()))]
    WorkerStart {
        /// Index of the worker.
        worker: usize,
        /// How it ended.
        status: Option<std::process::ExitStatus>,
    },
    /// Workers did not all report ready in time.
    #[error("workers not listening after {0:?}: the machine may be overloaded")]
    StartTimeout(std::time::Duration),
    /// Spawning workers, a thread, a pipe, or writing output failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
}

impl ServeError {
    pub(crate) fn io(what: &'static str) -> impl FnOnce(io::Error) -> ServeError {
        move |source| ServeError::Io { what, source }
    }
}
