use std::process::ExitCode;

/// Arguments of `c1m watch`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `c1m watch`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("watch is not built yet")
}
