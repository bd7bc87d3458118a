//! The `mastermind` command: parses the command line, sets up logging on
//! stderr, and runs the subcommand (see [`mastermind::cli`]).

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = mastermind::cli::Cli::parse();
    mastermind::cli::init_tracing();
    mastermind::cli::run(cli).await
}
