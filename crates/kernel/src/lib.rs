//! What the kernel says: readers for `/proc` and `/proc/sys`, rlimits, and the [`Limit`] vocabulary.
//!
//! # Brief overview
//! Every source is a pure `parse(&str)` function (tested on fixture files) plus a thin reader rooted at a
//! [`ProcRoot`], so a snapshot of another machine's `/proc` can be diagnosed as easily as the live one.
//! A file or key the running kernel does not have is a typed absence, never a panic.
//!
//! [`Limit`] names every kernel or process limit that can stop a connection count; doctor keys its rules by
//! it and the server and load generator map errnos and rising counters to it.
#![deny(missing_docs)]

mod limit;
mod procroot;

pub use limit::Limit;
pub use procroot::ProcRoot;
