//! The client commands: a server's definitions, jobs, participants and
//! secrets, through its HTTP API. MASTERMIND_URL says where the server is
//! (http://127.0.0.1:7464 when unset), MASTERMIND_TOKEN who is asking.

use anyhow::{Context as _, bail};
use base64::Engine as _;
use clap::Subcommand;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use std::io::{IsTerminal, Read};
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
    },
    List,
    Show {
        name: String,
    },
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
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        definition: Option<String>,
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
    },
    List,
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

struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    fn from_env() -> anyhow::Result<Self> {
        let base = std::env::var("MASTERMIND_URL")
            .unwrap_or_else(|_| format!("http://127.0.0.1:{}", crate::api::DEFAULT_PORT));
        let token = std::env::var("MASTERMIND_TOKEN").ok().filter(|t| !t.is_empty());
        // `localhost:7464` parses as a URL of scheme `localhost`: only the
        // two schemes the server speaks pass.
        let scheme = url::Url::parse(&base).map(|u| u.scheme().to_owned()).unwrap_or_default();
        if scheme != "http" && scheme != "https" {
            bail!("MASTERMIND_URL '{base}' is not an http:// or https:// URL: set it to http://{base}");
        }
        Ok(Client { http: reqwest::Client::builder().build()?, base: base.trim_end_matches('/').to_owned(), token })
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request
    }

    /// Sends a request; an error answer becomes an error with the server's message.
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| {
            let hint =
                if e.is_connect() { ": is `mastermind serve` running there? (MASTERMIND_URL says where)" } else { "" };
            anyhow::anyhow!("contacting {}{hint}: {e}", self.base)
        })?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            match self.token {
                None => bail!(
                    "MASTERMIND_TOKEN is not set: export MASTERMIND_TOKEN=<a token of your tenant> \
                     (an admin makes one: POST /v1/tenants/{{id}}/tokens)"
                ),
                Some(_) => bail!("the server refused MASTERMIND_TOKEN (401): revoked, or not this server's?"),
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
            bail!("{} ({status})", error["message"].as_str().unwrap_or("request failed"));
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

pub async fn definitions(cmd: Definitions) -> anyhow::Result<ExitCode> {
    let client = Client::from_env()?;
    let out = match cmd {
        Definitions::Push { file, name } => {
            let source = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let name = name
                .or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .context("give the definition a --name")?;
            let body = if file.extension().is_some_and(|e| e == "json") {
                json!({ "name": name, "tree": serde_json::from_str::<Value>(&source).context("the file is not JSON")? })
            } else {
                json!({ "name": name, "source": source })
            };
            client.send(Method::POST, "/v1/definitions", Some(body)).await?
        }
        Definitions::List => client.send(Method::GET, "/v1/definitions", None).await?,
        Definitions::Show { name } => client.send(Method::GET, &format!("/v1/definitions/{name}"), None).await?,
    };
    super::print_json(&out)?;
    Ok(ExitCode::SUCCESS)
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
        Jobs::List { state, definition } => {
            let mut query = Vec::new();
            if let Some(s) = state {
                query.push(format!("state={s}"));
            }
            if let Some(d) = definition {
                query.push(format!("definition={d}"));
            }
            client.send(Method::GET, &format!("/v1/jobs?{}", query.join("&")), None).await?
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

/// Prints a job's events as they happen, each once and in order (they are
/// numbered: a dropped connection is resumed after the last one printed);
/// the final fields on stdout.
async fn watch(client: &Client, id: &str) -> anyhow::Result<ExitCode> {
    let tty = std::io::stderr().is_terminal();
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
                show(name, &data, tty);
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

fn show(name: &str, data: &Value, tty: bool) {
    let (green, red, dim, reset) = if tty { ("\x1b[32m", "\x1b[31m", "\x1b[2m", "\x1b[0m") } else { ("", "", "", "") };
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
        Participants::Upload { file, grants } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let body = json!({ "wasm": base64::engine::general_purpose::STANDARD.encode(bytes), "grants": grants });
            client.send(Method::POST, "/v1/participants", Some(body)).await?
        }
        Participants::List => client.send(Method::GET, "/v1/participants", None).await?,
        Participants::Show { name } => client.send(Method::GET, &format!("/v1/participants/{name}"), None).await?,
        Participants::Delete { name } => client.send(Method::DELETE, &format!("/v1/participants/{name}"), None).await?,
    };
    if !out.is_null() {
        super::print_json(&out)?;
    }
    Ok(ExitCode::SUCCESS)
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
