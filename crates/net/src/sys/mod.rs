//! The only module of c1m-net that talks to the kernel.
//!
//! Contract: every function here is a thin wrapper over one syscall (or a fixed short sequence of them),
//! takes and returns owned or borrowed fds and std address types, and reports failures as
//! [`rustix::io::Errno`] or [`std::io::Error`]. The rest of the crate speaks in domain types
//! ([`crate::Listener`], [`crate::Conn`], [`crate::Poller`], [`crate::Supervisor`]) built on these.

pub(crate) mod connect;
pub(crate) mod epoll;
pub(crate) mod process;
pub(crate) mod socket;
