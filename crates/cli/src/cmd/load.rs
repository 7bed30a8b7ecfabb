use std::process::ExitCode;

/// Arguments of `c1m load`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `c1m load`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("load is not built yet")
}

/// Arguments of the hidden `c1m load-worker` process.
#[derive(clap::Args, Debug)]
pub struct WorkerArgs {}

/// Run one `load` worker process.
pub fn run_worker(_args: WorkerArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("load workers are not built yet")
}
