use std::process::ExitCode;

/// Arguments of `c1m tune`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `c1m tune`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("tune is not built yet")
}
