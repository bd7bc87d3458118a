use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = mastermind::cli::Cli::parse();
    mastermind::cli::init_tracing();
    mastermind::cli::run(cli).await
}
