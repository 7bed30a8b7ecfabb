use std::process::ExitCode;

/// Arguments of `c1m bench`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `c1m bench`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("bench is not built yet")
}
