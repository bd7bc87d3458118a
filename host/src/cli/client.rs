//! The client commands: a server's definitions, jobs, participants and
//! secrets, through its HTTP API. MASTERMIND_URL says where the server is,
//! MASTERMIND_TOKEN who is asking; when they are unset, what `mastermind
//! login` stored (the token only for the URL it was stored with); else
//! http://127.0.0.1:7464 and no token.
//!
//! Lists print a table and pushes a one-line answer when stdout is a
//! terminal, the API's JSON otherwise or with `--json` (see [`super::output`]).

use super::config;
use super::output::{self, Output, Style};
use anyhow::{Context as _, bail};
use clap::Subcommand;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum Definitions {
    /// Push a definition (a new version when the name exists).
    Push {
        file: PathBuf,
        /// The name; the file's stem when absent.
        #[arg(long)]
        name: Option<String>,
        /// Print the stored version as JSON (source and tree included).
        #[arg(long)]
        json: bool,
    },
    /// List the definitions: name, latest version, when it was pushed.
    List {
        /// JSON instead of a table (the default when stdout is not a terminal).
        #[arg(long)]
        json: bool,
    },
    /// The latest version, with the list of versions (JSON).
    Show { name: String },
}

#[derive(Debug, Subcommand)]
pub enum Jobs {
    /// Launch a job of a stored definition.
    Launch {
        definition: String,
        #[arg(long = "field", short = 'f', value_name = "KEY=VALUE")]
        fields: Vec<String>,
        #[arg(long = "fields", value_name = "FILE.json")]
        fields_file: Option<PathBuf>,
        #[arg(long)]
        version: Option<i64>,
        /// Follow its progress until it ends.
        #[arg(long)]
        watch: bool,
    },
    /// Follow a job's progress until it ends; exit 0 if it completed.
    Watch {
        id: String,
    },
    Show {
        id: String,
    },
    /// List jobs, newest first: id, state, definition@version, created, duration.
    List {
        /// Only jobs in this state (pending, running, paused, failed, completed, canceled).
        #[arg(long)]
        state: Option<String>,
        /// Only jobs of this definition.
        #[arg(long)]
        definition: Option<String>,
        /// How many (1 to 500; the server's default, 50, when absent).
        #[arg(long)]
        limit: Option<i64>,
        /// The next page: the cursor the previous page ended with.
        #[arg(long)]
        before: Option<String>,
        /// JSON instead of a table (the default when stdout is not a terminal).
        #[arg(long)]
        json: bool,
    },
    Cancel {
        id: String,
    },
    Pause {
        id: String,
    },
    Resume {
        id: String,
    },
    /// Retry a failed job's failed step, optionally with edited fields.
    Retry {
        id: String,
        #[arg(long = "field", short = 'f', value_name = "KEY=VALUE")]
        fields: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum Participants {
    /// Upload a participant component with its grants.
    Upload {
        file: PathBuf,
        /// A capability, e.g. http=api.example.com, secret=api_token.
        #[arg(long = "grant", value_name = "SPEC")]
        grants: Vec<String>,
        /// Print the upload as JSON (its description included).
        #[arg(long)]
        json: bool,
        /// The name the component describes itself by: the upload is
        /// listed under it while it compiles (and refused if it says another).
        #[arg(long)]
        name: Option<String>,
        /// Return once the server has the upload, while it still compiles
        /// (`participants show NAME` or `list` says when it is ready).
        #[arg(long)]
        no_wait: bool,
    },
    /// List the built-in participants and the uploads.
    List {
        /// JSON instead of a table (the default when stdout is not a terminal).
        #[arg(long)]
        json: bool,
    },
    Show {
        name: String,
    },
    Delete {
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum Secrets {
    /// Set a secret; its value is read from stdin unless --value is given.
    Set {
        name: String,
        #[arg(long)]
        value: Option<String>,
    },
    List,
    Delete {
        name: String,
    },
}

/// Where a client's token came from, to name it when the server refuses it.
#[derive(Debug, Clone)]
enum TokenSource {
    None,
    Env,
    Login(PathBuf),
}

pub(super) struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    source: TokenSource,
}

/// An error answer of the server: its status, `code` and `message`.
#[derive(Debug)]
pub(super) struct ServerError {
    pub(super) status: StatusCode,
    pub(super) code: String,
    pub(super) message: String,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl std::error::Error for ServerError {}

/// The server's error behind `e`, if that is what it is.
pub(super) fn server_error(e: &anyhow::Error) -> Option<&ServerError> {
    e.downcast_ref::<ServerError>()
}

/// `url` if it is an http:// or https:// URL; `what` names where it came from.
pub(super) fn check_url(url: &str, what: &str) -> anyhow::Result<String> {
    // `localhost:7464` parses as a URL of scheme `localhost`: only the
    // two schemes the server speaks pass.
    let scheme = url::Url::parse(url).map(|u| u.scheme().to_owned()).unwrap_or_default();
    if scheme != "http" && scheme != "https" {
        bail!("{what} '{url}' is not an http:// or https:// URL: set it to http://{url}");
    }
    Ok(url.trim_end_matches('/').to_owned())
}

impl Client {
    /// MASTERMIND_URL and MASTERMIND_TOKEN, else the stored login. The
    /// stored token goes only to the URL it was stored with: pointing
    /// MASTERMIND_URL elsewhere does not send it there.
    pub(super) fn from_env() -> anyhow::Result<Self> {
        let env_url = std::env::var("MASTERMIND_URL").ok().filter(|u| !u.is_empty());
        let env_token = std::env::var("MASTERMIND_TOKEN").ok().filter(|t| !t.is_empty());
        let login = if env_url.is_some() && env_token.is_some() { None } else { config::load()? };
        let base = match (&env_url, &login) {
            (Some(url), _) => check_url(url, "MASTERMIND_URL")?,
            (None, Some((login, path))) => check_url(&login.url, &format!("the URL stored in {}", path.display()))?,
            (None, None) => format!("http://127.0.0.1:{}", crate::api::DEFAULT_PORT),
        };
        let (token, source) = match (env_token, login) {
            (Some(token), _) => (Some(token), TokenSource::Env),
            (None, Some((login, path))) if login.url.trim_end_matches('/') == base => {
                (Some(login.token), TokenSource::Login(path))
            }
            _ => (None, TokenSource::None),
        };
        Self::new(base, token, source)
    }

    /// A client of `base` with `token` (as `mastermind login` checks it).
    pub(super) fn with_token(base: &str, token: &str) -> anyhow::Result<Self> {
        Self::new(base.to_owned(), Some(token.to_owned()), TokenSource::None)
    }

    fn new(base: String, token: Option<String>, source: TokenSource) -> anyhow::Result<Self> {
        Ok(Client { http: reqwest::Client::builder().build()?, base, token, source })
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request
    }

    /// Sends a request; an error answer becomes an error with the server's
    /// message (a [`ServerError`], but for a refused token, which is
    /// explained with the fix).
    pub(super) async fn send(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| {
            let hint = if e.is_connect() {
                ": is `mastermind serve` running there? (MASTERMIND_URL, or `mastermind login URL`, says where)"
            } else {
                ""
            };
            anyhow::anyhow!("contacting {}{hint}: {e}", self.base)
        })?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED {
            let base = &self.base;
            match &self.source {
                TokenSource::None if self.token.is_none() => bail!(
                    "MASTERMIND_TOKEN is not set and no login is stored for {base}: run `mastermind login {base}` \
                     (it asks for the token), or export MASTERMIND_TOKEN=<a token of your tenant> \
                     (an admin makes one: mastermind tokens create --tenant TENANT --scope admin)"
                ),
                TokenSource::None => bail!("the server refused this token (401): revoked, or not this server's?"),
                TokenSource::Env => bail!("the server refused MASTERMIND_TOKEN (401): revoked, or not this server's?"),
                TokenSource::Login(path) => bail!(
                    "the server refused the token `mastermind login` stored in {} (401): revoked? \
                     Run `mastermind login {base}` with a current one",
                    path.display()
                ),
            }
        }
        let text = response.text().await?;
        let value: Value =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        if !status.is_success() {
            let error = &value["error"];
            if let Some(rendered) = error["details"]["rendered"].as_str() {
                eprint!("{rendered}");
            }
            return Err(ServerError {
                status,
                code: error["code"].as_str().unwrap_or_default().to_owned(),
                message: error["message"].as_str().unwrap_or("request failed").to_owned(),
            }
            .into());
        }
        Ok(value)
    }
}

fn fields(specs: &[String], file: Option<&PathBuf>) -> anyhow::Result<serde_json::Map<String, Value>> {
    let mut fields = match file {
        Some(path) => super::read_json_object(path)?,
        None => serde_json::Map::new(),
    };
    for spec in specs {
        let (k, v) = super::parse_assignment(spec, "--field")?;
        fields.insert(k, v);
    }
    Ok(fields)
}

/// Prints `value` as JSON, or for people as `human` renders it.
pub(super) fn emit(output: Output, value: &Value, human: impl FnOnce(Style) -> String) -> anyhow::Result<()> {
    match output {
        Output::Json => super::print_json(value),
        Output::Human { colour } => output::print_text(&human(Style::new(colour))),
    }
}

/// A query string of the given pairs, encoded; empty when none is set.
pub(super) fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        if let Some(value) = value {
            query.append_pair(key, value);
        }
    }
    let query = query.finish();
    if query.is_empty() { query } else { format!("?{query}") }
}

pub async fn definitions(cmd: Definitions) -> anyhow::Result<ExitCode> {
    let client = Client::from_env()?;
    match cmd {
        Definitions::Push { file, name, json } => {
            let source = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let name = name
                .or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .context("give the definition a --name")?;
            let body = if file.extension().is_some_and(|e| e == "json") {
                json!({ "name": name, "tree": serde_json::from_str::<Value>(&source).context("the file is not JSON")? })
            } else {
                json!({ "name": name, "source": source })
            };
            let pushed = client.send(Method::POST, "/v1/definitions", Some(body)).await?;
            emit(Output::choose(json), &pushed, |style| pushed_text(&pushed, style))?;
        }
        Definitions::List { json } => {
            let list = client.send(Method::GET, "/v1/definitions", None).await?;
            emit(Output::choose(json), &list, |style| {
                let rows = items(&list)
                    .map(|d| {
                        vec![
                            output::cell(&d["name"]),
                            output::cell(&d["latest_version"]),
                            output::time_cell(&d["updated_at"]),
                        ]
                    })
                    .collect::<Vec<_>>();
                output::table(&["NAME", "VERSION", "UPDATED (UTC)"], &rows, "no definitions yet", style.on)
            })?;
        }
        Definitions::Show { name } => {
            super::print_json(&client.send(Method::GET, &format!("/v1/definitions/{name}"), None).await?)?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `name@version`, then any problems the server noted (`warnings`,
/// `problems`), each on a line of its own.
fn pushed_text(pushed: &Value, style: Style) -> String {
    let mut text = format!(
        "{}{}@{}{}\n",
        style.bold,
        pushed["name"].as_str().unwrap_or("?"),
        output::cell(&pushed["version"]),
        style.reset
    );
    for key in ["problems", "warnings"] {
        for problem in items(&pushed[key]) {
            let message = problem.as_str().map(str::to_owned).unwrap_or_else(|| {
                let located = match (problem["line"].as_u64(), problem["column"].as_u64()) {
                    (Some(line), Some(column)) => format!("line {line}, column {column}: "),
                    (Some(line), None) => format!("line {line}: "),
                    _ => String::new(),
                };
                format!("{located}{}", problem["message"].as_str().unwrap_or(&problem.to_string()))
            });
            text.push_str(&format!("{}warning:{} {message}\n", style.yellow, style.reset));
        }
    }
    text
}

/// The items of a JSON list (none when it is not one).
pub(super) fn items(list: &Value) -> impl Iterator<Item = &Value> {
    list.as_array().into_iter().flatten()
}

pub async fn jobs(cmd: Jobs) -> anyhow::Result<ExitCode> {
    let client = Client::from_env()?;
    let out = match cmd {
        Jobs::Launch { definition, fields: specs, fields_file, version, watch: follow } => {
            let body = json!({ "definition": definition, "version": version, "fields": fields(&specs, fields_file.as_ref())? });
            let job = client.send(Method::POST, "/v1/jobs", Some(body)).await?;
            let id = job["id"].as_str().unwrap_or_default().to_owned();
            if follow {
                eprintln!("job {id}");
                return watch(&client, &id).await;
            }
            job
        }
        Jobs::Watch { id } => return watch(&client, &id).await,
        Jobs::Show { id } => client.send(Method::GET, &format!("/v1/jobs/{id}"), None).await?,
        Jobs::List { state, definition, limit, before, json } => {
            let path = format!(
                "/v1/jobs{}",
                query(&[
                    ("state", state),
                    ("definition", definition),
                    ("limit", limit.map(|l| l.to_string())),
                    ("before", before)
                ])
            );
            let page = client.send(Method::GET, &path, None).await?;
            emit(Output::choose(json), &page, |style| {
                let rows = items(&page["jobs"])
                    .map(|j| {
                        vec![
                            output::cell(&j["id"]),
                            state_cell(&j["state"], style),
                            match j["dry_run"] == true {
                                true => format!("{} (dry run)", output::cell(&j["definition"])),
                                false => output::cell(&j["definition"]),
                            },
                            output::time_cell(&j["created_at"]),
                            output::duration_cell(&j["created_at"], &j["finished_at"]),
                        ]
                    })
                    .collect::<Vec<_>>();
                let mut text = output::table(
                    &["ID", "STATE", "DEFINITION", "CREATED (UTC)", "DURATION"],
                    &rows,
                    "no jobs",
                    style.on,
                );
                if let Some(next) = page["next"].as_str() {
                    text.push_str(&format!("{}more: add --before {next}{}\n", style.dim, style.reset));
                }
                text
            })?;
            return Ok(ExitCode::SUCCESS);
        }
        Jobs::Cancel { id } => client.send(Method::POST, &format!("/v1/jobs/{id}/cancel"), None).await?,
        Jobs::Pause { id } => client.send(Method::POST, &format!("/v1/jobs/{id}/pause"), None).await?,
        Jobs::Resume { id } => client.send(Method::POST, &format!("/v1/jobs/{id}/resume"), None).await?,
        Jobs::Retry { id, fields: specs } => {
            let body = if specs.is_empty() { json!({}) } else { json!({ "fields": fields(&specs, None)? }) };
            client.send(Method::POST, &format!("/v1/jobs/{id}/retry"), Some(body)).await?
        }
    };
    super::print_json(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// A job's state: green when completed, red when failed, dim when canceled.
fn state_cell(state: &Value, style: Style) -> String {
    let colour = match state.as_str() {
        Some("completed") => style.green,
        Some("failed") => style.red,
        Some("canceled") => style.dim,
        _ => "",
    };
    if colour.is_empty() { output::cell(state) } else { format!("{colour}{}{}", output::cell(state), style.reset) }
}

/// Prints a job's events as they happen, each once and in order (they are
/// numbered: a dropped connection is resumed after the last one printed);
/// the final fields on stdout.
async fn watch(client: &Client, id: &str) -> anyhow::Result<ExitCode> {
    let colour = output::colour_stderr();
    let mut last_id: Option<i64> = None;
    let mut last_state = Value::Null;
    let mut failures = 0;
    loop {
        let mut request = client.request(Method::GET, &format!("/v1/jobs/{id}/events"));
        if let Some(seen) = last_id {
            request = request.header("Last-Event-ID", seen.to_string());
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if last_id.is_some() && failures < 10 => {
                failures += 1;
                eprintln!("(reconnecting: {e})");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if !response.status().is_success() {
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            bail!("{} ({status})", body["error"]["message"].as_str().unwrap_or("request failed"));
        }
        let mut stream = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(chunk) = stream.next().await {
            // A broken connection is resumed below, like an early end.
            let Ok(chunk) = chunk else { break };
            failures = 0;
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let (mut name, mut event_id, mut data) = ("", None, String::new());
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event:") {
                        name = n.trim();
                    } else if let Some(i) = line.strip_prefix("id:") {
                        event_id = i.trim().parse::<i64>().ok();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim_start());
                    }
                }
                if let Some(n) = event_id {
                    // Already printed before a reconnection.
                    if last_id.is_some_and(|seen| n <= seen) {
                        continue;
                    }
                    last_id = Some(n);
                }
                let data: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
                if name == "state" {
                    last_state = data.clone();
                }
                show(name, &data, Style::new(colour));
            }
        }
        if matches!(last_state["state"].as_str(), Some("completed" | "canceled" | "failed")) {
            break;
        }
        // Cut off before the job was over: resume after the last event.
        failures += 1;
        if failures > 10 {
            bail!("the event stream of job {id} keeps breaking off");
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let state = last_state["state"].as_str().unwrap_or("unknown");
    super::print_json(&last_state["fields"])?;
    Ok(if state == "completed" { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn step_line(d: &Value) -> String {
    format!("line {} {}.{}", d["line"], d["participant"].as_str().unwrap_or("?"), d["action"].as_str().unwrap_or("?"))
}

fn show(name: &str, data: &Value, style: Style) {
    let Style { green, red, dim, reset, .. } = style;
    let step = step_line;
    match name {
        "state" => {
            // Steps that ran before we watched are replayed as events.
            eprintln!("{dim}state: {}{reset}", data["state"].as_str().unwrap_or("?"));
            if let Some(message) = data["error"]["message"].as_str() {
                eprintln!("{red}error:{reset} {message}");
            }
        }
        "step_started" => eprintln!("▶ {}", step(data)),
        "step_finished" if data["error"].is_null() => {
            eprintln!("{green}✓{reset} {} {dim}({} ms){reset}", step(data), data["elapsed_ms"])
        }
        "step_finished" => {
            eprintln!("{red}✗{reset} {}: {}", step(data), data["error"]["message"].as_str().unwrap_or(""))
        }
        "log" | "progress" => eprintln!("{dim}  {}{reset}", data["message"].as_str().unwrap_or("")),
        "echo" => eprintln!("  {}", data["text"].as_str().unwrap_or("")),
        "step_failed" => eprintln!("{red}failed:{reset} {}", data["error"]["message"].as_str().unwrap_or("")),
        _ => {}
    }
}

pub async fn participants(cmd: Participants) -> anyhow::Result<ExitCode> {
    let client = Client::from_env()?;
    let out = match cmd {
        Participants::Upload { file, grants, json, name, no_wait } => {
            let mut uploaded = super::upload::upload(&client, &file, grants, name).await?;
            if !no_wait {
                uploaded = super::upload::wait_compiled(&client, uploaded).await?;
            }
            emit(Output::choose(json), &uploaded, |style| match uploaded["state"].as_str() {
                Some("compiling") => format!(
                    "{}{}{} compiling (upload {})\n",
                    style.bold,
                    uploaded["name"].as_str().unwrap_or("participant"),
                    style.reset,
                    output::cell(&uploaded["upload"])
                ),
                _ => format!(
                    "{}{}@{}{}\n",
                    style.bold,
                    uploaded["name"].as_str().unwrap_or("?"),
                    output::cell(&uploaded["version"]),
                    style.reset
                ),
            })?;
            return Ok(ExitCode::SUCCESS);
        }
        Participants::List { json } => {
            let list = client.send(Method::GET, "/v1/participants", None).await?;
            emit(Output::choose(json), &list, |style| participant_table(&list, style.on))?;
            return Ok(ExitCode::SUCCESS);
        }
        Participants::Show { name } => client.send(Method::GET, &format!("/v1/participants/{name}"), None).await?,
        Participants::Delete { name } => client.send(Method::DELETE, &format!("/v1/participants/{name}"), None).await?,
    };
    if !out.is_null() {
        super::print_json(&out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Participants as a table: the API's views (name, kind, version, actions,
/// grants), or bare descriptions (`mastermind participant list`: name,
/// version, actions, what it is for).
pub(super) fn participant_table(list: &Value, colour: bool) -> String {
    let actions = |description: &Value| {
        let names: Vec<&str> = items(&description["actions"]).filter_map(|a| a["name"].as_str()).collect();
        if names.is_empty() { "-".to_owned() } else { names.join(",") }
    };
    if items(list).any(|p| p.get("kind").is_none()) {
        let rows: Vec<Vec<String>> = items(list)
            .map(|d| vec![output::cell(&d["name"]), output::cell(&d["version"]), actions(d), output::cell(&d["doc"])])
            .collect();
        return output::table(&["NAME", "VERSION", "ACTIONS", "DOC"], &rows, "no participants", colour);
    }
    let rows: Vec<Vec<String>> = items(list)
        .map(|p| {
            vec![
                output::cell(&p["name"]),
                output::cell(&p["kind"]),
                output::cell(&p["version"]),
                output::cell(&p["state"]),
                actions(&p["description"]),
                output::cell(&p["grants"]),
            ]
        })
        .collect();
    output::table(&["NAME", "KIND", "VERSION", "STATE", "ACTIONS", "GRANTS"], &rows, "no participants", colour)
}

pub async fn secrets(cmd: Secrets) -> anyhow::Result<ExitCode> {
    let client = Client::from_env()?;
    let out = match cmd {
        Secrets::Set { name, value } => {
            let value = match value {
                Some(v) => v,
                None => {
                    let mut text = String::new();
                    std::io::stdin().read_to_string(&mut text).context("reading the secret from stdin")?;
                    text.trim_end_matches('\n').to_owned()
                }
            };
            client.send(Method::PUT, &format!("/v1/secrets/{name}"), Some(json!({ "value": value }))).await?
        }
        Secrets::List => client.send(Method::GET, "/v1/secrets", None).await?,
        Secrets::Delete { name } => client.send(Method::DELETE, &format!("/v1/secrets/{name}"), None).await?,
    };
    if !out.is_null() {
        super::print_json(&out)?;
    }
    Ok(ExitCode::SUCCESS)
}
