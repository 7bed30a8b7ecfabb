use std::process::ExitCode;

/// Arguments of `c1m report`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `c1m report`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("report is not built yet")
}
