use std::process::ExitCode;

/// Arguments of `c1m doctor`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `c1m doctor`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("doctor is not built yet")
}
