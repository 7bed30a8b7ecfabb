//! `c1m serve`: an epoll server that holds millions of connections for a few bytes of user space each.
//!
//! # Brief overview
//! [`serve`] runs the supervisor: it reserves the listen ports, starts [`ServePlan::workers`] worker
//! processes (this binary re-executed as `c1m serve-worker`, see [`WORKER_COMMAND`]), merges their
//! [`WorkerMessage`]s into a [`ServeStatus`] each interval (console line, JSON, Prometheus text), restarts a
//! worker that dies, and drains on SIGTERM/SIGINT.
//!
//! [`run_worker`] is one worker: [`ServerConfig::threads`] event loops, each with its own edge-triggered
//! epoll and SO_REUSEPORT listeners, keeping per connection only an 8-byte slot (fd + coarse last-activity
//! second). One read buffer per thread; echo's unsent bytes are owned only while they exist, capped by
//! [`ServerConfig::max_pending_bytes`].
#![deny(missing_docs)]

mod config;
mod conn_table;
mod counters;
mod error;
mod event_loop;
mod memory;
mod message;
mod metrics;
mod status;
mod supervise;
mod worker;

pub use config::{Mode, ServerConfig};
pub use counters::Counters;
pub use error::ServeError;
pub use message::WorkerMessage;
pub use status::{ReadyInfo, ServeEvent, ServeStatus, WorkerStatus};
pub use supervise::{ServePlan, WORKER_COMMAND, serve};
pub use worker::run_worker;
