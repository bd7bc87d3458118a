//! The `mastermind` command line.

mod participant;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "mastermind", version, about = "Infrastructure orchestration with sandboxed WebAssembly participants")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect and run participant components.
    #[command(subcommand)]
    Participant(participant::Command),
}

pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Participant(cmd) => participant::run(cmd).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Logs go to stderr; MASTERMIND_LOG_LEVEL (or RUST_LOG) sets the level.
pub fn init_tracing() {
    let filter = std::env::var("MASTERMIND_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Where compiled components are cached: MASTERMIND_CACHE_DIR, else the
/// user's cache directory.
pub(crate) fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("MASTERMIND_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("mastermind").join("compiled"))
}
