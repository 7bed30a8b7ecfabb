//! Sockets, event loops and worker processes: the only crate that makes socket syscalls.
#![deny(missing_docs)]
