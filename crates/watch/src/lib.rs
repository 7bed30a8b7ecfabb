//! `c1m watch`: socket-state counts from sock_diag and kernel memory per connection, sampled cheaply.
#![deny(missing_docs)]

mod port_filter;
mod sockdiag;
mod tcp_state;

pub use port_filter::{PortFilter, PortSide};
pub use sockdiag::{Census, DiagError, DumpCost, Listener, SockDiag};
pub use tcp_state::{StateCounts, TcpState};
