//! The `mastermind` command line.

mod access;
mod approvals;
mod client;
mod config;
mod locks;
mod new;
mod output;
mod participant;
mod plan;
mod run;
mod runtime;
mod serve;
mod server;
mod upload;
mod webhooks;
mod worker;

pub use runtime::builtin_registry;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The parsed command line: one of the subcommands.
#[derive(Debug, Parser)]
#[command(name = "mastermind", version, about = "Infrastructure orchestration with sandboxed WebAssembly participants")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one job to the end in this process: progress on stderr, the
    /// final fields as JSON on stdout.
    Run(run::RunArgs),
    /// Check a definition: syntax, steps, attributes.
    Check(run::CheckArgs),
    /// Serve the HTTP API, and run jobs and schedules, until stopped.
    Serve(serve::ServeArgs),
    /// Process the jobs stored in a database until stopped (no HTTP).
    Worker(worker::WorkerArgs),
    /// Definitions on a server (MASTERMIND_URL, MASTERMIND_TOKEN).
    #[command(subcommand)]
    Definitions(client::Definitions),
    /// Jobs on a server.
    #[command(subcommand)]
    Jobs(client::Jobs),
    /// Uploaded participants on a server.
    #[command(subcommand)]
    Participants(client::Participants),
    /// Secrets on a server.
    #[command(subcommand)]
    Secrets(client::Secrets),
    /// Approvals waiting in your tenant's jobs, and your decisions.
    #[command(subcommand)]
    Approvals(approvals::Approvals),
    /// Lock keys your tenant's jobs hold, and who waits for them.
    Locks(locks::LocksArgs),
    /// Webhooks your tenant's job ends and pending approvals are posted to.
    #[command(subcommand)]
    Webhooks(webhooks::Webhooks),
    /// Tenants on a server (the server's admin token).
    #[command(subcommand)]
    Tenants(access::Tenants),
    /// API tokens on a server: a tenant's (admin token), or your tenant's own.
    #[command(subcommand)]
    Tokens(access::Tokens),
    /// Store a server's URL and a token for the client commands, once the
    /// server accepts the token (MASTERMIND_URL and MASTERMIND_TOKEN win).
    Login(access::LoginArgs),
    /// Inspect and run participant components.
    #[command(subcommand)]
    Participant(participant::Command),
}

/// Runs the command; an error is printed on stderr and exits with 1.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Run(args) => run::run(args).await,
        Command::Check(args) => run::check(args).await,
        Command::Serve(args) => serve::serve(args).await,
        Command::Worker(args) => worker::worker(args).await,
        Command::Definitions(cmd) => client::definitions(cmd).await,
        Command::Jobs(cmd) => client::jobs(cmd).await,
        Command::Participants(cmd) => client::participants(cmd).await,
        Command::Secrets(cmd) => client::secrets(cmd).await,
        Command::Approvals(cmd) => approvals::approvals(cmd).await,
        Command::Locks(args) => locks::locks(args).await,
        Command::Webhooks(cmd) => webhooks::webhooks(cmd).await,
        Command::Tenants(cmd) => access::tenants(cmd).await,
        Command::Tokens(cmd) => access::tokens(cmd).await,
        Command::Login(args) => access::login(args).await,
        Command::Participant(cmd) => participant::run(cmd).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let style = output::Style::new(output::colour_stderr());
            eprintln!("{}error:{} {e:#}", style.red, style.reset);
            ExitCode::from(1)
        }
    }
}

/// Logs go to stderr; MASTERMIND_LOG_LEVEL (or RUST_LOG) sets the level.
pub fn init_tracing() {
    let filter =
        std::env::var("MASTERMIND_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_else(|_| "warn".into());
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

/// `key=text` (a string) or `key:=JSON` (any JSON value).
pub(crate) fn parse_assignment(spec: &str, flag: &str) -> anyhow::Result<(String, Value)> {
    if let Some((key, json)) = spec.split_once(":=")
        && !key.contains('=')
    {
        let value = serde_json::from_str(json).with_context(|| format!("{flag} {key}:= expects JSON"))?;
        return Ok((key.to_owned(), value));
    }
    let (key, text) =
        spec.split_once('=').with_context(|| format!("{flag} '{spec}': expected KEY=VALUE or KEY:=JSON"))?;
    Ok((key.to_owned(), Value::String(text.to_owned())))
}

/// `NAME=VALUE` or `NAME=@FILE`.
pub(crate) fn parse_secret(spec: &str) -> anyhow::Result<(String, String)> {
    let (name, value) = spec.split_once('=').context("--secret expects NAME=VALUE or NAME=@FILE")?;
    let value = match value.strip_prefix('@') {
        Some(file) => std::fs::read_to_string(file).with_context(|| format!("reading secret {name} from {file}"))?,
        None => value.to_owned(),
    };
    Ok((name.to_owned(), value))
}

pub(crate) fn read_json_object(path: &Path) -> anyhow::Result<Map<String, Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    match serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))? {
        Value::Object(map) => Ok(map),
        _ => bail!("{} must hold a JSON object", path.display()),
    }
}

/// Writes a JSON document to stdout; a closed pipe (`| head`) is not an error.
pub(crate) fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    use std::io::Write;
    let text = serde_json::to_string_pretty(value)?;
    match writeln!(std::io::stdout(), "{text}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
