//! One file per subcommand: its clap arguments and a `run` that calls into a library crate.

pub mod bench;
pub mod doctor;
pub mod load;
pub mod report;
pub mod serve;
pub mod tune;
pub mod watch;
