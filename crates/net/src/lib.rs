//! Sockets, event loops and worker processes: the only crate that makes socket syscalls.
//!
//! # Brief overview
//! - [`Listener`]: a non-blocking `SO_REUSEPORT` listening socket (one per event-loop thread), whose
//!   [`Listener::accept`] classifies refusals by the [`c1m_kernel::Limit`] they hit;
//!   [`PortReservation`] holds a port so many processes can share it.
//! - [`Conn`]: an accepted connection, one 4-byte fd, with non-blocking [`Conn::read`]/[`Conn::write`].
//! - [`Poller`]: one edge-triggered epoll instance keyed by `u64` tokens.
//! - [`Supervisor`]: worker processes (this binary re-executed) that report over stdout, restarted on
//!   request and stopped with a bound.
//!
//! All syscalls live in the private `sys` module.
#![deny(missing_docs)]

mod conn;
pub mod connector;
pub mod errno;
mod listener;
mod poller;
mod supervisor;
mod sys;

pub use conn::{Conn, Io};
pub use listener::{AcceptError, BindError, Listener, PortReservation};
pub use poller::{Events, Interest, Poller, Readiness};
pub use supervisor::{Supervisor, WORKER_INDEX_ENV, WorkerEvent};
