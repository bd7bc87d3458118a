//! `mastermind worker`: runs jobs and fires schedules from a shared
//! database, without the HTTP API.

use super::server::{KeyUse, ServerArgs, start, stop_on_signal};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The database the jobs are in: sqlite:PATH or postgres://...
    /// (`?durability=normal|full`: what a commit survives, see the README)
    #[arg(long, env = "MASTERMIND_DB")]
    db: String,
    #[command(flatten)]
    common: ServerArgs,
}

pub async fn worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let server = start(&args.db, &args.common, KeyUse::Open).await?;
    let stop = stop_on_signal();
    eprintln!("mastermind worker: processing jobs in {}", server.database);
    let scheduler = server.spawn_services(stop.clone())?;
    server.engine.run(stop.clone()).await?;
    stop.cancel();
    scheduler.await.ok();
    Ok(ExitCode::SUCCESS)
}
