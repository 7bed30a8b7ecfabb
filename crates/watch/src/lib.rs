//! `c1m watch`: socket-state counts from sock_diag and kernel memory per connection, sampled cheaply.
//!
//! # Brief overview
//! A [`Sampler`] takes [`Sample`]s of the network namespace it was created in (see [`enter_netns`]):
//! TCP sockets by state from sock_diag netlink dumps filtered in the kernel ([`SockDiag`]), LISTEN accept
//! queues, slab memory attributed to connections ([`KernelMemory`]), the trouble counters of
//! `/proc/net/netstat` with their rise per interval, file, conntrack and per-process fd levels, and
//! [`Alert`]s naming the [`Limit`](c1m_kernel::Limit) close to being hit. Every sample says what it cost.
//! [`render`] turns a sample into plain lines; [`run_screen`] draws it live.
#![deny(missing_docs)]

mod alert;
mod counters;
mod memory;
mod netns;
mod port_filter;
pub mod render;
mod sample;
mod sampler;
mod screen;
mod slab_layout;
mod sockdiag;
mod tcp_state;

pub use alert::{Alert, NEAR_LIMIT};
pub use counters::{CounterDelta, WATCHED_COUNTERS, counter_deltas};
pub use memory::{KernelMemory, SlabUse};
pub use netns::{NetnsError, enter_netns};
pub use port_filter::{PortFilter, PortSide};
pub use sample::{EstablishedSource, ProcessFds, Sample, SampleCost};
pub use sampler::{Sampler, WatchError, WatchOptions};
pub use screen::{ScreenError, run_screen};
pub use slab_layout::SlabLayout;
pub use sockdiag::{Census, DiagError, DumpCost, Listener, SockDiag};
pub use tcp_state::{StateCounts, TcpState};
