use std::process::ExitCode;

/// Arguments of `c1m serve`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `c1m serve`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("serve is not built yet")
}

/// Arguments of the hidden `c1m serve-worker` process.
#[derive(clap::Args, Debug)]
pub struct WorkerArgs {}

/// Run one `serve` worker process.
pub fn run_worker(_args: WorkerArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("serve workers are not built yet")
}
