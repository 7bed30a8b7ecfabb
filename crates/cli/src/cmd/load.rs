use std::process::ExitCode;

/// Arguments of `c1m load`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `c1m load`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("load is not built yet")
}
