use std::process::ExitCode;

/// Arguments of `c1m serve`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `c1m serve`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("serve is not built yet")
}
