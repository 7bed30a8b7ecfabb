//! `c1m watch`: socket-state counts from sock_diag and kernel memory per connection, sampled cheaply.
#![deny(missing_docs)]
