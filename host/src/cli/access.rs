//! Who may use a server: `mastermind tenants` (the server's admin token),
//! `mastermind tokens` (the admin token for a tenant's tokens, a tenant's
//! admin-scoped token for its own), and `mastermind login`, which stores a
//! server's URL and a token for the client commands.

use super::client::{Client, check_url, emit, items, server_error};
use super::config;
use super::output::{self, Output};
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum Tenants {
    /// Create a tenant, with limits of its own (the defaults when absent).
    Create {
        /// 1 to 100 letters, digits, `_`, `-` and `.`.
        name: String,
        #[command(flatten)]
        limits: LimitArgs,
        /// Print the tenant as JSON (the default when stdout is not a terminal).
        #[arg(long)]
        json: bool,
    },
    /// List the tenants: id, name, created.
    List {
        /// JSON instead of a table (the default when stdout is not a terminal).
        #[arg(long)]
        json: bool,
    },
}

/// A tenant's limits, each as the API takes it (docs/api.md, "Limits").
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Memory per participant call (`memory_bytes`), e.g. 128MiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory: Option<u64>,
    /// Wall-clock deadline per call (`deadline_ms`), e.g. 30s, 2h.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    deadline: Option<Duration>,
    /// Field updates a call may return (`output_bytes`), e.g. 4MiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    output: Option<u64>,
    /// Log and progress text per call (`log_bytes`), e.g. 1MiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    log: Option<u64>,
    /// Participant calls in flight at once, per process.
    #[arg(long, value_name = "N")]
    max_concurrent_calls: Option<u32>,
    /// Jobs launched per second through the API, per process.
    #[arg(long, value_name = "N")]
    launches_per_second: Option<u32>,
}

impl LimitArgs {
    /// The limits given, by the API's names; None when none is.
    fn to_json(&self) -> Option<Value> {
        let mut limits = Map::new();
        let mut set = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                limits.insert(key.to_owned(), value);
            }
        };
        set("memory_bytes", self.memory.map(Value::from));
        set("deadline_ms", self.deadline.map(|d| Value::from(d.as_millis() as u64)));
        set("output_bytes", self.output.map(Value::from));
        set("log_bytes", self.log.map(Value::from));
        set("max_concurrent_calls", self.max_concurrent_calls.map(Value::from));
        set("launches_per_second", self.launches_per_second.map(Value::from));
        (!limits.is_empty()).then_some(Value::Object(limits))
    }
}

/// `1048576`, `512KiB`, `64MiB`, `1GiB` (binary units, any case, `B` optional).
fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let (number, unit) = lower.split_at(lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len()));
    let scale: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        _ => return Err(format!("'{text}': a size is bytes, or a number with KiB, MiB or GiB")),
    };
    let n: u64 = number.parse().map_err(|_| format!("'{text}': a size starts with a number"))?;
    n.checked_mul(scale).ok_or_else(|| format!("'{text}' is too large"))
}

#[derive(Debug, Subcommand)]
pub enum Tokens {
    /// Create a token. With the server's admin token, --tenant names whose;
    /// with a tenant's admin-scoped token, it is one of its own tenant.
    /// The token is shown this once.
    Create {
        /// The tenant, by id or name (the admin token only).
        #[arg(long)]
        tenant: Option<String>,
        /// What it may do: read, run (implies read), admin (implies run),
        /// approve (decides approvals; implies read); or signin alone: a
        /// one-time console sign-in link.
        #[arg(long = "scope", value_name = "SCOPE", required = true,
              value_parser = ["read", "run", "admin", "approve", "signin"])]
        scopes: Vec<String>,
        /// A group it belongs to (repeatable): approvals naming the group
        /// (`groups: ['ops']`) may be decided with it.
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        /// What it is for, e.g. ci or alice.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Print the token and its record as JSON (the default when stdout is not a terminal).
        #[arg(long)]
        json: bool,
    },
    /// List your tenant's tokens (a tenant's admin-scoped token): id, name, scopes, created.
    List {
        /// JSON instead of a table (the default when stdout is not a terminal).
        #[arg(long)]
        json: bool,
    },
    /// Revoke one of your tenant's tokens: it is refused from now on.
    Revoke { id: String },
}

/// `mastermind login URL`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The server, e.g. http://127.0.0.1:7464.
    url: String,
    /// The token; read from stdin, or asked for on a terminal, when absent
    /// (a token given here is visible to other users in the process list
    /// and kept in the shell's history).
    #[arg(long)]
    token: Option<String>,
}

pub async fn tenants(cmd: Tenants) -> anyhow::Result<ExitCode> {
    let client = Client::from_env()?;
    match cmd {
        Tenants::Create { name, limits, json } => {
            let mut body = json!({ "name": name });
            if let Some(limits) = limits.to_json() {
                body["limits"] = limits;
            }
            let tenant = client.send(Method::POST, "/v1/tenants", Some(body)).await.map_err(admin_only)?;
            emit(Output::choose(json), &tenant, |style| {
                let id = tenant["id"].as_str().unwrap_or("?");
                format!(
                    "created tenant {}{}{} {id}\n{}its first token: mastermind tokens create --tenant {} --scope admin{}\n",
                    style.bold,
                    tenant["name"].as_str().unwrap_or("?"),
                    style.reset,
                    style.dim,
                    tenant["name"].as_str().unwrap_or(id),
                    style.reset
                )
            })?;
        }
        Tenants::List { json } => {
            let list = client.send(Method::GET, "/v1/tenants", None).await.map_err(admin_only)?;
            emit(Output::choose(json), &list, |style| {
                let rows: Vec<Vec<String>> = items(&list)
                    .map(|t| {
                        vec![output::cell(&t["id"]), output::cell(&t["name"]), output::time_cell(&t["created_at"])]
                    })
                    .collect();
                output::table(&["ID", "NAME", "CREATED (UTC)"], &rows, "no tenants yet", style.on)
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A 403 on a server admin's endpoint: say which token it takes.
fn admin_only(e: anyhow::Error) -> anyhow::Error {
    match server_error(&e) {
        Some(refused) if refused.status == StatusCode::FORBIDDEN => {
            anyhow::anyhow!("{refused}: use the server's admin token (MASTERMIND_ADMIN_TOKEN of `mastermind serve`)")
        }
        _ => e,
    }
}

pub async fn tokens(cmd: Tokens) -> anyhow::Result<ExitCode> {
    let client = Client::from_env()?;
    match cmd {
        Tokens::Create { tenant, scopes, groups, name, json } => {
            let body = json!({ "name": name, "scopes": scopes, "groups": groups });
            let token = match tenant {
                Some(tenant) => {
                    let id = tenant_id(&client, &tenant).await?;
                    client.send(Method::POST, &format!("/v1/tenants/{id}/tokens"), Some(body)).await?
                }
                None => {
                    client.send(Method::POST, "/v1/tokens", Some(body)).await.map_err(|e| match server_error(&e) {
                        Some(refused) if refused.message.contains("admin token") => anyhow::anyhow!(
                            "{refused}: with the server's admin token, name the tenant: --tenant ID_OR_NAME"
                        ),
                        _ => e,
                    })?
                }
            };
            if let Some(link) = token["signin_url"].as_str() {
                emit(Output::choose(json), &token, |style| {
                    format!(
                        "sign-in link for {} (works once, for 24 hours):\n{}{link}{}\n",
                        token["name"].as_str().unwrap_or("?"),
                        style.bold,
                        style.reset
                    )
                })?;
                return Ok(ExitCode::SUCCESS);
            }
            emit(Output::choose(json), &token, |style| {
                format!(
                    "created token {} {} ({}){}\n{}{}{}\n{}shown this once: keep it now, e.g. `mastermind login URL` \
                     reads it from stdin{}\n",
                    token["name"].as_str().unwrap_or("?"),
                    token["id"].as_str().unwrap_or("?"),
                    output::cell(&token["scopes"]),
                    token["tenant"].as_str().map(|t| format!(" in tenant {t}")).unwrap_or_default(),
                    style.bold,
                    token["token"].as_str().unwrap_or("?"),
                    style.reset,
                    style.dim,
                    style.reset
                )
            })?;
        }
        Tokens::List { json } => {
            let list = client.send(Method::GET, "/v1/tokens", None).await.map_err(tenant_only)?;
            emit(Output::choose(json), &list, |style| {
                let rows: Vec<Vec<String>> = items(&list)
                    .map(|t| {
                        vec![
                            output::cell(&t["id"]),
                            output::cell(&t["name"]),
                            output::cell(&t["scopes"]),
                            output::cell(&t["groups"]),
                            output::time_cell(&t["created_at"]),
                        ]
                    })
                    .collect();
                output::table(&["ID", "NAME", "SCOPES", "GROUPS", "CREATED (UTC)"], &rows, "no tokens", style.on)
            })?;
        }
        Tokens::Revoke { id } => {
            client.send(Method::DELETE, &format!("/v1/tokens/{id}"), None).await.map_err(tenant_only)?;
            if let Output::Human { .. } = Output::choose(false) {
                output::print_text(&format!("revoked token {id}\n"))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A 403 for the admin token on a tenant's tokens: the API has no way for
/// it to list or revoke them.
fn tenant_only(e: anyhow::Error) -> anyhow::Error {
    match server_error(&e) {
        Some(refused) if refused.status == StatusCode::FORBIDDEN && refused.message.contains("admin token") => {
            anyhow::anyhow!(
                "{refused}: a tenant's tokens are listed and revoked with an admin-scoped token of that tenant"
            )
        }
        _ => e,
    }
}

/// The id of the tenant named or numbered `tenant` (the admin token's list).
async fn tenant_id(client: &Client, tenant: &str) -> anyhow::Result<String> {
    let list = client.send(Method::GET, "/v1/tenants", None).await.map_err(|e| match server_error(&e) {
        Some(refused) if refused.status == StatusCode::FORBIDDEN => anyhow::anyhow!(
            "{refused}: --tenant takes the server's admin token; a tenant's token makes tokens of its own tenant \
             (leave --tenant out)"
        ),
        _ => e,
    })?;
    items(&list)
        .find(|t| t["id"] == tenant)
        .or_else(|| items(&list).find(|t| t["name"] == tenant))
        .and_then(|t| t["id"].as_str())
        .map(str::to_owned)
        .with_context(|| format!("no tenant '{tenant}' (mastermind tenants list shows them)"))
}

pub async fn login(args: LoginArgs) -> anyhow::Result<ExitCode> {
    let url = check_url(&args.url, "the URL")?;
    let token = match args.token {
        Some(token) => token,
        None => read_token(&url)?,
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        bail!("no token given: nothing stored");
    }
    let client = Client::with_token(&url, &token)?;
    // Any token the server knows may read GET /v1/tokens or is refused it
    // with 403; an unknown one gets 401.
    let who = match client.send(Method::GET, "/v1/tokens", None).await {
        Ok(_) => "an admin-scoped tenant token",
        Err(e) => match server_error(&e) {
            Some(refused) if refused.status == StatusCode::FORBIDDEN => {
                if client.send(Method::GET, "/v1/tenants", None).await.is_ok() {
                    "the server's admin token"
                } else {
                    "a tenant token"
                }
            }
            _ => return Err(e.context("nothing stored")),
        },
    };
    let path = config::store(&config::Login { url: url.clone(), token })?;
    eprintln!("logged in to {url} with {who}; stored in {}", path.display());
    eprintln!("MASTERMIND_URL and MASTERMIND_TOKEN, when set, take precedence over it");
    Ok(ExitCode::SUCCESS)
}

/// The token from stdin: asked for, without echo, on a terminal; else its
/// first line.
fn read_token(url: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let mut line = String::new();
    if !stdin.is_terminal() {
        stdin.lock().read_line(&mut line).context("reading the token from stdin")?;
        return Ok(line);
    }
    eprint!("token for {url}: ");
    let _quiet = Quiet::new();
    let read = stdin.lock().read_line(&mut line);
    eprintln!();
    read.context("reading the token")?;
    Ok(line)
}

/// While alive, what is typed on the terminal (stdin) is not shown.
struct Quiet {
    #[cfg(unix)]
    saved: Option<rustix::termios::Termios>,
}

impl Quiet {
    #[cfg(unix)]
    fn new() -> Quiet {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        let Ok(saved) = tcgetattr(&stdin) else { return Quiet { saved: None } };
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        if tcsetattr(&stdin, OptionalActions::Now, &quiet).is_err() {
            return Quiet { saved: None };
        }
        Quiet { saved: Some(saved) }
    }

    #[cfg(not(unix))]
    fn new() -> Quiet {
        Quiet {}
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(saved) = &self.saved {
            let _ = rustix::termios::tcsetattr(std::io::stdin(), rustix::termios::OptionalActions::Now, saved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("64 mib"), Ok(64 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("64MB").is_err());
        assert!(parse_size("99999999999GiB").is_err());
    }
}
