//! `mastermind participant describe|invoke|list|new`: one participant, one
//! call, no engine. Handy for writing and debugging participants; `new`
//! starts one (`new.rs`).

use crate::builtin;
use crate::capabilities::{EventSink, Grants, MemorySecrets, ParticipantEvent};
use crate::sandbox::{CallEnv, CallRequest, Limits, Participant, Sandbox};
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a participant's description (name, actions, params) as JSON.
    Describe {
        /// A .wasm component, or the name of a built-in participant.
        participant: String,
    },
    /// Run one action and print the field updates as JSON.
    Invoke(InvokeArgs),
    /// List the built-in participants: a table on a terminal, else JSON.
    List {
        /// Their descriptions as JSON (the default when stdout is not a terminal).
        #[arg(long)]
        json: bool,
    },
    /// Start a participant: a project that builds into a component with one
    /// cargo command and tests natively with `cargo test`, the SDK and the
    /// WIT contract written into it from this binary.
    New(super::new::NewArgs),
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// A .wasm component, or the name of a built-in participant.
    participant: String,
    action: String,
    /// A param: `key=text` for a string, `key:=JSON` for any JSON value.
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// A JSON file with the job's current fields.
    #[arg(long, value_name = "FILE.json")]
    fields: Option<PathBuf>,
    /// A capability grant, e.g. `http=api.example.com`, `ssh=deploy@web1`,
    /// `ec2=us-west-2`, `chef=https://chef.example.com/organizations/acme`,
    /// `secret=NAME`. Nothing is granted by default.
    #[arg(long = "grant", short = 'g', value_name = "SPEC")]
    grants: Vec<String>,
    /// A secret the participant may name: `NAME=VALUE` or `NAME=@FILE`.
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    secrets: Vec<String>,
    /// Wall-clock limit for the call, e.g. `30s`, `5m`.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    deadline: Duration,
    /// Linear memory limit, in MiB.
    #[arg(long, default_value_t = 64)]
    memory_mib: usize,
}

pub async fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::List { json } => {
            let sandbox = super::runtime::sandbox(None)?;
            let mut out = Vec::new();
            for (name, bytes) in builtin::BUILTINS {
                let p = sandbox.load(bytes).await.with_context(|| format!("loading built-in {name}"))?;
                out.push(serde_json::to_value(p.description())?);
            }
            let out = Value::Array(out);
            super::client::emit(super::output::Output::choose(json), &out, |style| {
                super::client::participant_table(&out, style.on)
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Describe { participant } => {
            let sandbox = super::runtime::sandbox(None)?;
            let p = load(&sandbox, &participant).await?;
            super::print_json(p.description())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Invoke(args) => invoke(args).await,
        Command::New(args) => super::new::new(args),
    }
}

async fn invoke(args: InvokeArgs) -> anyhow::Result<ExitCode> {
    let grants = Grants::parse(&args.grants)?;
    let mut secrets = MemorySecrets::new();
    for spec in &args.secrets {
        let (name, value) = super::parse_secret(spec)?;
        secrets.insert(name, value);
    }
    let mut params = Map::new();
    for spec in &args.params {
        let (key, value) = super::parse_assignment(spec, "--param")?;
        params.insert(key, value);
    }
    let fields = match &args.fields {
        Some(path) => super::read_json_object(path)?,
        None => Map::new(),
    };
    let sandbox = super::runtime::sandbox(None)?;
    let participant = load(&sandbox, &args.participant).await?;
    let mut request = CallRequest::new(&args.action, Value::Object(params));
    request.fields = Value::Object(fields);
    request.context.job_id = "cli".into();
    request.context.step_id = "0".into();
    request.context.idempotency_key = format!("cli-{}", std::process::id());
    request.context.tenant = "local".into();
    let env = CallEnv {
        grants: Arc::new(grants),
        secrets: Arc::new(secrets),
        limits: Limits { deadline: args.deadline, memory_bytes: args.memory_mib << 20, ..Limits::default() },
        events: Some(Arc::new(StderrEvents(participant.description().name.clone()))),
        dry_run: None,
    };
    match sandbox.invoke(&participant, request, &env).await {
        Ok(outcome) => {
            super::print_json(&Value::Object(outcome.updates))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            match e.limit {
                Some(limit) => eprintln!("error: {} ({}): {}", e.kind, limit.as_str(), e.message),
                None => eprintln!("error: {}: {}", e.kind, e.message),
            }
            Ok(ExitCode::from(1))
        }
    }
}

/// Loads a file, or a built-in when no such file exists.
async fn load(sandbox: &Sandbox, what: &str) -> anyhow::Result<Participant> {
    let path = Path::new(what);
    let bytes = if path.exists() {
        std::fs::read(path).with_context(|| format!("reading {what}"))?
    } else if let Some(bytes) = builtin::get(what) {
        bytes.to_vec()
    } else {
        let names: Vec<&str> = builtin::BUILTINS.iter().map(|(n, _)| *n).collect();
        bail!("{what}: no such file, and no built-in participant of that name (built-ins: {})", names.join(", "));
    };
    sandbox.load(&bytes).await.with_context(|| format!("loading {what}"))
}

/// Prints a participant's log lines and progress to stderr.
struct StderrEvents(String);

impl EventSink for StderrEvents {
    fn emit(&self, event: ParticipantEvent) {
        match event {
            ParticipantEvent::Log { level, message } => eprintln!("[{}] {level}: {message}", self.0),
            ParticipantEvent::Progress { message, percent: Some(p) } => eprintln!("[{}] {p:>3}% {message}", self.0),
            ParticipantEvent::Progress { message, percent: None } => eprintln!("[{}] ... {message}", self.0),
            ParticipantEvent::Planned { capability, call } => eprintln!("[{}] would call {capability}: {call}", self.0),
        }
    }
}
