use std::process::ExitCode;

/// Arguments of `c1m worker`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `c1m worker`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("worker is not built yet")
}
