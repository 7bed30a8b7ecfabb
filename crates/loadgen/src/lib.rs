//! `c1m load`: open-loop connection load from many source addresses, with a mergeable report.
#![deny(missing_docs)]
