//! `c1m serve`: an epoll server that holds millions of connections for a few bytes of user space each.
#![deny(missing_docs)]
